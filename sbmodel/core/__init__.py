"""Core data types shared by every stage: problem shapes, architectures, mappings."""

from .architecture import COMPUTE_ACTIONS, STORAGE_ACTIONS, Architecture, ComputeLevel, StorageLevel
from .mapping import LevelMapping, Loop, Mapping, covered_extent
from .problem import DataSpace, Problem, box_extent, box_size, conv_problem

__all__ = [
    "Architecture", "ComputeLevel", "StorageLevel", "STORAGE_ACTIONS", "COMPUTE_ACTIONS",
    "Loop", "LevelMapping", "Mapping", "covered_extent",
    "DataSpace", "Problem", "box_extent", "box_size", "conv_problem",
]
