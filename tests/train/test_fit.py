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
    spec = FitSpec(sigma=(0.005, 0.0, 0.0, 0.0), theta_3b_A=0.7)  # zero force sigma: gap_fit refuses
    cmd = fit.gap_fit_command(spec, {"Li": 0.0, "P": 0.0, "S": 0.0}, train, tmp_path / "gap.xml", None, 1)
    d2, d3 = next(a for a in cmd if a.startswith("gap={")).strip("gap={}").split(" : ")
    assert "theta_uniform=1 " in d2 and "theta_uniform=0.7 " in d3  # [fit] theta_2b_A (default), theta_3b_A
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


def test_scan_frames_mask_the_forces_of_atoms_far_from_the_moved_pair():
    rng = np.random.default_rng(3)
    atoms = Atoms("P" + "S" * 11, positions=rng.uniform(0, 12, (12, 3)), cell=[12] * 3, pbc=True)
    scan = _labelled(atoms, -1.0, "coordination_scan")
    scan.info["config_name"] = "coordination_scan/g1/glass/75/900K/step300/P0-S5/stretch3A"
    other = _labelled(atoms, -1.0, "selected")
    other.info["config_name"] = "selected/g1/glass/75/900K/step300"
    b, c = fit.training_file_frames([scan, other], fit_virials=False, scan_force_radius_A=4.0)
    d = np.minimum(atoms.get_distances(0, range(12), mic=True), atoms.get_distances(5, range(12), mic=True))
    assert np.array_equal(b.arrays["force_mask"], d > 4.0)
    assert not b.arrays["force_mask"][[0, 5]].any() and b.arrays["force_mask"].any()
    assert "force_mask" not in c.arrays
    (e,) = fit.training_file_frames([scan], fit_virials=False)  # radius 0: every force fitted
    assert "force_mask" not in e.arrays


def test_gap_fit_leaves_out_the_forces_the_mask_marks(tmp_path):
    """True in ``force_mask`` means excluded: wrong forces on masked atoms do not reach the fit."""
    from ase.calculators.lj import LennardJones
    from quippy.potential import Potential

    rng = np.random.default_rng(7)
    truth = LennardJones(sigma=2.6, epsilon=0.05, rc=5.0, smooth=True)

    def frame():
        while True:
            a = Atoms("S8", positions=rng.uniform(0, 7, (8, 3)), cell=[7] * 3, pbc=True)
            if a.get_all_distances(mic=True)[np.triu_indices(8, 1)].min() > 2.4:
                a.calc = truth
                return a

    train = []
    for k in range(12):
        a = frame()
        b = Atoms(a.numbers, positions=a.positions, cell=a.cell, pbc=True)
        forces = a.get_forces()
        if k:  # wrong labels on atoms 0-3; one frame without them or the column: gap_fit takes it whole
            forces[:4] += rng.normal(0.0, 5.0, (4, 3))
            b.arrays["force_mask"] = np.arange(8) < 4
        b.info["config_type"] = "md"
        b.calc = SinglePointCalculator(b, energy=a.get_potential_energy(), forces=forces)
        train.append(b)
    test = [frame() for _ in range(4)]
    spec = FitSpec(n_sparse_2b=15, n_sparse_3b=10, sigma=(0.001, 0.01, 0.0, 0.0))
    errors = {}
    for masked in (True, False):
        frames = [a.copy() for a in train]
        for a, src in zip(frames, train, strict=True):
            a.calc = src.calc
            if not masked:
                a.arrays.pop("force_mask", None)
        fit.write_training_file(tmp_path / "train.extxyz", frames)  # the same name twice, as a refit
        gp = tmp_path / f"gap_{masked}.xml"
        fit.run_gap_fit(fit.gap_fit_command(spec, {"Li": 0.0, "P": 0.0, "S": 0.0}, tmp_path / "train.extxyz", gp, None, 1),
                        tmp_path / "gap_fit.log", gp)
        pot = Potential(param_filename=str(gp))
        err = []
        for a in test:
            b = a.copy()
            b.calc = pot
            err.append(b.get_forces() - a.get_forces())
        errors[masked] = float(np.sqrt(np.mean(np.square(err))))
    assert errors[True] < 0.1 * errors[False], errors  # measured 0.03 vs 1.35 eV/Å


