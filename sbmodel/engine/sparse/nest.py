"""The complete loop nest of a mapping, as the sparse analysis sees it.

Sparseloop reasons about the nest *including* factor-1 loops: per storage level
(innermost first) the spatial loops fanning out below it — only if the
hardware fans out there — then its temporal loops, each over every dimension
in the mapping's permutation order (dimensions a mapping leaves out come last,
in problem order).  For every loop we keep the operation-space box spanned by
it and all loops inside it (the *mold*); projecting a mold on a tensor gives
the tile of that tensor the loop walks over.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Mapping as TMapping

from ...core.architecture import Architecture
from ...core.mapping import Loop, Mapping
from ...core.problem import DataSpace, Problem, box_extent
from .density import Tile


@dataclass(frozen=True)
class NestLoop:
    """One loop of the complete nest (``factor`` 1 for trivial loops)."""

    dim: str
    factor: int
    residual: int
    spatial: bool
    axis: str | None

    @property
    def trivial(self) -> bool:
        return self.factor <= 1


Box = tuple[tuple[str, int], ...]  # (dimension, extent) for every problem dimension


@dataclass(frozen=True)
class CompleteNest:
    """Per storage level (innermost first): its loops (inner to outer) and their molds."""

    problem: Problem
    levels: tuple[tuple[NestLoop, ...], ...]
    molds: tuple[tuple[Box, ...], ...]  # molds[level][k]: box spanned by loop k and everything inside

    def mold(self, level: int, k: int) -> dict[str, int]:
        return dict(self.molds[level][k])

    def mold_tile(self, ds: DataSpace, level: int, k: int) -> Tile:
        """The tile of ``ds`` that loop ``k``'s mold covers (memoised: the candidates a mapper
        re-ranks share most of their molds)."""
        return _project_box(ds, self.molds[level][k])

    def level_mold(self, level: int) -> dict[str, int]:
        """The box a level's whole tile spans (its outermost loop's mold)."""
        return dict(self.molds[level][-1])

    @property
    def full_box(self) -> dict[str, int]:
        return dict(self.molds[-1][-1])


def _padded(loops: tuple[Loop, ...], order: tuple[tuple[str, str | None], ...], dims: tuple[str, ...],
            spatial: bool) -> list[NestLoop]:
    """Loops in the front end's complete order (if known), else the listed ones, then the missing
    dimensions as factor-1 loops in problem order (Timeloop pads permutations that way)."""
    listed = {lp.dim: lp for lp in loops}
    out: list[NestLoop] = []
    if order and all(lp.dim in {d for d, _ in order} for lp in loops):
        for d, axis in order:
            lp = listed.get(d)
            out.append(NestLoop(d, lp.factor, lp.residual_end, spatial, lp.axis) if lp is not None
                       else NestLoop(d, 1, 1, spatial, axis))
    else:
        out = [NestLoop(lp.dim, lp.factor, lp.residual_end, spatial, lp.axis) for lp in loops]
    present = {lp.dim for lp in out}
    axis = "X" if spatial else None
    out += [NestLoop(d, 1, 1, spatial, axis) for d in dims if d not in present]
    return out


def complete_nest(problem: Problem, arch: Architecture, mapping: Mapping) -> CompleteNest:
    """Build the complete nest (trivial loops included) and the mold of every loop."""
    dims = problem.dims
    sizes = {d: 1 for d in dims}
    levels: list[tuple[NestLoop, ...]] = []
    molds: list[tuple[Box, ...]] = []
    for i, lm in enumerate(mapping.levels):
        fx, fy = arch.fanout(i)
        loops: list[NestLoop] = []
        if fx * fy > 1:
            loops += _padded(lm.spatial, lm.spatial_order, dims, True)
        loops += _padded(lm.temporal, tuple((d, None) for d in lm.temporal_order), dims, False)
        level_molds = []
        for lp in loops:
            sizes[lp.dim] *= lp.factor
            level_molds.append(tuple((d, sizes[d]) for d in dims))
        levels.append(tuple(loops))
        molds.append(tuple(level_molds))
    return CompleteNest(problem, tuple(levels), tuple(molds))


def project(ds: DataSpace, box: TMapping[str, int]) -> Tile:
    """The tile of tensor ``ds`` an operation-space box covers (holes of strided ranks included)."""
    return Tile(tuple(box_extent(rank, box) for rank in ds.projection))


@lru_cache(maxsize=1 << 16)
def _project_box(ds: DataSpace, box: Box) -> Tile:
    return project(ds, dict(box))


def scalar_box(problem: Problem) -> dict[str, int]:
    return {d: 1 for d in problem.dims}


__all__ = ["NestLoop", "CompleteNest", "complete_nest", "project", "scalar_box", "Box"]
