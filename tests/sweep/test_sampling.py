"""Design points: grid order, seeded random and Latin-hypercube samples, duplicates dropped."""

from __future__ import annotations

import numpy as np

from sbmodel.sweep.sampling import points
from sbmodel.sweep.spec import load_sweep

from .conftest import DRAM_BW, GLB


def test_grid_is_every_combination_last_fastest(make_sweep):
    s = load_sweep(make_sweep({"glb": {"path": GLB, "values": [1024, 2048]},
                               "bw": {"path": DRAM_BW, "range": {"min": 1, "max": 3, "step": 1}}}))
    pts = points(s)
    assert [tuple(p.labels(s).values()) for p in pts] == [
        (1024, 1.0), (1024, 2.0), (1024, 3.0), (2048, 1.0), (2048, 2.0), (2048, 3.0)]
    assert [p.index for p in pts] == list(range(6))
    assert len({p.point_id for p in pts}) == 6


def test_log_grid_and_integer_dedup(make_sweep):
    s = load_sweep(make_sweep({"glb": {"path": GLB, "range": {"min": 1024, "max": 16384, "scale": "log",
                                                               "count": 5, "integer": True}}}))
    assert [p.labels(s)["glb"] for p in points(s)] == [1024, 2048, 4096, 8192, 16384]
    s = load_sweep(make_sweep({"glb": {"path": GLB, "range": {"min": 1, "max": 3, "count": 9, "integer": True}}}))
    assert [p.labels(s)["glb"] for p in points(s)] == [1, 2, 3]  # rounding collisions kept once


def test_random_is_seeded_and_in_range(make_sweep):
    params = {"glb": {"path": GLB, "range": {"min": 1000, "max": 100000, "scale": "log", "integer": True}},
              "bw": {"path": DRAM_BW, "values": [2, 4, 8]}}
    a = load_sweep(make_sweep(params, sampling={"method": "random", "points": 50, "seed": 3}))
    b = load_sweep(make_sweep(params, name="other.yaml", sampling={"method": "random", "points": 50, "seed": 3}))
    la = [p.labels(a) for p in points(a)]
    assert la == [p.labels(b) for p in points(b)]
    assert all(1000 <= x["glb"] <= 100000 and isinstance(x["glb"], int) for x in la)
    assert {x["bw"] for x in la} == {2, 4, 8}
    c = load_sweep(make_sweep(params, name="c.yaml", sampling={"method": "random", "points": 50, "seed": 4}))
    assert [p.labels(c) for p in points(c)] != la


def test_lhs_uses_every_stratum_once(make_sweep):
    n = 40
    s = load_sweep(make_sweep({"a": {"path": "architecture.levels.shared_glb.min_utilization",
                                     "range": {"min": 0, "max": 1}},
                               "b": {"path": DRAM_BW, "range": {"min": 0.5, "max": 1.5}}},
                              sampling={"method": "lhs", "points": n, "seed": 0}))
    pts = points(s)
    assert len(pts) == n
    for name, lo in (("a", 0.0), ("b", 0.5)):
        x = np.array([p.labels(s)[name] for p in pts]) - lo
        strata = np.floor(x * n).astype(int)
        assert sorted(strata) == list(range(n))  # one sample in each of the n strata


def test_lhs_over_options_is_balanced(make_sweep):
    s = load_sweep(make_sweep({"bw": {"path": DRAM_BW, "values": [1, 2, 4, 8]}},
                              sampling={"method": "lhs", "points": 4, "seed": 1}))
    assert sorted(p.labels(s)["bw"] for p in points(s)) == [1, 2, 4, 8]


def test_no_parameters_is_one_point(make_sweep):
    s = load_sweep(make_sweep({}))
    assert len(points(s)) == 1


def test_point_ids_are_stable_and_value_based(make_sweep):
    s1 = load_sweep(make_sweep({"glb": {"path": GLB, "values": [1024, 2048]}}))
    s2 = load_sweep(make_sweep({"glb": {"path": GLB, "values": [2048, 4096]}}))
    ids1 = {p.labels(s1)["glb"]: p.point_id for p in points(s1)}
    ids2 = {p.labels(s2)["glb"]: p.point_id for p in points(s2)}
    assert ids1[2048] == ids2[2048]  # an extended sweep reuses finished points
