"""The ``sbmodel timeloop run`` command through the real console script."""

import json
import subprocess

import pytest

from tests.conftest import require_console_script


def run(*args):
    return subprocess.run([require_console_script(), *args], capture_output=True, text=True, timeout=120)


def test_help_on_every_subcommand():
    for args in (["--help"], ["timeloop", "--help"], ["timeloop", "run", "--help"], ["timeloop", "map", "--help"]):
        p = run(*args)
        assert p.returncode == 0 and "usage" in p.stdout.lower()


def test_json_contract(reference_dir):
    case = reference_dir / "timeloop" / "case_ispass20_04_conv1d_oc_3levelspatial"
    p = run("timeloop", "run", "--json", "--ert", str(case / "ref-output/cp/timeloop-model.ERT.yaml"),
            str(case / "arch/3levelspatial.arch.yaml"), str(case / "map/conv1d+oc+ic-3levelspatial-cp-ws.map.yaml"),
            str(case / "prob/conv1d+oc+ic.prob.yaml"))
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert set(out) >= {"cycles", "energy_pJ", "computes", "levels"}
    assert out["cycles"] == 3072 and out["computes"] == {"actual": 49152, "algorithmic": 49152}
    names = [lv["name"] for lv in out["levels"]]
    assert names == ["RegisterFile", "GlobalBuffer", "MainMemory", "MACC"]
    rf = out["levels"][0]["dataspaces"]["Inputs"]
    assert (rf["utilized_instances"], rf["reads"], rf["fills"], rf["updates"]) == (16, 3072, 1152, 0)
    assert rf["energy_pJ"] == pytest.approx(28385.28)


def test_bad_input_is_one_clear_line(tmp_path):
    bad = tmp_path / "arch.yaml"
    bad.write_text("architecture:\n  subtree: [\n")
    p = run("timeloop", "run", "--json", str(bad))
    assert p.returncode == 2
    assert "Traceback" not in p.stderr
    assert str(bad) in p.stderr and "invalid YAML" in p.stderr


def test_missing_file(tmp_path):
    p = run("timeloop", "run", str(tmp_path / "nope.yaml"))
    assert p.returncode == 2 and "file not found" in p.stderr and "Traceback" not in p.stderr
