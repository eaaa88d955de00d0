"""UF3 files: the tabulated 2-body + 3-body potentials LAMMPS' ``pair_style uf3`` evaluates.

A compiled GAP lives in two files written together: ``OUT.uf3`` (the unified UF3 file, read by
LAMMPS) and ``OUT.uf3.json`` (the sidecar: which GAP it came from, the per-element energies
``e0_eV`` that ``pair_style uf3`` cannot carry, and the measured fidelity).

Format of the unified file (LAMMPS ``src/ML-UF3/pair_uf3.cpp``, ``uf3_read_unified_pot_file``;
example ``lammps/share/lammps/potentials/Nb.uf3``). Every block starts with a header line
``#UF3 POT UNITS: metal ...`` and ends with a ``#`` line::

    2B A B 0 3 nk                      leading trim 0, trailing trim 3, knot type
    CUTOFF N_KNOTS
    knot_0 ... knot_{N_KNOTS-1}
    N_COEFF                            N_KNOTS = N_COEFF + 4 (cubic B-splines)
    c_0 ... c_{N_COEFF-1}

    3B I J K 0 3 nk                    I is the centre atom
    CUT_JK CUT_IJ CUT_IK N_KNOTS_JK N_KNOTS_IK N_KNOTS_IJ
    knots along r_jk
    knots along r_ik
    knots along r_ij
    N_IJ N_IK N_JK                     coefficient shape; N_KNOTS_X = N_X + 4
    N_IJ * N_IK lines of N_JK values   c[l, m, n] multiplies B_l(r_ij) B_m(r_ik) B_n(r_jk)

pair_uf3 sums V2 over ORDERED pairs (a dimer has E = 2 V2(r)) and V3 over each centre I and
each UNORDERED neighbour pair {J, K} once; a 3-body term is skipped when a distance is below its
first knot or r_ij/r_ik beyond the cutoff. LAMMPS requires CUT_IJ == CUT_IK and CUT_JK == 2 * CUT_IJ, and one ``3B I J K`` block also
defines ``I K J`` (with the first two coefficient axes swapped). LAMMPS aborts the whole process
on a bad file, so everything is checked here first.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lpsens.errors import PotentialError

__all__ = [
    "UF3Pair",
    "UF3Triplet",
    "UF3Info",
    "read_uf3",
    "format_uf3",
    "write_uf3",
    "inspect_uf3",
    "check_uf3_matches_gap",
    "sidecar_path",
    "SIDECAR_FORMAT",
]

LEADING_TRIM = 0
TRAILING_TRIM = 3
SIDECAR_FORMAT = "lpsens-uf3-sidecar/1"
#: pair_uf3 reads the file with LAMMPS' TextFileReader, whose line buffer is 1024 characters; a
#: longer line (e.g. ~50 coefficients at full precision) makes LAMMPS hang while reading.
MAX_LINE_CHARS = 1000
# Keys every sidecar must have (compile writes more: knot grids, fidelity, lpsens version).
_SIDECAR_KEYS = ("format", "gap_sha256", "gap_label", "uf3_sha256", "species", "e0_eV")
_RECOMPILE = "recompile it with `lpsens potential compile GAP.xml -o {out}`"


@dataclass(frozen=True, eq=False)
class UF3Pair:
    """One ``2B`` block: V2(r) = sum_n c_n B_n(r), cubic B-splines on ``knots_A``.

    LAMMPS counts V2 once per ordered pair, so a pair of atoms contributes 2 V2(r).

    Attributes
    ----------
    elements
        The two element symbols (order irrelevant).
    knots_A
        Knot vector in Å, shape (n_coefficients + 4,), non-decreasing.
    coefficients_eV
        Spline coefficients in eV, shape (n_coefficients,); the last three are 0 in files
        written by lpsens so that V2 and its first two derivatives vanish at the cutoff.
    """

    elements: tuple[str, str]
    knots_A: np.ndarray
    coefficients_eV: np.ndarray

    @property
    def cutoff_A(self) -> float:
        return float(self.knots_A[-1])

    def energy_eV(self, r_A):
        """V2 at distances ``r_A`` (any shape, Å); 0 outside [first knot, cutoff)."""
        from scipy.interpolate import BSpline

        r = np.asarray(r_A, dtype=float)
        values = BSpline(self.knots_A, self.coefficients_eV, 3, extrapolate=False)(r)
        return np.nan_to_num(values, nan=0.0)


@dataclass(frozen=True, eq=False)
class UF3Triplet:
    """One ``3B`` block for centre ``elements[0]`` and neighbours ``elements[1]``, ``elements[2]``.

    Attributes
    ----------
    elements
        (centre I, neighbour J, neighbour K).
    knots_ij_A, knots_ik_A, knots_jk_A
        Knot vectors in Å along r_ij, r_ik, r_jk; the last knots are the cutoffs, with
        cutoff_jk = 2 * cutoff_ij = 2 * cutoff_ik.
    coefficients_eV
        Shape (len(knots_ij_A) - 4, len(knots_ik_A) - 4, len(knots_jk_A) - 4), in eV.
    """

    elements: tuple[str, str, str]
    knots_ij_A: np.ndarray
    knots_ik_A: np.ndarray
    knots_jk_A: np.ndarray
    coefficients_eV: np.ndarray

    @property
    def cutoff_A(self) -> float:
        """The r_ij (= r_ik) cutoff in Å."""
        return float(self.knots_ij_A[-1])

    def energy_eV(self, r_ij_A, r_ik_A, r_jk_A):
        """V3 at matching arrays of distances (Å); 0 outside the knot ranges."""
        from scipy.interpolate import BSpline

        def basis(knots, r):
            n = len(knots) - 4
            r = np.asarray(r, dtype=float)
            out = np.empty(r.shape + (n,))
            for i in range(n):
                coeff = np.zeros(n)
                coeff[i] = 1.0
                out[..., i] = np.nan_to_num(BSpline(knots, coeff, 3, extrapolate=False)(r), nan=0.0)
            return out

        b_ij = basis(self.knots_ij_A, r_ij_A)
        b_ik = basis(self.knots_ik_A, r_ik_A)
        b_jk = basis(self.knots_jk_A, r_jk_A)
        return np.einsum("...l,...m,...n,lmn->...", b_ij, b_ik, b_jk, self.coefficients_eV)


@dataclass(frozen=True)
class UF3Info:
    """A validated UF3 file and its sidecar.

    Attributes
    ----------
    path
        Absolute path of the ``.uf3`` file.
    sha256
        Hex digest of the ``.uf3`` file.
    species
        Element symbols checked to be fully covered (every 2B pair, and every 3B centre/pair
        when the file has 3B blocks), in the order asked for.
    gap_sha256, gap_label
        The source GAP (``inspect_potential(...).sha256`` and label), from the sidecar.
    cutoff_2b_A
        Largest 2B cutoff in Å.
    cutoff_3b_A
        Largest 3B r_ij cutoff in Å (0.0 for a 2-body-only file).
    body_order
        3 when the file has 3B blocks, else 2 (the argument of ``pair_style uf3``).
    sidecar
        The sidecar JSON as a dict.
    """

    path: Path
    sha256: str
    species: tuple[str, ...]
    gap_sha256: str
    gap_label: str
    cutoff_2b_A: float
    cutoff_3b_A: float
    body_order: int = 3
    sidecar: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def e0_eV(self) -> dict[str, float]:
        """Per-element energy (eV) the GAP adds per atom; ``pair_style uf3`` has no one-body term,
        so whoever runs the file adds sum_i e0[species_i] to the potential energy."""
        return {str(k): float(v) for k, v in self.sidecar["e0_eV"].items()}

    def lammps_commands(self, type_symbols=None) -> list[str]:
        """``pair_style``/``pair_coeff`` lines for LAMMPS atom types 1..n = ``type_symbols``."""
        symbols = tuple(type_symbols or self.species)
        return [f"pair_style uf3 {self.body_order}", f'pair_coeff * * "{self.path}" {" ".join(symbols)}']


def sidecar_path(path) -> Path:
    """The sidecar of ``OUT.uf3``: ``OUT.uf3.json``."""
    path = Path(path)
    return path.with_name(path.name + ".json")


# --------------------------------------------------------------------------------------- reading


class _Lines:
    """Line cursor that turns running out of lines into one clear error."""

    def __init__(self, text: str, path: Path):
        self.lines = text.splitlines()
        self.pos = 0
        self.path = path

    def next(self, block: str) -> tuple[int, list[str]]:
        if self.pos >= len(self.lines):
            raise PotentialError(
                f"file ends inside the {block} block (truncated); " + _RECOMPILE.format(out=self.path),
                file=self.path,
            )
        self.pos += 1
        return self.pos, self.lines[self.pos - 1].split()


def _numbers(tokens, count, kind, lineno, block, path):
    if count is not None and len(tokens) != count:
        raise PotentialError(
            f"line {lineno}: expected {count} numbers, found {len(tokens)} (truncated or garbled file); "
            + _RECOMPILE.format(out=path),
            file=path,
        )
    try:
        values = [kind(t) for t in tokens]
    except ValueError:
        raise PotentialError(
            f"line {lineno}: not a number in {' '.join(tokens[:6])[:60]!r} (garbled file); "
            + _RECOMPILE.format(out=path),
            file=path,
        ) from None
    if kind is float and not all(math.isfinite(v) for v in values):
        raise PotentialError(
            f"line {lineno}: non-finite value (nan/inf); " + _RECOMPILE.format(out=path), file=path
        )
    return values


def _knots(tokens, count, lineno, block, path) -> np.ndarray:
    knots = np.array(_numbers(tokens, count, float, lineno, block, path))
    if np.any(np.diff(knots) < 0):
        raise PotentialError(
            f"line {lineno}: knots are not in increasing order (garbled file); " + _RECOMPILE.format(out=path),
            file=path,
        )
    return knots


def read_uf3(path) -> tuple[dict[tuple[str, str], UF3Pair], dict[tuple[str, str, str], UF3Triplet]]:
    """Parse and check a unified UF3 file (no LAMMPS).

    Returns
    -------
    pairs
        ``{(A, B): UF3Pair}`` keyed by the symbols sorted alphabetically.
    triplets
        ``{(I, J, K): UF3Triplet}`` keyed by centre and the neighbour symbols sorted
        alphabetically (the block as written in the file is kept in the value).

    Raises
    ------
    PotentialError
        Missing/unreadable file, a block that is truncated or garbled, trims other than 0/3,
        units other than metal, 3B cutoffs that break cut_jk = 2 cut_ij = 2 cut_ik, or a block
        given twice. One line naming the file, the block and the fix.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise PotentialError(
            "UF3 file not found; give the path of an existing compiled file or "
            + _RECOMPILE.format(out=path),
            file=path,
        )
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise PotentialError(
            f"cannot read UF3 file ({exc.__class__.__name__}); " + _RECOMPILE.format(out=path),
            file=path,
        ) from None

    cur = _Lines(text, path)
    for i, line in enumerate(cur.lines, 1):
        if len(line) > MAX_LINE_CHARS:
            raise PotentialError(
                f"line {i} has {len(line)} characters; LAMMPS pair_uf3 reads at most {MAX_LINE_CHARS} per line "
                "and would hang; " + _RECOMPILE.format(out=path),
                file=path,
            )
    pairs: dict[tuple[str, str], UF3Pair] = {}
    triplets: dict[tuple[str, str, str], UF3Triplet] = {}
    while cur.pos < len(cur.lines):
        lineno, tokens = cur.next("header")
        line = cur.lines[lineno - 1]
        if not tokens or (line.lstrip().startswith("#") and "#UF3 POT" not in line):
            continue  # blank line or block separator
        if "#UF3 POT" not in line:
            raise PotentialError(
                f"line {lineno}: unexpected text outside a '#UF3 POT' block (garbled file); "
                + _RECOMPILE.format(out=path),
                file=path,
            )
        if "UNITS:" not in tokens or tokens.index("UNITS:") + 1 >= len(tokens) or (
            tokens[tokens.index("UNITS:") + 1] != "metal"
        ):
            raise PotentialError(
                f"line {lineno}: block header must say 'UNITS: metal' (lpsens runs LAMMPS in metal units); "
                + _RECOMPILE.format(out=path),
                file=path,
            )
        lineno, tokens = cur.next("block")
        kind = tokens[0] if tokens else ""
        n_elements = {"2B": 2, "3B": 3}.get(kind)
        if n_elements is None or len(tokens) != n_elements + 4:
            raise PotentialError(
                f"line {lineno}: expected '2B A B 0 3 nk' or '3B I J K 0 3 nk', found {' '.join(tokens)[:60]!r}; "
                + _RECOMPILE.format(out=path),
                file=path,
            )
        elements = tuple(tokens[1 : 1 + n_elements])
        block = f"{kind} {' '.join(elements)}"
        lead, trail = _numbers(tokens[1 + n_elements : 3 + n_elements], 2, int, lineno, block, path)
        if (lead, trail) != (LEADING_TRIM, TRAILING_TRIM) or tokens[-1] not in ("nk", "uk"):
            raise PotentialError(
                f"line {lineno}: LAMMPS pair_style uf3 needs leading trim 0, trailing trim 3 and knot type "
                f"nk or uk, found {' '.join(tokens[1 + n_elements:])!r}; " + _RECOMPILE.format(out=path),
                file=path,
            )
        if kind == "2B":
            key = tuple(sorted(elements))
            lineno, tokens = cur.next(block)
            if len(tokens) != 2:
                _numbers(tokens, 2, float, lineno, block, path)
            cutoff = _numbers(tokens[:1], 1, float, lineno, block, path)[0]
            n_knots = _numbers(tokens[1:], 1, int, lineno, block, path)[0]
            lineno, tokens = cur.next(block)
            knots = _knots(tokens, n_knots, lineno, block, path)
            lineno, tokens = cur.next(block)
            n_coeff = _numbers(tokens, 1, int, lineno, block, path)[0]
            lineno, tokens = cur.next(block)
            coeff = np.array(_numbers(tokens, n_coeff, float, lineno, block, path))
            if n_knots != n_coeff + 4 or not math.isclose(cutoff, knots[-1], rel_tol=1e-12):
                raise PotentialError(
                    f"inconsistent {block} block (knots {n_knots} != coefficients {n_coeff} + 4, or cutoff "
                    f"{cutoff} != last knot {knots[-1]}); " + _RECOMPILE.format(out=path),
                    file=path,
                )
            if key in pairs:
                raise PotentialError(
                    f"element pair {block} given twice; " + _RECOMPILE.format(out=path), file=path
                )
            pairs[key] = UF3Pair(elements=elements, knots_A=knots, coefficients_eV=coeff)
        else:
            key = (elements[0],) + tuple(sorted(elements[1:]))
            lineno, tokens = cur.next(block)
            cut_jk, cut_ij, cut_ik = _numbers(tokens[:3], 3, float, lineno, block, path)
            n_jk, n_ik, n_ij = _numbers(tokens[3:], 3, int, lineno, block, path)
            if cut_ij != cut_ik or not math.isclose(cut_jk, 2 * cut_ij, rel_tol=1e-12):
                raise PotentialError(
                    f"line {lineno}: LAMMPS needs cut_jk = 2 cut_ij = 2 cut_ik, found {cut_jk} {cut_ij} {cut_ik}; "
                    + _RECOMPILE.format(out=path),
                    file=path,
                )
            lineno, tokens = cur.next(block)
            knots_jk = _knots(tokens, n_jk, lineno, block, path)
            lineno, tokens = cur.next(block)
            knots_ik = _knots(tokens, n_ik, lineno, block, path)
            lineno, tokens = cur.next(block)
            knots_ij = _knots(tokens, n_ij, lineno, block, path)
            lineno, tokens = cur.next(block)
            d_ij, d_ik, d_jk = _numbers(tokens, 3, int, lineno, block, path)
            if (n_ij, n_ik, n_jk) != (d_ij + 4, d_ik + 4, d_jk + 4) or min(d_ij, d_ik, d_jk) < 1:
                raise PotentialError(
                    f"line {lineno}: coefficient shape {d_ij} {d_ik} {d_jk} does not fit knot counts "
                    f"{n_ij} {n_ik} {n_jk} (each must be 4 more); " + _RECOMPILE.format(out=path),
                    file=path,
                )
            rows = []
            for _ in range(d_ij * d_ik):
                lineno, tokens = cur.next(block)
                rows.append(_numbers(tokens, d_jk, float, lineno, block, path))
            coeff = np.array(rows).reshape(d_ij, d_ik, d_jk)
            if key in triplets:
                raise PotentialError(
                    f"centre/neighbour triplet {block} given twice; " + _RECOMPILE.format(out=path), file=path
                )
            triplets[key] = UF3Triplet(
                elements=elements, knots_ij_A=knots_ij, knots_ik_A=knots_ik, knots_jk_A=knots_jk, coefficients_eV=coeff
            )
    if not pairs:
        raise PotentialError(
            "no 2B block: not a UF3 potential file (or an empty/truncated one); " + _RECOMPILE.format(out=path),
            file=path,
        )
    return pairs, triplets


