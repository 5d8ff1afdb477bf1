"""Density models: how many nonzeros a tile of a tensor holds, as a distribution.

A *tile* is a box of the tensor given by its extent along each data-space rank
(:class:`Tile`).  Every model answers the same questions Sparseloop asks of its
density models: the probability that a tile holds exactly ``k`` nonzeros
(optionally *given* that an enclosing tile holds ``m``), the largest
occupancy at a confidence level, the smallest possible occupancy and the mean.

* :class:`FixedStructured` — every tile of ``n`` points holds ``floor(n*d)`` or
  ``ceil(n*d)`` nonzeros, mixed so the mean is exactly ``n*d`` (Sparseloop's
  ``fixed-structured``; structured sparsity such as 2:4).
* :class:`Hypergeometric` — ``ceil(d*N)`` nonzeros placed uniformly at random in
  the ``N``-point tensor: a tile's occupancy is hypergeometric.
* :class:`ActualData` — the exact occupancy distribution of every tile shape
  measured on a real 0/1 mask (not in public Sparseloop): tiles are the
  aligned, non-overlapping boxes a mapping cuts the tensor into, counted with
  vectorised block sums.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from math import ceil, floor, lgamma
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from ...errors import SpecError


@dataclass(frozen=True)
class Tile:
    """A box of a tensor: its extent (points) along each data-space rank."""

    extents: tuple[int, ...]

    @property
    def size(self) -> int:
        out = 1
        for e in self.extents:
            out *= e
        return out

    @staticmethod
    def scalar(rank_count: int) -> "Tile":
        return Tile((1,) * rank_count)


@dataclass(frozen=True)
class Given:
    """Condition: the enclosing ``tile`` is known to hold ``occupancy`` nonzeros.

    ``occupancy`` may be an array: the probability is then one per occupancy
    (how the stage averages metadata over all occupancies of a tile at once).
    """

    tile: Tile
    occupancy: "int | np.ndarray"


Prob = "float | np.ndarray"  # a probability, or one per conditioning occupancy


class DensityModel(Protocol):
    """What the sparse stage asks of a tensor's density model."""

    name: str

    def probability(self, tile: Tile, occupancy: int, given: Given | None = None) -> Prob: ...

    def distribution(self, tile: Tile) -> tuple[np.ndarray, np.ndarray]: ...

    def max_occupancy(self, tile: Tile, confidence: float = 1.0) -> int: ...

    def min_occupancy(self, tile: Tile) -> int: ...

    def expected_occupancy(self, tile: Tile) -> float: ...

    def max_elements(self, fiber: Tile, element: Tile, confidence: float = 1.0) -> int: ...

    @property
    def mean_density(self) -> float: ...


def _floor_ceil_probability(exact: "float | np.ndarray", occupancy: int) -> Prob:
    """Occupancy is floor or ceil of ``exact``, weighted so the mean is ``exact``."""
    if isinstance(exact, np.ndarray):
        lo = np.floor(exact)
        p_ceil = exact - lo
        return np.where(lo == occupancy, 1.0 - p_ceil, np.where(np.ceil(exact) == occupancy, p_ceil, 0.0))
    lo = floor(exact)
    p_ceil = exact - lo
    if lo == occupancy:
        return 1.0 - p_ceil
    if ceil(exact) == occupancy:
        return p_ceil
    return 0.0