def _s8_frames(n, seed=5):
    from ase.calculators.lj import LennardJones

    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        a = Atoms("S8", positions=rng.uniform(0, 7, (8, 3)), cell=[7] * 3, pbc=True)
        if a.get_all_distances(mic=True)[np.triu_indices(8, 1)].min() > 2.4:
            a.calc = LennardJones(sigma=2.6, epsilon=0.05, rc=5.0, smooth=True)
            out.append(_labelled(a, a.get_potential_energy(), "md"))
            out[-1].calc.results["forces"] = a.get_forces()
    return out


def test_gap_fit_that_reads_fewer_energies_than_frames_is_refused(tmp_path):
    from lpsens.train.labelling import write_frames

    frames = _s8_frames(4)
    for a in frames:
        a.info["anion_counts"] = {"PS4": 1, "P2S7": 0}  # as a builder stores it
    spec = FitSpec(n_sparse_2b=5, n_sparse_3b=5)
    e0 = {"Li": 0.0, "P": 0.0, "S": 0.0}
    write_frames(tmp_path / "raw.extxyz", frames)  # the info as it comes: QUIP's reader loses the energies
    gp = tmp_path / "gap.xml"
    with pytest.raises(TrainingError, match=r"gap_fit read 0 of 4 energies") as err:
        fit.run_gap_fit(fit.gap_fit_command(spec, e0, tmp_path / "raw.extxyz", gp, None, 1), tmp_path / "log", gp, n_energies=4)
    assert err.value.file == str(tmp_path / "log") and not gp.exists()
    cleaned = fit.training_file_frames(frames, fit_virials=False)
    assert all("anion_counts" not in a.info and a.info["config_type"] == "md" for a in cleaned)
    write_frames(tmp_path / "train.extxyz", cleaned)
    fit.run_gap_fit(fit.gap_fit_command(spec, e0, tmp_path / "train.extxyz", gp, None, 1), tmp_path / "log", gp, n_energies=4)
    assert gp.exists()


def test_a_rewritten_training_file_is_not_read_through_quips_old_index(tmp_path):
    import os

    from lpsens.train.labelling import write_frames

    frames = _s8_frames(4)
    for a in frames:
        a.arrays["force_mask"] = np.arange(8) < 2
    spec, e0 = FitSpec(n_sparse_2b=5, n_sparse_3b=5), {"Li": 0.0, "P": 0.0, "S": 0.0}
    train = tmp_path / "train.extxyz"
    fit.write_training_file(train, frames)
    fit.run_gap_fit(fit.gap_fit_command(spec, e0, train, tmp_path / "a.xml", None, 1), tmp_path / "log", tmp_path / "a.xml")
    index = tmp_path / "train.extxyz.idx"
    assert index.exists()  # QUIP's

    def rewrite(write):
        for a in frames:
            a.arrays.pop("force_mask", None)  # other line lengths: the old index points elsewhere
        write(train, frames)
        if index.exists():  # the refit within the index's second, as it happened under load
            os.utime(train, (index.stat().st_atime - 5, index.stat().st_mtime - 5))

    rewrite(write_frames)
    with pytest.raises(TrainingError, match="mismatch in number of atoms"):
        fit.run_gap_fit(fit.gap_fit_command(spec, e0, train, tmp_path / "b.xml", None, 1), tmp_path / "log", tmp_path / "b.xml")
    rewrite(fit.write_training_file)
    fit.run_gap_fit(fit.gap_fit_command(spec, e0, train, tmp_path / "b.xml", None, 1), tmp_path / "log", tmp_path / "b.xml",
                    n_energies=4)
    assert (tmp_path / "b.xml").exists()


