"""Figures: Pareto marking is exact, files are written (vector + PNG), units, legends outside, one palette."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sbmodel.errors import SbmodelError
from sbmodel.report import plots
from sbmodel.report.palette import component_colors
from sbmodel.sweep import run_sweep

from ..conftest import ROOT, require_console_script
from ..sweep.conftest import ARCH, DRAM_BW, GLB, TINY_WORKLOAD, sweep_dict, write_yaml


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("plots")
    write_yaml(d / "tiny.yaml", TINY_WORKLOAD)
    sweep = write_yaml(d / "s.yaml", sweep_dict({
        "glb": {"path": GLB, "values": [1024, 8192, 65536]},
        "bw": {"path": DRAM_BW, "values": [1, 4, 16]},
        "pe": {"path": ["architecture.levels.inter_PE_spatial.mesh", "architecture.levels.ifmap_spad.mesh"],
               "choices": {"14x12": [[14, 1], [14, 12]], "7x12": [[7, 1], [7, 12]], "bad": [[16, 1], [14, 12]]}},
    }))
    out = d / "results.csv"
    run_sweep(sweep, out, jobs=1)
    return out


def _brute_pareto(v: np.ndarray) -> np.ndarray:
    n = len(v)
    return np.array([not any(np.all(v[j] <= v[i]) and np.any(v[j] < v[i]) for j in range(n)) for i in range(n)],
                    dtype=bool)


@settings(max_examples=200, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(0, 40), st.integers(1, 3)),
              elements=st.integers(0, 6).map(float)))
def test_pareto_mask_is_exact(v):
    assert np.array_equal(plots.pareto_mask(v), _brute_pareto(v))


def test_pareto_mask_examples():
    v = np.array([[1, 5], [2, 2], [5, 1], [3, 3], [2, 2], [6, 6]], float)
    assert list(plots.pareto_mask(v)) == [True, True, True, False, True, False]


def _outside(fig, legend, ax) -> bool:
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    lb, ab = legend.get_window_extent(r), ax.get_window_extent(r)
    return lb.x0 >= ab.x1 - 1 or lb.y0 >= ab.y1 - 1


@pytest.mark.parametrize("kind", ["pareto", "breakdown", "layers_one", "layers_many", "breakdown_tensor"])
@pytest.mark.parametrize("suffix", [".pdf", ".svg"])
def test_figures_written_with_units_and_outside_legends(results: Path, tmp_path: Path, kind: str, suffix: str):
    df = plots.load_frame(results)
    fig = {
        "pareto": lambda: plots.pareto_figure(df, color_by="pe"),
        "breakdown": lambda: plots.breakdown_figure(df),
        "breakdown_tensor": lambda: plots.breakdown_figure(df, by="tensor", normalize=True),
        "layers_one": lambda: plots.layers_figure(df, points=[0]),
        "layers_many": lambda: plots.layers_figure(df, points=[0, 1, 3]),
    }[kind]()
    out = tmp_path / f"fig{suffix}"
    written = plots.save_figure(fig, out)
    assert written == [out, out.with_suffix(".png")]
    head = out.read_bytes()[:200]
    assert head.startswith(b"%PDF") if suffix == ".pdf" else b"<svg" in out.read_bytes()[:2000]
    assert out.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"
    assert not list(tmp_path.glob(".*.tmp"))
    for ax in fig.axes:
        if ax.get_label() == "<colorbar>":
            continue
        assert "(" in ax.get_ylabel() or ax.get_ylabel() == "cycles", ax.get_ylabel()  # a unit in brackets
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend()] + list(fig.legends)
    assert legends
    data_axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert all(_outside(fig, lg, ax) for lg in legends for ax in data_axes)


def test_pareto_marks_the_non_dominated(results: Path):
    df = plots.load_frame(results)
    t = plots.totals(df)
    fig = plots.pareto_figure(df)
    ax = fig.axes[0]
    dominated, best = ax.collections[0], ax.collections[1]
    mask = plots.pareto_mask(t[["energy_pJ", "cycles", "area_proxy"]].to_numpy())
    assert len(best.get_offsets()) == mask.sum() and len(dominated.get_offsets()) == (~mask).sum()
    assert np.allclose(best.get_edgecolor()[0][:3], 0)  # black edge
    assert "failed, not shown" in fig._suptitle.get_text()  # the infeasible points are said, not drawn
    assert ax.get_xlabel().startswith("cycles") and ax.get_ylabel().startswith("energy (") and \
        ax.get_ylabel().endswith("J)")


def test_palette_is_consistent(results: Path):
    df = plots.load_frame(results)
    a = plots.breakdown_figure(df)
    b = plots.layers_figure(df, points=[0])
    colors = component_colors(plots.components(df))

    def bar_colors(fig):
        return {tuple(np.round(p.get_facecolor()[:3], 3)) for p in fig.axes[0].patches}

    assert bar_colors(a) == bar_colors(b)
    assert colors["DRAM"] == component_colors(["mac", "DRAM"])["DRAM"]  # by role, whatever else is there


def test_a_role_stays_with_its_most_canonical_name_whatever_the_order():
    from sbmodel.report.palette import INDIGO

    for names in (["accumulators", "psum_spad", "DRAM"], ["psum_spad", "accumulators", "DRAM"]):
        colors = component_colors(names)
        assert colors["psum_spad"] == INDIGO and colors["accumulators"] != INDIGO


def test_palette_unique_within_a_figure():
    names = ["mac", "weight_reg", "weights_spad", "pe_spad", "shared_glb", "DRAM", "x1", "x2", "x3"]
    colors = component_colors(names)
    assert len(set(colors.values())) == len(names)
    assert component_colors(names) == colors  # deterministic


def test_library_never_uses_pyplot(results: Path):
    code = ("import sys; from sbmodel.report import plots; "
            f"f = plots.pareto_figure(plots.load_frame({str(results)!r})); "
            "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'")
    subprocess.run([os.sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_selection_of_many_points():
    rng = np.random.default_rng(0)
    n = 200
    df = pd.DataFrame({"point_id": [f"p{i}" for i in range(n)], "point": range(n), "row": "total", "status": "ok",
                       "layer": "", "x": rng.integers(0, 9, n), "energy_pJ": rng.random(n), "cycles": rng.random(n),
                       "area_proxy": rng.random(n), "energy_pJ.mac": 1.0})
    chosen, note = plots.select_points(df, None, 30)
    assert len(chosen) <= 30 and "non-dominated" in note
    mask = plots.pareto_mask(df[["energy_pJ", "cycles", "area_proxy"]].to_numpy())
    assert set(chosen) <= set(df.point[mask])
    with pytest.raises(SbmodelError, match="no successful point"):
        plots.select_points(df, [999], 30)


def test_bad_requests(results: Path, tmp_path: Path):
    df = plots.load_frame(results)
    with pytest.raises(SbmodelError, match="use a .pdf, .svg or .png"):
        plots.save_figure(plots.breakdown_figure(df), tmp_path / "f.jpg")
    with pytest.raises(SbmodelError, match="no such column"):
        plots.pareto_figure(df, color_by="nothing")
    with pytest.raises(SbmodelError, match="unknown"):
        plots.pareto_figure(df, objectives=["energy_pJ", "speed"])


def _sbmodel(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([require_console_script(), *args], capture_output=True, text=True, cwd=cwd, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


@pytest.mark.parametrize("kind", ["pareto", "breakdown", "layers"])
def test_plot_command(results: Path, tmp_path: Path, kind: str):
    p = _sbmodel("plot", str(results), "--kind", kind, "-o", "fig.pdf", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "fig.pdf").exists() and (tmp_path / "fig.png").exists()
    p = _sbmodel("plot", str(results), "--kind", kind, "-o", "fig.svg", "--no-png", cwd=tmp_path)
    assert p.returncode == 0 and (tmp_path / "fig.svg").exists()
    assert (tmp_path / "fig.png").stat().st_mtime <= (tmp_path / "fig.svg").stat().st_mtime  # no new PNG


def test_plot_command_errors(results: Path, tmp_path: Path):
    p = _sbmodel("plot", str(results), "--kind", "pareto", "--color-by", "zz", "-o", "f.png", cwd=tmp_path)
    assert p.returncode == 2 and p.stderr.startswith("sbmodel: error: --color-by zz") and "Traceback" not in p.stderr
    p = _sbmodel("plot", str(tmp_path / "none.csv"), "-o", "f.png", cwd=tmp_path)
    assert p.returncode == 2 and "no results at" in p.stderr


def test_evaluate_plot(tmp_path: Path):
    write_yaml(tmp_path / "tiny.yaml", TINY_WORKLOAD)
    p = _sbmodel("evaluate", str(ARCH), "tiny.yaml", "--budget", "200", "--plot", "ev.pdf", "--format", "json",
                 cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "ev.pdf").read_bytes()[:4] == b"%PDF" and (tmp_path / "ev.png").exists()
