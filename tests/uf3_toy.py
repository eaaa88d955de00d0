"""A small Li/P/S compiled-GAP stand-in written in the test: soft repulsive 2-body + weak 3-body splines.

Not a fit of any GAP: it only has to be a valid, smooth ``pair_style uf3`` file (with sidecar)
with the demo GAP's cutoffs, so the backend's mechanics (MPI decomposition, frozen atoms,
minimisation, hash checks) can be tested with the real LAMMPS in seconds.
"""

from __future__ import annotations

import itertools

import numpy as np

from lpsens.potential import UF3Pair, UF3Triplet, write_uf3

SPECIES = ("Li", "P", "S")
#: Distances in Å where the pair repulsion is 0.1 eV (a bit below typical Li3PS4 distances).
R0_A = {("Li", "Li"): 2.4, ("Li", "P"): 2.5, ("Li", "S"): 2.1, ("P", "P"): 3.0, ("P", "S"): 1.8, ("S", "S"): 2.9}
#: Per-element energies for the sidecar (the backend adds them to LAMMPS' energy).
E0_EV = {"Li": -0.25, "P": -1.5, "S": -0.75}


def _knots(cutoff: float, n_intervals: int) -> np.ndarray:
    return np.concatenate([[0.0] * 3, np.linspace(0.0, cutoff, n_intervals + 1), [cutoff] * 3])


def write_toy_uf3(path, gap_sha256: str, gap_label: str = "toy", cutoff_2b_A: float = 5.0,
                  cutoff_3b_A: float = 3.2, n_2b: int = 24, n_3b: int = 6, amplitude_eV: float = 0.1):
    """Write ``path`` (.uf3) and its sidecar naming the GAP ``gap_sha256``; returns the path.
    ``amplitude_eV``: the pair repulsion at ``R0_A`` (large values: atoms in contact fly apart)."""
    pairs = []
    for a, b in itertools.combinations_with_replacement(SPECIES, 2):
        knots = _knots(cutoff_2b_A, n_2b)
        r = np.array([knots[i + 1:i + 4].mean() for i in range(len(knots) - 4)])  # Greville abscissae
        c = amplitude_eV * np.exp(-(np.maximum(r, 1.0) - R0_A[(a, b)]) / 0.3) * np.clip(cutoff_2b_A - r, 0.0, 1.0) ** 2
        c[-3:] = 0.0
        pairs.append(UF3Pair((a, b), knots, c))
    triplets = []
    k_ij, k_jk = _knots(cutoff_3b_A, n_3b), _knots(2 * cutoff_3b_A, 2 * n_3b)
    n_ij, n_jk = len(k_ij) - 4, len(k_jk) - 4
    coeff = np.zeros((n_ij, n_ij, n_jk))
    coeff[: n_ij - 3, : n_ij - 3, : n_jk - 3] = 0.002
    for centre in SPECIES:
        for j, k in itertools.combinations_with_replacement(SPECIES, 2):
            triplets.append(UF3Triplet((centre, j, k), k_ij, k_ij, k_jk, coeff))
    sidecar = {"gap_sha256": gap_sha256, "gap_label": gap_label, "species": list(SPECIES), "e0_eV": dict(E0_EV)}
    return write_uf3(path, pairs, triplets, sidecar)
