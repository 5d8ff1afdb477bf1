"""Density models against hand computations and brute-force enumeration."""

from itertools import combinations, product
from math import comb

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from sbmodel.engine.sparse.density import (ActualData, FixedStructured, Given, Hypergeometric, Tile,
                                           _hypergeometric_support, hypergeometric_pmf, load_mask)
from sbmodel.errors import SpecError


def test_fixed_structured_mixes_floor_and_ceil_to_the_exact_mean():
    d = FixedStructured(0.25)
    assert d.probability(Tile((16,)), 4) == 1.0
    assert d.probability(Tile((16,)), 3) == 0.0
    # 3 * 0.33 = 0.99 nonzeros: 0 with probability 0.01, 1 with 0.99
    d = FixedStructured(0.33)
    assert d.probability(Tile((3,)), 0) == pytest.approx(0.01)
    assert d.probability(Tile((3,)), 1) == pytest.approx(0.99)
    assert d.max_occupancy(Tile((3,)), 1.0) == 1
    assert d.max_occupancy(Tile((3,)), 0.005) == 0
    assert d.min_occupancy(Tile((3,))) == 0
    assert d.expected_occupancy(Tile((3,))) == pytest.approx(0.99)


def test_fixed_structured_conditioned_on_an_enclosing_tile_uses_its_density():
    d = FixedStructured(0.5)
    # the enclosing 8-point tile holds 2 nonzeros: a 4-point subtile holds exactly 1
    assert d.probability(Tile((4,)), 1, Given(Tile((8,)), 2)) == 1.0
    assert d.probability(Tile((1,)), 0, Given(Tile((8,)), 2)) == pytest.approx(0.75)


def test_densities_outside_unit_interval_are_errors():
    with pytest.raises(SpecError, match=r"within \[0, 1\]"):
        FixedStructured(1.2)
    with pytest.raises(SpecError, match=r"within \[0, 1\]"):
        Hypergeometric(-0.1, 10)


@given(N=st.integers(1, 40), r_frac=st.floats(0, 1), n_frac=st.floats(0, 1))
def test_hypergeometric_probabilities_sum_to_one(N, r_frac, n_frac):
    n = max(1, int(round(n_frac * N)))
    h = Hypergeometric(r_frac, N)
    k, p = h.distribution(Tile((n,)))
    assert p.sum() == pytest.approx(1.0, abs=1e-9)
    assert (p > 0).all()
    assert h.expected_occupancy(Tile((n,))) == pytest.approx(n * h.nonzeros / N, rel=1e-9, abs=1e-9)


def test_hypergeometric_matches_counting_placements():
    # 6 points, 2 nonzeros; a 3-point tile holds k of them in C(2,k)C(4,3-k)/C(6,3) placements
    h = Hypergeometric(2 / 6, 6)
    for k in range(3):
        assert h.probability(Tile((3,)), k) == pytest.approx(comb(2, k) * comb(4, 3 - k) / comb(6, 3))
    # brute force over all placements
    counts = np.zeros(3)
    for nz in combinations(range(6), 2):
        counts[sum(1 for i in nz if i < 3)] += 1
    assert np.allclose(counts / counts.sum(), [h.probability(Tile((3,)), k) for k in range(3)])
    assert h.max_occupancy(Tile((3,))) == 2 and h.min_occupancy(Tile((5,))) == 1


