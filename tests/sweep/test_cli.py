"""``sbmodel sweep`` through the console script: errors, dry run, quiet off a terminal, summary."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from sbmodel.sweep import read_results

from ..conftest import ROOT, require_console_script
from .conftest import DRAM_BW, GLB


def sbmodel(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([require_console_script(), *args], capture_output=True, text=True, cwd=cwd, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_help():
    for cmd in ("sweep", "plot"):
        p = sbmodel(cmd, "--help", cwd=ROOT)
        assert p.returncode == 0 and "usage: sbmodel " + cmd in p.stdout


def test_located_error_one_line(make_sweep, tiny_dir: Path):
    make_sweep({"glb": {"path": "architecture.levels[sram].size_words", "values": [1]}})
    p = sbmodel("sweep", "sweep.yaml", "-o", "r.csv", cwd=tiny_dir)
    assert p.returncode == 2
    assert p.stderr.startswith("sbmodel: error: ") and "sweep.yaml:" in p.stderr
    assert "at sweep.parameters.glb.path: " in p.stderr and "no element named 'sram'" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and not (tiny_dir / "r.csv").exists()


def test_dry_run_lists_points(make_sweep, tiny_dir: Path):
    make_sweep({"glb": {"path": GLB, "values": [1024, 2048]}, "bw": {"path": DRAM_BW, "values": [2, 4, 8]}})
    p = sbmodel("sweep", "sweep.yaml", "-o", "r.csv", "--dry-run", cwd=tiny_dir)
    assert p.returncode == 0 and "6 point(s), grid sampling over 2 parameter(s)" in p.stdout
    assert "glb=2048, bw=8" in p.stdout and not (tiny_dir / "r.csv").exists()


def test_run_quiet_off_a_terminal_then_progress(make_sweep, tiny_dir: Path):
    make_sweep({"bw": {"path": DRAM_BW, "values": [2, 4, 8]}})
    p = sbmodel("sweep", "sweep.yaml", "-o", "r.csv", "-j", "2", cwd=tiny_dir)
    assert p.returncode == 0, p.stderr
    assert p.stdout == ""
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sweep: 3 point(s) evaluated in ") and "points/s" in lines[0]
    assert len(read_results(tiny_dir / "r.csv")) == 3 * 3
    assert (tiny_dir / "r.mappings").is_dir()
    p = sbmodel("sweep", "sweep.yaml", "-o", "r2.csv", "-j", "1", "--progress", cwd=tiny_dir)
    assert p.returncode == 0 and ("pt/s" in p.stderr or "s/pt" in p.stderr)  # tqdm's rate
    assert "100%" in p.stderr
    p = sbmodel("sweep", "sweep.yaml", "-o", "r.csv", "-q", cwd=tiny_dir)
    assert p.returncode == 0 and p.stderr == ""
    p = sbmodel("sweep", "sweep.yaml", "-j", "1", cwd=tiny_dir)  # default results file: sweep.csv
    assert p.returncode == 0 and p.stderr.rstrip().endswith("-> sweep.csv") and (tiny_dir / "sweep.csv").exists()
    p = sbmodel("plot", "sweep.csv", "--kind", "layers", cwd=tiny_dir)  # default figure: sweep_layers.pdf
    assert p.returncode == 0 and (tiny_dir / "sweep_layers.pdf").exists() and (tiny_dir / "sweep_layers.png").exists()


def test_bad_options(make_sweep, tiny_dir: Path):
    make_sweep({"bw": {"path": DRAM_BW, "values": [2]}})
    p = sbmodel("sweep", "sweep.yaml", "-o", "r.txt", cwd=tiny_dir)
    assert p.returncode == 2 and "use a .csv or .parquet name" in p.stderr
    p = sbmodel("sweep", "sweep.yaml", "-o", "r.csv", "--jobs", "0", cwd=tiny_dir)
    assert p.returncode == 2 and "--jobs must be at least 1" in p.stderr
