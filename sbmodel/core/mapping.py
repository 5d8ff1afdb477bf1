"""A mapping: how a layer's loops are tiled over the storage hierarchy.

For each storage level (innermost first, like :class:`Architecture`), a
:class:`LevelMapping` holds the temporal loops of that level (inner to outer),
the spatial loops that fan out from it to its children (X loops inside Y
loops, inner to outer), and which tensors the level keeps.  Factors of 1 may be
present or omitted; they never change a result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import prod

from ..errors import SpecError
from .architecture import Architecture
from .problem import Problem


@dataclass(frozen=True)
class Loop:
    """``for dim in range(factor)``; the last global iteration may run to ``residual``."""

    dim: str
    factor: int
    residual: int | None = None  # imperfect factorization: extent of the final iteration
    axis: str | None = None  # None (temporal), "X" or "Y" (spatial)

    def __post_init__(self) -> None:
        if self.factor < 1:
            raise SpecError(f"loop over {self.dim}: factor must be >= 1, got {self.factor}")
        if self.residual is not None and not 1 <= self.residual <= self.factor:
            raise SpecError(f"loop over {self.dim}: residual {self.residual} outside 1..{self.factor}")
        if self.axis not in (None, "X", "Y"):
            raise SpecError(f"loop over {self.dim}: axis must be X or Y, got {self.axis}")

    @property
    def end(self) -> int:
        return self.factor

    @property
    def residual_end(self) -> int:
        return self.factor if self.residual is None else self.residual

    @property
    def spatial(self) -> bool:
        return self.axis is not None


@dataclass(frozen=True)
class LevelMapping:
    """Loops and tensor placement of one storage level."""

    temporal: tuple[Loop, ...] = ()
    spatial: tuple[Loop, ...] = ()
    keep: frozenset[str] = frozenset()
    # Timeloop's per-level analysis switches (rarely used).
    no_multicast: frozenset[str] = frozenset()
    no_link_transfer: frozenset[str] = frozenset()
    no_temporal_reuse: frozenset[str] = frozenset()
    # The complete loop order, factor-1 loops included (temporal inner to outer; spatial as
    # (dimension, axis) pairs), when the front end knows it (Timeloop permutations).  Only the
    # sparse stage's analysis, which reasons about trivial loops too, looks at it.
    temporal_order: tuple[str, ...] = field(default=(), compare=False)
    spatial_order: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        for lp in self.temporal:
            if lp.spatial:
                raise SpecError(f"temporal loop over {lp.dim} has a spatial axis")
        for lp in self.spatial:
            if not lp.spatial:
                raise SpecError(f"spatial loop over {lp.dim} has no axis")
        seen_y = False
        for lp in self.spatial:
            if lp.axis == "Y":
                seen_y = True
            elif seen_y:
                raise SpecError("spatial X loops must be listed before (inside) Y loops")

    def spatial_extent(self, axis: str) -> int:
        return prod(lp.factor for lp in self.spatial if lp.axis == axis)


@dataclass(frozen=True)
class Mapping:
    """One :class:`LevelMapping` per storage level, innermost first."""

    levels: tuple[LevelMapping, ...]
    source: str = field(default="", compare=False)

    def validate(self, problem: Problem, arch: Architecture, spatial_overflow: bool = False) -> None:
        """Check factors against the layer and the spatial fanouts against the hardware.

        ``spatial_overflow`` skips the fanout check: with spatial skipping a
        mapping may name more instances than exist (the sparse stage checks
        the instances really used).
        """
        if len(self.levels) != arch.num_levels:
            raise SpecError(
                f"mapping has {len(self.levels)} levels but architecture {arch.name} has {arch.num_levels}"
            )
        dims = set(problem.dims)
        names = set(problem.dataspace_names)
        for i, lm in enumerate(self.levels):
            level = arch.storage[i].name
            for lp in lm.temporal + lm.spatial:
                if lp.dim not in dims:
                    raise SpecError(f"mapping level {level}: unknown dimension {lp.dim} (layer has {sorted(dims)})")
            for group in (lm.keep, lm.no_multicast, lm.no_link_transfer, lm.no_temporal_reuse):
                bad = set(group) - names
                if bad:
                    raise SpecError(f"mapping level {level}: unknown tensor(s) {sorted(bad)} (layer has {sorted(names)})")
            fx, fy = arch.fanout(i)
            ux, uy = lm.spatial_extent("X"), lm.spatial_extent("Y")
            if (ux > fx or uy > fy) and not spatial_overflow:
                raise SpecError(
                    f"mapping level {level}: spatial factors use {ux}x{uy} but the fanout to the next level is {fx}x{fy}"
                )
        for d, bound in problem.bound.items():
            covered = covered_extent(self, d)
            if covered != bound:
                raise SpecError(
                    f"mapping: the factors of dimension {d} cover {covered} but the layer has {d}={bound}"
                )
        for ds in names:
            if not any(ds in lm.keep for lm in self.levels):
                raise SpecError(f"mapping: tensor {ds} is not kept at any level")

    def loops_outer_to_inner(self) -> list[tuple[int, Loop]]:
        """All loops with their level, outermost first (the order a loop nest is printed)."""
        out: list[tuple[int, Loop]] = []
        for i in reversed(range(len(self.levels))):
            lm = self.levels[i]
            out.extend((i, lp) for lp in reversed(lm.temporal))
            out.extend((i, lp) for lp in reversed(lm.spatial))
        return out


def covered_extent(mapping: Mapping, dim: str) -> int:
    """Points of ``dim`` the nest visits: ``(((r3-1)*f2 + r2-1)*f1 + r1-1)*f0 + r0`` (Timeloop's rule)."""
    acc = 0
    for _, lp in mapping.loops_outer_to_inner():
        if lp.dim == dim:
            acc = acc * lp.factor + lp.residual_end - 1
    return acc + 1
