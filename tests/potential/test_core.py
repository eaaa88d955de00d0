"""A GAP stored with a core potential (gap_fit core_param_file: a top-level ``Sum`` Potential) is
evaluated with its core by the quippy backend, exactly as QUIP reads the whole file
(field case 07; libAtoms/QUIP#307)."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms

from lpsens.potential import (
    clear_calculator_cache,
    demo_potential_path,
    inspect_potential,
    load_calculator,
)

LABEL = "GAP_LPS_demo"


def _with_core(tmp_path):
    """The demo GAP plus an S-S-only r^-12 repulsion (zero beyond 2.4 A) in gap_fit's core layout."""
    text = demo_potential_path().read_text()
    old = f'<Potential label="{LABEL}" init_args="IP GAP label={LABEL}"/>'
    assert old in text
    pairs = [(1, 1, 0.0), (1, 2, 0.0), (1, 3, 0.0), (2, 2, 0.0), (2, 3, 0.0), (3, 3, 1.0)]
    core = ['<LJ_params n_types="3" label="default">']
    core += [f'<per_type_data type="{t}" atomic_num="{z}" />' for t, z in ((1, 3), (2, 15), (3, 16))]
    core += [f'<per_pair_data type1="{a}" type2="{b}" sigma="{1.9 if e else 1.0}" eps6="0.0" eps12="{e}" '
             f'cutoff="{2.4 if e else 1.0}" energy_shift="T" linear_force_shift="T" />' for a, b, e in pairs]
    core.append("</LJ_params>")
    new = (f'<Potential label="{LABEL}" init_args="Sum init_args_pot1={{IP LJ}} '
           f'init_args_pot2={{IP GAP label={LABEL}}}"/>\n' + "\n".join(core))
    path = tmp_path / "with_core.xml"
    path.write_text(text.replace(old, new).replace('<GAP_data do_core="F">', '<GAP_data do_core="T">'))
    return path


def _probe():
    tet = 2.05 / np.sqrt(3) * np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]])
    c = np.array([7.0, 7.0, 7.0])
    pos = [c, *(c + tet), c + tet[0] * (1 + 2.0 / 2.05), [2, 2, 2], [11, 3, 9], [4, 11, 5]]
    return Atoms("PS4S" + "Li3", positions=pos, cell=np.eye(3) * 14.0, pbc=True)


def test_core_is_included_by_the_quippy_backend(tmp_path):
    from quippy.potential import Potential

    path = _with_core(tmp_path)
    info = inspect_potential(path)
    assert info.label == LABEL and info.core_xml_label == LABEL
    assert info.quip_init_args == f"Potential xml_label={LABEL}"
    clear_calculator_cache()
    results = {}
    for name, calc in (("lpsens", load_calculator(info)),
                       ("whole file", Potential(param_filename=str(path))),
                       ("gap only", Potential(f"IP GAP label={LABEL}", param_filename=str(path)))):
        atoms = _probe()
        atoms.calc = calc
        results[name] = (atoms.get_potential_energy(), atoms.get_forces())
    clear_calculator_cache()
    (e_l, f_l), (e_w, f_w), (e_g, f_g) = results["lpsens"], results["whole file"], results["gap only"]
    assert e_l == pytest.approx(e_w, abs=1e-9)
    np.testing.assert_allclose(f_l, f_w, atol=1e-9)
    # The core matters on this geometry (S-S at 2.0 A): without it the physics differ.
    assert abs(e_w - e_g) > 0.1 and np.abs(f_w - f_g).max() > 0.5


def test_plain_gap_keeps_ip_gap_init():
    info = inspect_potential(demo_potential_path())
    assert info.core_xml_label is None and info.quip_init_args == f"IP GAP label={LABEL}"


@pytest.mark.slow
def test_compile_includes_the_core(tmp_path):
    """A gentle S-S core (sigma 1.5 A): the compiled UF3 reproduces QUIP's whole-file evaluation
    (compile validates LAMMPS against quippy with the core) and records the core in the sidecar."""
    from lpsens.potential.compile import compile_gap
    from lpsens.potential.uf3 import inspect_uf3

    text = _with_core(tmp_path).read_text().replace('sigma="1.9" eps6="0.0" eps12="1.0"', 'sigma="1.5" eps6="0.0" eps12="1.0"')
    gap = tmp_path / "gentle.xml"
    gap.write_text(text)
    result = compile_gap(gap, tmp_path / "gentle.uf3")
    assert result.fidelity["force_rms_eV_A"] <= 0.01
    info = inspect_uf3(tmp_path / "gentle.uf3")
    assert info.sidecar["core"]["tabulated_into"] == "2B" and info.sidecar["core"]["cutoff_A"] > 2.0
    # The core matters: the same file without it is a different potential on an S-S contact.
    atoms = Atoms("SS", positions=[[0, 0, 0], [1.6, 0, 0]], cell=np.eye(3) * 30, pbc=True)
    from quippy.potential import Potential

    from lpsens.potential.compile import uf3_energy_forces

    (e_uf3, _), = uf3_energy_forces(info.path, [atoms])
    atoms.calc = Potential(param_filename=str(gap))
    e_ref = atoms.get_potential_energy() - 2 * info.e0_eV["S"]
    assert e_uf3 == pytest.approx(e_ref, abs=5e-3)


