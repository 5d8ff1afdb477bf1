"""Golden test: the loop nest sbmodel prints for a reference run's mapping is the one Timeloop
printed for it (``*.map.txt`` beside the run's stats): the same levels in the same order, the
same tensors kept with the same tile sizes in words, the same non-trivial loops in the same
order with the same spatial axes.

Normalised on both sides: dashed underlines, blank lines and the ``<< Compute >>`` line
(older Timeloop versions do not print it) are dropped; loop lines are compared without their
``|`` and indentation, and Timeloop's factor-1 loops (which sbmodel leaves out) are dropped;
the second tile figure Timeloop prints in parentheses is dropped.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sbmodel.engine import evaluate_layer
from sbmodel.report.mapping import loop_nest
from sbmodel.timeloop import load_timeloop_inputs

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
