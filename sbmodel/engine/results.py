"""Typed results of evaluating one layer: cycles, accesses and energy per level."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from .counts import LayerCounts


@dataclass(frozen=True)
class TensorResult:
    """One tensor at one storage level.  Counts are per instance, energies over all instances."""

    tensor: str
    kept: bool
    utilized_instances: int
    tile_size_words: float
    partition_size_words: float
    reads: float
    fills: float
    updates: float
    actions: Mapping[str, float]  # scalar counts per instance by action
    energy_by_action_pJ: Mapping[str, float]
    energy_pJ: float
    element_bits: float = 0.0  # bits one element occupies here (the word, unless the level packs data)
    metadata_bits: float = 0.0  # metadata bits moved per instance (all metadata actions)

    @property
    def traffic_bits(self) -> float:
        """Bits read, filled and updated over all utilised instances (data and metadata)."""
        data = sum(self.actions.get(a, 0.0) for a in ("read", "fill", "update"))
        return (data * self.element_bits + self.metadata_bits) * self.utilized_instances


@dataclass(frozen=True)
class LevelResult:
    name: str
    index: int  # 0 = innermost storage level
    instances: int
    utilized_instances: int
    cycles: int
    bandwidth_slowdown: float  # 1.0 = not bandwidth limited
    leakage_pJ: float
    energy_pJ: float  # dynamic energy of all tensors + leakage
    tensors: tuple[TensorResult, ...]
    container_only: bool = False

    def tensor(self, name: str) -> TensorResult:
        for t in self.tensors:
            if t.tensor == name:
                return t
        raise KeyError(name)

    @property
    def traffic_bits(self) -> float:
        """Bits moved in and out of this level over the layer (all tensors, data and metadata)."""
        return sum(t.traffic_bits for t in self.tensors if t.kept)

    @property
    def words_moved(self) -> float:
        """Element reads + fills + updates of this level over the layer, all instances."""
        return sum((t.reads + t.fills + t.updates) * t.utilized_instances for t in self.tensors if t.kept)


@dataclass(frozen=True)
class ComputeResult:
    name: str
    instances: int
    utilized_instances: int
    algorithmic_computes: float  # over all units
    actual_computes: float
    actions: Mapping[str, float]  # over all units, by compute action
    energy_by_action_pJ: Mapping[str, float]
    cycles: int
    energy_pJ: float
    style: str = "mac"  # compute style applied (the repetition stage's)
    adds: float = 0.0  # over all units
    multiplies: float = 0.0


@dataclass(frozen=True)
class LayerResult:
    """Everything sbmodel reports for one layer on one architecture and mapping."""

    layer: str
    architecture: str
    cycles: int
    energy_pJ: float
    compute: ComputeResult
    levels: tuple[LevelResult, ...]  # innermost first
    utilization: float  # compute units busy / available, over the run
    counts: LayerCounts = field(repr=False, compare=False)

    def level(self, name: str) -> LevelResult:
        for lv in self.levels:
            if lv.name == name:
                return lv
        raise KeyError(name)

    @property
    def storage_energy_pJ(self) -> float:
        return sum(lv.energy_pJ for lv in self.levels)
