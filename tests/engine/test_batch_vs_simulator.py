"""The vectorised closed form equals the loop-by-loop simulation, access for access."""

import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from sbmodel.errors import SpecError
from sbmodel.engine import evaluate_layer
from sbmodel.engine.batch import MappingBatch, evaluate_batch

from .random_cases import random_case


def _valid_case(seed: int):
    rng = random.Random(seed)
    for _ in range(50):
        prob, arch, m = random_case(rng)
        try:
            m.validate(prob, arch)
            return prob, arch, m
        except SpecError:
            continue
    pytest.skip("no valid case for this seed")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10**9))
def test_batch_matches_simulation(seed):
    prob, arch, m = _valid_case(seed)
    ref = evaluate_layer(prob, arch, m)
    got = evaluate_batch(prob, arch, MappingBatch.from_mappings(prob, [m]))
    assert got.exact[0]
    for li, lv in enumerate(ref.levels):
        for ti, t in enumerate(lv.tensors):
            for key, arr in (("reads", got.reads), ("fills", got.fills), ("updates", got.updates)):
                want = getattr(t, key) if t.kept else 0.0
                assert arr[0, li, ti] == pytest.approx(want, rel=1e-9, abs=1e-9), (li, t.tensor, key)
    assert got.cycles[0] == ref.cycles
    assert got.energy_pJ[0] == pytest.approx(ref.energy_pJ, rel=1e-9)


def test_batch_of_many_equals_one_by_one():
    rng = random.Random(7)
    cases = []
    while len(cases) < 30:
        prob, arch, m = random_case(rng)
        if len(m.levels) == 3:
            try:
                m.validate(prob, arch)
            except SpecError:
                continue
            cases.append((prob, arch, m))
    prob, arch, _ = cases[0]
    same = [m for p, a, m in cases if p == prob and a == arch] or [cases[0][2]]
    batch = MappingBatch.from_mappings(prob, same)
    together = evaluate_batch(prob, arch, batch)
    for i, m in enumerate(same):
        alone = evaluate_batch(prob, arch, MappingBatch.from_mappings(prob, [m]))
        assert together.energy_pJ[i] == pytest.approx(alone.energy_pJ[0], rel=1e-12)


def test_reference_mapping_roundtrip(reference_dir):
    """The Eyeriss-like reference mapping evaluates identically in both paths."""
    from sbmodel.timeloop import load_timeloop_inputs

    d = reference_dir / "timeloop" / "case_v4_design_eyeriss_like" / "ref_outputs" / "default_problem"
    spec = load_timeloop_inputs([d / "parsed-processed-input.yaml", d / "timeloop-mapper.map.yaml"],
                                ert=d / "timeloop-mapper.ERT.yaml")
    batch = MappingBatch.from_mappings(spec.problem, [spec.mapping])
    got = evaluate_batch(spec.problem, spec.architecture, batch)
    ref = evaluate_layer(spec.problem, spec.architecture, spec.mapping)
    assert got.energy_pJ[0] == pytest.approx(ref.energy_pJ, rel=1e-12) and got.cycles[0] == ref.cycles
    back = batch.mapping(spec.problem, 0)
    assert evaluate_layer(spec.problem, spec.architecture, back).energy_pJ == pytest.approx(ref.energy_pJ)
    assert np.all(got.fits)
