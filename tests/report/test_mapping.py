"""How a layer's mapping is reported: the loop nest (``--loop-nests``) and the JSON form."""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml

from sbmodel.api import evaluate
from sbmodel.report.mapping import loop_nest, mapping_dict
from sbmodel.spec import load_architecture, load_mappings, load_workload
from sbmodel.spec.mapping import dump_mappings
from tests.conftest import ROOT, require_console_script

SIMPLE_WS = ROOT / "arch_specs" / "simple_ws.yaml"
V4 = ROOT / "workloads" / "v4_default_problem.yaml"


def residual_simple_ws_mapping(tmp_path):
    """Timeloop's simple_ws mapping of the v4 default problem with its DRAM loop Q14 made
    imperfect: Q15 whose last iteration runs to 14 (Q: (14 * 2 + 1) * 4 + 3 + 1 = 112 points)."""
    text = (ROOT / "mappings" / "simple_ws_v4_default.yaml").read_text()
    path = tmp_path / "residual.yaml"
    path.write_text(text.replace("temporal: [Q14]", "temporal: [{dim: Q, factor: 15, residual: 14}]"))
    return path


def test_loop_nest_of_a_hand_checked_mapping(tmp_path):
    """Tiles by hand (C3 M32 R3 S3 P112 Q112, stride 2): DRAM holds whole tensors (Inputs 3 x 225
    x 225); the buffer's tile spans M32 C3 R3 S3 P112 Q8 (Inputs 3 x 225 x 17); the scratchpad's
    weights R3; each register one word.  Levels outermost first, one indent per enclosing loop,
    spatial loops marked, factor-1 loops left out, the residual loop's last iteration shown."""
    result = evaluate(SIMPLE_WS, V4, residual_simple_ws_mapping(tmp_path))
    text = loop_nest(result.layers[0], result.mappings[0], result.architecture)
    assert text.splitlines() == [
        "DRAM [ Weights:864 Inputs:151875 Outputs:401408 ]",
        "-------------------------------------------------",
        "| for Q in [0:15/14)",
        "",
        "shared_glb [ Weights:864 Inputs:11475 Outputs:28672 ]",
        "-----------------------------------------------------",
        "|   for S in [0:3)",
        "|     for P in [0:2)",
        "|       for M in [0:8)",
        "",
        "inter_PE_spatial [ ]",
        "--------------------",
        "|         for M in [0:4) (Spatial-Y)",
        "|           for C in [0:3) (Spatial-Y)",
        "",
        "pe_spad [ Weights:3 ]",
        "---------------------",
        "|             for R in [0:3)",
        "|               for Q in [0:2)",
        "|                 for P in [0:2)",
        "",
        "weight_reg [ Weights:1 ]",
        "------------------------",
        "|                   for P in [0:28)",
        "|                     for Q in [0:4)",
        "",
        "input_activation_reg [ Inputs:1 ]",
        "---------------------------------",
        "",
        "output_activation_reg [ Outputs:1 ]",
        "-----------------------------------",
        "",
        "|                       << Compute >>",
    ]


def test_mapping_json_reads_back_as_the_same_mapping(tmp_path):
    """The JSON form is a mapping file's ``levels``: written back as a file, it loads to the
    mapping that was evaluated (residual loop included)."""
    result = evaluate(SIMPLE_WS, V4, residual_simple_ws_mapping(tmp_path))
    problem, mapping, arch = result.layers[0].counts.problem, result.mappings[0], result.architecture
    levels = mapping_dict(mapping, arch, problem)
    assert levels[0]["temporal"] == [{"dim": "Q", "factor": 15, "residual": 14}]
    assert levels[2] == {"level": "inter_PE_spatial", "temporal": [],
                         "spatial": {"Y": [{"dim": "M", "factor": 4}, {"dim": "C", "factor": 3}]}}
    again = tmp_path / "again.yaml"
    again.write_text(yaml.safe_dump({"architecture": arch.name,
                                     "mappings": [{"layer": problem.name, "levels": levels}]}))
    reread = load_mappings(again, arch, [problem])[problem.name]
    assert dump_mappings([(problem, reread)], arch) == dump_mappings([(problem, mapping)], arch)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([require_console_script(), "evaluate", *args], capture_output=True, text=True, timeout=300)


