"""Initial structures: crystal supercells from bundled CIFs and glass models, per state point and seed.

``build_structure(material, x_Li2S_mol_pct, seed, min_atoms=..., min_width_A=...)`` is the entry
point; see docs/structures.md for the protocols and their sources.
"""

from lpsens.structures.anions import AnionKind, anion_template
from lpsens.structures.builder import MATERIALS, build_crystal, build_structure
from lpsens.structures.checks import (
    MinDistances,
    StructureReport,
    check_structure,
    density_g_cm3,
    formal_charge_e,
)
from lpsens.structures.crystals import CRYSTAL_PHASES, choose_supercell, read_cif
from lpsens.structures.glass import (
    GlassComposition,
    build_glass,
    glass_density_g_cm3,
    solve_composition,
)
from lpsens.vocabulary import Material

__all__ = [
    "CRYSTAL_PHASES",
    "MATERIALS",
    "AnionKind",
    "GlassComposition",
    "Material",
    "MinDistances",
    "StructureReport",
    "anion_template",
    "build_crystal",
    "build_glass",
    "build_structure",
    "check_structure",
    "choose_supercell",
    "density_g_cm3",
    "formal_charge_e",
    "glass_density_g_cm3",
    "read_cif",
    "solve_composition",
]
