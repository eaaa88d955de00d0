"""The 2-body and 3-body terms of a GAP XML, read and evaluated in numpy (no quippy).

Maths as in QUIP/GAP (libAtoms/GAP ``descriptors.F90``, ``gp_predict.F90``):

* cutoff function (``coordination_function``): fc(r) = 1 for r <= rc - w,
  0.5 [cos(pi (r - rc + w) / w) + 1] for rc - w < r <= rc, 0 beyond.
* ``distance_2b`` (``distance_2b_calc``): one descriptor x = r per ORDERED pair (i, j) with
  matching species, i.e. two per pair, each with covariance cutoff fc(r).
* ``angle_3b`` (``angle_3b_calc``): for a centre i of species Z and every ORDERED pair (j, k),
  j != k, of neighbours within the cutoff whose species match {Z1, Z2}, one descriptor
  x = (r_ij + r_ik, (r_ij - r_ik)^2, r_jk) with covariance cutoff fc(r_ij) fc(r_ik); so each
  unordered neighbour pair is counted twice. No cutoff acts on r_jk.
* ``ard_se`` prediction (``gpCoordinates_Predict``, one permutation):
  f(x) = fc(x) * sum_s alpha_s * sparseCutoff_s * (delta^2 exp(-0.5 |(x - x_s) / theta|^2) + f0^2),
  with delta = the ``signal_variance`` attribute (QUIP writes delta there, not delta^2) and f0
  the ``signal_mean`` attribute.
* Total energy: sum of all descriptor predictions + sum_i e0(Z_i).

:func:`gap_energy_eV` evaluates a structure this way; the tests check it against quippy.
"""

from __future__ import annotations

import shlex
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import ase.data
import numpy as np

from lpsens.errors import PotentialError

__all__ = ["Distance2B", "Angle3B", "GapTerms", "read_gap_terms", "cutoff_function", "gap_energy_eV",
           "NATIVE_BACKENDS"]

#: Who can run a GAP that cannot be tabulated.
NATIVE_BACKENDS = "the quippy backend or the native LAMMPS pair_style quip"


def cutoff_function(r, cutoff_A: float, width_A: float):
    """QUIP's ``coordination_function`` (cosine switch over the last ``width_A`` before the cutoff)."""
    r = np.asarray(r, dtype=float)
    t = np.clip((r - cutoff_A + width_A) / width_A, 0.0, 1.0)
    return np.where(r > cutoff_A, 0.0, 0.5 * (np.cos(np.pi * t) + 1.0))


@dataclass(frozen=True, eq=False)
class _GP:
    """An ard_se sparse GP: sparse points (n, d), weights alpha * sparseCutoff, theta (d,), delta, f0."""

    sparse: np.ndarray
    weights: np.ndarray
    theta: np.ndarray
    delta: float
    f0: float
    cutoff_A: float
    width_A: float

    def predict(self, x):
        """GP prediction without the descriptor's covariance cutoff; x shape (..., d)."""
        x = np.asarray(x, dtype=float)
        out = np.zeros(x.shape[:-1])
        flat = x.reshape(-1, x.shape[-1]) / self.theta
        sp = self.sparse / self.theta
        res = out.reshape(-1)
        for start in range(0, len(flat), 20000):  # bounded memory
            d2 = ((flat[start : start + 20000, None, :] - sp[None]) ** 2).sum(-1)
            k = self.delta**2 * np.exp(-0.5 * d2) + self.f0**2
            res[start : start + 20000] = k @ self.weights
        return res.reshape(x.shape[:-1])


@dataclass(frozen=True, eq=False)
class Distance2B(_GP):
    species: tuple[str, str] = ("", "")

    def pair_energy_eV(self, r):
        """Energy of ONE descriptor (one ordered pair) at distance r; a pair contributes twice this."""
        r = np.asarray(r, dtype=float)
        return self.predict(r[..., None]) * cutoff_function(r, self.cutoff_A, self.width_A)


