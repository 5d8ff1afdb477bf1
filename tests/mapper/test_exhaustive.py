"""Exhaustive search equals a brute force over every factorisation, loop order, split and keep
choice; the sampled search reaches the exhaustive optimum on small layers; both are deterministic."""

from itertools import permutations, product

import numpy as np
import pytest

from sbmodel.core import Architecture, ComputeLevel, conv_problem
from sbmodel.engine import evaluate_layer
from sbmodel.engine.batch import MappingBatch, evaluate_batch
from sbmodel.mapper import Constraints, LevelConstraints, MapSpace, search
from sbmodel.mapper.exhaustive import count_mappings
from sbmodel.mapper.search import metric
from tests.mapper.cases import conv1d_oc, small_conv, storage, three_level


def brute_force_best(problem, arch, keep_fixed, objective="edp"):
    """Every factor assignment over temporal (and spatial, where a level fans out) slots, every
    temporal order of every level, every spatial order with every X/Y split, the given keep bits."""
    L, D = arch.num_levels, len(problem.dims)
    fans = [arch.fanout(l) for l in range(L)]
    slots = [("t", l) for l in range(L)] + [("s", l) for l in range(L) if fans[l][0] * fans[l][1] > 1]

    def splits(n, k):
        if k == 1:
            return [(n,)]
        return [(f,) + rest for f in range(1, n + 1) if n % f == 0 for rest in splits(n // f, k - 1)]

    per_dim = [splits(b, len(slots)) for b in problem.bounds]
    t_orders = list(permutations(range(D)))
    spatial_levels = [l for l in range(L) if fans[l][0] * fans[l][1] > 1]
    s_choices = [(o, k) for o in permutations(range(D)) for k in range(D + 1)]
    best = None
    chunk = []

    def flush():
        nonlocal best, chunk
        if not chunk:
            return
        tf = np.array([c[0] for c in chunk]); sf = np.array([c[1] for c in chunk])
        to = np.array([c[2] for c in chunk]); so = np.array([c[3] for c in chunk])
        ax = np.array([c[4] for c in chunk])
        keep = np.broadcast_to(keep_fixed, (len(chunk),) + keep_fixed.shape).copy()
        res = evaluate_batch(problem, arch, MappingBatch(tf, to, sf, ax, so, keep))
        score = np.where(res.fits, metric(objective, res.energy_pJ, res.cycles), np.inf)
        i = int(np.argmin(score))
        if best is None or score[i] < best:
            best = float(score[i])
        chunk = []

    for combo in product(*per_dim):
        tf = np.ones((L, D), np.int64); sf = np.ones((L, D), np.int64)
        for d, factors in enumerate(combo):
            for (kind, l), f in zip(slots, factors):
                (tf if kind == "t" else sf)[l, d] = f
        for orders in product(t_orders, repeat=L):
            for sp in product(s_choices, repeat=len(spatial_levels)):
                so = np.tile(np.arange(D), (L, 1)); ax = np.zeros((L, D), np.int64)
                for l, (o, k) in zip(spatial_levels, sp):
                    so[l] = o
                    pos = np.argsort(o)
                    ax[l] = pos >= k
                chunk.append((tf, sf, np.array(orders), so, ax))
                if len(chunk) >= 20000:
                    flush()
    flush()
    return best


def keep_all(problem, arch):
    return np.ones((arch.num_levels, len(problem.dataspaces)), bool)


def test_exhaustive_equals_brute_force_temporal():
    problem, arch = conv1d_oc(2, 3, 4), three_level(rf=12, buf=64)
    cons = Constraints({lv.name: LevelConstraints(keep=frozenset(problem.dataspace_names)) for lv in arch.storage})
    found = search(problem, arch, "edp", constraints=cons, budget=10 ** 6)
    assert found.exhaustive
    assert found.energy_pJ * found.cycles == pytest.approx(brute_force_best(problem, arch, keep_all(problem, arch)),
                                                           rel=1e-12)


def test_exhaustive_equals_brute_force_with_a_2d_fanout():
    problem, arch = conv1d_oc(2, 3, 2), three_level(rf=8, buf=64, pes=(2, 2))
    cons = Constraints({lv.name: LevelConstraints(keep=frozenset(problem.dataspace_names)) for lv in arch.storage})
    for objective in ("energy", "edp"):
        found = search(problem, arch, objective, constraints=cons, budget=10 ** 6)
        assert found.exhaustive
        best = brute_force_best(problem, arch, keep_all(problem, arch), objective)
        assert float(metric(objective, found.energy_pJ, found.cycles)) == pytest.approx(best, rel=1e-12)


def test_exhaustive_counts_what_it_enumerates_and_includes_bypass():
    problem, arch = conv1d_oc(2, 3, 4), three_level(rf=12, buf=64)
    space = MapSpace(problem, arch)
    total = count_mappings(space, cap=10 ** 7)
    found = search(problem, arch, "energy", budget=10 ** 6, space=space)
    assert found.exhaustive and found.space_size == total
    # with bypass free, the optimum can only improve on the keep-everything optimum
    cons = Constraints({lv.name: LevelConstraints(keep=frozenset(problem.dataspace_names)) for lv in arch.storage})
    kept = search(problem, arch, "energy", constraints=cons, budget=10 ** 6)
    assert found.energy_pJ <= kept.energy_pJ


SMALL = [
    ("conv1d_oc 32x3x16, 3 levels", conv1d_oc(32, 3, 16), three_level(rf=64, buf=8192), "edp"),
    ("conv1d_oc 8x3x8, 2x2 PEs", conv1d_oc(8, 3, 8), three_level(rf=16, buf=256, pes=(2, 2)), "energy"),
    ("conv 2x2 PEs", conv_problem("c", M=4, C=2, P=2, Q=1, R=3, S=1), three_level(rf=32, buf=1024, pes=(2, 2)),
     ("delay", "energy")),
]


@pytest.mark.parametrize("name, problem, arch, objective", SMALL, ids=[s[0] for s in SMALL])
def test_sampled_search_reaches_the_exhaustive_optimum(name, problem, arch, objective):
    exhaustive = search(problem, arch, objective, budget=10 ** 7, exhaustive_limit=10 ** 7)
    assert exhaustive.exhaustive
    sampled = search(problem, arch, objective, budget=30_000, exhaustive_limit=0, seed=1)
    assert not sampled.exhaustive and sampled.evaluations <= 30_000
    assert (sampled.energy_pJ, sampled.cycles) == pytest.approx((exhaustive.energy_pJ, exhaustive.cycles), rel=1e-12)
    # the batch figures are the exact model's
    exact = evaluate_layer(problem, arch, sampled.mapping)
    assert (exact.energy_pJ, exact.cycles) == pytest.approx((sampled.energy_pJ, sampled.cycles), rel=1e-9)


def test_same_seed_same_mapping_and_seed_matters_only_to_sampling():
    problem, arch = small_conv(), three_level(rf=32, buf=1024, pes=(2, 4))
    a = search(problem, arch, "edp", budget=3000, exhaustive_limit=0, seed=7)
    b = search(problem, arch, "edp", budget=3000, exhaustive_limit=0, seed=7)
    assert a.mapping == b.mapping and a.evaluations == b.evaluations


def test_lexicographic_objective_prefers_delay_then_energy():
    problem, arch = conv1d_oc(4, 3, 4), three_level(rf=16, buf=256, pes=(2, 2))
    lex = search(problem, arch, ("delay", "energy"), budget=10 ** 7, exhaustive_limit=10 ** 7)
    energy = search(problem, arch, "energy", budget=10 ** 7, exhaustive_limit=10 ** 7)
    assert lex.cycles <= energy.cycles
    assert lex.energy_pJ >= energy.energy_pJ


def test_no_valid_mapping_is_a_clear_error():
    from sbmodel.errors import SbmodelError

    arch = Architecture("tiny", (storage("RF", 1), storage("DRAM")), ComputeLevel("MAC", 1, 1, 1))
    cons = Constraints({"RF": LevelConstraints(keep=frozenset({"Weights", "Inputs", "Outputs"}))})
    with pytest.raises(SbmodelError, match="no valid mapping"):
        search(small_conv(), arch, "edp", constraints=cons, budget=100)
