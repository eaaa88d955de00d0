"""The tetrahedral prior: a Stillinger-Weber angle term that keeps P four-fold coordinated by S.

A 2-body + 3-body GAP learns P-S bonding from a reference that seldom shows a P with a fifth S,
so nothing in its data says what such a P costs; in P2S7-rich glasses at 600-800 K the fitted
GAPs of the demo campaign let a terminal S of a neighbouring unit settle at 2.4-2.6 Å of a P
(docs/training.md, 2026-12-05). The Stillinger-Weber three-body term (Stillinger & Weber,
Phys. Rev. B 31, 5262 (1985), eq. 2.4) on S-P-S angles costs nothing at the tetrahedral angle
and a fifth S opposite a face of the tetrahedron meets three S at ~70°:

    E = sum_P sum_{S_j < S_k} lambda * exp(gamma / (r_ij - a) + gamma / (r_ik - a)) * (cos(theta_jik) + 1/3)^2

for r_ij, r_ik < a (``cutoff_A``), zero beyond with all derivatives. It is a prior like the
repulsive core: gap_fit fits the GAP to the reference minus this term, and the file evaluates
core + prior + GAP (QUIP ``IP SW``, whose ``f3`` is exactly this form, once per centre and
unordered neighbour pair), so accuracy on the reference is the GAP's to win back.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

import numpy as np

from lpsens.errors import PotentialError

__all__ = ["TetrahedralPrior", "AngleTerm", "read_angle_terms", "Z_OF"]

Z_OF = {"Li": 3, "P": 15, "S": 16}
SYMBOL_OF = {z: s for s, z in Z_OF.items()}
#: QUIP's per-pair ``a`` (in units of sigma = 1 Å) for pairs without a term: no neighbour that close.
_NO_REACH_A = 0.1


@dataclass(frozen=True)
class AngleTerm:
    """One Stillinger-Weber three-body term: centre ``species[0]``, neighbours ``species[1:]``.

    ``lambda_eV`` includes QUIP's ``eps``; ``cutoff_ij_A``/``cutoff_ik_A`` are QUIP's a * sigma
    of the centre's pair with each neighbour and ``gamma_ij_A``/``gamma_ik_A`` its gamma * sigma.
    """

    species: tuple[str, str, str]
    lambda_eV: float
    gamma_ij_A: float
    gamma_ik_A: float
    cutoff_ij_A: float
    cutoff_ik_A: float

    @property
    def cutoff_A(self) -> float:
        return max(self.cutoff_ij_A, self.cutoff_ik_A)

    def energy_eV(self, r_ij, r_ik, r_jk):
        """E(r_ij, r_ik, r_jk) (eV) for one centre and one unordered neighbour pair; broadcasts.

        Outside triangles (|cos| > 1) the formula's smooth continuation, as a spline fit on a
        tensor grid needs; zero where r_ij or r_ik reaches its cutoff.
        """
        r_ij, r_ik, r_jk = np.broadcast_arrays(*(np.asarray(x, float) for x in (r_ij, r_ik, r_jk)))
        inside = (r_ij < self.cutoff_ij_A) & (r_ik < self.cutoff_ik_A)
        out = np.zeros(r_ij.shape)
        a, b, c = r_ij[inside], r_ik[inside], r_jk[inside]
        cos = (a * a + b * b - c * c) / (2 * a * b)
        out[inside] = self.lambda_eV * np.exp(self.gamma_ij_A / (a - self.cutoff_ij_A)
                                              + self.gamma_ik_A / (b - self.cutoff_ik_A)) * (cos + 1 / 3) ** 2
        return out

    def grid_energy_eV(self, r_ij, r_ik, r_jk):
        """E on the tensor grid of 1-D axes -> array (len(r_ij), len(r_ik), len(r_jk))."""
        return self.energy_eV(np.asarray(r_ij)[:, None, None], np.asarray(r_ik)[None, :, None],
                              np.asarray(r_jk)[None, None, :])


@dataclass(frozen=True)
class TetrahedralPrior:
    """The S-P-S angle prior (module docstring) with its three parameters.

    Parameters
    ----------
    lambda_eV
        Strength (eV); 0 switches the prior off. Not the energy scale itself: at the 2.05 Å P-S
        bond the radial factor exp(2 gamma / (r - a)) is 0.15 (gamma 1 Å, a 3.1 Å).
    gamma_A
        Steepness of the radial decay (Å): a larger gamma makes the term smaller at every
        distance and fall off sooner below the cutoff.
    cutoff_A
        P-S distance (Å) where the term ends: above the P-S bond (2.05 Å), below the second
        shell; the chemistry check counts S within 2.6 Å as bonded.
    """

    lambda_eV: float
    gamma_A: float = 1.0
    cutoff_A: float = 3.1

    @property
    def active(self) -> bool:
        return self.lambda_eV > 0

    def term(self) -> AngleTerm:
        return AngleTerm(("P", "S", "S"), self.lambda_eV, self.gamma_A, self.gamma_A, self.cutoff_A, self.cutoff_A)

    def xml(self, label: str = "tetrahedral_prior") -> str:
        """QUIP ``SW_params`` of the prior (no 2-body part: AA = 0 for every pair)."""
        species = list(Z_OF)
        lines = [f'<SW_params n_types="{len(species)}" label="{label}">']
        lines += [f'<per_type_data type="{k + 1}" atomic_num="{Z_OF[s]}" />' for k, s in enumerate(species)]
        for a in species:
            for b in species:
                reach = self.cutoff_A if {a, b} == {"P", "S"} else _NO_REACH_A
                lines.append(f'<per_pair_data atnum_i="{Z_OF[a]}" atnum_j="{Z_OF[b]}" AA="0.0" BB="0.0" p="4" q="0" '
                             f'a="{reach:.10g}" sigma="1.0" eps="1.0" />')
        for c in species:
            for j in species:
                for k in species:
                    lam = self.lambda_eV if (c, j, k) == ("P", "S", "S") else 0.0
                    lines.append(f'<per_triplet_data atnum_c="{Z_OF[c]}" atnum_j="{Z_OF[j]}" atnum_k="{Z_OF[k]}" '
                                 f'lambda="{lam:.10g}" gamma="{self.gamma_A:.10g}" eps="1.0" />')
        lines.append("</SW_params>")
        return "\n".join(lines) + "\n"

    def calculator(self):
        """The prior as an ASE calculator (quippy ``IP SW``): energy (eV), forces (eV/Å), stress."""
        from quippy.potential import Potential

        return Potential("IP SW", param_str=self.xml())


def read_angle_terms(root: ET.Element, where) -> list[AngleTerm]:
    """The three-body terms (lambda != 0) of every ``SW_params`` element under ``root``.

    Raises
    ------
    PotentialError
        An ``SW_params`` with a two-body part (AA != 0: not a prior lpsens writes), an element
        other than Li/P/S, or unreadable numbers; names ``where`` (the file).
    """
    out = []
    for sw in root.iter("SW_params"):
        try:
            pair = {}
            for p in sw.iter("per_pair_data"):
                zi, zj = int(p.get("atnum_i")), int(p.get("atnum_j"))
                if float(p.get("AA", 0.0)) != 0.0:
                    raise PotentialError(f"SW_params {sw.get('label', '')!r} has a two-body part (AA != 0 for Z "
                                         f"{zi}-{zj}); lpsens reads SW only as an angle prior",
                                         file=where)
                pair[(zi, zj)] = (float(p.get("a")), float(p.get("sigma")))
                pair.setdefault((zj, zi), pair[(zi, zj)])
            for t in sw.iter("per_triplet_data"):
                zc, zj, zk = (int(t.get(k)) for k in ("atnum_c", "atnum_j", "atnum_k"))
                lam = float(t.get("lambda")) * float(t.get("eps", 1.0))
                if lam == 0.0 or zj > zk:  # each unordered neighbour pair once
                    continue
                gamma = float(t.get("gamma"))
                (a_ij, s_ij), (a_ik, s_ik) = pair[(zc, zj)], pair[(zc, zk)]
                out.append(AngleTerm((SYMBOL_OF[zc], SYMBOL_OF[zj], SYMBOL_OF[zk]), lam, gamma * s_ij, gamma * s_ik,
                                     a_ij * s_ij, a_ik * s_ik))
        except KeyError as exc:
            raise PotentialError(f"SW_params {sw.get('label', '')!r}: no per_pair_data for Z {exc} or an element "
                                 "other than Li/P/S; lpsens reads the Li-P-S angle prior it writes "
                                 "(lpsens.potential.prior)", file=where) from None
        except (TypeError, ValueError) as exc:
            raise PotentialError(f"unreadable SW_params {sw.get('label', '')!r} ({exc}); lpsens reads the angle "
                                 "prior it writes (lpsens.potential.prior)", file=where) from None
    return out
