"""Dense analysis of many mappings of one layer at once, in NumPy.

The loop-by-loop simulation in :mod:`.nest_analysis` is exact but walks the
nest in Python; the mapper needs 10^5 evaluations per second.  This module
computes the same per-level counts in closed form, vectorised over a batch of
perfectly factorised mappings:

* a tile at a storage level moves only when a temporal loop above it runs;
  Timeloop simulates iterations 0 and 1 of each loop (iteration 1 weighted by
  the remaining ones), so the tile visits the corners of a binary counter.
  Each step ``j`` moves it by ``tau_j = T_j - sum(T_k, k < j)`` (loop ``j``
  advances, the loops inside it rewind) and occurs ``(n_j - 1) * prod(n_k, k > j)``
  times.  A step delivers nothing (no move), the part of the tile not
  overlapping its last position (same direction as the previous move), or
  the whole tile (a change of direction resets residency).  We evaluate this
  small state machine by dynamic programming over the loops, for all
  mappings at once; tensors whose ranks each depend on one dimension need
  no state (a move never overlaps).
* a spatial fan-out delivers one copy per group of children that need equal
  data (multicast); groups are counted from the data-space offsets of the
  children.
* bypassed levels, partition sizes, first-read elision, bandwidth, energy and
  leakage follow :mod:`.tiling`, :mod:`.performance` and :mod:`.energy`.

Mappings this model cannot express exactly (imperfect factors, link
transfers between neighbouring PEs, unusual projections) are flagged in
``BatchResult.exact`` so callers re-evaluate them with the simulator; tests
check agreement with the simulator on random mappings.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from functools import reduce
from math import gcd
from typing import Sequence

import numpy as np

from ..core.architecture import Architecture
from ..core.mapping import LevelMapping, Loop, Mapping
from ..core.memo import IdentityMemo
from ..core.problem import Problem
from .counts import words_per_element

I64 = np.int64


@dataclass(frozen=True)
class MappingBatch:
    """``B`` perfectly factorised mappings of one layer, as arrays.

    ``temporal[b, l, d]`` factor of dimension ``d`` at level ``l`` (innermost level 0);
    ``temporal_order[b, l, k]`` the dimension of the ``k``-th temporal loop (inner to outer);
    ``spatial[b, l, d]`` the spatial factor fanning out below level ``l``, on axis
    ``spatial_axis[b, l, d]`` (0 = X, 1 = Y); ``spatial_order[b, l, k]`` spatial loop order
    (inner to outer, X loops before Y loops); ``keep[b, l, t]`` which tensors a level holds.
    """

    temporal: np.ndarray
    temporal_order: np.ndarray
    spatial: np.ndarray
    spatial_axis: np.ndarray
    spatial_order: np.ndarray
    keep: np.ndarray

    @property
    def size(self) -> int:
        return int(self.temporal.shape[0])

    def take(self, index: np.ndarray | Sequence[int]) -> "MappingBatch":
        """Mappings ``index`` (positions, or a mask), as new arrays (``np.take`` along the batch
        axis: about twice as fast as fancy indexing on these small-row arrays)."""
        idx = np.asarray(index)
        if idx.dtype == bool:
            idx = np.nonzero(idx)[0]
        return MappingBatch(*(np.take(getattr(self, f), idx, axis=0) for f in _FIELDS))

    def slice(self, start: int, stop: int) -> "MappingBatch":
        """Mappings ``start:stop`` (views of these arrays, no copy)."""
        return MappingBatch(*(getattr(self, f)[start:stop] for f in _FIELDS))

    @staticmethod
    def concat(batches: Sequence["MappingBatch"]) -> "MappingBatch":
        return MappingBatch(*(np.concatenate([getattr(b, f) for b in batches]) for f in _FIELDS))

    @staticmethod
    def from_mappings(problem: Problem, mappings: Sequence[Mapping]) -> "MappingBatch":
        """Arrays for explicit :class:`Mapping` objects (imperfect factors are not representable)."""
        dims = {d: i for i, d in enumerate(problem.dims)}
        names = {t: i for i, t in enumerate(problem.dataspace_names)}
        B, L, D, T = len(mappings), len(mappings[0].levels), len(problem.dims), len(names)
        tf = np.ones((B, L, D), I64)
        sf = np.ones((B, L, D), I64)
        sa = np.zeros((B, L, D), I64)
        to = np.tile(np.arange(D, dtype=I64), (B, L, 1))
        so = np.tile(np.arange(D, dtype=I64), (B, L, 1))
        keep = np.zeros((B, L, T), bool)
        for b, m in enumerate(mappings):
            for l, lm in enumerate(m.levels):
                order = [dims[lp.dim] for lp in lm.temporal]
                to[b, l] = order + [d for d in range(D) if d not in order]
                for lp in lm.temporal:
                    if lp.residual is not None:
                        raise ValueError("imperfect factors are not representable in a MappingBatch")
                    tf[b, l, dims[lp.dim]] *= lp.factor
                sorder = [dims[lp.dim] for lp in lm.spatial]
                so[b, l] = sorder + [d for d in range(D) if d not in sorder]
                for lp in lm.spatial:
                    sf[b, l, dims[lp.dim]] *= lp.factor
                    sa[b, l, dims[lp.dim]] = 0 if lp.axis == "X" else 1
                for t in lm.keep:
                    keep[b, l, names[t]] = True
        return MappingBatch(tf, to, sf, sa, so, keep)

    def mapping(self, problem: Problem, b: int) -> Mapping:
        """The ``b``-th mapping as a :class:`Mapping`."""
        dims, names = problem.dims, problem.dataspace_names
        levels = []
        for l in range(self.temporal.shape[1]):
            temporal = tuple(Loop(dims[d], int(self.temporal[b, l, d])) for d in self.temporal_order[b, l]
                             if self.temporal[b, l, d] > 1)
            spatial = tuple(Loop(dims[d], int(self.spatial[b, l, d]), axis="XY"[int(self.spatial_axis[b, l, d])])
                            for d in self.spatial_order[b, l] if self.spatial[b, l, d] > 1)
            keep = frozenset(names[t] for t in range(len(names)) if self.keep[b, l, t])
            levels.append(LevelMapping(temporal=temporal, spatial=spatial, keep=keep))
        return Mapping(tuple(levels))


def layer_counts(problem: Problem, arch: Architecture, batch: MappingBatch, index: int,
                 result: BatchResult | None = None):
    """The dense :class:`~sbmodel.engine.counts.LayerCounts` of one mapping of the batch,
    from the closed form (equal to the loop-nest analysis; no simulation)."""
    from .counts import ComputeCounts, LayerCounts, LevelCounts, TensorCounts, element_bits

    one = batch.take([index])
    # no prefilter: the dense capacity check would zero a mapping whose tiles only fit
    # compressed or packed, or whose fanout only spatial skipping makes fit
    res = result if result is not None else evaluate_batch(problem, arch, one, prefilter=False)
    i = index if result is not None else 0
    if not res.exact[i]:
        raise ValueError("this mapping needs the loop-nest analysis (closed form not exact)")
    levels = []
    mapping = one.mapping(problem, 0)
    for l, lv in enumerate(arch.storage):
        ux = int(np.prod([m.spatial_extent("X") for m in mapping.levels[l + 1:]]))
        uy = int(np.prod([m.spatial_extent("Y") for m in mapping.levels[l + 1:]]))
        tensors = []
        for t, name in enumerate(problem.dataspace_names):
            kept = bool(res.tile_size[i, l, t] > 0)
            r, f, u = (float(x[i, l, t]) for x in (res.reads, res.fills, res.updates))
            tensors.append(TensorCounts(
                tensor=name, kept=kept, tile_size_words=float(res.tile_size[i, l, t]),
                partition_size_words=float(res.partition_size[i, l, t]),
                utilized_instances=int(res.utilized_instances[i, l]), reads=r, fills=f, updates=u,
                temporal_reductions=r if problem.dataspaces[t].read_write else 0.0,
                actions={"read": r, "fill": f, "update": u}, element_bits=element_bits(problem, lv, name),
            ))
        levels.append(LevelCounts(lv.name, l, tuple(tensors), int(res.utilized_instances[i, l]), ux, uy))
    macs = float(res.compute_cycles[i])
    units = int(np.prod(one.spatial[0]))
    compute = ComputeCounts(utilized_instances=units, algorithmic=macs, actions={"compute": macs}, cycles=macs)
    return LayerCounts(problem, mapping, tuple(levels), compute, None)


def representable(mapping: Mapping) -> bool:
    """Whether a :class:`MappingBatch` holds ``mapping`` exactly: perfect factors, each
    dimension at most once per level and kind of loop, none of Timeloop's per-level
    analysis switches (no_multicast, no_link_transfer, no_temporal_reuse)."""
    for lm in mapping.levels:
        if lm.no_multicast or lm.no_link_transfer or lm.no_temporal_reuse:
            return False
        for loops in (lm.temporal, lm.spatial):
            dims = [lp.dim for lp in loops]
            if len(set(dims)) != len(dims) or any(lp.residual is not None for lp in loops):
                return False
    return True


def mappings_counts(problem: Problem, arch: Architecture, mappings: Sequence[Mapping]) -> list:
    """Dense counts of each mapping: the closed form (one batch for all of them) where it
    holds a mapping exactly -- property-tested equal to the loop-nest analysis and ~100x
    faster -- else the loop-nest analysis.  The counts carry the given mapping itself (its
    complete loop orders feed the sparse stage)."""
    from dataclasses import replace

    from .counts import dense_counts

    out: list = [None] * len(mappings)
    fast = [i for i, m in enumerate(mappings) if representable(m)]
    if fast:
        batch = MappingBatch.from_mappings(problem, [mappings[i] for i in fast])
        # no prefilter: a dense capacity check would zero mappings whose tiles only fit
        # compressed or packed, or whose fanouts only spatial skipping makes fit
        res = evaluate_batch(problem, arch, batch, prefilter=False)
        for row, i in enumerate(fast):
            if res.exact[row]:
                out[i] = replace(layer_counts(problem, arch, batch, row, res), mapping=mappings[i])
    return [c if c is not None else dense_counts(problem, arch, m) for c, m in zip(out, mappings)]


def mapping_counts(problem: Problem, arch: Architecture, mapping: Mapping):
    """Dense counts of one mapping (see :func:`mappings_counts`)."""
    return mappings_counts(problem, arch, [mapping])[0]


_FIELDS = ("temporal", "temporal_order", "spatial", "spatial_axis", "spatial_order", "keep")


@dataclass(frozen=True)
class BatchResult:
    """Per mapping: totals, and per level/tensor dense counts (per instance)."""

    energy_pJ: np.ndarray  # [B]
    cycles: np.ndarray  # [B]
    compute_energy_pJ: np.ndarray  # [B]
    level_energy_pJ: np.ndarray  # [B, L] dynamic + leakage
    tensor_energy_pJ: np.ndarray  # [B, L, T]
    reads: np.ndarray  # [B, L, T]
    fills: np.ndarray
    updates: np.ndarray
    tile_size: np.ndarray  # [B, L, T] words (0 where not kept)
    partition_size: np.ndarray  # [B, L, T] words one instance ever holds (0 where not kept)
    utilized_instances: np.ndarray  # [B, L]
    compute_cycles: np.ndarray  # [B]
    fits: np.ndarray  # [B] every kept tile fits its level (capacity, fanout)
    exact: np.ndarray  # [B] closed form is exact (else re-evaluate with the simulator)


class _Shape:
    """Static facts about the layer's tensors used by the closed form."""

    def __init__(self, problem: Problem):
        self.D = len(problem.dims)
        self.T = len(problem.dataspaces)
        dim = {d: i for i, d in enumerate(problem.dims)}
        self.ranks: list[list[list[tuple[int, int]]]] = [
            [[(c, dim[d]) for c, d in rank] for rank in ds.projection] for ds in problem.dataspaces
        ]
        self.rw = np.array([ds.read_write for ds in problem.dataspaces])
        # A tensor needs the direction state machine only if some rank mixes dimensions.
        self.sliding = [any(len(r) > 1 for r in t) for t in self.ranks]
        # Exactness of the multicast counting: each dimension in at most one rank per tensor.
        self.simple = all(
            len({d for r in t for _, d in r}) == sum(len(r) for r in t) for t in self.ranks
        )
        self.bounds = np.array(problem.bounds, I64)
        # coef[r, d]: coefficient of dimension d in rank r, all tensors' ranks stacked;
        # tensor t owns rows rank_slice[t]
        self.coef = np.array([[sum(c for c, dd in rank if dd == d) for d in range(self.D)]
                              for t in self.ranks for rank in t], I64).reshape(-1, self.D)
        first = np.cumsum([0] + [len(t) for t in self.ranks])
        self.rank_slice = [slice(int(a), int(b)) for a, b in zip(first[:-1], first[1:])]
        # relevant[t, d]: tensor t's tile depends on dimension d
        self.relevant = np.array([[any(d == dd for rank in self.ranks[t] for _, dd in rank) for d in range(self.D)]
                                  for t in range(self.T)]).reshape(self.T, self.D)

    @staticmethod
    def of(problem: Problem) -> "_Shape":
        """The facts of ``problem``, built once per problem object (a search evaluates the same
        layer in many small batches; problems are immutable)."""
        return _SHAPES(problem, _Shape)


