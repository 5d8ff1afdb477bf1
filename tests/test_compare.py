"""`sbmodel compare`: the API on the trained digits workloads, and the real console script."""

import json
import subprocess
from functools import partial

import pytest

from sbmodel.compare import compare, weight_density
from sbmodel.errors import SbmodelError
from sbmodel.mapper import find_mapping
from sbmodel.spec import load_workload

from .conftest import ROOT, require_console_script

SPARSE = str(ROOT / "arch_specs/eyeriss_sparse.yaml")
DIGITS = [str(ROOT / f"workloads/digits_{s}.yaml") for s in ("binary", "ternary", "sb")]
QUICK = partial(find_mapping, budget=400)


@pytest.fixture(scope="module")
def digits_on_sparse():
    return compare([SPARSE], DIGITS, mapper=QUICK)


def test_rows_ratios_and_baseline(digits_on_sparse):
    df = digits_on_sparse.frame().set_index("workload")
    assert list(df.index) == ["digits_binary", "digits_ternary", "digits_sb"]
    assert digits_on_sparse.baseline == ("eyeriss_sparse", "digits_binary")
    base = df.loc["digits_binary"]
    for column in ("energy_vs_baseline", "cycles_vs_baseline", "edp_vs_baseline", "speedup_vs_baseline"):
        assert base[column] == pytest.approx(1.0)
    sb = df.loc["digits_sb"]
    assert sb["energy_vs_baseline"] == pytest.approx(sb["energy_pJ"] / base["energy_pJ"])
    assert sb["edp_pJ_cycles"] == pytest.approx(sb["energy_pJ"] * sb["cycles"])
    assert sb["energy_efficiency_vs_baseline"] == pytest.approx(1 / sb["energy_vs_baseline"])


def test_densities_come_from_the_workload_statistics(digits_on_sparse):
    df = digits_on_sparse.frame().set_index("workload")
    for path in DIGITS:
        wl = load_workload(path)
        assert df.loc[wl.name, "weight_density"] == pytest.approx(weight_density(wl)[0])
    # the repetition-sparsity trade-off: signed-binary keeps fewer nonzeros than ternary, binary all
    assert df.loc["digits_sb", "weight_density"] < df.loc["digits_ternary", "weight_density"] < 1.0
    assert df.loc["digits_binary", "quantised_weight_density"] == 1.0


def test_sparse_design_turns_fewer_nonzeros_into_less_work_and_energy(digits_on_sparse):
    df = digits_on_sparse.frame().set_index("workload")
    assert df.loc["digits_sb", "effectual_macs"] < df.loc["digits_ternary", "effectual_macs"] \
        < df.loc["digits_binary", "effectual_macs"]
    assert df.loc["digits_sb", "energy_pJ"] < df.loc["digits_ternary", "energy_pJ"] < df.loc["digits_binary", "energy_pJ"]
    assert df.loc["digits_sb", "dram_traffic_bits"] < df.loc["digits_binary", "dram_traffic_bits"]


def test_breakdown_figure_has_one_bar_per_pair(digits_on_sparse, tmp_path):
    from sbmodel.report.plots import save_figure

    fig = digits_on_sparse.figure()
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["digits_binary", "digits_ternary", "digits_sb"]
    assert "energy" in ax.get_ylabel()
    written = save_figure(fig, tmp_path / "cmp.pdf")
    assert [p.suffix for p in written] == [".pdf", ".png"] and all(p.stat().st_size > 0 for p in written)


def test_baseline_by_name_and_errors(digits_on_sparse):
    from sbmodel.compare import Comparison, _baseline

    results = digits_on_sparse.results
    pairs = [(r.architecture.name, r.workload.name) for r in results]
    assert _baseline(pairs, "digits_sb") == ("eyeriss_sparse", "digits_sb")
    assert _baseline(pairs, "eyeriss_sparse/digits_ternary") == ("eyeriss_sparse", "digits_ternary")
    assert _baseline(pairs, "workloads/digits_ternary.yaml") == ("eyeriss_sparse", "digits_ternary")
    with pytest.raises(SbmodelError, match="baseline 'resnet18_sb' is none of the compared pairs"):
        _baseline(pairs, "resnet18_sb")
    # with several designs a bare workload is ambiguous and DESIGN/WORKLOAD picks one
    two = pairs + [("ucnn_like", w) for _, w in pairs]
    assert _baseline(two, "ucnn_like/digits_sb") == ("ucnn_like", "digits_sb")
    assert _baseline(two, "eyeriss_sparse/workloads/digits_sb.yaml") == ("eyeriss_sparse", "digits_sb")
    with pytest.raises(SbmodelError, match="several designs; give DESIGN/WORKLOAD"):
        _baseline(two, "digits_sb")
    df = Comparison(results, ("eyeriss_sparse", "digits_sb")).frame().set_index("workload")
    assert df.loc["digits_sb", "energy_vs_baseline"] == pytest.approx(1.0)
    assert df.loc["digits_binary", "energy_vs_baseline"] > 1.0


def test_cli_compare_json_and_plot(tmp_path):
    exe = require_console_script()
    out = tmp_path / "cmp.json"
    proc = subprocess.run([exe, "compare", SPARSE, DIGITS[0], DIGITS[2], "--budget", "300", "--format", "json",
                           "--output", str(out), "--plot", str(tmp_path / "cmp.svg")],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    assert doc["baseline"] == {"design": "eyeriss_sparse", "workload": "digits_binary"}
    assert [r["workload"] for r in doc["rows"]] == ["digits_binary", "digits_sb"]
    assert doc["rows"][1]["energy_vs_baseline"] < 1.0
    assert set(doc["provenance"]) == {"digits_binary", "digits_sb"}
    assert (tmp_path / "cmp.svg").stat().st_size > 0 and (tmp_path / "cmp.png").stat().st_size > 0


@pytest.mark.parametrize("args, message", [
    (["compare", SPARSE], "compare needs at least one workload file"),
    (["compare", DIGITS[0]], "compare needs at least one architecture file"),
    (["compare", SPARSE, str(ROOT / "mappings/eyeriss_like_v4_default.yaml")], "neither an architecture nor a workload"),
    (["compare", SPARSE, DIGITS[0], "--baseline", "nope", "--budget", "50"], "baseline 'nope' is none of"),
    (["compare", SPARSE, str(ROOT / "missing.yaml")], "missing.yaml"),
])
def test_cli_compare_bad_input_is_one_line_exit_2(args, message):
    exe = require_console_script()
    proc = subprocess.run([exe, *args], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr
