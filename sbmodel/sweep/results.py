"""The rows a sweep writes: one per (design point, layer) plus one total row per point.

Columns, in file order:

* ``point_id`` (stable hash of the sweep's inputs and the point's values),
  ``point`` (position in the sweep), ``row`` (``layer`` or ``total``),
  ``status`` (``ok`` or ``error``), ``layer`` (empty on total rows);
* one column per sweep parameter (its value, or the label of a choice);
* ``cycles``, ``energy_pJ``, ``computes`` (effectual), ``algorithmic_computes``,
  ``adds`` and ``multiplies`` (the effectual computes as arithmetic, by the design's
  compute style), ``utilization`` (busy / available compute; totals: cycle-weighted),
  ``dram_words`` (reads + fills + updates at the outermost level);
* ``energy_pJ.<component>`` for the compute unit and each storage level, and
  ``energy_pJ.<level>.<tensor>`` / ``energy_pJ.<level>.leakage`` splitting a
  level's energy (they sum to ``energy_pJ.<level>``);
* ``onchip_bits``, ``compute_units`` and ``area_proxy`` (see :func:`area_proxy`);
* ``seconds`` (wall time of the point, total rows) and ``error`` (failed points).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

from ..core.architecture import Architecture

if TYPE_CHECKING:
    from ..api import NetworkResult

LEAD_COLUMNS = ("point_id", "point", "row", "status", "layer")
METRIC_COLUMNS = ("cycles", "energy_pJ", "computes", "algorithmic_computes", "adds", "multiplies", "utilization",
                  "dram_words")
DESIGN_COLUMNS = ("onchip_bits", "compute_units", "area_proxy")
TAIL_COLUMNS = ("seconds", "error")
TENSORS = ("Weights", "Inputs", "Outputs")
SUMMED = ("cycles", "energy_pJ", "computes", "algorithmic_computes", "adds", "multiplies", "dram_words")


def component_columns(components: Iterable[tuple[str, bool]]) -> list[str]:
    """Energy columns for ``(name, is_storage)`` components, in the given order."""
    out: list[str] = []
    for name, storage in components:
        out.append(f"energy_pJ.{name}")
        if storage:
            out += [f"energy_pJ.{name}.{t}" for t in TENSORS] + [f"energy_pJ.{name}.leakage"]
    return out


def architecture_components(arch: Architecture) -> list[tuple[str, bool]]:
    """Compute unit first, then storage levels from the innermost out; containers left out."""
    return [(arch.compute.name, False)] + [(lv.name, True) for lv in arch.storage if not lv.container_only]


def columns(parameters: Iterable[str], components: Iterable[tuple[str, bool]]) -> list[str]:
    return [*LEAD_COLUMNS, *parameters, *METRIC_COLUMNS, *component_columns(components), *DESIGN_COLUMNS,
            *TAIL_COLUMNS]


def area_proxy(arch: Architecture) -> dict[str, float]:
    """A first-order area proxy in *bit equivalents*: on-chip storage bits (every level
    but DRAM, all instances, metadata storage included) plus, per compute unit, the
    partial-product cells of its multiplier (weight bits x input bits).  Good for
    ranking designs along a Pareto front; not a layout estimate."""
    bits = 0.0
    for lv in arch.storage:
        if lv.container_only or lv.technology == "DRAM" or lv.size_words is None:
            continue
        per = lv.size_words * lv.word_bits + lv.metadata_storage_width_bits * lv.metadata_storage_depth
        bits += per * lv.instances
    ob = arch.compute.operand_bits
    cells = ob.get("Weights", arch.compute.word_bits) * ob.get("Inputs", arch.compute.word_bits)
    units = arch.compute.instances
    return {"onchip_bits": bits, "compute_units": units, "area_proxy": bits + units * cells}


def result_rows(result: "NetworkResult", design: dict[str, float]) -> list[dict[str, Any]]:
    """Layer rows and a total row (``row``/``status`` set; parameters are added by the runner)."""
    rows: list[dict[str, Any]] = []
    for r in result.layers:
        row: dict[str, Any] = {
            "row": "layer", "status": "ok", "layer": r.layer, "cycles": r.cycles, "energy_pJ": r.energy_pJ,
            "computes": r.compute.actual_computes, "algorithmic_computes": r.compute.algorithmic_computes,
            # the repetition stage's split of the effectual computes (compute style mac / add / ucnn)
            "adds": r.compute.adds, "multiplies": r.compute.multiplies,
            "utilization": r.utilization, "dram_words": r.levels[-1].words_moved,
            f"energy_pJ.{r.compute.name}": r.compute.energy_pJ,
        }
        for lv in r.levels:
            if lv.container_only:
                continue
            row[f"energy_pJ.{lv.name}"] = lv.energy_pJ
            for t in TENSORS:
                row[f"energy_pJ.{lv.name}.{t}"] = 0.0
            for t in lv.tensors:
                if t.kept and t.tensor in TENSORS:
                    row[f"energy_pJ.{lv.name}.{t.tensor}"] = t.energy_pJ
            row[f"energy_pJ.{lv.name}.leakage"] = lv.leakage_pJ
        row.update(design)
        rows.append(row)
    total: dict[str, Any] = {"row": "total", "status": "ok", "layer": ""}
    for key in SUMMED:
        total[key] = sum(r[key] for r in rows)
    busy = sum(r["utilization"] * r["cycles"] for r in rows)
    total["utilization"] = busy / total["cycles"] if total["cycles"] else 0.0
    for key in rows[0] if rows else ():
        if key.startswith("energy_pJ."):
            total[key] = sum(r.get(key, 0.0) for r in rows)
    total.update(design)
    rows.append(total)
    return rows


__all__ = ["columns", "result_rows", "area_proxy", "architecture_components", "LEAD_COLUMNS"]
