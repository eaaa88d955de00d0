"""The gap_fit step: training set with provenance, e0 per element, a repulsive core, the fit.

Descriptors are ``distance_2b`` + ``angle_3b`` only, so every fit compiles to LAMMPS
``pair_style uf3`` splines (issue 9). The short-range core is a pure r^-12 pair repulsion per
element pair (QUIP ``IP LJ`` with ``eps6 = 0`` and sigma = 1 Å: E = eps12 / r^12 (QUIP's LJ has no factor 4), energy and force shifted
to 0 at its cutoff), fitted to the reference dimer scans; gap_fit stores it in the GAP XML
(``core_param_file``/``core_ip_args``) and quippy evaluates ``Sum(core, GAP)``.

The optional tetrahedral prior (:mod:`lpsens.potential.prior`) is a three-body term that gap_fit
cannot take beside the pair core (quippy-ase 0.10.3's gap_fit crashes on any ``Sum`` in
``core_ip_args``): lpsens subtracts it from the labels itself (:func:`subtract_prior`), hands its
``SW_params`` to gap_fit inside the core file (copied verbatim into the XML) and then makes the
file's core ``Sum(LJ, SW)`` (:func:`add_prior_to_core`).
"""

from __future__ import annotations

import hashlib
import re
import shutil
import signal
import subprocess
import sys
import unicodedata
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from lpsens.errors import FitStopped, TrainingError
from lpsens.potential.prior import TetrahedralPrior
from lpsens.train.configurations import scan_atoms
from lpsens.train.labelling import write_frames
from lpsens.train.spec import PAIRS, FitSpec

__all__ = ["subtract_prior", "core_file_text", "add_prior_to_core", "training_file_frames", "fit_e0", "fit_core", "core_xml", "contact_core_eps12", "contact_floors_A", "gap_fit_command", "run_gap_fit", "gap_fit_memory_bytes", "check_fit_memory", "write_training_file", "SPECIES", "Z"]

SPECIES = ("Li", "P", "S")
Z = {"Li": 3, "P": 15, "S": 16}


def fit_e0(frames: list[Atoms], method: str = "isolated") -> dict[str, float]:
    """Per-element energies e0 (eV) that gap_fit subtracts before fitting the GAP terms.

    ``method = "isolated"``: the isolated-atom labels (config_type ``isolated``; generation 0
    labels one per element), else least squares over composition. ``"composition"``: least
    squares of the per-atom energies of the bulk frames (dimers and isolated atoms excluded)
    over their composition, regularised towards the isolated-atom labels along directions the
    compositions do not determine (ridge, weight 1e-3 per frame): Li2S-P2S5 glasses and crystals
    lie on one line in composition space, so plain least squares is singular there. With it the
    2-body and 3-body terms carry only the energy around the bulk's, not the whole cohesive
    energy (several eV per atom from isolated atoms).

    Raises
    ------
    TrainingError
        No isolated-atom labels of Li, P and S and fewer than 3 independent compositions.
    """
    iso = {a.get_chemical_symbols()[0]: a.get_potential_energy() for a in frames
           if a.info.get("config_type") == "isolated" and len(a) == 1}
    bulk = [a for a in frames if a.info.get("config_type") not in ("dimer", "isolated")]
    comp = np.array([[np.sum(a.numbers == Z[s]) for s in SPECIES] for a in bulk], float)
    energy = np.array([a.get_potential_energy() for a in bulk])
    if set(iso) >= set(SPECIES):
        prior = np.array([iso[s] for s in SPECIES])
        if method != "composition" or not bulk:
            return {s: float(iso[s]) for s in SPECIES}
        n = comp.sum(axis=1, keepdims=True)
        a, e = comp / n, energy / n[:, 0]
        lam = 1e-3 * len(bulk)
        e0 = np.linalg.solve(a.T @ a + lam * np.eye(len(SPECIES)), a.T @ e + lam * prior)
        return dict(zip(SPECIES, map(float, e0), strict=True))
    if len(bulk) == 0 or np.linalg.matrix_rank(comp) < len(SPECIES):
        raise TrainingError("e0 cannot be fitted: no isolated-atom labels of Li, P and S, and the labelled frames "
                            "span fewer than 3 independent compositions; give [fit] e0_eV = {Li = ..., P = ..., "
                            "S = ...} or let the isolated-atom labels finish", key="fit.e0_eV")
    e0, *_ = np.linalg.lstsq(comp, energy, rcond=None)
    return dict(zip(SPECIES, map(float, e0), strict=True))


