"""NumPy training layers: forward against direct loops, backward against finite differences, the STE."""

from __future__ import annotations

import numpy as np
import pytest

from sbmodel.quant.qat.layers import BatchNorm2d, Conv2d, softmax_cross_entropy
from sbmodel.quant.qat.model import DigitsResNet
from sbmodel.quant.qat.train import random_shift
from sbmodel.quant.quantizers import QuantizerConfig, signed_binarize


def _direct_conv(x: np.ndarray, w: np.ndarray, stride: int, pad: int) -> np.ndarray:
    n, c, h, wd = x.shape
    m, _, k, _ = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    ho, wo = (h + 2 * pad - k) // stride + 1, (wd + 2 * pad - k) // stride + 1
    out = np.zeros((n, m, ho, wo))
    for i in range(ho):
        for j in range(wo):
            patch = xp[:, :, i * stride:i * stride + k, j * stride:j * stride + k]
            out[:, :, i, j] = np.tensordot(patch, w, axes=([1, 2, 3], [1, 2, 3]))
    return out


@pytest.mark.parametrize("kernel, stride", [(3, 1), (3, 2), (1, 2)])
def test_conv_forward_matches_direct_loops(kernel: int, stride: int) -> None:
    rng = np.random.default_rng(0)
    conv = Conv2d(3, 4, kernel, stride, rng)
    x = rng.standard_normal((2, 3, 7, 7)).astype(np.float32)
    np.testing.assert_allclose(conv.forward(x), _direct_conv(x, conv.weight.value, stride, kernel // 2),
                               rtol=1e-5, atol=1e-5)


def _finite_difference(f, array: np.ndarray, index: tuple[int, ...], eps: float = 1e-6) -> float:
    old = array[index]
    array[index] = old + eps
    plus = f()
    array[index] = old - eps
    minus = f()
    array[index] = old
    return (plus - minus) / (2 * eps)


def test_whole_network_gradients_match_finite_differences() -> None:
    rng = np.random.default_rng(1)
    net = DigitsResNet(rng, None)
    for p in net.params():
        p.value = p.value.astype(np.float64)
    x = rng.random((3, 1, 8, 8))
    y = np.array([0, 3, 9])

    def loss() -> float:
        return softmax_cross_entropy(net.forward(x, True), y)[0]

    _, d = softmax_cross_entropy(net.forward(x, True), y)
    net.backward(d)
    for p in net.params():
        index = tuple(int(rng.integers(0, s)) for s in p.value.shape)
        expected = _finite_difference(loss, p.value, index)
        assert p.grad is not None
        assert abs(p.grad[index] - expected) <= 1e-5 * (1 + abs(expected))


def test_quantised_conv_uses_quantised_weights_and_the_ste() -> None:
    rng = np.random.default_rng(2)
    conv = Conv2d(2, 4, 3, 1, rng, QuantizerConfig("signed-binary"))
    conv.weight.value[0, 0, 0, 0] = 1.5  # beyond 1: the STE blocks its gradient
    x = rng.standard_normal((2, 2, 5, 5)).astype(np.float32)
    out = conv.forward(x)
    wq = signed_binarize(conv.weight.value).values
    np.testing.assert_allclose(out, _direct_conv(x, wq, 1, 1), rtol=1e-5, atol=1e-5)
    dout = rng.standard_normal(out.shape).astype(np.float32) * 10
    conv.backward(dout)
    # gradient w.r.t. the quantised weights, from the direct definition
    full = Conv2d(2, 4, 3, 1, rng)
    full.weight.value = wq.copy()
    full.forward(x)
    full.backward(dout)
    expected = np.clip(full.weight.grad, -1, 1)
    expected[0, 0, 0, 0] = 0.0
    np.testing.assert_allclose(conv.weight.grad, expected, rtol=1e-5, atol=1e-6)


def test_batchnorm_normalises_in_training_and_uses_running_stats_in_eval() -> None:
    bn = BatchNorm2d(2, momentum=1.0)
    x = np.random.default_rng(3).standard_normal((4, 2, 3, 3)) * 5 + 2
    y = bn.forward(x, train=True)
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-6)
    np.testing.assert_allclose(bn.running_mean, x.mean(axis=(0, 2, 3)), rtol=1e-6)
    np.testing.assert_allclose(bn.forward(x, train=False), y, rtol=1e-4, atol=1e-4)


def test_random_shift_moves_whole_images() -> None:
    x = np.zeros((50, 1, 4, 4), np.float32)
    x[:, 0, 1:3, 1:3] = 1.0
    shifted = random_shift(x, 1, np.random.default_rng(0))
    assert shifted.shape == x.shape and (shifted.sum(axis=(1, 2, 3)) == 4).all()
    assert not np.array_equal(shifted, x)
