"""A small ResNet for 8x8 images, trained with quantised 3x3 block convolutions.

Layout (ResNet basic blocks, He et al. 2016), for 1 x 8 x 8 inputs::

    stem        3x3 conv 1->16, BN, ReLU                      8x8   full precision
    block1      [3x3 conv 16->16, BN, ReLU, 3x3 conv, BN] + x  8x8   convs quantised
    block2      same 16->32, stride 2, 1x1/2 shortcut conv+BN  4x4   3x3 convs quantised
    block3      same 32->64, stride 2, 1x1/2 shortcut conv+BN  2x2   3x3 convs quantised
    fc          global average pool, 64->10                          full precision

As in the signed-binary reference, only the 3x3 convs inside the blocks are
quantised; the stem, the shortcut convs and the classifier stay full precision.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

from ..quantizers import QuantizerConfig
from ..readers.base import LayerGeometry
from .layers import BatchNorm2d, Conv2d, Linear, Param, relu_forward

WIDTHS = (16, 32, 64)


class BasicBlock:
    """conv-BN-ReLU-conv-BN plus an identity or 1x1 conv + BN shortcut, then ReLU."""

    def __init__(self, c_in: int, c_out: int, stride: int, rng: np.random.Generator,
                 quantizer: QuantizerConfig | None) -> None:
        self.conv1 = Conv2d(c_in, c_out, 3, stride, rng, quantizer)
        self.bn1 = BatchNorm2d(c_out)
        self.conv2 = Conv2d(c_out, c_out, 3, 1, rng, quantizer)
        self.bn2 = BatchNorm2d(c_out)
        self.shortcut: Conv2d | None = None
        self.bn_sc: BatchNorm2d | None = None
        if stride != 1 or c_in != c_out:
            self.shortcut = Conv2d(c_in, c_out, 1, stride, rng, None)
            self.bn_sc = BatchNorm2d(c_out)
        self._masks: tuple[np.ndarray, np.ndarray] | None = None
        self.hidden = np.zeros(0, np.float32)

    def forward(self, x: np.ndarray, train: bool) -> np.ndarray:
        h, m1 = relu_forward(self.bn1.forward(self.conv1.forward(x), train))
        self.hidden = h  # the second conv's input, for activation densities
        h = self.bn2.forward(self.conv2.forward(h), train)
        if self.shortcut is not None and self.bn_sc is not None:
            sc = self.bn_sc.forward(self.shortcut.forward(x), train)
        else:
            sc = x
        out, m2 = relu_forward(h + sc)
        self._masks = (m1, m2)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        assert self._masks is not None
        m1, m2 = self._masks
        d = dout * m2
        dx_sc = self.shortcut.backward(self.bn_sc.backward(d)) if self.shortcut and self.bn_sc else d
        dh = self.conv2.backward(self.bn2.backward(d)) * m1
        return self.conv1.backward(self.bn1.backward(dh)) + dx_sc

    def named_convs(self, prefix: str) -> Iterator[tuple[str, Conv2d]]:
        yield f"{prefix}.conv1", self.conv1
        yield f"{prefix}.conv2", self.conv2
        if self.shortcut is not None:
            yield f"{prefix}.shortcut", self.shortcut

    def named_bns(self, prefix: str) -> Iterator[tuple[str, BatchNorm2d]]:
        yield f"{prefix}.bn1", self.bn1
        yield f"{prefix}.bn2", self.bn2
        if self.bn_sc is not None:
            yield f"{prefix}.bn_shortcut", self.bn_sc


@dataclass(frozen=True)
class ForwardRecord:
    """Inputs of every weight layer in one forward pass (for activation densities)."""

    inputs: dict[str, np.ndarray]


class DigitsResNet:
    """The network of the module docstring; ``quantizer=None`` trains it in full precision."""

    def __init__(self, rng: np.random.Generator, quantizer: QuantizerConfig | None, classes: int = 10) -> None:
        w1, w2, w3 = WIDTHS
        self.stem = Conv2d(1, w1, 3, 1, rng, None)
        self.bn_stem = BatchNorm2d(w1)
        self.blocks = [BasicBlock(w1, w1, 1, rng, quantizer), BasicBlock(w1, w2, 2, rng, quantizer),
                       BasicBlock(w2, w3, 2, rng, quantizer)]
        self.fc = Linear(w3, classes, rng)
        self._stem_mask = np.zeros(0, bool)
        self._pool_shape: tuple[int, ...] = ()

    def forward(self, x: np.ndarray, train: bool, record: ForwardRecord | None = None) -> np.ndarray:
        if record is not None:
            record.inputs["stem"] = x
        h, self._stem_mask = relu_forward(self.bn_stem.forward(self.stem.forward(x), train))
        for i, block in enumerate(self.blocks, start=1):
            if record is not None:
                record.inputs[f"block{i}.conv1"] = h
                if block.shortcut is not None:
                    record.inputs[f"block{i}.shortcut"] = h
            h = block.forward(h, train)
            if record is not None:
                record.inputs[f"block{i}.conv2"] = block.hidden
        self._pool_shape = h.shape
        pooled = h.mean(axis=(2, 3))
        if record is not None:
            record.inputs["fc"] = pooled
        return self.fc.forward(pooled)

    def backward(self, dlogits: np.ndarray) -> None:
        dpooled = self.fc.backward(dlogits)
        n, c, hh, ww = self._pool_shape
        d = np.broadcast_to(dpooled[:, :, None, None] / (hh * ww), self._pool_shape).astype(dlogits.dtype)
        for block in reversed(self.blocks):
            d = block.backward(d)
        self.stem.backward(self.bn_stem.backward(d * self._stem_mask))

    def named_layers(self) -> list[tuple[str, Conv2d | Linear]]:
        """Weight layers in network order, with checkpoint names."""
        out: list[tuple[str, Conv2d | Linear]] = [("stem", self.stem)]
        for i, block in enumerate(self.blocks, start=1):
            out.extend(block.named_convs(f"block{i}"))
        out.append(("fc", self.fc))
        return out

    def named_bns(self) -> list[tuple[str, BatchNorm2d]]:
        out = [("bn_stem", self.bn_stem)]
        for i, block in enumerate(self.blocks, start=1):
            out.extend(block.named_bns(f"block{i}"))
        return out

    def params(self) -> list[Param]:
        ps: list[Param] = []
        for _, layer in self.named_layers():
            ps.extend(layer.params())
        for _, bn in self.named_bns():
            ps.extend(bn.params())
        return ps

    def quantized_layer_names(self) -> list[str]:
        return [n for n, layer in self.named_layers() if isinstance(layer, Conv2d) and layer.quantizer is not None]

    def geometry(self, batch: int = 1, size: int = 8) -> dict[str, LayerGeometry]:
        """Loop bounds of every weight layer for ``batch`` images of ``size x size``."""
        out: dict[str, LayerGeometry] = {}
        hw = {"stem": size}
        for i, block in enumerate(self.blocks, start=1):
            hw[f"block{i}.conv1"] = hw[f"block{i}.shortcut"] = size
            size = size // block.conv1.stride
            hw[f"block{i}.conv2"] = size
        for name, layer in self.named_layers():
            if isinstance(layer, Linear):
                m, c = layer.weight.value.shape
                out[name] = LayerGeometry("fc", C=c, M=m, N=batch)
                continue
            m, c, k, _ = layer.weight.value.shape
            o = (hw[name] + 2 * layer.pad - k) // layer.stride + 1
            out[name] = LayerGeometry("conv", C=c, M=m, N=batch, P=o, Q=o, R=k, S=k,
                                      Wstride=layer.stride, Hstride=layer.stride)
        return out

    def state(self) -> dict[str, np.ndarray]:
        """All tensors, PyTorch-style names, layer weights in network order."""
        out = {f"{n}.weight": layer.weight.value for n, layer in self.named_layers()}
        out["fc.bias"] = self.fc.bias.value
        for n, bn in self.named_bns():
            out.update({f"{n}.weight": bn.gamma.value, f"{n}.bias": bn.beta.value,
                        f"{n}.running_mean": bn.running_mean, f"{n}.running_var": bn.running_var})
        return out

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Inverse of :meth:`state` (e.g. to re-evaluate a saved checkpoint)."""
        for n, layer in self.named_layers():
            layer.weight.value = np.asarray(state[f"{n}.weight"], np.float32)
        self.fc.bias.value = np.asarray(state["fc.bias"], np.float32)
        for n, bn in self.named_bns():
            bn.gamma.value = np.asarray(state[f"{n}.weight"], np.float32)
            bn.beta.value = np.asarray(state[f"{n}.bias"], np.float32)
            bn.running_mean = np.asarray(state[f"{n}.running_mean"], np.float32)
            bn.running_var = np.asarray(state[f"{n}.running_var"], np.float32)