_SHAPES: IdentityMemo[Problem, _Shape] = IdentityMemo(256)


def _extent_of_rank(rank: list[tuple[int, int]], planes: np.ndarray) -> np.ndarray:
    """Extent of one rank ``[(coefficient, dimension)]`` from per-dimension extent planes
    ``planes[D, ...]``: ``1 + sum |c| (extent_d - 1)``; a rank that is one dimension is
    that dimension's plane as it is."""
    if len(rank) == 1 and abs(rank[0][0]) == 1:
        return planes[rank[0][1]]
    return 1 + sum(abs(c) * (planes[d] - 1) for c, d in rank)


def _rank_extent(shape: _Shape, t: int, ext: np.ndarray) -> np.ndarray:
    """Per-rank extent [..., R] of tensor t for op-space extents ext[..., D]."""
    planes = np.moveaxis(ext, -1, 0)
    return np.stack([_extent_of_rank(rank, planes) for rank in shape.ranks[t]], axis=-1)


def _tile_words(shape: _Shape, ext: np.ndarray) -> np.ndarray:
    """Words [..., T] of each tensor's tile for op-space extents ext[..., D]: the product of
    its rank extents (see :func:`_tensor_words`)."""
    planes = np.ascontiguousarray(np.moveaxis(ext, -1, 0))  # [D, ...]
    return np.moveaxis(_tensor_words(shape, _rank_planes(shape, planes), planes), 0, -1)


def _rank_planes(shape: _Shape, planes: np.ndarray) -> list[np.ndarray]:
    """Extent [...] of every tensor's ranks (in ``shape.rank_slice`` order) for contiguous
    per-dimension op-space extent planes ``planes[D, ...]``, elementwise (a rank that is one
    dimension is a view of that dimension's plane: no copy)."""
    return [_extent_of_rank(rank, planes) for ranks in shape.ranks for rank in ranks]


def _tensor_words(shape: _Shape, rank_ext: list[np.ndarray], planes: np.ndarray) -> np.ndarray:
    """Words [T, ...] of each tensor's tile from the rank extents ``rank_ext`` of extent planes
    ``planes[D, ...]`` (see :func:`_rank_planes`): their product, elementwise (not a
    reduction over a short axis)."""
    out = np.empty((shape.T,) + planes.shape[1:], planes.dtype)
    for t, ranks in enumerate(shape.rank_slice):
        out[t] = reduce(operator.mul, rank_ext[ranks]) if ranks.stop > ranks.start else 1
    return out