@dataclass(frozen=True)
class FixedStructured:
    """Every tile of ``n`` points holds ``floor(n*d)`` or ``ceil(n*d)`` nonzeros."""

    density: float
    name: str = "fixed_structured"

    def __post_init__(self) -> None:
        if not 0.0 <= self.density <= 1.0:
            raise SpecError(f"density must be within [0, 1], got {self.density}")

    @property
    def mean_density(self) -> float:
        return self.density

    def _exact(self, tile: Tile, given: Given | None) -> "float | np.ndarray":
        d = self.density if given is None else given.occupancy / given.tile.size
        return tile.size * d

    def probability(self, tile: Tile, occupancy: int, given: Given | None = None) -> Prob:
        return _floor_ceil_probability(self._exact(tile, given), occupancy)

    def distribution(self, tile: Tile) -> tuple[np.ndarray, np.ndarray]:
        exact = self._exact(tile, None)
        lo, hi = floor(exact), ceil(exact)
        if lo == hi:
            return np.array([lo]), np.array([1.0])
        return np.array([lo, hi]), np.array([1.0 - (exact - lo), exact - lo])

    def max_occupancy(self, tile: Tile, confidence: float = 1.0) -> int:
        exact = self._exact(tile, None)
        p_floor = 1.0 - (exact - floor(exact))
        return int(floor(exact)) if confidence <= p_floor else int(ceil(exact))

    def min_occupancy(self, tile: Tile) -> int:
        return int(floor(self._exact(tile, None)))

    def expected_occupancy(self, tile: Tile) -> float:
        return tile.size * self.density

    def max_elements(self, fiber: Tile, element: Tile, confidence: float = 1.0) -> int:
        return _max_elements(self, fiber, element, confidence)


def _max_elements(model: DensityModel, fiber: Tile, element: Tile, confidence: float) -> int:
    """Nonempty ``element`` subtiles of a ``fiber`` holding its most likely-maximal occupancy."""
    top = model.max_occupancy(fiber, confidence)
    p_empty = model.probability(element, 0, Given(fiber, top))
    return int(ceil(fiber.size / element.size * (1.0 - p_empty)))


def _log_binomial(n: int | np.ndarray, k: np.ndarray) -> np.ndarray:
    lg = np.frompyfunc(lgamma, 1, 1)
    n_arr = np.asarray(n, dtype=float)
    k_arr = np.asarray(k, dtype=float)
    return np.asarray(lg(n_arr + 1) - lg(k_arr + 1) - lg(n_arr - k_arr + 1), dtype=float)


def hypergeometric_pmf(population: int, successes: "int | np.ndarray", draws: int, k: np.ndarray) -> np.ndarray:
    """P(k successes in ``draws`` draws without replacement); 0 outside the support.
    ``successes`` and ``k`` broadcast against each other."""
    r, k = np.broadcast_arrays(np.asarray(successes, dtype=np.int64), np.asarray(k, dtype=np.int64))
    lo = np.maximum(0, draws + r - population)
    hi = np.minimum(draws, r)
    out = np.zeros(k.shape, dtype=float)
    ok = (k >= lo) & (k <= hi)
    if ok.any():
        kk, rr = k[ok], r[ok]
        logp = (_log_binomial(rr, kk) + _log_binomial(population - rr, draws - kk)
                - _log_binomial(population, np.array(draws)))
        out[ok] = np.exp(logp)
    return out


def _hypergeometric_support(population: int, successes: int, draws: int) -> tuple[np.ndarray, np.ndarray]:
    """Every possible k and its probability, by the ratio recurrence of consecutive terms
    (one log-binomial evaluation, then cumulative sums of logs: vectorised and O(draws))."""
    lo, hi = max(0, draws + successes - population), min(draws, successes)
    k = np.arange(lo, hi + 1, dtype=np.int64)
    if k.size == 0:  # more draws than points: no possible outcome (as the closed form gives)
        return k, np.zeros(0)
    start = float(_log_binomial(successes, np.array(lo)) + _log_binomial(population - successes, np.array(draws - lo))
                  - _log_binomial(population, np.array(draws)))
    kk = k[:-1].astype(float)
    steps = (np.log(successes - kk) + np.log(draws - kk) - np.log(kk + 1)
             - np.log(population - successes - draws + kk + 1))
    logp = start + np.concatenate(([0.0], np.cumsum(steps)))
    return k, np.exp(logp)


