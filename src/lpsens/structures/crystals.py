"""Crystal phases from the bundled CIFs: reading, supercells, beta-Li3PS4 Li occupancy.

The CIFs (``lpsens/data/structures``, sources in its README.md) hold ordered P1 cells with
the published lattice constants and Wyckoff sites.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import ase.io
import numpy as np
from ase import Atoms
from ase.build import make_supercell

from lpsens.errors import StructureError
from lpsens.structures.checks import cell_widths_A
from lpsens.vocabulary import PHASES

__all__ = [
    "BETA_4B_OCCUPANCY",
    "BETA_4C_SITE_FRACTIONAL",
    "CrystalPhase",
    "CRYSTAL_PHASES",
    "MAX_ATOMS",
    "beta_4c_sites_fractional",
    "choose_supercell",
    "distribute_beta_li",
    "read_cif",
    "structure_data_dir",
]

MAX_ATOMS = 50_000  # refuse larger supercells/glasses: a typo in min_width_A, not a request

# beta-Li3PS4 (Pnma, standard setting, a = 12.819, b = 8.2195, c = 6.1236 Å; Homma 2011):
# Li sites 8d (1.0), 4b (0.7) and 4c (0.3). The bundled ordered cell fills 4b and leaves 4c
# empty. The 4c site (x, 1/4, z) is the S4 tetrahedral void on the mirror plane, located by
# maximising the shortest Li-S distance on y = 1/4 in the bundled cell (scan + Nelder-Mead):
# Li-S 2.56, 2.57, 2.63, 2.63 Å, Li-P 2.95 Å, nearest Li 2.89 Å.
BETA_4C_SITE_FRACTIONAL = (0.2927, 0.25, 0.9291)
BETA_4B_OCCUPANCY = 0.7


@dataclass(frozen=True)
class CrystalPhase:
    """A bundled crystal phase: its CIF and sources (composition from :data:`lpsens.vocabulary.PHASES`).

    Attributes
    ----------
    name
        Material name used in state points.
    cif
        File name in ``lpsens/data/structures``.
    published_density_g_cm3
        Crystallographic density from the publication, if stated there; else None.
    reference
        Source of cell and sites.
    """

    name: str
    cif: str
    published_density_g_cm3: float | None
    reference: str

    @property
    def formula_unit(self) -> dict:
        """Element -> count per formula unit."""
        return PHASES[self.name].formula_unit

    @property
    def x_Li2S_mol_pct(self) -> float:
        """Li2S content in xLi2S-(100-x)P2S5, = 100 Li/(Li + P)."""
        return PHASES[self.name].x_Li2S_mol_pct


CRYSTAL_PHASES: dict[str, CrystalPhase] = {
    p.name: p
    for p in (
        CrystalPhase("gamma_Li3PS4", "gamma_Li3PS4_Pmn21_relaxed-7net0_expcell.cif", 1.93,
                     "ICSD 180318; Homma et al., Solid State Ionics 182 (2011) 53, 297 K"),
        CrystalPhase("beta_Li3PS4", "beta_Li3PS4_Pnma_relaxed-7net0_expcell.cif", None,
                     "ICSD 180319; Homma et al., Solid State Ionics 182 (2011) 53, 637 K cell"),
        CrystalPhase("Li7P3S11", "Li7P3S11_P-1_relaxed-7net0_expcell.cif", None,
                     "ICSD 157654; Yamane et al., Solid State Ionics 178 (2007) 1163"),
        CrystalPhase("Li4P2S6", "Li4P2S6_P-31m_relaxed-7net0_expcell.cif", None, "ICSD 242170 (ordered model)"),
        CrystalPhase("Li2S", "Li2S_Fm-3m_relaxed-7net0_expcell.cif", None, "antifluorite structure type, a = 5.7158 Å"),
    )
}


def structure_data_dir() -> Path:
    """Directory of the bundled CIFs."""
    return Path(str(files("lpsens") / "data" / "structures"))


def partial_occupancies(path: str | Path) -> list[tuple[str, str, float]]:
    """``(label, species, occupancy)`` of every site of a CIF with ``_atom_site_occupancy`` < 1.

    ASE reads such a site as a full atom (it keeps the occupancy only in ``atoms.info``), so a
    disordered CIF would otherwise become a cell with too many atoms (orex/supercell#58).
    """
    from ase.io.cif import parse_cif

    out = []
    for block in parse_cif(str(path)):
        occ = block.get("_atom_site_occupancy")
        if occ is None:
            continue
        labels = block.get("_atom_site_label") or [f"site{i}" for i in range(len(occ))]
        species = block.get("_atom_site_type_symbol") or labels
        for label, sym, value in zip(labels, species, occ, strict=False):
            try:
                value = float(str(value).split("(")[0])
            except ValueError:
                continue  # "?" or "." : unknown, ASE reads it as 1
            if value < 1.0 - 1e-6:
                out.append((str(label), str(sym), value))
    return out


def _describe_sites(sites) -> str:
    groups: dict[tuple[str, float], list[str]] = {}
    for label, sym, occ in sites:
        groups.setdefault((sym, round(occ, 4)), []).append(label)
    parts = []
    for (sym, occ), labels in groups.items():
        shown = ", ".join(labels[:4]) + (f" and {len(labels) - 4} more" if len(labels) > 4 else "")
        parts.append(f"{shown} ({sym}, occupancy {occ:g})")
    return "; ".join(parts)


def read_cif(path: str | Path) -> Atoms:
    """Read an ordered CIF with ASE.

    Raises
    ------
    StructureError
        The file is missing or unreadable, has no atoms or cell, or has partially occupied sites
        (named in the message): a disordered CIF is refused, not read as fully occupied.
    """
    path = Path(path)
    if not path.is_file():
        raise StructureError("CIF file not found; reinstall lpsens or pass an existing file", file=path)
    try:
        partial = partial_occupancies(path)
    except Exception:  # unparsable: ase.io.read below says why
        partial = []
    if partial:
        raise StructureError(
            f"CIF has {len(partial)} partially occupied site(s): {_describe_sites(partial)}; lpsens reads ordered "
            "CIFs only (one atom per site). Use the bundled cell (omit cif_path; for beta_Li3PS4 lpsens draws the "
            "4b/4c Li occupancy per seed itself) or pass an ordered CIF", file=path, key="_atom_site_occupancy")
    try:
        atoms = ase.io.read(path, format="cif")
    except Exception as exc:  # ase raises many types for malformed CIFs
        raise StructureError(f"unreadable CIF ({type(exc).__name__}: {exc}); pass a valid CIF file",
                             file=path) from exc
    if len(atoms) == 0 or atoms.cell.rank != 3:
        raise StructureError("CIF has no atoms or no 3D cell", file=path)
    atoms.pbc = True
    return atoms


def choose_supercell(cell: Atoms, *, min_atoms: int = 0, min_width_A: float = 0.0,
                     max_atoms: int = MAX_ATOMS) -> np.ndarray:
    """The smallest diagonal supercell with >= ``min_atoms`` atoms and widths >= ``min_width_A``.

    Among the diagonal matrices diag(n1, n2, n3) that satisfy both, those with at most 1.5
    times the fewest atoms are considered, and the one with the smallest
    n_atoms * (largest width / smallest width)^2 wins (MD boxes should be near-cubic); ties
    go to fewer atoms, a larger smallest width, then lexicographic order.

    Returns
    -------
    numpy.ndarray
        Integer supercell matrix, shape (3, 3).

    Raises
    ------
    StructureError
        If no diagonal supercell meets the sizes within ``max_atoms``.
    """
    widths = cell_widths_A(cell)
    n_min = [max(1, math.ceil(min_width_A / w - 1e-9)) for w in widths]
    n_cell = len(cell)
    if n_cell * np.prod(n_min) > max_atoms:
        raise StructureError(
            f"min_width_A = {min_width_A} needs a {n_min[0]}x{n_min[1]}x{n_min[2]} supercell "
            f"({n_cell * np.prod(n_min)} atoms) > max_atoms = {max_atoms}; lower min_width_A",
            key="min_width_A")
    if min_atoms > max_atoms:
        raise StructureError(f"min_atoms = {min_atoms} > max_atoms = {max_atoms}; lower min_atoms",
                             key="min_atoms")
    n_cells_needed = max(math.ceil(min_atoms / n_cell), 1)
    # bound the search: a near-cubic cell needs n_i ~ cbrt(cells) * max(width) / width_i
    scale = n_cells_needed ** (1.0 / 3.0) * widths.max() / widths
    upper = [lo + math.ceil(s) + 2 for lo, s in zip(n_min, scale, strict=True)]
    cands = []
    for n in itertools.product(*(range(lo, hi + 1) for lo, hi in zip(n_min, upper, strict=True))):
        total = n_cell * n[0] * n[1] * n[2]
        if total >= min_atoms:
            w = np.array(n) * widths
            cands.append((total, float(w.max() / w.min()), -float(w.min()), n))
    fewest = min(c[0] for c in cands)
    # MD boxes should be near-cubic: among cells with at most 1.5x the fewest atoms, minimise
    # n_atoms * (largest width / smallest width)^2
    pool = [c for c in cands if c[0] <= 1.5 * fewest]
    best = min(pool, key=lambda c: (c[0] * c[1] ** 2, c[0], c[2], c[3]))
    return np.diag(best[3])


def supercell(cell: Atoms, matrix: np.ndarray) -> Atoms:
    """``ase.build.make_supercell`` with the matrix recorded in ``info["supercell_matrix"]``."""
    sc = make_supercell(cell, matrix)
    sc.pbc = True
    sc.info["supercell_matrix"] = np.asarray(matrix, int).tolist()
    return sc


def beta_4c_sites_fractional() -> np.ndarray:
    """The four 4c Li sites of the Pnma unit cell (fractional), shape (4, 3).

    Pnma 4c: (x, 1/4, z), (-x+1/2, 3/4, z+1/2), (-x, 3/4, -z), (x+1/2, 1/4, -z+1/2).
    """
    x, _, z = BETA_4C_SITE_FRACTIONAL
    ops = [(x, 0.25, z), (-x + 0.5, 0.75, z + 0.5), (-x, 0.75, -z), (x + 0.5, 0.25, -z + 0.5)]
    return np.mod(np.array(ops), 1.0)


def _beta_4b_mask(cell: Atoms) -> np.ndarray:
    """Li atoms of the unit cell on 4b (0,0,1/2), (1/2,0,0), (0,1/2,1/2), (1/2,1/2,0)."""
    frac = cell.get_scaled_positions(wrap=True)
    sites = np.array([[0, 0, 0.5], [0.5, 0, 0], [0, 0.5, 0.5], [0.5, 0.5, 0]])
    diff = frac[:, None, :] - sites[None]
    diff -= np.round(diff)
    hit = (np.abs(diff) < 1e-3).all(axis=2).any(axis=1)
    return hit & (np.array(cell.get_chemical_symbols()) == "Li")


def distribute_beta_li(cell: Atoms, matrix: np.ndarray, rng: np.random.Generator) -> tuple[Atoms, dict]:
    """Supercell of beta-Li3PS4 with the published statistical 4b/4c Li occupancy.

    In the supercell, round(0.3 n_4b) Li on 4b sites chosen at random move to 4c sites chosen
    at random (both drawn with ``rng``), so the occupancies are 0.7 (4b) and 0.3 (4c) up to
    rounding. Li are listed in the order of the supercell, moved Li keep their index.

    Returns
    -------
    (ase.Atoms, dict)
        The supercell and a record {"n_4b_sites", "n_4c_occupied", "occupancy_4b", "occupancy_4c"}.

    Raises
    ------
    StructureError
        If the cell does not have the 4 Li on 4b sites of the bundled Pnma cell.
    """
    mask_4b = _beta_4b_mask(cell)
    if mask_4b.sum() != 4:
        raise StructureError(f"beta-Li3PS4 cell has {mask_4b.sum()} Li on 4b sites, expected 4; "
                             "is the CIF the bundled Pnma standard setting?", key="beta_Li3PS4")
    tagged = cell.copy()
    tagged.set_tags(mask_4b.astype(int))
    sc = supercell(tagged, matrix)
    idx_4b = np.nonzero(sc.get_tags() == 1)[0]
    sc.set_tags(0)
    # 4c sites of every unit-cell image, in Cartesian coordinates
    n = np.diag(np.asarray(matrix))
    shifts = np.array(list(itertools.product(*(range(k) for k in n))), float)
    frac_4c = (beta_4c_sites_fractional()[None] + shifts[:, None, :]).reshape(-1, 3)
    pos_4c = frac_4c @ cell.cell.array
    n_move = int(round((1.0 - BETA_4B_OCCUPANCY) * len(idx_4b)))
    movers = rng.choice(idx_4b, size=n_move, replace=False)
    targets = rng.choice(len(pos_4c), size=n_move, replace=False)
    positions = sc.get_positions()
    positions[np.sort(movers)] = pos_4c[np.sort(targets)]
    sc.set_positions(positions)
    sc.wrap()
    record = {
        "n_4b_sites": int(len(idx_4b)),
        "n_4c_sites": int(len(pos_4c)),
        "n_4c_occupied": n_move,
        "occupancy_4b": (len(idx_4b) - n_move) / len(idx_4b),
        "occupancy_4c": n_move / len(pos_4c),
    }
    return sc, record