def _with_core_and_prior(tmp_path, prior):
    """:func:`_with_core` with the tetrahedral prior beside the pair core, as ``lpsens train`` writes it."""
    from lpsens.train.fit import add_prior_to_core

    text = _with_core(tmp_path).read_text().replace('sigma="1.9" eps6="0.0" eps12="1.0"',
                                                    'sigma="1.5" eps6="0.0" eps12="1.0"')
    text = text.replace("</LJ_params>", "</LJ_params>\n" + prior.xml())
    path = tmp_path / "with_prior.xml"
    path.write_text(add_prior_to_core(text, path))
    return path


def _fifth_sulfur():
    """A PS4 tetrahedron with a fifth S at 2.45 A opposite a face (what the prior is for), plus Li."""
    atoms = _probe()
    c, tet = atoms.positions[0], atoms.positions[1:5] - atoms.positions[0]
    atoms.positions[5] = c - tet[0] / np.linalg.norm(tet[0]) * 2.45
    return atoms


def test_prior_is_part_of_the_whole_file(tmp_path):
    """quippy on the file = GAP + pair core + prior; the prior alone matches its closed form."""
    from quippy.potential import Potential

    from lpsens.potential.prior import TetrahedralPrior

    prior = TetrahedralPrior(3.0, 1.0, 3.1)
    path = _with_core_and_prior(tmp_path, prior)
    assert inspect_potential(path).core_xml_label == LABEL
    energy = {}
    for name, calc in (("whole", Potential(param_filename=str(path))),
                       ("without prior", Potential(f"Sum init_args_pot1={{IP LJ}} init_args_pot2={{IP GAP label={LABEL}}}",
                                                   param_filename=str(path))),
                       ("prior", prior.calculator())):
        atoms = _fifth_sulfur()
        atoms.calc = calc
        energy[name] = atoms.get_potential_energy()
    atoms = _fifth_sulfur()
    d = atoms.get_all_distances()
    term = prior.term()
    closed = sum(float(term.energy_eV(d[0, j], d[0, k], d[j, k])) for j in range(1, 6) for k in range(j + 1, 6))
    assert energy["prior"] == pytest.approx(closed, rel=1e-10)
    assert energy["prior"] > 0.3  # the fifth S costs something
    assert energy["whole"] == pytest.approx(energy["without prior"] + energy["prior"], abs=1e-8)
    # field case 07 with a nested core: lpsens' quippy backend evaluates the whole file
    clear_calculator_cache()
    atoms = _fifth_sulfur()
    atoms.calc = load_calculator(inspect_potential(path))
    assert atoms.get_potential_energy() == pytest.approx(energy["whole"], abs=1e-9)
    clear_calculator_cache()


@pytest.mark.slow
def test_compile_tabulates_the_prior_into_3b(tmp_path):
    """The prior's contribution to the compiled file (with minus without) equals quippy's on a
    fifth-S geometry, and the sidecar records the 3B tabulation."""
    from quippy.potential import Potential

    from lpsens.potential.compile import compile_gap, uf3_energy_forces
    from lpsens.potential.prior import TetrahedralPrior
    from lpsens.potential.uf3 import inspect_uf3

    probe = _fifth_sulfur()
    structures = [("fifth_S", probe)] + [(f"rattled_{k}", probe.copy()) for k in range(3)]
    for k, (_, atoms) in enumerate(structures[1:]):
        atoms.positions += np.random.default_rng(k).normal(scale=0.1, size=atoms.positions.shape)
    got = {}
    for name, lam in (("with", 3.0), ("without", 1e-12)):
        (tmp_path / name).mkdir()
        path = _with_core_and_prior(tmp_path / name, TetrahedralPrior(lam, 1.0, 3.1))
        compile_gap(path, tmp_path / name / "gap.uf3", structures=structures)
        info = inspect_uf3(tmp_path / name / "gap.uf3")
        uf3 = uf3_energy_forces(info.path, [a for _, a in structures])
        ref = []
        for _, atoms in structures:
            a = atoms.copy()
            a.calc = Potential(param_filename=str(path))
            ref.append((a.get_potential_energy(), a.get_forces()))
        got[name] = (uf3, ref, info)
    core = got["with"][2].sidecar["core"]
    assert core["tabulated_into"] == "2B+3B" and core["angle_terms"][0]["species"] == ["P", "S", "S"]
    for k in range(len(structures)):
        (e_w, f_w), (e_wo, f_wo) = got["with"][0][k], got["without"][0][k]
        (q_w, g_w), (q_wo, g_wo) = got["with"][1][k], got["without"][1][k]
        assert abs(q_w - q_wo) > 0.05  # the prior acts on these geometries
        assert e_w - e_wo == pytest.approx(q_w - q_wo, abs=2e-3)
        np.testing.assert_allclose(f_w - f_wo, g_w - g_wo, atol=0.01)
