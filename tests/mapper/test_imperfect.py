"""Imperfect factorisation in the search: smooth padded bounds, residual mappings that cover each
bound exactly, their compute steps, and the option end to end (never worse, strictly better on a
1000-wide layer, exact figures, cached with its residuals)."""

from math import prod

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sbmodel.api import evaluate_mapping
from sbmodel.core import conv_problem
from sbmodel.core.mapping import LevelMapping, Loop, Mapping, covered_extent
from sbmodel.errors import SbmodelError
from sbmodel.mapper import MappingCache, find_mapping
from sbmodel.mapper.cache import mapping_from_json, mapping_to_json
from sbmodel.mapper.driver import map_layer
from sbmodel.mapper.imperfect import compute_steps, padded_problems, residual_mapping, smooth_ceiling
from sbmodel.spec import load_architecture

from ..conftest import ROOT


def test_smooth_ceiling_is_the_next_product_of_twos_and_threes():
    def smooth(n: int) -> bool:
        for p in (2, 3):
            while n % p == 0:
                n //= p
        return n == 1

    for n in range(1, 3000):
        expected = next(m for m in range(n, 2 * n + 1) if smooth(m))
        assert smooth_ceiling(n) == expected, n


def test_padded_problems_round_up_badly_factoring_bounds_together_then_one_at_a_time():
    layer = conv_problem("l", M=512, C=256, R=3, S=3, P=7, Q=7)
    variants = {tuple(sorted(p.bound.items())) for p in padded_problems(layer)}
    base = dict(layer.bound)
    assert variants == {tuple(sorted({**base, **grown}.items()))
                        for grown in ({"P": 8, "Q": 8}, {"P": 8}, {"Q": 8})}
    assert padded_problems(conv_problem("s", M=64, C=64, R=3, S=3, P=16, Q=16)) == []


def _one_dim_mapping(factors: list[int], spatial: list[bool]) -> Mapping:
    """A 1-D mapping over two levels: loops over P outer to inner, each temporal or spatial."""
    levels = []
    for f, is_spatial in zip(reversed(factors), reversed(spatial)):  # innermost level first
        lp = Loop("P", f, axis="X" if is_spatial else None)
        levels.append(LevelMapping(temporal=() if is_spatial else (lp,), spatial=(lp,) if is_spatial else (),
                                   keep=frozenset({"Inputs", "Weights", "Outputs"})))
    return Mapping(tuple(levels))


