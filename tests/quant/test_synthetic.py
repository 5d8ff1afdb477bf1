"""The shipped ResNet-18 workloads: shapes, provenance, calibration, and exact regeneration."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sbmodel.quant.geometry import geometry_of_layer
from sbmodel.quant.resnet18 import is_block_conv, resnet18_layers
from sbmodel.quant.synthetic import (FILES, PUBLISHED_BINARY_OVER_SB, TARGET_SB_DENSITY, block_conv_sb_density,
                                     generalized_gaussian, write_workloads)
from sbmodel.spec.workload import Workload, load_workload

ROOT = Path(__file__).resolve().parents[2]
SCHEMES = {"fp": "fp", "binary": "binary", "ternary": "ternary", "signed-binary": "sb"}


@pytest.fixture(scope="module")
def shipped() -> dict[str, Workload]:
    return {scheme: load_workload(ROOT / "workloads" / f"resnet18_{short}.yaml") for scheme, short in SCHEMES.items()}


def test_generalized_gaussian_shape_and_scale() -> None:
    rng = np.random.default_rng(0)
    for beta, kurtosis in ((2.0, 3.0), (1.0, 6.0)):  # Gaussian, Laplace
        x = generalized_gaussian(rng, (400_000,), beta, std=0.1).astype(np.float64)
        assert abs(x.std() - 0.1) < 0.002
        assert abs((x ** 4).mean() / x.var() ** 2 - kurtosis) < 0.2


def test_the_21_resnet18_layers_with_provenance(shipped: dict[str, Workload]) -> None:
    ref = resnet18_layers()
    assert len(ref) == 21 and sum(int(np.prod(g.weight_shape())) for _, g in ref) == 11_678_912
    for scheme, w in shipped.items():
        assert [(l.name, geometry_of_layer(l)) for l in w.layers] == ref
        p = w.provenance
        assert p.method == ("calibrated" if scheme == "signed-binary" else "synthetic")
        assert "not a trained network" in p.source and "arXiv:2211.13838" in (p.citation or "")
        assert p.command == "python -m sbmodel.quant.synthetic --workload-dir workloads"
        assert "sbmodel stats export" in (p.notes or "")
        for layer in w.layers:
            ws = layer.stats.weights
            expected = scheme if (scheme == "fp" or is_block_conv(layer.name)) else "fp"
            assert ws.scheme == expected, layer.name
            assert sum(ws.nonzeros_per_filter) == ws.nonzeros and len(ws.nonzeros_per_filter) == layer.M
            if ws.scheme == "binary":
                assert ws.density == 1.0 and set(ws.unique_nonzero_values_per_filter) == {2}
            if ws.scheme == "signed-binary":
                assert set(ws.unique_nonzero_values_per_region) <= {0, 1}


def test_calibration_hits_the_published_sparsity(shipped: dict[str, Workload]) -> None:
    m = shipped["signed-binary"].provenance.metrics
    beta, seed = m["generalized_gaussian_beta"], int(m["seed"])
    assert abs(m["block_conv_density"] - TARGET_SB_DENSITY) < 0.002
    assert block_conv_sb_density(beta, seed) == m["block_conv_density"]
    # the independent check: whole-network density ratio against PLUM's 2.8x
    assert m["published_binary_over_sb_density"] == PUBLISHED_BINARY_OVER_SB
    assert abs(m["binary_over_sb_density"] / PUBLISHED_BINARY_OVER_SB - 1) < 0.05
    sb, binary = shipped["signed-binary"], shipped["binary"]
    total = lambda w, f: sum(getattr(l.stats.weights, f) for l in w.layers)  # noqa: E731
    ratio = (total(binary, "nonzeros") / total(binary, "elements")) / (total(sb, "nonzeros") / total(sb, "elements"))
    assert ratio == pytest.approx(m["binary_over_sb_density"], rel=1e-12)


def test_regeneration_reproduces_the_shipped_files(shipped: dict[str, Workload], tmp_path: Path) -> None:
    m = shipped["signed-binary"].provenance.metrics
    write_workloads(tmp_path, m["generalized_gaussian_beta"], int(m["seed"]), command=None)
    for scheme, file in FILES.items():
        again = load_workload(tmp_path / f"{file}.yaml")
        assert [l.model_dump() for l in again.layers] == [l.model_dump() for l in shipped[scheme].layers]
        assert again.provenance.metrics == shipped[scheme].provenance.metrics