def _brute_counts(mask, ext):
    """Occupancy of every aligned tile, by explicit loops (the definition)."""
    grid = [range(0, s, e) for s, e in zip(mask.shape, ext)]
    out = []
    for origin in product(*grid):
        sl = tuple(slice(o, o + e) for o, e in zip(origin, ext))
        out.append(int(mask[sl].sum()))
    return out


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_actual_data_equals_brute_force_tile_enumeration(data):
    ndim = data.draw(st.integers(1, 3))
    shape = tuple(data.draw(st.integers(1, 7)) for _ in range(ndim))
    bits = data.draw(st.lists(st.booleans(), min_size=int(np.prod(shape)), max_size=int(np.prod(shape))))
    mask = np.array(bits, dtype=bool).reshape(shape)
    ext = tuple(data.draw(st.integers(1, s)) for s in shape)
    model = ActualData(mask)
    brute = _brute_counts(mask, ext)
    k, p = model.distribution(Tile(ext))
    hist = {int(a): float(b) for a, b in zip(k, p)}
    for occ in set(brute):
        assert hist[occ] == pytest.approx(brute.count(occ) / len(brute))
    assert sum(hist.values()) == pytest.approx(1.0)
    assert model.max_occupancy(Tile(ext)) == max(brute)
    assert model.min_occupancy(Tile(ext)) == min(brute)
    assert model.expected_occupancy(Tile(ext)) == pytest.approx(np.mean(brute))


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_actual_data_conditional_equals_brute_force(data):
    """Children nested in parents (parent extents are multiples of the child's, edge tiles
    clipped; the parent may be the whole tensor or the child itself) against enumeration."""
    rows, cols = data.draw(st.integers(1, 8)), data.draw(st.integers(1, 8))
    bits = data.draw(st.lists(st.booleans(), min_size=rows * cols, max_size=rows * cols))
    mask = np.array(bits, dtype=bool).reshape(rows, cols)
    cr, cc = data.draw(st.integers(1, rows)), data.draw(st.integers(1, cols))
    pr = min(rows, cr * data.draw(st.integers(1, 8)))
    pc = min(cols, cc * data.draw(st.integers(1, 8)))
    pr, pc = (pr // cr) * cr if pr < rows else pr, (pc // cc) * cc if pc < cols else pc
    model = ActualData(mask)
    pairs = []  # (parent occupancy, child occupancy) over every child tile
    for i in range(0, rows, cr):
        for j in range(0, cols, cc):
            pi, pj = (i // pr) * pr, (j // pc) * pc
            pairs.append((int(mask[pi:pi + pr, pj:pj + pc].sum()), int(mask[i:i + cr, j:j + cc].sum())))
    child, parent = Tile((cr, cc)), Tile((pr, pc))
    for m in {m for m, _ in pairs} | {cr * cc + 1}:
        kids = [c for mm, c in pairs if mm == m]
        for c in range(cr * cc + 2):
            want = kids.count(c) / len(kids) if kids else 0.0
            assert model.probability(child, c, Given(parent, m)) == pytest.approx(want)
    ms = np.array(sorted({m for m, _ in pairs}))  # vectorised over parent occupancies
    got = model.probability(child, 0, Given(parent, ms))
    assert got == pytest.approx([[c for mm, c in pairs if mm == m].count(0) / sum(mm == m for mm, _ in pairs)
                                 for m in ms])


@given(N=st.integers(1, 60), r=st.integers(0, 60), n=st.integers(1, 80))
def test_hypergeometric_support_recurrence_equals_the_closed_form(N, r, n):
    r = min(r, N)
    k, p = _hypergeometric_support(N, r, n)
    want = hypergeometric_pmf(N, r, n, np.arange(0, n + 1))
    full = np.zeros(n + 1)
    full[k] = p
    assert full == pytest.approx(want, rel=1e-9, abs=1e-12)


def test_actual_data_of_a_resnet_sized_tensor_is_fast_enough_to_call_per_tile():
    rng = np.random.default_rng(0)
    mask = rng.random((512, 512, 3, 3)) < 0.31
    model = ActualData(mask)
    k, p = model.distribution(Tile((16, 32, 3, 3)))
    assert p.sum() == pytest.approx(1.0)
    assert model.mean_density == pytest.approx(mask.mean())


def test_load_mask_errors_name_the_file(tmp_path):
    with pytest.raises(SpecError, match="not found"):
        load_mask(tmp_path / "nope.npz")
    f = tmp_path / "two.npz"
    np.savez(f, a=np.ones(3), b=np.zeros(3))
    with pytest.raises(SpecError, match="holds 2 arrays"):
        load_mask(f)
    with pytest.raises(SpecError, match="no array 'c'"):
        load_mask(f, "c")
    assert load_mask(f, "a").sum() == 3


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_actual_data_scalar_given_parent_equals_brute_force(data):
    """P(a point is zero | its enclosing tile holds m nonzeros), edge tiles included."""
    rows, cols = data.draw(st.integers(1, 7)), data.draw(st.integers(1, 7))
    bits = data.draw(st.lists(st.booleans(), min_size=rows * cols, max_size=rows * cols))
    mask = np.array(bits, dtype=bool).reshape(rows, cols)
    pr, pc = data.draw(st.integers(1, rows)), data.draw(st.integers(1, cols))
    model = ActualData(mask)
    points = {}
    for i in range(0, rows, pr):
        for j in range(0, cols, pc):
            block = mask[i:i + pr, j:j + pc]
            m = int(block.sum())
            z, n = points.get(m, (0, 0))
            points[m] = (z + int(block.size - block.sum()), n + block.size)
    ms = np.array(sorted(points))
    got = model.probability(Tile((1, 1)), 0, Given(Tile((pr, pc)), ms))
    want = [points[m][0] / points[m][1] for m in sorted(points)]
    assert np.allclose(got, want)
    assert model.probability(Tile((1, 1)), 1, Given(Tile((pr, pc)), int(ms[0]))) == pytest.approx(1 - want[0])
