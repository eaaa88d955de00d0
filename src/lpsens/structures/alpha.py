"""A model of alpha-Li3PS4, built without MD (no published atomic coordinates exist).

Only the cell is published: Pbcn, a = 8.6125, b = 9.0211, c = 8.4262 Å at 906 K, Z = 4
(Homma et al., J. Phys. Soc. Jpn. 79 Suppl. A (2010) 90; later work describes alpha in Cmcm).
alpha forms from beta above ~700 K: a quarter of the PS4 tetrahedra turn over (the S sublattice
goes from HCP-like towards BCC) and Li becomes disordered. This module builds a *model* in
that cell, per replica seed:

1. **Framework**: the four PS4 of the bundled beta-Li3PS4 cell (Pnma) are mapped into the
   alpha cell: fractional P coordinates are kept, the beta axes are assigned to the alpha axes
   by the permutation with the least strain, and each tetrahedron keeps its beta orientation
   (a regular PS4 template, P-S 2.05 Å, aligned to the beta tetrahedron). The cell is
   replicated to the requested size.
2. **Flips**: a seeded 25 % of the tetrahedra (round(n/4)) are turned over: rotated by 180°
   about the axis through P along beta's b (the normal of the mirror plane that holds the
   apex bond), so the apex, which in beta lies along +-c, points the other way.
3. **Li**: 3 Li per PS4 are placed quasi-randomly (scrambled Sobol sequence) on sterically
   allowed sites in the box expanded 3x in volume, then box and Li are compressed to the alpha
   cell with the glass builder's geometric relaxation (rigid PS4, Li pushed to the build
   distances); the P sublattice only moves where tetrahedra overlap.

Checked for every structure: composition Li3PS4, charge, P-S bonds and four-coordinated P,
minimum distances, the density of the published cell (1.826 g/cm^3 for Z = 4), and all units
PS4. Not checked, because there is nothing published to compare with: Li sites, the S
sublattice's BCC character, and the space group. The model is a starting point for GAP MD
at high temperature, not a refined structure.
"""

from __future__ import annotations

import itertools

import numpy as np
from ase import Atoms
from scipy.spatial.transform import Rotation

from lpsens.errors import StructureError
from lpsens.structures.anions import AnionKind, anion_template
from lpsens.structures.checks import AMU_A3_TO_G_CM3, check_structure
from lpsens.structures.crystals import (
    CRYSTAL_PHASES,
    MAX_ATOMS,
    choose_supercell,
    read_cif,
    structure_data_dir,
)
from lpsens.structures.glass import EXPANSION_VOLUME, _fill_and_compress, _Packing
from lpsens.vocabulary import PHASES

__all__ = ["ALPHA_CELL_A", "ALPHA_FLIP_FRACTION", "alpha_density_g_cm3", "build_alpha"]

ALPHA_CELL_A = (8.6125, 9.0211, 8.4262)  # Pbcn, 906 K (Homma et al. 2010)
ALPHA_Z = 4
ALPHA_FLIP_FRACTION = 0.25


def alpha_density_g_cm3() -> float:
    """Density of the published alpha cell with Z = 4 Li3PS4 (g/cm^3)."""
    from ase.data import atomic_masses, atomic_numbers

    m = sum(n * atomic_masses[atomic_numbers[el]] for el, n in (("Li", 3), ("P", 1), ("S", 4)))
    return ALPHA_Z * m / np.prod(ALPHA_CELL_A) * AMU_A3_TO_G_CM3


def _beta_framework():
    """P fractional coordinates (4, 3) and PS4 rotation matrices (4, 3, 3) of beta, axes permuted.

    Returns (frac, rot, perm, flip_axis): alpha axis k takes beta axis perm[k]; flip_axis is
    beta's b direction in the alpha frame.
    """
    beta = read_cif(structure_data_dir() / CRYSTAL_PHASES["beta_Li3PS4"].cif)
    abc_beta = beta.cell.lengths()
    perm = min(itertools.permutations(range(3)),
               key=lambda p: float(np.sum(np.log(np.array(ALPHA_CELL_A) / abc_beta[list(p)]) ** 2)))
    perm = list(perm)
    sym = np.array(beta.get_chemical_symbols())
    p_idx = np.nonzero(sym == "P")[0]
    s_idx = np.nonzero(sym == "S")[0]
    template = anion_template(AnionKind.PS4).positions_A[1:]  # S offsets from P (= centroid)
    frac, rots = [], []
    for p in p_idx:
        d = beta.get_distances(p, s_idx, mic=True, vector=True)
        bonded = d[np.linalg.norm(d, axis=1) < 2.4][:, perm]  # into the alpha axis frame
        if len(bonded) != 4:
            raise StructureError(f"beta-Li3PS4 P {p} has {len(bonded)} S neighbours, expected 4", key="alpha")
        best = None
        for order in itertools.permutations(range(4)):
            rot, rmsd = Rotation.align_vectors(bonded, template[list(order)])
            if best is None or rmsd < best[1]:
                best = (rot, rmsd)
        frac.append(beta.get_scaled_positions()[p][perm])
        rots.append(best[0].as_matrix())
    flip_axis = np.eye(3)[perm.index(1)]  # beta b in the alpha frame
    return np.array(frac), np.array(rots), perm, flip_axis


