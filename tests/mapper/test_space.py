"""MapSpace: samples, random moves and neighbourhoods stay inside the constraints; canonical keys."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sbmodel.engine.batch import MappingBatch
from sbmodel.mapper import Constraints, LevelConstraints, MapSpace
from sbmodel.mapper.space import _prime_table, count_factorisations, factor_table, primes
from tests.mapper.cases import assert_is_trade, conv1d_oc, small_conv, three_level


def constrained_space():
    problem = small_conv()  # C2 M4 R3 S1 N1 P4 Q2
    arch = three_level(rf=64, buf=4096, pes=(2, 4))
    cons = Constraints({
        "RF": LevelConstraints(temporal_factors={"R": 3}, temporal_max={"M": 2},
                               keep=frozenset({"Outputs"}), bypass=frozenset({"Inputs"})),
        "Buffer": LevelConstraints(permutation=("Q", "C", "P"), spatial_permutation=("M", "P", "C"),
                                   spatial_split=1, spatial_factors={"C": 1}),
    })
    return problem, arch, MapSpace(problem, arch, cons)


def check_constraints(space: MapSpace, batch: MappingBatch) -> None:
    dims = {d: i for i, d in enumerate(space.problem.dims)}
    F = space.factors(batch)
    assert (np.prod(F, axis=1) == space.bounds).all()
    assert (F[:, 0, dims["R"]] == 3).all() and (F[:, 0, dims["M"]] <= 2).all()
    assert (F[:, space.L + 1, dims["C"]] == 1).all()
    names = space.problem.dataspace_names
    assert batch.keep[:, 0, names.index("Outputs")].all() and not batch.keep[:, 0, names.index("Inputs")].any()
    assert batch.keep[:, -1].all()
    # Buffer: the non-unit loops among Q, C, P come first (innermost), in that order
    prefix = [dims[d] for d in ("Q", "C", "P")]
    for b in range(batch.size):
        order = [d for d in batch.temporal_order[b, 1] if batch.temporal[b, 1, d] > 1]
        head = [d for d in prefix if batch.temporal[b, 1, d] > 1]
        assert order[:len(head)] == head
    # Buffer's fanout: split 1 on the completed permutation M P C ... -> only M may run along X
    sf, ax = batch.spatial[:, 1], batch.spatial_axis[:, 1]
    on_x = (sf > 1) & (ax == 0)
    assert not on_x[:, [d for d in range(space.D) if d != dims["M"]]].any()
    assert (~((sf[:, dims["M"]] > 1) & (ax[:, dims["M"]] == 1))).all()


def test_samples_moves_and_neighbourhoods_respect_the_constraints():
    _, _, space = constrained_space()
    rng = np.random.default_rng(3)
    sample = space.sample(3000, rng)
    ok = space.valid(sample)
    assert ok.mean() > 0.05
    check_constraints(space, sample.take(np.nonzero(ok)[0]))
    moved = space.mutate(sample.take(np.nonzero(ok)[0][:500]), rng)
    check_constraints(space, moved.take(np.nonzero(space.valid(moved))[0]))
    near = space.neighbourhood(sample.take(np.nonzero(ok)[0][:3]))
    valid = space.valid(near)
    assert valid.sum() > 10
    check_constraints(space, near.take(np.nonzero(valid)[0]))


def test_every_neighbour_differs_in_one_move():
    _, _, space = constrained_space()
    rng = np.random.default_rng(0)
    parent = space.sample(200, rng)
    parent = parent.take(np.nonzero(space.valid(parent))[0][:1])
    near = space.neighbourhood(parent)
    near = near.take(np.nonzero(space.valid(near))[0])
    keys = space.keys(near)
    assert len(set(keys.tolist())) > 10
    dF = (space.factors(near) != space.factors(parent)).sum(axis=(1, 2))
    assert (dF <= 2).all()  # a prime moves between two slots of one dimension, or nothing changes


def test_keys_ignore_unit_loops_and_the_innermost_order():
    problem = conv1d_oc(4, 3, 4)
    space = MapSpace(problem, three_level())
    rng = np.random.default_rng(1)
    b = space.sample(50, rng)
    k = space.keys(b)
    order = b.temporal_order.copy()
    # move unit loops of the Buffer to the front of its order: same mapping
    unit = np.take_along_axis(b.temporal[:, 1] == 1, order[:, 1], 1)
    order[:, 1] = np.take_along_axis(order[:, 1], np.argsort(~unit, axis=1, kind="stable"), 1)
    units_first = MappingBatch(b.temporal, order, b.spatial, b.spatial_axis, b.spatial_order, b.keep)
    assert (space.keys(units_first) == k).all()
    l0 = b.temporal_order.copy()
    l0[:, 0] = l0[:, 0, ::-1]
    assert (space.keys(MappingBatch(b.temporal, l0, b.spatial, b.spatial_axis, b.spatial_order, b.keep)) == k).all()
    flipped = b.keep.copy()
    flipped[:, 0, 0] ^= True
    assert (space.keys(MappingBatch(b.temporal, b.temporal_order, b.spatial, b.spatial_axis, b.spatial_order,
                                    flipped)) != k).all()


@pytest.mark.parametrize("n, caps", [(12, (12, 12, 12)), (16, (2, 16, 4)), (7, (1, 7)), (36, (6, 6, 1, 36))])
def test_factor_tables_are_exactly_the_ordered_factorisations(n, caps):
    table = factor_table(n, caps)
    assert len(table) == count_factorisations(n, caps)
    assert (np.prod(table, axis=1) == n).all() and (table <= np.array(caps)).all()
    assert len({tuple(r) for r in table}) == len(table)
    brute = {(a, b, *rest) for a in range(1, n + 1) for b in range(1, n + 1) for rest in
             _tails(n, len(caps) - 2) if a * b * int(np.prod(rest or [1])) == n} if len(caps) >= 2 else set()
    brute = {t for t in brute if all(x <= c for x, c in zip(t, caps))}
    assert brute == {tuple(int(x) for x in r) for r in table}


def _tails(n, k):
    if k == 0:
        return [()]
    return [(x,) + t for x in range(1, n + 1) if n % x == 0 for t in _tails(n, k - 1)]


@pytest.mark.parametrize("top", [1, 2, 4, 31, 210, 2311])
def test_prime_table_lists_each_values_distinct_primes_ascending(top):
    width, table = _prime_table(top)
    assert table.shape == (top, width)
    for v in range(top):
        distinct = sorted(set(primes(v))) if v > 1 else []
        assert table[v].tolist() == distinct + [0] * (width - len(distinct)), v
    assert width == max([1] + [len(set(primes(v))) for v in range(2, top)])



def tight_register_space() -> MapSpace:
    """A 1-word register that must keep Weights: most factorisations overflow it on their own."""
    return MapSpace(small_conv(), three_level(rf=1, buf=64, pes=(1, 1)),
                    Constraints({"RF": LevelConstraints(keep=frozenset({"Weights"}))}))


def test_sampling_tables_drop_only_rows_that_can_never_fit():
    space = tight_register_space()
    n, L = 20_000, space.L
    assert any(len(pruned) < len(full) for full, pruned in zip(space.tables, space._sampling_tables))
    rng = np.random.default_rng(3)
    # draws from the full tables (as before pruning); the rows of those that fit must all survive
    halves = np.repeat(space.smallest_factors.reshape(2, 1, L, space.D), n, axis=1)
    for d, full in enumerate(space.tables):
        slots = space.free_slots[d]
        halves[slots // L, :, slots % L, d] = full[rng.integers(0, len(full), n)].T
    keep = np.where(space.keep_rule[None] == 0, rng.random((n, L, space.T)) < 0.5, space.keep_rule[None] > 0)
    fitting = space._fits(space._extents(halves[0], halves[1]), keep)
    assert fitting.sum() > 20  # the property is checked on real fitting draws
    for d, (full, pruned) in enumerate(zip(space.tables, space._sampling_tables)):
        kept = {tuple(r) for r in pruned}
        assert kept <= {tuple(r) for r in full}
        slots = space.free_slots[d]
        used = halves[slots // L, :, slots % L, d].T[fitting]
        assert {tuple(r) for r in used} <= kept


def test_sampling_from_pruned_tables_fits_far_more_often():
    space = tight_register_space()
    drawn = space.sample(4_096, np.random.default_rng(0), fitting=True)
    assert drawn.size > 0.15 * 4_096  # 24 % do (5 % of draws from the full tables)
    assert space.valid(drawn).mean() > 0.5


def test_pick_draws_a_true_column_per_row_and_minus_one_where_there_is_none():
    from sbmodel.mapper.space import _pick

    rng = np.random.default_rng(7)
    mask = rng.random((4000, 6)) < 0.3
    mask[:50] = False  # rows without a true column
    picked = _pick(mask, rng)
    has = mask.any(axis=1)
    assert (picked[~has] == -1).all()
    assert mask[np.nonzero(has)[0], picked[has]].all()
    # uniform over the true columns: rows with all six true pick each column about equally often
    full = _pick(np.ones((60_000, 6), bool), rng)
    assert np.abs(np.bincount(full, minlength=6) / full.size - 1 / 6).max() < 0.01


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000))
def test_factor_trades_keep_the_factorisation_and_the_constraints(seed):
    """Trades of random valid mappings: each dimension's factors still multiply to its bound,
    fixed factors, maximum factors, permutation prefixes and keep rules still hold, and every
    trade changes the factors of exactly two dimensions in one spatial and one temporal slot."""
    _, _, space = constrained_space()
    rng = np.random.default_rng(seed)
    parents = space.sample(400, rng)
    parents = parents.take(np.nonzero(space.valid(parents))[0][:3])
    for i in range(parents.size):  # (a mapping with no spatial factor has no trades)
        parent = parents.take(np.array([i]))
        trades = space.trades(parent)
        F, P = space.factors(trades), space.factors(parent)[0]
        assert (np.prod(F, axis=1) == space.bounds).all()
        for f in F:
            assert_is_trade(P, f, space.L)
        check_constraints(space, trades.take(np.nonzero(space.valid(trades))[0]))
