"""NumPy layers with hand-written backward passes, for quantisation-aware training.

Tensors are NCHW float32.  Convolutions use im2col (a strided window view,
copied once) and one matrix product; the backward pass scatters the column
gradients back with one vectorised add per filter tap (R x S of them, never a
loop over weights or samples).  A conv given a :class:`QuantizerConfig` runs on
quantised weights in the forward pass and passes gradients to its latent
weights through the reference straight-through estimator
(:func:`sbmodel.quant.quantizers.ste_gradient`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..quantizers import QuantizerConfig, quantize, ste_gradient


@dataclass
class Param:
    """A trainable tensor with its gradient and Adam's moment estimates."""

    value: np.ndarray
    grad: np.ndarray | None = None
    velocity: np.ndarray | None = None  # first moment
    second: np.ndarray | None = None    # second moment


class Conv2d:
    """2-D convolution, no bias (BatchNorm follows), square kernel, padding ``k // 2``."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, rng: np.random.Generator,
                 quantizer: QuantizerConfig | None = None) -> None:
        fan_in = c_in * kernel * kernel
        self.weight = Param((rng.standard_normal((c_out, c_in, kernel, kernel)) * np.sqrt(2.0 / fan_in))
                            .astype(np.float32))
        self.stride, self.pad, self.kernel = stride, kernel // 2, kernel
        self.quantizer = quantizer
        self._cache: tuple[Any, ...] = ()

    def effective_weight(self) -> np.ndarray:
        """The weights the forward pass uses: quantised if this layer is quantised."""
        w = self.weight.value
        return quantize(w, self.quantizer).values if self.quantizer is not None else w

    def forward(self, x: np.ndarray) -> np.ndarray:
        n, c, h, w = x.shape
        k, s, p = self.kernel, self.stride, self.pad
        xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p))) if p else x
        win = sliding_window_view(xp, (k, k), axis=(2, 3))[:, :, ::s, ::s]  # N, C, Ho, Wo, k, k
        ho, wo = win.shape[2], win.shape[3]
        cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(n * ho * wo, c * k * k)
        wq = self.effective_weight()
        out = cols @ wq.reshape(wq.shape[0], -1).T
        self._cache = (x.shape, xp.shape, cols, wq, ho, wo)
        return out.reshape(n, ho, wo, -1).transpose(0, 3, 1, 2)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        x_shape, xp_shape, cols, wq, ho, wo = self._cache
        n, c, h, w = x_shape
        k, s, p = self.kernel, self.stride, self.pad
        m = wq.shape[0]
        d2 = dout.transpose(0, 2, 3, 1).reshape(-1, m)
        dwq = (d2.T @ cols).reshape(wq.shape)
        self.weight.grad = ste_gradient(self.weight.value, dwq) if self.quantizer is not None else dwq
        dcols = (d2 @ wq.reshape(m, -1)).reshape(n, ho, wo, c, k, k)
        dxp = np.zeros(xp_shape, dtype=dout.dtype)
        for i in range(k):
            for j in range(k):
                dxp[:, :, i:i + s * ho:s, j:j + s * wo:s] += dcols[:, :, :, :, i, j].transpose(0, 3, 1, 2)
        return dxp[:, :, p:p + h, p:p + w] if p else dxp

    def params(self) -> list[Param]:
        return [self.weight]


class BatchNorm2d:
    """Batch normalisation over N, H, W with running statistics for evaluation."""

    def __init__(self, channels: int, momentum: float = 0.1, eps: float = 1e-5) -> None:
        self.gamma = Param(np.ones(channels, np.float32))
        self.beta = Param(np.zeros(channels, np.float32))
        self.running_mean = np.zeros(channels, np.float32)
        self.running_var = np.ones(channels, np.float32)
        self.momentum, self.eps = momentum, eps
        self._cache: tuple[Any, ...] = ()

    def forward(self, x: np.ndarray, train: bool) -> np.ndarray:
        if train:
            mean = x.mean(axis=(0, 2, 3))
            var = x.var(axis=(0, 2, 3))
            self.running_mean += self.momentum * (mean - self.running_mean)
            self.running_var += self.momentum * (var - self.running_var)
        else:
            mean, var = self.running_mean, self.running_var
        inv = 1.0 / np.sqrt(var + self.eps)
        xhat = (x - mean[None, :, None, None]) * inv[None, :, None, None]
        self._cache = (xhat, inv)
        return self.gamma.value[None, :, None, None] * xhat + self.beta.value[None, :, None, None]

    def backward(self, dout: np.ndarray) -> np.ndarray:
        xhat, inv = self._cache
        count = dout.shape[0] * dout.shape[2] * dout.shape[3]
        self.beta.grad = dout.sum(axis=(0, 2, 3))
        self.gamma.grad = (dout * xhat).sum(axis=(0, 2, 3))
        dxhat = dout * self.gamma.value[None, :, None, None]
        return (inv[None, :, None, None] / count) * (
            count * dxhat - dxhat.sum(axis=(0, 2, 3), keepdims=True)
            - xhat * (dxhat * xhat).sum(axis=(0, 2, 3), keepdims=True))

    def params(self) -> list[Param]:
        return [self.gamma, self.beta]


class Linear:
    """Fully connected layer ``y = x W^T + b`` (kept in full precision here)."""

    def __init__(self, c_in: int, c_out: int, rng: np.random.Generator) -> None:
        self.weight = Param((rng.standard_normal((c_out, c_in)) / np.sqrt(c_in)).astype(np.float32))
        self.bias = Param(np.zeros(c_out, np.float32))
        self._x = np.zeros(0, np.float32)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._x = x
        return x @ self.weight.value.T + self.bias.value

    def backward(self, dout: np.ndarray) -> np.ndarray:
        self.weight.grad = dout.T @ self._x
        self.bias.grad = dout.sum(axis=0)
        return dout @ self.weight.value

    def params(self) -> list[Param]:
        return [self.weight, self.bias]


def relu_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ReLU output and the mask its backward pass needs."""
    mask = x > 0
    return x * mask, mask


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy loss and its gradient with respect to the logits."""
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    n = logits.shape[0]
    loss = float(-np.log(p[np.arange(n), labels] + 1e-12).mean())
    p[np.arange(n), labels] -= 1.0
    return loss, (p / n).astype(logits.dtype)
