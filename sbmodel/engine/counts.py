"""Action counts: the typed hand-off between the analysis stages.

The dense stage fills :class:`LayerCounts` with per-instance reads, fills and
updates of every tensor at every level and the compute count; the sparse
stage rewrites the action mix (actual / gated / skipped accesses, metadata),
the repetition stage rewrites the compute mix (adds, multiplies).  Cycles and
energy are computed from the final counts only, so each later stage changes
numbers without touching the stages around it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from math import prod
from typing import Mapping

from ..core.architecture import Architecture
from ..core.mapping import Mapping as LoopMapping
from ..core.problem import Problem
from .nest import build_nest
from .nest_analysis import NestAnalysisResult, analyse_nest
from .tiling import TensorTile, collapse


@dataclass(frozen=True)
class TensorCounts:
    """One tensor at one storage level; counts are per utilised instance."""

    tensor: str
    kept: bool
    tile_size_words: float
    partition_size_words: float
    utilized_instances: int
    reads: float  # algorithmic (dense) accesses
    fills: float
    updates: float
    temporal_reductions: float
    actions: Mapping[str, float] = field(default_factory=dict)  # counts by storage action
    multicast: Mapping[tuple[int, int], float] = field(default_factory=dict)  # deliveries by (multicast, scatter)
    metadata_bits: float = 0.0  # metadata held in the tile (sparse formats)


@dataclass(frozen=True)
class LevelCounts:
    name: str
    index: int  # 0 = innermost storage level
    tensors: tuple[TensorCounts, ...]
    utilized_instances: int
    utilized_x: int
    utilized_y: int


@dataclass(frozen=True)
class ComputeCounts:
    """Per compute unit: ``actions`` by compute action (``compute``, ``gated_compute`` ...)."""

    utilized_instances: int
    algorithmic: float  # MACs per unit the dense loop nest performs
    actions: Mapping[str, float]
    cycles: float  # cycles the units are busy (dense: temporal iterations)


@dataclass(frozen=True)
class LayerCounts:
    problem: Problem
    mapping: LoopMapping
    levels: tuple[LevelCounts, ...]  # innermost first
    compute: ComputeCounts
    analysis: NestAnalysisResult

    def level(self, name: str) -> LevelCounts:
        for lv in self.levels:
            if lv.name == name:
                return lv
        raise KeyError(name)

    def with_levels(self, levels: tuple[LevelCounts, ...]) -> "LayerCounts":
        return replace(self, levels=levels)


def dense_counts(problem: Problem, arch: Architecture, mapping: LoopMapping) -> LayerCounts:
    """Dense stage: loop-nest analysis of one layer on one mapping."""
    nest = build_nest(problem, mapping)
    physical = [arch.fanout(i) for i in range(arch.num_levels)]
    analysis = analyse_nest(nest, mapping, physical)
    names = problem.dataspace_names
    keep = [[ds in lm.keep for ds in names] for lm in mapping.levels]
    rw = [ds.read_write for ds in problem.dataspaces]
    per_tensor: list[list[TensorTile]] = collapse(analysis, arch.num_levels, keep, rw)

    levels = []
    for i, lv in enumerate(arch.storage):
        ux = prod(m.spatial_extent("X") for m in mapping.levels[i + 1:])
        uy = prod(m.spatial_extent("Y") for m in mapping.levels[i + 1:])
        tensors = []
        for t, ds in enumerate(names):
            tile = per_tensor[t][i]
            kept = keep[i][t] and tile.size > 0
            tensors.append(TensorCounts(
                tensor=ds,
                kept=kept,
                tile_size_words=tile.size if kept else 0.0,
                partition_size_words=tile.partition_size if kept else 0.0,
                utilized_instances=ux * uy,
                reads=tile.reads,
                fills=tile.fills,
                updates=tile.updates,
                temporal_reductions=tile.temporal_reductions,
                actions={"read": tile.reads, "fill": tile.fills, "update": tile.updates},
                multicast={k: v[0] for k, v in tile.access.items()},
            ))
        levels.append(LevelCounts(lv.name, i, tuple(tensors), ux * uy, ux, uy))

    macs = analysis.compute_accesses
    compute = ComputeCounts(
        utilized_instances=analysis.compute_replication,
        algorithmic=macs,
        actions={"compute": macs},
        cycles=macs,
    )
    return LayerCounts(problem, mapping, tuple(levels), compute, analysis)
