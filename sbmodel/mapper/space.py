"""The map space of one layer on one architecture, sampled and mutated in NumPy batches.

A mapping assigns every prime factor of every loop bound to a *slot*: the
temporal loop of a level, or a spatial axis (X or Y) of a level that fans
out.  Add a loop order per level and which tensors each level keeps, and the
mapping is complete.  :class:`MapSpace` draws random mappings that respect
the architecture and user constraints (fixed factors, allowed spatial
dimensions, fixed loop orders, keep/bypass) and proposes neighbours (move one
prime factor, swap two loops, flip a bypass) for local search.  Capacity is
checked by the evaluator; fan-out limits are enforced here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import prod
from typing import Mapping as TypingMapping

import numpy as np

from ..core.architecture import Architecture
from ..core.problem import Problem
from ..engine.batch import MappingBatch
from ..errors import SbmodelError

I64 = np.int64


@dataclass(frozen=True)
class LevelConstraints:
    """What a level may do.  Empty fields mean "free"."""

    temporal_factors: TypingMapping[str, int] = field(default_factory=dict)  # fixed factors (1 = forbidden)
    spatial_factors: TypingMapping[str, int] = field(default_factory=dict)
    spatial_axis: TypingMapping[str, str] = field(default_factory=dict)  # dim -> "X"/"Y"
    permutation: tuple[str, ...] = ()  # fixed innermost loops of the level, inner to outer
    keep: frozenset[str] = frozenset()
    bypass: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Constraints:
    levels: TypingMapping[str, LevelConstraints] = field(default_factory=dict)  # by level name
    min_utilization: float = 0.0  # fraction of compute units that must be used


def _primes(n: int) -> list[int]:
    out, p = [], 2
    while p * p <= n:
        while n % p == 0:
            out.append(p)
            n //= p
        p += 1
    if n > 1:
        out.append(n)
    return out


class MapSpace:
    """Constrained perfect-factorisation map space of ``problem`` on ``arch``."""

    def __init__(self, problem: Problem, arch: Architecture, constraints: Constraints | None = None):
        self.problem, self.arch = problem, arch
        self.constraints = constraints or Constraints()
        self.L, self.D, self.T = arch.num_levels, len(problem.dims), len(problem.dataspaces)
        dims = {d: i for i, d in enumerate(problem.dims)}
        tensors = {t: i for i, t in enumerate(problem.dataspace_names)}
        unknown = set(self.constraints.levels) - {lv.name for lv in arch.storage}
        if unknown:
            raise SbmodelError(f"constraints name unknown level(s) {sorted(unknown)}")
        L, D, T = self.L, self.D, self.T
        self.fanout = np.array([arch.fanout(l) for l in range(L)], I64)  # [L, 2]
        # fixed factors: -1 = free
        self.fixed_t = -np.ones((L, D), I64)
        self.fixed_s = -np.ones((L, D), I64)
        self.axis_fixed = -np.ones((L, D), I64)
        self.perm_prefix: list[list[int]] = [[] for _ in range(L)]
        keep_rule = np.zeros((L, T), I64)  # 1 keep, -1 bypass, 0 free
        for l, lv in enumerate(arch.storage):
            lc = self.constraints.levels.get(lv.name, LevelConstraints())
            for d, f in lc.temporal_factors.items():
                self.fixed_t[l, dims[d]] = f
            for d, f in lc.spatial_factors.items():
                self.fixed_s[l, dims[d]] = f
            for d, a in lc.spatial_axis.items():
                self.axis_fixed[l, dims[d]] = 0 if a == "X" else 1
            self.perm_prefix[l] = [dims[d] for d in lc.permutation]
            for t in lv.must_keep | lc.keep:
                if t in tensors:
                    keep_rule[l, tensors[t]] = 1
            for t in lv.must_bypass | lc.bypass:
                if t in tensors:
                    keep_rule[l, tensors[t]] = -1
            if lv.container_only:
                keep_rule[l, :] = -1
            if self.fanout[l].prod() == 1:
                self.fixed_s[l, :] = 1  # no fanout below this level
        keep_rule[L - 1, :] = np.where(keep_rule[L - 1] == -1, -1, 1)
        if (keep_rule[L - 1] == -1).any():
            raise SbmodelError(f"the outermost level {arch.storage[-1].name} must keep every tensor")
        self.keep_rule = keep_rule
        # prime factors left to place per dimension once fixed factors are taken out
        self.bounds = np.array(problem.bounds, I64)
        self.free_primes: list[list[int]] = []
        for d in range(D):
            fixed = prod(int(f) for f in self.fixed_t[:, d] if f > 0) * prod(int(f) for f in self.fixed_s[:, d] if f > 0)
            if self.bounds[d] % fixed:
                raise SbmodelError(
                    f"fixed factors of {problem.dims[d]} multiply to {fixed}, which does not divide "
                    f"the layer's {problem.dims[d]}={self.bounds[d]}")
            self.free_primes.append(_primes(int(self.bounds[d] // fixed)))
        # slots a free prime may go to: temporal slots (l) then spatial slots (L + l)
        self.slot_ok = np.zeros((D, 2 * L), bool)
        for d in range(D):
            self.slot_ok[d, :L] = self.fixed_t[:, d] < 0
            self.slot_ok[d, L:] = self.fixed_s[:, d] < 0
            if not self.slot_ok[d].any() and self.free_primes[d]:
                raise SbmodelError(f"no level may take factors of {problem.dims[d]}: the constraints fix them all")

    # ---------------------------------------------------------------------------------
    def sample(self, n: int, rng: np.random.Generator) -> MappingBatch:
        """``n`` random mappings within the constraints (fan-out respected; capacity not checked)."""
        L, D = self.L, self.D
        tf = np.where(self.fixed_t > 0, self.fixed_t, 1)[None].repeat(n, 0)
        sf = np.where(self.fixed_s > 0, self.fixed_s, 1)[None].repeat(n, 0)
        rows = np.arange(n)
        for d in range(D):
            ok = np.nonzero(self.slot_ok[d])[0]
            for p in self.free_primes[d]:
                slot = ok[rng.integers(0, len(ok), n)]
                temporal = slot < L
                lt = np.where(temporal, slot, 0)
                ls = np.where(temporal, 0, slot - L)
                tf[rows[temporal], lt[temporal], d] *= p
                sf[rows[~temporal], ls[~temporal], d] *= p
        axis = self._choose_axes(sf, rng)
        tf, sf, axis = self._repair_fanout(tf, sf, axis)
        return self._finish(tf, sf, axis, rng)

    def _choose_axes(self, sf: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n = sf.shape[0]
        axis = rng.integers(0, 2, (n, self.L, self.D))
        fx, fy = self.fanout[:, 0][None, :, None], self.fanout[:, 1][None, :, None]
        axis = np.where(fx == 1, 1, np.where(fy == 1, 0, axis))
        return np.where(self.axis_fixed[None] >= 0, self.axis_fixed[None], axis)

    def _repair_fanout(self, tf: np.ndarray, sf: np.ndarray, axis: np.ndarray):
        """Move spatial factors that overflow an axis back to the level's temporal loop."""
        for l in range(self.L):
            for a in (0, 1):
                limit = self.fanout[l, a]
                for _ in range(8):
                    on_axis = (axis[:, l] == a) & (sf[:, l] > 1)
                    used = np.prod(np.where(on_axis, sf[:, l], 1), axis=1)
                    over = used > limit
                    if not over.any():
                        break
                    # drop the smallest prime of the largest spatial factor on that axis
                    cand = np.where(on_axis & (self.fixed_s[l][None] < 0), sf[:, l], 0)
                    d = np.argmax(cand, axis=1)
                    rows = np.nonzero(over & (cand.max(axis=1) > 1))[0]
                    if rows.size == 0:
                        break
                    f = sf[rows, l, d[rows]]
                    p = np.array([_primes(int(x))[0] for x in f], I64)
                    sf[rows, l, d[rows]] //= p
                    tf[rows, l, d[rows]] *= p
        return tf, sf, axis

    def _finish(self, tf: np.ndarray, sf: np.ndarray, axis: np.ndarray, rng: np.random.Generator) -> MappingBatch:
        n, L, D, T = tf.shape[0], self.L, self.D, self.T
        # loop orders: random, with the constrained prefix innermost
        order = np.argsort(rng.random((n, L, D)), axis=2)
        for l in range(L):
            pre = self.perm_prefix[l]
            if pre:
                rest = [d for d in range(D) if d not in pre]
                tail = order[:, l][np.isin(order[:, l], rest)].reshape(n, len(rest))
                order[:, l] = np.concatenate([np.tile(pre, (n, 1)), tail], axis=1)
        # spatial order: X dims first (in dimension order), then Y dims
        s_order = np.argsort(axis * D + np.arange(D)[None, None, :], axis=2, kind="stable")
        keep = np.where(self.keep_rule[None] == 0, rng.random((n, L, T)) < 0.5, self.keep_rule[None] > 0)
        return MappingBatch(tf.astype(I64), order.astype(I64), sf.astype(I64), axis.astype(I64),
                            s_order.astype(I64), keep)

    # ---------------------------------------------------------------------------------
    def mutate(self, batch: MappingBatch, rng: np.random.Generator) -> MappingBatch:
        """One random neighbour of each mapping: move a prime factor, swap two loops, or flip a bypass."""
        n, L, D, T = batch.size, self.L, self.D, self.T
        tf, sf = batch.temporal.copy(), batch.spatial.copy()
        axis, order, keep = batch.spatial_axis.copy(), batch.temporal_order.copy(), batch.keep.copy()
        kind = rng.integers(0, 4, n)
        rows = np.arange(n)
        # (0, 1) move one prime factor of a random dimension between two allowed slots
        move = kind <= 1
        if move.any():
            r = rows[move]
            d = rng.integers(0, D, r.size)
            slots = np.concatenate([tf[r, :, :], sf[r, :, :]], axis=1)  # [r, 2L, D]
            src_f = slots[np.arange(r.size), :, d]  # [r, 2L]
            ok = self.slot_ok[d]  # [r, 2L]
            src_ok = (src_f > 1) & ok
            has = src_ok.any(axis=1)
            src = np.argmax(src_ok * rng.random(src_ok.shape), axis=1)
            dst = np.argmax(ok * rng.random(ok.shape), axis=1)
            for i in np.nonzero(has & (src != dst))[0]:
                f = int(src_f[i, src[i]])
                p = _primes(f)[rng.integers(0, len(_primes(f)))]
                ri, di = r[i], d[i]
                for s, mult in ((src[i], None), (dst[i], p)):
                    target = tf if s < L else sf
                    lvl = s if s < L else s - L
                    if mult is None:
                        target[ri, lvl, di] //= p
                    else:
                        target[ri, lvl, di] *= p
        # 2: swap two loops of a level's order (outside its fixed prefix)
        swap = kind == 2
        for i in np.nonzero(swap)[0]:
            l = int(rng.integers(0, L))
            lo = len(self.perm_prefix[l])
            if D - lo >= 2:
                a, b = rng.choice(np.arange(lo, D), 2, replace=False)
                order[i, l, [a, b]] = order[i, l, [b, a]]
        # 3: flip one free keep bit, or an axis
        flip = kind == 3
        free = np.argwhere(self.keep_rule == 0)
        for i in np.nonzero(flip)[0]:
            if len(free) and rng.random() < 0.7:
                l, t = free[rng.integers(0, len(free))]
                keep[i, l, t] = ~keep[i, l, t]
            else:
                l = int(rng.integers(0, L))
                d = int(rng.integers(0, D))
                if self.axis_fixed[l, d] < 0 and self.fanout[l].min() > 1:
                    axis[i, l, d] = 1 - axis[i, l, d]
        tf, sf, axis = self._repair_fanout(tf, sf, axis)
        s_order = np.argsort(axis * D + np.arange(D)[None, None, :], axis=2, kind="stable")
        return MappingBatch(tf, order, sf, axis, s_order, keep)

    def utilization(self, batch: MappingBatch) -> np.ndarray:
        """Fraction of compute units a mapping uses."""
        return np.prod(batch.spatial, axis=(1, 2)) / self.arch.compute.instances
