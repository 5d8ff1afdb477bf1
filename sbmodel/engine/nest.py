"""The flat loop nest of a mapping and its static properties.

Loops are numbered from the innermost (0) outwards.  Each storage level owns a
contiguous block: its spatial loops (fan-out to the level below, X inside Y)
then its temporal loops; factor-1 loops are dropped and a level without
temporal loops gets one trivial loop so every level has a boundary.  From the
loops we derive, per loop: the operation-space stride of one iteration
(``stride``), the extent of the tile it spans (``extent``/``extent_last``
for the final, possibly residual, iteration), how many spatial instances
surround it, and which loops head a group of spatial loops (``master``).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod

from ..core.mapping import Mapping
from ..core.problem import Problem


@dataclass(frozen=True)
class NestLoop:
    dim: int  # index into Problem.dims
    end: int
    residual_end: int
    axis: str | None  # None temporal, "X"/"Y" spatial
    storage_level: int

    @property
    def spatial(self) -> bool:
        return self.axis is not None


@dataclass(frozen=True)
class LoopNest:
    """A mapping flattened into loops plus the per-loop facts the analysis uses."""

    problem: Problem
    loops: tuple[NestLoop, ...]  # innermost first
    boundaries: tuple[int, ...]  # per storage level: index of its outermost loop
    stride: tuple[tuple[int, ...], ...]  # [loop][dim]: op-space step of one iteration
    extent: tuple[tuple[int, ...], ...]  # [loop][dim]: tile extent spanned by loops 0..loop
    extent_last: tuple[tuple[int, ...], ...]  # same, on the last (residual) iteration
    spatial_elems: tuple[int, ...]  # spatial instances strictly outside each loop
    master: tuple[bool, ...]  # outermost loop of a run of spatial loops
    fanout: tuple[int, ...]  # logical fanout of a master loop (1 for temporal, 0 for slaves)
    fanout_xy: tuple[tuple[int, int], ...]
    is_boundary: tuple[bool, ...]
    level_of: tuple[int, ...]
    imperfect: bool

    @property
    def num_levels(self) -> int:
        return len(self.boundaries)


def build_nest(problem: Problem, mapping: Mapping) -> LoopNest:
    dim_index = {d: i for i, d in enumerate(problem.dims)}
    ndims = len(problem.dims)
    loops: list[NestLoop] = []
    boundaries: list[int] = []
    for lvl, lm in enumerate(mapping.levels):
        for lp in lm.spatial:
            if lp.factor > 1:
                loops.append(NestLoop(dim_index[lp.dim], lp.factor, lp.residual_end, lp.axis, lvl))
        temporal = [lp for lp in lm.temporal if lp.factor > 1]
        for lp in temporal:
            loops.append(NestLoop(dim_index[lp.dim], lp.factor, lp.residual_end, None, lvl))
        if not temporal:
            loops.append(NestLoop(ndims - 1, 1, 1, None, lvl))
        boundaries.append(len(loops) - 1)

    n = len(loops)
    stride, extent, extent_last = [], [], []
    scale = [1] * ndims
    scale_res = [1] * ndims
    for lp in loops:
        stride.append(tuple(scale))
        scale_res[lp.dim] += scale[lp.dim] * (lp.residual_end - 1)
        scale[lp.dim] *= lp.end
        extent.append(tuple(scale))
        extent_last.append(tuple(scale_res))

    spatial_elems = [1] * n
    master = [False] * n
    acc = 1
    prev_spatial = False
    for i in reversed(range(n)):
        spatial_elems[i] = acc
        if loops[i].spatial:
            master[i] = not prev_spatial
            acc *= loops[i].end
            prev_spatial = True
        else:
            prev_spatial = False

    fanout = [1] * n
    fanout_xy = [(1, 1)] * n
    for i in range(n):
        if not loops[i].spatial:
            continue
        if not master[i]:
            fanout[i] = 0
            continue
        fx = fy = 1
        j = i
        while j >= 0 and loops[j].spatial:
            if loops[j].axis == "X":
                fx *= loops[j].end
            else:
                fy *= loops[j].end
            j -= 1
        fanout[i] = fx * fy
        fanout_xy[i] = (fx, fy)

    is_boundary = [False] * n
    level_of = [0] * n
    start = 0
    for lvl, b in enumerate(boundaries):
        is_boundary[b] = True
        for i in range(start, b + 1):
            level_of[i] = lvl
        start = b + 1

    return LoopNest(
        problem=problem,
        loops=tuple(loops),
        boundaries=tuple(boundaries),
        stride=tuple(stride),
        extent=tuple(extent),
        extent_last=tuple(extent_last),
        spatial_elems=tuple(spatial_elems),
        master=tuple(master),
        fanout=tuple(fanout),
        fanout_xy=tuple(fanout_xy),
        is_boundary=tuple(is_boundary),
        level_of=tuple(level_of),
        imperfect=any(lp.end != lp.residual_end for lp in loops),
    )


def temporal_iterations(nest: LoopNest) -> int:
    """Product of temporal loop bounds (compute cycles of a perfectly factorised nest)."""
    return prod(lp.end for lp in nest.loops if not lp.spatial)
