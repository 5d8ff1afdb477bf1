"""The map space of one layer on one architecture, sampled, mutated and enumerated in NumPy batches.

A mapping is, per storage level ``l`` (innermost first):

* a temporal factor ``F[l, d]`` and a spatial factor ``F[L + l, d]`` of every
  dimension ``d`` (the factors of ``d`` over all these *slots* multiply to its
  bound: perfect factorisation);
* a temporal loop order (a permutation of the dimensions, innermost first);
* a spatial loop order and, through the split, which spatial loops run along X
  and which along Y (X loops inside Y loops);
* which tensors the level keeps.

:class:`MapSpace` turns an architecture and :class:`~.constraints.Constraints`
into fixed factors, caps, permutation prefixes, splits and keep rules, and
offers vectorised operations over :class:`~sbmodel.engine.batch.MappingBatch`
arrays: :meth:`MapSpace.sample` (random mappings), :meth:`MapSpace.mutate`
(one random neighbour each), :meth:`MapSpace.neighbourhood` (every single-move
neighbour), :meth:`MapSpace.trades` (every exchange of factors between the array
and a buffer), :meth:`MapSpace.valid` (constraints, fanouts, utilisation and
buffer capacity, before any access analysis) and :meth:`MapSpace.keys`
(canonical hashes: mappings that differ only in the position of factor-1
loops, or in the order of the innermost level's loops, are the same mapping).

The factorisations of each dimension over its free slots are enumerated once
(:func:`factor_table`), so sampling a factorisation is one random row per
dimension and every sampled factor already honours fixed and maximum factors.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cached_property, lru_cache
from math import factorial, prod

import numpy as np

from ..core.architecture import Architecture
from ..core.problem import Problem
from ..engine.batch import MappingBatch, _fold_last, _rank_planes, _Shape, _tensor_words
from ..engine.counts import words_per_element
from ..errors import SbmodelError
from .constraints import Constraints, LevelConstraints, merge_level

I64 = np.int64
BIG = np.iinfo(I64).max // 4
TABLE_LIMIT = 200_000  # largest factorisation table kept per dimension


def primes(n: int) -> list[int]:
    """Prime factors of ``n`` with multiplicity, ascending."""
    out, p = [], 2
    while p * p <= n:
        while n % p == 0:
            out.append(p)
            n //= p
        p += 1
    if n > 1:
        out.append(n)
    return out


def _divisors(n: int) -> list[int]:
    small = [d for d in range(1, int(n ** 0.5) + 1) if n % d == 0]
    return sorted(set(small + [n // d for d in small]))


@lru_cache(maxsize=4096)
def _count(n: int, caps: tuple[int, ...]) -> int:
    if not caps:
        return 1 if n == 1 else 0
    if len(caps) == 1:
        return 1 if n <= caps[0] else 0
    return sum(_count(n // f, caps[1:]) for f in _divisors(n) if f <= caps[0])


def count_factorisations(n: int, caps: tuple[int, ...]) -> int:
    """Ordered factorisations of ``n`` into ``len(caps)`` factors, factor ``i`` at most ``caps[i]``."""
    return _count(n, tuple(int(min(c, n)) for c in caps))


def factor_table(n: int, caps: tuple[int, ...], limit: int = TABLE_LIMIT) -> np.ndarray | None:
    """All ordered factorisations (rows) of ``n`` within ``caps``, or None if more than ``limit``
    (read-only: shared by every map space of the same layer shape, e.g. across sweep points)."""
    return _factor_table(n, tuple(int(min(c, n)) for c in caps), limit)


@lru_cache(maxsize=1024)
def _factor_table(n: int, caps: tuple[int, ...], limit: int) -> np.ndarray | None:
    total = _count(n, caps)
    if total > limit:
        return None
    if not caps:
        table = np.ones((1, 0), I64) if n == 1 else np.zeros((0, 0), I64)
    else:
        table = np.array(_rows(n, caps), I64).reshape(-1, len(caps))
    table.flags.writeable = False
    return table


@lru_cache(maxsize=1024)
def _rows(n: int, caps: tuple[int, ...]) -> tuple[tuple[int, ...], ...]:
    if len(caps) == 1:
        return ((n,),) if n <= caps[0] else ()
    out: list[tuple[int, ...]] = []
    for f in _divisors(n):
        if f <= caps[0] and _count(n // f, caps[1:]):
            out.extend((f,) + rest for rest in _rows(n // f, caps[1:]))
    return tuple(out)


@lru_cache(maxsize=64)
def _prime_table(top: int) -> tuple[int, np.ndarray]:
    """(most distinct primes of any value below ``top``, ``[top, that]`` table of each value's
    distinct primes, zero-padded); read-only, shared by every map space with that bound."""
    smallest = np.arange(top, dtype=I64)  # smallest prime factor of each value (sieve)
    for p in range(2, int(top ** 0.5) + 1):
        if smallest[p] == p:
            multiples = smallest[p * p::p]
            multiples[multiples == np.arange(p * p, top, p)] = p
    rest, columns = np.arange(top, dtype=I64), []
    while (rest > 1).any():  # peel off the smallest remaining prime with all its powers
        prime = np.where(rest > 1, smallest[rest], 0)
        columns.append(prime)
        while (divides := (prime > 0) & (rest % np.maximum(prime, 1) == 0)).any():
            rest[divides] //= prime[divides]
    table = np.stack(columns, axis=1) if columns else np.zeros((top, 1), I64)
    table.flags.writeable = False
    return table.shape[1], table


def _divisor_rows(values: np.ndarray, cap: int) -> np.ndarray:
    """``[len(values), k]``: the divisors from 2 to ``cap`` of each of ``values``, ascending and
    zero-padded (``values`` are a batch's distinct factors: few)."""
    lists = [[d for d in _divisors(int(v)) if 1 < d <= cap] for v in values]
    out = np.zeros((len(lists), max(1, max(map(len, lists), default=0))), I64)
    for row, found in enumerate(lists):
        out[row, :len(found)] = found
    return out


class MapSpace:
    """Constrained perfect-factorisation map space of ``problem`` on ``arch``.

    ``tile_scale[l, t]`` (default 1) multiplies the dense tile size of tensor
    ``t`` at level ``l`` in the capacity check: the sparse front end sets it to
    the compressed fraction of a tile so that compressed tiles are checked at
    their compressed size (an optimistic pre-screen; the exact check follows).
    ``metadata_scale[l, t]`` (bits of metadata per dense tile word), when given,
    checks metadata against each level's metadata storage.  ``fanout_slack``
    (>= 1) widens every fanout for designs with spatial skipping.
    """

    def __init__(self, problem: Problem, arch: Architecture, constraints: Constraints | None = None,
                 *, tile_scale: np.ndarray | None = None, metadata_scale: np.ndarray | None = None,
                 fanout_slack: float = 1.0):
        self.problem, self.arch = problem, arch
        self.constraints = constraints = constraints or Constraints()
        self.L, self.D, self.T = L, D, T = arch.num_levels, len(problem.dims), len(problem.dataspaces)
        dims = {d: i for i, d in enumerate(problem.dims)}
        tensors = {t: i for i, t in enumerate(problem.dataspace_names)}
        names = [lv.name for lv in arch.storage]
        unknown = sorted(set(constraints.levels) - set(names))
        if unknown:
            raise SbmodelError(f"constraints name unknown level(s) {unknown} (levels: {', '.join(names)})")
        self.bounds = np.array(problem.bounds, I64)
        hardware = np.array([arch.fanout(l) for l in range(L)], I64)  # [L, 2] (X, Y)
        self.fans = hardware.prod(axis=1) > 1
        # Spatial skipping (sparse designs) lets a mapping name more instances than exist; the
        # slack widens each fanout for the pre-screen (the exact evaluation checks the real use).
        self.hardware_fanout = hardware
        self.fanout = np.where(hardware > 1, np.floor(hardware * max(fanout_slack, 1.0)), 1).astype(I64)
        self.fixed = -np.ones((2 * L, D), I64)  # fixed factor per slot, -1 = free
        self.cap = np.full((2 * L, D), BIG, I64)  # maximum factor per slot
        self.prefix: list[list[int]] = [[] for _ in range(L)]  # temporal permutation prefixes
        self.sprefix: list[list[int]] = [[] for _ in range(L)]  # spatial permutation prefixes
        self.split = -np.ones(L, I64)  # fixed spatial split, -1 = free
        self.axis_fixed = -np.ones((L, D), I64)  # our format's per-dimension axes
        keep_rule = np.zeros((L, T), I64)  # 1 keep, -1 bypass, 0 free
        for l, lv in enumerate(arch.storage):
            lc = constraints.level(lv.name)
            if lv.constraints is not None:  # the architecture's own dataflow constraints
                lc = merge_level(_for_layer(lv.constraints, problem), lc, lv.name)
            where = f"constraints of level {lv.name}"

            def idx(d: str, what: str) -> int:
                if d not in dims:
                    raise SbmodelError(f"{where}: {what} names unknown dimension {d} "
                                       f"(the layer has {', '.join(problem.dims)})")
                return dims[d]

            for d, f in lc.temporal_factors.items():
                self.fixed[l, idx(d, "a temporal factor")] = min(int(f) or problem.bound[d], problem.bound[d])
            for d, f in lc.temporal_max.items():
                self.cap[l, idx(d, "a temporal max factor")] = int(f)
            spatial_given = bool(lc.spatial_factors or lc.spatial_max or lc.spatial_permutation
                                 or lc.spatial_axis or lc.spatial_split is not None)
            if spatial_given and not self.fans[l]:
                nontrivial = any(f > 1 for f in lc.spatial_factors.values())
                if nontrivial or lc.spatial_split is not None or lc.spatial_permutation:
                    raise SbmodelError(f"{where}: spatial constraints, but {lv.name} has no spatial fanout "
                                       "(its children have as many instances as it has)")
            for d, f in lc.spatial_factors.items():
                self.fixed[L + l, idx(d, "a spatial factor")] = min(int(f) or problem.bound[d], problem.bound[d])
            for d, f in lc.spatial_max.items():
                self.cap[L + l, idx(d, "a spatial max factor")] = int(f)
            self.prefix[l] = [idx(d, "the permutation") for d in lc.permutation]
            self.sprefix[l] = [idx(d, "the spatial permutation") for d in lc.spatial_permutation]
            if lc.spatial_split is not None:
                self.split[l] = min(lc.spatial_split, D)
            for d, a in lc.spatial_axis.items():
                self.axis_fixed[l, idx(d, "a spatial axis")] = 0 if a == "X" else 1
            for group, value, what in ((lv.must_keep | lc.keep, 1, "kept"), (lv.must_bypass | lc.bypass, -1, "bypassed")):
                for t in group:
                    if t not in tensors:
                        if t in lc.keep or t in lc.bypass:
                            raise SbmodelError(f"{where}: unknown tensor {t} {what} "
                                               f"(the layer has {', '.join(tensors)})")
                        continue
                    if keep_rule[l, tensors[t]] == -value:
                        raise SbmodelError(f"{where}: tensor {t} is both kept and bypassed")
                    keep_rule[l, tensors[t]] = value
            if lv.container_only:
                if (keep_rule[l] == 1).any():
                    raise SbmodelError(f"{where}: {lv.name} is a container and cannot keep a tensor")
                keep_rule[l, :] = -1
            if not self.fans[l]:
                self.fixed[L + l, :] = 1
        if (keep_rule[L - 1] == -1).any():
            raise SbmodelError(f"the outermost level {arch.storage[-1].name} must keep every tensor")
        keep_rule[L - 1, :] = 1
        self.keep_rule = keep_rule
        self._axis_caps()
        self._factor_tables()
        self.min_utilization = constraints.min_utilization
        self.capacity = np.array([lv.effective_size_words if lv.effective_size_words is not None else -1
                                  for lv in arch.storage], I64)
        self.min_fill = np.array([(lv.effective_size_words or 0) * lv.min_utilization for lv in arch.storage])
        # packed levels hold sub-word elements: a tile takes bits / word_bits words per element
        self.tile_scale = ((np.ones((L, T)) if tile_scale is None else np.asarray(tile_scale, float))
                           * words_per_element(problem, arch))
        self.metadata_scale = None if metadata_scale is None else np.asarray(metadata_scale, float)
        self.metadata_capacity = np.array([
            lv.metadata_capacity_bits
            if lv.effective_size_words is not None else -1 for lv in arch.storage], float)
        self.free_keep = np.argwhere(keep_rule == 0)  # [(l, t)]
        # The innermost level's loop order never changes a result (operands are read once per
        # compute whatever the order), so it is not searched; nor are 1-D fanouts without a
        # constraint (Timeloop uses the canonical order there).
        self.order_free = np.array([l > 0 for l in range(L)])
        self.sorder_free = np.array([self.fans[l] and (self.fanout[l].min() > 1 or bool(self.sprefix[l])
                                                       or self.split[l] >= 0) for l in range(L)])
        self._hash_weights = np.random.default_rng(0x5B0DE1).integers(
            1, 2**63 - 1, size=8 * L * D + 2 * L * T + 8, dtype=np.int64).astype(np.uint64) | np.uint64(1)
        self._prime_tables()

    # ------------------------------------------------------------------ construction helpers
    def _axis_caps(self) -> None:
        """Axes each dimension's spatial loop may use at each level, and the factor caps they imply."""
        L, D = self.L, self.D
        for l in range(L):
            if not self.fans[l]:
                continue
            fx, fy = self.fanout[l]
            ok = np.ones((D, 2), bool)
            ok[:, 0] &= fx > 1
            ok[:, 1] &= fy > 1
            s = self.split[l]
            if s >= 0:
                pre = self.sprefix[l]
                for i, d in enumerate(pre):
                    ok[d] &= np.array([i < s, i >= s])
                free = [d for d in range(D) if d not in pre]
                p = len(pre)
                for d in free:
                    ok[d] &= np.array([s > p, s < D])
            for d in range(D):
                if self.axis_fixed[l, d] >= 0:
                    ok[d] &= np.arange(2) == self.axis_fixed[l, d]
            for d in range(D):
                reach = max([int(self.fanout[l, a]) for a in (0, 1) if ok[d, a]] or [1])
                self.cap[L + l, d] = min(self.cap[L + l, d], reach)
                if reach == 1 and self.fixed[L + l, d] < 0:
                    self.fixed[L + l, d] = 1
                if self.fixed[L + l, d] > reach:
                    raise SbmodelError(
                        f"constraints of level {self.arch.storage[l].name}: spatial factor "
                        f"{self.problem.dims[d]}={self.fixed[L + l, d]} does not fit the fanout "
                        f"{self.fanout[l, 0]}x{self.fanout[l, 1]} along the allowed axis")

    def _factor_tables(self) -> None:
        D = self.D
        self.free_slots: list[np.ndarray] = []
        self.remainder = np.ones(D, I64)
        self.tables: list[np.ndarray | None] = []
        for d in range(D):
            fixed = self.fixed[:, d]
            for s in np.nonzero((fixed > 0) & (fixed > self.cap[:, d]))[0]:
                raise SbmodelError(f"dimension {self.problem.dims[d]}: fixed factor {fixed[s]} exceeds its "
                                   f"maximum {self.cap[s, d]} at {self._slot_name(s)}")
            fixed_prod = prod(int(f) for f in fixed if f > 0)
            bound = int(self.bounds[d])
            if bound % fixed_prod:
                raise SbmodelError(
                    f"the fixed factors of {self.problem.dims[d]} multiply to {fixed_prod}, which does not "
                    f"divide the layer's {self.problem.dims[d]}={bound}")
            rest = bound // fixed_prod
            free = np.nonzero(fixed < 0)[0]
            if rest > 1 and free.size == 0:
                raise SbmodelError(
                    f"the constraints fix every factor of {self.problem.dims[d]} but they multiply to "
                    f"{fixed_prod}, not the layer's {self.problem.dims[d]}={bound}")
            caps = tuple(int(self.cap[s, d]) for s in free)
            if count_factorisations(rest, caps) == 0:
                raise SbmodelError(f"no factorisation of {self.problem.dims[d]}={bound} satisfies the "
                                   "maximum factors and fanouts of the constraints")
            self.free_slots.append(free)
            self.remainder[d] = rest
            self.tables.append(factor_table(rest, caps))

    def _prime_tables(self) -> None:
        """Distinct prime factors of every value up to the largest bound (for prime moves)."""
        self.max_distinct, self.prime_of = _prime_table(int(self.bounds.max()) + 1)

    def _slot_name(self, s: int) -> str:
        kind = "temporal" if s < self.L else "spatial"
        return f"{self.arch.storage[s % self.L].name} ({kind})"

    # ------------------------------------------------------------------ sizes
    def factorisations(self) -> float:
        """Number of factor assignments (before fanout and capacity checks)."""
        return float(prod(count_factorisations(int(self.remainder[d]), tuple(int(self.cap[s, d]) for s in
                                                                             self.free_slots[d]))
                          for d in range(self.D)))

    def size_estimate(self) -> float:
        """Upper bound on the number of distinct mappings (orders counted for all loops)."""
        orders = 1.0
        for l in range(self.L):
            if self.order_free[l]:
                orders *= factorial(self.D - len(self.prefix[l]))
            if self.sorder_free[l]:
                orders *= factorial(self.D - len(self.sprefix[l])) * (self.D + 1)
        return self.factorisations() * orders * 2.0 ** len(self.free_keep)

    # ------------------------------------------------------------------ sampling
    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` random factor assignments ``F[n, 2L, D]`` honouring fixed and maximum factors."""
        return self._sample_halves(n, rng).transpose(1, 0, 2, 3).reshape(n, 2 * self.L, self.D)

    def _sample_halves(self, n: int, rng: np.random.Generator,
                       tables: list[np.ndarray | None] | None = None) -> np.ndarray:
        """:meth:`sample_factors` as temporal and spatial halves ``[2, n, L, D]`` (slot ``s`` is
        ``[s // L, :, s % L]``): each half is a contiguous batch field, built without copies.
        Rows come from ``tables`` (default: :attr:`tables`, every factorisation)."""
        L, D = self.L, self.D
        tables = self.tables if tables is None else tables
        halves = np.repeat(self.smallest_factors.reshape(2, 1, L, D), n, axis=1)
        for d in range(D):
            free = self.free_slots[d]
            if free.size == 0:
                continue
            table = tables[d]
            drawn = table[rng.integers(0, len(table), n)] if table is not None else self._sample_primes(d, n, rng)
            halves[free // L, :, free % L, d] = drawn.T
        return halves

    @cached_property
    def smallest_factors(self) -> np.ndarray:
        """``[2L, D]``: each slot's smallest factor, its fixed one or else 1 (read-only): where
        sampling and enumeration start, and the least any mapping has."""
        out = np.where(self.fixed > 0, self.fixed, 1)
        out.flags.writeable = False
        return out

    @cached_property
    def _sampling_tables(self) -> list[np.ndarray | None]:
        """Each dimension's factor table (:attr:`tables`) without the rows that overflow a buffer
        whatever the other dimensions do.  A tile's words grow with every dimension's extent, so
        a row that overflows with every other dimension at its smallest extents (factors 1, or
        fixed) and only the tensors a level must keep can never fit.  Drawing from these rows
        gives the same distribution of fitting mappings as the full tables (uniform over them)
        with far fewer draws rejected: on ``simple_ws`` 0.1 % of full-table draws fit, ~40 %
        of these.  A table none of whose rows can fit stays whole (the search reports it)."""
        out = []
        for d, table in enumerate(self.tables):
            if table is not None and len(table) > 1:
                fits = np.concatenate([self._row_can_fit(d, table[i:i + 16_384])
                                       for i in range(0, len(table), 16_384)])  # bounded memory
                if fits.any() and not fits.all():
                    table = table[fits]
            out.append(table)
        return out

    def _row_can_fit(self, d: int, rows: np.ndarray) -> np.ndarray:
        """``[rows]``: factor-table rows of dimension ``d`` (its free slots) whose tiles fit every
        bounded buffer with the other dimensions at their smallest factors (1, or fixed) and only
        the tensors each level must keep (see :attr:`_sampling_tables`)."""
        factors = np.repeat(self.smallest_factors[None], len(rows), axis=0)  # [n, 2L, D]
        factors[:, self.free_slots[d], d] = rows
        return self.mandatory_tiles_fit(factors)

    def _sample_primes(self, d: int, n: int, rng: np.random.Generator) -> np.ndarray:
        """Each prime factor to a random free slot; rows over a cap are drawn again."""
        free = self.free_slots[d]
        caps = self.cap[free, d]
        out = np.ones((n, free.size), I64)
        todo = np.arange(n)
        for _ in range(64):
            part = np.ones((todo.size, free.size), I64)
            for p in primes(int(self.remainder[d])):
                slot = rng.integers(0, free.size, todo.size)
                part[np.arange(todo.size), slot] *= p
            out[todo] = part
            bad = (part > caps[None]).any(axis=1)
            todo = todo[bad]
            if todo.size == 0:
                break
        return out

    def sample(self, n: int, rng: np.random.Generator, *, fitting: bool = False) -> MappingBatch:
        """``n`` random mappings within the constraints (fanouts not yet checked).  With
        ``fitting``, draws whose factors and keep bits overflow a buffer (:meth:`storage_ok`) are
        dropped before their loop orders are drawn, so fewer than ``n`` may come back; their
        factors come from :attr:`_sampling_tables` (the same distribution of fitting draws,
        far fewer rejected)."""
        halves = self._sample_halves(n, rng, self._sampling_tables if fitting else None)
        keep = np.where(self.keep_rule[None] == 0, rng.random((n, self.L, self.T)) < 0.5, self.keep_rule[None] > 0)
        if fitting:
            ok = np.nonzero(self._fits(self._extents(halves[0], halves[1]), keep))[0]
            halves, keep, n = np.take(halves, ok, axis=1), keep[ok], ok.size
        order = self._random_orders(n, rng, self.prefix, self.order_free)
        sorder = self._random_orders(n, rng, self.sprefix, self.sorder_free)
        k = rng.integers(0, self.D + 1, (n, self.L))
        return self._build(halves[0], halves[1], order, sorder, k, keep)

    def _random_orders(self, n: int, rng: np.random.Generator, prefixes: list[list[int]],
                       free: np.ndarray) -> np.ndarray:
        """Permutations (innermost first): the prefix, then the other dimensions in random order."""
        D = self.D
        out = np.empty((n, self.L, D), I64)
        for l in range(self.L):
            pre = prefixes[l]
            rest = np.array([d for d in range(D) if d not in pre], I64)
            out[:, l, :len(pre)] = np.array(pre, I64)
            if free[l] and rest.size:
                out[:, l, len(pre):] = rng.permuted(np.tile(rest, (n, 1)), axis=1)
            else:
                out[:, l, len(pre):] = rest
        return out

    def assemble(self, F: np.ndarray, order: np.ndarray, sorder: np.ndarray, k: np.ndarray,
                 keep: np.ndarray) -> MappingBatch:
        """A :class:`MappingBatch` from factors, orders, spatial splits ``k`` (non-unit loops along X
        on levels without a fixed split) and keep bits."""
        return self._build(F[:, :self.L], F[:, self.L:], order, sorder, k, keep)

    def _build(self, tf: np.ndarray, sf: np.ndarray, order: np.ndarray, sorder: np.ndarray, k: np.ndarray,
               keep: np.ndarray) -> MappingBatch:
        """:meth:`assemble` from the temporal and spatial factors apart (contiguous ones are not copied)."""
        axis, sorder = self._axes(sf, sorder, k)
        return MappingBatch(np.ascontiguousarray(tf), order, np.ascontiguousarray(sf), axis, sorder, keep)

    def _axes(self, sf: np.ndarray, sorder: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Axis of every spatial loop: by position and fixed split, or the first ``k`` non-unit loops
        along X; 1-D fanouts use their only axis; fixed axes win (orders stay X before Y)."""
        n = sf.shape[0]
        base, levels = self._axis_plan
        axis = np.repeat(base[None], n, axis=0)
        for l in levels:  # 1-D fanouts keep the base's only axis
            if self.fanout[l].min() > 1 and self.split[l] >= 0:
                axis[:, l] = _inverse(sorder[:, l]) >= self.split[l]  # position of each dimension
            elif self.fanout[l].min() > 1:
                nonunit = np.take_along_axis(sf[:, l] > 1, sorder[:, l], 1)
                seen = np.cumsum(nonunit, axis=1)  # non-unit loops up to each position
                kk = np.minimum(k[:, l], seen[:, -1])[:, None]
                by_pos = seen > kk
                axis[:, l] = np.take_along_axis(by_pos, _inverse(sorder[:, l]), 1)
            if (self.axis_fixed[l] >= 0).any():
                fixed = self.axis_fixed[l][None]
                axis[:, l] = np.where(fixed >= 0, fixed, axis[:, l])
                ax_by_pos = np.take_along_axis(axis[:, l], sorder[:, l], 1)
                sorder[:, l] = np.take_along_axis(sorder[:, l], np.argsort(ax_by_pos, axis=1, kind="stable"), 1)
        return axis, sorder

    @cached_property
    def _axis_plan(self) -> tuple[np.ndarray, list[int]]:
        """:meth:`_axes`' starting point: ``[L, D]`` axes that hold for every mapping (0 without a
        fanout, the only axis of a 1-D fanout), and the levels whose axes depend on the mapping
        (2-D fanouts) or on fixed axes."""
        base = np.zeros((self.L, self.D), I64)
        levels = []
        for l in range(self.L):
            if not self.fans[l]:
                continue
            fx, fy = self.fanout[l]
            if fx == 1 or fy == 1:
                base[l] = 0 if fy == 1 else 1
            if (fx > 1 and fy > 1) or (self.axis_fixed[l] >= 0).any():
                levels.append(l)
        return base, levels

    def splits(self, batch: MappingBatch) -> np.ndarray:
        """``k`` per level: how many non-unit spatial loops run along X (0 on levels whose axes
        do not follow ``k``: no 2-D fanout, or a fixed split)."""
        k = np.zeros((batch.size, self.L), I64)
        lv = np.nonzero(self.split_searched)[0]
        if lv.size:
            k[:, lv] = ((batch.spatial[:, lv] > 1) & (batch.spatial_axis[:, lv] == 0)).sum(axis=2)
        return k

    @cached_property
    def split_searched(self) -> np.ndarray:
        """``[L]``: the level's X/Y split is searched (a 2-D fanout without a fixed split), so
        :meth:`_axes` reads ``k`` there."""
        return np.array([bool(self.fans[l]) and self.fanout[l].min() > 1 and self.split[l] < 0
                         for l in range(self.L)], bool)

    # ------------------------------------------------------------------ validity
    def factors(self, batch: MappingBatch) -> np.ndarray:
        return np.concatenate([batch.temporal, batch.spatial], axis=1)

    def tile_sizes(self, F: np.ndarray, levels: np.ndarray | None = None) -> np.ndarray:
        """Dense tile size ``[B, L, T]`` (words) of every tensor at every level (or at ``levels``
        only), from the factors ``F[B, 2L, D]`` (:meth:`factors`)."""
        L = self.L
        levels = np.arange(L) if levels is None else np.asarray(levels)
        return self._tile_planes(self._extents(F[:, :L], F[:, L:]), levels).transpose(2, 1, 0)

    def _extents(self, temporal: np.ndarray, spatial: np.ndarray) -> np.ndarray:
        """Op-space tile extents ``[D, L, B]`` (dimension-major planes: the level loop and the tile
        words then run over contiguous rows of ``B``) of every level, from the factors ``[B, L, D]``:
        the running product over levels of temporal x spatial factors."""
        L = temporal.shape[1]
        # the product written straight into the transposed layout (copying a transposed product
        # is several times slower on large batches)
        ext = np.empty(temporal.shape[::-1], np.result_type(temporal, spatial))
        np.multiply(temporal.transpose(2, 1, 0), spatial.transpose(2, 1, 0), out=ext)
        for l in range(1, L):
            ext[:, l] *= ext[:, l - 1]
        return ext

    def _tile_planes(self, ext: np.ndarray, levels: np.ndarray | slice) -> np.ndarray:
        """Dense tile words ``[T, levels, B]`` at ``levels`` from extents ``ext[D, L, B]``
        (:meth:`_extents`), by the engine's kernel over these dimension-major planes."""
        planes = ext[:, levels]  # a slice of levels: a view, each dimension's plane still one contiguous block
        return _tensor_words(self._shape, _rank_planes(self._shape, planes), planes)

    @cached_property
    def _shape(self) -> _Shape:
        """The layer's tensor facts for the tile-size kernel (built once per space)."""
        return _Shape.of(self.problem)

    def valid(self, batch: MappingBatch) -> np.ndarray:
        """Within the constraints, the fanouts, the minimum utilisation and every buffer's capacity
        (compressed tiles scaled by ``tile_scale``).  The cheap checks run first; tile sizes are
        computed only if a candidate passes them (for the whole batch: gathering the passing
        candidates' extents costs more than the tile sizes of the others)."""
        B, L = batch.size, self.L
        if B == 0:
            return np.zeros(0, bool)
        tf, sf = batch.temporal, batch.spatial
        ok = np.ones(B, bool)
        for factors, (low, high) in zip((tf, sf), self._slot_bounds):
            if low is not None:
                flat = factors.reshape(B, -1)
                ok &= ((flat >= low) & (flat <= high)).all(axis=1)
        ext = self._extents(tf, sf)  # the last level's extents are the products of all factors
        ok &= (ext[:, L - 1] == self.bounds[:, None]).all(axis=0)
        # fanouts: elsewhere the spatial factors are fixed to 1, checked above
        fans = self._fan_levels
        sf_fan, ax = sf[:, fans], batch.spatial_axis[:, fans]
        ok &= (_fold_last(np.multiply, np.where(ax == 0, sf_fan, 1)) <= self.fanout[None, fans, 0]).all(axis=1)
        ok &= (_fold_last(np.multiply, np.where(ax == 1, sf_fan, 1)) <= self.fanout[None, fans, 1]).all(axis=1)
        ok &= ((self.keep_rule[None] == 0) | (batch.keep == (self.keep_rule[None] > 0))).all(axis=(1, 2))
        if self.min_utilization > 0:
            ok &= self.utilization(batch) >= self.min_utilization - 1e-12
        if ok.any():  # on every row: cheaper than gathering the rows that passed so far
            ok &= self._fits(ext, batch.keep)
        return ok

    @cached_property
    def _slot_bounds(self) -> tuple[tuple[np.ndarray | None, np.ndarray | None], ...]:
        """Per kind (temporal, spatial): the range ``[low, high]`` each slot's factor (flat
        ``[L * D]``) must lie in, from its maximum and fixed factors (the whole int64 range where
        there are none; ``None`` where no slot of the kind has either): :meth:`valid`'s check,
        on whole rows (comparing every slot beats gathering the constrained ones)."""
        LD = self.L * self.D
        cap, fixed = self.cap.reshape(-1), self.fixed.reshape(-1)
        out = []
        for kind in (slice(0, LD), slice(LD, 2 * LD)):
            c, f = cap[kind], fixed[kind]
            if not ((c < BIG) | (f >= 0)).any():
                out.append((None, None))
                continue
            low = np.where(f >= 0, f, np.iinfo(I64).min)
            high = np.where(f >= 0, np.minimum(f, c), np.where(c < BIG, c, np.iinfo(I64).max))
            out.append((low, high))
        return tuple(out)

    @cached_property
    def _fan_levels(self) -> np.ndarray:
        """Levels with a fanout below them (the only ones whose spatial factors may exceed 1)."""
        return np.nonzero(self.fans)[0]

    @cached_property
    def _storage_levels(self) -> np.ndarray:
        """Levels whose tiles :meth:`storage_ok` checks: bounded capacity or metadata, or a minimum fill."""
        checked = (self.capacity >= 0) | (self.min_fill > 0)
        if self.metadata_scale is not None:
            checked |= self.metadata_capacity >= 0
        return np.nonzero(checked)[0]

    @cached_property
    def _storage_span(self) -> np.ndarray | slice:
        """:attr:`_storage_levels` as a slice when they are consecutive (a view of the extents)."""
        lv = self._storage_levels
        consecutive = lv.size > 0 and lv[-1] - lv[0] + 1 == lv.size
        return slice(int(lv[0]), int(lv[-1]) + 1) if consecutive else lv

    def storage_ok(self, F: np.ndarray, keep: np.ndarray) -> np.ndarray:
        """``[B]``: the kept tiles of factors ``F[B, 2L, D]`` fit every buffer (scaled by
        ``tile_scale``), fill each to its minimum utilisation, and their metadata fits."""
        return self._fits(self._extents(F[:, :self.L], F[:, self.L:]), keep)

    def _fits(self, ext: np.ndarray, keep: np.ndarray) -> np.ndarray:
        """:meth:`storage_ok` from extents ``ext[D, L, B]`` (:meth:`_extents`): per level, the kept
        tiles' words summed tensor by tensor in order (as a sum over the tensor axis does)."""
        lv = self._storage_levels
        ok = np.ones(keep.shape[0], bool)
        if lv.size == 0:
            return ok
        tiles = self._tile_planes(ext, self._storage_span)  # [T, levels, B]
        words = bits = None
        for t in range(self.T):
            held = tiles[t] * keep[:, lv, t].T  # [levels, B] dense words of the kept tiles
            part = held * self.tile_scale[lv, t][:, None]
            words = part if words is None else words + part
            if self.metadata_scale is not None:
                part = held * self.metadata_scale[lv, t][:, None]
                bits = part if bits is None else bits + part
        capacity = self.capacity[lv][:, None]
        ok &= ((words <= capacity) | (capacity < 0)).all(axis=0)
        ok &= (words >= self.min_fill[lv][:, None] - 1e-9).all(axis=0)
        if bits is not None:
            limit = self.metadata_capacity[lv][:, None]
            ok &= ((bits <= limit + 1e-9) | (limit < 0)).all(axis=0)
        return ok

    def mandatory_tiles_fit(self, F: np.ndarray) -> np.ndarray:
        """``[B]``: the tiles of factors ``F[B, 2L, D]`` fit every bounded buffer with only the
        tensors each level must keep.  Necessary for any keep choice and any larger factors:
        tiles only grow with extents, and a buffer only fills with more kept tensors."""
        bounded = np.nonzero(self.capacity >= 0)[0]
        if not bounded.size:
            return np.ones(F.shape[0], bool)
        words = (self.tile_sizes(F, bounded) * (self.keep_rule[None, bounded] > 0)
                 * self.tile_scale[None, bounded]).sum(axis=2)
        return self.within_capacity(words, bounded)

    def within_capacity(self, words: np.ndarray, levels: np.ndarray | None = None) -> np.ndarray:
        """``[B]``: the words each level holds (``[B, L]``, tiles scaled by ``tile_scale``; or
        ``[B, len(levels)]`` for those levels) fit every bounded level."""
        capacity = self.capacity if levels is None else self.capacity[levels]
        return ((words <= capacity[None]) | (capacity < 0)[None]).all(axis=1)

    def utilization(self, batch: MappingBatch) -> np.ndarray:
        """Fraction of compute units a mapping uses."""
        return np.prod(batch.spatial, axis=(1, 2)) / self.arch.compute.instances

    # ------------------------------------------------------------------ canonical form
    def keys(self, batch: MappingBatch) -> np.ndarray:
        """64-bit canonical hash per mapping: factors, the order of non-unit loops on levels whose
        order matters, which non-unit spatial loops run along Y, keep bits."""
        B = batch.size
        if B == 0:
            return np.zeros(0, np.uint64)
        tf, sf = batch.temporal, batch.spatial
        on_y = (sf > 1) & (batch.spatial_axis == 1)
        # the weighted sum (modulo 2**64) of every part, part by part: unsigned matrix-vector
        # products (~10x faster than elementwise), no concatenated copy; zero codes add nothing
        (w_tf, w_sf, w_t, w_s, w_y, w_keep), (t_levels, s_levels) = self._hash_parts, self._order_levels
        with np.errstate(over="ignore"):
            h = tf.reshape(B, -1).view(np.uint64) @ w_tf
            h += sf.reshape(B, -1).view(np.uint64) @ w_sf
            if t_levels.size:
                h += self._order_code(tf, batch.temporal_order, t_levels).view(np.uint64) @ w_t
            if s_levels.size:
                h += self._order_code(sf, batch.spatial_order, s_levels).view(np.uint64) @ w_s
            h += on_y.reshape(B, -1) @ w_y
            h += batch.keep.reshape(B, -1) @ w_keep
            h ^= h >> np.uint64(29)
            h *= np.uint64(0xBF58476D1CE4E5B9)
            h ^= h >> np.uint64(32)
        return h

    @cached_property
    def _order_levels(self) -> tuple[np.ndarray, np.ndarray]:
        """The levels whose temporal, and whose spatial, loop order matters (:meth:`keys`)."""
        return np.nonzero(self.order_free)[0], np.nonzero(self.sorder_free)[0]

    @cached_property
    def _hash_parts(self) -> tuple[np.ndarray, ...]:
        """:meth:`keys`' weights split by part: temporal and spatial factors, temporal and
        spatial order codes (of the levels whose order matters only), Y axes, keep bits."""
        L, D, T = self.L, self.D, self.T
        w = self._hash_weights
        t_levels, s_levels = self._order_levels
        return (w[:L * D], w[L * D:2 * L * D], w[2 * L * D + t_levels], w[2 * L * D + L + s_levels],
                w[2 * L * D + 2 * L:3 * L * D + 2 * L], w[3 * L * D + 2 * L:3 * L * D + 2 * L + L * T])

    def _order_code(self, factors: np.ndarray, order: np.ndarray, levels: np.ndarray) -> np.ndarray:
        """``[B, len(levels)]``: per level, an integer naming the sequence of non-unit loops of
        ``order`` (unit loops are not loops, so where they sit does not change the code): digit
        ``order + 1`` in base ``D + 1``, innermost loop least significant.  Gathered position-major
        (flat takes, no short-axis passes) and built by Horner's rule from the outermost loop."""
        B, L, D = factors.shape
        rows = (np.arange(B)[:, None] * L + levels[None]).reshape(-1) * D  # flat start of each (mapping, level)
        dims = np.take(order.reshape(-1), rows[None] + np.arange(D)[:, None])  # [D, rows]: dimension at each position
        nonunit = np.take((factors > 1).reshape(-1), rows[None] + dims)
        digit = dims
        digit += 1
        digit *= nonunit
        scale = np.where(nonunit, D + 1, 1)
        code = digit[D - 1].copy()
        for p in range(D - 2, -1, -1):
            code *= scale[p]
            code += digit[p]
        return code.reshape(B, levels.size)

    # ------------------------------------------------------------------ moves
    def mutate(self, batch: MappingBatch, rng: np.random.Generator, *, own: bool = False) -> MappingBatch:
        """One random neighbour of each mapping: move a prime factor or swap two factors of a
        dimension between slots, redraw a dimension's factorisation, swap two temporal or spatial
        loops, move the X/Y split, or flip a free keep bit.  Constraints hold by construction
        except fanouts and capacity (see :meth:`valid`).  With ``own``, the batch is the caller's
        to give away: its loop orders and keep bits are changed in place, not copied."""
        n, L, D = batch.size, self.L, self.D
        # the factors as [2, n, L, D] (temporal, spatial; a new array): slot s of F[n, 2L, D] is
        # halves[s // L, :, s % L], and each half is already a contiguous batch field
        halves = np.stack([batch.temporal, batch.spatial])
        at = self._slot
        order, sorder, keep = batch.temporal_order, batch.spatial_order, batch.keep
        if not own:
            order, sorder, keep = order.copy(), sorder.copy(), keep.copy()
        k = self.splits(batch)
        kind = rng.integers(0, 8, n)
        rows = np.arange(n)
        free_slot = self.fixed < 0  # [2L, D]
        movable = free_slot.sum(axis=0) >= 2
        # 0-2: move a prime factor; 3: swap two factors; 4: redraw one dimension
        r = rows[kind <= 4]
        if r.size and movable.any():
            dims_ok = np.nonzero(movable)[0]
            d = dims_ok[rng.integers(0, dims_ok.size, r.size)]
            ok = free_slot[:, d].T  # [r, 2L]
            vals = halves[:, r, :, d].reshape(r.size, 2 * L)  # [r, 2L]
            src = _pick(ok & (vals > 1), rng)
            dst = _pick(ok & (np.arange(2 * L)[None] != src[:, None]), rng)
            good = (src >= 0) & (dst >= 0)
            r, d, src, dst = r[good], d[good], src[good], dst[good]
            kd = kind[r]
            sv = halves[at(r, src, d)]
            # prime moves
            pm = kd <= 2
            choice = rng.integers(0, self.max_distinct, r.size)
            p = self.prime_of[np.minimum(sv, self.prime_of.shape[0] - 1), choice]
            p = np.where(p > 0, p, self.prime_of[np.minimum(sv, self.prime_of.shape[0] - 1), 0])
            m = pm & (p > 1)
            halves[at(r[m], src[m], d[m])] //= p[m]
            halves[at(r[m], dst[m], d[m])] *= p[m]
            # swaps
            sw = kd == 3
            dv = halves[at(r[sw], dst[sw], d[sw])]
            halves[at(r[sw], dst[sw], d[sw])] = sv[sw]
            halves[at(r[sw], src[sw], d[sw])] = dv
            # redraws
            rd = kd == 4
            if rd.any():
                drawn = int(rd.sum())
                fresh = self._sample_halves(drawn, rng)
                halves[:, r[rd], :, d[rd]] = fresh[:, np.arange(drawn), :, d[rd]]
        # 5: swap two temporal loops of a level (outside the prefix)
        r = rows[kind == 5]
        if r.size:
            self._swap(order, halves[0], r, self.prefix, self.order_free, rng)
        # 6: spatial order swap or split change
        r = rows[kind == 6]
        if r.size and self.sorder_free.any():
            half = rng.random(r.size) < 0.5
            self._swap(sorder, halves[1], r[half], self.sprefix, self.sorder_free, rng)
            rk = r[~half]
            lv = np.nonzero(self.sorder_free)[0]
            lsel = lv[rng.integers(0, lv.size, rk.size)]
            k[rk, lsel] = np.clip(k[rk, lsel] + rng.choice([-1, 1], rk.size), 0, D)
        # 7: flip a free keep bit
        r = rows[kind == 7]
        if r.size and len(self.free_keep):
            pick = self.free_keep[rng.integers(0, len(self.free_keep), r.size)]
            keep[r, pick[:, 0], pick[:, 1]] ^= True
        return self._build(halves[0], halves[1], order, sorder, k, keep)

    def _slot(self, r: np.ndarray | slice, s: np.ndarray, d: np.ndarray) -> tuple:
        """Index of slot ``s`` (of ``F[n, 2L, D]``), dimension ``d`` of mapping ``r`` in factor
        halves ``[2, n, L, D]`` (temporal, spatial: each a contiguous batch field, unlike F's)."""
        return s // self.L, r, s % self.L, d

    def _swap(self, order: np.ndarray, factors: np.ndarray, rows: np.ndarray, prefixes: list[list[int]],
              free: np.ndarray, rng: np.random.Generator) -> None:
        """Swap two non-unit loops (outside the prefix) of a random free level of each of ``rows``
        of ``order`` (in place; ``factors`` are the batch's, ``[B, L, D]``)."""
        n, L, D = rows.size, self.L, self.D
        levels = np.nonzero(free)[0]
        if levels.size == 0 or n == 0:
            return
        lsel = levels[rng.integers(0, levels.size, n)]
        o = order[rows, lsel]  # [n, D]
        start = (rows * L + lsel) * D  # flat offset of each chosen level's factors
        f = np.take(factors.reshape(-1), start[:, None] + o)  # factor at each position
        plen = np.array([len(p) for p in prefixes], I64)[lsel]
        movable = (f > 1) & (np.arange(D)[None] >= plen[:, None])
        a = _pick(movable, rng)
        movable2 = movable & (np.arange(D)[None] != a[:, None])
        b = _pick(movable2, rng)
        ok = np.nonzero((a >= 0) & (b >= 0))[0]
        aa, bb = a[ok], b[ok]
        va, vb = o[ok, aa], o[ok, bb]
        o[ok, aa], o[ok, bb] = vb, va
        order[rows, lsel] = o

    @cached_property
    def _moves(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The single moves of :meth:`neighbourhood`, fixed by the space: prime moves
        ``(d, src, dst, prime index)``, temporal and spatial swaps ``(l, a, b)``, split steps
        ``(l, +-1)`` and keep flips ``(l, t)``."""
        L, D = self.L, self.D
        moves_f = [(d, s, t, j) for d in range(D) for s in self.free_slots[d] for t in self.free_slots[d]
                   if s != t for j in range(self.max_distinct)]
        swaps_t = [(l, a, b) for l in range(L) if self.order_free[l]
                   for a in range(len(self.prefix[l]), D) for b in range(a + 1, D)]
        swaps_s = [(l, a, b) for l in range(L) if self.sorder_free[l]
                   for a in range(len(self.sprefix[l]), D) for b in range(a + 1, D)]
        ksteps = [(l, s) for l in range(L) if self.split_searched[l]
                  for s in (-1, 1)]
        return (np.array(moves_f, I64).reshape(-1, 4), np.array(swaps_t, I64).reshape(-1, 3),
                np.array(swaps_s, I64).reshape(-1, 3), np.array(ksteps, I64).reshape(-1, 2),
                np.asarray(self.free_keep, I64).reshape(-1, 2))

    @cached_property
    def _trade_moves(self) -> tuple[np.ndarray, int]:
        """The factor trades of :meth:`trades` fixed by the space, as ``(s, t, d_out, d_in)`` rows
        (a spatial slot, a temporal slot, the dimension leaving the spatial slot and the one
        entering it: both free in both slots), and the largest factor a spatial slot may take."""
        L, D = self.L, self.D
        free = [set(int(s) for s in self.free_slots[d]) for d in range(D)]
        rows = [(s, t, a, b) for s in range(L, 2 * L) for t in range(L)
                for a in range(D) if s in free[a] and t in free[a]
                for b in range(D) if b != a and s in free[b] and t in free[b]]
        spatial_caps = [int(self.cap[s, d]) for d in range(D) for s in self.free_slots[d] if s >= L]
        return np.array(rows, I64).reshape(-1, 4), max(spatial_caps, default=1)

    def trades(self, batch: MappingBatch) -> MappingBatch:
        """Every factor trade of every mapping in ``batch``: a divisor of one dimension's spatial
        factor goes to a temporal slot while a divisor of another dimension's factor in that slot
        takes its place in the array (e.g. spatial ``M4 C3`` with a temporal ``M8`` becomes
        spatial ``M16`` with a temporal ``M2 C3``).  Such trades keep the array about as busy and
        the buffers about as full, so they reach optima whose single moves all pass through
        mappings that overflow a fanout or a buffer, or are worse.  The factor that lands in the
        temporal slot often was a unit loop there, placed anywhere, and where it lands in that
        level's loop order matters: each trade comes as is, with it innermost and with it
        outermost (after the level's fixed prefix).  Trades that break a constraint are included
        (callers filter by :meth:`valid` and :meth:`keys`)."""
        moves, cap = self._trade_moves
        if batch.size == 0 or len(moves) == 0:
            return batch.take(np.zeros(0, I64))
        halves0 = np.stack([batch.temporal, batch.spatial])  # [2, B, L, D] (see :meth:`_slot`)
        s, t, a, b = moves.T
        out_factor = halves0[self._slot(slice(None), s, a)].T  # [B, moves]: what may leave the array
        in_factor = halves0[self._slot(slice(None), t, b)].T  # what may enter it
        values, index = np.unique(np.stack([out_factor, in_factor]), return_inverse=True)
        divisors = _divisor_rows(values, cap)[index.reshape(2, *out_factor.shape)]  # [2, B, moves, k]
        # every (divisor leaving, divisor entering) pair of every move of every mapping
        live = (divisors[0][:, :, :, None] > 0) & (divisors[1][:, :, None, :] > 0)
        parent, move, i, j = np.nonzero(live)
        if parent.size == 0:
            return batch.take(np.zeros(0, I64))
        moved_out, moved_in = divisors[0, parent, move, i], divisors[1, parent, move, j]
        halves = np.take(halves0, parent, axis=1)
        rows = np.arange(parent.size)
        ms, mt, ma, mb = s[move], t[move], a[move], b[move]
        halves[self._slot(rows, ms, ma)] //= moved_out
        halves[self._slot(rows, mt, ma)] *= moved_out
        halves[self._slot(rows, mt, mb)] //= moved_in
        halves[self._slot(rows, ms, mb)] *= moved_in
        order = batch.temporal_order[parent]
        level = order[rows, mt]  # [n, D], innermost first
        fixed = np.array([len(p) for p in self.prefix], I64)[mt]
        position = np.argmax(level == ma[:, None], axis=1)
        movable = position >= fixed  # a dimension in the level's fixed prefix stays where it is
        variants = [order]
        for target in (fixed - 0.5, np.full(rows.size, self.D + 0.5)):  # innermost, outermost
            place = np.broadcast_to(np.arange(self.D, dtype=float), level.shape).copy()
            place[rows[movable], position[movable]] = target[movable]
            moved = order.copy()
            moved[rows, mt] = np.take_along_axis(level, np.argsort(place, axis=1, kind="stable"), axis=1)
            variants.append(moved)
        copies = len(variants)
        return self._build(np.tile(halves[0], (copies, 1, 1)), np.tile(halves[1], (copies, 1, 1)),
                           np.concatenate(variants), np.tile(batch.spatial_order[parent], (copies, 1, 1)),
                           np.tile(self.splits(batch)[parent], (copies, 1)),
                           np.tile(batch.keep[parent], (copies, 1, 1)))

    def neighbourhood(self, batch: MappingBatch) -> MappingBatch:
        """Every single-move neighbour of every mapping in ``batch``: each distinct prime of each
        factor moved to every other free slot, each pair of non-prefix loops (not both unit) swapped
        (temporal and spatial), each split moved by one, each free keep bit flipped.  Only moves
        that change the mapping are built (most (prime, slot) pairs of a mapping name a factor 1);
        moves that break a constraint are included (callers filter by :meth:`valid` and :meth:`keys`)."""
        D = self.D
        moves_f, swaps_t, swaps_s, ksteps, flips = self._moves
        B = batch.size
        halves0 = np.stack([batch.temporal, batch.spatial])  # [2, B, L, D] (see :meth:`_slot`)
        # which (mapping, move) pairs change the mapping, move kind by move kind, in move order
        live: list[np.ndarray] = []
        primes_moved = np.zeros((B, 0), I64)
        if len(moves_f):
            src_value = halves0[self._slot(slice(None), moves_f[:, 1], moves_f[:, 0])].T  # [B, moves]
            primes_moved = self.prime_of[np.minimum(src_value, self.prime_of.shape[0] - 1), moves_f[None, :, 3]]
            live.append(primes_moved > 1)
        for table, order, factors in ((swaps_t, batch.temporal_order, batch.temporal),
                                      (swaps_s, batch.spatial_order, batch.spatial)):
            if len(table):  # swapping two unit loops leaves every real loop where it was
                l, a, b = table.T
                nonunit = np.take_along_axis(factors > 1, order, 2)  # [B, L, D] by position
                live.append(nonunit[:, l, a] | nonunit[:, l, b])
        live.append(np.ones((B, len(ksteps) + len(flips)), bool))
        live_all = np.concatenate(live, axis=1)  # [B, M]
        if live_all.size == 0 or not live_all.any():
            return batch.take(np.zeros(0, I64))
        parent, move = np.nonzero(live_all)  # row-major: parent by parent, moves in order
        halves = np.take(halves0, parent, axis=1)
        order = batch.temporal_order[parent]
        sorder = batch.spatial_order[parent]
        keep = batch.keep[parent]
        k = self.splits(batch)[parent]
        rows = np.arange(parent.size)
        off = 0
        if len(moves_f):
            sel = move < len(moves_f)
            r = rows[sel]
            d, s, t, _ = moves_f[move[sel]].T
            p = primes_moved[parent[sel], move[sel]]
            halves[self._slot(r, s, d)] //= p
            halves[self._slot(r, t, d)] *= p
            off += len(moves_f)
        for arr, target in ((swaps_t, order), (swaps_s, sorder)):
            if len(arr):
                sel = (move >= off) & (move < off + len(arr))
                r = rows[sel]
                l, a, b = arr[move[sel] - off].T
                va, vb = target[r, l, a].copy(), target[r, l, b].copy()
                target[r, l, a], target[r, l, b] = vb, va
                off += len(arr)
        if len(ksteps):
            sel = (move >= off) & (move < off + len(ksteps))
            r = rows[sel]
            l, s = ksteps[move[sel] - off].T
            k[r, l] = np.clip(k[r, l] + s, 0, D)
            off += len(ksteps)
        if len(flips):
            sel = move >= off
            r = rows[sel]
            l, t = flips[move[sel] - off].T
            keep[r, l, t] ^= True
        return self._build(halves[0], halves[1], order, sorder, k, keep)


def _for_layer(lc: LevelConstraints, problem: Problem) -> LevelConstraints:
    """An architecture's level constraints without the dimensions this layer does not have."""
    dims = set(problem.dims)

    def keep(table):
        return {d: v for d, v in table.items() if d in dims}

    return replace(lc, temporal_factors=keep(lc.temporal_factors), spatial_factors=keep(lc.spatial_factors),
                   temporal_max=keep(lc.temporal_max), spatial_max=keep(lc.spatial_max),
                   spatial_axis=keep(lc.spatial_axis), permutation=tuple(d for d in lc.permutation if d in dims),
                   spatial_permutation=tuple(d for d in lc.spatial_permutation if d in dims))


def _pick(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A uniformly random true column per row of ``mask`` (-1 where none)."""
    # draws in [0, 1) where true, lowered to [-1, 0) where false (in place: several times
    # faster than np.where(mask, draws, -1.0)); the argmax is the same true column
    score = rng.random(mask.shape)
    score -= ~mask
    out = np.argmax(score, axis=1)
    # a row has a true column iff its best score is one of the draws (>= 0): one gather, no pass over mask
    return np.where(score[np.arange(mask.shape[0]), out] >= 0, out, -1)


def _inverse(perm: np.ndarray) -> np.ndarray:
    """Inverse permutations along the last axis (position of each value)."""
    inv = np.empty_like(perm)
    np.put_along_axis(inv, perm, np.broadcast_to(np.arange(perm.shape[-1]), perm.shape), axis=-1)
    return inv


__all__ = ["MapSpace", "Constraints", "LevelConstraints", "factor_table", "count_factorisations", "primes"]
