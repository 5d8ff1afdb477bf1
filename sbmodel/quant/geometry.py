"""Placing checkpoint weights as workload layers: loop bounds for every weight tensor.

Geometry comes from, in this order:

1. ``shapes``: an existing workload file whose layers have the tensors' names;
2. the checkpoint itself (ONNX shape inference, a traced PyTorch model, or
   sbmodel metadata in an .npz);
3. otherwise the *ResNet convention* from the weight shapes, in file order, and
   a declared input shape ``N,C,H,W`` (:func:`infer_by_convention`).  It is
   exact for plain conv chains and ResNets built of basic blocks (the
   torchvision / CIFAR layouts) and says so in the workload's provenance; for
   anything else give a model, an ONNX file or ``--shapes``.

Every placement is checked against the weight shape; a tensor that fits no
layer is an error naming it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import SbmodelError
from ..spec.workload import Layer, load_workload
from .readers.base import Checkpoint, LayerGeometry, WeightTensor

STEM_POOL_KERNEL = 7  # a first conv this large is an ImageNet stem: stride 2, then a 3x3/2 max-pool


@dataclass(frozen=True)
class PlacedLayer:
    """A weight tensor with the loop bounds of the layer that uses it."""

    name: str
    weights: np.ndarray
    geometry: LayerGeometry


@dataclass(frozen=True)
class Placement:
    layers: tuple[PlacedLayer, ...]
    source: str  # where the geometry came from (for the provenance block)


def parse_shape(text: str) -> tuple[int, ...]:
    """``"1,3,224,224"`` -> ``(1, 3, 224, 224)`` (positive integers)."""
    try:
        dims = tuple(int(x) for x in text.replace("x", ",").split(",") if x.strip())
    except ValueError:
        dims = ()
    if not dims or any(d < 1 for d in dims):
        raise SbmodelError(f"input shape must be positive integers like 1,3,224,224, got {text!r}")
    return dims


def _conv_out(size: int, kernel: int, stride: int) -> int:
    """Output size of a conv with 'same'-style padding ``kernel // 2``."""
    return (size + 2 * (kernel // 2) - kernel) // stride + 1


def _conv_input(maps: list[tuple[int, int, int]], m: int, cg: int,
                kernel: int) -> tuple[tuple[int, int, int] | None, int]:
    """The feature map a conv reads and its groups: the latest map if the channels match; a grouped
    conv on the latest map if its kernel is larger than 1x1; else the latest earlier map that matches
    (a shortcut branch, e.g. ResNet's 1x1 downsample)."""
    latest = maps[-1]
    if latest[0] == cg:
        return latest, 1
    groups = latest[0] // cg if latest[0] % cg == 0 else 0
    if kernel > 1 and groups > 1 and m % groups == 0:
        return latest, groups
    earlier = next((mp for mp in reversed(maps[:-1]) if mp[0] == cg), None)
    if earlier is not None:
        return earlier, 1
    if groups > 1 and m % groups == 0:
        return latest, groups
    return None, 1


def infer_by_convention(path: str, tensors: Sequence[WeightTensor], input_shape: Sequence[int]) -> list[LayerGeometry]:
    """Geometry of each tensor by the ResNet convention (see the module docstring).

    Feature maps are tracked as they are produced.  A conv reads the latest map
    when the channel counts match, else (k x k, k > 1) the latest map as a grouped
    conv, else the most recent earlier map with matching channels (a shortcut
    branch such as ResNet's 1x1 downsample).  Padding
    is ``kernel // 2``.  Stride is 2 when a conv increases the channel count, else
    1; the first conv has stride 2 and is followed by a 3x3/2 max-pool when its
    kernel is 7x7 or larger (the ImageNet stem), else stride 1.  An FC layer reads
    the latest map globally average-pooled (``C`` = channels) or flattened
    (``C`` = channels x height x width).
    """
    if len(input_shape) != 4:
        raise SbmodelError(f"--input-shape needs 4 numbers N,C,H,W to place conv layers, got {list(input_shape)}")
    n, c0, h0, w0 = (int(x) for x in input_shape)
    maps: list[tuple[int, int, int]] = [(c0, h0, w0)]  # (channels, height, width)
    out: list[LayerGeometry] = []
    for index, t in enumerate(tensors):
        latest = maps[-1]
        if t.array.ndim == 2:
            m, c = t.array.shape
            ch, hh, ww = latest
            if c not in (ch, ch * hh * ww):
                raise SbmodelError(f"{path}: cannot place layer {t.name!r}: an FC layer with C={c} inputs does not "
                                   f"follow the previous output ({ch} channels of {hh}x{ww}); give the layer "
                                   "shapes (--model, --shapes or an ONNX file)")
            out.append(LayerGeometry("fc", C=c, M=m, N=n))
            maps.append((m, 1, 1))
            continue
        m, cg, s, r = t.array.shape
        source, groups = _conv_input(maps, m, cg, max(r, s))
        if source is None:
            raise SbmodelError(f"{path}: cannot place layer {t.name!r}: its weights take {cg} input channels but "
                                   f"no earlier feature map has {cg} channels (latest: {latest[0]}); give the layer "
                                   "shapes (--model, --shapes or an ONNX file)")
        c, h, w = source
        stem_pool = index == 0 and max(r, s) >= STEM_POOL_KERNEL
        stride = (2 if stem_pool else 1) if index == 0 else (2 if m > c else 1)
        q, p = _conv_out(h, s, stride), _conv_out(w, r, stride)
        if q < 1 or p < 1:
            raise SbmodelError(f"{path}: cannot place layer {t.name!r}: a {s}x{r}/{stride} conv on a {h}x{w} map")
        out.append(LayerGeometry("conv", C=c, M=m, N=n, P=p, Q=q, R=r, S=s, Wstride=stride, Hstride=stride,
                                 groups=groups))
        if stem_pool:
            q, p = _conv_out(q, 3, 2), _conv_out(p, 3, 2)
        maps.append((m, q, p))
    return out


def geometry_of_layer(layer: Layer) -> LayerGeometry:
    """The loop bounds of a workload-format layer."""
    ws, hs = layer.strides()
    wd, hd = layer.dilations()
    kind = "fc" if layer.type in ("fc", "matmul") else "conv"
    return LayerGeometry(kind, C=layer.C, M=layer.M, N=layer.N, P=layer.P, Q=layer.Q, R=layer.R, S=layer.S,
                         Wstride=ws, Hstride=hs, Wdilation=wd, Hdilation=hd, groups=layer.groups)


def _check(path: str, t: WeightTensor, g: LayerGeometry) -> None:
    expected = g.weight_shape()
    if tuple(t.array.shape) != expected:
        raise SbmodelError(f"{path}: layer {t.name!r}: weights have shape {tuple(t.array.shape)} but the layer's "
                           f"geometry ({g.type}, C={g.C}, M={g.M}, R={g.R}, S={g.S}, groups={g.groups}) "
                           f"needs {expected}")


def place_layers(ckpt: Checkpoint, input_shape: Sequence[int] | None = None,
                 shapes: str | Path | None = None) -> Placement:
    """Give every weight tensor of ``ckpt`` its layer geometry (see the module docstring)."""
    p = ckpt.path
    if shapes is not None:
        workload = load_workload(shapes)
        by_name = {layer.name: layer for layer in workload.layers}
        missing = [t.name for t in ckpt.tensors if t.name not in by_name]
        if missing:
            raise SbmodelError(f"{p}: cannot place layer {missing[0]!r}: {shapes} has no layer of that name "
                               f"({len(missing)} of {len(ckpt.tensors)} layers missing)")
        geometry = {t.name: geometry_of_layer(by_name[t.name]) for t in ckpt.tensors}
        source = f"layer shapes from {shapes}"
    elif ckpt.geometry:
        missing = [t.name for t in ckpt.tensors if t.name not in ckpt.geometry]
        if missing:
            raise SbmodelError(f"{p}: cannot place layer {missing[0]!r}: it has weights but no geometry in "
                               f"{ckpt.geometry_source or 'the checkpoint'} (e.g. it never ran in the traced "
                               "forward pass)")
        geometry = dict(ckpt.geometry)
        source = ckpt.geometry_source or "checkpoint"
    elif input_shape is not None:
        inferred = infer_by_convention(p, ckpt.tensors, input_shape)
        geometry = {t.name: g for t, g in zip(ckpt.tensors, inferred)}
        source = (f"inferred from the weight shapes by the ResNet convention (padding k//2, stride 2 where "
                  f"the channel count grows, 7x7 stem + 3x3/2 max-pool) on input {tuple(input_shape)}")
    else:
        raise SbmodelError(f"{p}: the checkpoint does not say the layer shapes; give --input-shape N,C,H,W "
                           "(shapes inferred from the weights), --shapes WORKLOAD.yaml, or --model for PyTorch")
    layers = []
    for t in ckpt.tensors:
        _check(p, t, geometry[t.name])
        layers.append(PlacedLayer(t.name, t.array, geometry[t.name]))
    return Placement(tuple(layers), source)
