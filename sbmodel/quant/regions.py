"""Regions of a weight tensor: the groups of weights that share a sign or a scale.

A weight tensor is always handled in the PyTorch layout ``[M][C/groups][S][R]``
(output filters, input channels of the group, filter height, filter width); an FC
weight ``[M][C]`` is the same with ``S = R = 1``.  Storage order is C order over
that layout, so a *filter* is one contiguous row of ``C/groups * S * R`` weights.

Regions, in storage order (filter-major):

- ``filter``: one region per output filter (the signed-binary reference);
- ``channel-block`` of ``k``: each filter split into blocks of ``k`` input
  channels (all ``S x R`` taps of those channels); the last block of a filter is
  shorter when ``k`` does not divide ``C/groups``;
- ``tensor``: the whole tensor is one region.

:func:`region_matrix` lays the regions out as rows of a 2-D array, padding short
blocks with zeros.  Zeros are neutral for everything computed on regions here
(``max |w|``, counts of nonzeros, distinct nonzero values, signs), so padded rows
give exact answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..errors import SbmodelError
from ..spec.workload import Region

RegionKind = Literal["filter", "channel-block", "tensor"]


@dataclass(frozen=True)
class RegionSpec:
    """How a tensor is cut into regions (see the module docstring)."""

    kind: RegionKind = "filter"
    size: int | None = None  # input channels per block, for kind == "channel-block"

    def __post_init__(self) -> None:
        if self.kind == "channel-block":
            if self.size is None or self.size < 1:
                raise SbmodelError(f"a channel-block region needs a block size >= 1, got {self.size}")
        elif self.size is not None:
            raise SbmodelError(f"a {self.kind} region takes no size")

    @classmethod
    def parse(cls, text: str) -> "RegionSpec":
        """``filter``, ``tensor`` or ``block:K`` (blocks of K input channels)."""
        text = text.strip()
        if text in ("filter", "tensor"):
            return cls(text)  # type: ignore[arg-type]
        if text.startswith("block:"):
            try:
                size = int(text[len("block:"):])
            except ValueError:
                size = 0
            if size >= 1:
                return cls("channel-block", size)
        raise SbmodelError(f"region must be 'filter', 'tensor' or 'block:K' with K >= 1, got {text!r}")

    def to_model(self) -> Region:
        """The workload-format :class:`~sbmodel.spec.workload.Region`."""
        return Region(kind=self.kind, size=self.size)

    def label(self) -> str:
        return f"block:{self.size}" if self.kind == "channel-block" else self.kind


FILTER = RegionSpec()


def as_4d(weights: np.ndarray) -> np.ndarray:
    """View an FC weight ``[M][C]`` as ``[M][C][1][1]``; conv weights pass through."""
    if weights.ndim == 2:
        return weights.reshape(weights.shape[0], weights.shape[1], 1, 1)
    if weights.ndim == 4:
        return weights
    raise SbmodelError(f"expected a weight tensor of rank 2 or 4, got rank {weights.ndim}")


def filter_matrix(weights: np.ndarray) -> np.ndarray:
    """``[M, C/groups * S * R]``: one row per output filter, in storage order."""
    return weights.reshape(weights.shape[0], -1)


def blocks_per_filter(shape: tuple[int, ...], spec: RegionSpec) -> int:
    """Regions in one filter (1 for ``filter``; ``ceil(C/k)`` for channel blocks)."""
    if spec.kind == "channel-block":
        assert spec.size is not None
        return -(-shape[1] // spec.size)
    return 1


def region_count(shape: tuple[int, ...], spec: RegionSpec) -> int:
    """Number of regions of a tensor of this shape."""
    if spec.kind == "tensor":
        return 1
    return shape[0] * blocks_per_filter(shape, spec)


def region_matrix(weights: np.ndarray, spec: RegionSpec) -> np.ndarray:
    """Regions as rows (filter-major), short blocks zero-padded; a view where possible."""
    w = as_4d(weights)
    if spec.kind == "filter":
        return filter_matrix(w)
    if spec.kind == "tensor":
        return w.reshape(1, -1)
    assert spec.size is not None
    m, c, s, r = w.shape
    nb = blocks_per_filter(w.shape, spec)
    w3 = w.reshape(m, c, s * r)
    if nb * spec.size != c:
        w3 = np.pad(w3, ((0, 0), (0, nb * spec.size - c), (0, 0)))
    return w3.reshape(m * nb, spec.size * s * r)


def from_region_matrix(matrix: np.ndarray, shape: tuple[int, ...], spec: RegionSpec) -> np.ndarray:
    """Inverse of :func:`region_matrix`: drop the padding and restore ``shape``."""
    if spec.kind != "channel-block":
        return matrix.reshape(shape)
    assert spec.size is not None
    shape4 = as_4d(np.empty(shape, dtype=np.bool_)).shape
    m, c, s, r = shape4
    nb = blocks_per_filter(shape4, spec)
    w3 = matrix.reshape(m, nb * spec.size, s * r)[:, :c, :]
    return np.ascontiguousarray(w3).reshape(shape)


def region_filter_index(shape: tuple[int, ...], spec: RegionSpec) -> np.ndarray:
    """For each region, the output filter it belongs to (``-1`` for a whole-tensor region)."""
    if spec.kind == "tensor":
        return np.array([-1])
    return np.repeat(np.arange(shape[0]), blocks_per_filter(shape, spec))
