"""What a mapping of one layer may look like: per-level constraints of the map space.

The vocabulary is Timeloop's (``src/mapping/constraints.cpp``), so imported
Timeloop constraints and our own architecture format's ``constraints:`` block
mean the same thing:

* **factors** -- ``temporal_factors`` / ``spatial_factors`` fix the factor of a
  dimension at a level (1 forbids a loop there, 0 means the whole dimension, a
  value above the dimension is clamped to it); ``temporal_max`` /
  ``spatial_max`` bound it from above.  Constraints that belong to an
  architecture (:attr:`StorageLevel.constraints`) may name dimensions a layer
  does not have; they are ignored for that layer.  The factors of a dimension over all
  levels multiply to its bound (perfect factorisation).
* **permutation** -- the innermost loops of a level, innermost first.  Loops of
  factor 1 do not exist, so the listed dimensions that have a factor > 1 are
  the innermost loops of the level, in that order; the other loops are free
  above them (Timeloop's "unit factors, then the user prefix, then any
  permutation of the rest").
* **spatial_permutation** and **spatial_split** -- the same for the spatial
  loops of a level's fanout; with a split, the loops at positions
  ``< spatial_split`` of the (completed) spatial permutation run along X and
  the others along Y (positions count every dimension, factor 1 or not).
  Without a split any prefix of the non-unit spatial loops may go along X.
* **spatial_axis** -- our format's shorthand: a dimension's spatial loop runs
  along X or Y (incompatible with ``spatial_split`` on the same level).
* **keep** / **bypass** -- tensors the level must / must not hold (added to
  the architecture's own ``must_keep`` / ``must_bypass``).
* **max_overbooked_proportion** -- accepted (Timeloop's sparse overbooking) and
  validated; capacity is always checked at confidence 1 (the largest occupancy).
* :attr:`Constraints.min_utilization` -- the fraction of compute units a
  mapping must use (Timeloop's ``utilization``/``parallelism`` constraint).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping as TypingMapping

from ..errors import SbmodelError


@dataclass(frozen=True)
class LevelConstraints:
    """What the mapping of one storage level may do.  Empty fields mean "free"."""

    temporal_factors: TypingMapping[str, int] = field(default_factory=dict)
    spatial_factors: TypingMapping[str, int] = field(default_factory=dict)
    temporal_max: TypingMapping[str, int] = field(default_factory=dict)
    spatial_max: TypingMapping[str, int] = field(default_factory=dict)
    spatial_axis: TypingMapping[str, str] = field(default_factory=dict)  # dim -> "X" / "Y"
    permutation: tuple[str, ...] = ()  # innermost temporal loops, innermost first
    spatial_permutation: tuple[str, ...] = ()  # innermost spatial loops, innermost first
    spatial_split: int | None = None  # positions < split of the spatial permutation run along X
    keep: frozenset[str] = frozenset()
    bypass: frozenset[str] = frozenset()
    max_overbooked_proportion: float = 0.0

    def __post_init__(self) -> None:
        for what, table, low in (("temporal factor", self.temporal_factors, 0),
                                 ("spatial factor", self.spatial_factors, 0),
                                 ("temporal max factor", self.temporal_max, 1),
                                 ("spatial max factor", self.spatial_max, 1)):
            for d, f in table.items():
                if isinstance(f, bool) or int(f) != f or f < low:
                    raise SbmodelError(f"{what} of {d} must be an integer >= {low}, got {f!r}")
        for d, a in self.spatial_axis.items():
            if a not in ("X", "Y"):
                raise SbmodelError(f"spatial axis of {d} must be X or Y, got {a!r}")
        for name, perm in (("permutation", self.permutation), ("spatial permutation", self.spatial_permutation)):
            if len(set(perm)) != len(perm):
                raise SbmodelError(f"{name} {' '.join(perm)} repeats a dimension")
        if self.spatial_split is not None and self.spatial_split < 0:
            raise SbmodelError(f"spatial split must be >= 0, got {self.spatial_split}")
        if self.spatial_split is not None and self.spatial_axis:
            raise SbmodelError("give either a spatial split or spatial axes for a level, not both")
        both = set(self.keep) & set(self.bypass)
        if both:
            raise SbmodelError(f"tensor(s) {sorted(both)} both kept and bypassed")
        if not 0.0 <= self.max_overbooked_proportion < 1.0:
            raise SbmodelError(f"max_overbooked_proportion must be in [0, 1), got {self.max_overbooked_proportion}")


@dataclass(frozen=True)
class Constraints:
    """Per-level constraints (by storage level name) and global ones."""

    levels: TypingMapping[str, LevelConstraints] = field(default_factory=dict)
    min_utilization: float = 0.0  # fraction of compute units that must be used

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_utilization <= 1.0:
            raise SbmodelError(f"minimum utilization must be in [0, 1], got {self.min_utilization}")

    def level(self, name: str) -> LevelConstraints:
        return self.levels.get(name, LevelConstraints())



def merge_level(a: LevelConstraints, b: LevelConstraints, name: str) -> LevelConstraints:
    """Union of two constraint sets of one level; conflicting re-specifications are errors."""

    def union(x: TypingMapping[str, int], y: TypingMapping[str, int], what: str) -> dict[str, int]:
        clash = sorted(set(x) & set(y))
        if clash:
            raise SbmodelError(f"level {name}: {what} of {', '.join(clash)} given twice")
        return {**x, **y}

    def one(x, y, what: str, empty):
        if x != empty and y != empty and x != y:
            raise SbmodelError(f"level {name}: {what} given twice")
        return x if x != empty else y

    return LevelConstraints(
        temporal_factors=union(a.temporal_factors, b.temporal_factors, "temporal factor"),
        spatial_factors=union(a.spatial_factors, b.spatial_factors, "spatial factor"),
        temporal_max=union(a.temporal_max, b.temporal_max, "temporal max factor"),
        spatial_max=union(a.spatial_max, b.spatial_max, "spatial max factor"),
        spatial_axis={**a.spatial_axis, **b.spatial_axis},
        permutation=one(a.permutation, b.permutation, "permutation", ()),
        spatial_permutation=one(a.spatial_permutation, b.spatial_permutation, "spatial permutation", ()),
        spatial_split=one(a.spatial_split, b.spatial_split, "spatial split", None),
        keep=a.keep | b.keep,
        bypass=a.bypass | b.bypass,
        max_overbooked_proportion=max(a.max_overbooked_proportion, b.max_overbooked_proportion),
    )


__all__ = ["LevelConstraints", "Constraints", "merge_level"]
