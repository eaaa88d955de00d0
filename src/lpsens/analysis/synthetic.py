"""Synthetic trajectories with known answers, written in the documented ``lpsens-trajectory`` format.

Used by the tests and the benchmark, so the same reader that reads MD output is exercised.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import ase.io
import numpy as np

from lpsens.md.trajectory import THERMO_KEYS, TrajectoryWriter

__all__ = ["write_trajectory", "write_random_walk", "random_walk_positions", "crystal_positions", "SyntheticTrajectory",
           "correlated_pairs_positions", "tetrahedra_positions", "lattice_gas_positions", "few_hoppers_positions", "TETRAHEDRON",
           "STRUCTURES"]


class SyntheticTrajectory:
    """Append synthetic frames to a new ``trajectory.h5`` through the MD writer
    (:class:`lpsens.md.trajectory.TrajectoryWriter`), so the tests read exactly the MD layout.

    Parameters
    ----------
    path
        File to create (overwritten).
    cell
        Cell vectors as rows, Angstrom, shape (3, 3).
    numbers
        Atomic numbers, shape (n_atoms,).
    temperature_K, timestep_fs, sampling_interval_fs
        Root attributes; frames are ``sampling_interval_fs`` apart, thermo temperatures scatter
        1 % around ``temperature_K`` (seeded), the energies and the pressure are 0.
    frozen
        Frozen-atom mask, shape (n_atoms,); default none frozen.
    chunk_frames
        Frames per HDF5 chunk of /positions (chunks span all atoms, as an appending MD writer makes them).
    constraint
        Root attribute ``constraint``.
    """

    def __init__(self, path, cell, numbers, *, temperature_K=600.0, timestep_fs=2.0, sampling_interval_fs=100.0,
                 frozen=None, chunk_frames=1000, constraint="none"):
        numbers = np.asarray(numbers, dtype=np.int32)
        self._writer = TrajectoryWriter(path)
        self.path = self._writer.path
        self._dt_ps = sampling_interval_fs / 1000.0
        self._timestep_fs = timestep_fs
        self._temperature_K = float(temperature_K)
        self._rng = np.random.default_rng(0)
        self._n_frames = 0
        self._writer.create(
            numbers=numbers, cell=np.asarray(cell, dtype=np.float64),
            frozen=np.zeros(numbers.size, bool) if frozen is None else np.asarray(frozen, bool),
            attrs={"temperature_K": float(temperature_K), "timestep_fs": float(timestep_fs),
                   "sampling_interval_fs": float(sampling_interval_fs), "backend": "synthetic",
                   "potential_sha256": "", "lammps_version": "", "constraint": constraint},
            chunk_frames=chunk_frames)

    def __repr__(self) -> str:
        return f"SyntheticTrajectory({str(self.path)!r}, n_frames={self._n_frames})"

    def append(self, positions):
        """Append frames, shape (n_new, n_atoms, 3), Angstrom (unwrapped)."""
        positions = np.asarray(positions, dtype=np.float64)
        t = np.arange(self._n_frames, self._n_frames + positions.shape[0]) * self._dt_ps
        thermo = {key: np.zeros(t.size) for key in THERMO_KEYS}
        thermo["temperature_K"] = self._temperature_K * (1 + 0.01 * self._rng.standard_normal(t.size))
        step = np.rint(t * 1000.0 / self._timestep_fs).astype(np.int64)
        self._n_frames = self._writer.append(positions, t, step, thermo)

    def close(self, complete=True):
        self._writer.set_attrs(complete=bool(complete))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close(complete=exc[0] is None)


def write_trajectory(path, positions, cell, numbers, *, temperature_K=600.0, sampling_interval_fs=100.0,
                     frozen=None, chunk_frames=1000, **kw) -> Path:
    """Write a whole synthetic trajectory (positions shape (n_frames, n_atoms, 3), Angstrom) in one go."""
    tmp = Path(path).with_name(Path(path).name + ".tmp")
    with SyntheticTrajectory(tmp, cell, numbers, temperature_K=temperature_K, sampling_interval_fs=sampling_interval_fs,
                          frozen=frozen, chunk_frames=chunk_frames, **kw) as w:
        w.append(positions)
    os.replace(tmp, path)
    return Path(path)


def _brownian(rng, n_frames: int, n: int, D_A2_ps: float, dt_ps: float, cell) -> np.ndarray:
    """Brownian paths with diffusion coefficient ``D_A2_ps`` (Gaussian steps of variance
    ``2 D dt`` per axis) from uniform random starts in ``cell``; shape (n_frames, n, 3), Å."""
    start = rng.random((n, 3)) @ cell
    steps = rng.standard_normal((n_frames, n, 3)) * np.sqrt(2.0 * D_A2_ps * dt_ps)
    steps[0] = 0.0
    return start + np.cumsum(steps, axis=0)


def random_walk_positions(n_walkers, n_frames, *, D_A2_ps, dt_ps, cell, n_framework=0, framework_noise_A=0.1,
                          drift_A_ps=(0.0, 0.0, 0.0), seed=0):
    """Brownian walkers (Li) plus a vibrating framework, optionally all drifting together.

    Parameters
    ----------
    n_walkers
        Number of random walkers (atomic number 3).
    n_frames
        Frames, spaced ``dt_ps``.
    D_A2_ps
        Diffusion coefficient of the walkers, Angstrom^2/ps (each Cartesian step ~ N(0, 2 D dt)).
    cell
        Cell vectors as rows, Angstrom.
    n_framework
        Framework atoms (alternating P and S), vibrating around fixed sites with ``framework_noise_A``.
    drift_A_ps
        Uniform velocity (Angstrom/ps) added to every atom: a centre-of-mass drift.

    Returns
    -------
    positions : ndarray, shape (n_frames, n_walkers + n_framework, 3)
    numbers : ndarray, shape (n_walkers + n_framework,)
    """
    rng = np.random.default_rng(seed)
    cell = np.asarray(cell, float)
    walk = _brownian(rng, n_frames, n_walkers, D_A2_ps, dt_ps, cell)
    sites = rng.random((n_framework, 3)) @ cell
    frame = sites + framework_noise_A * rng.standard_normal((n_frames, n_framework, 3))
    pos = np.concatenate([walk, frame], axis=1)
    pos += np.arange(n_frames)[:, None, None] * dt_ps * np.asarray(drift_A_ps, float)
    numbers = np.array([3] * n_walkers + [15 if i % 2 == 0 else 16 for i in range(n_framework)], dtype=np.int32)
    return pos, numbers


def few_hoppers_positions(n_li, n_mobile, n_frames, *, dt_ps, hop_rate_per_ps, hop_length_A=2.5, vibration_A=0.15,
                          cell_A=24.0, seed=0):
    """Li of which only ``n_mobile`` hop: the few-hopper regime of small cells and low temperatures.

    Each mobile Li makes Poisson hops (rate ``hop_rate_per_ps``) of length ``hop_length_A`` in a
    random direction; every Li vibrates with Gaussian noise ``vibration_A`` around its site.

    Returns
    -------
    positions : ndarray, shape (n_frames, n_li, 3), Angstrom (unwrapped)
    numbers : ndarray, shape (n_li,), all 3
    D_true_A2_ps : float
        The tracer D averaged over all Li, ``(n_mobile / n_li) rate a^2 / 6``.
    """
    rng = np.random.default_rng(seed)
    sites = rng.random((n_li, 3)) * cell_A
    disp = np.zeros((n_frames, n_li, 3))
    for i in range(n_mobile):
        n_hops = min(rng.poisson(hop_rate_per_ps * dt_ps * (n_frames - 1)), n_frames - 1)
        frames = rng.choice(np.arange(1, n_frames), size=n_hops, replace=False)  # at most one hop per frame
        v = rng.standard_normal((n_hops, 3))
        v *= hop_length_A / np.linalg.norm(v, axis=1)[:, None]
        steps = np.zeros((n_frames, 3))
        steps[frames] = v
        disp[:, i] = np.cumsum(steps, axis=0)
    pos = sites + disp + vibration_A * rng.standard_normal((n_frames, n_li, 3))
    D_true = n_mobile / n_li * hop_rate_per_ps * hop_length_A**2 / 6.0
    return pos, np.full(n_li, 3, dtype=np.int32), float(D_true)


def crystal_positions(cif, n_frames, *, repeat=(1, 1, 1), noise_A=0.05, shift_images=True, seed=0):
    """Frames of a crystal with Gaussian thermal noise; each atom is displaced by a random lattice
    vector per frame when ``shift_images`` so that unwrapped positions lie outside the cell.

    Returns
    -------
    positions : ndarray, shape (n_frames, n_atoms, 3)
    cell : ndarray, shape (3, 3)
    numbers : ndarray, shape (n_atoms,)
    """
    atoms = ase.io.read(cif)
    atoms = atoms.repeat(repeat)
    rng = np.random.default_rng(seed)
    base = atoms.get_positions()
    cell = np.asarray(atoms.cell[:])
    pos = base + noise_A * rng.standard_normal((n_frames, len(atoms), 3))
    if shift_images:
        pos += rng.integers(-2, 3, size=(n_frames, len(atoms), 3)) @ cell
    return pos, cell, atoms.get_atomic_numbers()


STRUCTURES = Path(__file__).resolve().parents[1] / "data" / "structures"


def write_random_walk(path, *, D_A2_ps=0.5, n_walkers=64, n_frames=8000, dt_ps=0.1, drift_A_ps=(0.0, 0.0, 0.0),
                      seed=0, n_framework=40, cell=((15.0, 0, 0), (0, 16.0, 0), (0, 0, 17.0)), chunk_frames=1000,
                      temperature_K=600.0) -> Path:
    """Random walkers with a known D plus a vibrating P/S framework, written as a trajectory file."""
    pos, num = random_walk_positions(n_walkers, n_frames, D_A2_ps=D_A2_ps, dt_ps=dt_ps, cell=cell,
                                     n_framework=n_framework, drift_A_ps=drift_A_ps, seed=seed)
    return write_trajectory(path, pos, cell, num, temperature_K=temperature_K, sampling_interval_fs=dt_ps * 1000,
                            chunk_frames=chunk_frames)


# ------------------------------------------------------------------ dynamics generators (issue 13)
def correlated_pairs_positions(n_pairs, n_frames, *, D_A2_ps, dt_ps, cell, offset_A=2.5, noise_A=0.0,
                               n_framework=0, seed=0):
    """Li in rigidly correlated pairs: both ions of a pair make the same Brownian steps.

    The tracer D is ``D_A2_ps``; the centre of charge moves with ``D_sigma = 2 D`` (each pair carries
    twice the charge), so the Haven ratio is exactly 0.5.

    Returns
    -------
    positions : ndarray, shape (n_frames, 2 n_pairs + n_framework, 3), Angstrom
    numbers : ndarray, shape (2 n_pairs + n_framework,)
    """
    rng = np.random.default_rng(seed)
    cell = np.asarray(cell, float)
    walk = _brownian(rng, n_frames, n_pairs, D_A2_ps, dt_ps, cell)
    li = np.concatenate([walk, walk + np.array([offset_A, 0.0, 0.0])], axis=1)
    li += noise_A * rng.standard_normal(li.shape)
    sites = rng.random((n_framework, 3)) @ cell
    frame = sites + 0.05 * rng.standard_normal((n_frames, n_framework, 3))
    numbers = np.array([3] * (2 * n_pairs) + [15 if i % 2 == 0 else 16 for i in range(n_framework)], dtype=np.int32)
    return np.concatenate([li, frame], axis=1), numbers


#: unit vectors to the vertices of a regular tetrahedron; its C2 axes are x, y and z
TETRAHEDRON = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], float) / np.sqrt(3.0)
_C2 = np.array([np.diag([1.0, -1.0, -1.0]), np.diag([-1.0, 1.0, -1.0]), np.diag([-1.0, -1.0, 1.0])])


def tetrahedra_positions(n_tetrahedra, n_frames, *, dt_ps, cell, rotational_D_per_ps=0.0, flip_rate_per_ps=0.0,
                         bond_A=2.05, noise_A=0.0, n_li=0, li_hop_rate_per_ps=0.0, li_hop_A=3.0, extra_flips=(), seed=0):
    """Rigid PS4 tetrahedra on fixed centres under rotational diffusion and/or Poisson 180-degree flips.

    Rotational diffusion with constant ``D_r`` gives ``C1(t) = exp(-2 D_r t)`` (tau1 = 1/(2 D_r)).
    A flip is a 180-degree turn about one of the three body C2 axes (chosen at random): every P-S bond
    moves to another vertex (109.5 degrees), so each flip is one large re-orientation of the anion, and
    with flips alone ``C1(t) = exp(-4 k t / 3)``. Optional Li ions hop between sites (random direction,
    distance ``li_hop_A``) at Poisson rate ``li_hop_rate_per_ps``, independent of the anions;
    ``extra_flips`` (pairs ``(frame, tetrahedron)``) adds flips at chosen frames (to build coupling).

    Returns
    -------
    positions : ndarray, shape (n_frames, n_li + 5 n_tetrahedra, 3), Angstrom (Li first, then P S S S S per anion)
    numbers : ndarray
    flips : int
        Number of flips made in total (the ground truth of the flip count).
    """
    from scipy.spatial.transform import Rotation

    rng = np.random.default_rng(seed)
    cell = np.asarray(cell, float)
    n_side = int(np.ceil(n_tetrahedra ** (1 / 3)))
    grid = np.array([(i, j, k) for i in range(n_side) for j in range(n_side) for k in range(n_side)][:n_tetrahedra])
    centres = (grid + 0.5) / n_side @ cell
    R = Rotation.random(n_tetrahedra, random_state=rng.integers(2**31)).as_matrix()
    out = np.empty((n_frames, n_tetrahedra, 5, 3))
    sd = math.sqrt(2.0 * rotational_D_per_ps * dt_ps)
    p_flip = -math.expm1(-flip_rate_per_ps * dt_ps)
    li_seed = int(rng.integers(2**31))  # drawn first: the Li walk does not depend on the flips
    forced_rng = np.random.default_rng(seed + 1)
    flips = 0
    forced = {}
    for frame, k in extra_flips:
        forced.setdefault(int(frame), []).append(int(k))
    for f in range(n_frames):
        if f:
            if sd > 0:
                R = Rotation.from_rotvec(sd * rng.standard_normal((n_tetrahedra, 3))).as_matrix() @ R
            if p_flip > 0:
                hit = np.flatnonzero(rng.random(n_tetrahedra) < p_flip)
                if hit.size:
                    R[hit] = R[hit] @ _C2[rng.integers(0, 3, hit.size)]
                    flips += hit.size
            for k in forced.get(f, ()):
                R[k] = R[k] @ _C2[forced_rng.integers(0, 3)]
                flips += 1
        out[f, :, 0] = centres
        out[f, :, 1:] = centres[:, None, :] + bond_A * np.einsum("nij,kj->nki", R, TETRAHEDRON)
    if noise_A:
        out += noise_A * rng.standard_normal(out.shape)
    pos = out.reshape(n_frames, 5 * n_tetrahedra, 3)
    numbers = np.array([15, 16, 16, 16, 16] * n_tetrahedra, dtype=np.int32)
    if n_li:
        li = lattice_gas_positions(n_li, n_frames, hop_rate_per_ps=li_hop_rate_per_ps, dt_ps=dt_ps, cell=cell,
                                   spacing_A=li_hop_A, noise_A=noise_A, seed=li_seed)[0]
        pos = np.concatenate([li, pos], axis=1)
        numbers = np.concatenate([np.full(n_li, 3, np.int32), numbers])
    return pos, numbers, flips


def lattice_gas_positions(n_li, n_frames, *, hop_rate_per_ps, dt_ps, cell, spacing_A=3.0, noise_A=0.1, seed=0):
    """Li hopping on a simple-cubic lattice (no site exclusion) at a known Poisson rate per ion.

    Each hop goes to one of the 6 nearest sites; the tracer D is ``rate * spacing^2 / 6``.

    Returns
    -------
    positions : ndarray, shape (n_frames, n_li, 3), Angstrom (unwrapped, with Gaussian vibration ``noise_A``)
    numbers : ndarray, shape (n_li,)
    n_hops : int
        Number of hops made (ground truth).
    """
    rng = np.random.default_rng(seed)
    cell = np.asarray(cell, float)
    p = -math.expm1(-hop_rate_per_ps * dt_ps)
    hops = rng.random((n_frames, n_li)) < p
    hops[0] = False
    dirs = np.concatenate([np.eye(3), -np.eye(3)])[rng.integers(0, 6, (n_frames, n_li))] * spacing_A
    steps = np.where(hops[..., None], dirs, 0.0)
    start = np.round(rng.random((n_li, 3)) @ cell / spacing_A) * spacing_A
    pos = start + np.cumsum(steps, axis=0) + noise_A * rng.standard_normal((n_frames, n_li, 3))
    return pos, np.full(n_li, 3, np.int32), int(hops.sum())
