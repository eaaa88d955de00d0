"""gap_fit step: e0, the repulsive core (against its analytic form), and a gap_fit failure."""

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from lpsens.errors import TrainingError
from lpsens.train import fit
from lpsens.train.configurations import dimer
from lpsens.train.spec import FitSpec


def _labelled(atoms, energy, config_type):
    a = atoms.copy()
    a.info["config_type"] = config_type
    a.calc = SinglePointCalculator(a, energy=energy, forces=np.zeros((len(a), 3)))
    return a


def test_core_recovers_a_known_r12_wall_and_quippy_evaluates_it(tmp_path):
    eps12 = {"Li-S": 30.0, "P-S": 80.0, "S-S": 150.0}
    frames = []
    for pair, e in eps12.items():
        for r in (1.0, 1.2, 1.4, 1.7, 2.5, 4.0):  # the last point sets the zero of the scan
            frames.append(_labelled(dimer(pair, r, 10.0), e / r ** 12 - e / 4.0 ** 12, "dimer"))
    got = fit.fit_core(frames, wall_eV=1.0)
    for pair, e in eps12.items():
        assert got[pair] == pytest.approx(e, rel=1e-6)
    assert got["P-P"] == 0.0  # no scan: no core
    xml = tmp_path / "core.xml"
    cutoff = 2.0
    xml.write_text(fit.core_xml(got, cutoff))
    from quippy.potential import Potential

    pot = Potential("IP LJ", param_filename=str(xml))
    for r in (1.1, 1.5, 1.9, 2.1):
        a = dimer("P-S", r, 10.0)
        a.calc = pot
        e, rc = 80.0, cutoff
        dedr_rc = -12 * e / rc ** 13
        want = 0.0 if r >= rc else e / r ** 12 - e / rc ** 12 - (r - rc) * dedr_rc  # QUIP LJ: no factor 4; shifted
        assert a.get_potential_energy() == pytest.approx(want, rel=1e-6, abs=1e-9)


def test_e0_is_the_isolated_atom_energy_else_least_squares():
    iso = [_labelled(Atoms([s], cell=[10] * 3, pbc=True), e, "isolated") for s, e in (("Li", -1.0), ("P", -2.0), ("S", -3.0))]
    assert fit.fit_e0(iso) == {"Li": -1.0, "P": -2.0, "S": -3.0}
    truth = {"Li": -1.5, "P": -5.0, "S": -4.0}
    bulk = []
    for n in ((3, 1, 4), (4, 2, 7), (4, 2, 6), (2, 0, 1)):  # Li4P2S6 (P-P bond) breaks the Li+ P5+ S2- neutrality line
        a = Atoms(f"Li{n[0]}P{n[1]}S{n[2]}", positions=np.zeros((sum(n), 3)), cell=[10] * 3, pbc=True)
        bulk.append(_labelled(a, sum(k * truth[s] for k, s in zip(n, ("Li", "P", "S"), strict=True)), "bulk"))
    assert fit.fit_e0(bulk) == pytest.approx(truth)
    with pytest.raises(TrainingError, match="e0 cannot be fitted"):
        fit.fit_e0([bulk[i] for i in (0, 1, 3)])  # Li2S-P2S5 mixtures only: two independent compositions


def test_gap_fit_failure_is_one_clear_error(tmp_path):
    a = Atoms("LiPS", positions=[[0, 0, 0], [2.0, 0, 0], [0, 2.1, 0]], cell=[8] * 3, pbc=True)
    train = tmp_path / "train.extxyz"
    import ase.io

    ase.io.write(train, [_labelled(a, -10.0, "bulk")])
    spec = FitSpec(sigma=(0.005, 0.0, 0.0, 0.0))  # zero force sigma: gap_fit refuses
    cmd = fit.gap_fit_command(spec, {"Li": 0.0, "P": 0.0, "S": 0.0}, train, tmp_path / "gap.xml", None, 1)
    with pytest.raises(TrainingError, match=r"gap_fit failed \(exit [1-9]") as err:
        fit.run_gap_fit(cmd, tmp_path / "gap_fit.log", tmp_path / "gap.xml")
    assert "\n" not in str(err.value)
    assert not (tmp_path / "gap.xml").exists()


