"""Sparse evaluation of many mappings of one layer at once, in NumPy.

The mapper needs thousands of sparse evaluations per second; the per-mapping
stage (:mod:`.stage`) walks Python records.  This module runs the same rules
as arrays over a :class:`~sbmodel.engine.batch.MappingBatch`, for designs whose
sparse features are storage gating/skipping (with ``condition_on``) and
compute gating/skipping: dense counts come from the closed form
(:func:`~sbmodel.engine.batch.evaluate_batch`), then

1. the *complete nest* of every mapping becomes a fixed grid of loop slots
   (per level: a spatial slot per dimension if the hardware fans out there,
   then a temporal slot per dimension; non-trivial loops first in mapping
   order, then the trivial ones in problem order, as :mod:`.nest` builds it),
   with the operation-space box (mold) of every slot;
2. each gating/skipping option finds its target loop and condition tile with
   first-match and cumulative-OR scans over the slots (:mod:`.actions`);
   tile probabilities come from the tensor's density model, once per distinct
   tile shape;
3. propagation, the compute split, cycles and energy follow
   :mod:`.propagate`, :mod:`.compute`, :mod:`~sbmodel.engine.performance` and
   :mod:`~sbmodel.engine.energy` with per-mapping masks instead of branches.

Anything else (representation formats, spatial skipping, the repetition
stage, mappings the closed form cannot express, mapping-dependent errors) is
evaluated by the exact per-mapping pipeline; ``vectorised`` says which path
each mapping took.  Tests check both paths agree on random mappings.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np

from ...core.architecture import Architecture
from ...core.problem import Problem
from ...errors import EvaluationError
from ..batch import BatchResult, MappingBatch, _rank_extent, _Shape, evaluate_batch, layer_counts
from .density import DensityModel, Tile
from .representation import occupancy_support, weighted_occupancy
from .spec import Densities, SparseSpec

I64 = np.int64
STORAGE_ACTIONS = ("read", "fill", "update", "gated_read", "gated_fill", "gated_update",
                   "skipped_read", "skipped_fill", "skipped_update")
COMPUTE_ACTIONS = ("compute", "gated_compute", "skipped_compute")


def _whole(counts: np.ndarray) -> np.ndarray:
    """Per-instance counts as the sparse stage takes them (:func:`.stage._whole`): whole
    counts rounded off, averages over instances that differ (e.g. 46.25 fills) kept."""
    whole = np.rint(counts)
    return np.where(np.abs(counts - whole) < 1e-9, whole, counts)


@dataclass(frozen=True)
class SparseBatchResult:
    """Per mapping: totals and sparse action counts (storage counts per instance, as in
    :class:`~sbmodel.engine.counts.TensorCounts`; computes summed over the units)."""

    energy_pJ: np.ndarray  # [B] (inf: does not fit or cannot be evaluated)
    cycles: np.ndarray  # [B]
    compute_energy_pJ: np.ndarray  # [B]
    level_energy_pJ: np.ndarray  # [B, L] dynamic + leakage
    actions: dict[str, np.ndarray]  # storage action -> [B, L, T]
    computes: dict[str, np.ndarray]  # compute action -> [B]
    algorithmic_computes: np.ndarray  # [B]
    fits: np.ndarray  # [B] fits the buffers and fanouts, and evaluated without error
    vectorised: np.ndarray  # [B] True: array path; False: per-mapping pipeline


def vectorisable(problem: Problem, arch: Architecture, spec: SparseSpec | None) -> bool:
    """True if the array path covers this design and layer (see the module doc)."""
    if spec is None or spec.empty:
        return True
    style = arch.compute.style
    if style.kind != "mac" or style.structured is not None or _packed(arch):
        return False  # the repetition stage changes counts or energies: the per-mapping pipeline
    if spec.has_formats or spec.has_spatial_skipping:
        return False
    return sum(not ds.read_write for ds in problem.dataspaces) == 2


def _packed(arch: Architecture) -> bool:
    """Some level packs elements by their bits (counts become words: the pipeline's job)."""
    return any(lv.packed for lv in arch.storage)


def evaluate_sparse_batch(problem: Problem, arch: Architecture, batch: MappingBatch, *,
                          spec: SparseSpec | None = None, prefilter: bool = True) -> SparseBatchResult:
    """Sparse energy, cycles and action counts of every mapping in ``batch``.

    ``spec`` defaults to the architecture's sparse features; densities come from
    ``problem.densities``.  With ``prefilter``, mappings whose *dense* tiles overflow a
    buffer or whose spatial factors exceed a fanout get infinite energy (exact for the
    designs the array path covers, which store tensors uncompressed; with formats,
    compressed tiles may fit where dense ones do not: pass ``prefilter=False`` and check
    capacity with the compressed sizes, as the mapper's sparse driver does).
    """
    spec = spec if spec is not None else arch.sparse
    if spec is not None and not spec.empty:
        spec.validate(problem, arch)
    dense = evaluate_batch(problem, arch, batch, prefilter=prefilter)
    B, L, T = batch.size, arch.num_levels, len(problem.dataspaces)
    out = _Arrays.empty(B, L, T)
    ok = dense.fits.copy()
    fast = ok & dense.exact if vectorisable(problem, arch, spec) else np.zeros(B, bool)
    if fast.any():
        idx = np.nonzero(fast)[0]
        sub = _take(dense, idx)
        vec = _Vector(problem, arch, spec, batch.take(idx), sub)
        done = vec.run()
        out.scatter(idx[done], vec.result(done))
        fast[idx[~done]] = False
    for i in np.nonzero(ok & ~fast)[0]:
        ok[i] = _scalar(problem, arch, spec, batch, dense, int(i), out)
    return SparseBatchResult(
        energy_pJ=out.energy, cycles=out.cycles, compute_energy_pJ=out.compute_energy,
        level_energy_pJ=out.level_energy, actions=out.actions, computes=out.computes,
        algorithmic_computes=out.algorithmic, fits=ok, vectorised=fast & ok,
    )


# ----------------------------------------------------------------------------------------------------------
# Result arrays
# ----------------------------------------------------------------------------------------------------------

@dataclass
class _Arrays:
    energy: np.ndarray
    cycles: np.ndarray
    compute_energy: np.ndarray
    level_energy: np.ndarray
    actions: dict[str, np.ndarray]
    computes: dict[str, np.ndarray]
    algorithmic: np.ndarray

    @staticmethod
    def empty(B: int, L: int, T: int) -> "_Arrays":
        return _Arrays(np.full(B, np.inf), np.full(B, np.iinfo(I64).max, I64), np.full(B, np.inf),
                       np.full((B, L), np.inf), {a: np.zeros((B, L, T)) for a in STORAGE_ACTIONS},
                       {a: np.zeros(B) for a in COMPUTE_ACTIONS}, np.zeros(B))

    def scatter(self, idx: np.ndarray, part: "_Arrays") -> None:
        for name in ("energy", "cycles", "compute_energy", "level_energy", "algorithmic"):
            getattr(self, name)[idx] = getattr(part, name)
        for a in STORAGE_ACTIONS:
            self.actions[a][idx] = part.actions[a]
        for a in COMPUTE_ACTIONS:
            self.computes[a][idx] = part.computes[a]


def _take(res: BatchResult, idx: np.ndarray) -> BatchResult:
    return BatchResult(**{f: getattr(res, f)[idx] for f in BatchResult.__dataclass_fields__})


def _scalar(problem: Problem, arch: Architecture, spec: SparseSpec | None, batch: MappingBatch,
            dense: BatchResult, i: int, out: _Arrays) -> bool:
    """The exact per-mapping pipeline for mapping ``i``; False if it cannot be evaluated."""
    from .. import analyse_counts, evaluate_counts
    from ..counts import dense_counts

    try:
        counts = (layer_counts(problem, arch, batch, i, dense) if dense.exact[i] and not _packed(arch)
                  else dense_counts(problem, arch, batch.mapping(problem, i)))
        res = evaluate_counts(analyse_counts(counts, arch, spec), arch)  # sparsity, then repetition
    except EvaluationError:
        return False
    out.energy[i], out.cycles[i] = res.energy_pJ, res.cycles
    out.compute_energy[i] = res.compute.energy_pJ
    out.level_energy[i] = [lv.energy_pJ for lv in res.levels]
    for l, lv in enumerate(res.levels):
        for t, tr in enumerate(lv.tensors):
            for a in STORAGE_ACTIONS:
                out.actions[a][i, l, t] = tr.actions.get(a, 0.0)
    for a in COMPUTE_ACTIONS:
        out.computes[a][i] = res.compute.actions.get(a, 0.0)
    out.algorithmic[i] = res.compute.algorithmic_computes
    return True


# ----------------------------------------------------------------------------------------------------------
# The array path
# ----------------------------------------------------------------------------------------------------------

# Per density model (while it lives): (function, tile extents) -> value; a mapper evaluates the
# same few hundred tile shapes batch after batch.
_TILE_VALUES: "weakref.WeakKeyDictionary[object, dict]" = weakref.WeakKeyDictionary()


def _row_keys(extents: np.ndarray) -> np.ndarray:
    """One integer per row of ``extents`` [B, R] (mixed radix), equal iff the rows are equal."""
    key = np.zeros(extents.shape[0], I64)
    radix = 1
    for r in range(extents.shape[1]):
        top = int(extents[:, r].max()) + 1 if extents.shape[0] else 1
        if radix * top >= 2 ** 62:
            return np.unique(extents, axis=0, return_inverse=True)[1].reshape(-1)
        key += extents[:, r] * radix
        radix *= top
    return key


def _per_tile(model: DensityModel, extents: np.ndarray, fn) -> np.ndarray:
    """``fn(model, Tile)`` for every row of ``extents`` [B, R], computed once per distinct tile."""
    keys, first, inverse = np.unique(_row_keys(extents), return_index=True, return_inverse=True)
    try:
        memo = _TILE_VALUES.setdefault(model, {})
    except TypeError:  # a model that cannot be weakly referenced: no memo across calls
        memo = {}
    values = np.empty(keys.size)
    for i, row in enumerate(extents[first].tolist()):
        k = (fn, tuple(row))
        v = memo.get(k)
        if v is None:
            v = memo[k] = float(fn(model, Tile(k[1])))
        values[i] = v
    return values[inverse.reshape(-1)]


def _empty_probability(model: DensityModel, tile: Tile) -> float:
    return float(model.probability(tile, 0))


def _expected_occupancy(model: DensityModel, tile: Tile) -> float:
    occs, probs = occupancy_support(model, tile, tile.size)
    return weighted_occupancy(occs, probs)


class _Vector:
    """The sparse stage over a batch of mappings whose dense counts are exact (one instance per call)."""

    def __init__(self, problem: Problem, arch: Architecture, spec: SparseSpec | None, batch: MappingBatch,
                 dense: BatchResult):
        self.problem, self.arch, self.batch, self.dense = problem, arch, batch, dense
        self.spec = spec if spec is not None else SparseSpec()
        self.shape = _Shape.of(problem)
        self.densities = Densities(dict(problem.densities))
        self.B, self.L, self.T, self.D = batch.size, arch.num_levels, len(problem.dataspaces), len(problem.dims)
        self.kept = dense.tile_size > 0  # [B, L, T]
        self.reads, self.fills, self.updates = (_whole(x) for x in (dense.reads, dense.fills, dense.updates))
        self.failed = np.zeros(self.B, bool)  # mappings the per-mapping pipeline must take
        self._build_nest()

    # ---- complete nest ----------------------------------------------------------------------------------
    def _build_nest(self) -> None:
        b = self.batch
        B, D = self.B, self.D
        dims = np.arange(D)
        slot_dim, slot_factor, level, spatial, by_dim = [], [], [], [], []
        for l in range(self.L):
            fx, fy = self.arch.fanout(l)
            blocks = ([(b.spatial[:, l], b.spatial_order[:, l], True)] if fx * fy > 1 else [])
            blocks.append((b.temporal[:, l], b.temporal_order[:, l], False))
            for factor, order, is_spatial in blocks:
                pos = np.empty_like(order)
                np.put_along_axis(pos, order, np.broadcast_to(dims, order.shape), axis=1)
                key = np.where(factor > 1, pos, D + dims)  # listed loops first, then problem order
                d_sorted = np.argsort(key, axis=1, kind="stable")
                inverse = np.empty_like(d_sorted)  # slot of each dimension within the block
                np.put_along_axis(inverse, d_sorted, np.broadcast_to(dims, order.shape), axis=1)
                by_dim.append(len(level) + inverse)
                slot_dim.append(d_sorted)
                slot_factor.append(np.take_along_axis(factor, d_sorted, 1))
                level += [l] * D
                spatial += [is_spatial] * D
        self.slot_dim = np.concatenate(slot_dim, axis=1)  # [B, S]
        self.slot_factor = np.concatenate(slot_factor, axis=1)
        self.slot_level = np.array(level)  # [S]
        self.slot_spatial = np.array(spatial)
        S = self.slot_level.size
        nxt = np.zeros(S, bool)  # the next loop of the same level is spatial
        nxt[:-1] = self.slot_spatial[1:] & (self.slot_level[1:] == self.slot_level[:-1])
        self.next_spatial = nxt
        self.last_slot = np.array([np.nonzero(self.slot_level == l)[0][-1] for l in range(self.L)])
        self.by_dim = np.stack(by_dim, axis=2).reshape(B, -1)  # [B, D * blocks]: slots of each dimension
        self.factor_by_dim = np.take_along_axis(self.slot_factor, self.by_dim, 1).reshape(B, D, -1)
        onehot = self.slot_dim[:, :, None] == np.arange(D)[None, None, :]
        self.mold = np.cumprod(np.where(onehot, self.slot_factor[:, :, None], 1), axis=1)  # [B, S, D]
        self.level_mold = self.mold[:, self.last_slot]  # [B, L, D]

    def _per_dim(self, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per dimension, the product of the factors of the slots in ``mask`` [B, S], and whether any."""
        m = np.take_along_axis(mask, self.by_dim, 1).reshape(self.factor_by_dim.shape)
        return np.prod(np.where(m, self.factor_by_dim, 1), axis=2), m.any(axis=2)

    def _dims_of(self, t: int) -> np.ndarray:
        names = self.problem.dataspaces[t].dims
        return np.array([d in names for d in self.problem.dims])

    def _tile_extents(self, t: int, mold: np.ndarray) -> np.ndarray:
        return _rank_extent(self.shape, t, mold)

    # ---- gating / skipping ------------------------------------------------------------------------------
    def _read_impact(self, level: int, target: int, cond: tuple[int, ...]):
        """Vector form of :func:`.actions._read_impact`: (probability, target level, occupancy)."""
        B, D = self.B, self.D
        rows = np.arange(B)
        kept_t = self.kept[:, :, target]
        above = kept_t & (np.arange(self.L) >= level)[None, :]
        self.failed |= ~above.any(axis=1)  # error path: no level at or above keeps the target
        target_level = np.where(above.any(axis=1), np.argmax(above, axis=1), self.L - 1)
        below = kept_t & (np.arange(self.L)[None, :] < target_level[:, None])
        child = np.where(below.any(axis=1), self.L - 1 - np.argmax(below[:, ::-1], axis=1), -1)
        innermost = child == -1

        lvl = self.slot_level[None, :]
        in_range = (lvl > child[:, None]) & (lvl <= target_level[:, None])
        tdims = self._dims_of(target)
        tdim = tdims[self.slot_dim]
        nontrivial = self.slot_factor > 1
        hit = in_range & np.where(innermost[:, None], ~self.next_spatial[None, :] | (nontrivial & tdim),
                                  nontrivial & tdim)
        found = hit.any(axis=1)
        first = np.where(found, np.argmax(hit, axis=1), self.last_slot[target_level])
        first_spatial = self.slot_spatial[first]
        scalar_mold = found & innermost & ~first_spatial
        mold = np.where(scalar_mold[:, None], 1, self.mold[rows, first])  # [B, D]
        target_dim = self.slot_dim[rows, first]

        S = self.slot_level.size
        after = (np.arange(S)[None, :] > first[:, None]) & (lvl <= target_level[:, None]) & nontrivial
        spatial = self.slot_spatial[None, :]
        trigger = after & ~spatial & (innermost[:, None] | tdim)
        seen = np.cumsum(trigger, axis=1) - trigger  # triggers strictly before each slot
        upper_found = ~first_spatial[:, None] | (seen > 0)
        included = after & (spatial | (~upper_found & ~spatial & ~innermost[:, None] & ~tdim))
        cond_mold = mold * self._per_dim(included)[0]
        relevant = included.copy()
        relevant[rows, first] = True

        blocks = np.array([lv.block_size for lv in self.arch.storage])[target_level]
        granularity = np.prod(self._tile_extents(target, mold), axis=1)
        effectual = np.ones(B)
        for c in cond:
            cdims = self._dims_of(c)
            codims = tdims & cdims
            co_slot = relevant & codims[self.slot_dim] & ~scalar_mold[:, None]
            co_seen = np.cumsum(co_slot, axis=1) - co_slot
            ineffective = first_spatial & ~scalar_mold & (relevant & (co_seen > 0) & cdims[self.slot_dim]).any(axis=1)
            co_factors, present = self._per_dim(co_slot)  # [B, D]
            aggregate = np.prod(co_factors, axis=1).astype(float)
            scaling = np.ceil(blocks / (granularity / aggregate))
            c_mold = cond_mold.copy()
            for d in range(D):  # dimension order, as Sparseloop walks co-iterated dimensions
                p = present[:, d]
                if not p.any():
                    continue
                eff = co_factors[:, d] / scaling
                c_mold[:, d] = np.where(p, np.ceil(c_mold[:, d] / eff), c_mold[:, d])
                scaling = np.where(p, scaling / co_factors[:, d], scaling)
            up = scaling > 1
            if up.any():
                scaled = (c_mold[rows, target_dim] * scaling).astype(I64)
                c_mold[rows, target_dim] = np.where(up, scaled, c_mold[rows, target_dim])
            model = self.densities.of(self.problem.dataspaces[c].name)
            p_empty = _per_tile(model, self._tile_extents(c, c_mold), _empty_probability)
            effectual *= np.where(ineffective, 1.0, 1.0 - p_empty)

        model = self.densities.of(self.problem.dataspaces[target].name)
        occupancy = _per_tile(model, self._tile_extents(target, self.level_mold[rows, target_level]),
                              _expected_occupancy)
        return 1.0 - effectual, target_level, occupancy

    def _optimisations(self) -> None:
        """Gate / skip masks and probabilities per (level, tensor), as :func:`.actions.storage_optimizations`."""
        B, L, T = self.B, self.L, self.T
        rows = np.arange(B)
        self.gate = np.zeros((B, L, T), bool)
        self.skip = np.zeros((B, L, T), bool)
        self.prob = np.zeros((B, L, T))
        index = {n: i for i, n in enumerate(self.problem.dataspace_names)}
        for kind, mask in (("gating", self.gate), ("skipping", self.skip)):
            for level, lv in enumerate(self.arch.storage):
                for opt in self.spec.level(lv.name).actions:
                    if opt.kind != kind:
                        continue
                    best_p = np.zeros(B)
                    best_level = np.zeros(B, I64)
                    best_t = np.zeros(B, I64)
                    max_savings = np.zeros(B)
                    for target, cond in opt.options:
                        t = index[target]
                        p, tl, occ = self._read_impact(level, t, tuple(index[c] for c in cond))
                        read = np.array([s.action_energy("read") / s.block_size for s in self.arch.storage])[tl]
                        savings = read * occ * p
                        better = savings >= max_savings
                        max_savings = np.where(better, savings, max_savings)
                        best_p = np.where(better, p, best_p)
                        best_level = np.where(better, tl, best_level)
                        best_t = np.where(better, t, best_t)
                    key = (rows, best_level, best_t)
                    existing = self.gate[key] | self.skip[key]
                    replace = existing & (self.prob[key] < best_p)
                    add = ~existing | replace
                    self.gate[key] &= ~replace
                    self.skip[key] &= ~replace
                    mask[key] |= add
                    self.prob[key] = np.where(add, best_p, self.prob[key])

    # ---- propagation and computes -----------------------------------------------------------------------
    def _local_impact(self, on: np.ndarray, t: int, l: int, p: np.ndarray) -> None:
        rw = self.problem.dataspaces[t].read_write
        reads, updates = self.data["read"][:, l, t], self.data["update"][:, l, t]
        d_reads = np.ceil(reads * p) if rw else np.floor(reads * p)
        d_updates = np.floor(updates * p)
        gated = on & self.gate[:, l, t]
        skipped = on & ~self.gate[:, l, t]
        for kind, m in (("gated", gated), ("skipped", skipped)):
            self.data[f"{kind}_read"][:, l, t] += np.where(m, d_reads, 0.0)
            self.data[f"{kind}_update"][:, l, t] += np.where(m, d_updates, 0.0)
        self.data["read"][:, l, t] = np.where(on, reads - d_reads, reads)
        self.data["update"][:, l, t] = np.where(on, updates - d_updates, updates)

    def _finalize(self, on: np.ndarray, t: int, l: int) -> None:
        for a, src in (("fill", self.max_fills), ("read", self.max_reads), ("update", self.max_updates)):
            self.data[a][:, l, t] = np.where(on, src[:, l, t], self.data[a][:, l, t])

    def _propagate(self) -> None:
        B, L, T = self.B, self.L, self.T
        self.data = {a: np.zeros((B, L, T)) for a in STORAGE_ACTIONS}
        self.data["read"], self.data["fill"], self.data["update"] = self.reads.copy(), self.fills.copy(), \
            self.updates.copy()
        self.max_reads, self.max_fills, self.max_updates = self.reads.copy(), self.fills.copy(), self.updates.copy()
        finalized = np.zeros((B, L, T), bool)
        optimised = self.gate | self.skip
        self.saf = np.zeros((B, T), bool)
        self.innermost_empty = np.zeros((B, T))
        units = np.prod(self.batch.spatial, axis=(1, 2)).astype(float)
        self.units = units
        self.algorithmic = self.dense.compute_cycles.astype(float) * units
        computes = self.algorithmic.copy()
        with np.errstate(divide="ignore", invalid="ignore"):
            for t, ds in enumerate(self.problem.dataspaces):
                for l in range(L - 1, -1, -1):
                    active = optimised[:, l, t]
                    if not active.any():
                        continue
                    p = np.where(active, self.prob[:, l, t], 0.0)
                    walking = active.copy()
                    for imp in range(l - 1, -1, -1):
                        for arr in (self.max_fills, self.max_reads, self.max_updates):
                            x = arr[:, imp, t]
                            arr[:, imp, t] = np.where(walking, x - np.floor(x * p), x)
                        local = walking & optimised[:, imp, t]
                        if local.any():
                            local_p = self.prob[:, imp, t]
                            effective = np.where(p < 1.0, np.maximum(0.0, 1.0 - (1.0 - local_p) / (1.0 - p)), 0.0)
                            self._finalize(local, t, imp)
                            self._local_impact(local, t, imp, effective)
                            finalized[:, imp, t] |= local
                        walking &= ~local
                    here = active & ~finalized[:, l, t]
                    finalized[:, l, t] |= here
                    self._finalize(here, t, l)
                    self._local_impact(here, t, l, p)
                    if not ds.read_write:
                        bottom = walking  # no optimised level below: the computes see it too
                        computes = np.where(bottom, computes - np.floor(computes * p), computes)
                        self.saf[:, t] |= bottom
                        self.innermost_empty[:, t] = np.where(bottom, np.round(p * 1e6) / 1e6,
                                                              self.innermost_empty[:, t])
        for l in range(L):
            for t in range(T):
                self._finalize(~optimised[:, l, t], t, l)
        self.computes = computes

    def _compute_split(self) -> None:
        """Vector form of :func:`.compute.compute_actions` (no formats: operands are never missing)."""
        a, b = [t for t, ds in enumerate(self.problem.dataspaces) if not ds.read_write]
        dens = {}
        for t in (a, b):
            self.failed |= ~self.kept[:, :, t].any(axis=1)
            model = self.densities.of(self.problem.dataspaces[t].name)
            scalar = Tile.scalar(len(self.problem.dataspaces[t].projection))
            d = round(1e6 * model.expected_occupancy(scalar) / scalar.size) / 1e6
            dens[t] = np.full(self.B, round(d * 1e6) / 1e6)
        nz = {t: dens[t].copy() for t in (a, b)}
        with np.errstate(divide="ignore", invalid="ignore"):
            for x, on in ((a, b), (b, a)):
                # an operand optimised at its innermost level: the other is only read where it is nonempty
                ratio = 1.0 - self.innermost_empty[:, on]
                nz[x] = np.where(self.saf[:, on] & (ratio > 0), dens[x] / ratio, nz[x])
        for t in (a, b):
            bad = (nz[t] < -1e-5) | (nz[t] > 1.00001) | ~np.isfinite(nz[t]) | (1.0 - nz[t] < -1e-5)
            self.failed |= bad
            nz[t] = np.clip(nz[t], 0.0, 1.0)
        enz_a, ez_a, enz_b, ez_b = nz[a], np.clip(1.0 - nz[a], 0.0, 1.0), nz[b], np.clip(1.0 - nz[b], 0.0, 1.0)
        total = self.computes
        c = self.spec.compute
        # gating on a zero operand: pairs with exactly one, and with two, zero operands (pairs with a
        # missing operand have probability 0 without formats, so nothing is skipped)
        gated = (total * (enz_a * ez_b + ez_a * enz_b) + total * ez_a * ez_b if c.gate_on_zero_operand
                 else np.zeros(self.B))
        self.gated_computes = np.floor(gated)
        self.skipped_computes = np.zeros(self.B)
        self.actual_computes = total - self.gated_computes

    # ---- cycles and energy ------------------------------------------------------------------------------
    def run(self) -> np.ndarray:
        """Run the stage; returns which mappings the array path evaluated (the rest need the pipeline)."""
        self._optimisations()
        self._propagate()
        self._compute_split()
        self._timing_energy()
        self.failed |= ~np.isfinite(self.energy)
        return ~self.failed

    def _timing_energy(self) -> None:
        arch, B, L, T = self.arch, self.B, self.L, self.T
        units = self.units
        data = {a: np.where(self.kept, v, 0.0) for a, v in self.data.items()}
        self.data = data
        cc = np.ceil((self.actual_computes + self.gated_computes) / units)
        cycles = np.rint(cc)
        for l, lv in enumerate(arch.storage):
            read_bw = np.zeros(B)
            write_bw = np.zeros(B)
            for t in range(T):
                reads = data["read"][:, l, t] + data["gated_read"][:, l, t]
                writes = (data["fill"][:, l, t] + data["gated_fill"][:, l, t] + data["update"][:, l, t]
                          + data["gated_update"][:, l, t])
                with np.errstate(divide="ignore", invalid="ignore"):
                    read_bw = np.where(cc > 0, read_bw + reads / cc, read_bw)
                    write_bw = np.where(cc > 0, write_bw + writes / cc, write_bw)
            slow = np.ones(B)
            if lv.read_bandwidth is not None:
                slow = np.where(lv.read_bandwidth < read_bw, np.minimum(slow, lv.read_bandwidth / np.maximum(read_bw, 1e-300)), slow)
            if lv.write_bandwidth is not None:
                slow = np.where(lv.write_bandwidth < write_bw,
                                np.minimum(slow, lv.write_bandwidth / np.maximum(write_bw, 1e-300)), slow)
            level_cycles = np.where(slow > 0, np.ceil(cc / np.where(slow > 0, slow, 1.0)), 0.0)
            cycles = np.maximum(cycles, level_cycles)
        self.failed |= ~np.isfinite(cycles)  # (left to the pipeline, which reports the cause)
        self.cycles = np.where(np.isfinite(cycles), cycles, 0).astype(I64)

        utilized = self.dense.utilized_instances  # [B, L]
        level_energy = np.zeros((B, L))
        for l, lv in enumerate(arch.storage):
            clusters = np.minimum(utilized[:, l], lv.instances // lv.cluster_size)
            cluster_util = np.where(clusters > 0, utilized[:, l] / np.maximum(clusters, 1), 1.0)
            inst = utilized[:, l].astype(float)
            total = np.zeros(B)
            for t in range(T):
                e = np.zeros(B)
                for action in STORAGE_ACTIONS:
                    n = np.maximum(np.trunc(data[action][:, l, t]), 0).astype(I64)
                    vectors = (-(-n // lv.block_size)).astype(float)
                    e = e + vectors * lv.action_energy(action) / cluster_util * inst
                total = total + np.where(self.kept[:, l, t] & (utilized[:, l] > 0), e, 0.0)
            level_energy[:, l] = total + lv.action_energy("leak") * utilized[:, l] * self.cycles
        self.level_energy = level_energy
        per_unit = {"compute": self.actual_computes / units, "gated_compute": self.gated_computes / units,
                    "skipped_compute": self.skipped_computes / units}
        ce = np.zeros(B)
        for action in COMPUTE_ACTIONS:
            ce = ce + per_unit[action] * units * arch.compute.action_energy(action)
        self.compute_energy = ce
        self.per_unit = per_unit
        levels = np.zeros(B)
        for l in range(L):
            levels = levels + level_energy[:, l]
        self.energy = ce + levels

    def result(self, rows: np.ndarray) -> _Arrays:
        return _Arrays(
            energy=self.energy[rows], cycles=self.cycles[rows], compute_energy=self.compute_energy[rows],
            level_energy=self.level_energy[rows], actions={a: v[rows] for a, v in self.data.items()},
            computes={a: (v * self.units)[rows] for a, v in self.per_unit.items()},
            algorithmic=self.algorithmic[rows],
        )


__all__ = ["SparseBatchResult", "evaluate_sparse_batch", "vectorisable"]
