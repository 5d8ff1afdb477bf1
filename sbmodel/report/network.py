"""Reports of a whole workload: terminal table, JSON (DESIGN.md section 3) and CSV."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from ..api import NetworkResult
from ..core.architecture import Architecture
from ..core.mapping import Mapping
from ..engine.counts import TensorCounts
from ..engine.results import LayerResult
from .mapping import loop_nest, mapping_dict
from .timeloop_json import sparse_fields


def _tensor_counts(r: LayerResult, level_index: int, tensor: str) -> TensorCounts:
    return next(t for t in r.counts.levels[level_index].tensors if t.tensor == tensor)


def _is_sparse(r: LayerResult) -> bool:
    return any(t.sparse is not None for lv in r.counts.levels for t in lv.tensors)


def _sparse_totals(r: LayerResult) -> dict[str, dict[str, float]]:
    """Per level, over all instances: actual / algorithmic accesses, gated, skipped, metadata bits."""
    out: dict[str, dict[str, float]] = {}
    for lv in r.levels:
        acc = {"actual": 0.0, "algorithmic": 0.0, "gated": 0.0, "skipped": 0.0, "metadata_bits": 0.0}
        for t in lv.tensors:
            if not t.kept:
                continue
            tc = _tensor_counts(r, lv.index, t.tensor)
            n = t.utilized_instances
            acc["actual"] += (t.reads + t.fills + t.updates) * n
            acc["algorithmic"] += (tc.reads + tc.fills + tc.updates) * n
            for k in ("read", "fill", "update"):
                acc["gated"] += t.actions.get(f"gated_{k}", 0.0) * n
                acc["skipped"] += t.actions.get(f"skipped_{k}", 0.0) * n
            if tc.sparse is not None:
                acc["metadata_bits"] += sum(tc.sparse.metadata_bits(a) for a in tc.sparse.metadata) * n
        out[lv.name] = acc
    return out


def _layer_dict(r: LayerResult, source: str, mapping: Mapping, arch: Architecture) -> dict[str, Any]:
    levels = []
    for lv in r.levels:
        if lv.container_only and lv.energy_pJ == 0:
            continue
        levels.append({
            "name": lv.name, "energy_pJ": lv.energy_pJ, "leakage_pJ": lv.leakage_pJ, "cycles": lv.cycles,
            "utilized_instances": lv.utilized_instances, "traffic_bits": lv.traffic_bits,
            "tensors": {
                t.tensor: {"reads": t.reads, "fills": t.fills, "updates": t.updates,
                           "energy_pJ": t.energy_pJ, "tile_size_words": t.tile_size_words,
                           "actions": dict(t.actions),
                           **(sparse_fields(tc) if (tc := _tensor_counts(r, lv.index, t.tensor)).sparse else {})}
                for t in lv.tensors if t.kept
            },
        })
    return {
        "name": r.layer, "energy_pJ": r.energy_pJ, "cycles": r.cycles,
        "computes": r.compute.actual_computes, "algorithmic_computes": r.compute.algorithmic_computes,
        "utilization": r.utilization, "compute_energy_pJ": r.compute.energy_pJ,
        "compute_actions": dict(r.compute.actions),
        "compute_style": r.compute.style, "adds": r.compute.adds, "multiplies": r.compute.multiplies,
        "gated_computes": r.compute.actions.get("gated_compute", 0.0),
        "skipped_computes": r.compute.actions.get("skipped_compute", 0.0),
        "outermost_traffic_words": r.levels[-1].words_moved,
        "mapping_source": source, "mapping": mapping_dict(mapping, arch, r.counts.problem), "levels": levels,
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
        "layers": [_layer_dict(r, s, m, result.architecture)
                   for r, s, m in zip(result.layers, result.mapping_sources, result.mappings)],
        "provenance": result.provenance.model_dump(exclude_none=True),
    }


def to_json(result: NetworkResult) -> str:
    return json.dumps(network_dict(result), indent=1)


def to_csv(result: NetworkResult) -> str:
    """One row per layer with totals per level; a final TOTAL row."""
    level_names = [lv.name for lv in result.architecture.storage if not lv.container_only]
    header = ["layer", "computes", "cycles", "utilization", "energy_pJ", "compute_energy_pJ"] + \
        [f"{n}_energy_pJ" for n in level_names] + ["outermost_traffic_words"] + \
        ["algorithmic_computes", "gated_computes", "skipped_computes"] + \
        [f"{n}_{k}" for n in level_names for k in ("algorithmic_accesses", "gated_accesses", "skipped_accesses",
                                                    "metadata_bits")]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    sparse = [_sparse_totals(r) for r in result.layers]
    for r, sp in zip(result.layers, sparse):
        per = {lv.name: lv.energy_pJ for lv in r.levels}
        w.writerow([r.layer, r.compute.actual_computes, r.cycles, f"{r.utilization:.6g}", repr(r.energy_pJ),
                    repr(r.compute.energy_pJ)] + [repr(per[n]) for n in level_names] +
                   [repr(r.levels[-1].words_moved)] +
                   [repr(r.compute.algorithmic_computes), repr(r.compute.actions.get("gated_compute", 0.0)),
                    repr(r.compute.actions.get("skipped_compute", 0.0))] +
                   [repr(sp[n][k]) for n in level_names for k in ("algorithmic", "gated", "skipped", "metadata_bits")])
    t = result.totals()
    w.writerow(["TOTAL", t["computes"], t["cycles"], "", repr(t["energy_pJ"]),
                repr(sum(r.compute.energy_pJ for r in result.layers))] +
               [repr(sum(lv.energy_pJ for r in result.layers for lv in r.levels if lv.name == n))
                for n in level_names] + [repr(sum(r.levels[-1].words_moved for r in result.layers))] +
               [repr(t["algorithmic_computes"]),
                repr(sum(r.compute.actions.get("gated_compute", 0.0) for r in result.layers)),
                repr(sum(r.compute.actions.get("skipped_compute", 0.0) for r in result.layers))] +
               [repr(sum(sp[n][k] for sp in sparse))
                for n in level_names for k in ("algorithmic", "gated", "skipped", "metadata_bits")])
    return buf.getvalue()


def _fmt_energy(pj: float) -> str:
    for unit, scale in (("J", 1e12), ("mJ", 1e9), ("uJ", 1e6), ("nJ", 1e3)):
        if abs(pj) >= scale:
            return f"{pj / scale:.3f} {unit}"
    return f"{pj:.3f} pJ"


def _fmt_bits(bits: float) -> str:
    for unit, scale in (("GiB", 8 * 2 ** 30), ("MiB", 8 * 2 ** 20), ("KiB", 8 * 2 ** 10)):
        if bits >= scale:
            return f"{bits / scale:.2f} {unit}"
    return f"{bits / 8:.0f} B"


def to_table(result: NetworkResult) -> str:
    """A report a person can read in a terminal."""
    out: list[str] = []
    p = result.provenance
    out.append(f"sbmodel: {result.workload.name} on {result.architecture.name}")
    out.append(f"workload provenance: {p.method} -- {_clip(p.source.splitlines()[0], 90)}")
    if p.citation:
        out.append(f"  citation: {_clip(p.citation, 100)}")
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
    styles = sorted({r.compute.style for r in result.layers})
    adds = sum(r.compute.adds for r in result.layers)
    multiplies = sum(r.compute.multiplies for r in result.layers)
    out.append(f"  compute: {', '.join(styles)} -- {adds:,.0f} adds, {multiplies:,.0f} multiplies "
               f"for {t['computes']:,.0f} effectual MACs")
    out.append("")
    out.append("traffic by level (all layers: element reads / fills / updates, and bits moved incl. metadata)")
    for n in levels:
        r_, f_, u_, bits = 0.0, 0.0, 0.0, 0.0
        for r in result.layers:
            for lv in r.levels:
                if lv.name != n:
                    continue
                bits += lv.traffic_bits
                for tt in lv.tensors:
                    if tt.kept:
                        r_ += tt.reads * tt.utilized_instances
                        f_ += tt.fills * tt.utilized_instances
                        u_ += tt.updates * tt.utilized_instances
        out.append(f"  {n:<24} {r_:>16,.0f} {f_:>16,.0f} {u_:>16,.0f} {_fmt_bits(bits):>12}")
    if any(_is_sparse(r) for r in result.layers):
        out.append("")
        alg = sum(r.compute.algorithmic_computes for r in result.layers)
        gated = sum(r.compute.actions.get("gated_compute", 0.0) for r in result.layers)
        skipped = sum(r.compute.actions.get("skipped_compute", 0.0) for r in result.layers)
        out.append(f"sparsity: computes {t['computes']:,.0f} actual of {alg:,.0f} algorithmic "
                   f"({gated:,.0f} gated, {skipped:,.0f} skipped)")
        out.append(f"  {'level':<24} {'actual':>14} {'algorithmic':>14} {'gated':>12} {'skipped':>12} "
                   f"{'metadata bits':>14}")
        sparse = [_sparse_totals(r) for r in result.layers]
        for n in levels:
            acc = {k: sum(sp[n][k] for sp in sparse)
                   for k in ("actual", "algorithmic", "gated", "skipped", "metadata_bits")}
            out.append(f"  {n:<24} {acc['actual']:>14,.0f} {acc['algorithmic']:>14,.0f} {acc['gated']:>12,.0f} "
                       f"{acc['skipped']:>12,.0f} {acc['metadata_bits']:>14,.0f}")
    sources = sorted(set(result.mapping_sources))
    out.append("")
    out.append(f"mappings: {', '.join(sources)}")
    return "\n".join(out)


def loop_nests(result: NetworkResult) -> str:
    """Every layer's mapping as a loop nest (:func:`.mapping.loop_nest`), with where it came from."""
    out = ["loop nests (levels outermost first; tensors kept with one instance's tile in words)"]
    for r, m, source in zip(result.layers, result.mappings, result.mapping_sources):
        out += ["", f"layer {r.layer} (mapping: {source})", "", loop_nest(r, m, result.architecture)]
    return "\n".join(out)


def _clip(text: str, width: int) -> str:
    """``text`` cut at a word boundary to at most ``width`` characters, marked with an ellipsis."""
    if len(text) <= width:
        return text
    cut = text[:width - 1].rsplit(" ", 1)[0].rstrip(" ,;:-")
    return cut + "…"