# --------------------------------------------------------------------------------------- writing


def _fmt(values) -> str:
    # 10 significant digits (relative 1e-10, far below any fidelity tolerance) keep lines short:
    # every line must stay below MAX_LINE_CHARS (see there).
    return " ".join(f"{float(v):.10g}" for v in np.ravel(values))


def format_uf3(pairs, triplets=(), *, author: str = "lpsens") -> str:
    """The text of a unified UF3 file for ``pairs`` (UF3Pair) and ``triplets`` (UF3Triplet).

    Raises
    ------
    PotentialError
        A block whose arrays do not have the shapes the format needs.
    """
    # No wall-clock date in the file: the same GAP must compile to the same bytes, because jobs
    # identify their compiled potential by its sha256 (the sidecar records when it was made).
    header = f"#UF3 POT UNITS: metal DATE: see-sidecar AUTHOR: {author} CITATION:"
    out: list[str] = []
    for pair in pairs:
        if len(pair.knots_A) != len(pair.coefficients_eV) + 4:
            raise PotentialError(f"2B {' '.join(pair.elements)} block needs len(knots) == len(coefficients) + 4")
        out += [
            header,
            f"2B {pair.elements[0]} {pair.elements[1]} {LEADING_TRIM} {TRAILING_TRIM} nk",
            f"{pair.cutoff_A!r} {len(pair.knots_A)}",
            _fmt(pair.knots_A),
            str(len(pair.coefficients_eV)),
            _fmt(pair.coefficients_eV),
            "#",
        ]
    for trip in triplets:
        c = np.asarray(trip.coefficients_eV, dtype=float)
        shape = (len(trip.knots_ij_A) - 4, len(trip.knots_ik_A) - 4, len(trip.knots_jk_A) - 4)
        if c.shape != shape or trip.knots_ij_A[-1] != trip.knots_ik_A[-1] or trip.knots_jk_A[-1] != 2 * trip.knots_ij_A[-1]:
            raise PotentialError(
                f"3B {' '.join(trip.elements)} block needs coefficients of shape {shape} and cut_jk = 2 cut_ij = 2 cut_ik",
            )
        cut = trip.cutoff_A
        out += [
            header,
            f"3B {' '.join(trip.elements)} {LEADING_TRIM} {TRAILING_TRIM} nk",
            f"{2 * cut!r} {cut!r} {cut!r} {len(trip.knots_jk_A)} {len(trip.knots_ik_A)} {len(trip.knots_ij_A)}",
            _fmt(trip.knots_jk_A),
            _fmt(trip.knots_ik_A),
            _fmt(trip.knots_ij_A),
            f"{shape[0]} {shape[1]} {shape[2]}",
        ]
        out += [_fmt(c[a, b]) for a, b in itertools.product(range(shape[0]), range(shape[1]))]
        out.append("#")
    for i, line in enumerate(out, 1):
        if len(line) > MAX_LINE_CHARS:
            raise PotentialError(
                f"line {i} of the UF3 file would have {len(line)} characters; pair_uf3 reads at most {MAX_LINE_CHARS} per line "
                "(use fewer knots: a larger knot spacing)",
            )
    return "\n".join(out) + "\n"


