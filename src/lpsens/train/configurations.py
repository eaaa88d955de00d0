"""Generation-0 configurations by the paper's protocol (Staacke et al. 2022 §3.1).

Glasses from :func:`lpsens.structures.build_structure` (anion lattice in the stoichiometric
PS4/P2S7(/P2S6) ratio, Li placed quasi-randomly, compressed to the density) and the bundled
crystals; strained and rattled copies; isotropically compressed copies (close contacts in the
condensed phase); short MD snapshots run with the reference itself; and dimer scans of every
element pair so that the repulsive wall is in the training data (the previous demo GAP lacked
it and let S atoms fuse, docs/potential.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.neighborlist import neighbor_list

from lpsens.structures import build_structure
from lpsens.structures.builder import CRYSTAL_X_MOL_PCT
from lpsens.train.spec import ConfigurationSpec

__all__ = ["Configuration", "generation0", "dimer", "distorted", "coordination_scan", "stretch_scan", "scan_atoms"]

# The last part of a scan frame's name: which P and which S the scan moved, then the distance.
_SCAN_NAME = re.compile(r"(?:^|/)P(\d+)-S(\d+)/(?:stretch)?[0-9.]+A$")


def scan_atoms(name: str) -> tuple[int, int] | None:
    """(P index, S index) of a :func:`coordination_scan` or :func:`stretch_scan` frame from its
    name (also as the tail of a longer ``config_name``); ``None`` for any other name."""
    m = _SCAN_NAME.search(name)
    return (int(m.group(1)), int(m.group(2))) if m else None


@dataclass
class Configuration:
    """One labelling task's input.

    Attributes
    ----------
    name
        Unique name within the generation (``glass_x67.0/rattle1``).
    config_type
        ``bulk``, ``distorted``, ``compressed``, ``md``, ``dimer``, ``isolated`` or ``selected`` (gap_fit
        ``config_type``; per-type sigma in ``[fit] config_type_sigma``).
    atoms
        The structure (periodic; Å).
    md
        ``None`` for a single point; else ``{"temperature_K", "steps", "every", "timestep_fs",
        "minimise_steps"}``: Langevin MD with the reference from the structure minimised with it
        (at most ``minimise_steps`` FIRE steps; 0: from the built structure), every ``every``-th
        step labelled.
    """

    name: str
    config_type: str
    atoms: Atoms
    md: dict | None = None


def _rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), *map(int, keys)]))


def distorted(atoms: Atoms, rng: np.random.Generator, strain_max: float, rattle_A: float) -> Atoms:
    """A copy with a random symmetric strain (each component <= ``strain_max``) and a Gaussian rattle (Å)."""
    eps = rng.uniform(-strain_max, strain_max, (3, 3))
    eps = 0.5 * (eps + eps.T)
    a = atoms.copy()
    a.set_cell(a.cell[:] @ (np.eye(3) + eps), scale_atoms=True)
    a.positions += rng.normal(0.0, rattle_A, a.positions.shape)
    a.wrap()
    return a


def dimer(pair: str, distance_A: float, box_A: float) -> Atoms:
    """Two atoms ``pair`` (``"P-S"``) at ``distance_A`` in a cubic periodic box of edge ``box_A``."""
    a, b = pair.split("-")
    return Atoms([a, b], positions=[[0, 0, 0], [distance_A, 0, 0]], cell=[box_A] * 3, pbc=True)


#: How close (Å) a scan's moved S may come to any atom but its P, by that atom's element. A scan
#: moves one S along a line and stops at nothing in its way: in the campaign of 2026-12-07 fifth-S
#: scans put an S 0.8-1.2 Å from a Li, labels that stretched the GAP's 2-body range down to 0.8 Å
#: and left a GAP its uf3 twin could not follow (0.52 eV/Å). Li 1.7: below the closest Li-S the
#: reference's own MD reaches at 900 K (1.84 Å); S 2.3: the fused-S floor; P 2.3: the scans' own
#: closest P-S distance.
SCAN_CLEARANCE_A = {"Li": 1.7, "P": 2.3, "S": 2.3}


def _clear(a: Atoms, moved: int, centre: int) -> bool:
    d = a.get_distances(moved, np.arange(len(a)), mic=True)
    d[[moved, centre]] = np.inf
    limit = np.array([SCAN_CLEARANCE_A.get(sym, 0.0) for sym in a.get_chemical_symbols()])
    return bool((d >= limit).all())


def _scans(atoms: Atoms, candidates, distances_A, n_centres: int, accept, kind: str) -> list[tuple[str, Atoms]]:
    """For each ``(p, s, unit)`` of ``candidates`` in turn, copies of ``atoms`` with S ``s`` at
    each distance (Å) from P ``p`` along ``unit`` that keep :data:`SCAN_CLEARANCE_A` and that
    ``accept`` takes, named as :func:`scan_atoms` reads them back; until ``n_centres`` P gave at
    least one frame."""
    out, centres = [], 0
    for p, s, unit in candidates:
        kept = []
        for target in distances_A:
            a = atoms.copy()
            a.positions[s] = atoms.positions[p] + unit * target
            if _clear(a, s, p) and (accept is None or accept(a)):
                kept.append((f"P{p}-S{s}/{kind}{target:g}A", a))
        out += kept
        centres += bool(kept)
        if centres == n_centres:
            break
    return out


def coordination_scan(atoms: Atoms, rng: np.random.Generator, distances_A, n_centres: int,
                      bond_A: float = 2.6, search_A: tuple[float, float] = (3.0, 4.5),
                      accept=None) -> list[tuple[str, Atoms]]:
    """Copies of ``atoms`` with one S moved towards a P it is not bonded to: a fifth S.

    For up to ``n_centres`` P (random order), the nearest S farther than ``search_A[0]`` and
    within ``search_A[1]`` (Å) that is not among the P's own S (within ``bond_A``) is moved
    along the P-S line to each of ``distances_A`` from the P, nothing else moved; frames that
    ``accept`` (a callable Atoms -> bool, None: all) refuses are left out, and a P none of whose
    frames is accepted does not count towards ``n_centres``. The frames
    along that line are what a 2-body + 3-body GAP misses in P2S7 glasses: it puts the 5-fold P
    of an S exchange between units about 1 eV too low (docs/training.md, 2026-12-06), and the
    reference, asked there, pushes the S away (0.4-3.3 eV between 2.7 and 2.3 Å).

    Returns
    -------
    list of (name, Atoms)
        ``name`` = ``P{i}-S{j}/{d}A``; empty when no P has such an S.
    """
    i, j, d, D = neighbor_list("ijdD", atoms, search_A[1])
    is_p, is_s = atoms.numbers == 15, atoms.numbers == 16

    def candidates():  # lazily: the rng draws only for the P tried
        for c in rng.permutation(np.flatnonzero(is_p)):
            mine = (i == c) & is_s[j]
            own = set(j[mine & (d < bond_A)].tolist())
            far = mine & (d > search_A[0]) & ~np.isin(j, list(own))
            if far.any():
                k = np.flatnonzero(far)[np.argmin(d[far])]
                yield c, j[k], D[k] / d[k]

    return _scans(atoms, candidates(), distances_A, n_centres, accept, "")


def stretch_scan(atoms: Atoms, rng: np.random.Generator, distances_A, n_centres: int,
                 bond_A: float = 2.6, accept=None) -> list[tuple[str, Atoms]]:
    """Copies of ``atoms`` with one of a P's own S pulled out along the P-S bond: a P losing an S.

    For up to ``n_centres`` P with exactly 4 S within ``bond_A`` (Å; random order), one of those
    S (random) is moved along the P-S line to each of ``distances_A`` from the P, nothing else
    moved; ``accept`` as in :func:`coordination_scan`. The complement of the fifth-S scans: those
    teach that an S of another unit at 2.3-2.7 Å is pushed away, these that a P's own S there is
    pulled back, the two sides of a P that 2-body + 3-body fits confuse (a GAP fitted with fifth-S
    scans alone broke glasses with a P holding 2 S instead of 5; docs/training.md, 2026-12-06).

    Returns
    -------
    list of (name, Atoms)
        ``name`` = ``P{i}-S{j}/stretch{d}A``; empty when no P holds 4 S.
    """
    i, j, d, D = neighbor_list("ijdD", atoms, bond_A)
    is_p, is_s = atoms.numbers == 15, atoms.numbers == 16

    def candidates():  # lazily: the rng draws only for the P tried
        for c in rng.permutation(np.flatnonzero(is_p)):
            own = np.flatnonzero((i == c) & is_s[j])
            if len(own) == 4:  # an intact PS4 tetrahedron (terminal or bridging S alike)
                k = own[rng.integers(len(own))]
                yield c, j[k], D[k] / d[k]

    return _scans(atoms, candidates(), distances_A, n_centres, accept, "stretch")


def _bases(spec: ConfigurationSpec, seed: int) -> list[tuple[str, Atoms]]:
    out = []
    for i, x in enumerate(spec.glass_x_mol_pct):
        atoms = build_structure("glass", x, seed + i, min_atoms=spec.glass_min_atoms,
                                p2s6_fraction=spec.glass_p2s6_fraction)
        out.append((f"glass_x{x:g}", atoms))
    for name in spec.crystals:
        atoms = build_structure(name, CRYSTAL_X_MOL_PCT[name], seed, min_atoms=spec.crystal_min_atoms)
        out.append((name, atoms))
    return out


def generation0(spec: ConfigurationSpec, seed: int) -> list[Configuration]:
    """Every generation-0 configuration of ``spec`` (deterministic for a seed).

    Returns
    -------
    list of Configuration
        Per glass/crystal: the built structure, ``n_distorted`` strained+rattled copies per
        rattle amplitude, compressed copies, one MD task per temperature; then one dimer per
        pair and distance, and one isolated atom per element (its energy is gap_fit's e0).

    Raises
    ------
    StructureError
        A builder cannot make a requested structure.
    """
    configs: list[Configuration] = []
    for k, (base_name, atoms) in enumerate(_bases(spec, seed)):
        atoms = Atoms(atoms.get_chemical_symbols(), positions=atoms.positions, cell=atoms.cell, pbc=True)
        configs.append(Configuration(f"{base_name}/bulk", "bulk", atoms))
        rng = _rng(seed, k, 1)
        for rattle in spec.rattle_A:
            for n in range(spec.n_distorted):
                configs.append(Configuration(f"{base_name}/distorted_r{rattle:g}_{n}", "distorted",
                                             distorted(atoms, rng, spec.strain_max, rattle)))
        for s in spec.compress_scale:
            a = atoms.copy()
            a.set_cell(a.cell[:] * s, scale_atoms=True)
            configs.append(Configuration(f"{base_name}/compressed_{s:g}", "compressed", a))
        if spec.md_steps:
            for T in spec.md_temperatures_K:
                configs.append(Configuration(
                    f"{base_name}/md_{T:g}K", "md", atoms.copy(),
                    md={"temperature_K": float(T), "steps": spec.md_steps, "every": spec.md_every,
                        "timestep_fs": spec.md_timestep_fs, "minimise_steps": spec.md_minimise_steps}))
    for el in ("Li", "P", "S"):  # gap_fit's e0: the reference energy of the isolated atom
        configs.append(Configuration(f"isolated/{el}", "isolated",
                                     Atoms([el], positions=[[0, 0, 0]], cell=[spec.scan_box_A] * 3, pbc=True)))
    for pair in spec.scan_pairs:
        for d in spec.scan_distances_A:
            configs.append(Configuration(f"dimer_{pair}/{d:g}", "dimer", dimer(pair, d, spec.scan_box_A)))
    return configs
