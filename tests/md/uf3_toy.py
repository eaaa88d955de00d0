"""A small Li/P/S UF3 file written in the test (soft repulsive 2-body + weak repulsive 3-body splines).

Not a fitted potential: it only has to be a valid, smooth ``pair_style uf3`` input with the
demo GAP's cutoffs, so the backend's mechanics (MPI decomposition, frozen atoms, minimisation)
can be tested with the real LAMMPS before a compiled GAP is at hand.
"""

from __future__ import annotations

import itertools

import numpy as np

SPECIES = ("Li", "P", "S")
#: Distances in Å where the pair repulsion is 0.1 eV (a bit below typical Li3PS4 distances).
R0_A = {("Li", "Li"): 2.4, ("Li", "P"): 2.5, ("Li", "S"): 2.1, ("P", "P"): 3.0, ("P", "S"): 1.8, ("S", "S"): 2.9}


def _knots(cutoff: float, n_intervals: int) -> np.ndarray:
    inner = np.linspace(0.0, cutoff, n_intervals + 1)
    return np.concatenate([[0.0] * 3, inner, [cutoff] * 3])


def write_toy_uf3(path, cutoff_2b_A: float = 5.0, cutoff_3b_A: float = 3.2, n_2b: int = 24, n_3b: int = 6) -> None:
    lines = []
    for a, b in itertools.combinations_with_replacement(SPECIES, 2):
        knots = _knots(cutoff_2b_A, n_2b)
        # B-spline coefficients ~ function values at the knot averages (Greville abscissae).
        r = np.array([knots[i + 1:i + 4].mean() for i in range(len(knots) - 4)])
        e = 0.1 * np.exp(-(np.maximum(r, 1.0) - R0_A[(a, b)]) / 0.3)
        taper = np.clip((cutoff_2b_A - r) / 1.0, 0.0, 1.0) ** 2
        c = e * taper
        c[-3:] = 0.0
        lines += ["#UF3 POT UNITS: metal DATE: test AUTHOR: lpsens-tests CITATION:", f"2B {a} {b} 0 3 nk",
                  f"{cutoff_2b_A!r} {len(knots)}", " ".join(repr(float(k)) for k in knots), str(len(c)),
                  " ".join(repr(float(x)) for x in c), "#"]
    for centre in SPECIES:
        for j, k in itertools.combinations_with_replacement(SPECIES, 2):
            k_ij = _knots(cutoff_3b_A, n_3b)
            k_jk = _knots(2 * cutoff_3b_A, 2 * n_3b)
            n_ij, n_jk = len(k_ij) - 4, len(k_jk) - 4
            coeff = np.zeros((n_ij, n_ij, n_jk))
            coeff[: n_ij - 3, : n_ij - 3, : n_jk - 3] = 0.002  # weak 3-body repulsion inside the cutoff
            lines += ["#UF3 POT UNITS: metal DATE: test AUTHOR: lpsens-tests CITATION:", f"3B {centre} {j} {k} 0 3 nk",
                      f"{2 * cutoff_3b_A!r} {cutoff_3b_A!r} {cutoff_3b_A!r} {len(k_jk)} {len(k_ij)} {len(k_ij)}",
                      " ".join(repr(float(x)) for x in k_jk), " ".join(repr(float(x)) for x in k_ij),
                      " ".join(repr(float(x)) for x in k_ij), f"{n_ij} {n_ij} {n_jk}"]
            for a in range(n_ij):
                for b in range(n_ij):
                    lines.append(" ".join(repr(float(x)) for x in coeff[a, b]))
            lines.append("#")
    with open(path, "w") as fh:
        fh.write("\n".join(lines) + "\n")
