"""Representation formats: which loops each rank covers, expected occupancy, metadata traffic.

For every tensor, walking its storage levels from the innermost up:

1. *rank assignment* — the loops below a level that index the tensor (and the
   child level's loops, if the level is compressed and must hold its child's
   tiles pre-tiled) are mapped onto the format's ranks, outermost rank to
   outermost loop (or innermost first), skipping trivial loops and
   flattening consecutive loops a rank's ``flattened`` group allows; each
   rank gets its fiber shape and the subtile each coordinate points at;
2. *expected occupancy* — the tile's occupancy distribution (from the density
   model) weighs the data and per-rank metadata occupancy of every possible
   occupancy; tiles whose parent holds metadata never move when empty, so
   their instances are used less on average;
3. *metadata traffic* — per rank, metadata and payload units times the number
   of times the tile is read, filled or updated (reads / tile points).

The rules are Sparseloop's (``representation-analyzer.cpp``), quirks included.
"""

from __future__ import annotations

from math import ceil

import numpy as np

from ...core.architecture import Architecture
from ...core.problem import Problem
from ...errors import EvaluationError
from .density import DensityModel, Given, Tile
from .formats import RankOccupancy, RankQuery, adjust_word_bits, rank_occupancy, DEFAULT_METADATA_BITS
from .nest import CompleteNest, NestLoop, project, scalar_box
from .spec import SparseSpec, TensorFormat
from .state import TileState


def _flatten_group(fmt: TensorFormat | None, rank: int, dim: str) -> list[str] | None:
    """The flattening group of ``rank`` (innermost = 0) containing ``dim``; [] if the rank has
    no flattening rule; None if it has rules but none contains ``dim``."""
    if fmt is None:
        return []
    groups = fmt.innermost_first[rank].flattened
    if not groups:
        return []
    for g in groups:
        if dim in g:
            return list(g)
    return None


def _take_rank(loops: list[NestLoop], k: int, step: int, group: list[str] | None, has_md: bool
               ) -> tuple[list[NestLoop], int]:
    """Loop ``k`` and, walking by ``step``, the loops a rank flattens with it (same group, or any
    loop for default-dense tiles; trivial loops are passed over); returns them and the next index."""
    taken = [loops[k]]
    k += step
    if group is None:
        return taken, k
    while 0 <= k < len(loops):
        lp = loops[k]
        if has_md and lp.dim not in group and not lp.trivial:
            break
        if not lp.trivial:
            taken.append(lp)
        k += step
    return taken, k


def _rank_group(fmt: TensorFormat | None, rank: int, dim: str) -> tuple[bool, list[str] | None]:
    """(can the rank take a loop over ``dim``, the group it then flattens; None: only that loop)."""
    if fmt is None:
        return True, []
    if not fmt.innermost_first[rank].flattened:
        return True, None
    group = _flatten_group(fmt, rank, dim)
    return group is not None, group


def _assign_outer_to_inner(inner_rank: int, loops: list[NestLoop], tiles: list[Tile], fmt: TensorFormat | None,
                           ranks: int, scalar: Tile, st: TileState) -> bool:
    """Map loops (innermost first) to ranks, outermost rank first; True if loops are left over."""
    k = len(loops) - 1
    r = ranks
    while r > inner_rank and k >= 0:
        while k >= 0 and loops[k].trivial:
            k -= 1
        if k < 0:
            break
        r -= 1
        ok, group = _rank_group(fmt, r, loops[k].dim)
        if not ok:  # the rank cannot take this loop: an empty rank (appended, as Sparseloop does)
            st.metadata_subnest.append([])
            st.subtiles.append(tiles[0])
            continue
        corresponding = tiles[k]
        rank_loops, k = _take_rank(loops, k, -1, group, fmt is not None)
        st.metadata_subnest.insert(0, rank_loops)
        st.subtiles.insert(0, corresponding)
    while r > inner_rank:
        r -= 1
        st.metadata_subnest.insert(0, [])
        st.subtiles.insert(0, tiles[0])
    return any(not loops[j].trivial for j in range(k + 1))