@dataclass(frozen=True)
class Hypergeometric:
    """``ceil(d*N)`` nonzeros placed uniformly in an ``N``-point tensor."""

    density: float
    tensor_size: int
    name: str = "hypergeometric"
    _cache: dict = field(default_factory=dict, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        if not 0.0 <= self.density <= 1.0:
            raise SpecError(f"density must be within [0, 1], got {self.density}")
        if self.tensor_size < 1:
            raise SpecError(f"hypergeometric density needs the tensor size, got {self.tensor_size}")

    @property
    def nonzeros(self) -> int:
        return int(ceil(self.density * self.tensor_size))

    @property
    def mean_density(self) -> float:
        return self.density

    def _params(self, given: Given | None) -> tuple[int, "int | np.ndarray"]:
        if given is None:
            return self.tensor_size, self.nonzeros
        return given.tile.size, given.occupancy

    def probability(self, tile: Tile, occupancy: int, given: Given | None = None) -> Prob:
        if given is None:
            k, p = self.distribution(tile)
            hit = np.nonzero(k == occupancy)[0]
            return float(p[hit[0]]) if hit.size else 0.0
        population, successes = self._params(given)
        p = hypergeometric_pmf(population, successes, tile.size, np.array(occupancy))
        return p if isinstance(successes, np.ndarray) else float(p)

    def distribution(self, tile: Tile) -> tuple[np.ndarray, np.ndarray]:
        hit = self._cache.get(tile.size)
        if hit is None:
            k, p = _hypergeometric_support(self.tensor_size, self.nonzeros, tile.size)
            keep = p > 0
            hit = self._cache[tile.size] = (k[keep], p[keep])
        return hit

    def max_occupancy(self, tile: Tile, confidence: float = 1.0) -> int:
        if confidence >= 1.0:
            return min(tile.size, self.nonzeros)
        k, p = self.distribution(tile)
        idx = int(np.searchsorted(np.cumsum(p), confidence - 1e-12))
        return int(k[min(idx, len(k) - 1)])

    def min_occupancy(self, tile: Tile) -> int:
        return max(0, tile.size - (self.tensor_size - self.nonzeros))

    def expected_occupancy(self, tile: Tile) -> float:
        k, p = self.distribution(tile)
        return float((k * p).sum())

    def max_elements(self, fiber: Tile, element: Tile, confidence: float = 1.0) -> int:
        return _max_elements(self, fiber, element, confidence)


def _block_counts(mask: np.ndarray, extents: Sequence[int]) -> np.ndarray:
    """Nonzeros of every aligned ``extents`` box of ``mask`` (zero-padded at the far edges).

    Summed one rank at a time from the innermost (contiguous) rank outwards, so
    each pass reads a shrinking array: a few milliseconds for millions of points.
    """
    ext = [max(1, min(int(e), s)) if s > 0 else 1 for e, s in zip(extents, mask.shape)]
    arr = mask
    for axis in range(arr.ndim - 1, -1, -1):
        e, n = ext[axis], arr.shape[axis]
        if e == 1:
            continue
        if n % e:
            pad = [(0, 0)] * arr.ndim
            pad[axis] = (0, (-n) % e)
            arr = np.pad(arr, pad)
        shape = arr.shape[:axis] + (arr.shape[axis] // e, e) + arr.shape[axis + 1:]
        blocks = arr.reshape(shape)
        if e >= 16:  # long blocks: one reduction is cheaper than e slice additions
            arr = blocks.sum(axis=axis + 1, dtype=np.int32)
            continue
        index: list = [slice(None)] * blocks.ndim
        total = np.zeros(shape[:axis + 1] + shape[axis + 2:], dtype=np.int32)
        for i in range(e):  # adding e strided slices beats reducing e-long rows one by one
            index[axis + 1] = i
            total += blocks[tuple(index)]
        arr = total
    return arr.astype(np.int64, copy=False)


def _block_sizes(shape: Sequence[int], extents: Sequence[int]) -> np.ndarray:
    """Points of the tensor inside every aligned ``extents`` box (edge boxes are smaller)."""
    out = np.ones((), dtype=np.int64)
    for n, e in zip(shape, extents):
        e = max(1, min(int(e), n))
        sizes = np.full(-(-n // e), e, dtype=np.int64)
        if n % e:
            sizes[-1] = n % e
        out = np.multiply.outer(out, sizes)
    return out


def _distinct(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted distinct occupancies, each value's label (index into them) and their counts:
    by a histogram when the values are dense, by sorting when they are few and large."""
    flat = values.ravel()
    if flat.size and int(flat.max()) > 8 * flat.size:  # few large counts (big tiles)
        distinct, label, count = np.unique(flat, return_inverse=True, return_counts=True)
    else:
        hist = np.bincount(flat)
        distinct = np.nonzero(hist)[0]
        label = (np.cumsum(hist > 0) - 1)[flat]
        count = hist[distinct]
    return distinct, label.reshape(values.shape), count


@dataclass(frozen=True, eq=False)
class ActualData:
    """Exact tile-occupancy statistics of a real 0/1 mask (ranks in data-space order)."""

    mask: np.ndarray = field(repr=False)
    source: str = ""
    name: str = "actual_data"
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        m = np.asarray(self.mask)
        if m.ndim == 0 or m.size == 0:
            raise SpecError(f"mask {self.source or ''} is empty")
        object.__setattr__(self, "mask", (m != 0).astype(np.uint8))

    @cached_property
    def mean_density(self) -> float:
        return float(self.mask.mean())

    def _extents(self, tile: Tile) -> tuple[int, ...]:
        if len(tile.extents) != self.mask.ndim:
            raise SpecError(f"mask {self.source} has {self.mask.ndim} ranks but the tensor has {len(tile.extents)}")
        return tuple(min(e, s) for e, s in zip(tile.extents, self.mask.shape))

    def counts(self, tile: Tile) -> np.ndarray:
        """Occupancy of every tile of this shape (a grid over the tensor)."""
        ext = self._extents(tile)
        key = ("counts", ext)
        hit = self._cache.get(key)
        if hit is None:
            hit = self._cache[key] = _block_counts(self.mask, ext)
        return hit

    def distribution(self, tile: Tile) -> tuple[np.ndarray, np.ndarray]:
        key = ("dist", self._extents(tile))
        hit = self._cache.get(key)
        if hit is None and tile.size == 1:  # a single point: zero or not
            nz = int(np.count_nonzero(self.mask))
            k, p = np.array([0, 1]), np.array([(self.mask.size - nz) / self.mask.size, nz / self.mask.size])
            hit = self._cache[key] = (k[p > 0], p[p > 0])
        if hit is None:
            k, _, count = _distinct(self.counts(tile))
            hit = self._cache[key] = (k, count / count.sum())
        return hit

    def _scalar_given(self, parent: Tile) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For scalar children only the parents matter: per parent occupancy m, the points of
        parents holding m and their nonzeros (a parent with m nonzeros has m nonzero points)."""
        key = ("scalar_given", self._extents(parent))
        hit = self._cache.get(key)
        if hit is None:
            parents, label, count = _distinct(self.counts(parent))
            ext = self._extents(parent)
            if all(n % e == 0 for n, e in zip(self.mask.shape, ext)):  # equal parents
                points = count * float(np.prod(ext))
            else:
                sizes = _block_sizes(self.mask.shape, ext)
                points = np.bincount(label.ravel(), weights=sizes.ravel(), minlength=parents.size)
            nonzero = parents * count  # every parent with m nonzeros adds m
            hit = self._cache[key] = (parents, points, nonzero)
        return hit

    def _conditional(self, tile: Tile, parent: Tile) -> tuple[np.ndarray, np.ndarray]:
        """Joint counts over every child tile: the sorted distinct parent occupancies, and per
        parent occupancy the number of children holding each child occupancy (rows x columns)."""
        key = ("joint", self._extents(tile), self._extents(parent))
        hit = self._cache.get(key)
        if hit is None:
            child = self.counts(tile)
            ext_c, ext_p = self._extents(tile), self._extents(parent)
            if ext_c == ext_p:  # the child is its parent: the joint is diagonal
                k, p = self.distribution(tile)
                joint = np.zeros((k.size, int(k[-1]) + 1), dtype=np.int64)
                joint[np.arange(k.size), k] = np.rint(p * child.size).astype(np.int64)
                hit = self._cache[key] = (k, joint)
                return hit
            # label the parents by their occupancy's rank (few), then spread labels to children
            parents, label, _ = _distinct(self.counts(parent))
            for r, (n, ec, ep) in enumerate(zip(child.shape, ext_c, ext_p)):
                # child i lies in parent floor(i*ec/ep) (non-decreasing): repeat each parent
                # over its children along this rank
                index = np.minimum((np.arange(n) * ec) // ep, label.shape[r] - 1)
                label = np.repeat(label, np.bincount(index, minlength=label.shape[r]), axis=r)
            width = int(child.max()) + 1
            joint = np.bincount(label.ravel() * width + child.ravel(), minlength=parents.size * width)
            hit = self._cache[key] = (parents, joint.reshape(parents.size, width))
        return hit

    def probability(self, tile: Tile, occupancy: int, given: Given | None = None) -> Prob:
        if given is None:
            k, p = self.distribution(tile)
            hit = np.nonzero(k == occupancy)[0]
            return float(p[hit[0]]) if hit.size else 0.0
        m = np.asarray(given.occupancy, dtype=np.int64)
        if tile.size == 1 and occupancy in (0, 1):
            parents, points, nonzero = self._scalar_given(given.tile)
            pi = np.minimum(np.searchsorted(parents, m), parents.size - 1)
            found = parents[pi] == m
            pts = np.where(found, points[pi], 0.0)
            hits = np.where(found, nonzero[pi] if occupancy == 1 else points[pi] - nonzero[pi], 0.0)
            p = np.where(pts > 0, hits / np.maximum(pts, 1), 0.0)
            return p if m.ndim else float(p)
        parents, joint = self._conditional(tile, given.tile)
        pi = np.minimum(np.searchsorted(parents, m), parents.size - 1)
        found = parents[pi] == m
        totals = np.where(found, joint.sum(axis=1)[pi], 0)
        hits = np.where(found, joint[pi, occupancy], 0) if occupancy < joint.shape[1] else np.zeros_like(totals)
        p = np.where(totals > 0, hits / np.maximum(totals, 1), 0.0)
        return p if m.ndim else float(p)

    def max_occupancy(self, tile: Tile, confidence: float = 1.0) -> int:
        k, p = self.distribution(tile)
        if confidence >= 1.0:
            return int(k[-1])
        idx = int(np.searchsorted(np.cumsum(p), confidence - 1e-12))
        return int(k[min(idx, len(k) - 1)])

    def min_occupancy(self, tile: Tile) -> int:
        return int(self.distribution(tile)[0][0])

    def expected_occupancy(self, tile: Tile) -> float:
        k, p = self.distribution(tile)
        return float((k * p).sum())

    def max_elements(self, fiber: Tile, element: Tile, confidence: float = 1.0) -> int:
        return _max_elements(self, fiber, element, confidence)


DENSE = FixedStructured(1.0)


def load_mask(path: str | Path, key: str | None = None) -> np.ndarray:
    """A 0/1 mask from ``.npy`` or ``.npz`` (``key`` picks the array; default: the only one)."""
    p = Path(path)
    if not p.is_file():
        raise SpecError(f"mask file not found: {p}")
    try:
        data = np.load(p, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise SpecError(f"cannot read mask file {p}: {exc}") from None
    if isinstance(data, np.ndarray):
        return data
    with data:
        names = list(data.files)
        if key is None:
            if len(names) != 1:
                raise SpecError(f"mask file {p} holds {len(names)} arrays {names}; say which one with file.npz:key")
            key = names[0]
        if key not in names:
            raise SpecError(f"mask file {p} has no array {key!r} (has {names})")
        return np.asarray(data[key])


__all__ = ["Tile", "Given", "DensityModel", "FixedStructured", "Hypergeometric", "ActualData", "DENSE",
           "hypergeometric_pmf", "load_mask"]
