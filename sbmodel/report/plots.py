"""Figures for papers: energy breakdowns, per-layer bars and Pareto fronts.

Every function takes sweep results (the DataFrame of :func:`sbmodel.sweep.run_sweep`
or a results file) -- or, for one evaluation, a :class:`~sbmodel.api.NetworkResult`
-- and returns a :class:`matplotlib.figure.Figure` built without pyplot (no GUI,
no global state; :func:`save_figure` renders with Agg / the PDF and SVG
backends).  Conventions: units on every axis, legends outside the data,
component colours and tensor hatches from :mod:`sbmodel.report.palette`.

* :func:`breakdown_figure` -- stacked energy per design point by component
  (storage level or compute unit), optionally split by tensor (hatched);
* :func:`layers_figure` -- per-layer bars: one point stacked by component, or
  several points side by side;
* :func:`pareto_figure` -- energy vs cycles vs area proxy, the points no other
  point beats in all three marked, the two-objective front of each panel drawn;
* :func:`network_figure` -- one evaluation (``sbmodel evaluate --plot``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from ..sweep.results import DESIGN_COLUMNS, LEAD_COLUMNS, METRIC_COLUMNS, TAIL_COLUMNS
from .palette import (DOMINATED, PARETO_EDGE, SEQUENTIAL_CMAP, TENSOR_HATCH, categorical_colors,
                      component_colors)

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from ..api import NetworkResult

TENSORS = ("Weights", "Inputs", "Outputs", "leakage")
KNOWN_COLUMNS = frozenset(LEAD_COLUMNS + METRIC_COLUMNS + DESIGN_COLUMNS + TAIL_COLUMNS)
AXIS_LABELS = {"energy_pJ": "energy", "cycles": "cycles", "area_proxy": "area proxy", "dram_words": "DRAM traffic",
               "edp": "energy-delay product", "computes": "computes", "utilization": "utilization"}


# --------------------------------------------------------------------------- data


def load_frame(source: "str | Path | pd.DataFrame | NetworkResult") -> "pd.DataFrame":
    """Results as a DataFrame: a sweep results file or DataFrame as is; one evaluation as a
    one-point sweep (layer rows and a total row)."""
    import pandas as pd

    if isinstance(source, pd.DataFrame):
        return source
    if isinstance(source, (str, Path)):
        from ..sweep.store import read_results

        return read_results(source)
    from ..sweep.results import area_proxy, result_rows

    rows = result_rows(source, area_proxy(source.architecture))
    for r in rows:
        r.update(point_id=source.workload.name, point=0)
    return pd.DataFrame(rows)


def parameter_columns(df: "pd.DataFrame") -> list[str]:
    """The sweep's parameter columns (everything that is not a known or an energy column)."""
    return [c for c in df.columns if c not in KNOWN_COLUMNS and not c.startswith("energy_pJ.")]


def components(df: "pd.DataFrame") -> list[str]:
    """Energy components in stacking order: outermost storage first (bottom), compute last (top)."""
    names = [c[len("energy_pJ."):] for c in df.columns if c.startswith("energy_pJ.") and c.count(".") == 1]
    names = [n for n in names if df[f"energy_pJ.{n}"].notna().any()]
    # results list the compute unit first, then storage innermost -> outermost
    return names[1:][::-1] + names[:1] if names else []


def totals(df: "pd.DataFrame") -> "pd.DataFrame":
    """Total rows of the successful points."""
    t = df[df["row"] == "total"]
    if "status" in t:
        t = t[t["status"] == "ok"]
    return t


def point_labels(df: "pd.DataFrame", points: Sequence[Any] | None = None) -> tuple[dict[Any, str], str]:
    """Tick labels of points and the axis title naming what they show: the values of the
    parameters that differ among ``points`` (``"32768, 4, 16x16"`` under "glb_words, dram_bw,
    pe_array"); ``#N`` (the point number) when there are none."""
    t = df[df["row"] == "total"]
    if points is not None:
        t = t[t["point"].isin(points)]
    params = [p for p in parameter_columns(df) if t[p].nunique(dropna=False) > 1]
    if not params:
        return {r: f"#{r}" for r in t["point"]}, "design point"
    labels = {r["point"]: ", ".join(_short(r[p]) for p in params) for _, r in t.iterrows()}
    return labels, f"design point ({', '.join(params)})"