def _assign_inner_to_outer(inner_rank: int, loops: list[NestLoop], tiles: list[Tile], fmt: TensorFormat | None,
                           ranks: int, scalar: Tile, st: TileState) -> bool:
    """Map loops (innermost first) to ranks, innermost rank first; True if loops are left over."""
    k = 0
    n = len(loops)
    r = inner_rank - 1
    corresponding = scalar
    while r < ranks - 1 and k < n:
        while k < n and loops[k].trivial:
            k += 1
        if k >= n:
            break
        r += 1
        ok, group = _rank_group(fmt, r, loops[k].dim)
        if not ok:  # an empty rank over the group's first dimension
            assert fmt is not None
            first = fmt.innermost_first[r].flattened[0][0]
            st.metadata_subnest.append([NestLoop(first, 1, 1, loops[k].spatial, loops[k].axis)])
            st.subtiles.append(corresponding)
            continue
        corresponding = tiles[k]  # Sparseloop keeps the subtile of the rank's innermost loop
        rank_loops, k = _take_rank(loops, k, 1, group, fmt is not None)
        st.metadata_subnest.append(rank_loops)
        st.subtiles.append(corresponding)
        corresponding = scalar
    while r < ranks - 1:
        r += 1
        st.metadata_subnest.append([])
        st.subtiles.append(tiles[0])
    return any(not loops[j].trivial for j in range(k, n))


def define_formats(states: list[list[TileState]], nest: CompleteNest, problem: Problem, arch: Architecture,
                   spec: SparseSpec) -> None:
    """Rank assignment, fiber shapes and word widths of every tile (step 1 of the module doc)."""
    names = [lv.name for lv in arch.storage]
    for t, ds in enumerate(problem.dataspaces):
        dims = ds.dims
        scalar = project(ds, scalar_box(problem))
        level = 0
        tiles_t = states[t]
        while level is not None and level < len(tiles_t):
            st = tiles_t[level]
            if not st.kept:
                level += 1
                continue
            fmt = spec.level(names[level]).formats.get(ds.name)
            if fmt is not None:
                st.fmt, st.has_metadata, st.compressed = fmt, True, fmt.compressed
                st.inner_to_outer = fmt.inner_to_outer
                spec_level = arch.storage[level]
                st.rank_bits = []
                for rf in fmt.innermost_first:
                    md_default = DEFAULT_METADATA_BITS[rf.format]
                    md = rf.metadata_word_bits if rf.metadata_word_bits is not None else md_default
                    bits = (adjust_word_bits(md, spec_level.metadata_word_bits, spec_level.metadata_storage_width_bits),
                            adjust_word_bits(rf.payload_word_bits, spec_level.metadata_word_bits,
                                             spec_level.metadata_storage_width_bits))
                    if max(bits) > spec_level.metadata_storage_width_bits and spec_level.metadata_storage_width_bits:
                        raise EvaluationError(
                            f"level {names[level]}: tensor {ds.name}: format {rf.format} word bits {max(bits)} exceed "
                            f"the metadata storage width ({spec_level.metadata_storage_width_bits} bits)")
                    st.rank_bits.append(bits)
            ranks = len(fmt.ranks) if fmt is not None else 1
            child = st.child
            inner_most = 0 if child is None else child + 1
            child_ranks = 0
            pretile = False
            if child is not None:
                ch = tiles_t[child]
                child_ranks = len(ch.fmt.ranks) if ch.fmt is not None else 1
                if st.compressed and ch.shape > 1:
                    pretile = True
                    if child_ranks > ranks:
                        raise EvaluationError(
                            f"level {names[level]}: tensor {ds.name} must hold its child level's tiles pre-tiled, but "
                            f"its format has {ranks} rank(s) and {names[child]}'s has {child_ranks}")
                    if ch.compressed:
                        mine = [r.format for r in fmt.innermost_first][:child_ranks]
                        theirs = [r.format for r in ch.fmt.innermost_first]
                        if mine != theirs:
                            raise EvaluationError(
                                f"level {names[level]}: tensor {ds.name} is pre-tiled for {names[child]}, so its inner "
                                f"ranks must use {names[child]}'s formats {theirs[::-1]} (outermost first)")
            # Loops from this level down to (not including) the child level, innermost first.
            loops: list[NestLoop] = []
            tiles: list[Tile] = []
            for l in range(level, inner_most - 1, -1):
                for k in range(len(nest.levels[l]) - 1, -1, -1):
                    lp = nest.levels[l][k]
                    if lp.dim in dims:
                        loops.insert(0, lp)
                        tiles.insert(0, nest.mold_tile(ds, l, k))
            if not pretile:
                below = {d: 1 for d in problem.dims}
                below_res = {d: 1 for d in problem.dims}
                for l in range(inner_most):
                    for lp in nest.levels[l]:
                        below[lp.dim] *= lp.factor
                        below_res[lp.dim] *= lp.residual
                scaled = []
                for lp in loops:
                    scaled.append(NestLoop(lp.dim, lp.factor * below[lp.dim], lp.residual * below_res[lp.dim],
                                           lp.spatial, lp.axis))
                    below[lp.dim] = below_res[lp.dim] = 1
                loops = scaled
            inner_rank = child_ranks if pretile else 0
            st.metadata_subnest, st.subtiles = [], []
            assign = _assign_inner_to_outer if st.inner_to_outer else _assign_outer_to_inner
            if assign(inner_rank, loops, tiles, fmt, ranks, scalar, st):
                raise EvaluationError(
                    f"level {names[level]}: tensor {ds.name}: the mapping needs more ranks than its format "
                    f"{[r.format for r in fmt.ranks] if fmt else 'default'} provides")
            st.inherited_ranks = 0
            if pretile:
                ch = tiles_t[child]
                st.inherited_ranks = len(ch.metadata_subnest)
                st.metadata_subnest = [list(x) for x in ch.metadata_subnest] + st.metadata_subnest
                st.subtiles = list(ch.subtiles[:len(ch.metadata_subnest) + 1]) + st.subtiles
            else:
                st.subtiles.insert(0, scalar)
            if len(st.metadata_subnest) != ranks:
                raise EvaluationError(f"level {names[level]}: tensor {ds.name}: could not map the loops onto "
                                      f"{ranks} rank(s)")
            st.fiber_shape = []
            for rank_loops in st.metadata_subnest:
                box = {d: 1 for d in problem.dims}
                for lp in rank_loops:
                    box[lp.dim] *= lp.factor
                st.fiber_shape.append(project(ds, box).size)
            level = st.parent


