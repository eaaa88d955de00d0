"""``build_structure``: the one entry point from a state point (material, x, seed) to ase.Atoms."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from ase import Atoms

from lpsens.errors import StructureError
from lpsens.structures.anions import AnionKind
from lpsens.structures.checks import check_structure, density_g_cm3, units_from_bonds
from lpsens.structures.crystals import (
    CRYSTAL_PHASES,
    MAX_ATOMS,
    choose_supercell,
    distribute_beta_li,
    read_cif,
    structure_data_dir,
    supercell,
)
from lpsens.structures.glass import build_glass
from lpsens.vocabulary import CRYSTAL_X_MOL_PCT, Material, same_x

# CRYSTAL_X_MOL_PCT stays importable from here (lpsens.train imports it from this module).
__all__ = ["CRYSTAL_X_MOL_PCT", "MATERIALS", "build_crystal", "build_structure"]


#: Material names accepted by :func:`build_structure`: the state points' materials
#: (:class:`lpsens.vocabulary.Material`) plus the reference crystals of
#: :data:`lpsens.vocabulary.PHASES` that tests and training sets use.
MATERIALS: tuple[str, ...] = tuple(dict.fromkeys([*(m.value for m in Material), *CRYSTAL_X_MOL_PCT]))


def _material(material) -> str:
    if isinstance(material, Material):
        return material.value
    if material not in MATERIALS:
        raise StructureError(f"unknown material {material!r}; allowed: {', '.join(MATERIALS)}",
                             key="material")
    return material


def _check_sizes(min_atoms, min_width_A, seed) -> None:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise StructureError(f"seed = {seed!r} must be an integer >= 0", key="seed")
    if isinstance(min_atoms, bool) or not isinstance(min_atoms, (int, np.integer)) or min_atoms < 0:
        raise StructureError(f"min_atoms = {min_atoms!r} must be an integer >= 0", key="min_atoms")
    if (isinstance(min_width_A, bool) or not isinstance(min_width_A, (int, float, np.floating))
            or not math.isfinite(min_width_A) or min_width_A < 0):
        raise StructureError(f"min_width_A = {min_width_A!r} must be a finite number >= 0 (Å)",
                             key="min_width_A")


def build_crystal(material: str, seed: int, *, min_atoms: int = 0, min_width_A: float = 0.0,
                  max_atoms: int = MAX_ATOMS, cif_path: str | Path | None = None,
                  rattle_A: float = 0.0) -> Atoms:
    """A supercell of a bundled crystal phase.

    Parameters
    ----------
    material
        A key of :data:`lpsens.structures.crystals.CRYSTAL_PHASES`.
    seed
        Replica seed: draws the 4b/4c Li distribution of beta-Li3PS4 and the optional rattle.
        The ordered phases (gamma, Li7P3S11, Li4P2S6, Li2S) are the same for every seed
        unless ``rattle_A > 0``.
    min_atoms, min_width_A
        Size requirements (see :func:`~lpsens.structures.crystals.choose_supercell`).
    cif_path
        Another CIF of the same phase instead of the bundled one.
    rattle_A
        Standard deviation (Å) of seeded Gaussian displacements of all atoms (0: none).

    Raises
    ------
    StructureError
        For an invalid ``rattle_A``, an unreadable CIF, or a supercell that fails :func:`~lpsens.structures.checks.check_structure`.
    """
    phase = CRYSTAL_PHASES[material]
    path = Path(cif_path) if cif_path is not None else structure_data_dir() / phase.cif
    cell = read_cif(path)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 1]))
    matrix = choose_supercell(cell, min_atoms=min_atoms, min_width_A=min_width_A, max_atoms=max_atoms)
    info = {}
    if material == "beta_Li3PS4":
        atoms, info["beta_li_occupancy"] = distribute_beta_li(cell, matrix, rng)
        atoms.info["supercell_matrix"] = matrix.tolist()
    else:
        atoms = supercell(cell, matrix)
    if rattle_A:
        if not math.isfinite(rattle_A) or not 0 < rattle_A <= 0.1:
            raise StructureError(f"rattle_A = {rattle_A!r} must be in (0, 0.1] Å", key="rattle_A")
        atoms.positions += rng.normal(0.0, rattle_A, atoms.positions.shape)
        atoms.wrap()
    fu = phase.formula_unit
    n_fu = len(atoms) // sum(fu.values())
    rho = phase.published_density_g_cm3 or density_g_cm3(cell)
    report = check_structure(
        atoms, label=f"{material} seed={seed} ({path.name})",
        expected_formula={el: n * n_fu for el, n in fu.items()},
        density_g_cm3_expected=rho, density_rtol=0.01, min_width_A=min_width_A)
    counts = {kind.value: 0 for kind in AnionKind}
    counts.update(units_from_bonds(atoms))
    atoms.info.update(
        material=material,
        seed=int(seed),
        x_Li2S_mol_pct_realised=phase.x_Li2S_mol_pct,
        anion_counts=counts,
        density_g_cm3=report.density_g_cm3,
        builder=f"lpsens.structures.crystals: {path.name} ({phase.reference}), diagonal supercell"
                + (", 4b/4c Li drawn per seed" if material == "beta_Li3PS4" else "")
                + (f", rattle {rattle_A} Å" if rattle_A else ""),
        **info,
    )
    return atoms


def build_structure(material: str, x_Li2S_mol_pct: float, seed: int, *, min_atoms: int = 0,
                    min_width_A: float = 0.0, p2s6_fraction: float = 0.0, **options) -> Atoms:
    """Build the initial structure of one job from its state point and seed.

    Parameters
    ----------
    material
        One of :data:`MATERIALS`.
    x_Li2S_mol_pct
        mol% Li2S; for crystals it must equal the phase value (Li3PS4 75.0, Li7P3S11 70.0,
        Li4P2S6 66.67, Li2S 100.0); glasses accept 50-80.
    seed
        Replica seed (integer >= 0). Same inputs and seed give the same structure bit for bit.
    min_atoms
        Smallest number of atoms.
    min_width_A
        Smallest perpendicular cell width, Å (use at least twice the potential cutoff).
    p2s6_fraction
        Glass only: fraction of P atoms in P2S6 4- units (default 0).
    **options
        Passed on to :func:`~lpsens.structures.glass.build_glass` (``density_g_cm3``,
        ``max_atoms``), :func:`build_crystal` (``cif_path``, ``rattle_A``, ``max_atoms``) or
        :func:`~lpsens.structures.alpha.build_alpha`.

    Returns
    -------
    ase.Atoms
        ``pbc`` True; ``info`` holds ``material``, ``seed``, ``supercell_matrix``,
        ``x_Li2S_mol_pct_realised``, ``anion_counts``, ``density_g_cm3`` and ``builder``.

    Raises
    ------
    StructureError
        Unknown material, x outside the allowed value/range, impossible sizes, unreadable CIF,
        or a built structure that fails :func:`~lpsens.structures.checks.check_structure`.
    """
    mat = _material(material)
    _check_sizes(min_atoms, min_width_A, seed)
    try:
        x = float(x_Li2S_mol_pct)
    except (TypeError, ValueError):
        raise StructureError(f"x_Li2S_mol_pct = {x_Li2S_mol_pct!r} is not a number",
                             key="x_Li2S_mol_pct") from None
    if mat == Material.GLASS.value:
        return build_glass(x, int(seed), min_atoms=int(min_atoms), min_width_A=float(min_width_A),
                           p2s6_fraction=p2s6_fraction, **options)
    want = CRYSTAL_X_MOL_PCT[mat]
    if not math.isfinite(x) or not same_x(x, want):
        raise StructureError(
            f"x_Li2S_mol_pct = {x_Li2S_mol_pct!r} does not match {mat}, whose composition fixes "
            f"x = {want}; allowed for crystals: "
            + ", ".join(f"{k} {v}" for k, v in CRYSTAL_X_MOL_PCT.items()), key="x_Li2S_mol_pct")
    if p2s6_fraction:
        raise StructureError(f"p2s6_fraction = {p2s6_fraction!r} applies to glasses only; use 0 for "
                             f"{mat}", key="p2s6_fraction")
    if mat == Material.ALPHA_LI3PS4.value:
        from lpsens.structures.alpha import build_alpha

        return build_alpha(int(seed), min_atoms=int(min_atoms), min_width_A=float(min_width_A), **options)
    return build_crystal(mat, int(seed), min_atoms=int(min_atoms), min_width_A=float(min_width_A),
                         **options)
