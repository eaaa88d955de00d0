"""Packing many MD tasks into one MPI allocation: scheduler (pure), claims, journal, launcher."""

from lpsens.launch.launcher import LaunchReport, launch
from lpsens.launch.options import Dispatch, LaunchOptions
from lpsens.launch.scheduler import CostModel, Scheduler, TaskCost

__all__ = ["CostModel", "Dispatch", "LaunchOptions", "LaunchReport", "Scheduler", "TaskCost", "launch"]
