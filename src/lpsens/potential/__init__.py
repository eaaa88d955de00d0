"""Interatomic potentials: GAP XML files (validation, hashing, quippy) and compiled UF3 files.

``lpsens.potential.gap`` validates GAP XML files before quippy sees them;
``lpsens.potential.uf3`` reads, writes and validates the tabulated UF3 files that LAMMPS'
``pair_style uf3`` evaluates. Everything public is re-exported here.
"""

from lpsens.potential.gap import (
    PotentialInfo,
    _parse_species,
    check_species,
    clear_calculator_cache,
    demo_potential_path,
    demo_uf3_path,
    inspect_potential,
    load_calculator,
)
from lpsens.potential.uf3 import (
    UF3Info,
    UF3Pair,
    UF3Triplet,
    check_uf3_matches_gap,
    inspect_uf3,
    read_uf3,
    sidecar_path,
    write_uf3,
)

__all__ = [
    "PotentialInfo",
    "demo_potential_path",
    "demo_uf3_path",
    "inspect_potential",
    "check_species",
    "load_calculator",
    "clear_calculator_cache",
    "UF3Info",
    "UF3Pair",
    "UF3Triplet",
    "read_uf3",
    "write_uf3",
    "inspect_uf3",
    "check_uf3_matches_gap",
    "sidecar_path",
]
# _parse_species stays importable for the existing tests; it is not public API.
_ = _parse_species
