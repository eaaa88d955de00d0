"""Thiophosphate anion units as rigid templates (geometry, charge, Li count).

Geometries (Å, degrees) follow the bundled crystal structures:

* ``PS4`` (PS4 3-, ortho-thiophosphate): regular tetrahedron, P-S 2.05 (gamma-Li3PS4: 2.05).
* ``P2S7`` (P2S7 4-, pyro-thiophosphate): two corner-sharing tetrahedra, P-S_bridge 2.10,
  P-S_terminal 2.03, P-S-P 110 (Li7P3S11 relaxed: 2.14-2.17, 116; the issue asks for
  ~2.1 and 105-110), staggered terminal S.
* ``P2S6`` (P2S6 4-, hypo-thiodiphosphate, P4+): P-P bonded dumbbell, P-P 2.28, P-S 2.04,
  S-P-P 103.8, staggered (Li4P2S6).
* ``P2S6_EDGE`` (P2S6 2-, meta-thiophosphate dimer, P5+): two edge-sharing tetrahedra,
  P-P 2.91, P-S_bridge 2.14, P-S_terminal 2.00 (LiPS3). Needed only below x = 66.7.
* ``free_S`` (S 2-, free sulfide): needed only above x = 75.

Each unit carries the number of Li+ that neutralise it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from functools import cache

import numpy as np
from scipy.spatial.transform import Rotation

__all__ = ["AnionKind", "AnionTemplate", "anion_template", "place_unit"]


class AnionKind(str, enum.Enum):
    """Anion units of Li2S-P2S5 glasses (values are the keys of ``atoms.info["anion_counts"]``, and
    those of :func:`lpsens.chemistry.unit_census`)."""

    PS4 = "PS4"
    P2S7 = "P2S7"
    P2S6 = "P2S6"
    P2S6_EDGE = "P2S6_edge"
    FREE_S = "free_S"


@dataclass(frozen=True)
class AnionTemplate:
    """A rigid anion unit centred at its centroid.

    Attributes
    ----------
    kind
        The unit.
    symbols
        Element symbols, P first.
    positions_A
        Cartesian positions relative to the centroid, shape (n_atoms, 3), Å.
    charge
        Formal charge of the unit (e).
    n_li
        Li+ ions needed to neutralise it (= -charge).
    p_oxidation
        Formal oxidation state of its P atoms (+5, or +4 in P2S6 4-).
    """

    kind: AnionKind
    symbols: tuple[str, ...]
    positions_A: np.ndarray
    charge: int
    p_oxidation: int

    @property
    def n_li(self) -> int:
        return -self.charge

    @property
    def n_p(self) -> int:
        return self.symbols.count("P")

    @property
    def n_s(self) -> int:
        return self.symbols.count("S")

    @property
    def n_atoms_with_li(self) -> int:
        return len(self.symbols) + self.n_li

    @property
    def radius_A(self) -> float:
        """Largest distance of an atom from the centroid (Å)."""
        return float(np.linalg.norm(self.positions_A, axis=1).max())


def _tetra_dirs() -> np.ndarray:
    """Four unit vectors of a regular tetrahedron, shape (4, 3)."""
    return np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], float) / np.sqrt(3.0)


def _frame(axis: np.ndarray) -> np.ndarray:
    """Rotation matrix whose third column is ``axis`` (normalised)."""
    axis = axis / np.linalg.norm(axis)
    helper = np.array([1.0, 0, 0]) if abs(axis[0]) < 0.9 else np.array([0, 1.0, 0])
    e1 = np.cross(axis, helper)
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(axis, e1)
    return np.column_stack([e1, e2, axis])


def _umbrella(p_pos, axis, bond_A, angle_deg, phase_deg):
    """Three atoms bonded to ``p_pos`` at ``angle_deg`` from ``axis``, 120 deg apart."""
    frame = _frame(np.asarray(axis, float))
    th = np.radians(angle_deg)
    out = []
    for k in range(3):
        ph = np.radians(phase_deg + 120.0 * k)
        local = np.array([np.sin(th) * np.cos(ph), np.sin(th) * np.sin(ph), np.cos(th)])
        out.append(p_pos + bond_A * frame @ local)
    return out


def _centre(symbols, pos) -> np.ndarray:
    pos = np.asarray(pos, float)
    return pos - pos.mean(axis=0)


@cache
def anion_template(kind: AnionKind | str) -> AnionTemplate:
    """The rigid template of an anion unit (cached; treat as read-only)."""
    kind = AnionKind(kind)
    if kind is AnionKind.PS4:
        symbols = ("P", "S", "S", "S", "S")
        pos = np.vstack([np.zeros(3), 2.05 * _tetra_dirs()])
        return AnionTemplate(kind, symbols, _centre(symbols, pos), -3, 5)
    if kind is AnionKind.FREE_S:
        return AnionTemplate(kind, ("S",), np.zeros((1, 3)), -2, 5)
    if kind is AnionKind.P2S7:
        half = np.radians(110.0) / 2.0
        b = 2.10
        p1 = np.array([-b * np.sin(half), -b * np.cos(half), 0.0])  # bridging S at origin
        p2 = np.array([b * np.sin(half), -b * np.cos(half), 0.0])
        # terminal S on the far side of each P, tetrahedral angle to the P-S_bridge bond
        t1 = _umbrella(p1, p1 / np.linalg.norm(p1), 2.03, 180.0 - 109.47, 0.0)
        t2 = _umbrella(p2, p2 / np.linalg.norm(p2), 2.03, 180.0 - 109.47, 60.0)
        symbols = ("P", "P", "S") + ("S",) * 6
        pos = [p1, p2, np.zeros(3)] + t1 + t2
        return AnionTemplate(kind, symbols, _centre(symbols, pos), -4, 5)
    if kind is AnionKind.P2S6:
        p1, p2 = np.array([0, 0, -1.14]), np.array([0, 0, 1.14])
        t1 = _umbrella(p1, [0, 0, -1.0], 2.04, 180.0 - 103.8, 0.0)
        t2 = _umbrella(p2, [0, 0, 1.0], 2.04, 180.0 - 103.8, 60.0)
        symbols = ("P", "P") + ("S",) * 6
        return AnionTemplate(kind, symbols, _centre(symbols, [p1, p2] + t1 + t2), -4, 4)
    # P2S6 2-: edge-sharing pair of tetrahedra in the xy plane, terminal S in xz planes
    half_pp = 2.906 / 2.0
    h = np.sqrt(2.142**2 - half_pp**2)
    p1, p2 = np.array([-half_pp, 0, 0]), np.array([half_pp, 0, 0])
    sb = [np.array([0, h, 0]), np.array([0, -h, 0])]
    ang = np.radians(57.0)
    t = [p1 + 1.995 * np.array([-np.cos(ang), 0, s * np.sin(ang)]) for s in (1, -1)]
    t += [p2 + 1.995 * np.array([np.cos(ang), 0, s * np.sin(ang)]) for s in (1, -1)]
    symbols = ("P", "P") + ("S",) * 6
    return AnionTemplate(kind, symbols, _centre(symbols, [p1, p2] + sb + t), -2, 5)


def place_unit(template: AnionTemplate, centre_A: np.ndarray, rotation: Rotation) -> np.ndarray:
    """Cartesian positions of a unit rotated about its centroid and moved to ``centre_A``.

    Returns
    -------
    numpy.ndarray
        Shape (n_atoms, 3), Å.
    """
    return rotation.apply(template.positions_A) + np.asarray(centre_A, float)
