"""xLi2S-(100-x)P2S5 glass models by the three-step protocol of Staacke et al. (2022).

1. **Anion lattice**: the thiophosphate units in the ratio that gives the composition are
   placed one by one at random centres with random orientations (uniform on SO(3)) in a
   box expanded ``EXPANSION_VOLUME`` times over the target volume, rejecting overlaps.
2. **Li sites**: Li positions are taken in order from a scrambled Sobol sequence
   (``scipy.stats.qmc.Sobol``, scrambled with the replica's generator); a point is kept if it
   is sterically allowed (far enough from every S, P and already placed Li).
3. **Density**: the box is compressed affinely in steps (unit centroids and Li scaled, units
   kept rigid) to the target density; after each step a purely geometric relaxation pushes
   overlapping pairs apart (Li moved as points, anion units as rigid bodies: translation by
   the mean push, rotation by the torque of the pushes) until no pair is closer than the
   build distances. No potential is used: the GAP MD equilibrates the model later.

The realised composition, charge, P-S bonds, minimum distances, density and anion units are
verified with :func:`lpsens.structures.checks.check_structure`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.data import atomic_masses, atomic_numbers
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation
from scipy.stats import qmc

from lpsens.errors import StructureError
from lpsens.structures.anions import AnionKind, anion_template
from lpsens.structures.checks import AMU_A3_TO_G_CM3, MinDistances, check_structure
from lpsens.structures.crystals import MAX_ATOMS
from lpsens.vocabulary import GLASS_X_RANGE

__all__ = [
    "BUILD_DISTANCES",
    "GLASS_DENSITY_ANCHORS",
    "GlassComposition",
    "build_glass",
    "glass_density_g_cm3",
    "solve_composition",
]

# The paper's composition labels: "67Li2S-33P2S5" is the pyro-thiophosphate 2Li2S-P2S5 =
# Li4P2S7 (x = 66.67, P2S7 only). x = 67 is read as that composition (recorded in
# atoms.info["x_Li2S_mol_pct_target"]); every other x is taken literally.
PAPER_X_LABELS: dict[float, float] = {67.0: 200.0 / 3.0}
MIN_GLASS_WIDTH_A = 9.0  # below this a unit (diameter up to ~7 Å) would touch its own image

# Target densities (g/cm^3) at anchor compositions x (mol% Li2S), interpolated linearly in x
# between anchors and held constant outside them. Values as given in lpsens issue 3
# (75:25 glass ~1.87-1.88, 70:30 ~1.88, 67:33 ~1.9); see docs/structures.md for their status.
GLASS_DENSITY_ANCHORS: tuple[tuple[float, float], ...] = ((200.0 / 3.0, 1.90), (70.0, 1.88), (75.0, 1.87))

EXPANSION_VOLUME = 3.0  # initial box volume / target volume
COMPRESSION_STEP = 0.04  # fractional decrease of the box edge per compression step

# distances (Å) the geometric relaxation enforces; the validation limits (MinDistances())
# are lower, so a converged relaxation always passes them
BUILD_DISTANCES = MinDistances(li_li_A=2.45, li_s_A=2.30, li_p_A=2.85, s_s_A=3.25,
                               p_p_nonbonded_A=3.3, p_s_nonbonded_A=3.1)
# extra margin while placing units and Li in the expanded box
PLACEMENT_DISTANCES = MinDistances(li_li_A=2.8, li_s_A=2.6, li_p_A=3.1, s_s_A=3.5,
                                   p_p_nonbonded_A=3.5, p_s_nonbonded_A=3.5)
_SPECIES = ("Li", "P", "S")


def glass_density_g_cm3(x_Li2S_mol_pct: float) -> tuple[float, str]:
    """Target glass density and how it was obtained ("anchor", "interpolated", "held constant")."""
    xs = np.array([a for a, _ in GLASS_DENSITY_ANCHORS])
    rhos = np.array([r for _, r in GLASS_DENSITY_ANCHORS])
    x = float(x_Li2S_mol_pct)
    if np.isclose(xs, x, atol=0.01).any():
        return float(rhos[np.isclose(xs, x, atol=0.01)][0]), "anchor"
    if x < xs[0] or x > xs[-1]:
        return float(np.interp(x, xs, rhos)), f"held constant outside x = {xs[0]:.2f}-{xs[-1]:.2f}"
    return float(np.interp(x, xs, rhos)), "interpolated"


@dataclass(frozen=True)
class GlassComposition:
    """Integer numbers of anion units (and the Li that neutralise them).

    Attributes
    ----------
    counts
        Unit kind -> number of units (every AnionKind present, zeros included).
    """

    counts: dict

    def _sum(self, attr: str) -> int:
        return sum(getattr(anion_template(k), attr) * n for k, n in self.counts.items())

    @property
    def n_li(self) -> int:
        return self._sum("n_li")

    @property
    def n_p(self) -> int:
        return self._sum("n_p")

    @property
    def n_s(self) -> int:
        return self._sum("n_s")

    @property
    def n_atoms(self) -> int:
        return self.n_li + self.n_p + self.n_s

    @property
    def formula(self) -> dict[str, int]:
        return {"Li": self.n_li, "P": self.n_p, "S": self.n_s}

    @property
    def x_realised_mol_pct(self) -> float:
        """100 Li / (Li + P): mol% Li2S when the glass is read as xLi2S-(100-x)P2S5."""
        return 100.0 * self.n_li / (self.n_li + self.n_p)

    @property
    def p2s6_fraction_realised(self) -> float:
        """Fraction of P atoms in P2S6 4- units."""
        return 2 * self.counts[AnionKind.P2S6] / self.n_p if self.n_p else 0.0

    @property
    def mass_amu(self) -> float:
        return sum(n * atomic_masses[atomic_numbers[el]] for el, n in self.formula.items())

    def anion_counts(self) -> dict[str, int]:
        """Plain dict with the AnionKind values as keys (zeros included)."""
        return {k.value: int(n) for k, n in self.counts.items()}


def _base_pair(r_li_per_p: float) -> tuple[AnionKind, AnionKind]:
    if r_li_per_p <= 2.0:
        return AnionKind.P2S6_EDGE, AnionKind.P2S7
    if r_li_per_p <= 3.0:
        return AnionKind.P2S7, AnionKind.PS4
    return AnionKind.PS4, AnionKind.FREE_S


def solve_composition(x_Li2S_mol_pct: float, n_atoms_target: int, p2s6_fraction: float = 0.0) -> GlassComposition:
    """Integer unit counts whose x is closest to the target, with at least ``n_atoms_target`` atoms.

    Units: PS4 3- (x = 75), P2S7 4- (x = 66.7), P2S6 2- edge-sharing (x = 50), free S 2-
    (x > 75) and, optionally, P2S6 4- taking ``p2s6_fraction`` of the P atoms. The two base
    units bracketing the Li/P ratio are mixed. Candidates have between ``n_atoms_target`` and
    1.05 ``n_atoms_target`` + 13 atoms (13: the largest unit with its Li); the smallest
    |x_realised - x| wins, then the closest P2S6 fraction, then the fewest atoms.

    Raises
    ------
    StructureError
        For a P2S6 fraction too large for ``x``, or no composition within the atom limits.
    """
    x = float(x_Li2S_mol_pct)
    f = float(p2s6_fraction)
    r = x / (100.0 - x)
    r_base = (r - 2.0 * f) / (1.0 - f)
    if r_base < 1.0:
        raise StructureError(
            f"p2s6_fraction = {f} is too large for x = {x}: the rest of the P cannot reach Li/P = "
            f"{r:.3f}; use p2s6_fraction <= {(r - 1.0):.3f}", key="p2s6_fraction")
    ka, kb = _base_pair(r_base)
    ta, tb, t6 = anion_template(ka), anion_template(kb), anion_template(AnionKind.P2S6)
    hi = int(1.05 * n_atoms_target) + 13
    na, nb = np.meshgrid(np.arange(hi // ta.n_atoms_with_li + 2), np.arange(hi // tb.n_atoms_with_li + 2),
                         indexing="ij")
    na, nb = na.ravel(), nb.ravel()
    p_base = na * ta.n_p + nb * tb.n_p
    n6 = np.rint(f / (1.0 - f) * p_base / 2.0).astype(int) if f > 0 else np.zeros_like(na)
    li = na * ta.n_li + nb * tb.n_li + n6 * t6.n_li
    p = p_base + 2 * n6
    atoms = na * ta.n_atoms_with_li + nb * tb.n_atoms_with_li + n6 * t6.n_atoms_with_li
    ok = (atoms >= n_atoms_target) & (atoms <= hi) & (p > 0)
    if not ok.any():
        raise StructureError(f"no composition with {n_atoms_target}-{hi} atoms for x = {x}", key="min_atoms")
    x_r = np.where(p > 0, 100.0 * li / np.maximum(li + p, 1), 0.0)
    f_r = np.where(p > 0, 2.0 * n6 / np.maximum(p, 1), 0.0)
    order = np.lexsort((atoms, np.round(np.abs(f_r - f), 9), np.round(np.abs(x_r - x), 9), ~ok))
    k = order[0]
    counts = {kind: 0 for kind in AnionKind}
    counts[ka] += int(na[k])
    counts[kb] += int(nb[k])
    counts[AnionKind.P2S6] += int(n6[k])
    return GlassComposition(counts)


def _edge_A(mass_amu: float, density: float) -> float:
    return (mass_amu / (density / AMU_A3_TO_G_CM3)) ** (1.0 / 3.0)


def _dmin_table(d: MinDistances) -> np.ndarray:
    """3x3 table over (Li, P, S) of minimum distances."""
    t = d.table()
    out = np.zeros((3, 3))
    for a, ea in enumerate(_SPECIES):
        for b, eb in enumerate(_SPECIES):
            out[a, b] = t[tuple(sorted((ea, eb)))]
    return out


class _Packing:
    """Rigid anion units + Li points in an orthorhombic periodic box (builder internals).

    ``edge`` holds the three box lengths (Å); units are templates from
    :func:`~lpsens.structures.anions.anion_template` with centroids ``com`` (n_units, 3)
    and rotation matrices ``rot`` (n_units, 3, 3).
    """

    def __init__(self, kinds: list[AnionKind], edge_A):
        self.edge = np.broadcast_to(np.asarray(edge_A, float), (3,)).copy()
        self.kinds = list(kinds)
        body, owner, species = [], [], []
        for u, k in enumerate(self.kinds):
            t = anion_template(k)
            body.append(t.positions_A)
            owner += [u] * len(t.symbols)
            species += [_SPECIES.index(s) for s in t.symbols]
        self.body = np.vstack(body)
        self.owner = np.array(owner)
        self.anion_species = np.array(species)
        self.n_units = len(self.kinds)
        self.n_per_unit = np.bincount(self.owner, minlength=self.n_units).astype(float)
        self.com = np.zeros((self.n_units, 3))
        self.rot = np.tile(np.eye(3), (self.n_units, 1, 1))
        self.li = np.zeros((0, 3))

    def anion_positions(self) -> np.ndarray:
        return np.einsum("aij,aj->ai", self.rot[self.owner], self.body) + self.com[self.owner]

    def mic(self, d: np.ndarray) -> np.ndarray:
        return d - self.edge * np.round(d / self.edge)

    # -- step 1 -----------------------------------------------------------------------------
    def place_units(self, rng: np.random.Generator, dist: MinDistances, max_tries: int = 2000) -> None:
        table = _dmin_table(dist)
        placed_pos = np.zeros((0, 3))
        placed_sp = np.zeros(0, int)
        rotations = Rotation.random(self.n_units, random_state=rng).as_matrix()
        for u in range(self.n_units):
            sel = self.owner == u
            body = self.body[sel] @ rotations[u].T
            sp = self.anion_species[sel]
            need = table[sp][:, placed_sp]  # (n_u_atoms, n_placed)
            for _ in range(max_tries):
                centre = rng.uniform(0.0, self.edge, 3)
                pos = body + centre
                if placed_pos.size:
                    d = np.linalg.norm(self.mic(pos[:, None, :] - placed_pos[None]), axis=2)
                    if (d < need).any():
                        continue
                break
            else:
                raise StructureError(f"could not place anion unit {u + 1} of {self.n_units} "
                                     f"({self.kinds[u].value}) without overlap", key="glass")
            self.com[u] = centre
            self.rot[u] = rotations[u]
            placed_pos = np.vstack([placed_pos, pos])
            placed_sp = np.concatenate([placed_sp, sp])

    # -- step 2 -----------------------------------------------------------------------------
    def place_li(self, n_li: int, rng: np.random.Generator, dist: MinDistances) -> None:
        table = _dmin_table(dist)
        anion = np.mod(self.anion_positions(), self.edge)
        anion[anion >= self.edge] = 0.0
        tree = cKDTree(anion, boxsize=self.edge)
        r_max = max(table[0, 1], table[0, 2])
        sampler = qmc.Sobol(d=3, scramble=True, seed=rng)
        accepted: list[np.ndarray] = []
        for _ in range(16):
            cand = sampler.random_base2(m=max(10, math.ceil(math.log2(8 * n_li + 1)))) * self.edge
            near = tree.query_ball_point(cand, r_max)
            for c, nb in zip(cand, near, strict=True):
                if nb:
                    d = np.linalg.norm(self.mic(anion[nb] - c), axis=1)
                    if (d < table[0, self.anion_species[nb]]).any():
                        continue
                if accepted and (np.linalg.norm(self.mic(np.array(accepted) - c), axis=1) < table[0, 0]).any():
                    continue
                accepted.append(c)
                if len(accepted) == n_li:
                    self.li = np.array(accepted)
                    return
        raise StructureError(f"found sterically allowed sites for only {len(accepted)} of {n_li} Li",
                             key="glass")

    # -- step 3 -----------------------------------------------------------------------------
    def scale_to(self, edge_A) -> None:
        edge_A = np.broadcast_to(np.asarray(edge_A, float), (3,))
        s = edge_A / self.edge
        self.com *= s
        self.li *= s
        self.edge = edge_A.copy()

    def relax(self, dist: MinDistances, max_iter: int, tol_A: float = 0.01) -> float:
        """Push overlapping pairs apart; return the largest remaining overlap (Å)."""
        table = _dmin_table(dist)
        cutoff = table.max()
        n_an = len(self.owner)
        n_li = len(self.li)
        owner = np.concatenate([self.owner, self.n_units + np.arange(n_li)])
        species = np.concatenate([self.anion_species, np.zeros(n_li, int)])
        worst = np.inf
        for _ in range(max_iter):
            anion = self.anion_positions()
            pos = np.mod(np.vstack([anion, self.li]), self.edge)
            pos[pos >= self.edge] = 0.0  # mod of tiny negatives can round up to the edge
            pairs = cKDTree(pos, boxsize=self.edge).query_pairs(cutoff, output_type="ndarray")
            i, j = pairs[:, 0], pairs[:, 1]
            keep = owner[i] != owner[j]
            i, j = i[keep], j[keep]
            d = self.mic(pos[j] - pos[i])
            r = np.linalg.norm(d, axis=1)
            over = table[species[i], species[j]] - r
            hit = over > 0
            worst = float(over[hit].max()) if hit.any() else 0.0
            if worst < tol_A:
                return worst
            i, j, d, r, over = i[hit], j[hit], d[hit], r[hit], over[hit]
            push = 0.5 * (over + 0.5 * tol_A)[:, None] * d / r[:, None]
            disp = np.zeros((len(pos), 3))
            np.add.at(disp, i, -push)
            np.add.at(disp, j, push)
            # Li move as points (capped), units as rigid bodies
            step = disp[n_an:]
            norm = np.linalg.norm(step, axis=1, keepdims=True)
            self.li += step * np.minimum(1.0, 0.5 / np.maximum(norm, 1e-12))
            da = disp[:n_an]
            rel = anion - self.com[self.owner]
            force = np.zeros((self.n_units, 3))
            torque = np.zeros((self.n_units, 3))
            np.add.at(force, self.owner, da)
            np.add.at(torque, self.owner, np.cross(rel, da))
            inertia = np.bincount(self.owner, weights=(rel**2).sum(1), minlength=self.n_units)
            self.com += 1.5 * force / self.n_per_unit[:, None]
            omega = torque / np.maximum(inertia, 1e-12)[:, None]
            ang = np.linalg.norm(omega, axis=1, keepdims=True)
            omega *= np.minimum(1.0, 0.2 / np.maximum(ang, 1e-12))
            self.rot = Rotation.from_rotvec(omega).as_matrix() @ self.rot
        return worst

    def to_atoms(self) -> Atoms:
        anion = self.anion_positions()
        pos = np.vstack([self.li, anion])
        symbols = ["Li"] * len(self.li) + [_SPECIES[s] for s in self.anion_species]
        order = np.argsort([_SPECIES.index(s) for s in symbols], kind="stable")
        atoms = Atoms([symbols[k] for k in order], positions=pos[order], cell=self.edge, pbc=True)
        atoms.wrap()
        return atoms


def build_glass(x_Li2S_mol_pct: float, seed: int, *, min_atoms: int = 0, min_width_A: float = 0.0,
                p2s6_fraction: float = 0.0, density_g_cm3: float | None = None,
                max_atoms: int = MAX_ATOMS, max_attempts: int = 3) -> Atoms:
    """A glass model of xLi2S-(100-x)P2S5 in a cubic cell (see the module docstring).

    Parameters
    ----------
    x_Li2S_mol_pct
        Target composition, 50-80 mol% Li2S (67 is the paper's label for Li4P2S7, x = 66.67).
    seed
        Replica seed (>= 0); the same seed gives the same structure bit for bit.
    min_atoms
        Smallest number of atoms.
    min_width_A
        Smallest cell edge, Å (e.g. twice the potential cutoff).
    p2s6_fraction
        Fraction of P atoms in P2S6 4- units (0 <= f < 1).
    density_g_cm3
        Target density; default from :func:`glass_density_g_cm3`.
    max_attempts
        Independent packing attempts (seeded from ``seed``) before giving up.

    Returns
    -------
    ase.Atoms
        Atoms ordered Li, P, S; ``info`` records the composition, density and provenance.

    Raises
    ------
    StructureError
        For an x outside the glass range, impossible sizes, or no valid packing in ``max_attempts``.
    """
    lo, hi = GLASS_X_RANGE
    x = float(x_Li2S_mol_pct)
    if not math.isfinite(x) or not lo <= x <= hi:
        raise StructureError(f"x_Li2S_mol_pct = {x_Li2S_mol_pct!r} outside the glass range {lo}-{hi} mol%",
                             key="x_Li2S_mol_pct")
    x_requested = x
    x = PAPER_X_LABELS.get(round(x, 2), x)
    f = float(p2s6_fraction)
    if not math.isfinite(f) or not 0.0 <= f < 1.0:
        raise StructureError(f"p2s6_fraction = {p2s6_fraction!r} must be in [0, 1)", key="p2s6_fraction")
    if density_g_cm3 is None:
        density, density_source = glass_density_g_cm3(x)
    else:
        density, density_source = float(density_g_cm3), "given"
        if not math.isfinite(density) or not 0.5 <= density <= 5.0:
            raise StructureError(f"density_g_cm3 = {density_g_cm3!r} outside 0.5-5 g/cm3", key="density_g_cm3")

    target = max(int(min_atoms), 1)
    for _ in range(50):
        comp = solve_composition(x, target, f)
        edge = _edge_A(comp.mass_amu, density)
        if edge >= min_width_A - 1e-9:
            break
        target = math.ceil(comp.n_atoms * (min_width_A / edge) ** 3)
        if target > max_atoms:
            break
    if comp.n_atoms > max_atoms or target > max_atoms:
        raise StructureError(f"min_atoms = {min_atoms}, min_width_A = {min_width_A} need more than "
                             f"max_atoms = {max_atoms} atoms; lower them", key="min_width_A")
    if edge < MIN_GLASS_WIDTH_A:
        raise StructureError(
            f"min_atoms = {min_atoms}, min_width_A = {min_width_A} give a {edge:.2f} Å glass cell "
            f"({comp.n_atoms} atoms), below the smallest usable {MIN_GLASS_WIDTH_A} Å; "
            f"raise min_atoms (>= ~60) or min_width_A (>= {MIN_GLASS_WIDTH_A})", key="min_atoms")

    label = f"glass x={x_requested} seed={seed}"
    children = np.random.SeedSequence([int(seed), 3]).spawn(max_attempts)
    last_error = None
    for attempt, child in enumerate(children):
        rng = np.random.default_rng(child)
        try:
            atoms = _pack(comp, edge, rng)
            report = check_structure(atoms, label=label, expected_formula=comp.formula,
                                     expected_anion_counts=comp.anion_counts(),
                                     density_g_cm3_expected=density, min_width_A=min_width_A)
        except StructureError as exc:
            last_error = exc
            continue
        atoms.info.update(
            material="glass",
            seed=int(seed),
            x_Li2S_mol_pct_requested=x_requested,
            x_Li2S_mol_pct_target=x,
            x_Li2S_mol_pct_realised=comp.x_realised_mol_pct,
            anion_counts=comp.anion_counts(),
            p2s6_fraction_requested=f,
            p2s6_fraction_realised=comp.p2s6_fraction_realised,
            density_g_cm3=report.density_g_cm3,
            density_source=density_source,
            supercell_matrix=np.eye(3, dtype=int).tolist(),
            build_attempt=attempt,
            builder=("lpsens.structures.glass: random rigid anion units, scrambled-Sobol Li, "
                     f"geometric compression from {EXPANSION_VOLUME:g}x volume"),
        )
        return atoms
    raise StructureError(f"{label}: no valid packing in {max_attempts} attempts; last: {last_error.reason}",
                         key="glass")


def _pack(comp: GlassComposition, edge_A: float, rng: np.random.Generator) -> Atoms:
    kinds = [k for k in AnionKind for _ in range(comp.counts[k])]
    kinds.sort(key=lambda k: -len(anion_template(k).symbols))  # large units first: hardest to fit
    packing = _Packing(kinds, edge_A * EXPANSION_VOLUME ** (1.0 / 3.0))
    packing.place_units(rng, PLACEMENT_DISTANCES)
    return _fill_and_compress(packing, comp.n_li, edge_A, rng)


def _fill_and_compress(packing: _Packing, n_li: int, edge_A, rng: np.random.Generator) -> Atoms:
    """Steps 2 and 3: Sobol Li in the expanded box, then compress to ``edge_A`` with relaxation."""
    packing.place_li(n_li, rng, PLACEMENT_DISTANCES)
    edge0 = packing.edge.copy()
    edge1 = np.broadcast_to(np.asarray(edge_A, float), (3,))
    ratio = float((edge0 / edge1).max())
    n_steps = max(1, math.ceil(math.log(ratio) / -math.log(1.0 - COMPRESSION_STEP)))
    for t in np.linspace(0.0, 1.0, n_steps + 1)[1:]:
        packing.scale_to(edge0 * (edge1 / edge0) ** t)  # geometric steps per axis
        packing.relax(BUILD_DISTANCES, max_iter=60)
    packing.scale_to(edge1)
    worst = packing.relax(BUILD_DISTANCES, max_iter=2000)
    atoms = packing.to_atoms()
    atoms.info["relax_max_overlap_A"] = worst
    return atoms
