"""Core data types shared by every stage: problem shapes, architectures, mappings."""

from .architecture import (COMPUTE_ACTIONS, COMPUTE_STYLES, STORAGE_ACTIONS, Architecture, ComputeLevel, ComputeStyle,
                           StorageLevel)
from .mapping import LevelMapping, Loop, Mapping, covered_extent
from .problem import DataSpace, Problem, box_extent, box_size, conv_problem
from .weights import WeightProfile

__all__ = [
    "Architecture", "ComputeLevel", "ComputeStyle", "COMPUTE_STYLES", "StorageLevel", "STORAGE_ACTIONS", "COMPUTE_ACTIONS",
    "Loop", "LevelMapping", "Mapping", "covered_extent",
    "DataSpace", "Problem", "box_extent", "box_size", "conv_problem", "WeightProfile",
]
