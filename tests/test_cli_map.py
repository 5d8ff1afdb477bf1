"""``sbmodel timeloop map`` through the real console script: the run JSON of the best mapping,
Timeloop's map-space constraints honoured, clear one-line errors."""

import json
import subprocess

import pytest

from tests.conftest import require_console_script


def run(*args, timeout=120):
    return subprocess.run([require_console_script(), *args], capture_output=True, text=True, timeout=timeout)


def v4_mapper_inputs(reference_dir, case, sub="ref-output"):
    """The v0.4 mapper run's processed inputs (its found mapping left out) and its ERT."""
    folder = reference_dir / "timeloop" / case / sub
    return str(folder / "timeloop-mapper.ERT.yaml"), str(folder / "parsed-processed-input.yaml")


def test_map_prints_the_run_contract_and_beats_timeloop_on_a_free_space(reference_dir):
    ert, inputs = v4_mapper_inputs(reference_dir, "case_v4_ispass20_05-mapper-conv1d_oc-3level", "ref-output/null")
    p = run("timeloop", "map", "--json", "--ert", ert, inputs)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert set(out) >= {"cycles", "energy_pJ", "computes", "levels"}
    assert out["computes"]["actual"] == 32 * 3 * 16
    # Timeloop's mapper (random search) found 361759 pJ x 1536 cycles on this unconstrained space
    assert out["energy_pJ"] * out["cycles"] < 361759.48 * 1536
    # the mapping found comes along: levels outermost first, its factors cover K32 R3 P16
    assert [lv["level"] for lv in out["mapping"]] == ["MainMemory", "GlobalBuffer", "RegisterFile"]
    covered = {}
    for lv in out["mapping"]:
        for loop in lv["temporal"] + [lp for axis in lv["spatial"].values() for lp in axis]:
            covered[loop["dim"]] = covered.get(loop["dim"], 1) * loop["factor"]
    assert covered == {"K": 32, "R": 3, "P": 16}


def test_fully_constrained_space_gives_timeloops_mapping(reference_dir):
    """The "baked" constraints leave one mapping: ours is Timeloop's (figures of its model run)."""
    ert, inputs = v4_mapper_inputs(reference_dir, "case_v4_ispass20_05-mapper-conv1d_oc-3level", "ref-output/baked")
    p = run("timeloop", "map", "--json", "--ert", ert, inputs)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["cycles"] == 1536
    assert out["energy_pJ"] == pytest.approx(49352.4619, rel=1e-5)


def test_text_output_shows_the_mapping_and_search(reference_dir):
    ert, inputs = v4_mapper_inputs(reference_dir, "case_v4_ispass20_05-mapper-conv1d_oc-3level",
                                   "ref-output/freebypass")
    p = run("timeloop", "map", "--ert", ert, inputs, "--objective", "energy", "--budget", "500", "--seed", "3")
    assert p.returncode == 0, p.stderr
    assert "exhaustive" in p.stdout and "mappings:" in p.stdout and "objective energy" in p.stdout
    nest = p.stdout[p.stdout.index("\nMainMemory [ "):p.stdout.index("<< Compute >>")]  # the loop nest
    assert nest.index("GlobalBuffer [") < nest.index("RegisterFile [")


@pytest.mark.parametrize("extra, message", [
    (["--budget", "0"], "--budget must be at least 1"),
    (["--objective", "area"], "unknown objective"),
    (["--restarts", "-1"], "--restarts must be 0 or more"),
])
def test_bad_options_are_one_clear_line(reference_dir, extra, message):
    ert, inputs = v4_mapper_inputs(reference_dir, "case_v4_ispass20_05-mapper-conv1d_oc-3level", "ref-output/null")
    p = run("timeloop", "map", "--json", "--ert", ert, inputs, *extra)
    assert p.returncode == 2
    assert p.stderr.strip().count("\n") == 0 and message in p.stderr and "Traceback" not in p.stderr


def test_bad_constraint_file_is_one_clear_line(reference_dir, tmp_path):
    ert, inputs = v4_mapper_inputs(reference_dir, "case_v4_ispass20_05-mapper-conv1d_oc-3level", "ref-output/null")
    bad = tmp_path / "constraints.yaml"
    bad.write_text("architecture_constraints:\n  targets:\n  - target: GlobalBuffer\n    type: temporal\n"
                   "    factors: K=3\n")
    p = run("timeloop", "map", "--json", "--ert", ert, inputs, str(bad))
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "does not divide" in p.stderr and p.stderr.strip().count("\n") == 0


def test_evaluate_with_restarts_is_never_worse_than_one_descent():
    """``--restarts`` through the console script: the best of two descents, the first of which is
    the plain search, so its energy-delay product is at most the plain one's."""
    from tests.conftest import ROOT

    def edp(*extra):
        p = run("evaluate", str(ROOT / "arch_specs/simple_ws.yaml"), str(ROOT / "workloads/resnet18.yaml"),
                "--layers", "layer3.0.downsample.0", "--budget", "4000", "--format", "json", *extra)
        assert p.returncode == 0, p.stderr
        totals = json.loads(p.stdout)["totals"]
        return totals["energy_pJ"] * totals["cycles"]

    assert edp("--restarts", "1") <= edp()


def test_imperfect_mappings_written_by_map_evaluate_to_the_same_figures(tmp_path):
    """``sbmodel map --imperfect -o`` writes residual loops in the mapping format; evaluating that
    file gives the searched figures again, below the perfect search's EDP on ResNet-18's
    classifier (M=1000 on a 16 x 16 array).  On a design with compressed formats the option is
    one clear line."""
    from tests.conftest import ROOT

    arch, work = str(ROOT / "arch_specs/simple_os.yaml"), str(ROOT / "workloads/resnet18.yaml")
    out = tmp_path / "fc.yaml"
    p = run("map", arch, work, "--layers", "fc", "--budget", "4000", "--imperfect", "-o", str(out))
    assert p.returncode == 0, p.stderr
    assert "residual:" in out.read_text()

    def totals(*extra):
        q = run("evaluate", arch, work, "--layers", "fc", "--budget", "4000", "--format", "json", *extra)
        assert q.returncode == 0, q.stderr
        t = json.loads(q.stdout)["totals"]
        return t["energy_pJ"], t["cycles"]

    given, searched, perfect = totals("--mapping", str(out)), totals("--imperfect"), totals()
    assert given == searched
    assert searched[0] * searched[1] < 0.8 * perfect[0] * perfect[1]
    p = run("evaluate", str(ROOT / "arch_specs/eyeriss_sparse.yaml"), str(ROOT / "workloads/resnet18_sb.yaml"),
            "--layers", "fc", "--imperfect")
    assert p.returncode == 2 and "compressed" in p.stderr and p.stderr.strip().count("\n") == 0