def _ascii(value):
    if isinstance(value, str):
        return unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()
    return value


def training_file_frames(frames: list[Atoms], fit_virials: bool, scan_force_radius_A: float = 0.0,
                         force_atoms_per_frame: int = 0) -> list[Atoms]:
    """Frames as gap_fit reads them: energy, forces (stress only when virials are fitted: gap_fit
    turns any stress into virials and then needs a virial sigma > 0) and the provenance in
    ``info`` made ASCII ("Å" -> "A"): gap_fit copies the training set into the XML, and QUIP's
    XML parser stops at any non-ASCII character. Only scalar ``info`` (str, int, float, bool)
    is kept: QUIP's extxyz reader loses the frame's energy after a JSON-valued key (measured:
    a builder's ``anion_counts`` dict made gap_fit find 0 of 10 energies, without an error).

    With ``scan_force_radius_A`` > 0, a scan frame (``config_name`` ending as
    :func:`lpsens.train.configurations.scan_atoms` reads it) gets the logical column
    ``force_mask``: True (gap_fit leaves that atom's force out) on every atom farther than the
    radius (Å, minimum image) from both the scan's P and its moved S. A scan moves one atom of a
    150-atom frame; its energy and the forces near that atom carry what it teaches, the other
    atoms' forces repeat the frame it was cut from and cost gap_fit time and memory in
    proportion (docs/training.md, "Fit time").

    With ``force_atoms_per_frame`` > 0, a frame with more atoms whose forces are fitted keeps the
    forces of that many of them, drawn at random (seeded by the frame's name and positions, so a
    frame keeps its atoms in every generation's fit); the others get ``force_mask`` True. gap_fit's
    memory and time grow with the forces fitted (:func:`gap_fit_memory_bytes`), and the forces
    of one 170-atom MD frame are far from independent; its energy is always fitted.
    """
    out = []
    for a in frames:
        b = Atoms(a.numbers, positions=a.positions, cell=a.cell, pbc=a.pbc)
        b.info.update({k: _ascii(v) for k, v in a.info.items() if isinstance(v, (str, int, float, bool, np.number))})
        stress = a.get_stress() if fit_virials and a.calc is not None and "stress" in a.calc.results else None
        b.calc = SinglePointCalculator(b, energy=a.get_potential_energy(), forces=a.get_forces(),
                                       **({} if stress is None else {"stress": stress}))
        moved = scan_atoms(str(a.info.get("config_name", ""))) if scan_force_radius_A > 0 else None
        if moved is not None and max(moved) < len(b):
            near = np.zeros(len(b), bool)
            for centre in moved:
                near |= b.get_distances(centre, np.arange(len(b)), mic=True) <= scan_force_radius_A
            b.arrays["force_mask"] = ~near
        if force_atoms_per_frame > 0:
            _cap_forces(b, force_atoms_per_frame)
        out.append(b)
    return out


def _cap_forces(atoms: Atoms, n: int) -> None:
    mask = atoms.arrays.get("force_mask")
    fitted = np.flatnonzero(~mask) if mask is not None else np.arange(len(atoms))
    if len(fitted) <= n:
        return
    key = hashlib.sha256(str(atoms.info.get("config_name", "")).encode() + atoms.positions.tobytes()).digest()
    keep = np.random.default_rng(list(key[:8])).choice(fitted, n, replace=False)
    new = np.ones(len(atoms), bool)
    new[keep] = False
    atoms.arrays["force_mask"] = new


def write_training_file(path: Path, frames: list[Atoms]) -> None:
    """Write gap_fit's training file (atomically) and remove QUIP's index ``<path>.idx`` of an
    earlier file of that name: QUIP reads the xyz through an index it finds there whenever the
    index is not older than the file (measured: a rewritten training file, refit in the same
    folder, failed with "read_xyz: mismatch in number of atoms - expecting 8 but got 0")."""
    Path(f"{path}.idx").unlink(missing_ok=True)
    write_frames(path, frames)


