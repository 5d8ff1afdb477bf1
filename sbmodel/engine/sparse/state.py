"""Working state of the sparse analysis: one record per tensor and storage level.

The analysis refines these records step by step (formats, expected occupancy,
metadata traffic, gating/skipping, propagation), the way Sparseloop refines
its data-movement records; :mod:`.stage` then freezes them into
:class:`~sbmodel.engine.counts.TensorCounts`.  They are plain mutable
dataclasses on purpose: they never leave the sparse package.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .density import DensityModel, Tile
from .formats import RankOccupancy
from .nest import NestLoop
from .spec import TensorFormat

# Per rank (innermost first): [metadata units, payload units].
RankCounts = list[list[float]]

DATA_ACTIONS = ("read", "fill", "update")
FORMAT_OPS = ("metadata_read", "metadata_fill", "metadata_update")
KINDS = ("random", "gated", "skipped")


@dataclass
class TileState:
    """One tensor at one storage level (all counts per instance)."""

    tensor: str
    level: int
    read_write: bool
    shape: int  # points in the tile (0: the level does not keep the tensor)
    tile: Tile  # the tile's extent per data-space rank
    reads: int
    fills: int
    updates: int
    temporal_reductions: float
    replication: int  # spatial instances of this level the mapping uses
    max_x: float
    max_y: float
    density: DensityModel
    child: int | None = None  # nearest lower level keeping the tensor
    parent: int | None = None  # nearest upper level keeping the tensor
    avg_replication: float = 0.0
    # representation
    fmt: TensorFormat | None = None
    has_metadata: bool = False
    compressed: bool = False
    inner_to_outer: bool = False
    rank_bits: list[tuple[int, int]] = field(default_factory=list)  # (metadata, payload) word bits per rank
    metadata_subnest: list[list[NestLoop]] = field(default_factory=list)
    subtiles: list[Tile] = field(default_factory=list)  # ranks + 1 entries (0: element of the innermost rank)
    fiber_shape: list[int] = field(default_factory=list)
    inherited_ranks: int = 0  # innermost ranks copied from the child level (pre-tiling)
    expected_occupancy: float = 0.0
    expected_density: float = 1.0
    expected_metadata: list[RankOccupancy] = field(default_factory=list)
    format_reads: RankCounts = field(default_factory=list)
    format_fills: RankCounts = field(default_factory=list)
    format_updates: RankCounts = field(default_factory=list)
    # fine-grained actions: data ("random_read", "gated_fill", ..., "decompression_count")
    data: dict[str, float] = field(default_factory=dict)
    # format actions: "random_metadata_read" -> per rank [metadata, payload]
    fmt_actions: dict[str, RankCounts] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.avg_replication = float(self.replication)
        self.expected_occupancy = float(self.shape)
        self.data = {f"{k}_{a}": 0.0 for k in KINDS for a in DATA_ACTIONS}
        self.data.update(random_read=float(self.reads), random_fill=float(self.fills),
                         random_update=float(self.updates), compression_count=0.0, decompression_count=0.0)
        self.fmt_actions = {f"{k}_{op}": [] for k in KINDS for op in FORMAT_OPS}

    @property
    def kept(self) -> bool:
        return self.shape > 0

    @property
    def num_metadata_ranks(self) -> int:
        return len(self.metadata_subnest) if self.has_metadata else 0


@dataclass
class ComputeState:
    """The compute units: algorithmic operations and their fine-grained split."""

    accesses: float  # operations per unit (dense temporal iterations)
    replication: int
    max_x: float
    max_y: float
    avg_replication: float = 0.0
    random: float = 0.0
    gated: float = 0.0
    skipped: float = 0.0

    def __post_init__(self) -> None:
        self.avg_replication = float(self.replication)
        self.random = self.accesses * self.replication


__all__ = ["TileState", "ComputeState", "RankCounts", "DATA_ACTIONS", "FORMAT_OPS", "KINDS"]
