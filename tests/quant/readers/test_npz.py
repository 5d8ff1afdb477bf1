"""The .npz reader: which arrays are layers, metadata, and clear errors for bad files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sbmodel.errors import SbmodelError
from sbmodel.quant.readers import read_checkpoint
from sbmodel.quant.readers.base import LayerGeometry
from sbmodel.quant.readers.npz import METADATA_KEY, read_npz, write_npz


def test_layers_in_file_order_biases_and_bn_skipped(tmp_path: Path) -> None:
    path = tmp_path / "m.npz"
    np.savez(path, **{"b.weight": np.ones((4, 2, 3, 3)), "b.bias": np.zeros(4), "bn.weight": np.ones(4),
                      "bn.num_batches_tracked": np.array(3), "a.weight": np.ones((5, 4), np.float64)})
    ckpt = read_checkpoint(path)
    assert [t.name for t in ckpt.tensors] == ["b", "a"]
    assert [t.key for t in ckpt.tensors] == ["b.weight", "a.weight"]
    assert all(t.array.dtype == np.float32 for t in ckpt.tensors)
    assert ckpt.geometry == {} and ckpt.format == "npz"


def test_metadata_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "m.npz"
    g = LayerGeometry("conv", C=2, M=4, P=3, Q=3, R=3, S=3)
    write_npz(path, {"c.weight": np.ones((4, 2, 3, 3), np.float32)},
              {"geometry": {"c": g.to_json()}, "metrics": {"test_accuracy": 0.5},
               "input_densities": {"c": {"nonzeros": 3, "elements": 4}}, "quantized_layers": ["c"]})
    ckpt = read_npz(path)
    assert ckpt.geometry == {"c": g}
    assert ckpt.metrics == {"test_accuracy": 0.5}
    assert ckpt.input_densities["c"].density == 0.75
    assert ckpt.quantized_layers == ("c",)


@pytest.mark.parametrize("array, message", [
    (np.ones((4, 2, 3)), r"rank 3\); a layer weight must have rank 4"),
    (np.ones((1, 4, 2, 3, 3)), "rank 5"),
    (np.array([[1.0, np.nan]]), "non-finite"),
    (np.ones((2, 2), dtype=complex), "dtype complex"),
    (np.ones((0, 3)), "is empty"),
])
def test_bad_tensors_name_file_and_tensor(tmp_path: Path, array: np.ndarray, message: str) -> None:
    path = tmp_path / "bad.npz"
    np.savez(path, **{"layer.weight": array})
    with pytest.raises(SbmodelError, match=message) as err:
        read_checkpoint(path)
    assert "bad.npz" in str(err.value) and "layer.weight" in str(err.value)


def test_corrupt_and_missing_files(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"PK\x03\x04 this is not a zip archive")
    with pytest.raises(SbmodelError, match="corrupt.npz: not a readable .npz"):
        read_checkpoint(corrupt)
    with pytest.raises(SbmodelError, match="file not found"):
        read_checkpoint(tmp_path / "missing.npz")
    truncated = tmp_path / "truncated.npz"
    np.savez(truncated, w=np.ones((64, 64)))
    truncated.write_bytes(truncated.read_bytes()[:200])
    with pytest.raises(SbmodelError, match="truncated.npz"):
        read_checkpoint(truncated)


def test_pickled_objects_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "obj.npz"
    np.savez(path, w=np.array([{"a": 1}], dtype=object))
    with pytest.raises(SbmodelError, match="obj.npz"):
        read_checkpoint(path)


def test_bad_metadata(tmp_path: Path) -> None:
    path = tmp_path / "meta.npz"
    np.savez(path, **{"w.weight": np.ones((2, 2)), METADATA_KEY: np.array("{not json")})
    with pytest.raises(SbmodelError, match="not valid JSON"):
        read_checkpoint(path)
    np.savez(path, **{"w.weight": np.ones((2, 2)), METADATA_KEY: np.array(json.dumps(
        {"format": "sbmodel-checkpoint/1", "geometry": {"w": {"type": "conv", "C": 0, "M": 2}}}))})
    with pytest.raises(SbmodelError, match="C must be a positive integer"):
        read_checkpoint(path)


def test_no_layers_and_unknown_extension(tmp_path: Path) -> None:
    path = tmp_path / "empty.npz"
    np.savez(path, bias=np.zeros(3))
    with pytest.raises(SbmodelError, match="no layer weights found"):
        read_checkpoint(path)
    with pytest.raises(SbmodelError, match="--format"):
        read_checkpoint(tmp_path / "weights.h5")
