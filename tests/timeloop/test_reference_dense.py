"""Golden test: every dense Timeloop reference run, against Timeloop HEAD's figures.

Cycles and computes exact, per-tensor reads/fills/updates exact, energy (total and
per level) within 0.1%.  Reference data is read from ../shared/reference (or
SBMODEL_REFERENCE_DIR), never copied here.
"""

import pytest

from .reference import level_energy_error, manifest_ids, run_case, runnable


@pytest.mark.parametrize("run_id", manifest_ids("dense"))
def test_dense_run_matches_timeloop(run_id, reference_dir, timeloop_manifest):
    run = next(r for r in timeloop_manifest["runs"] if r["id"] == run_id)
    ref = run["reference_head"]
    got = run_case(reference_dir, run)
    assert got["cycles"] == ref["cycles"]
    assert got["computes"]["actual"] == ref["computes_actual"]
    assert got["energy_pJ"] == pytest.approx(ref["energy_pJ"], rel=1e-3)
    levels = {lv["name"]: lv for lv in got["levels"]}
    for lv in ref["levels"]:
        mine = levels[lv["name"]]
        assert level_energy_error(mine["energy_pJ"], lv, ref["energy_pJ"]) <= 1e-3, lv["name"]
        for ds, d in lv["dataspaces"].items():
            g = mine["dataspaces"][ds]
            for key in ("reads", "fills", "updates", "utilized_instances"):
                assert g[key] == pytest.approx(d[key], rel=1e-9, abs=1e-9), (lv["name"], ds, key)
    compute = ref["compute"]
    assert levels[compute["name"]]["energy_pJ"] == pytest.approx(compute["energy_pJ"], rel=1e-9)


def test_reference_selection_is_not_empty(timeloop_manifest):
    assert len(runnable(timeloop_manifest, "dense")) >= 30
