"""Compare workloads (binary / ternary / signed-binary ...) across designs.

:func:`compare` evaluates every design x workload pair and returns a
:class:`Comparison`: one row of figures per pair (energy, cycles, EDP, weight
density, effectual computes split into adds and multiplies, DRAM traffic),
each also divided by the same figure of a chosen *baseline* pair, and an
energy breakdown by component and memory level for the figure.

>>> from sbmodel.compare import compare
>>> c = compare(["arch_specs/eyeriss_sparse.yaml"],
...             ["workloads/resnet18_binary.yaml", "workloads/resnet18_sb.yaml"])  # doctest: +SKIP
>>> c.frame()[["design", "workload", "energy_pJ", "energy_vs_baseline"]]   # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from .api import MapperFn, NetworkResult, _load_arch, _load_workload, evaluate
from .core import Architecture
from .core.weights import SINGLE_MAGNITUDE_SCHEMES
from .errors import SbmodelError
from .spec.workload import Workload

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

# Figures that are divided by the baseline's (column -> normalised column).
NORMALISED = {
    "energy_pJ": "energy_vs_baseline",
    "cycles": "cycles_vs_baseline",
    "edp_pJ_cycles": "edp_vs_baseline",
    "weight_density": "weight_density_vs_baseline",
    "effectual_macs": "effectual_macs_vs_baseline",
    "adds": "adds_vs_baseline",
    "multiplies": "multiplies_vs_baseline",
    "dram_traffic_bits": "dram_traffic_vs_baseline",
}


def weight_density(workload: Workload) -> tuple[float, float]:
    """(all layers, quantised layers only) nonzero weights / weights, from the workload's
    statistics (layers without statistics count as dense)."""
    total = nonzero = q_total = q_nonzero = 0.0
    for layer in workload.layers:
        weights = layer.M * layer.positions_per_filter
        w = layer.stats.weights if layer.stats is not None else None
        nnz = weights * (w.density if w is not None else 1.0)
        total += weights
        nonzero += nnz
        if w is not None and w.scheme in SINGLE_MAGNITUDE_SCHEMES:
            q_total += weights
            q_nonzero += nnz
    return nonzero / total, (q_nonzero / q_total if q_total else float("nan"))


def summary(result: NetworkResult) -> dict[str, Any]:
    """The comparison figures of one evaluation (totals over the network's layers)."""
    energy = sum(r.energy_pJ for r in result.layers)
    cycles = sum(r.cycles for r in result.layers)
    density, quantised_density = weight_density(result.workload)
    outermost = [r.levels[-1] for r in result.layers]
    return {
        "design": result.architecture.name,
        "workload": result.workload.name,
        "energy_pJ": energy,
        "cycles": cycles,
        "edp_pJ_cycles": energy * cycles,
        "weight_density": density,
        "quantised_weight_density": quantised_density,
        "effectual_macs": sum(r.compute.actual_computes for r in result.layers),
        "algorithmic_macs": sum(r.compute.algorithmic_computes for r in result.layers),
        "adds": sum(r.compute.adds for r in result.layers),
        "multiplies": sum(r.compute.multiplies for r in result.layers),
        "compute_style": ",".join(sorted({r.compute.style for r in result.layers})),
        "dram_level": outermost[0].name if outermost else "",
        "dram_traffic_bits": sum(lv.traffic_bits for lv in outermost),
        "compute_energy_pJ": sum(r.compute.energy_pJ for r in result.layers),
    }


@dataclass(frozen=True)
class Comparison:
    """Evaluations of designs x workloads and the pair every figure is normalised to."""

    results: tuple[NetworkResult, ...]
    baseline: tuple[str, str]  # (design name, workload name)

    def frame(self) -> "pd.DataFrame":
        """One row per design x workload: absolute figures and ``*_vs_baseline`` ratios."""
        import pandas as pd

        df = pd.DataFrame([summary(r) for r in self.results])
        base = df[(df["design"] == self.baseline[0]) & (df["workload"] == self.baseline[1])].iloc[0]
        for column, ratio in NORMALISED.items():
            df[ratio] = df[column] / base[column] if base[column] else float("nan")
        df["speedup_vs_baseline"] = base["cycles"] / df["cycles"]
        df["energy_efficiency_vs_baseline"] = base["energy_pJ"] / df["energy_pJ"]
        return df

    def breakdown_frame(self) -> "pd.DataFrame":
        """Per-layer and total rows in the sweep-results layout (one point per pair), for
        :mod:`sbmodel.report.plots`."""
        import pandas as pd

        from .report.plots import load_frame

        return pd.concat([load_frame(r).assign(point=i, point_id=f"{r.architecture.name}/{r.workload.name}",
                                               design=r.architecture.name, workload=r.workload.name)
                          for i, r in enumerate(self.results)], ignore_index=True)

    def figure(self, by: str = "component", normalize: bool = False) -> "Figure":
        """Stacked energy of every pair by component (memory level or compute unit)."""
        from .report.plots import breakdown_figure

        # points are labelled by what differs among them (design and/or workload)
        fig = breakdown_figure(self.breakdown_frame(), by=by, normalize=normalize, max_points=len(self.results))
        ticks = fig.axes[0].get_xticklabels()
        if len(ticks) > 1 and max(len(t.get_text()) for t in ticks) > 12:  # long names: no overlap
            for t in ticks:  # many points: upright labels; few: slanted
                t.set_rotation(90 if len(ticks) > 6 else 25)
                t.set_horizontalalignment("center" if len(ticks) > 6 else "right")
        fig.axes[0].set_title("Energy by component" + (" and tensor" if by == "tensor" else "")
                              + f" (baseline {self.baseline[1]} on {self.baseline[0]})", fontsize=10)
        return fig


def _baseline(pairs: Sequence[tuple[str, str]], spec: str | None) -> tuple[str, str]:
    """The (design, workload) pair ``spec`` names among ``pairs``: ``None`` is the first pair;
    else ``WORKLOAD`` or ``DESIGN/WORKLOAD`` (names; a workload may be given as its file,
    ``workloads/resnet18_sb.yaml``)."""
    pairs = list(pairs)
    if spec is None:
        return pairs[0]
    design, _, rest = spec.partition("/")
    readings = [("", Path(spec).stem)] + ([(design, Path(rest).stem)] if rest else [])
    found = [[p for p in pairs if p[1] == w and (not d or p[0] == d)] for d, w in readings]
    unique = [m[0] for m in found if len(m) == 1]
    if unique:
        return unique[0]
    ambiguous = next((m for m in found if m), None)
    if ambiguous:
        raise SbmodelError(f"baseline {spec!r} names a workload of several designs; give DESIGN/WORKLOAD "
                           f"(one of {', '.join(f'{d}/{w}' for d, w in ambiguous)})")
    known = ", ".join(f"{d}/{w}" for d, w in pairs)
    raise SbmodelError(f"baseline {spec!r} is none of the compared pairs ({known})")


def compare(
    archs: Sequence[str | Path | Architecture],
    workloads: Sequence[str | Path | Workload],
    *,
    baseline: str | None = None,
    mapper: MapperFn | None = None,
    jobs: int | None = None,
) -> Comparison:
    """Evaluate every design x workload (mapping each layer with ``mapper``, by default the
    mapping search) and normalise to ``baseline`` (default: the first pair)."""
    if not archs or not workloads:
        raise SbmodelError("compare needs at least one architecture and one workload")
    if mapper is None:
        from .mapper import find_mapping

        mapper = find_mapping
    # load (and check) every file and the baseline before the first, long, evaluation
    designs = [_load_arch(a) for a in archs]
    networks = [_load_workload(w) for w in workloads]
    names = [(a.name, w.name) for a in designs for w in networks]
    if len(set(names)) != len(names):
        raise SbmodelError("two compared designs or workloads share a name; names label the rows")
    chosen = _baseline(names, baseline)
    results = tuple(evaluate(a, w, mapper=mapper, jobs=jobs) for a in designs for w in networks)
    return Comparison(results, chosen)


__all__ = ["compare", "Comparison", "summary", "weight_density", "NORMALISED"]
