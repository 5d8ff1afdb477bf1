"""The paper's headline on the main job's design, with the mappings the search found
(pinned in ``mappings/``, so this runs in seconds and guards the analysis, not the search).

Signed-binary (SB) ResNet-18 against binary and ternary on ``eyeriss_sparse``: SB keeps
about 2.8x fewer nonzero weights than binary, and a design that skips zero weights turns
that into about 2x less energy (Kuhar et al., signed-binary networks). Bounds are wide
enough for honest model changes, tight enough that a broken sparse or repetition stage fails.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from sbmodel.api import evaluate
from sbmodel.compare import Comparison

ROOT = Path(__file__).resolve().parents[1]
SCHEMES = ("binary", "ternary", "sb")


@pytest.fixture(scope="module")
def headline():
    results = tuple(
        evaluate(ROOT / "arch_specs/eyeriss_sparse.yaml", ROOT / f"workloads/resnet18_{s}.yaml",
                 ROOT / f"mappings/eyeriss_sparse_resnet18_{s}.yaml")
        for s in SCHEMES)
    frame = Comparison(results, ("eyeriss_sparse", "resnet18_binary")).frame()
    return frame.set_index("workload")


def test_every_layer_uses_the_pinned_mapping(headline):
    assert list(headline.index) == [f"resnet18_{s}" for s in SCHEMES]


def test_sb_has_about_2_8x_fewer_nonzero_weights_than_binary(headline):
    ratio = headline.loc["resnet18_binary", "weight_density"] / headline.loc["resnet18_sb", "weight_density"]
    assert ratio == pytest.approx(2.85, abs=0.05)


def test_sb_energy_efficiency_over_binary_is_about_2x(headline):
    gain = headline.loc["resnet18_sb", "energy_efficiency_vs_baseline"]
    assert 1.5 < gain < 3.0
    assert gain == pytest.approx(2.35, rel=0.15)


def test_ternary_sits_between_binary_and_sb(headline):
    ternary = headline.loc["resnet18_ternary", "energy_pJ"]
    assert headline.loc["resnet18_sb", "energy_pJ"] < ternary < headline.loc["resnet18_binary", "energy_pJ"]


def test_skipping_zero_weights_speeds_up_sb_and_cuts_dram_traffic(headline):
    sb = headline.loc["resnet18_sb"]
    assert sb["speedup_vs_baseline"] > 1.2
    assert sb["dram_traffic_bits"] < headline.loc["resnet18_binary", "dram_traffic_bits"]
    # effectual MACs follow the weight density of the quantised layers
    assert sb["effectual_macs"] < 0.5 * headline.loc["resnet18_binary", "effectual_macs"]