def write_uf3(path, pairs, triplets=(), sidecar: dict | None = None) -> Path:
    """Write ``path`` (UF3) and ``path.json`` (sidecar) atomically: temporary files, then renames.

    The sidecar records ``uf3_sha256``; a crash between the two renames leaves a pair whose
    hashes disagree, which :func:`inspect_uf3` refuses, so nothing half-written looks complete.

    Parameters
    ----------
    path
        Output ``.uf3`` path.
    pairs, triplets
        Blocks to write (see :func:`format_uf3`).
    sidecar
        Must contain ``gap_sha256``, ``gap_label``, ``species``, ``e0_eV``; ``format`` and
        ``uf3_sha256`` are filled in.

    Returns
    -------
    Path of the ``.uf3`` file.

    Raises
    ------
    PotentialError
        Sidecar without a required key, or a malformed block.
    """
    path = Path(path).expanduser()
    text = format_uf3(pairs, triplets)
    meta = dict(sidecar or {})
    meta["format"] = SIDECAR_FORMAT
    meta["uf3_sha256"] = hashlib.sha256(text.encode()).hexdigest()
    missing = [k for k in _SIDECAR_KEYS if k not in meta]
    if missing:
        raise PotentialError(f"sidecar lacks {', '.join(missing)}", file=sidecar_path(path))
    side = sidecar_path(path)
    tmp_uf3 = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp_side = side.with_name(f".{side.name}.{os.getpid()}.tmp")
    try:
        tmp_uf3.write_text(text)
        tmp_side.write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
        os.replace(tmp_uf3, path)
        os.replace(tmp_side, side)
    finally:
        for tmp in (tmp_uf3, tmp_side):
            tmp.unlink(missing_ok=True)
    return path


