"""Helpers to run reference cases in-process and compare with the manifest figures."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable

from sbmodel.engine import evaluate_layer
from sbmodel.report.timeloop_json import timeloop_dict
from sbmodel.timeloop import load_timeloop_inputs


def runnable(manifest: dict, kind: str) -> list[dict]:
    return [r for r in manifest["runs"]
            if r["kind"] == kind and r.get("mapping_source") != "map_txt_only"
            and str(r.get("head_status", "ok")).strip() == "ok" and "reference_head" in r]


def manifest_ids(kind: str) -> list[str]:
    """Ids of the runnable reference runs of one kind (for parametrize; a placeholder without data)."""
    return manifest_ids_where(lambda run: run in runnable({"runs": [run]}, kind))


def manifest_ids_where(keep: Callable[[dict], bool]) -> list[str]:
    """Ids of the reference runs ``keep`` selects (for parametrize; a placeholder without data,
    which the ``reference_dir`` fixture then skips, or fails under CI)."""
    import yaml

    from tests.conftest import reference_root

    path = reference_root() / "timeloop" / "manifest.yaml"
    if not path.is_file():
        return ["<no reference data>"]
    with open(path) as fh:
        man = yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return [r["id"] for r in man["runs"] if keep(r)]


def run_case(root: Path, run: dict) -> dict[str, Any]:
    case = root / "timeloop" / run["case"]
    spec = load_timeloop_inputs([case / p for p in run["inputs"]], ert=case / run["ert"])
    assert spec.mapping is not None
    return timeloop_dict(evaluate_layer(spec.problem, spec.architecture, spec.mapping, spec.sparse))


def level_energy_error(got: float, ref: dict, total: float) -> float:
    """Relative error of a level's energy, forgiving the reference's printed-leakage rounding."""
    slack = float(ref.get("leakage_precision_pJ", 0.0)) if ref.get("leakage_pJ") else 0.0
    den = max(abs(ref["energy_pJ"]), 1e-6 * abs(total))
    err = max(0.0, abs(got - ref["energy_pJ"]) - slack)
    return err / den if den else (0.0 if err == 0 else math.inf)