def build_alpha(seed: int, *, min_atoms: int = 0, min_width_A: float = 0.0, max_atoms: int = MAX_ATOMS,
                max_attempts: int = 3) -> Atoms:
    """The alpha-Li3PS4 model (see the module docstring) in a supercell of the published cell.

    Parameters
    ----------
    seed
        Replica seed: draws the flipped tetrahedra and the Li positions.
    min_atoms, min_width_A
        Size requirements (diagonal supercell of the 32-atom alpha cell).

    Returns
    -------
    ase.Atoms
        Ordered Li, P, S; ``info["alpha_flipped_units"]`` lists the indices of the flipped PS4
        (in P order), ``info["alpha_p_rms_shift_A"]`` the RMS shift of P from the mapped beta
        positions caused by the relaxation (Å).

    Raises
    ------
    StructureError
        For impossible sizes, or when no valid model is found in ``max_attempts``.
    """
    unit = Atoms("Li12P4S16", cell=ALPHA_CELL_A, pbc=True)
    matrix = choose_supercell(unit, min_atoms=min_atoms, min_width_A=min_width_A, max_atoms=max_atoms)
    n = np.diag(matrix)
    frac, rots, perm, flip_axis = _beta_framework()
    shifts = np.array(list(itertools.product(*(range(k) for k in n))), float)
    frac_sc = ((frac[None] + shifts[:, None]) / n).reshape(-1, 3)
    rot_sc = np.tile(rots, (len(shifts), 1, 1))
    edge = np.array(ALPHA_CELL_A) * n
    n_units = len(frac_sc)
    n_flip = int(round(ALPHA_FLIP_FRACTION * n_units))
    rho = alpha_density_g_cm3()
    label = f"alpha_Li3PS4 seed={seed}"
    last_error = None
    for attempt, child in enumerate(np.random.SeedSequence([int(seed), 4]).spawn(max_attempts)):
        rng = np.random.default_rng(child)
        flipped = np.sort(rng.choice(n_units, size=n_flip, replace=False))
        rot = rot_sc.copy()
        rot[flipped] = Rotation.from_rotvec(np.pi * flip_axis).as_matrix() @ rot[flipped]
        packing = _Packing([AnionKind.PS4] * n_units, edge * EXPANSION_VOLUME ** (1.0 / 3.0))
        packing.com = frac_sc * packing.edge
        packing.rot = rot
        try:
            atoms = _fill_and_compress(packing, 3 * n_units, edge, rng)
            report = check_structure(atoms, label=label,
                                     expected_formula={"Li": 3 * n_units, "P": n_units, "S": 4 * n_units},
                                     expected_anion_counts={"PS4": n_units}, density_g_cm3_expected=rho,
                                     min_width_A=min_width_A)
        except StructureError as exc:
            last_error = exc
            continue
        p_pos = atoms.positions[np.array(atoms.get_chemical_symbols()) == "P"]
        shift = p_pos - frac_sc * edge
        shift -= edge * np.round(shift / edge)
        atoms.info.update(
            material="alpha_Li3PS4",
            seed=int(seed),
            x_Li2S_mol_pct_realised=PHASES["alpha_Li3PS4"].x_Li2S_mol_pct,
            anion_counts={k.value: (n_units if k is AnionKind.PS4 else 0) for k in AnionKind},
            density_g_cm3=report.density_g_cm3,
            supercell_matrix=np.asarray(matrix, int).tolist(),
            alpha_flipped_units=flipped.tolist(),
            alpha_beta_axis_permutation=perm,
            alpha_p_rms_shift_A=float(np.sqrt((shift**2).sum(axis=1).mean())),
            build_attempt=attempt,
            builder=("lpsens.structures.alpha: MODEL in the published Pbcn cell (Homma 2010): beta PS4 "
                     "framework mapped into the cell, 25 % of PS4 flipped by 180 deg (seeded), "
                     "scrambled-Sobol Li, geometric compression; no published coordinates exist"),
        )
        return atoms
    raise StructureError(f"{label}: no valid model in {max_attempts} attempts; last: {last_error.reason}",
                         key="alpha")
