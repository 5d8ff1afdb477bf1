"""``sbmodel stats export`` through the installed console script (``pip install -e .`` first)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from sbmodel.spec.workload import load_workload
from tests.conftest import need

ROOT = Path(__file__).resolve().parents[1]
RNG = np.random.default_rng(3)
STATE = {
    "conv1.weight": RNG.laplace(size=(8, 3, 3, 3)).astype(np.float32),
    "layer1.0.conv1.weight": RNG.laplace(size=(8, 8, 3, 3)).astype(np.float32),
    "layer1.0.conv2.weight": RNG.laplace(size=(8, 8, 3, 3)).astype(np.float32),
    "fc.weight": RNG.laplace(size=(10, 8)).astype(np.float32),
}


def sbmodel(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sbmodel", *args], capture_output=True, text=True, cwd=ROOT, timeout=300)


def _one_line_error(proc: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sbmodel: error:"), proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_help() -> None:
    assert "export" in sbmodel("stats", "--help").stdout
    out = sbmodel("stats", "export", "--help").stdout
    for option in ("--scheme", "--input-shape", "--model", "--json", "--masks", "--region", "--keep-fp"):
        assert option in out


def test_npz_export_json_contract(tmp_path: Path) -> None:
    ckpt = tmp_path / "net.npz"
    np.savez(ckpt, **STATE)
    out = tmp_path / "net_sb.yaml"
    proc = sbmodel("stats", "export", str(ckpt), "--scheme", "signed-binary", "--input-shape", "1,3,8,8",
                   "-o", str(out), "--json", "--masks", "--metric", "test_accuracy=0.5")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    workload = load_workload(out)
    assert [set(layer) for layer in summary["layers"]] == [{"name", "scheme", "weights", "nonzeros", "density"}] * 4
    for entry, layer in zip(summary["layers"], workload.layers):
        ws = layer.stats.weights
        assert (entry["name"], entry["scheme"], entry["weights"], entry["nonzeros"], entry["density"]) == \
            (layer.name, ws.scheme, ws.elements, ws.nonzeros, ws.density)
    assert [e["scheme"] for e in summary["layers"]] == ["fp", "signed-binary", "signed-binary", "fp"]
    assert (tmp_path / "net_sb.npz").is_file()
    p = workload.provenance
    assert p.metrics["test_accuracy"] == 0.5
    assert p.command is not None and p.command.startswith("sbmodel stats export") and "--masks" in p.command


def test_torch_export_with_inferred_and_traced_shapes(tmp_path: Path) -> None:
    torch = need("torch")
    ckpt = tmp_path / "tiny.pth"
    torch.manual_seed(0)
    from tests.quant.readers.torch_models import tiny

    torch.save(tiny().state_dict(), ckpt)
    calib = tmp_path / "calib.npy"
    np.save(calib, np.abs(RNG.standard_normal((6, 2, 6, 6))).astype(np.float32))
    out = tmp_path / "tiny.yaml"
    proc = sbmodel("stats", "export", str(ckpt), "--scheme", "ternary", "--keep-fp", "none", "--model",
                   "tests.quant.readers.torch_models:tiny", "--input-shape", "1,2,6,6", "--calibration", str(calib),
                   "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    layers = {l.name: l for l in load_workload(out).layers}
    assert layers["grouped"].groups == 2 and layers["conv"].stride == 2
    assert layers["conv"].stats.inputs.density == 1.0  # |normal| inputs have no zeros
    assert all(l.stats.weights.scheme == "ternary" for l in layers.values())


def test_onnx_export(tmp_path: Path) -> None:
    onnx = need("onnx")
    TensorProto, helper, numpy_helper = onnx.TensorProto, onnx.helper, onnx.numpy_helper
    w = RNG.standard_normal((4, 3, 3, 3)).astype(np.float32)
    graph = helper.make_graph([helper.make_node("Conv", ["x", "c.weight"], ["y"], pads=[1, 1, 1, 1])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 5, 5])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 5, 5])],
                              [numpy_helper.from_array(w, "c.weight")])
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    out = tmp_path / "m.yaml"
    proc = sbmodel("stats", "export", str(path), "--scheme", "binary", "--keep-fp", "none", "-o", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    (layer,) = load_workload(out).layers
    assert (layer.name, layer.P, layer.Q, layer.C, layer.M) == ("c", 5, 5, 3, 4)
    assert json.loads(proc.stdout)["layers"][0]["density"] == 1.0


@pytest.mark.parametrize("setup, args, fragments", [
    ("corrupt", ["--scheme", "binary"], ["corrupt.npz", "not a readable .npz"]),
    ("rank3", ["--scheme", "binary", "--input-shape", "1,3,8,8"], ["rank3.npz", "'w.weight'", "rank 3"]),
    ("good", ["--scheme", "binary"], ["good.npz", "--input-shape"]),
    ("unplaceable", ["--scheme", "binary", "--input-shape", "1,3,8,8"], ["cannot place layer 'b'"]),
    ("good", ["--scheme", "binary", "--region", "block:4", "--input-shape", "1,3,8,8"], ["signed-binary only"]),
    ("good", ["--scheme", "binary", "--metric", "acc", "--input-shape", "1,3,8,8"], ["KEY=NUMBER"]),
    ("missing", ["--scheme", "fp"], ["missing.npz", "file not found"]),
])
def test_errors_are_one_line_and_write_nothing(tmp_path: Path, setup: str, args: list[str],
                                               fragments: list[str]) -> None:
    ckpt = tmp_path / f"{setup}.npz"
    if setup == "corrupt":
        ckpt.write_bytes(b"PK\x03\x04garbage")
    elif setup == "rank3":
        np.savez(ckpt, **{"w.weight": np.ones((4, 3, 3))})
    elif setup == "unplaceable":
        np.savez(ckpt, **{"a.weight": np.ones((4, 3, 3, 3)), "b.weight": np.ones((4, 5, 3, 3))})
    elif setup == "good":
        np.savez(ckpt, **STATE)
    out = tmp_path / "out.yaml"
    _one_line_error(sbmodel("stats", "export", str(ckpt), "-o", str(out), *args), *fragments)
    assert not out.exists()
    assert not list(tmp_path.glob(".out.yaml*"))