def fit_core(frames: list[Atoms], wall_eV: float) -> dict[str, float]:
    """``eps12`` (eV Å^12) of the repulsion E = eps12 / r^12 per pair, fitted to the dimer scans.

    For each pair, the scan energies relative to the longest distance, dE(r), are taken where
    dE > ``wall_eV``; eps12 is the least-squares fit of eps12 / r^12 to them. Pairs without
    scan points on the wall get 0 (no core).
    """
    out = {}
    for pair in PAIRS:
        a, b = sorted(pair.split("-"), key=lambda s: Z[s])
        scan = [(a_.get_distance(0, 1, mic=True), a_.get_potential_energy()) for a_ in frames
                if a_.info.get("config_type") == "dimer" and sorted(a_.get_chemical_symbols(), key=lambda s: Z[s]) == [a, b]]
        if len(scan) < 2:
            out[f"{a}-{b}"] = 0.0
            continue
        scan.sort()
        r = np.array([s[0] for s in scan])
        dE = np.array([s[1] for s in scan]) - scan[-1][1]
        wall = dE > wall_eV
        if not wall.any():
            out[f"{a}-{b}"] = 0.0
            continue
        x = 1.0 / r[wall] ** 12
        out[f"{a}-{b}"] = float(max(0.0, (x @ dE[wall]) / (x @ x)))
    return out


def core_xml(eps12: dict[str, float], cutoff_A: float | dict[str, float]) -> str:
    """QUIP ``LJ_params`` XML of the repulsive core (``eps6 = 0``, sigma = 1 Å; one cutoff or one per pair)."""
    types = {s: i + 1 for i, s in enumerate(SPECIES)}
    lines = [f'<LJ_params n_types="{len(SPECIES)}" label="core_repulsion">']
    lines += [f'<per_type_data type="{types[s]}" atomic_num="{Z[s]}" />' for s in SPECIES]
    for i, a in enumerate(SPECIES):
        for b in SPECIES[i:]:
            e12 = eps12.get(f"{a}-{b}", eps12.get(f"{b}-{a}", 0.0))
            rc = cutoff_A if isinstance(cutoff_A, (int, float)) else cutoff_A.get(f"{a}-{b}", cutoff_A.get(f"{b}-{a}"))
            lines.append(f'<per_pair_data type1="{types[a]}" type2="{types[b]}" sigma="1.0" eps6="0.0" '
                         f'eps12="{e12:.10g}" cutoff="{rc:g}" energy_shift="T" linear_force_shift="T" />')
    lines.append("</LJ_params>")
    return "\n".join(lines) + "\n"


def contact_floors_A() -> dict[str, float]:
    """Contact floor per pair of :data:`~lpsens.train.spec.PAIRS` (Å): the chemistry check's limits."""
    from lpsens.potential.compile import contact_floor_A

    return {pair: contact_floor_A(*pair.split("-")) for pair in PAIRS}


def contact_core_eps12(contact_eV: float | dict[str, float], cutoff_A: dict[str, float]) -> dict[str, float]:
    """``eps12`` per pair of the ``contact`` core: E(floor) = ``contact_eV`` after the shifts.

    ``contact_eV``: one energy (eV) for every pair, or one per pair of
    :data:`~lpsens.train.spec.PAIRS` (all of them).

    A chemistry prior, not a fit: the shifted r^-12 wall (energy and force 0 at the pair's
    cutoff) costs ``contact_eV`` at the contact floor of :mod:`lpsens.chemistry` (S-S 2.3 Å,
    P-S 1.7 Å, P-P 1.9 Å, Li 1.5 Å), where a frame counts as broken; the GAP fits the reference
    on top of it. Needed because a 2-body + 3-body GAP trained on dimer scans learns the S-S
    bond of the S2 molecule (a 3.5 eV well at 2.1 Å) and then bonds S of neighbouring PS4 units
    in the condensed phase, where no such bond exists; trained without them it has no wall at all.
    """
    floors = contact_floors_A()
    out = {}
    for pair in PAIRS:
        r0, rc = floors[pair], float(cutoff_A.get(pair, floors[pair] + 0.3))
        shifted = r0 ** -12 - rc ** -12 + 12 * rc ** -13 * (r0 - rc)  # E/eps12 at r0 with both shifts
        out[pair] = (contact_eV[pair] if isinstance(contact_eV, dict) else contact_eV) / shifted
    return out


