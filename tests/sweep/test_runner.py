"""Running sweeps through the API: rows, failures, resume, parallel = serial, shared mappings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sbmodel.sweep import read_results, run_sweep
from sbmodel.sweep.runner import mapping_cache_dir

from .conftest import DRAM_BW, GLB, need

PE = ["architecture.levels.inter_PE_spatial.mesh", "architecture.levels.ifmap_spad.mesh"]
METRICS = ["cycles", "energy_pJ", "computes", "dram_words", "area_proxy"]


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    return df.drop(columns=["seconds"]).sort_values(["point", "row", "layer"]).reset_index(drop=True)


@pytest.fixture
def grid(make_sweep):
    return make_sweep({
        "glb": {"path": GLB, "values": [1024, 65536]},
        "bw": {"path": DRAM_BW, "values": [2, 8]},
        # 16 columns do not divide the 14 x 12 spad mesh below: every 16x1 point is infeasible
        "pe": {"path": PE, "choices": {"14x12": [[14, 1], [14, 12]], "bad": [[16, 1], [14, 12]]}},
    })


def test_rows_per_point_and_failures_recorded(grid, tmp_path: Path):
    out = tmp_path / "r.csv"
    df = run_sweep(grid, out, jobs=1)
    s = df.attrs["summary"]
    assert (s.total_points, s.evaluated, s.failed, s.skipped) == (8, 8, 4, 0)
    totals = df[df.row == "total"]
    assert len(totals) == 8 and totals.point_id.is_unique
    ok = totals[totals.status == "ok"]
    bad = totals[totals.status == "error"]
    assert set(ok.pe) == {"14x12"} and set(bad.pe) == {"bad"}
    assert bad.error.str.contains("not a whole multiple").all()  # the engine's own message, located
    assert bad[METRICS[:2]].isna().all().all()
    layers = df[df.row == "layer"]
    assert len(layers) == 2 * len(ok) and set(layers.layer) == {"conv", "fc"}
    # totals are the sums over layers; the energy columns add up
    for pid, g in layers.groupby("point_id"):
        t = totals[totals.point_id == pid].iloc[0]
        assert t.energy_pJ == pytest.approx(g.energy_pJ.sum()) and t.cycles == g.cycles.sum()
    comps = [c for c in df.columns if c.startswith("energy_pJ.") and c.count(".") == 1]
    assert np.allclose(ok[comps].sum(axis=1), ok.energy_pJ)
    for lv in ("DRAM", "shared_glb", "ifmap_spad"):
        parts = [c for c in df.columns if c.startswith(f"energy_pJ.{lv}.")]
        assert np.allclose(df.loc[df.status == "ok", parts].sum(axis=1), df.loc[df.status == "ok", f"energy_pJ.{lv}"])
    # a bigger buffer never costs more DRAM traffic here; more bandwidth never more cycles
    small = ok[ok.glb == 1024].set_index("bw")
    assert (small.loc[8, "cycles"] <= small.loc[2, "cycles"])
    pd.testing.assert_frame_equal(_sorted(read_results(out)), _sorted(df))


def test_parallel_equals_serial(grid, tmp_path: Path):
    serial = run_sweep(grid, tmp_path / "a.csv", jobs=1)
    parallel = run_sweep(grid, tmp_path / "b.csv", jobs=2)
    pd.testing.assert_frame_equal(_sorted(serial), _sorted(parallel))


def test_resume_skips_finished_points(grid, tmp_path: Path):
    out = tmp_path / "r.csv"
    first = run_sweep(grid, out, jobs=1, limit=3)
    assert first.attrs["summary"].evaluated == 3 and len(first[first.row == "total"]) == 3
    second = run_sweep(grid, out, jobs=2)
    s = second.attrs["summary"]
    assert (s.skipped, s.evaluated) == (3, 5)
    assert second[second.row == "total"].point_id.is_unique
    assert len(second[second.row == "total"]) == 8
    third = run_sweep(grid, out, jobs=2)
    assert third.attrs["summary"].evaluated == 0
    # failed points are finished too, unless asked to retry them
    again = run_sweep(grid, out, jobs=1, retry_errors=True)
    assert again.attrs["summary"].evaluated == 4
    assert len(again[again.row == "total"]) == 8  # the retried blocks replace the old ones


def test_extended_sweep_reuses_points(make_sweep, tmp_path: Path):
    out = tmp_path / "r.csv"
    run_sweep(make_sweep({"glb": {"path": GLB, "values": [1024]}}), out, jobs=1)
    with pytest.raises(Exception, match="other columns"):
        run_sweep(make_sweep({"glb": {"path": GLB, "values": [1024]}, "bw": {"path": DRAM_BW, "values": [4]}}),
                  out, jobs=1)
    df = run_sweep(make_sweep({"glb": {"path": GLB, "values": [1024, 2048]}}), out, jobs=1)
    assert df.attrs["summary"].skipped == 1 and df.attrs["summary"].evaluated == 1


def test_equal_searches_run_once(make_sweep, tmp_path: Path):
    """Points that differ only in what the mapping does not depend on share one search per layer shape."""
    sweep = make_sweep({"note": {"path": "workload.description", "values": ["a", "b", "c", "d", "e"]},
                        "bw": {"path": DRAM_BW, "values": [2, 8]}})
    out = tmp_path / "r.csv"
    df = run_sweep(sweep, out, jobs=2)
    assert (df[df.row == "total"].status == "ok").all()
    cached = list(mapping_cache_dir(out).glob("*.json"))
    assert len(cached) == 2 * 2  # 2 designs (bw) x 2 layer shapes, not 10 x 2
    by_bw = df[df.row == "total"].groupby("bw")
    assert (by_bw.energy_pJ.nunique() == 1).all()  # the same mapping for every point of a design


def test_parquet_output(grid, tmp_path: Path):
    need("pyarrow")
    out = tmp_path / "r.parquet"
    df = run_sweep(grid, out, jobs=2, limit=5)
    assert out.exists() and len(df[df.row == "total"]) == 5
    df = run_sweep(grid, out, jobs=2)
    stored = pd.read_parquet(out)
    assert len(stored[stored.row == "total"]) == 8 and stored[stored.row == "total"].point_id.is_unique


def test_in_memory_sweep_from_dict(tiny_dir: Path):
    from .conftest import sweep_dict

    df = run_sweep(load := __import__("sbmodel.sweep", fromlist=["load_sweep"]).load_sweep(
        sweep_dict({"bw": {"path": DRAM_BW, "values": [2, 4]}}), base_dir=tiny_dir), jobs=1)
    assert len(df[df.row == "total"]) == 2 and load.name == "<sweep>"


def test_sparse_and_repetition_features_are_parameters(make_sweep, tmp_path: Path):
    from .conftest import ROOT

    sweep = make_sweep({
        "psum_skipping": {"path": "architecture.levels.psum_spad.sparse",
                          "choices": {"on": {"skipping": [{"target": "Outputs", "condition_on": ["Weights", "Inputs"]}]},
                                      "off": None}},
        "style": {"path": "architecture.compute.style.kind", "values": ["mac", "add"]},
    }, architecture=str(ROOT / "arch_specs" / "eyeriss_sparse.yaml"))
    df = run_sweep(sweep, tmp_path / "r.csv", jobs=1)
    t = df[df.row == "total"]
    assert (t.status == "ok").all(), t.error.tolist()
    e = t.set_index(["psum_skipping", "style"])["energy_pJ.psum_spad"]
    assert e[("on", "mac")] < e[("off", "mac")]  # skipping zero partial-sum updates saves energy
    layers = df[df.row == "layer"].set_index(["style", "layer"])
    # the ternary conv needs no multiplier with adders (scale folded); the fp classifier still does
    assert (layers.loc[("add", "conv"), "multiplies"] == 0).all()
    assert (layers.loc[("add", "fc"), "multiplies"] > 0).all()
    assert (layers.loc[("mac", "conv"), "multiplies"] > 0).all()
