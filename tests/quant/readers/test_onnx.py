"""The ONNX reader on graphs built with onnx.helper: geometry from attributes and shape inference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import need

onnx = need("onnx")  # optional extra: skipped without it locally, required under CI
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from sbmodel.errors import SbmodelError
from sbmodel.quant.readers import read_checkpoint
from sbmodel.quant.readers.base import LayerGeometry

RNG = np.random.default_rng(0)
W1 = RNG.standard_normal((8, 4, 3, 3)).astype(np.float32)   # conv 4->8, 3x3, stride 2, pad 1
W2 = RNG.standard_normal((8, 4, 3, 3)).astype(np.float32)   # conv 8->8, groups 2
W3 = RNG.standard_normal((10, 8)).astype(np.float32)        # Gemm, transB=1: [M, C]
W4 = RNG.standard_normal((10, 5)).astype(np.float32)        # MatMul: [C, M]


def _model(path: Path, batch: str | int = "N", extra_nodes: list | None = None, extra_inits: list | None = None,
           conv_weight: np.ndarray = W1) -> Path:
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1"], strides=[2, 2], pads=[1, 1, 1, 1], name="conv_a"),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "layer.b.weight"], ["c2"], pads=[1, 1, 1, 1], group=2, name="conv_b"),
        helper.make_node("GlobalAveragePool", ["c2"], ["p"]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("Gemm", ["f", "fc.weight"], ["g"], transB=1, name="fc"),
        helper.make_node("MatMul", ["g", "head"], ["y"], name="head"),
    ] + (extra_nodes or [])
    inits = [numpy_helper.from_array(conv_weight, "w1"), numpy_helper.from_array(W2, "layer.b.weight"),
             numpy_helper.from_array(W3, "fc.weight"), numpy_helper.from_array(W4, "head")] + (extra_inits or [])
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 4, 9, 9])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 5])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, path)
    return path


def test_layers_geometry_and_weight_layout(tmp_path: Path) -> None:
    ckpt = read_checkpoint(_model(tmp_path / "m.onnx"), input_shape=(2, 4, 9, 9))
    assert [t.name for t in ckpt.tensors] == ["w1", "layer.b", "fc", "head"]
    assert ckpt.geometry["w1"] == LayerGeometry("conv", C=4, M=8, N=2, P=5, Q=5, R=3, S=3, Wstride=2, Hstride=2)
    assert ckpt.geometry["layer.b"] == LayerGeometry("conv", C=8, M=8, N=2, P=5, Q=5, R=3, S=3, groups=2)
    assert ckpt.geometry["fc"] == LayerGeometry("fc", C=8, M=10, N=2)
    assert ckpt.geometry["head"] == LayerGeometry("fc", C=10, M=5, N=2)
    np.testing.assert_array_equal(ckpt.tensors[2].array, W3)      # Gemm transB=1 is already [M, C]
    np.testing.assert_array_equal(ckpt.tensors[3].array, W4.T)    # MatMul [C, M] is transposed


def test_fixed_batch_needs_no_input_shape(tmp_path: Path) -> None:
    ckpt = read_checkpoint(_model(tmp_path / "m.onnx", batch=1))
    assert ckpt.geometry["w1"].N == 1 and ckpt.geometry["w1"].P == 5


def test_symbolic_batch_without_input_shape_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SbmodelError, match="shape of its input is unknown.*--input-shape"):
        read_checkpoint(_model(tmp_path / "m.onnx"))


def test_unplaceable_weights(tmp_path: Path) -> None:
    w = numpy_helper.from_array(np.ones((8, 2, 3, 3), np.float32), "wt")
    path = _model(tmp_path / "t.onnx", extra_nodes=[helper.make_node("ConvTranspose", ["c2", "wt"], ["z"])],
                  extra_inits=[w])
    with pytest.raises(SbmodelError, match="cannot place the weights 'wt': they feed a ConvTranspose"):
        read_checkpoint(path, input_shape=(1, 4, 9, 9))


def test_wrong_rank_and_corrupt(tmp_path: Path) -> None:
    corrupt = tmp_path / "c.onnx"
    corrupt.write_bytes(b"\x08\x07garbage that is not protobuf\xff\xff")
    with pytest.raises(SbmodelError, match="c.onnx: not a readable ONNX model"):
        read_checkpoint(corrupt)
    nodes = [helper.make_node("Conv", ["x", "w"], ["y"], name="conv1d")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 9])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 7])],
                              [numpy_helper.from_array(np.ones((3, 2, 3), np.float32), "w")])
    path = tmp_path / "conv1d.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    with pytest.raises(SbmodelError, match="'w' has shape \\(3, 2, 3\\) \\(rank 3\\)"):
        read_checkpoint(path)