def subtract_prior(frames: list[Atoms], prior: TetrahedralPrior) -> list[Atoms]:
    """Copies of ``frames`` whose labels (energy eV, forces eV/Å, stress eV/Å^3 when present) are
    the reference's minus the prior's, so that core + prior + GAP fits the reference."""
    calc = prior.calculator()
    out = []
    for a in frames:
        probe = Atoms(a.numbers, positions=a.positions, cell=a.cell, pbc=a.pbc)
        probe.calc = calc
        res = a.calc.results
        labels = {"energy": a.get_potential_energy() - probe.get_potential_energy(),
                  "forces": a.get_forces() - probe.get_forces()}
        if "stress" in res and a.pbc.all():
            labels["stress"] = a.get_stress() - probe.get_stress()
        b = a.copy()
        b.calc = SinglePointCalculator(b, **labels)
        out.append(b)
    return out


def core_file_text(core: str, prior: TetrahedralPrior | None) -> str:
    """The gap_fit ``core_param_file``: the pair core's XML alone, or both it and the prior's
    ``SW_params`` under one ``<core>`` element (gap_fit reads ``IP LJ`` from it and copies it whole)."""
    if prior is None or not prior.active:
        return core
    return f"<core>\n{core}{prior.xml()}</core>\n"


def add_prior_to_core(gap_xml: str, file: Path) -> str:
    """gap_fit's XML with the top-level core ``IP LJ`` replaced by ``Sum(IP LJ, IP SW)``.

    Raises
    ------
    TrainingError
        The XML has no top-level ``Sum`` with ``init_args_pot1={IP LJ}`` (names ``file``).
    """
    old = "init_args_pot1={IP LJ}"
    if gap_xml.count(old) != 1:
        raise TrainingError(f"gap_fit's XML has {gap_xml.count(old)} top-level cores {old!r}, expected 1; the "
                            "tetrahedral prior needs [fit] core = \"contact\" or \"pair_repulsion\"",
                            file=file, key="fit.tetrahedral_prior_eV")
    return gap_xml.replace(old, "init_args_pot1={Sum init_args_pot1={IP LJ} init_args_pot2={IP SW}}")


def gap_fit_binary() -> str:
    """The gap_fit executable: quippy-ase's own binary when installed (its ``gap_fit`` script is a
    Python wrapper that runs it as a child: a signal to the wrapper would orphan the fit, and the
    out-of-memory killer's SIGKILL would come back as exit status 247), else ``gap_fit`` next to
    this Python or on PATH."""
    try:
        import quippy

        bundled = Path(quippy.__path__[0]) / "gap_fit"
        if bundled.is_file():
            return str(bundled)
    except ImportError:
        pass
    exe = Path(sys.executable).parent / "gap_fit"
    found = str(exe) if exe.exists() else shutil.which("gap_fit")
    if not found:
        raise TrainingError("gap_fit not found next to this Python or on PATH: install quippy-ase (pip install quippy-ase)")
    return found


def n_sparse_points(spec: FitSpec) -> int:
    """Sparse points of the fit: ``add_species`` makes one 2-body descriptor per species pair and one
    3-body descriptor per centre and unordered neighbour pair (6 and 18 for Li, P, S)."""
    n = len(SPECIES)
    pairs = n * (n + 1) // 2
    return pairs * spec.n_sparse_2b + n * pairs * spec.n_sparse_3b


def fitted_values(frames: list[Atoms]) -> int:
    """Values gap_fit fits: one energy per frame, three force components per atom not masked by
    ``force_mask``, six virial components per frame with a stress."""
    rows = 0
    for a in frames:
        mask = a.arrays.get("force_mask")
        rows += 1 + 3 * (len(a) if mask is None else int(np.count_nonzero(~mask)))
        rows += 6 if a.calc is not None and "stress" in a.calc.results else 0
    return rows


#: gap_fit's peak resident memory over its covariance (fitted values x sparse points x 8 bytes),
#: measured (docs/training.md, *Memory*)
GAP_FIT_MEMORY_FACTOR = 2.4


def gap_fit_memory_bytes(frames: list[Atoms], spec: FitSpec, n_values: int | None = None) -> int:
    """gap_fit's peak memory: its largest allocation, the covariance of every fitted value with every
    sparse point in 8-byte doubles, times :data:`GAP_FIT_MEMORY_FACTOR` (descriptors, the sparse
    covariance, the solver's work space), measured on this code's fits. ``n_values``: the frames'
    :func:`fitted_values` when already counted."""
    n = fitted_values(frames) if n_values is None else n_values
    return int(GAP_FIT_MEMORY_FACTOR * 8 * n * n_sparse_points(spec))


