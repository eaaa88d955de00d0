"""Per-trajectory analysis: Li diffusion and conductivity, S-S RDF, anion composition, Li accessible volume;
collective conductivity, anion rotations, Li jumps and transition temperatures (issue 13).

Classes follow the freud shape: parameters validated in the constructor, ``compute(reader)``
returns ``self``, results are properties with units in their names.
"""

from lpsens.analysis.arrhenius import ArrheniusFit
from lpsens.analysis.collective import CollectiveConductivity, CollectiveMSD, haven_ratio
from lpsens.analysis.composition import ANION_KEYS, AnionComposition, classify_frame
from lpsens.analysis.conductivity import NernstEinstein, nernst_einstein_S_cm
from lpsens.analysis.integrity import ChemistryIntegrity
from lpsens.analysis.jumps import LiJumps, Paddlewheel
from lpsens.analysis.msd import MSD, Diffusion, fft_msd_sum
from lpsens.analysis.pipeline import AnalyzeReport, analyze_job, analyze_project, analyze_trajectory
from lpsens.analysis.rdf import RDF, perpendicular_widths_A
from lpsens.analysis.reader import TrajectoryReader
from lpsens.analysis.rotations import AnionRotations
from lpsens.analysis.settings import AnalysisSettings
from lpsens.analysis.transition import BrokenArrhenius, RDFPeakTransition
from lpsens.analysis.volume import AccessibleVolume

__all__ = [
    "ANION_KEYS",
    "AccessibleVolume",
    "AnalysisSettings",
    "AnalyzeReport",
    "AnionComposition",
    "ChemistryIntegrity",
    "AnionRotations",
    "BrokenArrhenius",
    "CollectiveConductivity",
    "CollectiveMSD",
    "LiJumps",
    "Paddlewheel",
    "RDFPeakTransition",
    "haven_ratio",
    "ArrheniusFit",
    "Diffusion",
    "MSD",
    "NernstEinstein",
    "RDF",
    "TrajectoryReader",
    "analyze_job",
    "analyze_project",
    "analyze_trajectory",
    "classify_frame",
    "fft_msd_sum",
    "nernst_einstein_S_cm",
    "perpendicular_widths_A",
]
