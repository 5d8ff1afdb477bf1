"""The ``sbmodel timeloop run --json`` contract (DESIGN.md section 3).

Levels and tensors carry the names of the input spec; counts are per instance
as Timeloop prints them; energies are totals over all instances in pJ.  The
compute level is listed last among the levels (``"kind": "compute"``).

For sparse designs ``reads``/``fills``/``updates`` are the *actual* counts
(Sparseloop's "Actual scalar ..."); each dataspace adds ``algorithmic``,
``gated`` and ``skipped`` counts, its metadata traffic (per rank, and in bits)
and what the sparse stage found (``sparse``); ``computes`` adds ``gated`` and
``skipped``.
"""

from __future__ import annotations

import json
from typing import Any

from ..engine.counts import TensorCounts
from ..engine.results import LayerResult


def sparse_fields(tc: TensorCounts) -> dict[str, Any]:
    """Algorithmic / gated / skipped counts, metadata traffic and sparse facts of one tensor."""
    assert tc.sparse is not None
    a = tc.actions
    sp = tc.sparse
    return {
        "algorithmic": {"reads": float(tc.reads), "fills": float(tc.fills), "updates": float(tc.updates)},
        "gated": {k + "s": float(a.get(f"gated_{k}", 0.0)) for k in ("read", "fill", "update")},
        "skipped": {k + "s": float(a.get(f"skipped_{k}", 0.0)) for k in ("read", "fill", "update")},
        "metadata": {action: {"ranks": [list(r) for r in ranks], "bits": sp.metadata_bits(action)}
                     for action, ranks in sp.metadata.items()},
        "sparse": {
            "density_model": sp.density_model, "expected_density": sp.expected_density,
            "representation": sp.representation, "compressed": sp.compressed,
            "data_tile_words": sp.data_tile_words, "metadata_tile_bits": sp.metadata_tile_bits,
            "avg_utilized_instances": sp.avg_utilized_instances, "rank_word_bits": [list(b) for b in sp.rank_word_bits],
        },
    }


def timeloop_dict(result: LayerResult) -> dict[str, Any]:
    levels: list[dict[str, Any]] = []
    for lv in result.levels:
        dataspaces = {}
        for t in lv.tensors:
            if not t.kept:
                continue
            dataspaces[t.tensor] = {
                "utilized_instances": int(t.utilized_instances),
                "reads": float(t.reads),
                "fills": float(t.fills),
                "updates": float(t.updates),
                "energy_pJ": float(t.energy_pJ),
                "actions": {k: float(v) for k, v in t.actions.items()},
                "tile_size": float(t.tile_size_words),
                "partition_size": float(t.partition_size_words),
            }
            tc = next(x for x in result.counts.levels[lv.index].tensors if x.tensor == t.tensor)
            if tc.sparse is not None:
                dataspaces[t.tensor].update(sparse_fields(tc))
        levels.append({
            "name": lv.name,
            "kind": "storage",
            "energy_pJ": float(lv.energy_pJ),
            "leakage_pJ": float(lv.leakage_pJ),
            "cycles": int(lv.cycles),
            "bandwidth_slowdown": float(lv.bandwidth_slowdown),
            "utilized_instances": int(lv.utilized_instances),
            "dataspaces": dataspaces,
        })
    c = result.compute
    computes = {"actual": int(round(c.actual_computes)), "algorithmic": int(round(c.algorithmic_computes))}
    if any(t.sparse is not None for lv in result.counts.levels for t in lv.tensors):
        computes.update(gated=int(round(c.actions.get("gated_compute", 0.0))),
                        skipped=int(round(c.actions.get("skipped_compute", 0.0))))
    levels.append({
        "name": c.name, "kind": "compute", "energy_pJ": float(c.energy_pJ),
        "utilized_instances": int(c.utilized_instances), "dataspaces": {},
    })
    return {
        "cycles": int(result.cycles),
        "energy_pJ": float(result.energy_pJ),
        "computes": computes,
        "utilization": float(result.utilization),
        "levels": levels,
    }


def timeloop_json(result: LayerResult, **extra: Any) -> str:
    """The run contract as JSON, with ``extra`` fields after it (``timeloop map``: the mapping)."""
    return json.dumps({**timeloop_dict(result), **extra}, indent=1)


def timeloop_text(result: LayerResult) -> str:
    """A short human summary (the --json output is the contract)."""
    lines = [f"{result.layer} on {result.architecture}: {result.cycles} cycles, "
             f"{result.energy_pJ:.6g} pJ, utilization {100 * result.utilization:.1f}%"]
    lines.append(f"  {result.compute.name:<24} {result.compute.energy_pJ:>16.6g} pJ  "
                 f"({result.compute.actual_computes:.0f} computes)")
    for lv in result.levels:
        if lv.container_only and lv.energy_pJ == 0:
            continue
        kept = ", ".join(f"{t.tensor} r={t.reads:.0f} f={t.fills:.0f} u={t.updates:.0f}"
                         for t in lv.tensors if t.kept)
        lines.append(f"  {lv.name:<24} {lv.energy_pJ:>16.6g} pJ  {kept}")
    return "\n".join(lines)
