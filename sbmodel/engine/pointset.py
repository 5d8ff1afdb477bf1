"""Sets of tensor coordinates as unions of disjoint boxes.

A *box* is a tuple of half-open ``(lo, hi)`` ranges, one per tensor rank; a
*box set* is a tuple of disjoint boxes.  This is the geometry the nest
analysis needs: a tile of a tensor is one box (the projection of an
operation-space box), the data that must move between two consecutive tiles
is a box set (the set difference), and two deltas can be compared for
multicast.  The set difference splits rank by rank in a fixed order, so equal
inputs always give identical box lists.
"""

from __future__ import annotations

from math import floor
from typing import Sequence

from ..core.problem import DataSpace

Box = tuple[tuple[int, int], ...]
BoxSet = tuple[Box, ...]
EMPTY: BoxSet = ()


def project(ds: DataSpace, lo: Sequence[int], hi: Sequence[int], dim_index: dict[str, int]) -> Box:
    """Bounding box in ``ds`` of the operation-space box ``[lo, hi]`` (both inclusive)."""
    out = []
    for rank in ds.projection:
        a = b = 0
        for coef, dim in rank:
            d = dim_index[dim]
            if coef >= 0:
                a += coef * lo[d]
                b += coef * hi[d]
            else:
                a += coef * hi[d]
                b += coef * lo[d]
        out.append((a, b + 1))
    return tuple(out)


def box_volume(box: Box) -> int:
    v = 1
    for lo, hi in box:
        v *= hi - lo
    return v


def volume(boxes: BoxSet) -> int:
    return sum(box_volume(b) for b in boxes)


def _box_minus(a: Box, b: Box) -> list[Box]:
    """``a \\ b`` as disjoint slices, peeled rank by rank (left slice, then right slice)."""
    for (alo, ahi), (blo, bhi) in zip(a, b):
        if ahi <= blo or bhi <= alo:
            return [a]
    out: list[Box] = []
    middle = list(a)
    for r, ((mlo, mhi), (blo, bhi)) in enumerate(zip(a, b)):
        if mlo < blo:
            left = list(middle)
            left[r] = (mlo, blo)
            out.append(tuple(left))
            mlo = blo
        if bhi < mhi:
            right = list(middle)
            right[r] = (bhi, mhi)
            out.append(tuple(right))
            mhi = bhi
        middle[r] = (mlo, mhi)
    return out


def difference(a: BoxSet, b: BoxSet) -> BoxSet:
    """Set difference ``a \\ b``: subtract each box of ``b`` from every piece of ``a``."""
    pieces = list(a)
    for bb in b:
        nxt: list[Box] = []
        for aa in pieces:
            nxt.extend(_box_minus(aa, bb))
        pieces = nxt
    return tuple(pieces)


def same(a: BoxSet, b: BoxSet) -> bool:
    """Equal as lists of boxes (order-insensitive), as Timeloop compares deltas."""
    return len(a) == len(b) and set(a) == set(b)


def key(a: BoxSet) -> frozenset[Box]:
    """Hashable identity of a box set for grouping equal deltas."""
    return frozenset(a)


def _round_half_away(x: float) -> int:
    return int(floor(abs(x) + 0.5)) * (1 if x >= 0 else -1)


def translation(a: BoxSet, b: BoxSet) -> tuple[int, ...] | None:
    """Offset from ``a`` to ``b`` between volume-weighted centroids, rounded.

    ``None`` when ``a`` is empty (no reference to move from); all zeros when
    ``b`` is empty.
    """
    if not a:
        return None
    if len(a) == 1 and len(b) == 1:  # one box each (every tile): centre to centre, as below
        (box_a,), (box_b,) = a, b
        if any(hi <= lo for lo, hi in box_a) or any(hi <= lo for lo, hi in box_b):
            return (0,) * len(box_a)
        return tuple(_round_half_away((blo + bhi - 1) / 2.0 - (alo + ahi - 1) / 2.0)
                     for (alo, ahi), (blo, bhi) in zip(box_a, box_b))
    rank = len(a[0])

    def centroid(s: BoxSet) -> tuple[list[float], int]:
        acc = [0.0] * rank
        total = 0
        for box in s:
            v = box_volume(box)
            for r, (lo, hi) in enumerate(box):
                acc[r] += (lo + hi - 1) / 2.0 * v
            total += v
        return acc, total

    ca, ta = centroid(a)
    cb, tb = centroid(b)
    if ta == 0 or tb == 0:
        return (0,) * rank
    return tuple(_round_half_away(cb[r] / tb - ca[r] / ta) for r in range(rank))


def translate(a: BoxSet, offset: Sequence[int]) -> BoxSet:
    if not any(offset):
        return a
    return tuple(tuple((lo + o, hi + o) for (lo, hi), o in zip(box, offset)) for box in a)