def _short(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def pareto_mask(values: np.ndarray) -> np.ndarray:
    """Non-dominated rows of ``values`` (n x k, every objective minimised): no other row is
    at least as good in all objectives and better in one.  Exact, O(n x front size)."""
    v = np.asarray(values, dtype=float)
    n = len(v)
    mask = np.zeros(n, dtype=bool)
    if n == 0:
        return mask
    order = np.lexsort(v.T[::-1])  # by the first objective, then the next ...
    front: list[int] = []
    for i in order:
        if front:
            f = v[front]
            dominated = np.any(np.all(f <= v[i], axis=1) & np.any(f < v[i], axis=1))
            duplicate = np.any(np.all(f == v[i], axis=1))
            if dominated:
                continue
            if duplicate:
                mask[i] = True  # equal to a front point: not beaten either
                continue
        front.append(int(i))
        mask[i] = True
    return mask


# --------------------------------------------------------------------------- units


_ENERGY_UNITS = ((1e12, "J"), (1e9, "mJ"), (1e6, "µJ"), (1e3, "nJ"), (1.0, "pJ"))


def _energy_scale(max_pj: float) -> tuple[float, str]:
    for scale, unit in _ENERGY_UNITS:
        if max_pj >= scale:
            return scale, unit
    return 1.0, "pJ"


def _count_scale(max_value: float) -> tuple[float, str]:
    for scale, word in ((1e9, "billions"), (1e6, "millions"), (1e3, "thousands")):
        if max_value >= 10 * scale:
            return scale, word
    return 1.0, ""


def _axis(metric: str, values: np.ndarray) -> tuple[float, str]:
    """Scale and axis label with units for a metric column."""
    top = float(np.nanmax(np.abs(values))) if len(values) else 1.0
    name = AXIS_LABELS.get(metric, metric)
    if metric.startswith("energy_pJ"):
        scale, unit = _energy_scale(top)
        return scale, f"{name} ({unit})"
    if metric == "area_proxy":
        scale, word = _count_scale(top)
        return scale, f"area proxy (bit-equivalents{', ' + word if word else ''})"
    if metric == "dram_words":
        scale, word = _count_scale(top)
        return scale, f"DRAM traffic (words{', ' + word if word else ''})"
    if metric == "cycles":
        scale, word = _count_scale(top)
        return scale, f"cycles ({word})" if word else "cycles"
    if metric == "utilization":
        return 0.01, "utilization (%)"
    return 1.0, name


# --------------------------------------------------------------------------- figures


def _figure(width: float, height: float) -> "Figure":
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def select_points(df: "pd.DataFrame", points: Sequence[int] | None, max_points: int) -> tuple[list[int], str]:
    """The points a bar chart shows: the given ones, or all when few, else the non-dominated
    (energy, cycles, area) points with the lowest energy.  Returns them and a note for the title."""
    t = totals(df)
    if points is not None:
        missing = sorted(set(points) - set(t["point"]))
        if missing:
            from ..errors import SbmodelError

            raise SbmodelError(f"no successful point(s) {missing} in the results")
        return list(points), ""
    if len(t) <= max_points:
        return list(t.sort_values("point")["point"]), ""
    objectives = [c for c in ("energy_pJ", "cycles", "area_proxy") if c in t]
    front = t[pareto_mask(t[objectives].to_numpy())].sort_values("energy_pJ")
    chosen = list(front["point"][:max_points])
    return chosen, (f"{len(chosen)} of {len(t)} points: the non-dominated ones (energy, cycles, area) "
                    f"with the lowest energy")


def breakdown_figure(source: Any, *, points: Sequence[int] | None = None, by: str = "component",
                     normalize: bool = False, max_points: int = 30) -> "Figure":
    """Stacked energy per design point by component; ``by="tensor"`` splits each storage level
    by tensor (hatching); ``normalize``: shares of each point's total."""
    import matplotlib.patches as mpatches

    df = load_frame(source)
    chosen, note = select_points(df, points, max_points)
    t = totals(df).set_index("point").loc[chosen]
    comps = components(df)
    colors = component_colors(comps)
    labels, xlabel = point_labels(df, chosen)
    segments: list[tuple[str, str, np.ndarray]] = []  # (component, tensor or "", values)
    for c in comps:
        parts = [tt for tt in TENSORS if f"energy_pJ.{c}.{tt}" in t]
        if by == "tensor" and parts:
            segments += [(c, tt, t[f"energy_pJ.{c}.{tt}"].fillna(0).to_numpy(float)) for tt in parts]
        else:
            segments.append((c, "", t[f"energy_pJ.{c}"].fillna(0).to_numpy(float)))
    total = t["energy_pJ"].to_numpy(float)
    scale, ylabel = (1.0, "share of energy (%)") if normalize else _axis("energy_pJ", total)
    fig = _figure(max(4.5, 1.2 + 0.38 * len(chosen)), 4.2)
    ax = fig.add_subplot()
    x = np.arange(len(chosen))
    bottom = np.zeros(len(chosen))
    for comp, tensor, values in segments:
        v = values / total * 100 if normalize else values / scale
        ax.bar(x, v, 0.75, bottom=bottom, color=colors[comp], hatch=TENSOR_HATCH.get(tensor, ""),
               edgecolor="white" if not tensor else "#333333", linewidth=0.4)
        bottom += v
    ax.set_xticks(x, [labels.get(p, str(p)) for p in chosen], rotation=40 if len(chosen) > 3 else 0,
                  ha="right" if len(chosen) > 3 else "center", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_xlabel(xlabel)
    ax.set_title("Energy breakdown by component" + (" and tensor" if by == "tensor" else "") +
                 (f"\n{note}" if note else ""), fontsize=10)
    handles = [mpatches.Patch(facecolor=colors[c], label=c) for c in comps[::-1]]
    if by == "tensor":
        handles += [mpatches.Patch(facecolor="white", edgecolor="#333333", hatch=TENSOR_HATCH[tt], label=tt)
                    for tt in TENSORS]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    return fig


def layers_figure(source: Any, *, metric: str = "energy_pJ", points: Sequence[int] | None = None,
                  max_points: int = 6) -> "Figure":
    """Per-layer bars.  One point: energy stacked by component (or the metric) per layer;
    several: the metric per layer, one bar per point side by side."""
    import matplotlib.patches as mpatches

    df = load_frame(source)
    chosen, note = select_points(df, points, max_points)
    rows = df[(df["row"] == "layer") & (df["point"].isin(chosen))]
    layer_order = list(dict.fromkeys(rows["layer"]))
    labels, legend_title = point_labels(df, chosen)
    x = np.arange(len(layer_order))
    fig = _figure(max(5.0, 1.5 + 0.32 * len(layer_order) * max(1, min(len(chosen), 3))), 4.2)
    ax = fig.add_subplot()
    scale, ylabel = _axis(metric, rows[metric].to_numpy(float))
    if len(chosen) == 1 and metric == "energy_pJ":
        r = rows.set_index("layer").loc[layer_order]
        comps = components(df)
        colors = component_colors(comps)
        bottom = np.zeros(len(layer_order))
        for c in comps:
            v = r[f"energy_pJ.{c}"].fillna(0).to_numpy(float) / scale
            ax.bar(x, v, 0.75, bottom=bottom, color=colors[c], edgecolor="white", linewidth=0.4)
            bottom += v
        handles = [mpatches.Patch(facecolor=colors[c], label=c) for c in comps[::-1]]
        title = "Energy per layer by component" + _point_caption(df, chosen[0])
    else:
        colors = categorical_colors(chosen)
        width = 0.8 / len(chosen)
        handles = []
        for k, p in enumerate(chosen):
            r = rows[rows["point"] == p].set_index("layer").reindex(layer_order)
            ax.bar(x - 0.4 + width * (k + 0.5), r[metric].to_numpy(float) / scale, width, color=colors[p],
                   edgecolor="white", linewidth=0.3)
            handles.append(mpatches.Patch(facecolor=colors[p], label=labels.get(p, str(p))))
        title = f"{AXIS_LABELS.get(metric, metric).capitalize()} per layer" + (f"\n{note}" if note else "")
    ax.set_xticks(x, layer_order, rotation=60, ha="right", fontsize=7)
    ax.set_xlabel("layer")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8,
              title=legend_title if len(chosen) > 1 else None, title_fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    return fig


def _point_caption(df: "pd.DataFrame", point: Any) -> str:
    """``"\nglb_words=32768, dram_bw=4"`` for one point (empty without parameters)."""
    params = parameter_columns(df)
    row = df[(df["row"] == "total") & (df["point"] == point)]
    if not params or row.empty:
        return ""
    text = ", ".join(f"{p}={_short(row.iloc[0][p])}" for p in params)
    return "\n" + (text if len(text) < 90 else text[:87] + "...")


def pareto_figure(source: Any, *, objectives: Sequence[str] = ("energy_pJ", "cycles", "area_proxy"),
                  color_by: str | None = None) -> "Figure":
    """Each pair of objectives in a panel (all minimised).  Points non-dominated in *all*
    objectives are drawn large with a black edge; the two-objective front of each panel is
    a dashed step line.  ``color_by``: a parameter column (categorical or continuous)."""
    import matplotlib.lines as mlines

    from ..errors import SbmodelError

    df = load_frame(source)
    t = totals(df)
    missing = [o for o in objectives if o not in t]
    if missing or len(objectives) < 2:
        raise SbmodelError(f"Pareto objectives must be at least two result columns (unknown: {missing})")
    if t.empty:
        raise SbmodelError("no successful points to plot")
    vals = t[list(objectives)].to_numpy(float)
    best = pareto_mask(vals)
    pairs = [(objectives[0], objectives[1])] if len(objectives) == 2 else \
        [(objectives[i], objectives[j]) for i in range(len(objectives)) for j in range(i + 1, len(objectives))]
    pairs = [(b, a) for a, b in pairs]  # energy on the y axis
    fig = _figure(3.6 * len(pairs) + 1.6, 3.6)
    axes = fig.subplots(1, len(pairs), squeeze=False)[0]
    colors, cmap, norm, handles = _point_colors(t, color_by)
    failed = int(((df["row"] == "total") & (df.get("status", "ok") != "ok")).sum())
    for ax, (xm, ym) in zip(axes, pairs):
        xs, xl = _axis(xm, t[xm].to_numpy(float))
        ys, yl = _axis(ym, t[ym].to_numpy(float))
        x, y = t[xm].to_numpy(float) / xs, t[ym].to_numpy(float) / ys
        ax.scatter(x[~best], y[~best], s=14, c=colors[~best] if colors is not None else DOMINATED,
                   alpha=0.55, linewidths=0, cmap=cmap, norm=norm)
        ax.scatter(x[best], y[best], s=40, c=colors[best] if colors is not None else "#4477AA",
                   edgecolors=PARETO_EDGE, linewidths=0.9, cmap=cmap, norm=norm, zorder=3)
        front2 = pareto_mask(np.column_stack([x, y]))
        o = np.argsort(x[front2])
        ax.step(x[front2][o], y[front2][o], where="post", color="black", linestyle="--", linewidth=0.9, zorder=2)
        ax.set_xlabel(xl)
        ax.set_ylabel(yl)
        ax.grid(alpha=0.3)
    n_note = f"{len(t)} points" + (f" ({failed} failed, not shown)" if failed else "") + \
        f"; {int(best.sum())} non-dominated in {', '.join(AXIS_LABELS.get(o, o) for o in objectives)}"
    fig.suptitle(f"Design space: {n_note}", fontsize=10)
    handles = [
        mlines.Line2D([], [], marker="o", linestyle="", markersize=7, markerfacecolor="#4477AA" if colors is None
                      else "white", markeredgecolor=PARETO_EDGE, label="non-dominated (all objectives)"),
        mlines.Line2D([], [], marker="o", linestyle="", markersize=5, markerfacecolor=DOMINATED,
                      markeredgewidth=0, label="dominated"),
        mlines.Line2D([], [], color="black", linestyle="--", label="front of the two axes"),
    ] + handles
    if cmap is not None:
        from matplotlib.cm import ScalarMappable

        fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=list(axes), label=color_by, pad=0.02)
    fig.legend(handles=handles, loc="outside right upper", frameon=False, fontsize=8,
               title=color_by if cmap is None and color_by else None)
    return fig


def _point_colors(t: "pd.DataFrame", color_by: str | None):
    """Per-point colours for a parameter: categorical (legend handles) or continuous (colormap)."""
    import matplotlib.lines as mlines
    import pandas as pd
    from matplotlib.colors import Normalize

    from ..errors import SbmodelError

    if color_by is None:
        return None, None, None, []
    if color_by not in t:
        raise SbmodelError(f"--color-by {color_by}: no such column (parameters: {', '.join(parameter_columns(t))})")
    col = t[color_by]
    numeric = pd.api.types.is_numeric_dtype(col) and col.nunique() > 6
    if numeric:
        v = col.to_numpy(float)
        return v, SEQUENTIAL_CMAP, Normalize(np.nanmin(v), np.nanmax(v)), []
    cats = categorical_colors(sorted(col.unique(), key=lambda v: (isinstance(v, str), v if not isinstance(v, str)
                                                                  else 0, str(v))))
    handles = [mlines.Line2D([], [], marker="s", linestyle="", color=c, label=f"{color_by}={_short(k)}")
               for k, c in cats.items()]
    return np.array([cats[v] for v in col], dtype=object), None, None, handles


def network_figure(result: "NetworkResult") -> "Figure":
    """One evaluation: energy per layer stacked by component, and the total by component and tensor."""
    import matplotlib.patches as mpatches

    df = load_frame(result)
    layers = df[df["row"] == "layer"]
    total = df[df["row"] == "total"].iloc[0]
    comps = components(df)
    colors = component_colors(comps)
    fig = _figure(max(9.0, 6.0 + 0.3 * len(layers)), 4.4)
    ax1, ax2 = fig.subplots(1, 2, width_ratios=[max(3.0, 0.3 * len(layers)), 2.6])
    scale, ylabel = _axis("energy_pJ", layers["energy_pJ"].to_numpy(float))
    x = np.arange(len(layers))
    bottom = np.zeros(len(layers))
    for c in comps:
        v = layers[f"energy_pJ.{c}"].fillna(0).to_numpy(float) / scale
        ax1.bar(x, v, 0.75, bottom=bottom, color=colors[c], edgecolor="white", linewidth=0.4)
        bottom += v
    ax1.set_xticks(x, list(layers["layer"]), rotation=60, ha="right", fontsize=7)
    ax1.set_ylabel(ylabel)
    ax1.set_xlabel("layer")
    ax1.set_title(f"{result.workload.name} on {result.architecture.name}: energy per layer", fontsize=10)
    # total by component, split by tensor
    tscale, tlabel = _axis("energy_pJ", np.array([total["energy_pJ"]]))
    y = np.arange(len(comps))
    for i, c in enumerate(comps):
        left = 0.0
        parts = [tt for tt in TENSORS if f"energy_pJ.{c}.{tt}" in total.index]
        for tt in parts or [""]:
            v = float(total[f"energy_pJ.{c}.{tt}"] if tt else total[f"energy_pJ.{c}"]) / tscale
            ax2.barh(i, v, left=left, color=colors[c], hatch=TENSOR_HATCH.get(tt, ""),
                     edgecolor="#333333" if tt else "white", linewidth=0.4)
            left += v
    ax2.set_yticks(y, comps)
    ax2.set_xlabel(tlabel)
    ax2.set_title(f"total {total['energy_pJ'] / tscale:.3g} {tlabel.split('(')[-1].rstrip(')')}", fontsize=10)
    for ax in (ax1, ax2):
        ax.grid(axis="y" if ax is ax1 else "x", alpha=0.3)
        ax.set_axisbelow(True)
    handles = [mpatches.Patch(facecolor=colors[c], label=c) for c in comps[::-1]] + \
        [mpatches.Patch(facecolor="white", edgecolor="#333333", hatch=TENSOR_HATCH[tt], label=tt) for tt in TENSORS]
    fig.legend(handles=handles, loc="outside right upper", frameon=False, fontsize=8)
    return fig


# --------------------------------------------------------------------------- saving


VECTOR = (".pdf", ".svg")
RASTER = (".png",)


def save_figure(fig: "Figure", path: str | Path, *, png: bool = True, dpi: int = 200) -> list[Path]:
    """Write ``fig`` to ``path`` (.pdf, .svg or .png); a vector file also gets a PNG twin
    beside it (``png=False``: not).  Written to a temporary name and renamed: never half a file."""
    import os

    from ..errors import SbmodelError

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in VECTOR + RASTER:
        raise SbmodelError(f"cannot write {path}: use a .pdf, .svg or .png name")
    if not path.parent.exists():
        raise SbmodelError(f"cannot write {path}: folder {path.parent} does not exist")
    targets = [path] + ([path.with_suffix(".png")] if png and suffix in VECTOR else [])
    for target in targets:
        tmp = target.with_name(f".{target.name}.tmp")
        fig.savefig(tmp, format=target.suffix[1:], dpi=dpi, bbox_inches="tight",
                    metadata={"Creator": "sbmodel"} if target.suffix != ".png" else None)
        os.replace(tmp, target)
    return targets


__all__ = ["breakdown_figure", "layers_figure", "pareto_figure", "network_figure", "save_figure", "pareto_mask",
           "load_frame", "parameter_columns", "components", "select_points"]
