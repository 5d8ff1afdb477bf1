"""The accelerator: a storage hierarchy with spatial fanout, and a compute unit.

Levels are stored innermost first (index 0 sits next to the compute units), the
order in which the engine walks a loop nest.  Front ends (our YAML, Timeloop's)
list levels from DRAM inwards and reverse them.

Energies are per *vector* access (one ``block_size``-word access) in pJ, keyed
by action names shared by every stage:

* storage: ``read``, ``fill``, ``update`` (dense accesses), ``gated_*``,
  ``skipped_*``, ``metadata_read|fill|update`` and their gated/skipped forms,
  ``decompression``, ``compression``, and ``leak`` (per instance per cycle);
* compute: ``compute`` (one MAC), ``gated_compute``, ``skipped_compute``,
  ``add``, ``multiply`` (the repetition engine's split), ``leak``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from ..errors import SpecError

STORAGE_ACTIONS: tuple[str, ...] = (
    "read", "fill", "update",
    "gated_read", "gated_fill", "gated_update",
    "skipped_read", "skipped_fill", "skipped_update",
    "metadata_read", "metadata_fill", "metadata_update",
    "gated_metadata_read", "gated_metadata_fill", "gated_metadata_update",
    "skipped_metadata_read", "skipped_metadata_fill", "skipped_metadata_update",
    "decompression", "compression", "leak",
)
COMPUTE_ACTIONS: tuple[str, ...] = (
    "compute", "gated_compute", "skipped_compute", "add", "multiply", "leak",
)


@dataclass(frozen=True)
class StorageLevel:
    """One level of the storage hierarchy (all its instances share these specs)."""

    name: str
    size_words: int | None  # capacity of one instance in words; None = unbounded (DRAM)
    word_bits: int
    block_size: int = 1  # words per vector access
    cluster_size: int = 1
    instances: int = 1
    mesh_x: int = 1
    mesh_y: int = 1
    read_bandwidth: float | None = None  # words per cycle per instance; None = unlimited
    write_bandwidth: float | None = None
    multiple_buffering: float = 1.0
    min_utilization: float = 0.0
    technology: str = "SRAM"  # "SRAM" or "DRAM"
    reduction_supported: bool = True
    energy_pJ: Mapping[str, float] = field(default_factory=dict)
    # Sparse-format storage (Sparseloop): metadata word/storage geometry.
    metadata_word_bits: int = 0
    metadata_block_size: int = 1
    metadata_storage_width_bits: int = 0
    metadata_storage_depth: int = 0
    # Storage that only carries a spatial fanout and keeps nothing (v0.4 "dummy" containers).
    container_only: bool = False
    # What mappings may do at this level (dataflow: fixed/maximum factors, loop orders, X/Y
    # splits); a sbmodel.mapper.LevelConstraints, honoured by the mapper.  None = free.
    constraints: Any = None
    # Design constraints on which tensors the level holds (Timeloop's keep/bypass
    # constraints): a mapping must keep every tensor of ``must_keep`` and none of
    # ``must_bypass``; any other tensor is the mapping's (or mapper's) choice.
    must_keep: frozenset[str] = frozenset()
    must_bypass: frozenset[str] = frozenset()
    # Sub-word data packing: a b-bit element takes b / word_bits words (capacity,
    # traffic, energy, bandwidth).  False is Timeloop's convention: one element per word.
    packed: bool = False

    def __post_init__(self) -> None:
        if self.instances != self.mesh_x * self.mesh_y:
            raise SpecError(
                f"level {self.name}: instances ({self.instances}) != meshX*meshY ({self.mesh_x}*{self.mesh_y})"
            )
        for attr in ("word_bits", "block_size", "cluster_size", "instances"):
            if getattr(self, attr) < 1:
                raise SpecError(f"level {self.name}: {attr} must be >= 1, got {getattr(self, attr)}")
        if self.size_words is not None and self.size_words < 0:
            raise SpecError(f"level {self.name}: size must be >= 0, got {self.size_words}")
        unknown = set(self.energy_pJ) - set(STORAGE_ACTIONS)
        if unknown:
            raise SpecError(f"level {self.name}: unknown storage actions {sorted(unknown)}")
        both = self.must_keep & self.must_bypass
        if both:
            raise SpecError(f"level {self.name}: tensor(s) {sorted(both)} both kept and bypassed")

    @property
    def effective_size_words(self) -> int | None:
        """Capacity available to tiles after multiple buffering."""
        if self.size_words is None:
            return None
        return int(self.size_words // self.multiple_buffering)

    @property
    def metadata_capacity_bits(self) -> int:
        """Metadata bits available to tiles after multiple buffering (0: no metadata store)."""
        return (self.metadata_storage_depth * self.metadata_storage_width_bits) // self.multiple_buffering

    def action_energy(self, action: str) -> float:
        """Energy of one vector access of ``action``; dense actions default to the
        dearest dense action, all other actions to 0 (Timeloop's convention)."""
        if action in self.energy_pJ:
            return float(self.energy_pJ[action])
        if action in ("read", "fill", "update"):
            dense = [self.energy_pJ[a] for a in ("read", "fill", "update") if a in self.energy_pJ]
            return float(max(dense)) if dense else 0.0
        return 0.0


COMPUTE_STYLES: tuple[str, ...] = ("mac", "add", "ucnn")


@dataclass(frozen=True)
class ComputeStyle:
    """How the arithmetic units turn a layer's dot products into adds and multiplies.

    * ``mac``: one multiply-accumulate per effectual weight (the ``compute`` action);
    * ``add``: weights of one magnitude per region (binary, ternary, signed-binary)
      are added or subtracted; their scale is folded into BatchNorm
      (``scale_folded``) or applied once per output and region;
    * ``ucnn``: UCNN's factorised dot products (Hegde et al., ISCA 2018): the
      activations that share a weight value are summed and multiplied once, and
      ``group_filters`` filters share those activation groups.
    Layers an add-only datapath cannot run (several magnitudes per region) fall
    back to a multiply and an add per effectual weight.

    ``structured = (n, m)``: the units take weights in blocks of ``m`` along the
    input channels and spend ``n`` multiply slots per block pass (a sparse tensor
    core: 2:4); a block with more than ``n`` nonzeros needs more passes.
    """

    kind: str = "mac"
    scale_folded: bool = True
    group_filters: int = 1  # ucnn: filters that share activation groups (UCNN's G)
    index_bits: int | None = None  # ucnn: bits of an indirection-table entry; None: log2 of the chunk
    structured: tuple[int, int] | None = None  # (n, m): n:m structured weight sparsity

    def __post_init__(self) -> None:
        if self.kind not in COMPUTE_STYLES:
            raise SpecError(f"unknown compute style {self.kind!r} (known: {', '.join(COMPUTE_STYLES)})")
        if self.group_filters < 1:
            raise SpecError(f"compute style {self.kind}: group_filters must be >= 1, got {self.group_filters}")
        if self.group_filters > 8:
            raise SpecError(f"compute style {self.kind}: group_filters must be <= 8 (UCNN uses 1-4), "
                            f"got {self.group_filters}")
        if self.index_bits is not None and self.index_bits < 1:
            raise SpecError(f"compute style {self.kind}: index_bits must be >= 1, got {self.index_bits}")
        if self.structured is not None:
            n, m = self.structured
            if not 1 <= n < m:
                raise SpecError(f"compute style {self.kind}: structured sparsity n:m needs 1 <= n < m, got {n}:{m}")


@dataclass(frozen=True)
class ComputeLevel:
    """The arithmetic units (MACs, adders) at the bottom of the hierarchy."""

    name: str
    instances: int = 1
    mesh_x: int = 1
    mesh_y: int = 1
    word_bits: int = 16
    energy_pJ: Mapping[str, float] = field(default_factory=dict)
    # Operand widths in bits per tensor name (e.g. Weights 8, Inputs 8, Outputs 16);
    # empty when the front end does not say.
    operand_bits: Mapping[str, int] = field(default_factory=dict)
    style: ComputeStyle = ComputeStyle()

    def __post_init__(self) -> None:
        if self.instances != self.mesh_x * self.mesh_y:
            raise SpecError(
                f"compute {self.name}: instances ({self.instances}) != meshX*meshY ({self.mesh_x}*{self.mesh_y})"
            )
        unknown = set(self.energy_pJ) - set(COMPUTE_ACTIONS)
        if unknown:
            raise SpecError(f"compute {self.name}: unknown compute actions {sorted(unknown)}")

    def action_energy(self, action: str) -> float:
        return float(self.energy_pJ.get(action, 0.0))


@dataclass(frozen=True)
class Architecture:
    """Storage levels (innermost first) above one compute level."""

    name: str
    storage: tuple[StorageLevel, ...]
    compute: ComputeLevel
    # The design's sparse features (a sbmodel.engine.sparse.SparseSpec), None for a dense design.
    sparse: Any = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not self.storage:
            raise SpecError(f"architecture {self.name}: needs at least one storage level")
        names = [lv.name for lv in self.storage] + [self.compute.name]
        if len(set(names)) != len(names):
            raise SpecError(f"architecture {self.name}: repeated level name in {names}")
        children = (self.compute,) + self.storage[:-1]
        for parent, child in zip(self.storage, children):
            if child.instances % parent.instances or child.mesh_x % parent.mesh_x or child.mesh_y % parent.mesh_y:
                raise SpecError(
                    f"architecture {self.name}: {child.name} ({child.mesh_x}x{child.mesh_y}) is not a whole "
                    f"multiple of its parent {parent.name} ({parent.mesh_x}x{parent.mesh_y})"
                )

    @property
    def num_levels(self) -> int:
        return len(self.storage)

    def level_index(self, name: str) -> int:
        for i, lv in enumerate(self.storage):
            if lv.name == name:
                return i
        raise KeyError(name)

    def fanout(self, i: int) -> tuple[int, int]:
        """(X, Y) fanout from storage level ``i`` to its children (level i-1 or compute)."""
        child = self.compute if i == 0 else self.storage[i - 1]
        parent = self.storage[i]
        return child.mesh_x // parent.mesh_x, child.mesh_y // parent.mesh_y
