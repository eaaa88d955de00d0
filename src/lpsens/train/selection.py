"""Which MD frames of the newest GAP go to the reference next: failures first, then diversity.

Failure detection (the chemistry checks of issue 10): fused atoms (S–S < 2.3 Å, P–S < 1.7 Å,
P–P < 1.9 Å, Li < 1.5 Å to anything), a P with <= 2 or >= 5 S within 2.6 Å, a unit census
that departs from the run's first frame, and energy spikes (a per-atom energy jump between
frames above a threshold). Diversity: CUR leverage scores (Mahoney & Drineas, PNAS 106, 697
(2009)) on per-frame pair-distance histograms per element pair.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.neighborlist import neighbor_list

from lpsens.structures.checks import units_from_bonds

__all__ = ["FUSED_A", "P_S_BOND_A", "frame_failures", "cur_select", "select", "Selected"]

#: Shortest allowed distance per pair (Å); "Li-*" applies to Li with anything.
FUSED_A = {("S", "S"): 2.3, ("P", "S"): 1.7, ("P", "P"): 1.9, ("Li", "*"): 1.5}
#: P–S distance (Å) that counts as a bond for the P coordination check.
P_S_BOND_A = 2.6
ENERGY_SPIKE_EV_ATOM = 0.05


def _fused(atoms: Atoms) -> list[str]:
    i, j, d = neighbor_list("ijd", atoms, 2.3)
    sym = np.array(atoms.get_chemical_symbols())
    out = []
    for (a, b), dmin in FUSED_A.items():
        if b == "*":
            m = ((sym[i] == a) | (sym[j] == a)) & (d < dmin)
        else:
            m = (((sym[i] == a) & (sym[j] == b)) | ((sym[i] == b) & (sym[j] == a))) & (d < dmin)
        if m.any():
            out.append(f"fused {a}-{b} {d[m].min():.2f} A")
    return out


def p_coordination(atoms: Atoms) -> np.ndarray:
    """Number of S within :data:`P_S_BOND_A` of each P (shape (n_P,))."""
    i, j = neighbor_list("ij", atoms, P_S_BOND_A)
    sym = np.array(atoms.get_chemical_symbols())
    p_idx = np.nonzero(sym == "P")[0]
    ps = (sym[i] == "P") & (sym[j] == "S")
    counts = np.bincount(i[ps], minlength=len(atoms))
    return counts[p_idx]


def frame_failures(atoms: Atoms, reference_census: dict | None = None) -> list[str]:
    """Reasons why one frame is broken chemistry (empty list: none found).

    Parameters
    ----------
    atoms
        One frame.
    reference_census
        Unit counts (``units_from_bonds``) the frame should keep, e.g. those of the run's
        start; ``None`` skips the census check.
    """
    reasons = _fused(atoms)
    if not np.isfinite(atoms.positions).all():
        return ["lost atoms (non-finite positions)"]
    cn = p_coordination(atoms)
    if (cn <= 2).any() or (cn >= 5).any():
        reasons.append(f"P with {int(cn.min())}..{int(cn.max())} S within {P_S_BOND_A} A")
    if reference_census is not None:
        census = units_from_bonds(atoms)
        if {k: v for k, v in census.items() if v} != {k: v for k, v in reference_census.items() if v}:
            reasons.append(f"unit census {census} departs from {reference_census}")
    return reasons


def _fingerprint(atoms: Atoms, r_max: float = 5.0, n_bins: int = 25) -> np.ndarray:
    i, j, d = neighbor_list("ijd", atoms, r_max)
    z = atoms.numbers
    pairs = [(3, 3), (3, 15), (3, 16), (15, 15), (15, 16), (16, 16)]
    feats = []
    for a, b in pairs:
        m = ((z[i] == a) & (z[j] == b)) | ((z[i] == b) & (z[j] == a))
        h, _ = np.histogram(d[m], bins=n_bins, range=(0.5, r_max))
        feats.append(h / max(1, len(atoms)))
    return np.concatenate(feats)


def cur_select(frames: list[Atoms], k: int, *, exclude: set[int] = frozenset()) -> list[int]:
    """Indices of ``k`` frames with the largest CUR leverage scores on distance-histogram fingerprints.

    The leverage of frame i is the squared norm of row i of the top-``k`` left singular vectors
    of the (frames x features) matrix; the largest are the most independent frames.
    """
    cand = [i for i in range(len(frames)) if i not in exclude]
    if k <= 0 or not cand:
        return []
    X = np.array([_fingerprint(frames[i]) for i in cand])
    X = X - X.mean(axis=0)
    u, s, _ = np.linalg.svd(X, full_matrices=False)
    rank = max(1, min(k, int((s > 1e-12 * max(s[0], 1e-300)).sum())))
    lev = (u[:, :rank] ** 2).sum(axis=1)
    order = np.argsort(-lev, kind="stable")
    return [cand[i] for i in order[:k]]


@dataclass
class Selected:
    index: int
    reason: str


def select(frames: list[Atoms], *, n_failures: int, n_diverse: int,
           census_by_run: dict | None = None) -> list[Selected]:
    """Failures first (the earliest broken frame of each run counts; up to ``n_failures``), then diverse frames.

    ``frames[i].info`` may carry ``run`` (the MD run it came from) and ``energy_per_atom_eV``;
    a jump of the latter between consecutive frames of a run above ``ENERGY_SPIKE_EV_ATOM`` is
    a failure too. ``census_by_run[run]`` is the unit census the run must keep (e.g. of its
    minimised start). Returns :class:`Selected` in the order chosen.
    """
    chosen: list[Selected] = []
    seen_runs: dict = {}
    prev: dict = {}
    for i, a in enumerate(frames):
        run = a.info.get("run", "")
        reasons = frame_failures(a, (census_by_run or {}).get(run))
        e = a.info.get("energy_per_atom_eV")
        if e is not None and run in prev and abs(e - prev[run]) > ENERGY_SPIKE_EV_ATOM:
            reasons.append(f"energy jump {e - prev[run]:+.3f} eV/atom")
        if e is not None and a.info.get("md_step", 1) != 0:  # from the minimised start, heating raises E: not a spike
            prev[run] = e
        if reasons and seen_runs.get(run, 0) < max(1, n_failures // 4) and len(chosen) < n_failures:
            seen_runs[run] = seen_runs.get(run, 0) + 1
            chosen.append(Selected(i, "failure: " + "; ".join(reasons)))
    taken = {c.index for c in chosen}
    for i in cur_select(frames, n_diverse, exclude=taken):
        chosen.append(Selected(i, "diverse: CUR leverage"))
    return chosen
