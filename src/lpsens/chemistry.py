"""Chemistry of one Li2S-P2S5 frame: broken-chemistry check and thiophosphate unit census.

This is the one classifier of thiophosphate units in lpsens (the structure builders' validator,
the analysis' anion composition and the trajectory integrity check all use it), and the
frame check the MD task runs at every segment boundary. It is numpy on positions plus one
periodic neighbour search (:func:`ase.neighborlist.neighbor_list`, any cell, triclinic too), so
the MD task can import it without the analysis package.

Two levels per frame (issue 14; thresholds in :class:`ChemistryLimits`, overridable in the
campaign's ``[analysis]`` table):

* **broken** -- never physical in these glasses and crystals: S-S closer than 2.3 Å (no S-S bonds
  exist: the S-S bond of S8 is 2.05 Å, the shortest S...S contact in the bundled crystals 3.0 Å),
  P-S closer than 1.7 Å (P-S bonds are 2.0-2.2 Å), P-P closer than 1.9 Å (the P-P bond of P2S6
  4- is 2.2-2.3 Å), Li closer than 1.5 Å to any atom (shortest Li-S contact 2.35 Å), a P with
  <= 2 or >= 5 S within 2.6 Å, and lost atoms (non-finite positions, wrong atom count).
* **census** -- every P's unit: ``PS4`` (PS4 3-), ``P2S7`` (P2S7 4-, corner-sharing, no P-P
  bond), ``P2S6`` (P2S6 4-, P-P bonded), ``P2S6_edge`` (edge-sharing P2S6 2-, no P-P bond),
  ``chain`` (three or more P, every P four-coordinated) and ``other``; and ``free_S``, the S
  bonded to no P (S 2-). Units are the connected components of the P-S/P-P bond graph. Units
  react in glasses at high temperature (Staacke et al., Nanomaterials 2022, 12, 2950: P2S7 gives
  way to P2S6 between 400 and 700 K), so a changing census is a result, not a failure.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields

import numpy as np

from lpsens.errors import AnalysisError

__all__ = [
    "BOND_PP_A",
    "BOND_PS_A",
    "UNIT_KINDS",
    "CRYSTAL_UNIT_KINDS",
    "ChemistryLimits",
    "Breakage",
    "FrameCensus",
    "check_frame",
    "unit_census",
]

#: Kinds of thiophosphate units of the census, in report order (free S 2- is counted apart).
UNIT_KINDS = ("PS4", "P2S7", "P2S6", "P2S6_edge", "chain", "other")
#: Units of the paper's crystals (Li3PS4 phases: PS4; Li7P3S11: PS4 + P2S7).
CRYSTAL_UNIT_KINDS = ("PS4", "P2S7")
#: Bond cutoffs of the unit census, Å: P-S bonds are 2.0-2.2 Å, the P-P bond of P2S6 4- 2.2-2.3 Å;
#: the non-bonded P...P of P2S7 is 3.3-3.5 Å and that of edge-sharing P2S6 2- 2.9 Å.
BOND_PS_A = 2.6
BOND_PP_A = 2.6
_LI, _P, _S = 3, 15, 16
_SYMBOL = {_LI: "Li", _P: "P", _S: "S"}


@dataclass(frozen=True)
class ChemistryLimits:
    """Thresholds of the broken-chemistry check and the bond cutoffs of the unit census (Å).

    Attributes
    ----------
    S_S_min_A, P_S_min_A, P_P_min_A, Li_min_A
        A pair closer than this is broken (``Li_min_A``: Li to any atom).
    coordination_PS_A
        Radius within which the S of a P are counted for the coordination rule.
    P_min_S, P_max_S
        A P with fewer or more S than this within ``coordination_PS_A`` is broken (3 or 4:
        three in P2S6 4-, which has a P-P bond instead).
    bond_PS_A, bond_PP_A
        Bond cutoffs of the unit census (P-S bonds 2.0-2.2 Å, the P-P bond 2.2-2.3 Å; the
        non-bonded P...P of P2S7 is 3.3-3.5 Å).

    Raises
    ------
    AnalysisError
        A value that is not a positive finite number, or inconsistent limits; the key is
        ``analysis.integrity_<name>`` as in the campaign's ``[analysis]`` table.
    """

    S_S_min_A: float = 2.3
    P_S_min_A: float = 1.7
    P_P_min_A: float = 1.9
    Li_min_A: float = 1.5
    coordination_PS_A: float = 2.6
    P_min_S: int = 3
    P_max_S: int = 4
    bond_PS_A: float = BOND_PS_A
    bond_PP_A: float = BOND_PP_A

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise AnalysisError(f"must be a positive number, got {value!r}", key=f"analysis.integrity_{f.name}")
            if f.name in ("P_min_S", "P_max_S") and value != int(value):
                raise AnalysisError(f"must be an integer, got {value!r}", key=f"analysis.integrity_{f.name}")
        if self.P_min_S > self.P_max_S:
            raise AnalysisError(f"P_min_S = {self.P_min_S} exceeds P_max_S = {self.P_max_S}",
                                key="analysis.integrity_P_min_S")
        if max(self.cutoff_A, self.bond_PS_A, self.bond_PP_A) > 4.0:
            raise AnalysisError("distances above 4 Å are not bonds or contacts; use values <= 4",
                                key="analysis.integrity")

    @property
    def cutoff_A(self) -> float:
        """Neighbour-search radius that covers every rule of the check."""
        return max(self.S_S_min_A, self.P_S_min_A, self.P_P_min_A, self.Li_min_A, self.coordination_PS_A)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_settings(cls, table) -> ChemistryLimits:
        """Limits from a campaign's ``[analysis]`` table (a plain mapping; unknown keys ignored).

        Keys ``integrity_<field>`` (e.g. ``integrity_S_S_min_A``) and the census cutoffs
        ``bond_cutoff_PS_A``/``bond_cutoff_PP_A``; missing keys keep the defaults.

        Raises
        ------
        AnalysisError
            A bad value (see the class).
        """
        table = dict(table or {})
        names = {f.name for f in fields(cls)}
        kw = {name: table[f"integrity_{name}"] for name in names if f"integrity_{name}" in table}
        for name, key in (("bond_PS_A", "bond_cutoff_PS_A"), ("bond_PP_A", "bond_cutoff_PP_A")):
            if key in table:
                kw[name] = table[key]
        return cls(**kw)


@dataclass(frozen=True)
class Breakage:
    """One reason why a frame is broken.

    Attributes
    ----------
    kind
        ``"lost_atoms"``, ``"S-S"``, ``"P-S"``, ``"P-P"``, ``"Li"`` (Li too close to an atom)
        or ``"P_coordination"``.
    atoms
        Indices (0-based, into the frame) of the atoms involved.
    elements
        Their element symbols.
    distance_A
        Distance of the pair (Å), or ``None``.
    limit_A
        The threshold crossed (Å), or ``None``.
    n_S
        S around the P (coordination rule), or ``None``.
    message
        One line, e.g. ``"P 17 has 5 S within 2.6 Å"``.
    """

    kind: str
    atoms: tuple[int, ...]
    elements: tuple[str, ...]
    distance_A: float | None
    limit_A: float | None
    n_S: int | None
    message: str

    def to_dict(self) -> dict:
        d = asdict(self)
        d["atoms"], d["elements"] = list(self.atoms), list(self.elements)
        return d


@dataclass(frozen=True)
class FrameCensus:
    """Thiophosphate units of one frame.

    Attributes
    ----------
    counts
        Units per kind of :data:`UNIT_KINDS`, and ``free_S`` (S bonded to no P).
    kind_of_P
        Kind of the unit of each P atom, in the order of the P atoms in the frame, shape (n_P,).
    """

    counts: dict[str, int]
    kind_of_P: np.ndarray = field(repr=False)


def _symbols(numbers) -> list[str]:
    return [_SYMBOL.get(int(z), str(int(z))) for z in numbers]


def _pairs(numbers, positions, cell, cutoff_A):
    """Pairs i < j within ``cutoff_A`` (minimum image of any periodic cell) and their distances.

    Cells at least twice the cutoff wide in every direction use a k-d tree (scipy): periodic
    for orthorhombic cells, over the 27 neighbouring images for triclinic ones. Narrower cells,
    where an atom can meet several images of another, use ASE's general neighbour list.
    """
    from scipy.spatial import cKDTree

    cell = np.asarray(cell, float).reshape(3, 3)
    positions = np.asarray(positions, float)
    frac = np.linalg.solve(cell.T, positions.T).T
    frac -= np.floor(frac)  # unwrapped MD positions: wrap before the search
    frac[frac >= 1.0] = 0.0  # floor() of -1e-17 leaves 1.0
    volume = abs(np.linalg.det(cell))
    widths = volume / np.linalg.norm(np.cross(cell[[1, 2, 0]], cell[[2, 0, 1]]), axis=1)
    if np.all(widths > 2 * cutoff_A):
        lengths = np.diag(cell)
        if np.allclose(cell, np.diag(lengths), atol=1e-9):
            box = frac * lengths
            pairs = cKDTree(box, boxsize=lengths).query_pairs(cutoff_A, output_type="ndarray")
            i, j = pairs[:, 0], pairs[:, 1]
            delta = box[j] - box[i]
            delta -= lengths * np.round(delta / lengths)
            return i, j, np.linalg.norm(delta, axis=1)
        wrapped = frac @ cell
        shifts = np.array([(a, b, c) for a in (-1, 0, 1) for b in (-1, 0, 1) for c in (-1, 0, 1)], float) @ cell
        images = (wrapped[None, :, :] + shifts[:, None, :]).reshape(-1, 3)
        found = cKDTree(wrapped).sparse_distance_matrix(cKDTree(images), cutoff_A, output_type="ndarray")
        n = len(wrapped)
        i, j, d = found["i"], found["j"] % n, found["v"]
        keep = i < j  # each pair once; at most one image of j is within the cutoff of i here
        return i[keep], j[keep], d[keep]
    from ase.neighborlist import primitive_neighbor_list

    i, j, d = primitive_neighbor_list("ijd", (True, True, True), cell, frac @ cell, cutoff_A, self_interaction=False)
    keep = i < j
    return i[keep], j[keep], d[keep]


def check_frame(numbers, positions, cell, limits: ChemistryLimits | None = None) -> list[Breakage]:
    """Every reason why one frame is broken, most severe first (empty list: intact).

    Order: lost atoms, then too-close pairs by distance / limit (smallest first), then P
    coordination (largest deviation first).

    Parameters
    ----------
    numbers
        Atomic numbers, shape (n,).
    positions
        Cartesian positions, Å, shape (n, 3), wrapped or not.
    cell
        Cell vectors as rows, Å, shape (3, 3).
    limits
        Thresholds (default :class:`ChemistryLimits()`).

    Returns
    -------
    list of Breakage
    """
    limits = limits or ChemistryLimits()
    numbers = np.asarray(numbers)
    positions = np.asarray(positions, float)
    sym = _symbols(numbers)
    if positions.ndim != 2 or positions.shape[0] != numbers.size or positions.shape[1] != 3:
        return [Breakage("lost_atoms", (), (), None, None, None,
                         f"frame has positions of shape {positions.shape}, expected ({numbers.size}, 3): atoms lost")]
    bad = np.flatnonzero(~np.isfinite(positions).all(axis=1))
    if bad.size:
        a = int(bad[0])
        return [Breakage("lost_atoms", tuple(int(b) for b in bad), tuple(sym[b] for b in bad), None, None, None,
                         f"{bad.size} atom(s) have non-finite positions (first: {sym[a]} {a}): atoms lost")]
    i, j, d = _pairs(numbers, positions, cell, limits.cutoff_A)
    zi, zj = numbers[i], numbers[j]
    found: list[tuple[float, Breakage]] = []
    rules = (
        ("S-S", (zi == _S) & (zj == _S), limits.S_S_min_A),
        ("P-S", ((zi == _P) & (zj == _S)) | ((zi == _S) & (zj == _P)), limits.P_S_min_A),
        ("P-P", (zi == _P) & (zj == _P), limits.P_P_min_A),
        ("Li", (zi == _LI) | (zj == _LI), limits.Li_min_A),
    )
    for kind, mask, limit in rules:
        for k in np.flatnonzero(mask & (d < limit)):
            a, b, dist = int(i[k]), int(j[k]), float(d[k])
            if kind == "Li" and numbers[a] != _LI:
                a, b = b, a  # name the Li first
            found.append((dist / limit, Breakage(
                kind, (a, b), (sym[a], sym[b]), dist, limit, None,
                f"{sym[a]} {a} and {sym[b]} {b} are {dist:.2f} Å apart ({kind} limit {limit:g} Å)")))
    found.sort(key=lambda t: t[0])
    out = [b for _, b in found]
    ps = ((zi == _P) & (zj == _S)) | ((zi == _S) & (zj == _P))
    ps &= d < limits.coordination_PS_A
    p_side = np.where(zi[ps] == _P, i[ps], j[ps])
    n_s = np.bincount(p_side, minlength=numbers.size)
    p_idx = np.flatnonzero(numbers == _P)
    wrong = p_idx[(n_s[p_idx] < limits.P_min_S) | (n_s[p_idx] > limits.P_max_S)]
    dev = np.maximum(limits.P_min_S - n_s[wrong], n_s[wrong] - limits.P_max_S)
    for p in wrong[np.argsort(-dev, kind="stable")]:
        p = int(p)
        out.append(Breakage("P_coordination", (p,), ("P",), None, limits.coordination_PS_A, int(n_s[p]),
                            f"P {p} has {int(n_s[p])} S within {limits.coordination_PS_A:g} Å"))
    return out


def unit_census(numbers, positions, cell, bond_PS_A: float = BOND_PS_A, bond_PP_A: float = BOND_PP_A) -> FrameCensus:
    """Thiophosphate units of one frame (kinds :data:`UNIT_KINDS`) and the free S.

    Bonds are P-S pairs within ``bond_PS_A`` and P-P pairs within ``bond_PP_A`` (minimum image);
    Li and S-S pairs never bond. A unit is a connected component of that graph containing P:
    1 P + 4 S is PS4; 2 P + 7 S without P-P is P2S7; 2 P + 6 S with a P-P bond is P2S6; 2 P +
    6 S without one is P2S6_edge; >= 3 P each with four bonds is a chain; anything else is
    other. Atoms other than P and S are ignored.

    Parameters
    ----------
    numbers
        Atomic numbers, shape (n,).
    positions
        Cartesian positions, Å, shape (n, 3), wrapped or not.
    cell
        Cell vectors as rows, Å, shape (3, 3).
    bond_PS_A, bond_PP_A
        Bond cutoffs, Å.

    Returns
    -------
    FrameCensus
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    numbers = np.asarray(numbers)
    keep = np.flatnonzero(np.isin(numbers, (_P, _S)))
    z = numbers[keep]
    i, j, d = _pairs(z, np.asarray(positions, float)[keep], cell, max(bond_PS_A, bond_PP_A))
    is_p = z == _P
    bond = ((is_p[i] != is_p[j]) & (d < bond_PS_A)) | (is_p[i] & is_p[j] & (d < bond_PP_A))
    i, j = i[bond], j[bond]
    n = z.size
    graph = coo_matrix((np.ones(i.size), (i, j)), shape=(n, n))
    n_comp, label = connected_components(graph, directed=False)
    n_p = np.bincount(label, weights=is_p, minlength=n_comp).astype(int)
    n_s = np.bincount(label, weights=~is_p, minlength=n_comp).astype(int)
    pp = is_p[i] & is_p[j]
    has_pp = np.zeros(n_comp, bool)
    has_pp[label[i[pp]]] = True
    degree = np.bincount(np.concatenate([i, j]), minlength=n)
    all_p_four = np.ones(n_comp, bool)
    np.logical_and.at(all_p_four, label[is_p], degree[is_p] == 4)
    kind = np.full(n_comp, "other", dtype=object)
    kind[(n_p == 1) & (n_s == 4)] = "PS4"
    kind[(n_p == 2) & (n_s == 7) & ~has_pp] = "P2S7"
    kind[(n_p == 2) & (n_s == 6) & has_pp] = "P2S6"
    kind[(n_p == 2) & (n_s == 6) & ~has_pp] = "P2S6_edge"
    kind[(n_p >= 3) & all_p_four] = "chain"
    units = n_p > 0
    counts = {k: int(np.sum(kind[units] == k)) for k in UNIT_KINDS}
    counts["free_S"] = int(n_s[~units].sum())
    return FrameCensus(counts, kind[label[is_p]].astype(str))
