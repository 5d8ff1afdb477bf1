"""Quantizers against hand-computed tensors, the naive reference rule, and invariants."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sbmodel.errors import SbmodelError
from sbmodel.quant.quantizers import (QuantizerConfig, binarize, quantize, signed_binarize, ste_gradient,
                                      ternarize)
from sbmodel.quant.regions import RegionSpec

from . import naive

# Two filters of three weights; mean|W| = 0.6 overall and per filter.
W_TERNARY = np.array([[1.0, -0.2, 0.6], [-1.5, 0.1, 0.2]], dtype=np.float32)


def test_binary_is_sign_times_mean_abs_per_filter() -> None:
    w = np.array([[1.0, -2.0, 0.0], [0.5, 0.5, -2.0]], dtype=np.float32)
    q = binarize(w)
    # filter 0: mean|W| = 1; filter 1: mean|W| = 1; sign(0) = +1 as in the reference
    assert q.values.tolist() == [[1.0, -1.0, 1.0], [1.0, 1.0, -1.0]]
    assert q.codes.tolist() == [[1, -1, 1], [1, 1, -1]]
    assert q.bits == 1 and q.scheme == "binary"


def test_binary_scale_is_per_filter_on_conv_weights() -> None:
    w = np.array([[[[2.0, -4.0]]], [[[-0.5, -0.5]]]], dtype=np.float32)  # M=2, C=1, S=1, R=2
    q = binarize(w)
    assert q.values.shape == w.shape
    assert q.values.ravel().tolist() == [3.0, -3.0, -0.5, -0.5]


def test_twn_per_layer_threshold_and_scale() -> None:
    q = ternarize(W_TERNARY, "twn")
    # delta = 0.7 * 0.6 = 0.42: keep 1.0, 0.6, -1.5; alpha = 3.1 / 3
    a = np.float32(3.1 / 3)
    np.testing.assert_allclose(q.values, [[a, 0, a], [-a, 0, 0]], rtol=1e-6)
    assert q.codes.tolist() == [[1, 0, 1], [-1, 0, 0]]
    assert q.bits == 2


def test_twn_per_filter_uses_0_75_and_per_filter_scale() -> None:
    q = ternarize(W_TERNARY, "twn-filter")
    # per filter: mean 0.6, delta 0.45; filter 0 keeps 1.0, 0.6 (alpha 0.8); filter 1 keeps -1.5
    np.testing.assert_allclose(q.values, [[0.8, 0, 0.8], [-1.5, 0, 0]], rtol=1e-6)


def test_ttq_threshold_and_separate_scales() -> None:
    w = np.array([[1.0, -0.2, 0.6], [-1.5, 0.05, 0.2]], dtype=np.float32)
    q = ternarize(w, "ttq")
    # delta = 0.05 * 1.5 = 0.075: 0.05 -> 0; positive scale mean(1.0, 0.6, 0.2) = 0.6;
    # negative scale mean(0.2, 1.5) = 0.85
    np.testing.assert_allclose(q.values, [[0.6, -0.85, 0.6], [-0.85, 0, 0.6]], rtol=1e-6)
    assert q.codes.tolist() == [[1, -1, 1], [-1, 0, 1]]


def test_ternary_threshold_factor_override() -> None:
    q = ternarize(W_TERNARY, "twn", threshold_factor=0.0)
    assert np.count_nonzero(q.codes) == 6


SB = np.array([[0.8, -1.0, 0.04],     # + : delta 0.05 -> [1, 0, 0]
               [0.5, 0.02, -0.3],     # + : delta 0.025 -> [1, 0, 0]
               [-0.5, 0.9, -0.03],    # - : delta 0.045 -> [-1, 0, 0]
               [-2.0, -0.1, -0.09]],  # - : delta 0.1 -> [-1, -1, 0] (>= is inclusive)
              dtype=np.float32)


def test_signed_binary_reference_rule_by_hand() -> None:
    q = signed_binarize(SB)
    assert q.values.tolist() == [[1, 0, 0], [1, 0, 0], [-1, 0, 0], [-1, -1, 0]]
    assert q.bits == 1 and q.region.kind == "filter"


def test_signed_binary_odd_filter_count_gives_the_extra_filter_to_the_negative_half() -> None:
    w = np.ones((3, 2), dtype=np.float32)
    q = signed_binarize(w)  # M // 2 = 1 positive filter, as the reference's p.shape[0] // 2
    assert q.values.tolist() == [[1, 1], [0, 0], [0, 0]]


def test_signed_binary_majority_policy() -> None:
    w = np.array([[-0.5, -0.4, 0.9],   # delta 0.045: two negatives vs one positive -> {0,-1}
                  [0.8, -1.0, 0.04]],  # tie (one each above delta) -> +1
                 dtype=np.float32)
    q = signed_binarize(w, sign_policy="majority")
    assert q.values.tolist() == [[-1, -1, 0], [1, 0, 0]]


def test_signed_binary_channel_blocks_have_their_own_threshold() -> None:
    # M=2, C=3, S=1, R=2, blocks of 2 channels: regions (f0: c0-1), (f0: c2), (f1: c0-1), (f1: c2)
    w = np.array([[[[4.0, 0.1]], [[0.3, -1.0]], [[0.02, 0.01]]],
                  [[[-3.0, -0.2]], [[0.5, -0.1]], [[-0.04, 0.001]]]], dtype=np.float32)
    q = signed_binarize(w, region=RegionSpec("channel-block", 2))
    # region 0 (+, delta 0.2): 4.0, 0.3 -> 1; 0.1 -> 0; region 1 (+, delta 0.001): 0.02, 0.01 -> 1
    # region 2 (-, delta 0.15): -3.0, -0.2 -> -1; region 3 (-, delta 0.002): -0.04 -> -1
    assert q.values.reshape(2, 6).tolist() == [[1, 0, 1, 0, 1, 1], [-1, -1, 0, 0, -1, 0]]
    assert q.region == RegionSpec("channel-block", 2)


def test_signed_binary_keeps_exact_zeros_zero() -> None:
    q = signed_binarize(np.zeros((2, 4), dtype=np.float32))
    assert not q.values.any()


def test_fp_and_as_is_keep_values() -> None:
    w = np.array([[0.5, 0.0], [0.5, -0.25]], dtype=np.float32)
    fp = quantize(w, QuantizerConfig("fp", fp_bits=16))
    assert fp.codes is None and fp.bits == 16 and np.array_equal(fp.values, w)
    as_is = quantize(w, QuantizerConfig("as-is"))
    assert as_is.bits == 2  # three distinct values need 2 bits


def test_config_rejects_bad_settings() -> None:
    with pytest.raises(SbmodelError, match="unknown scheme"):
        QuantizerConfig("quaternary")  # type: ignore[arg-type]
    with pytest.raises(SbmodelError, match="signed-binary scheme only"):
        QuantizerConfig("binary", region=RegionSpec("channel-block", 4))
    with pytest.raises(SbmodelError, match="block:K"):
        RegionSpec.parse("block:0")
    assert RegionSpec.parse("block:8") == RegionSpec("channel-block", 8)


def test_ste_passes_clipped_gradient_where_latent_within_one() -> None:
    latent = np.array([0.5, -1.5, 1.0, 0.0], dtype=np.float32)
    grad = np.array([2.0, 1.0, -3.0, 0.25], dtype=np.float32)
    assert ste_gradient(latent, grad).tolist() == [1.0, 0.0, -1.0, 0.25]


weights4 = arrays(np.float32, st.tuples(st.integers(1, 6), st.integers(1, 5), st.integers(1, 3), st.integers(1, 3)),
                  elements=st.floats(-4, 4, width=32))


@settings(max_examples=80, deadline=None)
@given(weights4, st.sampled_from(["halves", "majority"]), st.sampled_from([None, 1, 2, 3]))
def test_signed_binary_matches_naive_rule_and_has_one_value_per_region(w: np.ndarray, policy: str,
                                                                       block: int | None) -> None:
    region = RegionSpec("channel-block", block) if block else RegionSpec()
    q = signed_binarize(w, region=region, sign_policy=policy)  # type: ignore[arg-type]
    kind = "channel-block" if block else "filter"
    expected = naive.signed_binary(w, policy=policy, kind=kind, size=block)
    np.testing.assert_array_equal(q.values, expected)
    for row in naive.regions(q.values, kind, block):
        assert len({v for v in row if v != 0}) <= 1


@settings(max_examples=60, deadline=None)
@given(weights4, st.sampled_from(["twn", "twn-filter", "ttq"]))
def test_ternary_invariants(w: np.ndarray, method: str) -> None:
    q = ternarize(w, method)  # type: ignore[arg-type]
    assert set(np.unique(q.codes)).issubset({-1, 0, 1})
    assert np.array_equal(np.sign(q.values), q.codes)  # values carry the codes' signs
    for row in naive.filters(q.values):
        assert len({v for v in row if v != 0}) <= 2
        if method != "ttq":  # symmetric scale
            assert len({abs(v) for v in row if v != 0}) <= 1


@settings(max_examples=60, deadline=None)
@given(weights4)
def test_binary_invariants(w: np.ndarray) -> None:
    q = binarize(w)
    for row, latent in zip(naive.filters(q.values), naive.filters(w)):
        if any(v != 0 for v in latent):
            assert all(v != 0 for v in row)
            assert len({abs(v) for v in row}) == 1
            assert abs(abs(row[0]) - sum(abs(v) for v in latent) / len(latent)) <= 1e-5 * (1 + abs(row[0]))


def test_binary_scale_of_a_filter_of_tiny_weights_does_not_underflow_to_zero():
    """mean|W| of a float32 filter can be below float32's smallest subnormal (found by hypothesis):
    the binary weights of a filter with any nonzero weight stay nonzero."""
    q = binarize(np.array([[[[1e-45, 0.0]]]], np.float32))
    assert (q.values != 0).all() and set(q.codes.ravel()) == {1}
