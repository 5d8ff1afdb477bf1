"""Quantisation-aware training loop and evaluation.

Adam with a linearly decaying learning rate and no weight decay, as the
signed-binary reference trains ImageNet (``examples/imagenet`` of
github.com/sachitkuhar/PLUM: Adam, lr 2e-4, weight decay 0, linear schedule);
our learning rate is larger because the run is 100x shorter.  Adam's
per-parameter scaling matters here: signed-binary weights have scale 1, so
the BatchNorm after them shrinks their gradients by orders of magnitude
compared with BWN / TWN, and plain SGD would train them far more slowly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..quantizers import QuantizerConfig
from .layers import softmax_cross_entropy
from .model import DigitsResNet, ForwardRecord


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters; the defaults train the digits ResNet in well under a minute per scheme."""

    epochs: int = 30
    batch_size: int = 64
    learning_rate: float = 3e-3
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    shift_pixels: int = 1   # random translation by up to this many pixels (data augmentation)
    seed: int = 0
    max_steps: int | None = None  # stop early (smoke runs)


@dataclass(frozen=True)
class Evaluation:
    accuracy: float
    loss: float
    input_nonzeros: dict[str, int]   # per weight layer: nonzero inputs over the evaluated set
    input_elements: dict[str, int]


@dataclass(frozen=True)
class TrainResult:
    model: DigitsResNet
    train_accuracy: float
    test: Evaluation
    epochs: int
    steps: int
    seconds: float
    final_loss: float


def random_shift(x: np.ndarray, pixels: int, rng: np.random.Generator) -> np.ndarray:
    """Translate each image by a random offset in [-pixels, pixels]^2, filling with zeros."""
    if pixels == 0:
        return x
    n = x.shape[0]
    padded = np.pad(x, ((0, 0), (0, 0), (pixels, pixels), (pixels, pixels)))
    windows = sliding_window_view(padded, x.shape[2:], axis=(2, 3))  # N, C, dy, dx, H, W
    dy = rng.integers(0, 2 * pixels + 1, n)
    dx = rng.integers(0, 2 * pixels + 1, n)
    return np.ascontiguousarray(windows[np.arange(n), :, dy, dx])


def evaluate(model: DigitsResNet, x: np.ndarray, y: np.ndarray, batch_size: int = 256) -> Evaluation:
    """Accuracy and loss with BN running statistics; input densities of every weight layer."""
    correct, loss_sum = 0, 0.0
    nnz: dict[str, int] = {}
    elems: dict[str, int] = {}
    for start in range(0, x.shape[0], batch_size):
        xb, yb = x[start:start + batch_size], y[start:start + batch_size]
        record = ForwardRecord({})
        logits = model.forward(xb, train=False, record=record)
        loss, _ = softmax_cross_entropy(logits, yb)
        loss_sum += loss * xb.shape[0]
        correct += int((logits.argmax(axis=1) == yb).sum())
        for name, inp in record.inputs.items():
            nnz[name] = nnz.get(name, 0) + int(np.count_nonzero(inp))
            elems[name] = elems.get(name, 0) + int(inp.size)
    return Evaluation(correct / x.shape[0], loss_sum / x.shape[0], nnz, elems)


def train(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
          quantizer: QuantizerConfig | None, config: TrainConfig) -> TrainResult:
    """Train a :class:`DigitsResNet` whose block convs use ``quantizer`` (None: full precision)."""
    rng = np.random.default_rng(config.seed)
    model = DigitsResNet(rng, quantizer)
    params = model.params()
    steps_per_epoch = -(-x_train.shape[0] // config.batch_size)
    total = config.epochs * steps_per_epoch
    if config.max_steps is not None:
        total = min(total, config.max_steps)
    start, step, loss = time.perf_counter(), 0, float("nan")
    epochs = 0
    while step < total:
        order = rng.permutation(x_train.shape[0])
        for b in range(steps_per_epoch):
            if step >= total:
                break
            idx = order[b * config.batch_size:(b + 1) * config.batch_size]
            xb = random_shift(x_train[idx], config.shift_pixels, rng)
            loss, dlogits = softmax_cross_entropy(model.forward(xb, train=True), y_train[idx])
            model.backward(dlogits)
            step += 1
            lr = config.learning_rate * (1.0 - (step - 1) / total)
            correction = np.sqrt(1 - config.beta2 ** step) / (1 - config.beta1 ** step)
            for p in params:
                assert p.grad is not None
                if p.velocity is None or p.second is None:
                    p.velocity, p.second = np.zeros_like(p.value), np.zeros_like(p.value)
                p.velocity += (1 - config.beta1) * (p.grad - p.velocity)
                p.second += (1 - config.beta2) * (p.grad * p.grad - p.second)
                p.value -= (lr * correction * p.velocity / (np.sqrt(p.second) + config.eps)).astype(p.value.dtype)
        epochs += 1
    seconds = time.perf_counter() - start
    train_eval = evaluate(model, x_train, y_train)
    return TrainResult(model, train_eval.accuracy, evaluate(model, x_test, y_test), epochs, step, seconds, loss)
