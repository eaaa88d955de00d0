"""Validators run on every built structure: composition, charge, bonds, distances, density.

The builders call :func:`check_structure` before returning; a failed check raises
:class:`~lpsens.errors.StructureError` naming the check, the measured value and the limit.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field

import numpy as np
from ase import Atoms
from ase.neighborlist import neighbor_list

from lpsens.chemistry import BOND_PP_A, BOND_PS_A, unit_census
from lpsens.errors import StructureError

__all__ = [
    "AMU_A3_TO_G_CM3",
    "BOND_CUTOFF_A",
    "MinDistances",
    "StructureReport",
    "check_structure",
    "density_g_cm3",
    "formal_charge_e",
    "units_from_bonds",
]

AMU_A3_TO_G_CM3 = 1.66053906660  # 1 amu/Å^3 in g/cm^3
# P-S and P-P bonds of the validator's bond rules (P-S 2.0-2.2, P-P 2.28; shortest non-bonded ~2.9).
# The unit census (lpsens.chemistry, 2.6 Å) agrees on every structure that reaches it: a P-S or P-P
# pair between 2.4 and 2.8 Å has failed the non-bonded distance checks (MinDistances) before.
BOND_CUTOFF_A = 2.4
TERMINAL_P_S_RANGE_A = (1.95, 2.15)
# bridging S (bonded to two P) is longer: 2.14-2.17 in relaxed Li7P3S11, 2.14 in LiPS3
BRIDGING_P_S_RANGE_A = (1.95, 2.20)


@dataclass(frozen=True)
class MinDistances:
    """Smallest allowed distances (Å) between atoms that are not bonded to each other.

    The defaults accept every bundled crystal (its shortest contacts: Li-Li 2.86, Li-S 2.35,
    Li-P 2.95, S-S 3.01, P-P 2.28 (bonded, P2S6 4-)) with a margin, and reject overlaps.
    """

    li_li_A: float = 2.0
    li_s_A: float = 2.1
    li_p_A: float = 2.4
    s_s_A: float = 2.8
    p_p_nonbonded_A: float = 2.8
    p_s_nonbonded_A: float = 2.8

    def table(self) -> dict[tuple[str, str], float]:
        """Pair -> minimum distance, keys sorted alphabetically (``("Li", "S")``)."""
        return {
            ("Li", "Li"): self.li_li_A,
            ("Li", "S"): self.li_s_A,
            ("Li", "P"): self.li_p_A,
            ("S", "S"): self.s_s_A,
            ("P", "P"): self.p_p_nonbonded_A,
            ("P", "S"): self.p_s_nonbonded_A,
        }


@dataclass
class StructureReport:
    """What :func:`check_structure` measured (units in the names)."""

    formula: dict[str, int]
    charge_e: int
    density_g_cm3: float
    p_s_bond_min_A: float
    p_s_bond_max_A: float
    min_distances_A: dict[str, float]
    anion_counts: dict[str, int]
    cell_widths_A: list[float] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def density_g_cm3(atoms: Atoms) -> float:
    """Mass density of a periodic cell in g/cm^3."""
    return float(atoms.get_masses().sum() / atoms.get_volume() * AMU_A3_TO_G_CM3)


def cell_widths_A(atoms: Atoms) -> np.ndarray:
    """Perpendicular widths of the cell (distance between opposite faces), shape (3,), Å."""
    return atoms.get_volume() / np.linalg.norm(np.cross(atoms.cell[[1, 2, 0]], atoms.cell[[2, 0, 1]]), axis=1)


def _bonds(atoms: Atoms):
    i, j, d = neighbor_list("ijd", atoms, BOND_CUTOFF_A)
    sym = np.array(atoms.get_chemical_symbols())
    keep = (sym[i] != "Li") & (sym[j] != "Li") & ~((sym[i] == "S") & (sym[j] == "S"))
    return i[keep], j[keep], d[keep], sym


def formal_charge_e(atoms: Atoms) -> int:
    """Sum of formal charges: Li +1, S -2, P +5, or +4 when P is bonded to P (P2S6 4-)."""
    i, j, _, sym = _bonds(atoms)
    p_bonded_to_p = np.zeros(len(atoms), bool)
    p_bonded_to_p[i[(sym[i] == "P") & (sym[j] == "P")]] = True
    n_p = int((sym == "P").sum())
    return int((sym == "Li").sum() - 2 * (sym == "S").sum() + 5 * n_p - p_bonded_to_p.sum())


def units_from_bonds(atoms: Atoms, *, bond_PS_A: float = BOND_PS_A, bond_PP_A: float = BOND_PP_A) -> dict[str, int]:
    """The thiophosphate units of a structure by kind, zero counts left out.

    The census of :func:`lpsens.chemistry.unit_census` (the one classifier), with its keys, as
    in ``atoms.info["anion_counts"]``: PS4, P2S7, P2S6 (P-P bonded), P2S6_edge, chain, other,
    and ``free_S`` for a free S2-. ``bond_PS_A``/``bond_PP_A``: the census's bond cutoffs, Å.
    """
    counts = unit_census(atoms.numbers, atoms.positions, atoms.cell[:], bond_PS_A, bond_PP_A).counts
    return {k: v for k, v in counts.items() if v}


def _fail(what: str, label: str) -> None:
    raise StructureError(f"{label}: {what}", key="structure")


def check_structure(
    atoms: Atoms,
    *,
    label: str = "structure",
    expected_formula: dict[str, int] | None = None,
    expected_anion_counts: dict[str, int] | None = None,
    density_g_cm3_expected: float | None = None,
    density_rtol: float = 0.005,
    min_width_A: float = 0.0,
    min_distances: MinDistances | None = None,
) -> StructureReport:
    """Validate a built structure; raise :class:`StructureError` on the first failed check.

    Checks: periodic cell; formula (if given); charge neutrality with formal charges
    (Li+, S2-, P5+, P4+ in P2S6 4-); every P four-coordinated within 2.4 Å by 4 S (or by
    3 S + 1 P in P2S6 4-);
    terminal P-S in 1.95-2.15 Å and bridging P-S in 1.95-2.20 Å; minimum distances between
    non-bonded atoms; the density (if given, relative tolerance ``density_rtol``);
    the anion units of the census (:func:`units_from_bonds`, if given); cell widths >= ``min_width_A``.

    Parameters
    ----------
    atoms
        The structure.
    label
        Prefix of error messages (material, x, seed).
    expected_formula
        Element -> count.
    expected_anion_counts
        Unit kind -> count (zeros may be omitted).
    density_g_cm3_expected
        Target density in g/cm^3.
    min_width_A
        Smallest allowed perpendicular cell width, Å.
    min_distances
        Thresholds for non-bonded pairs (default ``MinDistances()``).

    Returns
    -------
    StructureReport
        The measured quantities.
    """
    if not all(atoms.pbc) or atoms.cell.rank != 3:
        _fail(f"cell must be periodic in 3 dimensions, got pbc={atoms.pbc.tolist()}", label)
    sym = np.array(atoms.get_chemical_symbols())
    formula = dict(Counter(sym.tolist()))
    if expected_formula is not None:
        want = {k: v for k, v in expected_formula.items() if v}
        if formula != want:
            _fail(f"composition {formula} differs from the intended {want}", label)
    charge = formal_charge_e(atoms)
    if charge != 0:
        _fail(f"formal charge is {charge:+d} e, expected 0 (Li+, S2-, P5+/P4+)", label)

    # bonds
    i, j, d, _ = _bonds(atoms)
    ps = (sym[i] == "P") & (sym[j] == "S")
    # four-coordinated P: 4 S, or 3 S + 1 P in the P-P bonded P2S6 4- dumbbell
    is_p = sym == "P"
    n_s_of_p = np.bincount(i[ps], minlength=len(atoms))[is_p]
    n_p_of_p = np.bincount(i[(sym[i] == "P") & (sym[j] == "P")], minlength=len(atoms))[is_p]
    bad_p = ~(((n_s_of_p == 4) & (n_p_of_p == 0)) | ((n_s_of_p == 3) & (n_p_of_p == 1)))
    if bad_p.any():
        bad = np.nonzero(is_p)[0][bad_p]
        _fail(f"P atoms {bad[:5].tolist()} have {n_s_of_p[bad_p][:5].tolist()} S and "
              f"{n_p_of_p[bad_p][:5].tolist()} P within {BOND_CUTOFF_A} Å, expected 4 S (or 3 S + 1 P)", label)
    n_p_of_s = np.bincount(j[ps], minlength=len(atoms))
    bridging = n_p_of_s[j[ps]] >= 2
    for mask, (lo, hi), name in ((~bridging, TERMINAL_P_S_RANGE_A, "terminal"),
                                 (bridging, BRIDGING_P_S_RANGE_A, "bridging")):
        dd = d[ps][mask]
        if dd.size and (dd.min() < lo or dd.max() > hi):
            _fail(f"{name} P-S bond lengths {dd.min():.3f}-{dd.max():.3f} Å outside {lo}-{hi} Å", label)
    ps_min = float(d[ps].min()) if ps.any() else float("nan")
    ps_max = float(d[ps].max()) if ps.any() else float("nan")

    # non-bonded minimum distances
    table = (min_distances or MinDistances()).table()
    cutoff = max(table.values()) + 0.7  # a little beyond the limits, to report the real minima
    ii, jj, dd = neighbor_list("ijd", atoms, cutoff)
    bonded = set(zip(i.tolist(), j.tolist(), strict=True))
    # S-S within one unit (two S bonded to the same P) are not contacts either
    s_of_p: dict[int, list[int]] = {}
    for a, b in zip(i[ps].tolist(), j[ps].tolist(), strict=True):
        s_of_p.setdefault(a, []).append(b)
    same_unit = {(a, b) for ss in s_of_p.values() for a in ss for b in ss if a != b}
    mins: dict[str, float] = {}
    for a, b, dist in zip(ii.tolist(), jj.tolist(), dd.tolist(), strict=True):
        if (a, b) in bonded or (a, b) in same_unit:
            continue
        key = tuple(sorted((sym[a], sym[b])))
        name = "-".join(key)
        mins[name] = min(mins.get(name, np.inf), dist)
    for key, limit in table.items():
        name = "-".join(key)
        if mins.get(name, np.inf) < limit:
            _fail(f"non-bonded {name} distance {mins[name]:.3f} Å is below the minimum {limit} Å", label)

    rho = density_g_cm3(atoms)
    if density_g_cm3_expected is not None:
        if abs(rho - density_g_cm3_expected) > density_rtol * density_g_cm3_expected:
            _fail(f"density {rho:.4f} g/cm3 differs from the target {density_g_cm3_expected:.4f} g/cm3 "
                  f"by more than {100 * density_rtol:.2g} %", label)
    units = units_from_bonds(atoms)
    if expected_anion_counts is not None:
        want = {k: v for k, v in expected_anion_counts.items() if v}
        if units != want:
            _fail(f"anion units by bonds {units} differ from the intended {want}", label)
    widths = cell_widths_A(atoms)
    if widths.min() < min_width_A - 1e-9:
        _fail(f"cell width {widths.min():.3f} Å is below the requested min_width_A = {min_width_A}", label)
    return StructureReport(
        formula=formula,
        charge_e=charge,
        density_g_cm3=rho,
        p_s_bond_min_A=ps_min,
        p_s_bond_max_A=ps_max,
        min_distances_A={k: float(v) for k, v in mins.items()},
        anion_counts=units,
        cell_widths_A=widths.tolist(),
    )
