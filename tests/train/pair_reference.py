"""Cheap reference calculators for the training tests (importable as ``pair_reference:...``).

``MorsePairs``: a fixed-parameter Morse pair potential for Li–P–S with minima near the real
bond lengths (P–S 2.05 Å, Li–S 2.45 Å), a steep wall, smooth cutoff at 5 Å; energy, forces
(analytic) and stress (virial). ``BondingSulfur`` binds S to S at 2.05 Å (a reference that
breaks a glass in its own minimisation). ``FailingMorse`` raises like an unconverged SCF when two atoms
are closer than ``fail_below_A``; ``EnergyOnly`` implements no forces.
"""

from __future__ import annotations

import numpy as np
from ase.calculators.calculator import Calculator, all_changes

# (D eV, a 1/Å, r0 Å) per pair of atomic numbers
PARAMS = {(3, 3): (0.05, 1.2, 3.0), (3, 15): (0.05, 1.2, 3.2), (3, 16): (0.4, 1.4, 2.45),
          (15, 15): (0.3, 1.5, 2.25), (15, 16): (2.0, 1.6, 2.05), (16, 16): (0.15, 1.5, 3.4)}
CUTOFF_A = 5.0


def _pairs(atoms, cutoff: float):
    """Every ordered pair (i, j, image) closer than ``cutoff``: i, j, d, D = r_j + shift - r_i,
    as ``ase.neighborlist.neighbor_list("ijdD")`` gives them. All images at once in numpy: ASE's
    binning costs ~0.3 s per call on a 48-atom cell with a 5 Å cutoff, this ~2 ms."""
    pos = atoms.positions
    cell = atoms.cell.array
    n = np.zeros(3, dtype=int)
    if atoms.cell.rank == 3:
        spacing = 1.0 / np.linalg.norm(np.linalg.inv(cell), axis=0)  # distances between lattice planes
        n = np.where(atoms.pbc, np.ceil(cutoff / spacing).astype(int), 0)
    grid = np.stack(np.meshgrid(*(np.arange(-k, k + 1) for k in n), indexing="ij"), -1).reshape(-1, 3)
    D = pos[None, :, None, :] + (grid @ cell)[None, None, :, :] - pos[:, None, None, :]
    d = np.linalg.norm(D, axis=-1)
    mask = (d < cutoff) & (d > 1e-8)
    i, j, _ = np.nonzero(mask)
    return i, j, d[mask], D[mask]


class MorsePairs(Calculator):
    implemented_properties = ["energy", "free_energy", "forces", "stress"]
    params = PARAMS

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        a = self.atoms
        i, j, d, D = _pairs(a, CUTOFF_A)
        z = a.numbers
        table = np.zeros((z.max() + 1, z.max() + 1, 3))
        for (x, y), v in self.params.items():
            if max(x, y) <= z.max():
                table[x, y] = table[y, x] = v
        p = table[z[i], z[j]].reshape(-1, 3)
        De, al, r0 = p[:, 0], p[:, 1], p[:, 2]

        def morse(r):
            e = np.exp(-al * (r - r0))
            return De * (e * e - 2 * e), De * (-2 * al * e * e + 2 * al * e)

        e, de = morse(d)
        ec, dec = morse(np.full_like(d, CUTOFF_A))
        e_s = e - ec - (d - CUTOFF_A) * dec  # energy and force shifted to 0 at the cutoff
        de_s = de - dec
        energy = 0.5 * e_s.sum()
        fij = (de_s / d)[:, None] * D  # dE/dr_j along D = r_j - r_i (pair counted twice)
        forces = np.zeros((len(a), 3))
        np.add.at(forces, i, 0.5 * fij)
        np.add.at(forces, j, -0.5 * fij)
        # forces on i from pair (i,j) appear twice (as (i,j) and (j,i)) -> the 0.5 factors
        virial = -0.5 * (D.T @ fij)
        stress = -virial / a.get_volume() if a.cell.rank == 3 else np.zeros((3, 3))
        self.results = {"energy": float(energy), "free_energy": float(energy), "forces": forces,
                        "stress": stress.flat[[0, 4, 8, 5, 2, 1]]}


class FailingMorse(MorsePairs):
    def __init__(self, fail_below_A=1.3, **kw):
        super().__init__(**kw)
        self.fail_below_A = fail_below_A

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        if len(atoms) > 1 and atoms.get_all_distances(mic=True)[np.triu_indices(len(atoms), 1)].min() < self.fail_below_A:
            raise RuntimeError("SCF did not converge (reference test double)")
        super().calculate(atoms, properties, system_changes)


class EnergyOnly(MorsePairs):
    implemented_properties = ["energy"]

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.results = {"energy": self.results["energy"]}


class ScaledMorse(MorsePairs):
    """MorsePairs with energy, forces and stress times ``scale``: a second reference that
    disagrees with the first by a known amount (forces differ by ``|scale - 1| * F``)."""

    def __init__(self, scale=2.0, **kw):
        super().__init__(**kw)
        self.scale = scale

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.results = {k: self.scale * v for k, v in self.results.items()}


class BondingSulfur(MorsePairs):
    params = {**PARAMS, (16, 16): (1.0, 1.5, 2.05)}


class DoubleWellSulfur(Calculator):
    """S-S only: a bond well at 2.05 Å (2 eV), a 0.3 eV barrier at 2.6 Å and a shallow
    non-bonded well at 3.3 Å, each a Gaussian in r (no cutoff beyond 6 Å). Two S started just
    inside the barrier fall into the bond; pushed out past it they stay apart: a reference whose
    bond is made by the path of a minimisation."""

    implemented_properties = ["energy", "free_energy", "forces"]
    TERMS = ((-2.0, 2.05, 0.25), (0.3, 2.6, 0.15), (-0.3, 3.3, 0.4))  # (height eV, centre Å, width Å)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        a = self.atoms
        i, j, d, D = _pairs(a, 6.0)
        s = (a.numbers[i] == 16) & (a.numbers[j] == 16)
        i, d, D = i[s], d[s], D[s]
        e = sum(h * np.exp(-((d - c) / w) ** 2) for h, c, w in self.TERMS)
        de = sum(h * np.exp(-((d - c) / w) ** 2) * (-2 * (d - c) / w ** 2) for h, c, w in self.TERMS)
        forces = np.zeros((len(a), 3))
        np.add.at(forces, i, (de / d)[:, None] * D)
        self.results = {"energy": 0.5 * float(e.sum()), "free_energy": 0.5 * float(e.sum()), "forces": forces}