def test_gap_fit_stopped_by_the_launcher_or_a_signal_is_not_a_failed_fit(tmp_path):
    """A stop request terminates gap_fit (it cannot checkpoint) and a signal-killed gap_fit is
    FitStopped, which the fit task reports as timeout (rerun at the next launch), not 'fix [fit]'."""
    import sys
    import time

    from lpsens.errors import FitStopped

    gp = tmp_path / "gap.xml"
    t0 = time.monotonic()
    with pytest.raises(FitStopped, match="stopped by SIGTERM before it finished"):
        fit.run_gap_fit([sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "log", gp,
                        should_stop=lambda: time.monotonic() - t0 > 0.5)
    assert time.monotonic() - t0 < 20 and not gp.exists()
    killed = "import os, signal, pathlib; pathlib.Path('gap.xml').write_text('half'); os.kill(os.getpid(), signal.SIGUSR1)"
    with pytest.raises(FitStopped, match="stopped by SIGUSR1"):
        fit.run_gap_fit([sys.executable, "-c", killed], tmp_path / "log", gp)
    assert not gp.exists()  # a half-written output never looks complete


def test_a_gap_fit_killed_by_sigkill_is_an_error_naming_memory_not_a_rerun(tmp_path):
    """The out-of-memory killer's SIGKILL (directly, or as 247 through quippy's wrapper script) is a
    TrainingError naming the fit's memory estimate and the fix: as FitStopped the launch would rerun
    the same fit into the same kill at every launch."""
    import sys

    gp = tmp_path / "gap.xml"
    killed = "import os, signal, pathlib; pathlib.Path('gap.xml').write_text('half'); os.kill(os.getpid(), signal.SIGKILL)"
    with pytest.raises(TrainingError, match=r"killed by SIGKILL.*about 26.6 GB.*n_sparse_3b") as err:
        fit.run_gap_fit([sys.executable, "-c", killed], tmp_path / "log", gp, memory_bytes=26.6e9)
    assert err.value.key == "fit" and not gp.exists()
    wrapped = f"import subprocess, sys; sys.exit(subprocess.call([sys.executable, '-c', {killed!r}]))"
    with pytest.raises(TrainingError, match="killed by SIGKILL"):
        fit.run_gap_fit([sys.executable, "-c", wrapped], tmp_path / "log", gp)
    assert not gp.exists()


def test_memory_estimate_counts_the_fitted_values_and_refuses_a_fit_that_cannot_fit():
    """8 bytes x (energies + unmasked force components + virials) x sparse points; a fit above the
    free memory is refused before gap_fit runs, naming the sizes and the keys that lower them."""
    rng = np.random.default_rng(0)
    atoms = Atoms("Li10P4S16", positions=rng.uniform(0, 10, (30, 3)), cell=[10] * 3, pbc=True)
    plain = _labelled(atoms, -1.0, "md")
    masked = _labelled(atoms, -1.0, "md")
    masked.arrays["force_mask"] = np.arange(30) >= 12  # 12 atoms' forces fitted
    stressed = atoms.copy()
    stressed.calc = SinglePointCalculator(stressed, energy=-1.0, forces=np.zeros((30, 3)), stress=np.zeros(6))
    assert fit.fitted_values([plain, masked, stressed]) == (1 + 90) + (1 + 36) + (1 + 90 + 6)
    spec = FitSpec(n_sparse_2b=30, n_sparse_3b=200)
    assert fit.n_sparse_points(spec) == 6 * 30 + 18 * 200  # Li, P, S: 6 pairs, 18 centred triplets
    need = fit.gap_fit_memory_bytes([plain], spec)
    assert need == int(fit.GAP_FIT_MEMORY_FACTOR * 8 * 91 * 3780)
    assert fit.check_fit_memory([plain], spec, free_bytes=need) == need
    with pytest.raises(TrainingError, match=r"91 fitted values x 3780 sparse points x 8 bytes x 2.4.*force_atoms_per_frame") as err:
        fit.check_fit_memory([plain], spec, file="spec.toml", free_bytes=need - 1)
    assert err.value.key == "fit.n_sparse_3b"
    free = fit.available_memory_bytes()
    assert free is None or free > 0
    with pytest.raises(TrainingError, match=rf"about {need / 1e6:.0f} MB .* and 1 MB are free"):  # small sizes readable
        fit.check_fit_memory([plain], spec, free_bytes=1_000_000)


def test_force_atoms_per_frame_fits_a_seeded_subset_of_the_forces():
    rng = np.random.default_rng(1)
    atoms = Atoms("Li40P10S40", positions=rng.uniform(0, 12, (90, 3)), cell=[12] * 3, pbc=True)
    big = _labelled(atoms, -1.0, "selected")
    big.info["config_name"] = "selected/g1/glass/75/900K/step300"
    small = _labelled(atoms[:12], -1.0, "bulk")
    scan = _labelled(atoms, -1.0, "coordination_scan")
    scan.info["config_name"] = "coordination_scan/g1/glass/75/900K/step300/P40-S60/2.5A"
    b, s, c = fit.training_file_frames([big, small, scan], fit_virials=False, scan_force_radius_A=6.0,
                                       force_atoms_per_frame=16)
    assert np.count_nonzero(~b.arrays["force_mask"]) == 16 and "force_mask" not in s.arrays
    (again,) = fit.training_file_frames([big], fit_virials=False, force_atoms_per_frame=16)
    assert np.array_equal(again.arrays["force_mask"], b.arrays["force_mask"])  # the same atoms in every fit
    shifted = atoms.copy()
    shifted.positions[0] += 0.1
    other = _labelled(shifted, -1.0, "selected")
    other.info["config_name"] = big.info["config_name"]
    (moved,) = fit.training_file_frames([other], fit_virials=False, force_atoms_per_frame=16)
    assert not np.array_equal(moved.arrays["force_mask"], b.arrays["force_mask"])  # another frame, other atoms
    # a scan keeps its radius: the cap draws only among the atoms near the moved pair
    (radius_only,) = fit.training_file_frames([scan], fit_virials=False, scan_force_radius_A=6.0)
    near = np.flatnonzero(~radius_only.arrays["force_mask"])
    kept = np.flatnonzero(~c.arrays["force_mask"])
    assert set(kept) <= set(near) and len(kept) == min(16, len(near))


def test_gap_fit_binary_is_quippys_own_executable_not_its_wrapper_script():
    """Signals (a stop, the walltime) must reach gap_fit itself: quippy's ``gap_fit`` script runs
    the binary as a child that a signal to the script would orphan."""
    from pathlib import Path

    import quippy

    exe = Path(fit.gap_fit_binary())
    assert exe.parent == Path(quippy.__path__[0]) and exe.read_bytes()[:4] == b"\x7fELF"


def test_available_memory_takes_the_tightest_cgroup_limit_of_v2_or_v1_and_counts_cache_as_room(tmp_path):
    """Cluster nodes: SLURM's --mem is a limit on the job's cgroup, a parent of the task's; cache
    the kernel would reclaim (inactive file pages) is room, as in MemAvailable."""
    proc, fs = tmp_path / "proc", tmp_path / "cgroup"
    (proc / "self").mkdir(parents=True)
    (proc / "meminfo").write_text("MemTotal: 100000000 kB\nMemAvailable:   50000000 kB\n")
    job = fs / "system.slice" / "slurmstepd.scope" / "job_7"
    task = job / "step_0" / "user" / "task_0"
    task.mkdir(parents=True)
    (task / "memory.max").write_text("max\n")
    (job / "memory.max").write_text(f"{8 * 2**30}\n")
    (job / "memory.current").write_text(f"{5 * 2**30}\n")
    (job / "memory.stat").write_text(f"anon {3 * 2**30}\ninactive_file {2 * 2**30}\n")
    (proc / "self" / "cgroup").write_text("0::/system.slice/slurmstepd.scope/job_7/step_0/user/task_0\n")
    assert fit.available_memory_bytes(proc, fs) == 8 * 2**30 - (5 - 2) * 2**30  # the job's limit, cache as room
    v1 = fs / "memory" / "slurm" / "uid_1" / "job_7"
    v1.mkdir(parents=True)
    (v1 / "memory.limit_in_bytes").write_text(f"{4 * 2**30}\n")
    (v1 / "memory.usage_in_bytes").write_text(f"{1 * 2**30}\n")
    (fs / "memory" / "memory.limit_in_bytes").write_text("9223372036854771712\n")  # v1's "no limit"
    (proc / "self" / "cgroup").write_text("12:cpuset:/slurm/uid_1/job_7\n4:memory:/slurm/uid_1/job_7\n")
    assert fit.available_memory_bytes(proc, fs) == 3 * 2**30
    (proc / "self" / "cgroup").write_text("4:memory:/\n")
    assert fit.available_memory_bytes(proc, fs) == 50000000 * 1024  # no limit: MemAvailable
    (proc / "meminfo").unlink()
    assert fit.available_memory_bytes(proc, fs) is None
