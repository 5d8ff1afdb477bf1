"""The shipped sparse design on a real (trained, masked) workload: skipping pays off."""

from dataclasses import replace

import pytest

from sbmodel.api import evaluate
from sbmodel.engine import evaluate_layer
from sbmodel.mapper import find_mapping
from sbmodel.spec import load_architecture, load_workload



def test_eyeriss_sparse_saves_energy_and_computes_on_signed_binary_weights():
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    arch = load_architecture(root / "arch_specs" / "eyeriss_sparse.yaml")
    wl = load_workload(root / "workloads" / "digits_sb.yaml")
    problem = next(p for p in wl.problems() if p.name == "block2.conv2")
    mapping = find_mapping(problem, arch, "edp", budget=500, seed=0)
    sparse = evaluate_layer(problem, arch, mapping)
    dense = evaluate_layer(problem, replace(arch, sparse=None), mapping)
    w = problem.densities["Weights"].mean_density
    assert sparse.compute.algorithmic_computes == dense.compute.actual_computes
    # every computed MAC has a nonzero weight: at most density x algorithmic
    assert sparse.compute.actual_computes <= w * dense.compute.actual_computes + 1
    assert sparse.energy_pJ < dense.energy_pJ
    spad = sparse.level("weights_spad").tensor("Weights")
    assert spad.reads < dense.level("weights_spad").tensor("Weights").reads
    tc = next(t for t in sparse.counts.level("weights_spad").tensors if t.tensor == "Weights")
    assert tc.sparse.density_model == "actual_data" and tc.sparse.compressed
    assert tc.sparse.metadata_bits("metadata_read") > 0


def test_api_evaluate_applies_the_design_sparsity():
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    mapper = lambda p, a: find_mapping(p, a, "edp", budget=300, seed=0)  # noqa: E731
    r = evaluate(root / "arch_specs" / "eyeriss_sparse.yaml", root / "workloads" / "digits_sb.yaml",
                 mapper=mapper, layers=["block1.conv1"], jobs=1)
    (layer,) = r.layers
    assert layer.compute.actual_computes < layer.compute.algorithmic_computes
    assert layer.compute.actions.get("skipped_compute", 0) > 0
    assert r.totals()["energy_pJ"] == pytest.approx(layer.energy_pJ)
