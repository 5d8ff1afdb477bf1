"""Per-layer statistics of quantised weights and of activations.

Definitions (all on the ``[M][C/groups][S][R]`` layout, storage order = C order):

- ``density``: nonzeros / elements of the quantised tensor.
- ``nonzeros_per_filter`` / ``_per_region``: nonzeros in each output filter /
  region (regions in filter-major order, see :mod:`sbmodel.quant.regions`).
- ``unique_nonzero_values_per_filter`` / ``_per_region``: distinct nonzero values
  (what a UCNN / SumMerge style factorised dot product multiplies by).
- ``sign_per_region``: +1 if every nonzero of the region is positive, -1 if
  every one is negative, 0 if mixed or empty.
- ``value_histogram``: the quantised codes (-1, 0, +1) for binary, ternary and
  signed-binary; the raw values for fp / as-is when the layer has at most 256
  distinct values (omitted otherwise).
- ``zero_run_histogram``: what run-length encoding costs.  Each filter is one
  fiber in storage order; every nonzero is stored with the number of zeros since
  the previous nonzero of the same filter (or since the filter's start).
  ``values`` are those run lengths, ``counts`` how many nonzeros have each.
  Counts sum to the nonzeros; trailing zeros of a filter are not stored.
"""

from __future__ import annotations

import numpy as np

from ..spec.workload import Histogram, TensorStats, WeightStats
from .quantizers import QuantizedWeights
from .regions import RegionSpec, as_4d, filter_matrix, region_matrix

HISTOGRAM_MAX_VALUES = 256


def nonzeros_per_row(matrix: np.ndarray) -> np.ndarray:
    """Count of nonzero entries in each row."""
    return np.count_nonzero(matrix, axis=1)


def unique_nonzero_per_row(matrix: np.ndarray) -> np.ndarray:
    """Number of distinct nonzero values in each row (sort, then count changes)."""
    if matrix.shape[1] == 0:
        return np.zeros(matrix.shape[0], dtype=np.int64)
    s = np.sort(matrix, axis=1)
    distinct = 1 + np.count_nonzero(s[:, 1:] != s[:, :-1], axis=1)
    has_zero = (s == 0).any(axis=1)
    return distinct - has_zero


def sign_per_row(matrix: np.ndarray) -> np.ndarray:
    """+1 / -1 when all nonzeros of a row share that sign, else 0."""
    pos = (matrix > 0).any(axis=1)
    neg = (matrix < 0).any(axis=1)
    return np.where(pos & ~neg, 1, np.where(neg & ~pos, -1, 0)).astype(np.int8)


def zero_run_lengths(matrix: np.ndarray) -> np.ndarray:
    """For each nonzero (row-major), the zeros since the previous nonzero of its row."""
    rows, cols = np.nonzero(matrix)
    if rows.size == 0:
        return np.zeros(0, dtype=np.int64)
    runs = np.empty(cols.shape, dtype=np.int64)
    runs[0] = cols[0]
    same_row = rows[1:] == rows[:-1]
    runs[1:] = np.where(same_row, cols[1:] - cols[:-1] - 1, cols[1:])
    return runs


def histogram_of_counts(counts_by_value: np.ndarray) -> Histogram:
    """Histogram of the nonzero bins of a ``bincount`` result."""
    idx = np.flatnonzero(counts_by_value)
    return Histogram(values=[float(v) for v in idx], counts=[int(c) for c in counts_by_value[idx]])


def zero_run_histogram(values: np.ndarray) -> Histogram:
    """The RLE run-length histogram defined in the module docstring."""
    runs = zero_run_lengths(filter_matrix(as_4d(values)))
    return histogram_of_counts(np.bincount(runs))


def value_histogram(q: QuantizedWeights, max_distinct_per_filter: int) -> Histogram | None:
    """Histogram of codes (quantised schemes) or of raw values (<= 256 distinct)."""
    if q.codes is not None:
        counts = np.bincount(q.codes.ravel().astype(np.int64) + 1, minlength=3)
        return Histogram(values=[-1.0, 0.0, 1.0], counts=[int(c) for c in counts])
    if max_distinct_per_filter > HISTOGRAM_MAX_VALUES:
        return None  # a lower bound on the layer's distinct values already exceeds the cap
    values, counts = np.unique(q.values, return_counts=True)
    if values.size > HISTOGRAM_MAX_VALUES:
        return None
    return Histogram(values=[float(v) for v in values], counts=[int(c) for c in counts])


def _ints(a: np.ndarray) -> list[int]:
    return [int(x) for x in a.tolist()]


def weight_statistics(q: QuantizedWeights, region: RegionSpec | None = None,
                      mask: str | None = None) -> WeightStats:
    """All weight statistics of one quantised layer (see the module docstring).

    ``region`` defaults to the quantizer's own regions; ``mask`` is the reference
    to the layer's 0/1 mask file, if one is written.
    """
    region = region or q.region
    values = as_4d(q.values)
    filters = filter_matrix(values)
    regions = region_matrix(values, region)
    nnz_filter = nonzeros_per_row(filters)
    uniq_filter = unique_nonzero_per_row(filters)
    if region.kind == "filter":
        nnz_region, uniq_region = nnz_filter, uniq_filter
    else:
        nnz_region, uniq_region = nonzeros_per_row(regions), unique_nonzero_per_row(regions)
    nonzeros = int(nnz_filter.sum())
    elements = int(values.size)
    # Distinct values of a filter including zero: a lower bound on the layer's distinct values.
    max_distinct = int((uniq_filter + (nnz_filter < filters.shape[1])).max(initial=0))
    return WeightStats(
        density=nonzeros / elements if elements else 0.0,
        nonzeros=nonzeros,
        elements=elements,
        scheme=q.scheme,
        bits=q.bits,
        region=region.to_model(),
        nonzeros_per_filter=_ints(nnz_filter),
        nonzeros_per_region=_ints(nnz_region),
        unique_nonzero_values_per_filter=_ints(uniq_filter),
        unique_nonzero_values_per_region=_ints(uniq_region),
        sign_per_region=_ints(sign_per_row(regions)),  # type: ignore[arg-type]
        value_histogram=value_histogram(q, max_distinct),
        zero_run_histogram=zero_run_histogram(values),
        mask=mask,
    )


def tensor_density(array: np.ndarray) -> TensorStats:
    """Density of an activation tensor (e.g. a layer's inputs on calibration data)."""
    elements = int(array.size)
    nonzeros = int(np.count_nonzero(array))
    return TensorStats(density=nonzeros / elements if elements else 0.0, nonzeros=nonzeros, elements=elements)


def merge_densities(parts: list[TensorStats]) -> TensorStats:
    """Density over several batches of the same tensor."""
    nonzeros = sum(p.nonzeros or 0 for p in parts)
    elements = sum(p.elements or 0 for p in parts)
    return TensorStats(density=nonzeros / elements if elements else 0.0, nonzeros=nonzeros, elements=elements)
