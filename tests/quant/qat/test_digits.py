"""The digits QAT example: a smoke run end to end (what CI runs), and the shipped results re-checked.

The shipped workloads/digits_*.yaml claim a test accuracy and weight statistics;
here both are recomputed from the shipped checkpoints in examples/digits/.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sbmodel.quant.export import ExportOptions, export_workload
from sbmodel.quant.qat.digits import SHORT_NAMES, load_digits_split
from sbmodel.quant.qat.model import DigitsResNet
from sbmodel.quant.qat.train import evaluate
from sbmodel.quant.quantizers import QuantizerConfig
from sbmodel.quant.readers.npz import read_npz
from sbmodel.spec.workload import load_workload
from tests.conftest import need

ROOT = Path(__file__).resolve().parents[3]


def test_smoke_training_and_export(tmp_path: Path) -> None:
    need("sklearn")  # the training data (the 'train' extra)
    proc = subprocess.run([sys.executable, "-m", "sbmodel.quant.qat.digits", "--smoke", "--checkpoint-dir",
                           str(tmp_path), "--workload-dir", str(tmp_path)], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    for scheme, short in SHORT_NAMES.items():
        w = load_workload(tmp_path / f"digits_{short}.yaml")
        assert w.provenance.method == "measured"
        assert 0.0 <= w.provenance.metrics["test_accuracy"] <= 1.0
        quantised = [l for l in w.layers if l.stats.weights.scheme == scheme]
        assert len(quantised) == (10 if scheme == "fp" else 6)
        assert all(l.stats.inputs is not None for l in w.layers)
        assert (tmp_path / f"digits_{short}.npz").is_file()


@pytest.mark.parametrize("scheme", list(SHORT_NAMES))
def test_shipped_workload_matches_its_checkpoint(scheme: str, tmp_path: Path) -> None:
    short = SHORT_NAMES[scheme]
    ckpt = ROOT / "examples" / "digits" / f"digits_{short}.npz"
    shipped = load_workload(ROOT / "workloads" / f"digits_{short}.yaml")
    out = tmp_path / f"digits_{short}.yaml"
    export_workload(ckpt, out, ExportOptions(QuantizerConfig(scheme), masks=True))  # type: ignore[arg-type]
    again = load_workload(out)
    assert [l.model_dump() for l in again.layers] == [l.model_dump() for l in shipped.layers]
    shipped_masks = np.load(ROOT / "workloads" / f"digits_{short}.npz")
    new_masks = np.load(tmp_path / f"digits_{short}.npz")
    assert sorted(shipped_masks.files) == sorted(new_masks.files)
    for key in shipped_masks.files:
        np.testing.assert_array_equal(shipped_masks[key], new_masks[key])


@pytest.mark.parametrize("scheme", list(SHORT_NAMES))
def test_shipped_accuracy_is_what_the_checkpoint_scores(scheme: str) -> None:
    need("sklearn")  # the test split (the 'train' extra)
    short = SHORT_NAMES[scheme]
    path = ROOT / "examples" / "digits" / f"digits_{short}.npz"
    model = DigitsResNet(np.random.default_rng(0), None if scheme == "fp" else QuantizerConfig(scheme))  # type: ignore[arg-type]
    with np.load(path) as archive:
        model.load_state({k: archive[k] for k in archive.files if not k.startswith("__")})
    _, _, x_test, y_test = load_digits_split()
    result = evaluate(model, x_test, y_test)
    shipped = load_workload(ROOT / "workloads" / f"digits_{short}.yaml")
    assert result.accuracy == shipped.provenance.metrics["test_accuracy"]
    assert result.accuracy >= 0.95  # a trained network, not chance (0.1)
    ckpt = read_npz(path)
    for name, stats in ckpt.input_densities.items():
        assert stats.nonzeros == result.input_nonzeros[name]
