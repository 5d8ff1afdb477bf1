"""Properties of the sparse stage on random layers, architectures and mappings."""

import random
from dataclasses import replace

import pytest
from hypothesis import given, settings, strategies as st

from sbmodel.engine import evaluate_layer
from sbmodel.engine.sparse import (ActionOptimization, FixedStructured, LevelSparse, RankFormat, SparseSpec,
                                   TensorFormat)
from sbmodel.engine.sparse.density import Hypergeometric

from ..random_cases import random_case

SEEDS = st.integers(0, 10**6)


def _optimizations(arch, rng):
    levels = {}
    for lv in arch.storage:
        acts = []
        for target, cond in (("Inputs", ("Weights",)), ("Outputs", ("Weights", "Inputs")), ("Weights", ("Inputs",))):
            if rng.random() < 0.4:
                acts.append(ActionOptimization(rng.choice(["gating", "skipping"]), ((target, cond),)))
        levels[lv.name] = LevelSparse({}, tuple(acts))
    return SparseSpec(levels)


@settings(max_examples=40, deadline=None)
@given(seed=SEEDS)
def test_density_one_makes_gating_and_skipping_a_no_op(seed):
    rng = random.Random(seed)
    problem, arch, mapping = random_case(rng)
    dense = evaluate_layer(problem, arch, mapping)
    sparse = evaluate_layer(problem, arch, mapping, _optimizations(arch, rng))
    assert sparse.cycles == dense.cycles
    assert sparse.energy_pJ == pytest.approx(dense.energy_pJ, rel=1e-12)
    assert sparse.compute.actual_computes == dense.compute.actual_computes
    for a, b in zip(sparse.levels, dense.levels):
        for ta, tb in zip(a.tensors, b.tensors):
            assert (ta.reads, ta.fills, ta.updates) == (tb.reads, tb.fills, tb.updates)


@settings(max_examples=40, deadline=None)
@given(seed=SEEDS, density=st.floats(0.05, 1.0))
def test_optimised_actions_never_exceed_the_algorithmic_ones(seed, density):
    rng = random.Random(seed)
    problem, arch, mapping = random_case(rng)
    model = rng.choice([FixedStructured(density), Hypergeometric(density, problem.tensor_size("Weights"))])
    problem = replace(problem, densities={"Weights": model})
    r = evaluate_layer(problem, arch, mapping, _optimizations(arch, rng))
    for lc in r.counts.levels:
        for t in lc.tensors:
            if not t.kept:
                continue
            for kind, algo in (("read", t.reads), ("fill", t.fills), ("update", t.updates)):
                total = sum(t.actions.get(k, 0.0) for k in (kind, f"gated_{kind}", f"skipped_{kind}"))
                assert 0 <= total <= algo + 1e-9, (lc.name, t.tensor, kind)
    c = r.compute
    assert c.actual_computes + c.actions.get("gated_compute", 0) + c.actions.get("skipped_compute", 0) \
        <= c.algorithmic_computes + 1e-6
    assert r.energy_pJ <= evaluate_layer(problem, arch, mapping).energy_pJ * (1 + 1e-9)


@settings(max_examples=25, deadline=None)
@given(seed=SEEDS)
def test_formats_at_density_one_only_add_metadata(seed):
    rng = random.Random(seed)
    problem, arch, mapping = random_case(rng)
    top = arch.storage[-1]
    arch = replace(arch, storage=arch.storage[:-1] + (replace(top, metadata_word_bits=4,
                                                                  metadata_storage_width_bits=8),))
    fmt = TensorFormat((RankFormat("UOP"), RankFormat("CP")), inner_to_outer=True)
    spec = SparseSpec({top.name: LevelSparse({"Weights": fmt})})
    dense = evaluate_layer(problem, arch, mapping)
    try:
        r = evaluate_layer(problem, arch, mapping, spec)
    except Exception as exc:  # a mapping that needs more ranks than two is a clear error, not a crash
        assert "rank" in str(exc)
        return
    for a, b in zip(r.levels, dense.levels):
        for ta, tb in zip(a.tensors, b.tensors):
            assert (ta.reads, ta.fills, ta.updates) == (tb.reads, tb.fills, tb.updates)
    assert r.energy_pJ >= dense.energy_pJ * (1 - 1e-12)
