"""Reports of a whole workload: terminal table, JSON (DESIGN.md section 3) and CSV."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from ..api import NetworkResult
from ..engine.results import LayerResult


def _outermost_traffic_words(r: LayerResult) -> float:
    """Words moved at the outermost level (e.g. DRAM): reads + fills + updates over instances."""
    top = r.levels[-1]
    return sum((t.reads + t.fills + t.updates) * t.utilized_instances for t in top.tensors if t.kept)


def _layer_dict(r: LayerResult, source: str) -> dict[str, Any]:
    levels = []
    for lv in r.levels:
        if lv.container_only and lv.energy_pJ == 0:
            continue
        levels.append({
            "name": lv.name, "energy_pJ": lv.energy_pJ, "leakage_pJ": lv.leakage_pJ, "cycles": lv.cycles,
            "utilized_instances": lv.utilized_instances,
            "tensors": {
                t.tensor: {"reads": t.reads, "fills": t.fills, "updates": t.updates,
                           "energy_pJ": t.energy_pJ, "tile_size_words": t.tile_size_words,
                           "actions": dict(t.actions)}
                for t in lv.tensors if t.kept
            },
        })
    return {
        "name": r.layer, "energy_pJ": r.energy_pJ, "cycles": r.cycles,
        "computes": r.compute.actual_computes, "algorithmic_computes": r.compute.algorithmic_computes,
        "utilization": r.utilization, "compute_energy_pJ": r.compute.energy_pJ,
        "compute_actions": dict(r.compute.actions),
        "outermost_traffic_words": _outermost_traffic_words(r),
        "mapping_source": source, "levels": levels,
    }


def network_dict(result: NetworkResult) -> dict[str, Any]:
    totals = result.totals()
    energy_by_component: dict[str, float] = {}
    for r in result.layers:
        energy_by_component[r.compute.name] = energy_by_component.get(r.compute.name, 0.0) + r.compute.energy_pJ
        for lv in r.levels:
            if lv.energy_pJ:
                energy_by_component[lv.name] = energy_by_component.get(lv.name, 0.0) + lv.energy_pJ
    return {
        "architecture": result.architecture.name,
        "workload": result.workload.name,
        "totals": {"energy_pJ": totals["energy_pJ"], "cycles": int(totals["cycles"]),
                   "computes": totals["computes"], "algorithmic_computes": totals["algorithmic_computes"],
                   "energy_by_component_pJ": energy_by_component},
        "layers": [_layer_dict(r, s) for r, s in zip(result.layers, result.mapping_sources)],
        "provenance": result.provenance.model_dump(exclude_none=True),
    }


def to_json(result: NetworkResult) -> str:
    return json.dumps(network_dict(result), indent=1)


def to_csv(result: NetworkResult) -> str:
    """One row per layer with totals per level; a final TOTAL row."""
    level_names = [lv.name for lv in result.architecture.storage if not lv.container_only]
    header = ["layer", "computes", "cycles", "utilization", "energy_pJ", "compute_energy_pJ"] + \
        [f"{n}_energy_pJ" for n in level_names] + ["outermost_traffic_words"]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    for r in result.layers:
        per = {lv.name: lv.energy_pJ for lv in r.levels}
        w.writerow([r.layer, r.compute.actual_computes, r.cycles, f"{r.utilization:.6g}", repr(r.energy_pJ),
                    repr(r.compute.energy_pJ)] + [repr(per[n]) for n in level_names] +
                   [repr(_outermost_traffic_words(r))])
    t = result.totals()
    w.writerow(["TOTAL", t["computes"], t["cycles"], "", repr(t["energy_pJ"]),
                repr(sum(r.compute.energy_pJ for r in result.layers))] +
               [repr(sum(lv.energy_pJ for r in result.layers for lv in r.levels if lv.name == n))
                for n in level_names] + [repr(sum(_outermost_traffic_words(r) for r in result.layers))])
    return buf.getvalue()


def _fmt_energy(pj: float) -> str:
    for unit, scale in (("J", 1e12), ("mJ", 1e9), ("uJ", 1e6), ("nJ", 1e3)):
        if abs(pj) >= scale:
            return f"{pj / scale:.3f} {unit}"
    return f"{pj:.3f} pJ"


def to_table(result: NetworkResult) -> str:
    """A report a person can read in a terminal."""
    out: list[str] = []
    p = result.provenance
    out.append(f"sbmodel: {result.workload.name} on {result.architecture.name}")
    out.append(f"workload provenance: {p.method} -- {p.source.splitlines()[0][:110]}")
    if p.citation:
        out.append(f"  citation: {p.citation[:110]}")
    out.append("")
    levels = [lv.name for lv in result.architecture.storage[::-1] if not lv.container_only]
    name_w = max(8, max(len(r.layer) for r in result.layers) + 1)
    head = f"{'layer':<{name_w}} {'MACs':>12} {'cycles':>12} {'util':>6} {'energy':>12} {'pJ/MAC':>8}"
    out.append(head)
    out.append("-" * len(head))
    for r in result.layers:
        macs = r.compute.actual_computes
        out.append(f"{r.layer:<{name_w}} {macs:>12,.0f} {r.cycles:>12,} {100 * r.utilization:>5.1f}% "
                   f"{_fmt_energy(r.energy_pJ):>12} {r.energy_pJ / max(macs, 1):>8.3f}")
    t = result.totals()
    out.append("-" * len(head))
    out.append(f"{'total':<{name_w}} {t['computes']:>12,.0f} {int(t['cycles']):>12,} {'':>6} "
               f"{_fmt_energy(t['energy_pJ']):>12} {t['energy_pJ'] / max(t['computes'], 1):>8.3f}")
    out.append("")
    out.append("energy by component (all layers)")
    comp = {result.architecture.compute.name: sum(r.compute.energy_pJ for r in result.layers)}
    for n in levels:
        comp[n] = sum(lv.energy_pJ for r in result.layers for lv in r.levels if lv.name == n)
    total = sum(comp.values()) or 1.0
    for n, e in comp.items():
        out.append(f"  {n:<24} {_fmt_energy(e):>12} {100 * e / total:>6.1f}%")
    out.append("")
    out.append("traffic by level (words, all layers: reads / fills / updates)")
    for n in levels:
        r_, f_, u_ = 0.0, 0.0, 0.0
        for r in result.layers:
            for lv in r.levels:
                if lv.name != n:
                    continue
                for tt in lv.tensors:
                    if tt.kept:
                        r_ += tt.reads * tt.utilized_instances
                        f_ += tt.fills * tt.utilized_instances
                        u_ += tt.updates * tt.utilized_instances
        out.append(f"  {n:<24} {r_:>16,.0f} {f_:>16,.0f} {u_:>16,.0f}")
    sources = sorted(set(result.mapping_sources))
    out.append("")
    out.append(f"mappings: {', '.join(sources)}")
    return "\n".join(out)
