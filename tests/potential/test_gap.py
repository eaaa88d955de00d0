"""lpsens.potential: GAP validation before quippy sees a file, hashing, the calculator cache."""

from __future__ import annotations

import hashlib
import json
import shutil

import ase
import pytest

from lpsens.errors import PotentialError
from lpsens.potential import (
    _parse_species,
    check_species,
    clear_calculator_cache,
    demo_potential_path,
    inspect_potential,
    load_calculator,
)


@pytest.fixture
def gap_copy(tmp_path):
    dst = tmp_path / "gap.xml"
    shutil.copy(demo_potential_path(), dst)
    return dst


def test_demo_potential_is_bundled_and_described():
    info = inspect_potential(demo_potential_path())
    meta = json.loads(demo_potential_path().with_suffix(".json").read_text())
    assert info.label == meta["label"]
    assert info.symbols == tuple(sorted(meta["species"], key=lambda s: ase.data.atomic_numbers[s]))
    # No separate sparse files: the hash is the XML's own sha256.
    assert info.sha256 == hashlib.sha256(demo_potential_path().read_bytes()).hexdigest()
    assert inspect_potential(demo_potential_path(), info.label) == info


def test_missing_file_names_the_file_and_no_spec_key(tmp_path):
    with pytest.raises(PotentialError, match="not found") as exc:
        inspect_potential(tmp_path / "nope.xml")
    assert str(exc.value).startswith(str(tmp_path / "nope.xml") + ": GAP file not found")  # no key '...' prefix


def test_malformed_xml_is_caught_before_quippy(gap_copy):
    data = gap_copy.read_bytes()
    gap_copy.write_bytes(data[: len(data) // 2])
    with pytest.raises(PotentialError, match="well-formed"):
        inspect_potential(gap_copy)


def test_xml_that_is_not_a_gap(tmp_path):
    path = tmp_path / "other.xml"
    path.write_text("<root><thing/></root>")
    with pytest.raises(PotentialError, match="GAP_params"):
        inspect_potential(path)


def test_unknown_label_lists_the_labels(gap_copy):
    with pytest.raises(PotentialError, match="GAP_LPS_demo") as exc:
        inspect_potential(gap_copy, "GAP_nonexistent")
    assert "potential.label" in str(exc.value) and "--label" in str(exc.value)


def test_sparse_files_are_required_and_hashed(gap_copy):
    text = gap_copy.read_text()
    text = text.replace("<gpCoordinates ", '<gpCoordinates sparseX_filename="gap.xml.sparseX.1" ', 1)
    gap_copy.write_text(text)
    with pytest.raises(PotentialError, match="sparseX"):
        inspect_potential(gap_copy)
    sparse = gap_copy.parent / "gap.xml.sparseX.1"
    sparse.write_text("1.0\n2.0\n")
    first = inspect_potential(gap_copy).sha256
    sparse.write_text("1.0\n2.5\n")
    assert inspect_potential(gap_copy).sha256 != first


@pytest.mark.parametrize(
    "descriptor, expected",
    [
        ("distance_2b cutoff=5.0 Z1=3 Z2=16", {3, 16}),
        ("angle_3b cutoff=3.2 Z=15 Z1=3 Z2=16", {3, 15, 16}),
        ("soap cutoff=5 n_max=8 l_max=4 n_species=3 species_Z={3 15 16} Z=3", {3, 15, 16}),
        ("soap cutoff=5 species_Z=[3, 16] Z=16", {3, 16}),
    ],
)
def test_species_from_descriptor_strings(descriptor, expected):
    assert _parse_species(descriptor) == expected


def test_species_not_covered_are_listed():
    info = inspect_potential(demo_potential_path())
    check_species(info, [3, 15, 16, 16])
    with pytest.raises(PotentialError, match=r"Se \(Z=34\).*Na \(Z=11\)|Na \(Z=11\).*Se \(Z=34\)"):
        check_species(info, [3, 11, 34])


def test_calculator_is_cached_per_process():
    info = inspect_potential(demo_potential_path())
    assert load_calculator(info) is load_calculator(info)


def test_changed_file_is_not_loaded(gap_copy):
    info = inspect_potential(gap_copy)
    gap_copy.write_bytes(gap_copy.read_bytes() + b"\n<!-- edited -->\n")
    clear_calculator_cache()
    with pytest.raises(PotentialError, match="changed"):
        load_calculator(info)


def test_non_ascii_byte_is_refused_before_quippy_sees_it(tmp_path):
    from lpsens.errors import PotentialError
    from lpsens.potential import demo_potential_path, inspect_potential

    text = demo_potential_path().read_text()
    bad = tmp_path / "gap.xml"
    bad.write_text(text.replace("<GAP_params", "<!-- 2.06 Å apart -->\n<GAP_params", 1), encoding="utf-8")
    with pytest.raises(PotentialError, match="non-ASCII byte at line"):
        inspect_potential(bad)
