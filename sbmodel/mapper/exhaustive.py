"""Exhaustive enumeration of a (small) map space, in NumPy batches.

Every factorisation of every dimension over its free slots (the rows of
:attr:`MapSpace.tables`) is combined with every distinct loop order, spatial
split and keep choice.  Orders are enumerated over the loops that exist
(factor > 1) only: two orders that differ in where factor-1 loops sit are the
same mapping, so each is generated once.  The innermost level's temporal order
and unconstrained 1-D fanouts' spatial orders do not change a result (see
:class:`MapSpace`), so they are fixed.  Factorisations that cannot fit (spatial
factors over a fanout, tiles over a buffer even with every optional tensor
bypassed, utilisation under the minimum) are dropped before orders are added.
"""

from __future__ import annotations

from itertools import permutations
from math import factorial, prod
from typing import Iterator

import numpy as np

from ..engine.batch import MappingBatch
from .space import I64, MapSpace

FACTOR_CHUNK = 20_000
COUNT_FIRST_CHUNK = 512  # count_mappings' first chunk: most spaces exceed the cap within it


def _factor_chunks(space: MapSpace, chunk: int = FACTOR_CHUNK, first: int | None = None) -> Iterator[np.ndarray]:
    """All factor assignments ``F[c, 2L, D]`` in mixed-radix order, chunk by chunk, filtered by
    the checks that do not depend on orders or optional keep bits.  With ``first``, chunks start
    that small and double up to ``chunk`` (a caller that may stop early checks fewer rows)."""
    sizes = [len(t) if t is not None else 0 for t in space.tables]
    total = prod(max(s, 1) for s in sizes)
    base = space.smallest_factors
    radix = np.cumprod([1] + [max(s, 1) for s in sizes[:-1]])
    start, size = 0, first or chunk
    while start < total:
        i = np.arange(start, min(start + size, total), dtype=I64)
        start, size = start + size, min(2 * size, chunk)
        F = np.repeat(base[None], i.size, axis=0)
        for d, table in enumerate(space.tables):
            free = space.free_slots[d]
            if table is not None and free.size:
                F[:, free, d] = table[(i // radix[d]) % len(table)]
        F = F[_plausible(space, F)]
        if F.shape[0]:
            yield F


def _plausible(space: MapSpace, F: np.ndarray) -> np.ndarray:
    """Spatial factors within each fanout, minimum utilisation, and tiles within capacity with
    only the mandatory tensors kept."""
    L = space.L
    sf = F[:, L:]
    ok = (np.prod(sf, axis=2) <= space.fanout.prod(axis=1)[None]).all(axis=1)
    if space.min_utilization > 0:  # only the spatial factors matter to the utilisation
        unused = np.broadcast_to(np.zeros((1, L, space.D), I64), sf.shape)
        probe = MappingBatch(F[:, :L], unused, sf, unused, unused, np.zeros((F.shape[0], L, space.T), bool))
        ok &= space.utilization(probe) >= space.min_utilization - 1e-12
    rows = np.nonzero(ok)[0]  # tile sizes only for these
    if rows.size:
        ok[rows] = space.mandatory_tiles_fit(F[rows])
    return ok


def _level_orders(space: MapSpace, nonunit: np.ndarray, prefix: list[int], free: bool,
                  all_free_dims: bool) -> list[list[int]]:
    """Distinct loop orders of one level (innermost first) for a pattern of non-unit loops."""
    D = space.D
    rest = [d for d in range(D) if d not in prefix]
    if not free:
        return [prefix + rest]
    movable = rest if all_free_dims else [d for d in rest if nonunit[d]]
    fixed_tail = [d for d in rest if d not in movable]
    return [prefix + list(p) + fixed_tail for p in permutations(movable)]


def _variants(space: MapSpace, t_nonunit: np.ndarray, s_nonunit: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (temporal order, spatial order, split) combination for one non-unit pattern:
    the Cartesian product of each level's options, built by mixed-radix indexing."""
    L, D = space.L, space.D
    t_opts, s_opts, k_opts = [], [], []
    for l in range(L):
        t_opts.append(np.array(_level_orders(space, t_nonunit[l], space.prefix[l], bool(space.order_free[l]),
                                             False), I64))
        partial_split = space.split[l] >= 0 and len(space.sprefix[l]) < D
        s_opts.append(np.array(_level_orders(space, s_nonunit[l], space.sprefix[l], bool(space.sorder_free[l]),
                                             partial_split), I64))
        k_opts.append(np.arange(int(s_nonunit[l].sum()) + 1, dtype=I64) if space.split_searched[l]
                      else np.array([D], I64))
    sizes = [len(o) for o in t_opts + s_opts + k_opts]
    n = int(np.prod(sizes))
    digits = np.unravel_index(np.arange(n), sizes)
    order = np.stack([t_opts[l][digits[l]] for l in range(L)], axis=1)
    sorder = np.stack([s_opts[l][digits[L + l]] for l in range(L)], axis=1)
    k = np.stack([k_opts[l][digits[2 * L + l]] for l in range(L)], axis=1)
    return order, sorder, k


def _variant_count(space: MapSpace, t_nonunit: np.ndarray, s_nonunit: np.ndarray) -> np.ndarray:
    """Number of (order, split) variants per factorisation (vectorised over the first axis)."""
    L, D = space.L, space.D
    count = np.ones(t_nonunit.shape[0], float)
    fact = np.array([factorial(i) for i in range(D + 1)], float)
    for l in range(L):
        if space.order_free[l]:
            rest = np.ones(D, bool)
            rest[space.prefix[l]] = False
            count *= fact[(t_nonunit[:, l] & rest).sum(axis=1)]
        if space.sorder_free[l]:
            rest = np.ones(D, bool)
            rest[space.sprefix[l]] = False
            if space.split[l] >= 0 and len(space.sprefix[l]) < D:
                count *= fact[int(rest.sum())]
            else:
                count *= fact[(s_nonunit[:, l] & rest).sum(axis=1)]
        if space.split_searched[l]:
            count *= s_nonunit[:, l].sum(axis=1) + 1
    return count


def count_mappings(space: MapSpace, cap: int) -> int | None:
    """Mappings :func:`enumerate_mappings` would generate, or None if more than ``cap`` (or a
    dimension has too many factorisations to tabulate)."""
    if any(t is None for t in space.tables):
        return None
    if space.factorisations() > 50 * max(cap, 1):
        return None
    keeps = 2.0 ** len(space.free_keep)
    total = 0.0
    L = space.L
    for F in _factor_chunks(space, first=COUNT_FIRST_CHUNK):
        total += float(_variant_count(space, F[:, :L] > 1, F[:, L:] > 1).sum()) * keeps
        if total > cap:
            return None
    return int(total)


def enumerate_mappings(space: MapSpace, chunk: int = 16_384) -> Iterator[MappingBatch]:
    """Every mapping of the space, in a deterministic order, ``chunk`` at a time (not yet checked
    for capacity with optional tensors kept, nor for fanouts per axis: see :meth:`MapSpace.valid`)."""
    L, T = space.L, space.T
    free = space.free_keep
    keep_var = np.broadcast_to(space.keep_rule[None] > 0, (2 ** len(free), L, T)).copy()
    for j, (l, t) in enumerate(free):
        keep_var[:, l, t] = (np.arange(2 ** len(free)) >> j) & 1 == 1
    cache: dict[bytes, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for F in _factor_chunks(space):
        tn, sn = F[:, :L] > 1, F[:, L:] > 1
        sig = np.packbits(np.concatenate([tn.reshape(len(F), -1), sn.reshape(len(F), -1)], axis=1), axis=1)
        uniq, inverse = np.unique(sig, axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
        for u in range(len(uniq)):
            rows = np.nonzero(inverse == u)[0]
            key = uniq[u].tobytes()
            if key not in cache:
                cache[key] = _variants(space, tn[rows[0]], sn[rows[0]])
            order, sorder, k = cache[key]
            V, K = order.shape[0], keep_var.shape[0]
            total = rows.size * V * K
            for start in range(0, total, chunk):
                i = np.arange(start, min(start + chunk, total), dtype=I64)
                fi, vi, ki = rows[i // (V * K)], (i // K) % V, i % K
                yield space.assemble(F[fi], order[vi].copy(), sorder[vi].copy(), k[vi].copy(), keep_var[ki].copy())


__all__ = ["count_mappings", "enumerate_mappings"]