@dataclass(frozen=True, eq=False)
class Angle3B(_GP):
    species: tuple[str, str, str] = ("", "", "")  # centre Z, Z1, Z2

    def triplet_energy_eV(self, r_ij, r_ik, r_jk):
        """Energy of ONE descriptor (one ordered neighbour pair); an unordered pair counts twice."""
        r_ij, r_ik, r_jk = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (r_ij, r_ik, r_jk)))
        x = np.stack([r_ij + r_ik, (r_ij - r_ik) ** 2, r_jk], axis=-1)
        fc = cutoff_function(r_ij, self.cutoff_A, self.width_A) * cutoff_function(r_ik, self.cutoff_A, self.width_A)
        return self.predict(x) * fc

    def grid_energy_eV(self, r_ij, r_ik, r_jk):
        """:meth:`triplet_energy_eV` on the tensor grid r_ij x r_ik x r_jk (1-D arrays), shape
        (len(r_ij), len(r_ik), len(r_jk)); uses that the ard_se kernel factorises over the
        descriptor components (x1, x2 depend on r_ij, r_ik only; x3 = r_jk)."""
        r_ij, r_ik, r_jk = (np.asarray(v, dtype=float) for v in (r_ij, r_ik, r_jk))
        s = self.sparse
        x1 = r_ij[:, None] + r_ik[None, :]
        x2 = (r_ij[:, None] - r_ik[None, :]) ** 2
        a = np.exp(-0.5 * (((x1[..., None] - s[:, 0]) / self.theta[0]) ** 2
                           + ((x2[..., None] - s[:, 1]) / self.theta[1]) ** 2))
        b = np.exp(-0.5 * ((r_jk[:, None] - s[:, 2]) / self.theta[2]) ** 2)
        gp = self.delta**2 * np.einsum("ijs,ks,s->ijk", a, b, self.weights, optimize=True)
        gp += self.f0**2 * self.weights.sum()
        fc = cutoff_function(r_ij, self.cutoff_A, self.width_A)[:, None] * cutoff_function(
            r_ik, self.cutoff_A, self.width_A)[None, :]
        return gp * fc[..., None]


@dataclass(frozen=True, eq=False)
class GapTerms:
    """All terms of one GAP: ``pairs``, ``triplets``, per-element ``e0_eV``; ``core`` is the
    top-level Potential init_args when the file is a Sum with a core (else None)."""

    label: str
    pairs: tuple[Distance2B, ...]
    triplets: tuple[Angle3B, ...]
    e0_eV: dict
    core_init_args: str | None
    sparse_min_A: dict  # {"2b": min sparse distance, "3b": min sparse r_ij}


def _desc_args(text: str) -> tuple[str, dict]:
    tokens = shlex.split(text.strip())
    name = tokens[0] if tokens else ""
    args = {}
    for tok in tokens[1:]:
        if "=" in tok:
            k, v = tok.split("=", 1)
            args[k.strip()] = v.strip()
    return name, args


def _species_list(value, known) -> list[str]:
    z = int(float(value))
    if z == 0:
        return list(known)
    return [ase.data.chemical_symbols[z]]