def _fanouts_fit(design: "_Design", batch: MappingBatch, fanout: np.ndarray) -> np.ndarray:
    """[B]: the spatial factors under every level fit its mesh along X and along Y.
    ``fanout[B, L]`` is their product; a level without a fanout fits only a product of 1."""
    limits, fans = design.fanout_limits, design.fanout_levels
    ok = np.all(fanout[:, design.single_levels] == 1, axis=1)
    if fans.size:
        x = _fold_last(np.multiply, np.where(batch.spatial_axis[:, fans] == 0, batch.spatial[:, fans], 1))
        ok &= np.all((x <= limits[fans, 0]) & (fanout[:, fans] // x <= limits[fans, 1]), axis=1)
    return ok


class _Design:
    """Constants of one layer on one architecture (energies, capacities, limits, packing),
    built once per (problem, architecture) pair: a search evaluates many small batches."""

    def __init__(self, problem: Problem, arch: Architecture):
        store = arch.storage
        L = arch.num_levels
        self.fanout_limits = np.array([arch.fanout(l) for l in range(L)], I64).reshape(-1, 2)  # [L, (X, Y)]
        self.fanout_levels = np.nonzero(self.fanout_limits.prod(axis=1) > 1)[0]
        self.single_levels = np.nonzero(self.fanout_limits.prod(axis=1) <= 1)[0]
        self.wpe = words_per_element(problem, arch)  # [L, T]: 1 unless a level packs sub-word data
        self.packed = self.wpe != 1.0
        self.any_packed = bool(self.packed.any())
        self.capped = [l for l, lv in enumerate(store) if lv.effective_size_words is not None]
        self.capacity = np.array([np.inf if lv.effective_size_words is None else lv.effective_size_words
                                  for lv in store])
        # inf: never limits
        self.read_limit = np.array([np.inf if lv.read_bandwidth is None else lv.read_bandwidth for lv in store], float)
        self.write_limit = np.array([np.inf if lv.write_bandwidth is None else lv.write_bandwidth for lv in store],
                                    float)
        self.instances = np.array([lv.instances // lv.cluster_size for lv in store])
        self.block = np.array([lv.block_size for lv in store])[:, None]
        self.unit_blocks = bool((self.block == 1).all())
        self.action_energy = {a: np.array([lv.action_energy(a) for lv in store])[:, None]
                              for a in ("read", "fill", "update")}
        self.leak = np.array([lv.action_energy("leak") for lv in store])
        self.compute_energy = arch.compute.action_energy("compute")

    @staticmethod
    def of(problem: Problem, arch: Architecture) -> "_Design":
        """The constants of ``problem`` on ``arch``, built once per pair of objects (both immutable)."""
        per_problem = _DESIGNS(arch, lambda _: IdentityMemo(256))
        return per_problem(problem, lambda p: _Design(p, arch))


_DESIGNS: IdentityMemo[Architecture, IdentityMemo[Problem, _Design]] = IdentityMemo(64)


def _translations(shape: _Shape, dims: np.ndarray, stride: np.ndarray, dtype: type) -> np.ndarray:
    """Data-space move [R, ...] (every tensor's ranks, rank-major) of one iteration of loops
    over ``dims`` with op-space ``stride``.  Rank-major arrays keep per-step reductions over
    ranks elementwise over contiguous planes, much faster than over a short last axis."""
    return np.take(shape.coef.astype(dtype), dims, axis=1) * stride.astype(dtype)


def _move_dtype(shape: _Shape, levels: int, ext: np.ndarray) -> type:
    """int32 when every data-space move, running sum, walk move and rank extent provably
    fits in it, else int64.  ``ext`` bounds every op-space step; a walk has at most one loop
    per level and dimension, and its moves are at most 4x their total.  Integer arithmetic
    is exact either way; int32 halves the memory traffic of the [R, B, K] arrays."""
    step = max(int(np.abs(ext).max(initial=1)), 1)
    per_rank = int(np.abs(shape.coef).sum(axis=1).max(initial=0))
    return np.int32 if 4 * (levels + 1) * per_rank * step + 1 < 2**31 else I64


def _distinct_offsets(n1: np.ndarray, a: np.ndarray, n2: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distinct values of ``x*a + y*b`` for ``0 <= x < n1``, ``0 <= y < n2`` (a, b > 0)."""
    g = np.gcd(a, b)
    a1, b1 = a // g, b // g
    return n1 * n2 - np.maximum(n1 - b1, 0) * np.maximum(n2 - a1, 0)


def evaluate_batch(problem: Problem, arch: Architecture, batch: MappingBatch, *,
                   prefilter: bool = True) -> BatchResult:
    """Closed-form dense evaluation of every mapping in ``batch`` (see module docstring).

    With ``prefilter`` (the default, as in Timeloop's mapper) candidates whose kept tiles
    overflow a buffer or whose spatial factors exceed a fanout are rejected first and get
    infinite energy and cycles; the full analysis runs on the rest.
    """
    if prefilter:
        ok = fits(problem, arch, batch)
        if not ok.all():
            full = _infeasible(batch, arch.num_levels, len(problem.dataspaces))
            idx = np.nonzero(ok)[0]
            if idx.size:
                part = _evaluate(problem, arch, batch.take(idx))
                for name in BatchResult.__dataclass_fields__:
                    getattr(full, name)[idx] = getattr(part, name)
            return full
    return _evaluate(problem, arch, batch)


def fits(problem: Problem, arch: Architecture, batch: MappingBatch) -> np.ndarray:
    """Kept tiles fit every buffer and spatial factors fit every fanout (cheap, no access analysis)."""
    shape = _Shape.of(problem)
    ext = np.cumprod(batch.temporal * batch.spatial, axis=1)
    keep = batch.keep
    L = arch.num_levels
    level_ids = np.arange(L)[None, :, None]
    top = L - 1 - np.argmax(keep[:, ::-1, :], axis=1)
    kept = keep & (level_ids <= top[:, None, :])
    design = _Design.of(problem, arch)
    ok = _fanouts_fit(design, batch, _fold_last(np.multiply, batch.spatial))
    capped = design.capped
    if capped:
        cap = design.capacity[capped]
        wpe = design.wpe[capped]
        tile = _tile_words(shape, ext[:, capped])
        words = np.zeros((batch.size, len(capped)))
        for t in range(shape.T):  # summed tensor by tensor (as the rounding of the reference)
            words += np.where(kept[:, capped, t], tile[..., t] * wpe[:, t], 0)
        ok &= np.all(words <= cap + 1e-9, axis=1)
    return ok


def _infeasible(batch: MappingBatch, L: int, T: int) -> BatchResult:
    B = batch.size
    return BatchResult(
        energy_pJ=np.full(B, np.inf), cycles=np.full(B, np.iinfo(I64).max, I64),
        compute_energy_pJ=np.full(B, np.inf), level_energy_pJ=np.full((B, L), np.inf),
        tensor_energy_pJ=np.full((B, L, T), np.inf), reads=np.zeros((B, L, T)), fills=np.zeros((B, L, T)),
        updates=np.zeros((B, L, T)), tile_size=np.zeros((B, L, T), I64), partition_size=np.zeros((B, L, T)),
        utilized_instances=np.zeros((B, L), I64),
        compute_cycles=np.zeros(B, I64), fits=np.zeros(B, bool), exact=np.ones(B, bool),
    )


def _evaluate(problem: Problem, arch: Architecture, batch: MappingBatch) -> BatchResult:
    shape = _Shape.of(problem)
    design = _Design.of(problem, arch)
    B = batch.size
    L, D, T = arch.num_levels, shape.D, shape.T
    tf, sf, to = batch.temporal, batch.spatial, batch.temporal_order

    # ---- tile extents at each level boundary, sizes per tensor --------------------------
    ext = np.cumprod(tf * sf, axis=1)  # [B, L, D] extent of the tile held at level l
    ext_below = np.concatenate([np.ones((B, 1, D), I64), ext[:, :-1]], axis=1)  # tile of level l-1
    spatial_ext = ext_below * sf  # the union of the children's tiles under level l's fanout
    planes = np.ascontiguousarray(np.moveaxis(ext, -1, 0))  # [D, B, L]
    rank_ext = _rank_planes(shape, planes)  # [B, L] extents of every rank of the tiles
    size = np.moveaxis(_tensor_words(shape, rank_ext, planes), 0, -1)  # [B, L, T]
    spatial_size = _tile_words(shape, spatial_ext)
    fanout = _fold_last(np.multiply, sf)  # [B, L]: children of one instance of level l
    macs = np.prod(tf, axis=(1, 2))  # temporal iterations = computes per compute unit
    utilized = np.concatenate([np.cumprod(fanout[:, ::-1], axis=1)[:, ::-1][:, 1:], np.ones((B, 1), I64)], axis=1)
    compute_units = np.prod(fanout, axis=1)
    exact = np.ones(B, bool) if shape.simple else np.zeros(B, bool)

    # Temporal loops in nest order (level by level, inner to outer within a level), keeping
    # only factors > 1: a walk above level l is the suffix of loops at levels >= l.  One
    # iteration of the loop over d at level l steps the op space by ext_below * sf.
    all_n = np.take(tf, to + (np.arange(B * L) * D).reshape(B, L, 1)).reshape(B, -1)  # flat gather
    act_all, order = _compaction(all_n > 1)
    if order.shape[1] == 0:  # no temporal loop at all: one inert column keeps shapes simple
        act_all = np.zeros((B, 1), bool)
        loop_n, loop_dim, loop_step = (np.ones((B, 1), I64) for _ in range(3))
        loop_lvl = np.zeros((B, 1), I64)
    else:
        loop_n, loop_dim = _along(all_n, order), _along(to.reshape(B, -1), order)
        # the step of loop (level l, position k) is spatial_ext[l, its dimension]
        loop_lvl = order // D
        loop_step = _along(spatial_ext.reshape(B, -1), loop_lvl * D + loop_dim)
    K = loop_n.shape[1]
    loop_n = np.where(act_all, loop_n, 1)
    # loops from position j outwards: product of factors (for reuse counts and step weights)
    later = np.cumprod(loop_n[:, ::-1], axis=1)[:, ::-1]
    later_excl = np.concatenate([later[:, 1:], np.ones((B, 1), I64)], axis=1)
    weight = (loop_n - 1) * later_excl  # occurrences of step j in a walk containing loop j
    relevant = shape.relevant  # [T, D]
    spatial_levels = np.nonzero((fanout > 1).any(axis=0))[0].tolist()
    # data-space move of one iteration of each loop (all ranks, rank-major), running sums
    # the outermost extents bound every op-space step (cumulative products of factors >= 1
    # grow outwards, and a fanout's extent is at most its level's)
    moves_dtype = _move_dtype(shape, L, ext[:, -1])
    trans_all = _translations(shape, loop_dim, np.where(act_all, loop_step, 0), moves_dtype)
    running = np.zeros(trans_all.shape[:2] + (K + 1,), moves_dtype)  # sums of the first c moves
    csum_all = running[:, :, 1:]
    np.cumsum(trans_all, axis=2, dtype=moves_dtype, out=csum_all)  # (numpy would widen int32 sums)
    # move of step j in the walk over *all* loops: loop j advances, the loops inside rewind
    tau_all = 2 * trans_all - csum_all
    starts = _walk_starts(act_all, loop_lvl, L)  # [B, L]
    offsets = _walk_offsets(running, starts)  # [R, B, L]
    lengths = act_all.sum(axis=1)[:, None] - starts  # [B, L] loops in the walk above each level
    no_links = np.zeros((B, K), bool), np.zeros((B, K)), np.zeros((B, K))  # see _link_effects
    no_links_any = np.zeros(B, bool)

    # ---- per fanout l (children: level l-1, or the MACs for l = 0) ------------------------
    # A: words delivered into one child's tile; P: parent accesses per parent instance;
    # Wt: the same weighted by multicast; LT: words children take from neighbours.
    # Defaults, where a child does not hold a tensor (only the ratio P/Wt matters then): the
    # child's tile, one parent access per group (one group), one per child element.
    A = np.zeros((B, L, T))
    A[:, :-1] = size[:, :-1]
    P = np.ones((B, L, T))
    Wt = np.repeat(fanout[:, :, None].astype(float), T, axis=2)
    LT = np.zeros((B, L, T))
    ones = np.ones(B, I64)
    later_or_one = np.concatenate([later, ones[:, None]], axis=1)  # reuse from loop j outwards; 1 past the last
    held = batch.keep.any(axis=0)  # [L, T]: some mapping's level keeps the tensor
    fanouts: dict[int, _Fanout] = {}
    if spatial_levels:
        fan_list, fan_exact = _Fanout.of_levels(design, shape, batch, spatial_levels, ext_below, fanout, moves_dtype)
        fanouts = {fan.level: fan for fan in fan_list}
        exact &= fan_exact
    for l in range(L):
        child = l - 1
        fans = l in fanouts
        if child >= 0 and not fans and not held[child].any():
            continue  # no fanout, a child that holds nothing: the defaults
        in_walk = act_all & (loop_lvl >= l)
        walk: _Moves | None = None  # every rank's moves along the walk (under a fanout every tensor needs them)
        elements = fanout[:, l]
        if fans:
            fan = fanouts[l]
            walk = _Moves.along_walk(tau_all, offsets[:, :, l], in_walk)
            # Necessary condition for a link: a step's move must be a difference of two children's
            # offsets, so it stays within their spread on every rank (and is non-zero above the
            # MACs, where a still tile delivers nothing); only a fanout to several children links.
            near = walk.magnitude <= fan.spread[:, :, None]
            open_steps = in_walk & fan.multi[:, None]
        for t in range(T):
            if child >= 0 and not fans and not held[child, t]:
                continue
            ranks = shape.rank_slice[t]
            V = size[:, child, t].astype(float) if child >= 0 else np.ones(B)

            def walk_tau() -> _Moves:
                # tile moves of this walk: tau_j = T_j - sum of T_k for walk loops k < j
                if walk is not None:
                    return walk.of_ranks(ranks)
                return _Moves.along_walk(tau_all[ranks], offsets[ranks, :, l], in_walk).of_ranks(slice(None))
            moves = None
            effect, g_link, n_link = no_links
            if fans:
                groups = np.prod(fan.groups[ranks], axis=0)
                moves = walk_tau()
                candidate = np.all(near[ranks], axis=0)
                candidate &= open_steps
                if l > 0:
                    candidate &= moves.moving
                if candidate.any():
                    effect, g_link, n_link = _link_effects(fan, ranks, groups, moves, candidate)
                    linked = effect.any(axis=1)
                else:
                    linked = no_links_any
            else:
                groups = ones
                linked = no_links_any
            if child < 0:  # operands of the MACs: points, no temporal reuse, always the same shape
                P[:, l, t] = macs * groups
                Wt[:, l, t] = macs * elements
                if linked.any():
                    wt_l = np.where(in_walk, weight, 0)
                    mult = np.where(effect, g_link, groups[:, None])
                    P[:, l, t] = groups + np.sum(wt_l * mult, axis=1)
                    Wt[:, l, t] = elements + np.sum(wt_l * np.where(effect, elements[:, None] - n_link,
                                                                    elements[:, None]), axis=1)
                    LT[:, l, t] = np.sum(wt_l * np.where(effect, n_link, 0), axis=1)
                continue
            needed = batch.keep[:, child, t] | linked
            P[:, l, t] = groups  # the defaults (A and Wt hold theirs), multicast groups counted
            if not needed.any():
                continue
            if shape.sliding[t]:
                if moves is None:
                    moves = walk_tau()
                E = np.stack([r[:, child, None] for r in rank_ext[ranks]]).astype(moves_dtype)
                partial = V[:, None] - np.prod(np.maximum(E - moves.magnitude, 0), axis=0, dtype=I64)
                slides = np.any(moves.moving & (partial < V[:, None]), axis=1)
            else:
                slides = np.zeros(B, bool)
            stateful = needed & (slides | linked)
            simple = needed & ~stateful
            if simple.any():
                if shape.sliding[t]:
                    # No step overlaps the previous tile: each step that moves it fetches it
                    # whole (a step can cancel out, e.g. P forward and R back by one).
                    A_ct = V * (1.0 + np.sum(np.where(moves.moving, weight, 0), axis=1))
                else:
                    # Classic reuse: the tile is re-fetched for every iteration of the loops
                    # from the first one in the walk that moves it outwards.
                    rel = in_walk & relevant[t][loop_dim]
                    first = np.where(rel.any(axis=1), np.argmax(rel, axis=1), K)
                    A_ct = V * _along(later_or_one, first[:, None])[:, 0]
                if simple.all():
                    A[:, child, t], P[:, l, t], Wt[:, l, t] = A_ct, A_ct * groups, A_ct * elements
                else:
                    A[simple, child, t] = A_ct[simple]
                    P[simple, l, t] = (A_ct * groups)[simple]
                    Wt[simple, l, t] = (A_ct * elements)[simple]
            if stateful.any():
                i = np.nonzero(stateful)[0]
                if not shape.sliding[t]:
                    partial = np.broadcast_to(V[:, None], (B, K))
                kact, (kn, kmoves, kpart, keff, kg, kl, ktau) = _walk_rows(
                    starts[i, l], lengths[i, l], i, K, loop_n, moves.moving, partial, effect, g_link, n_link, moves.tau)
                acc = _walk(ktau, kmoves & kact, kact, np.where(kact, kn, 1), kpart, V[i], keff, kg, kl,
                            groups[i], elements[i])
                A[i, child, t], P[i, l, t], Wt[i, l, t], LT[i, l, t] = acc

    # ---- per level: content accesses, partitions, bypass folding, reads/fills/updates -----
    keep = batch.keep
    content = P.copy()
    share = np.zeros((B, L, T))
    share[:, :-1, :] = Wt[:, 1:, :] / fanout[:, 1:, None]
    partition = np.zeros((B, L, T))
    partition[:, -1] = size[:, -1]
    # the same operations as floor(partition[l + 1] * size[l] / den[l]), in place level by level
    den = np.where(fanout[:, 1:, None] > 1, spatial_size[:, 1:], size[:, :-1])  # [B, L - 1, T]
    for l in range(L - 2, -1, -1):
        part = partition[:, l]
        np.multiply(partition[:, l + 1], size[:, l], out=part)
        np.divide(part, den[:, l], out=part)
        np.floor(part, out=part)
    # bypass: a level that does not keep a tensor hands its children's accesses to its parent
    # (P and Wt do not change: their ratios for all levels at once; content level by level)
    folded = ~keep[:, :-1, :]
    ratio = np.divide(P[:, 1:], Wt[:, 1:], out=np.zeros((B, L - 1, T)), where=Wt[:, 1:] != 0)
    for l in range(L - 1):
        np.copyto(content[:, l + 1], content[:, l] * fanout[:, l + 1, None] * ratio[:, l], where=folded[:, l])
    link = LT
    np.copyto(link[:, 1:], 0.0, where=folded)
    top = L - 1 - np.argmax(keep[:, ::-1, :], axis=1)  # [B, T] outermost keeping level
    level_ids = np.arange(L)[None, :, None]
    outermost = level_ids == top[:, None, :]
    share = np.where(outermost, 0.0, share)
    kept = keep & (level_ids <= top[:, None, :])
    # neighbour transfers: the receiving child level reads and fills them
    peer = np.zeros((B, L, T))
    peer[:, :-1] = link[:, 1:] / utilized[:, :-1, None]
    rw = shape.rw[None, None, :]
    # (rounding is elementwise: rounding the selected sums is selecting the rounded ones)
    content_peer, share_peer = content + peer, share + peer
    reads = _round(np.where(rw, content_peer - partition, content_peer))
    updates = np.where(rw, _round(content), 0.0)
    fills = np.where(rw, _round(np.where(outermost, share_peer, share_peer - partition)), share_peer)
    reads, updates, fills = (np.where(kept, x, 0.0) for x in (reads, updates, fills))
    tile = np.where(kept, size, 0)

    # ---- capacity and fanout --------------------------------------------------------------
    wpe = design.wpe
    fits = np.all(_fold_last(np.add, tile * wpe) <= design.capacity + 1e-9, axis=1) & _fanouts_fit(design, batch, fanout)

    # ---- cycles ---------------------------------------------------------------------------
    # words per cycle per level and tensor, then summed (Timeloop's and performance.py's rounding)
    compute_cycles = macs.astype(float)
    rbw = _fold_last(np.add, reads * wpe / compute_cycles[:, None, None])
    wbw = _fold_last(np.add, (fills + updates) * wpe / compute_cycles[:, None, None])
    slow = np.ones((B, L))
    for bw, limit in ((rbw, design.read_limit), (wbw, design.write_limit)):
        slow = np.minimum(slow, np.where(bw > limit, limit / np.maximum(bw, 1e-300), 1.0))
    cycles = np.maximum(compute_cycles, _fold_last(np.maximum, np.ceil(compute_cycles[:, None] / slow)))

    # ---- energy ---------------------------------------------------------------------------
    clusters = np.minimum(utilized, design.instances)
    cluster_util = np.where(clusters > 0, utilized / np.maximum(clusters, 1), 1.0)
    scale = (utilized / cluster_util)[:, :, None]
    e = np.zeros((B, L, T))
    block, packed = design.block, design.packed
    for count, action in ((reads, "read"), (fills, "fill"), (updates, "update")):
        # energy.packed_words, then whole blocks (the same numbers without the passes that
        # change nothing when no level packs data and every block is one word)
        words = np.where(packed, np.ceil(count * wpe - 1e-9), np.floor(count)) if design.any_packed else np.floor(count)
        vec = words if design.unit_blocks else _ceil_div(words, block)
        e += vec * design.action_energy[action]
    tensor_energy = e * scale
    level_energy = _fold_last(np.add, tensor_energy) + design.leak * utilized * cycles[:, None]
    compute_energy = macs * compute_units * design.compute_energy
    energy = compute_energy + _fold_last(np.add, level_energy)

    return BatchResult(
        energy_pJ=energy, cycles=cycles.astype(I64), compute_energy_pJ=compute_energy.astype(float),
        level_energy_pJ=level_energy, tensor_energy_pJ=tensor_energy, reads=reads, fills=fills,
        updates=updates, tile_size=tile, partition_size=np.where(kept, partition, 0.0),
        utilized_instances=utilized, compute_cycles=macs,
        fits=fits, exact=exact,
    )


def _walk_starts(act: np.ndarray, loop_lvl: np.ndarray, levels: int) -> np.ndarray:
    """Position [B, L] of the first loop of the walk above each level.  The active loops are a
    prefix in nest order (see :func:`_compaction`), so a walk is a run of positions: the
    active loops at lower levels come first, ``start[b, l]`` of them."""
    B = act.shape[0]
    lvl = np.where(act, loop_lvl, levels)  # inactive loops are below no level
    # each row's loops per level (one bincount), then the loops below each level: a running
    # sum over the few levels (~5x faster than comparing every loop with every level)
    per_level = np.bincount((lvl + (np.arange(B) * (levels + 1))[:, None]).reshape(-1),
                            minlength=B * (levels + 1)).reshape(B, levels + 1)
    starts = np.zeros((B, levels), I64)
    np.cumsum(per_level[:, :levels - 1], axis=1, out=starts[:, 1:])
    return starts


def _walk_offsets(running: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Data-space offset [R, B, L] of the loops below the walk above each level (a walk does
    not rewind them), one gather for all levels: ``running[R, B, c]`` is the sum of the first
    ``c`` loops' moves (0 where inactive), ``starts`` from :func:`_walk_starts`."""
    R, B, K1 = running.shape
    return np.take(running.reshape(R, -1), starts + (np.arange(B) * K1)[:, None], axis=1)


def _along(x: np.ndarray, idx: np.ndarray, base: np.ndarray | None = None) -> np.ndarray:
    """``np.take_along_axis(x, idx, 1)`` for 2-D ``x``, as one flat take (about 2x faster);
    ``base`` (each row's flat offset, ``[B, 1]``) may be passed when gathering repeatedly."""
    if base is None:
        base = (np.arange(x.shape[0]) * x.shape[1])[:, None]
    return np.take(np.ascontiguousarray(x).reshape(-1), idx + base)


def _compaction(act: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Stable order per row moving active loops to the front, trimmed to the longest active
    run: (active flags, column index) in that order.  Past a row's active loops the slots
    hold some of its inactive columns (callers mask them): columns no row activates are
    left out of the sort (a search's batch activates few of its level x dimension loops)."""
    used = act.any(axis=0)
    if used.all():
        return _sorted_compaction(act)
    columns = np.nonzero(used)[0]
    flags, order = _sorted_compaction(act[:, columns])
    return flags, columns[order]


def _sorted_compaction(act: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_compaction` of every column (a stable sort of each row's flags)."""
    K = act.shape[1]
    if K <= 16:  # unique small keys: the (same) permutation, faster than a stable sort of flags
        columns = np.arange(K, dtype=np.int8)
        order = np.argsort(np.where(act, columns, columns + np.int8(K)), axis=1)
    else:
        order = np.argsort(~act, axis=1, kind="stable")
    m = int(act.sum(axis=1).max()) if act.size else 0
    order = order[:, :m]
    return _along(act, order), order


def _walk_rows(start: np.ndarray, length: np.ndarray, rows: np.ndarray, K: int, *arrays: np.ndarray):
    """Rows ``rows`` of each array ([B, K] or rank-major [R, B, K]) with the loops of a walk
    -- positions ``start`` to ``start + length - 1`` of each row (see :func:`_walk_starts`)
    -- moved to the front and trimmed to the longest: (active flags, arrays).  Past a row's
    walk the slots hold later positions (callers mask them, as after :func:`_compaction`)."""
    slot = np.arange(int(length.max()) if rows.size else 0)
    kact = slot < length[:, None]
    flat = np.minimum(start[:, None] + slot, K - 1) + (rows * K)[:, None]  # one flat index for every array
    # rank-major: a take along the flattened last two axes keeps the ranks first in memory
    return kact, [np.take(a.reshape(a.shape[:-2] + (-1,)), flat, axis=a.ndim - 2) for a in arrays]


def _spread(trans: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Largest offset difference [R, B] between two children of a fanout along each rank:
    ``sum_s |trans[r, b, s]| * (n[b, s] - 1)`` over its loops (``n[B, S]`` factors, ``trans``
    rank-major moves), loop by loop over [R, B] planes (integers: any order; an einsum over
    the short loop axis is 2-3x slower)."""
    magnitude, reach = np.abs(trans), n - 1
    out = np.zeros(trans.shape[:2], np.result_type(trans, reach))
    for s in range(trans.shape[2]):
        out += magnitude[:, :, s] * reach[:, s]
    return out


def _group_count(n: np.ndarray, trans: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Children with distinct data (multicast groups) of a fanout along each rank [R, B],
    and whether every mapping's count is exact.

    ``n[B, S]`` spatial factors, ``trans[R, B, S]`` rank-major moves of their loops.  Offsets
    along a rank are ``sum(i_j * T_j)`` over its moving loops, ranks are independent when
    every dimension indexes one rank; one moving loop makes its factor, two make
    :func:`_distinct_offsets`, more are not counted exactly.
    """
    # the product of the moving loops' factors (the count when at most one moves) and how
    # many move, loop by loop over contiguous [R, B] planes (S is small; reductions over a
    # short last axis are slow); the few ranks with several moving loops are recounted
    count = np.ones(trans.shape[:2], I64)
    k = np.zeros(trans.shape[:2], I64)  # moving loops
    for plane, factor in zip(np.moveaxis(trans, 2, 0), n.T):
        moving = plane != 0
        np.multiply(count, factor, out=count, where=moving)
        k += moving
    two = k >= 2  # (more than two: the first two, as the count is flagged inexact anyway)
    if two.any():
        r, b = np.nonzero(two)
        count[r, b] = _distinct_offsets(*_first_two_moving(n[b], np.abs(trans[r, b])))
    return count, (k <= 2).all(axis=0)


def _first_two_moving(n: np.ndarray, step: np.ndarray) -> tuple[np.ndarray, ...]:
    """Factors and step sizes (n1, a1, n2, a2) [M] of the first two moving loops of each row of
    ``n[M, S]`` factors and ``step[M, S]`` move magnitudes (0: the loop does not move)."""
    k = np.zeros(len(n), I64)  # moving loops so far
    n1, a1, n2, a2 = (np.zeros(len(n), I64) for _ in range(4))
    for s in range(n.shape[1]):
        moving = step[:, s] != 0
        is_first, is_second = moving & (k == 0), moving & (k == 1)
        n1, a1 = np.where(is_first, n[:, s], n1), np.where(is_first, step[:, s], a1)
        n2, a2 = np.where(is_second, n[:, s], n2), np.where(is_second, step[:, s], a2)
        k += moving
    return n1, a1, n2, a2


_HASH = np.random.default_rng(20261126).integers(1, 2**62, size=4096, dtype=np.int64).astype(np.uint64) | 1


def _hash_rows(x: np.ndarray, salt: int) -> np.ndarray:
    """64-bit hash of each row of an integer array (wrapping arithmetic)."""
    flat = x.reshape(x.shape[0], -1).astype(np.int64).view(np.uint64)
    k = _HASH[salt: salt + flat.shape[1]]
    # the weighted sum modulo 2**64, as an unsigned matrix-vector product (~10x faster)
    return (flat @ k) ^ np.uint64(salt * 0x9E3779B97F4A7C15 % 2**64)


@dataclass(frozen=True)
class _Moves:
    """One tensor's tile moves along a walk, rank-major: ``tau[r, b, j]``, their magnitude,
    and whether step ``j`` moves the tile at all (computed once, used by several stages)."""

    tau: np.ndarray
    magnitude: np.ndarray
    moving: np.ndarray  # [B, K] (per rank, [R, B, K], in :meth:`along_walk`'s)

    @staticmethod
    def along_walk(tau_all: np.ndarray, offset: np.ndarray, in_walk: np.ndarray) -> "_Moves":
        """Every rank's moves [R, B, K] along the walk over the loops ``in_walk`` (``moving``
        per rank too: :meth:`of_ranks` reduces it per tensor), from the moves ``tau_all`` of
        the walk over all loops and the offset [R, B] of the loops below (see
        :func:`_walk_offsets`)."""
        tau = tau_all + offset[:, :, None]
        tau *= in_walk.astype(tau.dtype)  # (an integer mask: a boolean operand is cast per element)
        return _Moves(tau, np.abs(tau), tau != 0)

    def of_ranks(self, ranks: slice) -> "_Moves":
        """One tensor's moves (its rows ``ranks``) from :meth:`along_walk`'s of every rank."""
        return _Moves(self.tau[ranks], self.magnitude[ranks], np.any(self.moving[ranks], axis=0))


@dataclass(frozen=True)
class _Fanout:
    """One level's spatial loops of factor > 1 (inner to outer, packed to the front; the
    others move nothing) and the mesh their children occupy, shared by every tensor."""

    level: int
    n: np.ndarray  # [B, S] factors (1 past a mapping's loops)
    axis: np.ndarray  # [B, S] 0 = X, 1 = Y
    trans: np.ndarray  # [R, B, S] data-space move of each loop, every tensor's ranks
    spread: np.ndarray  # [R, B] largest offset difference between two children
    width: np.ndarray  # [B] mesh columns
    height: np.ndarray  # [B] mesh rows
    multi: np.ndarray  # [B] more than one child
    groups: np.ndarray  # [R, B] children with distinct data along each rank (see _group_count)

    @staticmethod
    def of_levels(design: _Design, shape: _Shape, batch: MappingBatch, levels: list[int], ext_below: np.ndarray,
                  fanout: np.ndarray, dtype: type) -> tuple[list["_Fanout"], np.ndarray]:
        """The fanouts under ``levels`` and whether all their group counts are exact ([B]),
        in one pass over all of them (level-major rows, so each level is a slice; a level's
        loops are trimmed to its own longest run, as if built alone).  ``ext_below[B, L, D]``
        is the op-space tile of one child, ``fanout[B, L]`` the product of spatial factors."""
        B, F = batch.size, len(levels)

        def by_level(x: np.ndarray) -> np.ndarray:
            """[B, L, ...] at ``levels`` as level-major rows [F * B, ...] (one copy of each level's slice)."""
            return np.concatenate([x[:, level] for level in levels])

        factors, axes, order = by_level(batch.spatial), by_level(batch.spatial_axis), by_level(batch.spatial_order)
        # the loops of factor > 1 in spatial order (inner to outer, X before Y), packed
        act, packed = _compaction(_along(factors > 1, order))
        dims = _along(order, packed)
        base = (np.arange(F * B) * factors.shape[1])[:, None]
        n, axis, step = (_along(x, dims, base) for x in (factors, axes, by_level(ext_below)))
        n, axis = np.where(act, n, 1), np.where(act, axis, 0)
        trans = _translations(shape, dims, np.where(act, step, 0), dtype)
        spread = _spread(trans, n)
        # mesh: the product of the X factors (the inactive slots hold 1), Y the rest of the fanout
        multi = by_level(fanout)
        lx = _fold_last(np.multiply, np.where(axis == 0, n, 1))
        ly = multi // lx
        width = np.maximum(np.repeat(design.fanout_limits[levels, 0], B), lx)
        height = np.maximum(np.repeat(design.fanout_limits[levels, 1], B), ly)
        groups, ok = _group_count(n, trans)
        runs = act.sum(axis=1).reshape(F, B).max(axis=1)  # each level's longest run of loops
        fans = []
        for i, level in enumerate(levels):
            rows, m = slice(i * B, (i + 1) * B), int(runs[i])
            fans.append(_Fanout(level, n[rows, :m], axis[rows, :m], trans[:, rows, :m], spread[:, rows],
                                width[rows], height[rows], multi[rows] > 1, groups[:, rows]))
        return fans, ok.reshape(F, B).all(axis=0)


def _link_effects(fan: _Fanout, ranks: slice, groups: np.ndarray, moves: _Moves, candidate: np.ndarray):
    """For each walk step, whether children take its delta from a neighbour (Timeloop link transfers).

    A child ``e`` can take the delta of this step from a mesh neighbour ``n``
    that received, one step earlier, the same data: ``offset(n) - offset(e) == tau``.
    Timeloop uses the transfers when they leave fewer parent accesses (fewer
    multicast groups).  ``ranks`` selects the tensor's rows of ``fan.trans``;
    ``candidate[B, m]`` the steps that meet the caller's necessary condition (only those link).
    Returns (effect[B, m], groups_left[B, m], linked_children[B, m]).
    """
    B, m = candidate.shape
    effect = np.zeros((B, m), bool)
    g_left = np.zeros((B, m))
    linked = np.zeros((B, m))
    n, trans, H, Vs = fan.n, fan.trans[ranks], fan.width, fan.height
    rows = np.nonzero(candidate.any(axis=1))[0]
    if rows.size == 0:
        return effect, g_left, linked
    row_trans = np.moveaxis(trans[:, rows], 0, 2)  # [rows, S, R], the tables' layout
    cfg = _hash_rows(np.concatenate([n[rows], fan.axis[rows], row_trans.reshape(len(rows), -1),
                                     H[rows, None], Vs[rows, None]], axis=1), 7)
    # enumerate the configurations not seen before (the tables are shared across calls)
    uniq, first = np.unique(cfg, return_index=True)
    new = [(u, i) for u, i in zip(uniq, first) if int(u) not in _LINK_CONFIGS]
    if new:
        keys, vals = [], []
        for u, i in new:
            b = rows[i]
            table = _config_links(n[b], row_trans[i], int(H[b]), int(Vs[b]), int(groups[b]))
            _LINK_CONFIGS[int(u)] = bool(table)
            for tau_vec, (gl, ln) in table.items():
                keys.append(_combine(u, _hash_rows(np.array([tau_vec]), 3)[0]))
                vals.append((gl, ln))
        if keys:
            _LINK_TABLE.add(np.array(keys, dtype=np.uint64), np.array(vals, dtype=float))
    live = np.fromiter((_LINK_CONFIGS[int(u)] for u in cfg), bool, len(cfg))
    rows, cfg = rows[live], cfg[live]
    if rows.size == 0 or _LINK_TABLE.keys.size == 0:
        return effect, g_left, linked
    sub = np.moveaxis(moves.tau[:, rows], 0, 2)  # [rows, m, R]
    step_keys = _combine(cfg[:, None], _hash_rows(sub.reshape(len(rows) * m, -1), 3).reshape(len(rows), m))
    table, values = _LINK_TABLE.keys, _LINK_TABLE.values
    pos = np.clip(np.searchsorted(table, step_keys), 0, len(table) - 1)
    hit = (table[pos] == step_keys) & candidate[rows]
    effect[rows] = hit
    g_left[rows] = np.where(hit, values[pos, 0], 0.0)
    linked[rows] = np.where(hit, values[pos, 1], 0.0)
    return effect, g_left, linked


class _SortedTable:
    """Sorted uint64 keys with float rows, grown by merging (for vectorised lookups)."""

    def __init__(self) -> None:
        self.keys = np.zeros(0, np.uint64)
        self.values = np.zeros((0, 2))

    def add(self, keys: np.ndarray, values: np.ndarray) -> None:
        if self.keys.size > 2_000_000:
            self.keys, self.values = np.zeros(0, np.uint64), np.zeros((0, 2))
            _LINK_CONFIGS.clear()
        k = np.concatenate([self.keys, keys])
        v = np.concatenate([self.values, values])
        order = np.argsort(k, kind="stable")
        self.keys, self.values = k[order], v[order]


_LINK_CONFIGS: dict[int, bool] = {}  # configuration hash -> whether any step can link
_LINK_TABLE = _SortedTable()  # (configuration, move) -> (groups left, linked children)


def _combine(a, b):
    with np.errstate(over="ignore"):
        return np.asarray(a, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15) + np.asarray(b, dtype=np.uint64)


def _config_links(n: np.ndarray, trans: np.ndarray, H: int, Vs: int, groups: int) -> dict:
    """Enumerate one fanout's children: for every neighbour offset ``tau`` that would
    remove whole multicast groups, the groups left and the number of linked children."""
    live = n > 1
    ns = n[live]
    T = trans[live]
    if len(ns) == 0:
        return {}
    idx = np.indices(tuple(ns[::-1])).reshape(len(ns), -1)[::-1]  # loop indices, innermost fastest
    E = idx.shape[1]
    sig = np.concatenate([[1], np.cumprod(ns)[:-1]])
    lin = (idx * sig[:, None]).sum(axis=0)
    off = idx.T @ T  # [E, R]
    h, v = lin % H, lin // H
    pos = np.full(H * max(Vs, int(v.max()) + 1), -1, I64)
    pos[lin] = np.arange(E)
    src, dst = [], []
    for dh, dv in ((0, -1), (0, 1), (-1, 0), (1, 0)):
        hh, vv = h + dh, v + dv
        valid = (hh >= 0) & (hh < H) & (vv >= 0) & (vv < Vs)
        e = np.nonzero(valid)[0]
        nb = pos[vv[e] * H + hh[e]]
        keep = nb >= 0
        src.append(e[keep])
        dst.append(nb[keep])
    e_all, nb_all = np.concatenate(src), np.concatenate(dst)
    out: dict = {}
    if e_all.size:
        diffs = off[nb_all] - off[e_all]
        taus, tau_id = np.unique(diffs, axis=0, return_inverse=True)
        tau_id = tau_id.reshape(-1)
        _, group_of, group_size = np.unique(off, axis=0, return_inverse=True, return_counts=True)
        group_of = group_of.reshape(-1)
        # linked children per tau (a child counts once per tau)
        pairs = _sorted_distinct(tau_id * E + e_all)
        pt, pe = pairs // E, pairs % E
        linked_count = np.bincount(pt, minlength=len(taus))
        # groups entirely linked per tau
        tg, members = np.unique(pt * len(group_size) + group_of[pe], return_counts=True)
        covered = members == group_size[tg % len(group_size)]
        covered_per_tau = np.bincount(tg[covered] // len(group_size), minlength=len(taus))
        for k in np.nonzero(covered_per_tau > 0)[0]:
            out[tuple(int(x) for x in taus[k])] = (float(groups - covered_per_tau[k]), float(linked_count[k]))
    return out


def _sorted_distinct(values: np.ndarray) -> np.ndarray:
    """The distinct values of a 1-D array, ascending: ``np.unique`` by sort and neighbour
    comparison (``np.unique`` without index outputs checks ``np.ma.is_masked``, which imports
    numpy.ma, ~10 ms measured, in every process that links a fanout)."""
    ordered = np.sort(values)
    first = np.empty(ordered.size, bool)
    first[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    return ordered[first]


def _walk(tau, moves, act, n, partial, V, effect, g_link, n_link, groups, elements):
    """Weighted deliveries of the binary-counter walk, with direction resets and links:
    (child deliveries, parent accesses, multicast-weighted parent accesses, link transfers)
    per row.  ``tau[r, b, j]`` is rank-major; see :func:`_walk_links` for the state machine.

    A row none of whose steps links needs only the remembered direction
    (:func:`_walk_directions`, ~5x cheaper per row).  Where other rows of the call link,
    such rows take that shorter walk only when every count of the walk is an integer below
    2**53 (:func:`_exact_counts`): then both walks compute the exact numbers, the same floats.
    """
    _, B, m = tau.shape
    if m == 0:
        return V, V * groups, V * elements, np.zeros(B)
    key = _move_keys(tau)
    eq = key[:, :, None] == key[:, None, :]  # [b, k, j]: steps k and j move the tile alike
    canon = np.argmax(eq, axis=1)
    plain = ~effect.any(axis=1)
    if plain.all():  # no links: the kind of delta never matters, only the direction
        return _walk_plain(eq, canon, moves, act, n, partial, V, groups, elements)
    if not plain.any() or not _exact_counts(V, act, n, groups, elements):
        return _walk_links(eq, canon, moves, act, n, partial, V, effect, g_link, n_link, groups, elements)
    out = np.empty((4, B))
    p, q = np.nonzero(plain)[0], np.nonzero(~plain)[0]
    out[:, p] = _walk_plain(eq[p], canon[p], moves[p], act[p], n[p], partial[p], V[p], groups[p], elements[p])
    out[:, q] = _walk_links(eq[q], canon[q], moves[q], act[q], n[q], partial[q], V[q], effect[q], g_link[q],
                            n_link[q], groups[q], elements[q])
    return tuple(out)


def _walk_plain(eq, canon, moves, act, n, partial, V, groups, elements):
    """:func:`_walk`'s counts of rows without links, from the deliveries of
    :func:`_walk_directions` (every delivered word costs the groups, the elements)."""
    A = V + _walk_directions(eq, canon, moves, act, n, partial, V)
    return A, A * groups, A * elements, np.zeros(len(V))


def _exact_counts(V: np.ndarray, act: np.ndarray, n: np.ndarray, groups: np.ndarray,
                  elements: np.ndarray) -> bool:
    """Whether every count of these walks is an integer below 2**53, so float sums and
    products of them are exact in any order: tiles ``V`` and partial tiles are whole words,
    factors, groups and elements whole numbers, and a walk delivers at most ``V`` per
    iteration of its loops, each word costing at most ``max(groups, elements)``.  (The bound
    is computed in floats: below 2**52 it is below 2**53 despite rounding.)"""
    iterations = np.prod(np.where(act, n, 1).astype(float), axis=1)
    return bool(np.all(V * iterations * np.maximum(groups, elements) < 2.0**52))


def _walk_links(eq, canon, moves, act, n, partial, V, effect, g_link, n_link, groups, elements):
    """:func:`_walk` where steps link (``eq``, ``canon`` from its move keys).

    State = (remembered direction, kind of the last delta).  Direction 0 = none,
    k+1 = ``tau_k`` (canonical: first loop with that move); kind 0 = empty,
    1 = whole tile, 2 = partial.  A neighbour link can replace a parent access
    only when this delta and the previous one are non-empty and of the same
    kind (then one is the other moved by ``tau``).  ``F[b, s]`` is the state the
    walk over the loops processed so far reaches from ``s``; ``G[:, b, s]`` what it
    accumulates: child deliveries, parent accesses, multicast-weighted parent
    accesses, link transfers (a delivered word costs 1, the groups, the elements or
    nothing in each, unless a link replaces the access).
    """
    B, m = moves.shape
    S = 3 * (m + 1)
    states = np.arange(S)
    direction, kind_before = np.divmod(states, 3)
    moving, cont, delta, remembered = _step_tables(eq, canon, moves, partial, V, direction)
    full_size = (partial >= V[:, None]).T[:, :, None]
    kind = np.where(moving, np.where(cont & ~full_size, 2, 1), 0)
    link = effect.T[:, :, None] & (kind == kind_before) & (kind != 0)
    # words[j, a]: what step j adds to accumulator a from each state; a delivered word costs
    # 1, the groups, the elements or nothing in each, unless a link replaces the access
    words = np.empty((m, 4, B, S))
    words[:, 0] = delta
    words[:, 1] = delta * np.where(link, g_link.T[:, :, None], groups[None, :, None])
    words[:, 2] = delta * np.where(link, (elements[:, None] - n_link).T[:, :, None], elements[None, :, None])
    words[:, 3] = delta * np.where(link, n_link.T[:, :, None], 0.0)
    # states as flat indices into a [B, S] table, accumulators 4 slabs of it
    base = (np.arange(B) * S)[:, None]
    slab = (np.arange(4) * (B * S))[:, None, None]
    nxt = (remembered * 3 + kind + base).reshape(m, -1)
    words = words.reshape(m, -1)
    # an inactive step adds nothing (scale 0), so its rows need no masking; G stays >= 0 and finite
    scale = np.where(act, n - 1, 0).T[:, :, None]
    F = states + base
    G = np.zeros((4, B, S))  # the four accumulators, one gather and update for all
    for j in range(m):
        after = np.take(nxt[j], F)
        newG = np.take(words[j], F + slab)  # G + scale * (words + G[after]), without temporaries
        newG += np.take(G, after + slab)
        newG *= scale[j]
        newG += G
        G, F = newG, np.take(F, after)
    start = 0 * 3 + 1  # no direction yet, last delta = the whole tile
    first = np.stack([V, V * groups, V * elements, np.zeros(B)])
    return tuple(first + G[:, :, start])


def _move_keys(tau: np.ndarray) -> np.ndarray:
    """One integer [B, m] per move ``tau[R, B, m]``, equal exactly where the moves are equal
    on every rank: the digits ``tau_r + span`` (in ``[0, 2 span]``) in base ``2 span + 1``
    when the number fits in int64 (comparing keys: one pass instead of one per rank), else
    the index of the first equal move (a comparison per rank)."""
    R = len(tau)
    span = int(np.abs(tau).max(initial=0))
    radix = 2 * span + 1
    if radix ** R < 2**62:
        key = np.zeros(tau.shape[1:], I64)
        for rank_tau in tau:
            key *= radix
            key += rank_tau
            key += span
        return key
    eq = np.ones(tau.shape[1:] + tau.shape[2:], bool)  # rank by rank (no [R, B, m, m] temporary)
    for rank_tau in tau:
        eq &= rank_tau[:, :, None] == rank_tau[:, None, :]
    return np.argmax(eq, axis=1)


def _step_tables(eq, canon, moves, partial, V, direction: np.ndarray):
    """Tables [m, B, S] of each walk step from each state remembering ``direction[s]``
    (0 = none, k+1 = ``tau_k``): whether the step moves the tile, whether the move continues
    the remembered direction (or is the first), the words it delivers (the partial tile if
    so, else the whole tile) and the direction remembered after it.  Tabulated up front, the
    walks' loops only gather (their inputs: ``act`` each row's active prefix of steps)."""
    B, m = moves.shape
    same_dir = np.zeros((m, B, m + 1), bool)  # [j, b, d]: direction d is step j's move
    same_dir[:, :, 1:] = eq.transpose(2, 0, 1)
    same = np.take(same_dir, direction, axis=2)
    moving = moves.T[:, :, None]
    cont = same | (direction == 0)
    # where the step moves, the partial tile if it continues else the whole one; else 0 (tiles are
    # finite and >= 0, so a product with the 0/1 flags is that selection, one pass fewer)
    delta = np.where(cont, partial.T[:, :, None], V[None, :, None])
    delta *= moving
    after = same * direction  # a move keeps a remembered direction it continues, else forgets it...
    after[:, :, direction == 0] = (canon.T + 1)[:, :, None]  # ...and a first move is remembered
    return moving, cont, delta, np.where(moving, after, direction)


def _walk_directions(eq, canon, moves, act, n, partial, V) -> np.ndarray:
    """:func:`_walk` without links: state = remembered direction only; returns deliveries
    after the first tile.  ``act`` must be each row's active prefix of steps."""
    B, m = moves.shape
    states = np.arange(m + 1)
    _, _, delta, nxt = _step_tables(eq, canon, moves, partial, V, states)
    # states as flat indices into a [B, m+1] table (row offset added once, not per step)
    base = (np.arange(B) * (m + 1))[:, None]
    delta, nxt = delta.reshape(m, -1), (nxt + base).reshape(m, -1)
    # an inactive step adds nothing (scale 0), so its rows need no masking; G stays >= 0 and finite
    scale = np.where(act, n - 1, 0).T[:, :, None]
    F = states + base
    G = np.zeros((B, m + 1))
    for j in range(m):
        after = np.take(nxt[j], F)
        step = np.take(delta[j], F)  # G + scale * (delta + G[after]), without temporaries
        step += np.take(G, after)
        step *= scale[j]
        step += G
        G = step
        F = np.take(F, after)
    return G[:, 0]


def _fold_last(op: np.ufunc, x: np.ndarray) -> np.ndarray:
    """``op.reduce(x, axis=-1)`` (float64 or int64 ``x``), the same numbers, as ``op`` of the
    last axis' planes in order: numpy's reduction runs an inner loop per output element, ~5x
    slower over a short axis such as the tensors of [B, L, T].  Numpy adds fewer than 8 terms
    in order too (from 8 it sums pairwise: then its own reduction runs)."""
    n = x.shape[-1]
    if not 2 <= n < 8:
        return op.reduce(x, axis=-1)
    out = op(x[..., 0], x[..., 1])
    for i in range(2, n):
        op(out, x[..., i], out=out)
    return out


def _ceil_div(words: np.ndarray, block: np.ndarray) -> np.ndarray:
    """Whole blocks ``ceil(words / block)`` of integral float ``words`` (blocks >= 1), as the
    integer division ``-(-words // block)``.  Below 2**53 words in magnitude the float
    quotient q is exact or at least 1/block from an integer (its rounding error is below
    |q| * 2**-53 < 1/block), so its ceiling is the same and avoids the slow integer division."""
    if words.size and not (words.max() < 2.0**53 and words.min() > -2.0**53):
        return -(-words.astype(I64) // block)
    return np.ceil(words / block)


def _round(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


__all__ = ["MappingBatch", "BatchResult", "evaluate_batch", "layer_counts", "mapping_counts", "mappings_counts", "representable", "gcd"]