def _trivial_rank_is_free(st: TileState, rank: int, fmt: str) -> bool:
    """Whether a rank over a single coordinate (fiber shape 1) costs nothing.

    Sparseloop's source says trivial ranks are free; its outputs (head, 2025)
    show it for uncompressed formats and for padding ranks of multi-rank
    formats, but not for the only rank of a one-rank format nor for ranks a
    level holds pre-tiled for its child, which keep their per-fiber metadata.
    We follow the outputs.
    """
    if fmt in ("UOP", "UB"):
        return True
    return rank >= st.inherited_ranks and len(st.fiber_shape) > 1


def metadata_given_tile(st: TileState, tile: Tile, given: Given | None) -> list[RankOccupancy]:
    """Per-rank metadata of one tile (innermost rank first), knowing its occupancy."""
    assert st.fmt is not None
    fmts = st.fmt.innermost_first
    out: list[RankOccupancy] = []
    max_fibers = 1
    cur = tile
    for r in range(len(fmts) - 1, -1, -1):
        fs = st.fiber_shape[r]
        nxt = st.subtiles[r]
        if fs == 1 and _trivial_rank_is_free(st, r, fmts[r].format):
            occ = RankOccupancy()
        else:
            md_bits, pl_bits = st.rank_bits[r]
            occ = rank_occupancy(fmts[r].format, RankQuery(max_fibers, fs, cur, nxt, st.density, given),
                                 md_bits, pl_bits)
            if r == 0:
                occ = RankOccupancy(occ.metadata_units, 0.0, occ.metadata_bits, occ.payload_bits)
        out.insert(0, occ)
        max_fibers *= fs
        cur = nxt
    return out