def test_contact_core_costs_contact_eV_at_each_floor_and_nothing_beyond_its_cutoff(tmp_path):
    from quippy.potential import Potential

    from lpsens.train.spec import CONTACT_CUTOFF_A

    eps12 = fit.contact_core_eps12(2.0, CONTACT_CUTOFF_A)
    xml = tmp_path / "core.xml"
    xml.write_text(fit.core_xml(eps12, CONTACT_CUTOFF_A))
    pot = Potential("IP LJ", param_filename=str(xml))
    floors = fit.contact_floors_A()
    assert floors["S-S"] == 2.3 and floors["P-S"] == 1.7 and floors["Li-S"] == 1.5  # the chemistry check's limits

    def energy(pair, r):
        a = dimer(pair, r, 12.0)
        a.calc = pot
        return a.get_potential_energy()

    for pair, floor in floors.items():
        assert energy(pair, floor) == pytest.approx(2.0, rel=1e-6)  # QUIP's shifted LJ, evaluated by quippy
        assert energy(pair, CONTACT_CUTOFF_A[pair] + 0.05) == 0.0
        assert energy(pair, floor - 0.2) > energy(pair, floor) > energy(pair, (floor + CONTACT_CUTOFF_A[pair]) / 2) > 0


def test_e0_by_composition_follows_the_bulk_and_keeps_the_isolated_labels_where_undetermined():
    iso = [_labelled(Atoms([s], cell=[10] * 3, pbc=True), e, "isolated") for s, e in (("Li", -1.0), ("P", -2.0), ("S", -3.0))]
    truth = np.array([-1.5, -5.0, -4.0])  # Li, P, S
    bulk = []
    for n in ((3, 1, 4), (7, 3, 11), (2, 0, 1), (4, 2, 7)):  # all on the Li2S-P2S5 line
        a = Atoms(f"Li{n[0]}P{n[1]}S{n[2]}", positions=np.zeros((sum(n), 3)), cell=[10] * 3, pbc=True)
        bulk.append(_labelled(a, float(np.dot(n, truth)), "bulk"))
    got = np.array([fit.fit_e0(iso + bulk, "composition")[s] for s in ("Li", "P", "S")])
    for n in ((3, 1, 4), (2, 0, 1)):  # bulk energies reproduced (to the ridge's small bias)
        assert np.dot(n, got) / sum(n) == pytest.approx(np.dot(n, truth) / sum(n), abs=0.02)
    # along the undetermined direction (charge neutrality: Li +1, P +5, S -2) it stays at the labels
    q = np.array([1.0, 5.0, -2.0]) / np.sqrt(30)
    assert np.dot(got, q) == pytest.approx(np.dot([-1.0, -2.0, -3.0], q), abs=0.05)
    assert fit.fit_e0(iso + bulk) == {"Li": -1.0, "P": -2.0, "S": -3.0}  # default: the isolated labels


def test_training_file_keeps_the_provenance_in_ascii():
    a = _labelled(Atoms("LiS", positions=[[0, 0, 0], [2.4, 0, 0]], cell=[8] * 3, pbc=True), -3.0, "md")
    a.info.update(screen="S 1 and S 2 are 2.06 Å apart", generation=2)
    (b,) = fit.training_file_frames([a], fit_virials=False)
    assert b.info == {"config_type": "md", "screen": "S 1 and S 2 are 2.06 A apart", "generation": 2}
    assert b.get_potential_energy() == -3.0


def test_contact_core_energy_per_pair_overrides_one_pair_only():
    from lpsens.train.spec import CONTACT_CUTOFF_A, PAIRS

    one = fit.contact_core_eps12(1.0, CONTACT_CUTOFF_A)
    per_pair = fit.contact_core_eps12({**dict.fromkeys(PAIRS, 1.0), "S-S": 3.0}, CONTACT_CUTOFF_A)
    assert per_pair["S-S"] == pytest.approx(3.0 * one["S-S"])  # eps12 is linear in the energy at the floor
    assert {p: v for p, v in per_pair.items() if p != "S-S"} == {p: v for p, v in one.items() if p != "S-S"}
