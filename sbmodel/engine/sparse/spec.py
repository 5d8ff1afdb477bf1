"""What a design does about sparsity: formats, gating/skipping, compute optimisations, densities.

These frozen types are the sparse stage's input, built by the front ends (our
YAML in :mod:`sbmodel.spec.sparse`, Sparseloop's ``sparse_optimizations`` in
:mod:`sbmodel.timeloop.sparse`) and checked against the layer and the
architecture by :func:`SparseSpec.validate` so a typo is a clear error, not a
silently dense result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Mapping

from ...core.architecture import Architecture
from ...core.problem import Problem
from ...errors import SpecError
from .density import DensityModel
from .formats import COMPRESSED, FORMATS

ActionKind = Literal["gating", "skipping", "spatial_skipping"]


@dataclass(frozen=True)
class RankFormat:
    """One rank of a tensor's fibertree at a level (outermost rank first in a list)."""

    format: str
    metadata_word_bits: int | None = None  # None: the level's metadata word bits
    payload_word_bits: int | None = None
    flattened: tuple[tuple[str, ...], ...] = ()  # groups of dimensions this rank may flatten

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise SpecError(f"unknown rank format {self.format!r} (known: {', '.join(FORMATS)})")
        for bits in (self.metadata_word_bits, self.payload_word_bits):
            if bits is not None and bits < 0:
                raise SpecError(f"rank format {self.format}: word bits must be >= 0, got {bits}")

    @property
    def compressed(self) -> bool:
        return COMPRESSED[self.format]


@dataclass(frozen=True)
class TensorFormat:
    """A tensor's representation at one level: ranks listed outermost first."""

    ranks: tuple[RankFormat, ...]
    inner_to_outer: bool = False  # Sparseloop's rank_application_order

    def __post_init__(self) -> None:
        if not self.ranks:
            raise SpecError("a representation format needs at least one rank")
        seen_uncompressed = False
        for r in reversed(self.ranks):  # innermost first
            if not r.compressed:
                seen_uncompressed = True
            elif seen_uncompressed:
                raise SpecError(f"rank format {r.format} is compressed above an uncompressed rank "
                                "(an uncompressed rank may not sit below a compressed one)")

    @property
    def compressed(self) -> bool:
        return any(r.compressed for r in self.ranks)

    @property
    def innermost_first(self) -> tuple[RankFormat, ...]:
        return tuple(reversed(self.ranks))


@dataclass(frozen=True)
class ActionOptimization:
    """Gate or skip the accesses to ``target`` when ``condition_on`` tiles are empty.

    ``options`` lists alternative (target, condition_on) pairs; the stage keeps
    the one that saves most energy (Sparseloop's option groups).
    """

    kind: ActionKind
    options: tuple[tuple[str, tuple[str, ...]], ...]

    def __post_init__(self) -> None:
        if self.kind not in ("gating", "skipping", "spatial_skipping"):
            raise SpecError(f"unknown action optimisation {self.kind!r} (gating, skipping or spatial_skipping)")
        if not self.options:
            raise SpecError(f"{self.kind}: needs a target and the tensors it is conditioned on")
        for target, cond in self.options:
            if not cond:
                raise SpecError(f"{self.kind} of {target}: condition_on must name at least one tensor")


@dataclass(frozen=True)
class LevelSparse:
    """Sparse features of one storage level."""

    formats: Mapping[str, TensorFormat] = field(default_factory=dict)
    actions: tuple[ActionOptimization, ...] = ()


@dataclass(frozen=True)
class ComputeOptimization:
    """Compute gating (zero operand: no toggling, still a cycle) and skipping (no cycle)."""

    gate_on_zero_operand: bool = False
    skip_on_not_aligned_operands: bool = False


@dataclass(frozen=True)
class SparseSpec:
    """Everything sparse about one design, per storage level (by name)."""

    levels: Mapping[str, LevelSparse] = field(default_factory=dict)
    compute: ComputeOptimization = ComputeOptimization()

    @property
    def empty(self) -> bool:
        c = self.compute
        return (not any(lv.formats or lv.actions for lv in self.levels.values())
                and not c.gate_on_zero_operand and not c.skip_on_not_aligned_operands)

    @property
    def has_formats(self) -> bool:
        return any(lv.formats for lv in self.levels.values())

    @property
    def has_spatial_skipping(self) -> bool:
        return any(a.kind == "spatial_skipping" for lv in self.levels.values() for a in lv.actions)

    def level(self, name: str) -> LevelSparse:
        return self.levels.get(name, LevelSparse())

    def validate(self, problem: Problem, arch: Architecture, where: str = "sparse optimizations",
                 check_dims: bool = False) -> None:
        """Every level and tensor named must exist (and, with ``check_dims``, every dimension a
        rank flattens: a design may name dimensions a particular layer lacks, e.g. G)."""
        levels = [lv.name for lv in arch.storage]
        tensors = set(problem.dataspace_names)
        dims = set(problem.dims)
        for name, lv in self.levels.items():
            if name not in levels:
                raise SpecError(f"{where}: unknown storage level {name!r} (levels: {levels})")
            for t, fmt in lv.formats.items():
                if t not in tensors:
                    raise SpecError(f"{where}: level {name}: representation format for unknown tensor {t!r} "
                                    f"(tensors: {sorted(tensors)})")
                for r in fmt.ranks:
                    for group in r.flattened if check_dims else ():
                        bad = set(group) - dims
                        if bad:
                            raise SpecError(f"{where}: level {name}: tensor {t}: flattened ranks name unknown "
                                            f"dimension(s) {sorted(bad)} (dimensions: {sorted(dims)})")
            for opt in lv.actions:
                for target, cond in opt.options:
                    for t in (target, *cond):
                        if t not in tensors:
                            raise SpecError(f"{where}: level {name}: {opt.kind} names unknown tensor {t!r} "
                                            f"(tensors: {sorted(tensors)})")
                    if target in cond:
                        raise SpecError(f"{where}: level {name}: {opt.kind} of {target} is conditioned on itself")


@dataclass(frozen=True)
class Densities:
    """Density model per tensor name; tensors left out are dense."""

    models: Mapping[str, DensityModel] = field(default_factory=dict)

    def of(self, tensor: str) -> DensityModel:
        from .density import DENSE

        return self.models.get(tensor, DENSE)


__all__ = ["RankFormat", "TensorFormat", "ActionOptimization", "LevelSparse", "ComputeOptimization",
           "SparseSpec", "Densities", "ActionKind"]