def test_residual_mapping_by_hand():
    """7 points over loops 4 (temporal, outer) x 2 (spatial, inner): 6 = 3*2 + 0, so the outer
    loop keeps its 4 iterations and the spatial loop runs to 1 on the last one (7 = 3*2 + 1)."""
    layer = conv_problem("l", M=1, C=1, R=1, S=1, P=7, Q=1)
    padded = _one_dim_mapping([4, 2], [False, True])
    got = residual_mapping(padded, layer)
    loops = [lp for _, lp in got.loops_outer_to_inner()]
    assert [(lp.factor, lp.residual) for lp in loops] == [(4, None), (2, 1)]
    assert covered_extent(got, "P") == 7
    assert compute_steps(got, layer) == 4
    # over 16 = 4 x 4 the outer loop shrinks to the 2 iterations it needs: 6 = 1*4 + 2
    got = residual_mapping(_one_dim_mapping([4, 4], [False, False]), layer)
    assert [(lp.factor, lp.residual) for _, lp in got.loops_outer_to_inner()] == [(2, None), (4, 3)]
    assert compute_steps(got, layer) == 7


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 6), min_size=1, max_size=4), st.data())
def test_residual_mappings_cover_the_bound_exactly_within_the_padded_factors(factors, data):
    span = prod(factors)
    bound = data.draw(st.integers(1, span))
    spatial = data.draw(st.lists(st.booleans(), min_size=len(factors), max_size=len(factors)))
    layer = conv_problem("l", M=1, C=1, R=1, S=1, P=bound, Q=1)
    padded = _one_dim_mapping(factors, spatial)
    got = residual_mapping(padded, layer)
    assert covered_extent(got, "P") == bound
    loops = [lp for _, lp in got.loops_outer_to_inner()]
    assert all(lp.factor > 1 or lp.residual is None for lp in loops)
    # every loop is one of the padded loops, with a factor no larger (tiles only shrink)
    assert prod(lp.factor for lp in loops) <= span
    # compute steps: the distinct temporal index tuples, counted by walking every point
    temporal = [f for f, s in zip(factors, spatial) if not s]
    assert compute_steps(got, layer) <= prod(temporal)
    assert compute_steps(got, layer) >= -(-bound // prod(f for f, s in zip(factors, spatial) if s))


def test_residual_mapping_refuses_a_mapping_that_covers_too_little():
    layer = conv_problem("l", M=1, C=1, R=1, S=1, P=9, Q=1)
    with pytest.raises(SbmodelError, match="covers P=8, less than"):
        residual_mapping(_one_dim_mapping([4, 2], [False, True]), layer)


@pytest.fixture(scope="module")
def simple_os():
    return load_architecture(ROOT / "arch_specs/simple_os.yaml")


def test_imperfect_search_beats_perfect_factors_on_a_1000_wide_layer(simple_os):
    """ResNet-18's classifier (M=1000 = 2^3 x 5^3) on a 16 x 16 output-stationary array: no
    perfect factorisation fills the array's 16 columns; padded to 1024 with a residual loop the
    cycles fall by a third.  The figures are the exact analysis of the residual mapping."""
    fc = conv_problem("fc", M=1000, C=512, R=1, S=1, P=1, Q=1)
    perfect = map_layer(fc, simple_os, budget=4000)
    imperfect = map_layer(fc, simple_os, budget=4000, imperfect=True)
    edp = lambda r: r.energy_pJ * r.cycles  # noqa: E731
    assert edp(imperfect.result) < 0.8 * edp(perfect.result)
    assert any(lp.residual is not None for _, lp in imperfect.mapping.loops_outer_to_inner())
    assert covered_extent(imperfect.mapping, "M") == 1000
    again = evaluate_mapping(fc, simple_os, imperfect.mapping)
    assert (again.energy_pJ, again.cycles) == (imperfect.result.energy_pJ, imperfect.result.cycles)
    # the compute steps bound the cycles from below (here the array also waits on bandwidth a little)
    assert compute_steps(imperfect.mapping, fc) <= imperfect.result.cycles < 1.02 * compute_steps(imperfect.mapping, fc)


@pytest.mark.parametrize("shape", [dict(M=64, C=64, R=3, S=3, P=7, Q=7), dict(M=24, C=20, R=1, S=1, P=14, Q=14)])
def test_imperfect_search_is_never_worse(simple_os, shape):
    layer = conv_problem("l", **shape)
    perfect = map_layer(layer, simple_os, budget=2000)
    imperfect = map_layer(layer, simple_os, budget=2000, imperfect=True)
    assert imperfect.result.energy_pJ * imperfect.result.cycles <= perfect.result.energy_pJ * perfect.result.cycles


def test_imperfect_mappings_are_cached_with_their_residuals(simple_os, tmp_path):
    fc = conv_problem("fc", M=1000, C=512, R=1, S=1, P=1, Q=1)
    cache = MappingCache(tmp_path)
    found = find_mapping(fc, simple_os, budget=4000, imperfect=True, cache=cache)
    assert mapping_from_json(mapping_to_json(found)) == found
    fresh = MappingCache(tmp_path)  # from the files only
    assert fresh.get(fresh.key(simple_os, fc, objective="edp", budget=4000, seed=0, restarts=0,
                               constraints=None, imperfect=True)) == found
    # a perfect search of the same layer is cached apart
    assert find_mapping(fc, simple_os, budget=4000, cache=cache) != found


def test_imperfect_is_refused_on_designs_with_compressed_formats():
    arch = load_architecture(ROOT / "arch_specs/eyeriss_sparse.yaml")
    layer = conv_problem("l", M=16, C=16, R=3, S=3, P=7, Q=7)
    with pytest.raises(SbmodelError, match="compressed"):
        map_layer(layer, arch, sparse=arch.sparse, budget=500, imperfect=True)


def test_imperfect_search_on_a_gating_design_evaluates_residual_mappings_with_the_sparse_stage():
    """A gating design (the vectorised sparse evaluator is exact there): K=17 (prime) on 16 PEs
    leaves perfect factors only P=4 to spread; padded to 18 the residual mapping takes a third of
    the cycles.  It went through the exact sparse evaluation, beats the perfect search's EDP and
    matches an independent exact evaluation."""
    from dataclasses import replace

    from sbmodel.engine import evaluate_layer
    from sbmodel.engine.sparse.density import FixedStructured
    from tests.mapper.cases import conv1d_oc, three_level
    from tests.mapper.test_sparse_mapping import GATING

    problem = replace(conv1d_oc(17, 1, 4), densities={"Weights": FixedStructured(0.25),
                                                      "Inputs": FixedStructured(0.5)})
    arch = three_level(rf=16, buf=256, pes=(16, 1))
    perfect = map_layer(problem, arch, sparse=GATING, budget=2000)
    imperfect = map_layer(problem, arch, sparse=GATING, budget=2000, imperfect=True)
    assert imperfect.exact_evaluations > perfect.exact_evaluations
    edp = lambda r: r.energy_pJ * r.cycles  # noqa: E731
    assert edp(imperfect.result) < 0.5 * edp(perfect.result)
    assert any(lp.residual is not None for _, lp in imperfect.mapping.loops_outer_to_inner())
    again = evaluate_layer(problem, arch, imperfect.mapping, GATING)
    assert (again.energy_pJ, again.cycles) == (imperfect.result.energy_pJ, imperfect.result.cycles)
