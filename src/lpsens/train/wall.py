"""The contact wall: a reference minimisation that reaches the glass's own minimum, not an S-S bond.

A built glass sits far above its minimum (forces of several eV/Å). Minimised with the reference
straight away (FIRE), terminal S of neighbouring units are thrown together on the way down and
SevenNet-0 (and SevenNet-l3i5) then hold them as an S-S bond of 2.04-2.20 Å: 5 of 8 built P2S7
glasses ended so (docs/training.md, 2026-12-05). Behind this wall first, then alone, the same
reference reaches a minimum of its own without the bond (x = 67, 156 atoms, two glasses whose
straight minimisation bonded S: shortest S-S 2.93-3.0 Å, like the 2.95-3.2 Å of the PBE AIMD
frames). The reference holds both minima; which one FIRE falls into is decided by the path. The
intact one was 0.28 eV lower in one glass and 0.54 eV higher in the other, so the wall does not
find the lower minimum: it finds the one without S-S bonds, which the gates and the labels need
(S-S bonds count as broken chemistry, issue 10).

:func:`minimise_behind_wall` therefore minimises in two stages: the calculator plus
:class:`ContactWall` (a shifted r^-12 repulsion per pair, ``contact_eV`` at the chemistry
check's contact floor of :mod:`lpsens.chemistry`; S-S reaches to :data:`S_S_WALL_CUTOFF_A`),
then the calculator alone from there, so the result is a minimum of the reference itself.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes

__all__ = ["ContactWall", "minimise_behind_wall", "S_S_WALL_CUTOFF_A"]

#: S-S pairs feel the wall out to here (Å): below the 3.35 Å edge of a PS4 tetrahedron, near the
#: shortest inter-unit S-S of the PBE AIMD frames (2.95-3.2 Å), far above the 2.05 Å bond.
S_S_WALL_CUTOFF_A = 3.2
#: Every other pair: floor + this (Å), as the fit's ``contact`` core; clear of the P-S bond.
OTHER_WALL_RANGE_A = 0.3


class ContactWall(Calculator):
    """Pair repulsion E = eps12 (r^-12 - rc^-12 + 12 rc^-13 (r - rc)) for r < rc, per element pair.

    ``eps12`` is set so that E(floor) = ``contact_eV`` (:func:`lpsens.train.fit.contact_core_eps12`);
    energy and force are zero at ``rc``. Energy in eV, forces in eV/Å.
    """

    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(self, contact_eV: float = 1.0):
        from lpsens.train.fit import contact_core_eps12, contact_floors_A

        super().__init__()
        floors = contact_floors_A()
        self.cutoff_A = {p: (S_S_WALL_CUTOFF_A if p == "S-S" else r + OTHER_WALL_RANGE_A) for p, r in floors.items()}
        self.eps12 = contact_core_eps12(contact_eV, self.cutoff_A)

    def _pair_table(self, numbers: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
        from ase.data import chemical_symbols

        zs = sorted(set(int(z) for z in numbers))
        index = {z: k for k, z in enumerate(zs)}
        eps = np.zeros((len(zs), len(zs)))
        rc = np.zeros((len(zs), len(zs)))
        for a in zs:
            for b in zs:
                sa, sb = chemical_symbols[a], chemical_symbols[b]
                pair = f"{sa}-{sb}" if f"{sa}-{sb}" in self.eps12 else f"{sb}-{sa}"
                if pair in self.eps12:
                    eps[index[a], index[b]] = self.eps12[pair]
                    rc[index[a], index[b]] = self.cutoff_A[pair]
        return eps, rc, index

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        from ase.neighborlist import neighbor_list

        super().calculate(atoms, properties, system_changes)
        eps, rc, index = self._pair_table(self.atoms.numbers)
        kind = np.array([index[int(z)] for z in self.atoms.numbers])
        i, j, d, D = neighbor_list("ijdD", self.atoms, float(rc.max()))
        e, c = eps[kind[i], kind[j]], rc[kind[i], kind[j]]
        near = (d < c) & (e > 0)
        i, d, D, e, c = i[near], d[near], D[near], e[near], c[near]
        energy = 0.5 * float(np.sum(e * (d ** -12 - c ** -12 + 12 * c ** -13 * (d - c))))
        dE_dr = e * (-12 * d ** -13 + 12 * c ** -13)
        forces = np.zeros((len(self.atoms), 3))
        np.add.at(forces, i, (dE_dr / d)[:, None] * D)  # D = r_j - r_i: both orders are listed
        self.results = {"energy": energy, "free_energy": energy, "forces": forces}


def minimise_behind_wall(atoms: Atoms, calc, steps: int, fmax_eV_A: float = 0.05,
                         contact_eV: float = 1.0) -> tuple[Atoms, dict]:
    """FIRE with ``calc`` + :class:`ContactWall`, then with ``calc`` alone (fixed cell).

    Parameters
    ----------
    atoms
        The start (not modified).
    calc
        The reference (any ASE calculator with energy and forces).
    steps
        FIRE steps at most, per stage.

    Returns
    -------
    minimum, record
        ``minimum`` (a copy with ``calc`` attached) is a minimum of ``calc`` alone;
        ``record``: ``energy_start_eV``, ``energy_walled_eV`` (``calc``'s energy after stage 1),
        ``energy_min_eV``, ``max_force_eV_A``.
    """
    from ase.calculators.mixing import SumCalculator

    from lpsens.train.exploration import minimise

    a = atoms.copy()
    a.calc = calc
    e0 = float(a.get_potential_energy())
    walled, _ = minimise(atoms, SumCalculator([calc, ContactWall(contact_eV)]), steps, fmax_eV_A)
    out, rec = minimise(walled, calc, steps, fmax_eV_A)
    return out, {"energy_start_eV": e0, "energy_walled_eV": rec["energy_start_eV"],
                 "energy_min_eV": rec["energy_min_eV"], "max_force_eV_A": rec["max_force_eV_A"]}