def test_evaluate_loop_nests_through_the_console_script():
    """``--loop-nests`` prints every layer's nest after the table, with the mapping's source."""
    p = run(str(ROOT / "arch_specs" / "eyeriss_sparse.yaml"), str(ROOT / "workloads" / "resnet18_sb.yaml"),
            "--mapping", str(ROOT / "mappings" / "eyeriss_sparse_resnet18_sb.yaml"), "--loop-nests",
            "--layers", "conv1", "fc")
    assert p.returncode == 0, p.stderr
    table, _, nests = p.stdout.partition("\nloop nests ")
    assert table.rstrip().endswith("mappings: " + str(ROOT / "mappings" / "eyeriss_sparse_resnet18_sb.yaml"))
    assert [line for line in nests.splitlines() if line.startswith("layer ")] == [
        f"layer {name} (mapping: {ROOT / 'mappings' / 'eyeriss_sparse_resnet18_sb.yaml'})" for name in ("conv1", "fc")]
    assert nests.count("<< Compute >>") == 2 and nests.count("\nDRAM [ Weights:") == 2


def test_json_carries_each_layers_mapping_and_a_mapping_file_fits_any_subset_of_layers():
    """A mapping file for the whole network with ``--layers``: the chosen layers take their
    mappings from it (it used to be refused: its other layers were unknown to the subset)."""
    mappings = ROOT / "mappings" / "eyeriss_sparse_resnet18_sb.yaml"
    arch = load_architecture(ROOT / "arch_specs" / "eyeriss_sparse.yaml")
    problems = load_workload(ROOT / "workloads" / "resnet18_sb.yaml").problems()
    pinned = load_mappings(mappings, arch, problems)
    p = run(str(ROOT / "arch_specs" / "eyeriss_sparse.yaml"), str(ROOT / "workloads" / "resnet18_sb.yaml"),
            "--mapping", str(mappings), "--layers", "layer2.0.conv1", "--format", "json")
    assert p.returncode == 0, p.stderr
    (layer,) = json.loads(p.stdout)["layers"]
    problem = next(q for q in problems if q.name == layer["name"])
    assert layer["mapping_source"] == str(mappings)
    assert layer["mapping"] == mapping_dict(pinned[problem.name], arch, problem)
    assert layer["mapping"][0]["level"] == "DRAM"  # outermost first


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_loop_nests_with_another_format_is_one_clear_line(fmt):
    p = run(str(SIMPLE_WS), str(V4), "--format", fmt, "--loop-nests")
    assert p.returncode == 2
    assert p.stderr.strip().count("\n") == 0 and "--loop-nests prints after the table" in p.stderr
    assert "Traceback" not in p.stderr and p.stdout == ""


@pytest.mark.parametrize("command", [
    ["evaluate", str(SIMPLE_WS), "{workload}", "--output", "{missing}/report.txt"],
    ["map", str(SIMPLE_WS), "{workload}", "-o", "{missing}/mappings.yaml"],
])
def test_an_output_into_a_missing_folder_is_refused_before_any_work(tmp_path, command):
    """The workload does not exist either: had the work started, that would be the error."""
    missing = tmp_path / "no_such_folder"
    command = [c.replace("{workload}", str(tmp_path / "no_such_workload.yaml")) for c in command]
    p = subprocess.run([require_console_script(), *[c.format(missing=missing) for c in command]],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.strip() == f"sbmodel: error: cannot write {missing}/{command[-1].split('/')[-1]}: " \
                               f"folder {missing} does not exist"
