"""The shipped designs: each says what it models, loads, and behaves as its comment block claims."""

from functools import partial
from pathlib import Path

import pytest

from sbmodel.api import evaluate
from sbmodel.engine.repetition import structured_density, weight_profile
from sbmodel.mapper import find_mapping
from sbmodel.spec import load_architecture

from .conftest import ROOT

DESIGNS = sorted((ROOT / "arch_specs").glob("*.yaml"))
QUICK = partial(find_mapping, budget=400)
DIGITS = ROOT / "workloads"


def test_the_contract_designs_exist():
    names = {p.name for p in DESIGNS}
    assert {"eyeriss_like.yaml", "eyeriss_sparse.yaml", "simple_ws.yaml", "simple_os.yaml", "ucnn_like.yaml",
            "stc_like.yaml"} <= names


@pytest.mark.parametrize("path", DESIGNS, ids=lambda p: p.stem)
def test_design_says_what_it_models_and_loads(path: Path):
    text = path.read_text()
    assert text.startswith("#") and "What it models" in text
    arch = load_architecture(path)
    assert arch.name == path.stem


def _layers(arch: str, workload: str, layers: list[str]):
    return evaluate(ROOT / "arch_specs" / arch, DIGITS / workload, layers=layers, mapper=QUICK).layers


def test_ucnn_like_factorises_whole_filter_rows_and_stores_tables():
    (sb,) = _layers("ucnn_like.yaml", "digits_sb.yaml", ["block1.conv1"])
    (binary,) = _layers("ucnn_like.yaml", "digits_binary.yaml", ["block1.conv1"])
    for r in (sb, binary):
        arith = r.counts.compute.arithmetic
        assert r.compute.style == "ucnn" and arith.group_filters == 2
        assert arith.chunk % 9 == 0  # its dataflow keeps R x S (3 x 3) inside the PE
        assert r.compute.multiplies == 0  # sign-only weights, scale folded into BatchNorm
    # one nonzero value per filter and 2/3 fewer nonzeros: fewer adds and a smaller table than binary
    assert sb.compute.adds < 0.6 * binary.compute.adds
    assert sb.counts.compute.arithmetic.weight_bits_per_position < binary.counts.compute.arithmetic.weight_bits_per_position


def test_stc_like_runs_unstructured_weights_at_their_two_of_four_slot_density():
    (sb,) = _layers("stc_like.yaml", "digits_sb.yaml", ["block1.conv1"])
    (binary,) = _layers("stc_like.yaml", "digits_binary.yaml", ["block1.conv1"])
    assert binary.compute.actual_computes == binary.compute.algorithmic_computes  # dense: no block to skip
    slots = structured_density(weight_profile(sb.counts.problem), 2, 4)
    assert 0.5 < slots < 0.6
    assert sb.compute.actual_computes == pytest.approx(slots * sb.compute.algorithmic_computes, rel=0.01)