def read_gap_terms(path, label: str | None = None, species=("Li", "P", "S")) -> GapTerms:
    """Read every 2-body and 3-body term of a GAP XML.

    Parameters
    ----------
    path
        GAP XML (validated first with :func:`lpsens.potential.inspect_potential`).
    label
        GAP label; None picks the first.
    species
        Elements wildcards (Z=0) expand to.

    Raises
    ------
    PotentialError
        A descriptor other than ``distance_2b``/``angle_3b`` (SOAP, any many-body term), a
        covariance other than ard_se, options the tabulation does not reproduce (exponents,
        tails, only_intra/inter, several permutations), or an element outside ``species``.
    """
    from lpsens.potential.gap import inspect_potential

    info = inspect_potential(path, label)
    root = ET.parse(info.path).getroot()
    gap = next(el for el in root.iter("GAP_params") if el.get("label") == info.label)
    e0 = {}
    for el in gap.iter("e0"):
        z = int(el.get("Z"))
        if 0 < z < len(ase.data.chemical_symbols):
            e0[ase.data.chemical_symbols[z]] = float(el.get("value", "0"))
    pairs, triplets = [], []
    for coords in gap.iter("gpCoordinates"):
        desc_el = coords.find("descriptor")
        name, args = _desc_args(desc_el.text if desc_el is not None else "")
        where = f"gpCoordinates {coords.get('label')} descriptor {name or '?'}"
        if name not in ("distance_2b", "angle_3b"):
            raise PotentialError(
                f"descriptor {name!r} ({where}) cannot be tabulated to UF3 (only distance_2b and angle_3b "
                f"can); run this GAP with {NATIVE_BACKENDS}",
                file=info.path,
            )
        cov = args.get("covariance_type", "ard_se")
        if cov != "ard_se" or coords.get("covariance_type") not in (None, "1"):
            raise PotentialError(
                f"covariance {cov!r} of {where} is not supported by the compiler (ard_se only); run this GAP "
                f"with {NATIVE_BACKENDS}",
                file=info.path,
            )
        unsupported = [k for k in ("exponents", "tail_range", "tail_exponent", "only_intra", "only_inter")
                       if k in args and args[k] not in ("1", "1.0", "{1}", "F", "0", "0.0", "false", "False")]
        if unsupported or coords.get("n_permutations", "1") != "1":
            raise PotentialError(
                f"{where} uses {', '.join(unsupported) or 'several permutations'}, which the compiler does not "
                f"reproduce; run this GAP with {NATIVE_BACKENDS}",
                file=info.path,
            )
        sparse_el = coords.findall("sparseX")
        dim = int(coords.get("dimensions", "1"))
        if not sparse_el:
            continue  # n_sparseX = 0: QUIP predicts exactly 0 for this term
        if coords.get("sparseX_filename"):
            values = np.loadtxt(info.path.parent / coords.get("sparseX_filename"))
        else:
            values = np.array([float(v) for el in sparse_el for v in el.text.split()])
        sparse = values.reshape(len(sparse_el), dim)
        weights = np.array([float(el.get("alpha")) * float(el.get("sparseCutoff", "1")) for el in sparse_el])
        theta_el = coords.find("theta")
        theta = np.array([float(v) for v in theta_el.text.split()])
        common = dict(
            sparse=sparse,
            weights=weights,
            theta=theta,
            delta=float(coords.get("signal_variance")),
            f0=float(coords.get("signal_mean", "0")),
            cutoff_A=float(args["cutoff"]),
            width_A=float(args.get("cutoff_transition_width", "0.5")),
        )
        try:
            # A wildcard (Z=0) matches every element; QUIP still counts each ordered pair once,
            # so the expansion is over unordered species pairs.
            if name == "distance_2b":
                keys = {tuple(sorted((a, b))) for a in _species_list(args.get("Z1", 0), species)
                        for b in _species_list(args.get("Z2", 0), species)}
                pairs += [Distance2B(**common, species=k) for k in sorted(keys)]
            else:
                keys = {(c,) + tuple(sorted((a, b))) for c in _species_list(args.get("Z", 0), species)
                        for a in _species_list(args.get("Z1", 0), species)
                        for b in _species_list(args.get("Z2", 0), species)}
                triplets += [Angle3B(**common, species=k) for k in sorted(keys)]
        except (ValueError, IndexError):
            raise PotentialError(f"unreadable species in {where}", file=info.path) from None
    used = {s for t in pairs for s in t.species} | {s for t in triplets for s in t.species} | {
        s for s, v in e0.items() if v != 0.0}
    foreign = sorted(used - set(species), key=lambda s: ase.data.atomic_numbers[s])
    if foreign:
        raise PotentialError(
            f"the GAP covers {', '.join(foreign)}, but lpsens compiles Li-P-S potentials only "
            f"({', '.join(species)}); nothing written",
            file=info.path,
        )
    core = None
    for pot in root.iter("Potential"):
        init = pot.get("init_args", "")
        if init.strip().startswith("Sum"):
            core = init
    min_2b = min((float(t.sparse.min()) for t in pairs), default=np.inf)
    min_3b = min((float(((t.sparse[:, 0] - np.sqrt(t.sparse[:, 1])) / 2).min()) for t in triplets), default=np.inf)
    return GapTerms(label=info.label, pairs=tuple(pairs), triplets=tuple(triplets), e0_eV=e0,
                    core_init_args=core, sparse_min_A={"2b": min_2b, "3b": min_3b})


def gap_energy_eV(terms: GapTerms, atoms) -> float:
    """Total energy of ``atoms`` from the 2b/3b terms + e0 (no core), as QUIP computes it."""
    from ase.neighborlist import neighbor_list

    symbols = np.array(atoms.get_chemical_symbols())
    energy = float(sum(terms.e0_eV.get(s, 0.0) for s in symbols))
    rc = max([t.cutoff_A for t in terms.pairs + terms.triplets], default=0.0)
    if rc == 0.0:
        return energy
    i_idx, j_idx, d, vec = neighbor_list("ijdD", atoms, rc)
    for t in terms.pairs:
        a, b = t.species
        m = (((symbols[i_idx] == a) & (symbols[j_idx] == b)) | ((symbols[i_idx] == b) & (symbols[j_idx] == a)))
        m &= d < t.cutoff_A
        energy += float(t.pair_energy_eV(d[m]).sum())
    for t in terms.triplets:
        c, a, b = t.species
        for i in np.flatnonzero(symbols == c):
            sel = (i_idx == i) & (d < t.cutoff_A)
            nb, vv, dd = j_idx[sel], vec[sel], d[sel]
            if len(nb) < 2:
                continue
            jj, kk = np.meshgrid(np.arange(len(nb)), np.arange(len(nb)), indexing="ij")
            jj, kk = jj[jj != kk], kk[jj != kk]
            sj, sk = symbols[nb[jj]], symbols[nb[kk]]
            ok = ((sk == a) & (sj == b)) | ((sk == b) & (sj == a))
            jj, kk = jj[ok], kk[ok]
            r_jk = np.linalg.norm(vv[jj] - vv[kk], axis=-1)
            energy += float(t.triplet_energy_eV(dd[jj], dd[kk], r_jk).sum())
    return energy
