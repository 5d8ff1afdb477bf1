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

from ..core.architecture import Architecture, StorageLevel
from ..core.mapping import Mapping as LoopMapping
from ..core.problem import Problem
from .nest import build_nest
from .nest_analysis import NestAnalysisResult, analyse_nest
from .tiling import TensorTile, collapse


RankUnits = tuple[tuple[float, float], ...]  # per fibertree rank, innermost first: (metadata, payload) units


@dataclass(frozen=True)
class SparseTensorInfo:
    """What the sparse stage found for one tensor at one level (reported; used for energy and cycles).

    ``metadata`` holds the per-instance metadata traffic by storage action
    (``metadata_read``, ``gated_metadata_fill`` ...) as units per rank; with
    ``rank_word_bits`` it gives the bits moved, which cost energy per
    ``metadata_storage_width_bits`` row and bandwidth per data word.
    """

    density_model: str
    expected_density: float
    representation: str  # rank formats outermost first ("UOP CP"), or "none"
    compressed: bool
    data_tile_words: float  # data words the tile needs at its largest occupancy (capacity check)
    metadata_tile_bits: float  # metadata bits the tile needs at its largest occupancy
    metadata_tile_units: RankUnits
    avg_utilized_instances: float  # instances holding a nonempty tile, on average
    rank_word_bits: tuple[tuple[int, int], ...] = ()  # per rank (metadata bits, payload bits)
    metadata: Mapping[str, RankUnits] = field(default_factory=dict)
    vector_ratio: float = 1.0  # vector accesses per naive ceil(count/block) (compressed tiles, block > 1)

    def metadata_bits(self, action: str) -> float:
        """Bits one instance moves for a metadata action."""
        units = self.metadata.get(action, ())
        return float(sum(md * mb + pl * pb for (md, pl), (mb, pb) in zip(units, self.rank_word_bits)))


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
    sparse: SparseTensorInfo | None = None  # set by the sparse stage
    # Bits one element (weight position, activation, output) occupies at a packed level
    # (see StorageLevel.packed); None: one element per word (Timeloop's convention).
    element_bits: float | None = None

    def words(self, count: float, word_bits: int) -> float:
        """Words that ``count`` element accesses (or a tile of ``count`` elements) occupy."""
        return count if self.element_bits is None else count * self.element_bits / word_bits


@dataclass(frozen=True)
class LevelCounts:
    name: str
    index: int  # 0 = innermost storage level
    tensors: tuple[TensorCounts, ...]
    utilized_instances: int
    utilized_x: int
    utilized_y: int


@dataclass(frozen=True)
class ArithmeticCounts:
    """The repetition stage's split of a layer's effectual computes, over all units."""

    style: str  # compute style applied to this layer: "mac", "add", "ucnn" or "mac (fallback)"
    effectual: float  # multiply-accumulates the sparse stage left (MAC-equivalents)
    adds: float
    multiplies: float
    chunk: int = 1  # ucnn: weight positions of a filter factorised together (one PE pass)
    group_filters: int = 1  # ucnn: filters sharing activation groups
    weight_bits_per_position: float | None = None  # stored bits per weight position (packed levels)


@dataclass(frozen=True)
class ComputeCounts:
    """Per compute unit: ``actions`` by compute action (``compute``, ``gated_compute`` ...)."""

    utilized_instances: int
    algorithmic: float  # MACs per unit the dense loop nest performs
    actions: Mapping[str, float]
    cycles: float  # cycles the units are busy (dense: temporal iterations)
    algorithmic_total: float | None = None  # all units' algorithmic operations, when not algorithmic * instances
    avg_utilized_instances: float | None = None  # units busy on average (sparse: after spatial skipping)
    arithmetic: ArithmeticCounts | None = None  # set by the repetition stage


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


def element_bits(problem: Problem, level: StorageLevel, tensor: str) -> float | None:
    """Bits of one ``tensor`` element on ``level`` when it packs data (the tensor's bits, else
    the level's word), None when every element takes a word (see StorageLevel.packed)."""
    return float(problem.word_bits.get(tensor, level.word_bits)) if level.packed else None


def words_per_element(problem: Problem, arch: Architecture) -> "np.ndarray":
    """``[L, T]`` words one element of each tensor takes at each level (capacity, traffic):
    1 where a level does not pack data, ``bits / word_bits`` where it does."""
    import numpy as np

    out = np.ones((arch.num_levels, len(problem.dataspaces)))
    for l, lv in enumerate(arch.storage):
        for t, ds in enumerate(problem.dataspaces):
            bits = element_bits(problem, lv, ds.name)
            if bits is not None:
                out[l, t] = bits / lv.word_bits
    return out


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
                element_bits=element_bits(problem, lv, ds),
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
