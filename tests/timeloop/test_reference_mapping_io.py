"""Golden tests of mappings going between sbmodel and Timeloop: printed (``*.map.txt``), read
from a printout, and written as Timeloop mapping directives.

Printing: the loop nest sbmodel prints for a reference run's mapping is the one Timeloop
printed for it (beside the run's stats): the same levels in the same order, the same tensors
kept with the same tile sizes in words, the same non-trivial loops in the same order with the
same spatial axes.  Normalised on both sides: dashed underlines, blank lines and the
``<< Compute >>`` line (older Timeloop versions do not print it) are dropped; loop lines are
compared without their ``|`` and indentation, and Timeloop's factor-1 loops (which sbmodel
leaves out) are dropped; the second tile figure Timeloop prints in parentheses is dropped.

Reading: Timeloop's printout, given as the mapping input, evaluates exactly as the run's own
mapping does; and the ``map_txt_only`` runs, whose mapping exists only as that printout, are
evaluated through the console script against their published figures.

Writing: the directives sbmodel writes for a run's mapping read back as the same mapping
(factor-1 loops in their places too) and evaluate as it does; ``sbmodel timeloop map
--timeloop-mapping`` writes a file that ``sbmodel timeloop run`` reproduces the search's run from.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

import json
import subprocess

from sbmodel.engine import evaluate_layer
from sbmodel.report.mapping import loop_nest
from sbmodel.report.timeloop_json import timeloop_dict
from sbmodel.timeloop import load_timeloop_inputs
from sbmodel.timeloop.map_txt import map_txt_directives
from sbmodel.timeloop.mapping import dump_mapping_directives, parse_mapping
from tests.conftest import require_console_script

from .reference import manifest_ids_where


def _normalised(text: str) -> list[str]:
    out = []
    for line in text.splitlines():
        line = line.rstrip()
        if not line or set(line) <= {"-"} or line.endswith("<< Compute >>"):
            continue
        if line.startswith("|"):
            loop = line.lstrip("| ")
            if "in [0:1)" not in loop:
                out.append(loop)
        else:
            out.append(re.sub(r" \(\d+(\.\d+)?\)", "", line))
    return out


def _map_txt(case: Path, run: dict) -> Path | None:
    """Timeloop's printout of the run's mapping: beside its HEAD stats, else its published ones."""
    for key in ("head_stats", "stats"):
        if run.get(key):
            path = case / str(run[key]).replace(".stats.txt", ".map.txt")
            if path.is_file():
                return path
    return None


def _has_mapping(run: dict) -> bool:
    return run.get("mapping_source") != "map_txt_only"  # those give the mapping only as the printout


@pytest.mark.parametrize("run_id", manifest_ids_where(_has_mapping))
def test_loop_nest_is_timeloops(run_id, reference_dir, timeloop_manifest):
    run = next(r for r in timeloop_manifest["runs"] if r["id"] == run_id)
    case = reference_dir / "timeloop" / run["case"]
    printed = _map_txt(case, run)
    assert printed is not None, f"no map.txt beside {run.get('head_stats') or run['stats']}"
    spec = load_timeloop_inputs([case / p for p in run["inputs"]], ert=case / run["ert"])
    result = evaluate_layer(spec.problem, spec.architecture, spec.mapping, spec.sparse)
    ours = _normalised(loop_nest(result, spec.mapping, spec.architecture))
    assert ours == _normalised(printed.read_text())


@pytest.mark.parametrize("run_id", manifest_ids_where(_has_mapping))
def test_printed_mapping_evaluates_as_the_runs_own(run_id, reference_dir, timeloop_manifest):
    """Read back, Timeloop's printout of a run's mapping gives every figure of the run JSON
    (cycles, energies, every tensor's counts) exactly as the run's own mapping directives."""
    run = next(r for r in timeloop_manifest["runs"] if r["id"] == run_id)
    case = reference_dir / "timeloop" / run["case"]
    spec = load_timeloop_inputs([case / p for p in run["inputs"]], ert=case / run["ert"])
    printed = _map_txt(case, run)
    assert printed is not None
    directives = map_txt_directives(printed, spec.problem, [lv.name for lv in spec.architecture.storage])
    read_back = parse_mapping(directives, spec.problem, spec.architecture, str(printed),
                              spatial_overflow=spec.sparse is not None and spec.sparse.has_spatial_skipping)
    expected = timeloop_dict(evaluate_layer(spec.problem, spec.architecture, spec.mapping, spec.sparse))
    assert timeloop_dict(evaluate_layer(spec.problem, spec.architecture, read_back, spec.sparse)) == expected


@pytest.mark.parametrize("run_id", manifest_ids_where(lambda run: not _has_mapping(run)))
def test_runs_known_only_by_their_printed_mapping(run_id, reference_dir, timeloop_manifest):
    """``sbmodel timeloop run ... timeloop-mapper.map.txt`` on the runs Timeloop's 2025 head was
    not re-run on (no YAML mapping): against their published figures every tensor's reads,
    updates, fills and instances and the computes are equal, except the fills of outputs,
    which the older versions counted before an output's first update (a documented semantic
    change, see README "Validation"); the dense runs' cycles are equal too."""
    run = next(r for r in timeloop_manifest["runs"] if r["id"] == run_id)
    case = reference_dir / "timeloop" / run["case"]
    p = subprocess.run([require_console_script(), "timeloop", "run", "--json", "--ert", str(case / run["ert"]),
                        *[str(case / f) for f in run["inputs"]], str(case / run["map_txt"])],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    got, ref = json.loads(p.stdout), run["reference"]
    assert got["computes"]["actual"] == ref["computes_actual"]
    if run["kind"] == "dense":
        assert got["cycles"] == ref["cycles"]
    levels = {lv["name"]: lv for lv in got["levels"]}
    compared = 0
    for lv in ref["levels"]:
        for tensor, counts in (lv.get("dataspaces") or {}).items():
            for key in ("reads", "fills", "updates", "utilized_instances"):
                if key not in counts or (key == "fills" and tensor == "Outputs"):
                    continue
                compared += 1
                assert levels[lv["name"]]["dataspaces"][tensor][key] == pytest.approx(counts[key], rel=1e-9), \
                    (lv["name"], tensor, key)
    assert compared >= 12


@pytest.mark.parametrize("run_id", manifest_ids_where(_has_mapping))
def test_written_directives_read_back_as_the_runs_mapping(run_id, reference_dir, timeloop_manifest, tmp_path):
    run = next(r for r in timeloop_manifest["runs"] if r["id"] == run_id)
    case = reference_dir / "timeloop" / run["case"]
    spec = load_timeloop_inputs([case / p for p in run["inputs"]], ert=case / run["ert"])
    written = tmp_path / "written.map.yaml"
    written.write_text(dump_mapping_directives(spec.mapping, spec.problem, spec.architecture))
    again = parse_mapping(yaml.safe_load(written.read_text())["mapping"], spec.problem, spec.architecture,
                          str(written), spatial_overflow=spec.sparse is not None and spec.sparse.has_spatial_skipping)
    assert again.levels == spec.mapping.levels
    assert [(lv.temporal_order, lv.spatial_order) for lv in again.levels] == \
        [(lv.temporal_order, lv.spatial_order) for lv in spec.mapping.levels]
    assert timeloop_dict(evaluate_layer(spec.problem, spec.architecture, again, spec.sparse)) == \
        timeloop_dict(evaluate_layer(spec.problem, spec.architecture, spec.mapping, spec.sparse))


def test_mapping_found_by_the_search_runs_again_from_the_written_directives(reference_dir, tmp_path):
    folder = reference_dir / "timeloop" / "case_v4_design_eyeriss_like" / "ref_outputs" / "default_problem"
    ert, inputs = str(folder / "timeloop-mapper.ERT.yaml"), str(folder / "parsed-processed-input.yaml")
    written = tmp_path / "found.map.yaml"
    script = require_console_script()
    found = subprocess.run([script, "timeloop", "map", "--json", "--ert", ert, inputs, "--budget", "3000",
                            "--timeloop-mapping", str(written)], capture_output=True, text=True, timeout=300)
    assert found.returncode == 0, found.stderr
    again = subprocess.run([script, "timeloop", "run", "--json", "--ert", ert, inputs, str(written)],
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    searched = json.loads(found.stdout)
    searched.pop("mapping")
    assert json.loads(again.stdout) == searched
    assert written.read_text().startswith("mapping:\n- target: psum_spad\n  type: datatype\n")


def test_timeloop_mapping_into_a_missing_folder_is_refused_before_the_search(reference_dir, tmp_path):
    folder = reference_dir / "timeloop" / "case_v4_design_eyeriss_like" / "ref_outputs" / "default_problem"
    target = tmp_path / "no_such_folder" / "found.map.yaml"
    p = subprocess.run([require_console_script(), "timeloop", "map", "--ert", str(folder / "timeloop-mapper.ERT.yaml"),
                        str(folder / "parsed-processed-input.yaml"), str(tmp_path / "no_such_constraints.yaml"),
                        "--timeloop-mapping", str(target)],
                       capture_output=True, text=True, timeout=300)  # a missing input: the error had it been read
    assert p.returncode == 2 and p.stdout == ""  # no search summary printed: it never ran
    assert "does not exist" in p.stderr and p.stderr.strip().count("\n") == 0
