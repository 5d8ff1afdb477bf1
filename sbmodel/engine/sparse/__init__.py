"""The sparse stage: density models, representation formats, gating/skipping (Sparseloop's rules).

:func:`sparse_counts` rewrites the dense stage's counts into actual, gated and
skipped actions plus metadata traffic; :mod:`.spec` holds its input types,
:mod:`.density` the density models (fixed-structured, hypergeometric, and
exact statistics of real masks), :mod:`.formats` the per-rank formats.
"""

from .density import ActualData, DensityModel, FixedStructured, Hypergeometric, Tile, load_mask
from .spec import (ActionOptimization, ComputeOptimization, Densities, LevelSparse, RankFormat, SparseSpec,
                   TensorFormat)
from .stage import sparse_counts

__all__ = ["sparse_counts", "SparseSpec", "LevelSparse", "TensorFormat", "RankFormat", "ActionOptimization",
           "ComputeOptimization", "Densities", "DensityModel", "FixedStructured", "Hypergeometric", "ActualData",
           "Tile", "load_mask"]
