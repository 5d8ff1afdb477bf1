"""Reports of a comparison (``sbmodel compare``): terminal table, JSON and CSV."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .network import _fmt_bits, _fmt_energy

if TYPE_CHECKING:
    from ..compare import Comparison


def to_table(comparison: "Comparison") -> str:
    """Absolute figures and ratios to the baseline, one row per design x workload."""
    df = comparison.frame()
    design_w = max(6, int(df["design"].str.len().max()) + 1)
    work_w = max(8, int(df["workload"].str.len().max()) + 1)
    base = f"{comparison.baseline[1]} on {comparison.baseline[0]}"
    head = (f"{'design':<{design_w}} {'workload':<{work_w}} {'energy':>11} {'x base':>7} {'cycles':>13} "
            f"{'x base':>7} {'EDP x':>7} {'density':>8} {'eff. MACs':>14} {'adds':>14} {'multiplies':>14} "
            f"{'DRAM':>10} {'x base':>7}")
    out = [f"sbmodel compare: ratios (x base) are to {base}", "", head, "-" * len(head)]
    for _, r in df.iterrows():
        out.append(
            f"{r['design']:<{design_w}} {r['workload']:<{work_w}} {_fmt_energy(r['energy_pJ']):>11} "
            f"{r['energy_vs_baseline']:>7.3f} {r['cycles']:>13,.0f} {r['cycles_vs_baseline']:>7.3f} "
            f"{r['edp_vs_baseline']:>7.3f} {r['weight_density']:>8.3f} {r['effectual_macs']:>14,.0f} "
            f"{r['adds']:>14,.0f} {r['multiplies']:>14,.0f} {_fmt_bits(r['dram_traffic_bits']):>10} "
            f"{r['dram_traffic_vs_baseline']:>7.3f}")
    out.append("")
    out.append("energy efficiency and speed-up over the baseline (baseline / this):")
    for _, r in df.iterrows():
        out.append(f"  {r['design']:<{design_w}} {r['workload']:<{work_w}} energy efficiency "
                   f"{r['energy_efficiency_vs_baseline']:.2f}x, speed-up {r['speedup_vs_baseline']:.2f}x, "
                   f"compute {r['compute_style']}")
    out.append("")
    out.append("density: nonzero weights / weights over all layers; DRAM: bits moved at the outermost level")
    return "\n".join(out)


def comparison_dict(comparison: "Comparison") -> dict[str, Any]:
    df = comparison.frame()
    return {
        "baseline": {"design": comparison.baseline[0], "workload": comparison.baseline[1]},
        "rows": json.loads(df.to_json(orient="records")),
        "provenance": {r.workload.name: r.provenance.model_dump(exclude_none=True) for r in comparison.results},
    }


def to_json(comparison: "Comparison") -> str:
    return json.dumps(comparison_dict(comparison), indent=1)


def to_csv(comparison: "Comparison") -> str:
    return comparison.frame().to_csv(index=False)


__all__ = ["to_table", "to_json", "to_csv", "comparison_dict"]