def available_memory_bytes(proc=Path("/proc"), cgroup_fs=Path("/sys/fs/cgroup")) -> int | None:
    """Memory this process can still use: the smallest of ``MemAvailable`` (``proc``/meminfo) and the
    room under every memory limit of its cgroups and their parents (SLURM's ``--mem`` sits on the
    job's cgroup, a parent of the task's), cgroup v2 or v1, reclaimable page cache (inactive file
    pages) counted as room; None when nothing is known."""
    found = []
    try:
        for line in (proc / "meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    try:
        lines = (proc / "self" / "cgroup").read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        _, controllers, rel = (line.split(":", 2) + ["", ""])[:3]
        if controllers == "":  # v2: one unified hierarchy
            base, names, cache = cgroup_fs, ("memory.max", "memory.current"), "inactive_file"
        elif "memory" in controllers.split(","):  # v1: the memory controller's own hierarchy
            base, names, cache = cgroup_fs / "memory", ("memory.limit_in_bytes", "memory.usage_in_bytes"), "total_inactive_file"
        else:
            continue
        group = base / rel.strip().lstrip("/")
        for g in [group, *group.parents]:
            if not g.is_relative_to(base):
                break
            try:
                limit = (g / names[0]).read_text().strip()
                if limit == "max" or int(limit) >= 2 ** 60:  # v1 writes "no limit" as a huge number
                    continue
                used = int((g / names[1]).read_text())
            except (OSError, ValueError):
                continue
            try:
                stat = dict(ln.split() for ln in (g / "memory.stat").read_text().splitlines() if ln.strip())
                used -= int(stat.get(cache, 0))
            except (OSError, ValueError):
                pass
            found.append(int(limit) - max(used, 0))
    return min(found) if found else None


def _size(n_bytes: float) -> str:
    return f"{n_bytes / 1e9:.1f} GB" if abs(n_bytes) >= 1e9 else f"{max(n_bytes, 0) / 1e6:.0f} MB"


def check_fit_memory(frames: list[Atoms], spec: FitSpec, file=None, free_bytes: int | None = None) -> int:
    """Refuse a fit that cannot fit in memory here, before gap_fit runs for minutes and is killed.
    ``free_bytes``: the memory to compare with (None: :func:`available_memory_bytes`).

    Returns the estimate (bytes, :func:`gap_fit_memory_bytes`).

    Raises
    ------
    TrainingError
        The estimate exceeds ``free_bytes`` or else :func:`available_memory_bytes` (names the sizes
        and the fix).
    """
    n_values = fitted_values(frames)
    need = gap_fit_memory_bytes(frames, spec, n_values)
    free = available_memory_bytes() if free_bytes is None else free_bytes
    if free is not None and need > free:
        raise TrainingError(
            f"gap_fit would need about {_size(need)} ({n_values} fitted values x "
            f"{n_sparse_points(spec)} sparse points x 8 bytes x {GAP_FIT_MEMORY_FACTOR:g}) and {_size(free)} "
            "are free here: lower "
            "[fit] n_sparse_3b, fit fewer forces per frame ([fit] force_atoms_per_frame), or run the fit on a "
            "node with more memory", file=file, key="fit.n_sparse_3b")
    return need


def gap_fit_command(spec: FitSpec, e0: dict, train_file: Path, gp_file: Path, core_file: Path | None,
                    seed: int) -> list[str]:
    """The gap_fit argument list (2b + 3b, per-config_type sigma, e0, optional core)."""
    d2 = (f"distance_2b cutoff={spec.cutoff_2b_A:g} cutoff_transition_width=1.0 covariance_type=ard_se "
          f"delta={spec.delta_2b:g} theta_uniform={spec.theta_2b_A:g} sparse_method=uniform n_sparse={spec.n_sparse_2b} add_species=T")
    d3 = (f"angle_3b cutoff={spec.cutoff_3b_A:g} cutoff_transition_width=0.6 covariance_type=ard_se "
          f"delta={spec.delta_3b:g} theta_uniform={spec.theta_3b_A:g} sparse_method=random n_sparse={spec.n_sparse_3b} add_species=T")
    cmd = [gap_fit_binary(), f"at_file={train_file}", f"gap={{{d2} : {d3}}}",
           "default_sigma={" + " ".join(f"{v:g}" for v in spec.sigma) + "}",
           "e0={" + ":".join(f"{s}:{e0[s]:.8f}" for s in SPECIES) + "}",
           "energy_parameter_name=energy", "force_parameter_name=forces", "force_mask_parameter_name=force_mask",
           "sparse_jitter=1.0e-8", "sparse_separate_file=F", f"rnd_seed={seed}", f"gp_file={gp_file}"]
    if spec.config_type_sigma:
        cmd.append("config_type_sigma={" + ":".join(f"{k}:" + ":".join(f"{v:g}" for v in s)
                                                   for k, s in spec.config_type_sigma.items()) + "}")
    if core_file is not None:
        cmd += [f"core_param_file={core_file}", "core_ip_args={IP LJ}"]
    if spec.extra_args:
        cmd += spec.extra_args.split()
    return cmd


def run_gap_fit(cmd: list[str], log_file: Path, gp_file: Path, n_energies: int | None = None,
                should_stop=None, memory_bytes: int | None = None) -> None:
    """Run gap_fit; on failure raise with the log's last line.

    ``n_energies``: the training file's frame count; gap_fit's own count of the energies it read
    must equal it (it fits forces alone, without a word, when its reader misses the energies).
    ``should_stop()`` (the launcher's stop request) is polled every second; when it turns true
    gap_fit is terminated (it cannot checkpoint). ``memory_bytes``: the fit's estimate
    (:func:`gap_fit_memory_bytes`), named when gap_fit is killed by SIGKILL.

    Raises
    ------
    FitStopped
        Terminated on ``should_stop`` or by a signal other than SIGKILL (gp_file removed).
    TrainingError
        Killed by SIGKILL (the out-of-memory killer, usually), non-zero exit, no output file, or fewer energies read than ``n_energies`` (names the
        log file; the output is removed).
    """
    with open(log_file, "w") as out:
        # its own session: a signal to the launch's process group reaches the launch, which decides
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=gp_file.parent, start_new_session=True)
        try:
            while True:
                try:
                    rc = proc.wait(timeout=1.0)
                    break
                except subprocess.TimeoutExpired:
                    if should_stop is not None and should_stop():
                        proc.terminate()
                        proc.wait()
                        rc = -signal.SIGTERM
                        break
        finally:
            if proc.poll() is None:  # an exception here (KeyboardInterrupt): no gap_fit left behind
                proc.kill()
                proc.wait()
    if rc == -signal.SIGKILL or rc == 256 - signal.SIGKILL:  # the latter: through quippy's Python wrapper
        gp_file.unlink(missing_ok=True)
        need = "" if memory_bytes is None else f" (this fit needs about {memory_bytes / 1e9:.1f} GB)"
        raise TrainingError(f"gap_fit was killed by SIGKILL, on a node usually the out-of-memory killer{need}: "
                            "lower [fit] n_sparse_3b or [fit] force_atoms_per_frame, or fit on a node with more "
                            "memory; nothing of the fit was kept", file=log_file, key="fit")
    if rc < 0:
        gp_file.unlink(missing_ok=True)
        raise FitStopped(f"gap_fit stopped by {signal.Signals(-rc).name} before it finished; the fit reruns at the "
                         "next launch", file=log_file, key="fit")
    if rc == 0 and gp_file.exists() and n_energies is not None:
        found = re.search(r"Number of target energies \(property name: \w+\) found: (\d+)", log_file.read_text(errors="replace"))
        if found is None or int(found.group(1)) != n_energies:
            gp_file.unlink()  # a GAP fitted without its energies must not look complete
            got = "no count" if found is None else f"{found.group(1)} of {n_energies} energies"
            raise TrainingError(f"gap_fit read {got} from its training file; a frame's info the extxyz reader "
                                "cannot parse hides the energies after it: give frames with scalar info only",
                                file=log_file, key="fit")
    if rc != 0 or not gp_file.exists():
        tail = [ln.strip() for ln in log_file.read_text(errors="replace").splitlines() if ln.strip()]
        why = tail[-1] if tail else "no output"
        abort = [k for k, ln in enumerate(tail) if "SYSTEM ABORT" in ln]
        if abort:  # the reason follows QUIP's traceback lines
            after = [ln for ln in tail[abort[0]:abort[0] + 6] if not ln.startswith(("SYSTEM ABORT: Traceback", "File "))]
            why = after[0] if after else tail[abort[0]]
        raise TrainingError(f"gap_fit failed (exit {rc}): {why}; see the log and fix [fit] in the spec",
                            file=log_file, key="fit")
