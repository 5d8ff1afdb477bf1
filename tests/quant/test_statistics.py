"""Every weight statistic on a hand-computed tensor, then against naive oracles on random tensors."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sbmodel.quant.quantizers import QuantizerConfig, QuantizedWeights, quantize, signed_binarize
from sbmodel.quant.regions import RegionSpec
from sbmodel.quant.statistics import tensor_density, weight_statistics

from . import naive

# M=2 filters, C=1, S=2, R=3.  Storage order per filter: [0,2,0,0,0,2] and [-1,3,0,0,0,0].
KNOWN = np.array([[[[0, 2, 0], [0, 0, 2]]], [[[-1, 3, 0], [0, 0, 0]]]], dtype=np.float32)


def _as_is(values: np.ndarray) -> QuantizedWeights:
    return quantize(values, QuantizerConfig("as-is"))


def test_every_statistic_of_a_known_tensor() -> None:
    s = weight_statistics(_as_is(KNOWN), mask="x.npz:layer")
    assert (s.nonzeros, s.elements) == (4, 12)
    assert s.density == 4 / 12
    assert s.nonzeros_per_filter == [2, 2] == s.nonzeros_per_region
    assert s.unique_nonzero_values_per_filter == [1, 2] == s.unique_nonzero_values_per_region
    assert s.sign_per_region == [1, 0]  # filter 0 all positive, filter 1 mixed
    assert s.value_histogram is not None
    assert (s.value_histogram.values, s.value_histogram.counts) == ([-1.0, 0.0, 2.0, 3.0], [1, 8, 2, 1])
    # zeros before each nonzero within its filter: 1 and 3 (filter 0), 0 and 0 (filter 1)
    assert s.zero_run_histogram is not None
    assert (s.zero_run_histogram.values, s.zero_run_histogram.counts) == ([0.0, 1.0, 3.0], [2, 1, 1])
    assert s.scheme == "as-is" and s.bits == 2 and s.region.kind == "filter"
    assert s.mask == "x.npz:layer"


def test_region_statistics_with_channel_blocks() -> None:
    # M=1, C=3, S=R=1 with blocks of 2 channels: regions [5, -5] and [0]
    values = np.array([[[[5.0]], [[-5.0]], [[0.0]]]], dtype=np.float32)
    q = QuantizedWeights(values, None, "as-is", 8, RegionSpec("channel-block", 2))
    s = weight_statistics(q)
    assert s.region.kind == "channel-block" and s.region.size == 2
    assert s.nonzeros_per_region == [2, 0]
    assert s.unique_nonzero_values_per_region == [2, 0]
    assert s.sign_per_region == [0, 0]  # mixed, then empty
    assert s.unique_nonzero_values_per_filter == [2]


def test_signed_binary_codes_histogram_and_signs() -> None:
    w = np.array([[0.8, -1.0, 0.04], [0.5, 0.02, -0.3], [-0.5, 0.9, -0.03], [-2.0, -0.1, -0.09]], np.float32)
    s = weight_statistics(signed_binarize(w))
    assert s.value_histogram is not None
    assert s.value_histogram.values == [-1.0, 0.0, 1.0] and s.value_histogram.counts == [3, 7, 2]
    assert s.sign_per_region == [1, 1, -1, -1]
    assert s.unique_nonzero_values_per_region == [1, 1, 1, 1]
    assert s.scheme == "signed-binary" and s.bits == 1


def test_fp_histogram_is_left_out_above_256_values() -> None:
    w = np.arange(1, 301, dtype=np.float32).reshape(3, 100)
    s = weight_statistics(quantize(w, QuantizerConfig("fp")))
    assert s.value_histogram is None and s.unique_nonzero_values_per_filter == [100, 100, 100]


def test_tensor_density() -> None:
    t = tensor_density(np.array([[0.0, 1.0], [2.0, 0.0], [0.0, 0.0]]))
    assert (t.density, t.nonzeros, t.elements) == (2 / 6, 2, 6)


values4 = arrays(np.float32, st.tuples(st.integers(1, 5), st.integers(1, 4), st.integers(1, 3), st.integers(1, 3)),
                 elements=st.sampled_from([0.0, 0.0, 0.0, 1.0, -1.0, 0.5, 2.0]))


@settings(max_examples=80, deadline=None)
@given(values4, st.sampled_from([None, 1, 2, 3]))
def test_statistics_match_naive_oracles(values: np.ndarray, block: int | None) -> None:
    region = RegionSpec("channel-block", block) if block else RegionSpec()
    kind = "channel-block" if block else "filter"
    s = weight_statistics(QuantizedWeights(values, None, "as-is", 8, region))
    rows_f = naive.filters(values)
    rows_r = naive.regions(values, kind, block)
    assert s.nonzeros_per_filter == naive.nonzeros(rows_f)
    assert s.nonzeros_per_region == naive.nonzeros(rows_r)
    assert s.unique_nonzero_values_per_filter == naive.unique_nonzero(rows_f)
    assert s.unique_nonzero_values_per_region == naive.unique_nonzero(rows_r)
    assert s.sign_per_region == naive.signs(rows_r)
    runs = naive.zero_runs(values)
    assert s.zero_run_histogram is not None
    assert dict(zip(map(int, s.zero_run_histogram.values), s.zero_run_histogram.counts)) == runs
    # invariants
    assert 0.0 <= s.density <= 1.0
    assert sum(s.nonzeros_per_filter) == sum(s.nonzeros_per_region) == s.nonzeros
    assert sum(s.zero_run_histogram.counts) == s.nonzeros
    assert s.value_histogram is not None and sum(s.value_histogram.counts) == s.elements


@settings(max_examples=50, deadline=None)
@given(arrays(np.float32, st.tuples(st.integers(1, 8), st.integers(1, 6), st.integers(1, 3), st.integers(1, 3)),
              elements=st.floats(-3, 3, width=32)))
def test_signed_binary_statistics_invariants(w: np.ndarray) -> None:
    s = weight_statistics(signed_binarize(w))
    assert all(u <= 1 for u in s.unique_nonzero_values_per_region)
    m = w.shape[0]
    for i, (sign, nnz) in enumerate(zip(s.sign_per_region, s.nonzeros_per_region)):
        assert sign == (0 if nnz == 0 else 1 if i < m // 2 else -1)