# --------------------------------------------------------------------------------------- checking


def inspect_uf3(path, species=("Li", "P", "S")) -> UF3Info:
    """Validate a compiled UF3 file and its sidecar without LAMMPS, and describe them.

    Parameters
    ----------
    path
        The ``.uf3`` file; its sidecar is ``path + ".json"``.
    species
        Element symbols the file must fully cover.

    Returns
    -------
    UF3Info

    Raises
    ------
    PotentialError
        Missing, truncated or garbled file; a 2B pair or (when the file has 3B blocks) a 3B
        centre/neighbour triplet of ``species`` missing; the sidecar missing, not JSON, lacking a
        key, for other species, or recording a different ``uf3_sha256`` than the file has.
    """
    path = Path(path).expanduser()
    pairs, triplets = read_uf3(path)
    species = tuple(species)
    recompile = _RECOMPILE.format(out=path)
    for a, b in itertools.combinations_with_replacement(species, 2):
        if tuple(sorted((a, b))) not in pairs:
            raise PotentialError(
                f"no 2B {a} {b} block for the element pair {a}-{b}; the file does not cover {', '.join(species)}; {recompile}",
                file=path,
            )
    if triplets:
        for centre in species:
            for j, k in itertools.combinations_with_replacement(species, 2):
                if (centre,) + tuple(sorted((j, k))) not in triplets:
                    raise PotentialError(
                        f"no 3B {centre} {j} {k} block (centre {centre}, neighbours {j}, {k}); {recompile}",
                        file=path,
                    )
    digest = hashlib.sha256(path.read_bytes()).hexdigest()

    side = sidecar_path(path)
    if not side.is_file():
        raise PotentialError(
            f"the sidecar {side.name} (which GAP the file came from, e0, fidelity) is missing; {recompile}",
            file=side,
        )
    try:
        meta = json.loads(side.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PotentialError(
            f"sidecar is not readable JSON ({exc.__class__.__name__}); {recompile}", file=side
        ) from None
    if not isinstance(meta, dict):
        raise PotentialError(f"sidecar is not a JSON object; {recompile}", file=side)
    missing = [k for k in _SIDECAR_KEYS if k not in meta]
    if missing:
        raise PotentialError(f"sidecar lacks the key(s) {', '.join(missing)}; {recompile}", file=side)
    if meta["format"] != SIDECAR_FORMAT:
        raise PotentialError(
            f"sidecar format {meta['format']!r} is not {SIDECAR_FORMAT!r}; {recompile}", file=side
        )
    if meta["uf3_sha256"] != digest:
        raise PotentialError(
            f"the .uf3 file does not match its sidecar (sha256 {digest[:12]} != uf3_sha256 "
            f"{str(meta['uf3_sha256'])[:12]}): one was changed or a write was interrupted; {recompile}",
            file=side,
        )
    e0 = meta["e0_eV"]
    if not isinstance(e0, dict) or any(s not in e0 for s in species):
        raise PotentialError(
            f"sidecar e0_eV must give the energy of each of {', '.join(species)}; {recompile}", file=side
        )
    absent = [s for s in species if s not in meta["species"]]
    if absent:
        raise PotentialError(
            f"compiled for {', '.join(map(str, meta['species']))} (sidecar species), not for {', '.join(absent)}; {recompile}",
            file=side,
        )

    return UF3Info(
        path=path.resolve(),
        sha256=digest,
        species=species,
        gap_sha256=str(meta["gap_sha256"]),
        gap_label=str(meta["gap_label"]),
        cutoff_2b_A=max(p.cutoff_A for p in pairs.values()),
        cutoff_3b_A=max((t.cutoff_A for t in triplets.values()), default=0.0),
        body_order=3 if triplets else 2,
        sidecar=meta,
    )


def check_uf3_matches_gap(uf3_info: UF3Info, gap_sha256: str) -> None:
    """Raise :class:`PotentialError` unless the UF3 file was compiled from the GAP with ``gap_sha256``.

    Parameters
    ----------
    uf3_info
        From :func:`inspect_uf3`.
    gap_sha256
        ``inspect_potential(gap).sha256`` of the GAP the campaign names.

    Raises
    ------
    PotentialError
        If the compiled file's sidecar names another GAP (sha256).
    """
    if uf3_info.gap_sha256 != gap_sha256:
        raise PotentialError(
            f"compiled from another GAP (sidecar gap_sha256 {uf3_info.gap_sha256[:12]} != GAP sha256 "
            f"{gap_sha256[:12]}); recompile with `lpsens potential compile GAP.xml -o {uf3_info.path}`",
            file=sidecar_path(uf3_info.path),
        )
