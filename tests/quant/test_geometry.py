"""Layer placement: the ResNet convention, shapes from a workload, and errors for tensors that fit nowhere."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sbmodel.errors import SbmodelError
from sbmodel.quant.geometry import infer_by_convention, parse_shape, place_layers
from sbmodel.quant.readers.base import Checkpoint, LayerGeometry, WeightTensor
from sbmodel.quant.resnet18 import resnet18_layers

ROOT = Path(__file__).resolve().parents[2]


def _tensors(*shapes: tuple[int, ...]) -> list[WeightTensor]:
    return [WeightTensor(f"l{i}", f"l{i}.weight", np.ones(s, np.float32)) for i, s in enumerate(shapes)]


def _ckpt(tensors: list[WeightTensor], geometry: dict | None = None) -> Checkpoint:
    return Checkpoint("net.npz", "npz", tuple(tensors), geometry or {})


def test_resnet18_by_convention() -> None:
    ref = resnet18_layers()
    tensors = [WeightTensor(n, f"{n}.weight", np.zeros(g.weight_shape(), np.float32)) for n, g in ref]
    assert infer_by_convention("r.pth", tensors, (1, 3, 224, 224)) == [g for _, g in ref]


def test_chain_with_stride_on_channel_growth_grouped_conv_and_flatten() -> None:
    # 3x3 1->8 (first, small kernel: stride 1), 3x3 8->16 (grows: stride 2), depthwise-ish 16 groups of 1,
    # then an FC on the flattened 16x4x4 map
    got = infer_by_convention("n.npz", _tensors((8, 1, 3, 3), (16, 8, 3, 3), (16, 1, 3, 3), (10, 256)),
                              (2, 1, 8, 8))
    assert got == [LayerGeometry("conv", C=1, M=8, N=2, P=8, Q=8, R=3, S=3),
                   LayerGeometry("conv", C=8, M=16, N=2, P=4, Q=4, R=3, S=3, Wstride=2, Hstride=2),
                   LayerGeometry("conv", C=16, M=16, N=2, P=4, Q=4, R=3, S=3, groups=16),
                   LayerGeometry("fc", C=256, M=10, N=2)]


def test_tensors_that_fit_nowhere() -> None:
    with pytest.raises(SbmodelError, match="cannot place layer 'l1': its weights take 5 input channels"):
        infer_by_convention("n.npz", _tensors((8, 3, 3, 3), (4, 5, 3, 3)), (1, 3, 8, 8))
    with pytest.raises(SbmodelError, match="cannot place layer 'l1': an FC layer with C=7"):
        infer_by_convention("n.npz", _tensors((8, 3, 3, 3), (2, 7)), (1, 3, 8, 8))
    with pytest.raises(SbmodelError, match="N,C,H,W"):
        infer_by_convention("n.npz", _tensors((8, 3, 3, 3)), (1, 3))


def test_place_layers_needs_some_geometry() -> None:
    with pytest.raises(SbmodelError, match="--input-shape"):
        place_layers(_ckpt(_tensors((8, 3, 3, 3))))


def test_recorded_geometry_must_fit_the_weights() -> None:
    g = LayerGeometry("conv", C=3, M=8, P=4, Q=4, R=5, S=5)
    with pytest.raises(SbmodelError, match=r"weights have shape \(8, 3, 3, 3\) .* needs \(8, 3, 5, 5\)"):
        place_layers(_ckpt(_tensors((8, 3, 3, 3)), {"l0": g}))


def test_shapes_from_a_workload_by_name(tmp_path: Path) -> None:
    shapes = tmp_path / "shapes.yaml"
    shapes.write_text("workload:\n  name: s\n  provenance: {method: shapes-only, source: test}\n  layers:\n"
                      "    - {name: l0, C: 3, M: 8, P: 5, Q: 6, R: 3, S: 3, Wstride: 2, Hstride: 1}\n"
                      "    - {name: l1, type: fc, C: 8, M: 2}\n")
    placed = place_layers(_ckpt(_tensors((8, 3, 3, 3), (2, 8))), shapes=shapes)
    assert placed.layers[0].geometry == LayerGeometry("conv", C=3, M=8, P=5, Q=6, R=3, S=3, Wstride=2, Hstride=1)
    assert placed.layers[1].geometry == LayerGeometry("fc", C=8, M=2)
    with pytest.raises(SbmodelError, match="has no layer of that name"):
        place_layers(_ckpt(_tensors((8, 3, 3, 3), (2, 8), (2, 2))), shapes=shapes)


def test_convention_agrees_with_the_shipped_resnet18_shapes() -> None:
    shapes = ROOT / "workloads" / "resnet18.yaml"
    if not shapes.is_file():
        pytest.skip("workloads/resnet18.yaml is not in this checkout")
    ref = resnet18_layers()
    tensors = tuple(WeightTensor(n, f"{n}.weight", np.zeros(g.weight_shape(), np.float32)) for n, g in ref)
    by_file = place_layers(Checkpoint("r.pth", "torch", tensors), shapes=shapes)
    assert [pl.geometry for pl in by_file.layers] == [g for _, g in ref]


def test_parse_shape() -> None:
    assert parse_shape("1,3,224,224") == (1, 3, 224, 224)
    with pytest.raises(SbmodelError, match="positive integers"):
        parse_shape("1,three")
