"""ONNX models: weights from the graph's initializers, shapes from ONNX shape inference.

Needs the optional ``onnx`` extra.  Layers are the nodes whose weight is an
initializer:

- ``Conv`` with a rank-4 weight: geometry from the node's attributes (strides,
  dilations, group) and the inferred input / output shapes;
- ``Gemm`` with an initializer ``B`` (``transB`` respected) and ``MatMul`` with
  a rank-2 initializer as its second input: an FC layer ``[M][C]``.

A rank-2 or rank-4 initializer that feeds any other operator (``ConvTranspose``,
``QLinearConv``, ...) is a layer sbmodel cannot place: an error, not a silent
omission.  Symbolic input dimensions are fixed with ``input_shape`` before shape
inference.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ...errors import SbmodelError
from .base import Checkpoint, LayerGeometry, WeightTensor, check_unique_names, layer_name, weight_tensor


def _onnx() -> Any:
    try:
        import onnx
    except ImportError:
        raise SbmodelError("reading ONNX models needs the onnx package: pip install 'sbmodel[onnx]'") from None
    return onnx


def _attrs(onnx: Any, node: Any) -> dict[str, Any]:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _shape(value_info: Any) -> list[int | None] | None:
    t = value_info.type.tensor_type
    if not t.HasField("shape"):
        return None
    return [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in t.shape.dim]


def _fix_inputs(path: str, model: Any, init_names: set[str], input_shape: Sequence[int] | None) -> None:
    """Give the (single) graph input the declared shape, so shape inference has numbers."""
    inputs = [i for i in model.graph.input if i.name not in init_names]
    if input_shape is None:
        return
    if len(inputs) != 1:
        raise SbmodelError(f"{path}: --input-shape needs a model with one input, it has {len(inputs)}")
    dims = inputs[0].type.tensor_type.shape.dim
    if len(dims) != len(input_shape):
        raise SbmodelError(f"{path}: input {inputs[0].name!r} has rank {len(dims)}, "
                           f"but --input-shape has {len(input_shape)} numbers")
    for d, n in zip(dims, input_shape):
        if d.HasField("dim_value") and d.dim_value > 0 and d.dim_value != n:
            raise SbmodelError(f"{path}: input {inputs[0].name!r} has fixed shape "
                               f"{[x.dim_value for x in dims]}, not {list(input_shape)}")
        d.dim_value = int(n)


def _node_label(node: Any, index: int) -> str:
    return node.name or f"{node.op_type}_{index}"


def _name_for(init_name: str, node: Any, index: int) -> str:
    """A readable layer name: the initializer's (``conv1.weight`` -> ``conv1``), else the node's."""
    if init_name and "::" not in init_name and not init_name.startswith("onnx"):
        return layer_name(init_name)
    return _node_label(node, index)


def _known(path: str, node: Any, index: int, what: str, shape: list[int | None] | None, rank: int) -> list[int]:
    if shape is None or len(shape) != rank or any(d is None for d in shape):
        raise SbmodelError(f"{path}: cannot place node {_node_label(node, index)!r} ({node.op_type}): the shape "
                           f"of its {what} is unknown after shape inference ({shape}); give --input-shape")
    return [int(d) for d in shape]  # type: ignore[arg-type]


def read_onnx(path: str | Path, input_shape: Sequence[int] | None = None) -> Checkpoint:
    """Read the conv / FC layers of an ONNX model (see the module docstring)."""
    onnx = _onnx()
    from onnx import numpy_helper, shape_inference

    p = str(path)
    if not Path(p).is_file():
        raise SbmodelError(f"{p}: file not found")
    try:
        model = onnx.load(p)
        onnx.checker.check_model(model)
    except Exception as exc:
        raise SbmodelError(f"{p}: not a readable ONNX model: {str(exc).strip().splitlines()[0] if str(exc) else exc!r}"
                           ) from None
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    _fix_inputs(p, model, set(inits), input_shape)
    try:
        model = shape_inference.infer_shapes(model, strict_mode=True)
    except Exception as exc:
        raise SbmodelError(f"{p}: ONNX shape inference failed: {str(exc).strip().splitlines()[0]}") from None
    graph = model.graph
    shapes = {vi.name: _shape(vi) for vi in [*graph.value_info, *graph.input, *graph.output]}
    tensors: list[WeightTensor] = []
    geometry: dict[str, LayerGeometry] = {}
    consumer: dict[str, str] = {}
    for index, node in enumerate(graph.node):
        weight_inputs = [n for n in node.input if n in inits and len(inits[n].dims) in (2, 4)]
        is_layer = (node.op_type == "Conv" and len(node.input) >= 2 and node.input[1] in inits) or \
                   (node.op_type in ("Gemm", "MatMul") and len(node.input) >= 2 and node.input[1] in inits)
        if not is_layer:
            if weight_inputs:
                raise SbmodelError(f"{p}: cannot place the weights {weight_inputs[0]!r}: they feed a "
                                   f"{node.op_type} node ({_node_label(node, index)!r}); sbmodel reads Conv, "
                                   "Gemm and MatMul layers")
            continue
        wname = node.input[1]
        if wname in consumer:
            raise SbmodelError(f"{p}: weights {wname!r} are used by two nodes ({consumer[wname]!r} and "
                               f"{_node_label(node, index)!r}); shared weights are not supported")
        consumer[wname] = _node_label(node, index)
        array = numpy_helper.to_array(inits[wname])
        attrs = _attrs(onnx, node)
        name = _name_for(wname, node, index)
        if node.op_type == "Conv":
            t = weight_tensor(p, wname, array, name)
            if t.array.ndim != 4:
                raise SbmodelError(f"{p}: Conv node {_node_label(node, index)!r} has a rank-{t.array.ndim} weight; "
                                   "only 2-D convolutions are supported")
            x = _known(p, node, index, "input", shapes.get(node.input[0]), 4)
            y = _known(p, node, index, "output", shapes.get(node.output[0]), 4)
            strides = list(attrs.get("strides", [1, 1]))
            dil = list(attrs.get("dilations", [1, 1]))
            g = LayerGeometry("conv", C=x[1], M=y[1], N=x[0], P=y[3], Q=y[2], R=t.array.shape[3],
                              S=t.array.shape[2], Wstride=int(strides[1]), Hstride=int(strides[0]),
                              Wdilation=int(dil[1]), Hdilation=int(dil[0]), groups=int(attrs.get("group", 1)))
        else:
            if array.ndim != 2:
                raise SbmodelError(f"{p}: {node.op_type} node {_node_label(node, index)!r} has a rank-{array.ndim} "
                                   "weight; an FC layer needs rank 2")
            if node.op_type == "Gemm":
                if attrs.get("transA", 0):
                    raise SbmodelError(f"{p}: Gemm node {_node_label(node, index)!r} has transA=1; not supported")
                array = array if attrs.get("transB", 0) else array.T
            else:
                array = array.T  # MatMul: x[.., C] @ B[C, M]
            t = weight_tensor(p, wname, array, name)
            x_shape = shapes.get(node.input[0])
            if x_shape is None or len(x_shape) < 2 or any(d is None for d in x_shape):
                _known(p, node, index, "input", x_shape, len(x_shape) if x_shape else 2)
            rows = math.prod(int(d) for d in x_shape[:-1])  # type: ignore[misc, union-attr]
            g = LayerGeometry("fc", C=int(t.array.shape[1]), M=int(t.array.shape[0]), N=rows)
        tensors.append(t)
        geometry[t.name] = g
    check_unique_names(p, tensors)
    return Checkpoint(path=p, format="onnx", tensors=tuple(tensors), geometry=geometry,
                      geometry_source=f"ONNX graph attributes and shape inference of {Path(p).name}")


__all__ = ["read_onnx"]