def max_data_occupancy(st: TileState, confidence: float = 1.0) -> int:
    """Largest data occupancy at a confidence: the dense shape unless the tile is compressed."""
    if not st.compressed:
        return st.shape
    return st.density.max_occupancy(_tile(st), confidence)


def _tile(st: TileState) -> Tile:
    return st.tile


def occupancy_support(density: DensityModel, tile: Tile, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """The occupancies a tile can hold (up to ``hi``, its capacity) and their probabilities."""
    lo = density.min_occupancy(tile)
    occs, probs = density.distribution(tile)
    inside = (occs >= lo) & (occs <= hi) & (probs != 0)
    return occs[inside], np.asarray(probs[inside], dtype=float)


def weighted_occupancy(occs: np.ndarray, probs: np.ndarray) -> float:
    """Expected occupancy, summed term by term in order (as Sparseloop rounds)."""
    total = 0.0
    for k, p in zip(occs.tolist(), probs.tolist()):
        total += p * k
    return total


def expected_occupancy(states: list[list[TileState]]) -> None:
    """Expected data and metadata occupancy of every kept tile (step 2 of the module doc).

    All possible occupancies of a tile are handled at once: the metadata of
    every rank is computed for the vector of occupancies and then weighted.
    """
    for tiles_t in states:
        for st in tiles_t:
            if not st.kept:
                continue
            tile = st.tile
            occs, probs = occupancy_support(st.density, tile, max_data_occupancy(st, 1.0))
            parent = tiles_t[st.parent] if st.parent is not None else None
            if parent is not None and parent.has_metadata and occs.size and occs[0] == 0:
                # Empty tiles are never sent down: fewer instances hold a tile on average.
                keep = 1.0 - float(probs[0])
                st.avg_replication *= keep
                probs = probs / keep if keep > 0 else np.zeros_like(probs)
                probs[0] = 0.0
            total = weighted_occupancy(occs, probs)
            st.expected_occupancy = total
            st.expected_density = total / st.shape
            if st.has_metadata and occs.size:
                per_rank = metadata_given_tile(st, tile, Given(tile, occs.astype(np.int64)))
                st.expected_metadata = [occ.expected(probs) for occ in per_rank]
            else:
                st.expected_metadata = []


def metadata_accesses(states: list[list[TileState]]) -> None:
    """Per-rank metadata and payload reads/fills/updates (step 3 of the module doc)."""
    for tiles_t in states:
        for st in tiles_t:
            if not st.kept or not st.has_metadata:
                continue
            ratios = (st.reads / st.shape, st.fills / st.shape, st.updates / st.shape)
            st.format_reads, st.format_fills, st.format_updates = [], [], []
            for occ in st.expected_metadata:
                md, pl = occ.metadata_units, occ.payload_units
                st.format_fills.append([float(ceil(md * ratios[1])), float(ceil(pl * ratios[1]))])
                st.format_reads.append([float(ceil(md * ratios[0])), float(ceil(pl * ratios[0]))])
                st.format_updates.append([float(ceil(md * ratios[2])), float(ceil(pl * ratios[2]))])
                for counts in st.fmt_actions.values():
                    counts.append([0.0, 0.0])


def metadata_tile_bits(st: TileState, confidence: float = 1.0) -> tuple[int, list[RankOccupancy]]:
    """Metadata a tile needs at its largest occupancy (capacity check), in bits, and per rank."""
    if not st.has_metadata:
        return 0, []
    top = st.density.max_occupancy(st.tile, confidence)
    per_rank = [RankOccupancy(float(r.metadata_units), float(r.payload_units), r.metadata_bits, r.payload_bits)
                for r in metadata_given_tile(st, st.tile, Given(st.tile, top))]
    return int(ceil(sum(r.bits for r in per_rank))), per_rank


__all__ = ["define_formats", "expected_occupancy", "occupancy_support", "weighted_occupancy", "metadata_accesses", "metadata_given_tile",
           "max_data_occupancy", "metadata_tile_bits"]
