"""Interrupting a real ``sbmodel sweep`` process (Ctrl-C = SIGINT, kill -9 = SIGKILL) and resuming it.

Each test starts the console script, waits until some points are in the results
file, interrupts it while others are in flight, checks that the file is
complete and readable as it is left, then runs the same command again and
checks that no point is lost or duplicated and that the points finished before
the interruption were kept as they were.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest

from sbmodel.sweep import read_results

from ..conftest import ROOT, require_console_script
from .conftest import DRAM_BW, need

N_POINTS = 20


@pytest.fixture
def slow_sweep(make_sweep) -> Path:
    # ~0.3-1 s per point with this budget: the sweep runs for several seconds on 2 workers
    return make_sweep({"bw": {"path": DRAM_BW, "range": {"min": 1, "max": 64, "count": N_POINTS}}},
                      mapper={"budget": 1000, "seed": 0})


_STARTED: list[int] = []


@pytest.fixture(autouse=True)
def _no_strays():
    """Whatever a test leaves behind (a failed test's sweep and workers) is killed."""
    yield
    while _STARTED:
        try:
            os.killpg(_STARTED.pop(), signal.SIGKILL)
        except ProcessLookupError:
            pass


def _start(sweep: Path, out: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # the code under test, whichever checkout is installed
    proc = subprocess.Popen([require_console_script(), "sweep", str(sweep), "-o", str(out), "--jobs", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)  # its own process group: we can signal it and its workers
    _STARTED.append(proc.pid)
    return proc


def _finished(out: Path) -> int:
    if not out.exists():
        return 0
    return sum(1 for line in out.read_text().splitlines()[1:] if ",total," in line)


def _wait_for_points(proc: subprocess.Popen, out: Path, n: int, timeout: float = 240) -> None:
    t0 = time.monotonic()
    while _finished(out) < n:
        assert proc.poll() is None, f"the sweep ended early: {proc.communicate()}"
        assert time.monotonic() - t0 < timeout, "no progress"
        time.sleep(0.05)


def _check_file_intact(out: Path) -> pd.DataFrame:
    """The file as the interrupted process left it: complete lines, plain pandas reads it, whole blocks."""
    raw = out.read_bytes()
    assert raw.endswith(b"\n")
    df = pd.read_csv(out, keep_default_na=False)  # no repair needed
    header_fields = raw.split(b"\n", 1)[0].count(b",")
    assert all(line.count(b",") >= header_fields for line in raw.split(b"\n")[1:-1])
    totals = df[df.row == "total"]
    assert totals.point_id.is_unique
    # every layer row belongs to a point whose total row is there: no half-written point
    assert set(df[df.row == "layer"].point_id) <= set(totals.point_id)
    assert (df.groupby("point_id").size() == 3).all()  # 2 layers + total per point
    return df


def _resume_and_check(sweep: Path, out: Path, before: pd.DataFrame) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([require_console_script(), "sweep", str(sweep), "-o", str(out), "--jobs", "2"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    n_before = before.point_id.nunique()
    assert f"{N_POINTS - n_before} point(s) evaluated" in proc.stderr
    assert f"{n_before} already done" in proc.stderr
    after = read_results(out)
    totals = after[after.row == "total"]
    assert len(totals) == N_POINTS and totals.point_id.is_unique and (totals.status == "ok").all()
    assert sorted(totals.point) == list(range(N_POINTS))
    assert len(after) == 3 * N_POINTS
    # what was finished before the interruption is still there, unchanged
    kept = after[after.point_id.isin(set(before.point_id))].drop(columns="seconds").reset_index(drop=True)
    old = before.sort_values(["point", "row", "layer"]).drop(columns="seconds").reset_index(drop=True)
    kept = kept.sort_values(["point", "row", "layer"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(kept, old, check_dtype=False)
    assert len(out.read_text().splitlines()) == 1 + 3 * N_POINTS  # nothing written twice


def test_ctrl_c_then_resume(slow_sweep: Path, tmp_path: Path):
    out = tmp_path / "results.csv"
    proc = _start(slow_sweep, out)
    _wait_for_points(proc, out, 3)
    os.kill(proc.pid, signal.SIGINT)  # Ctrl-C in a terminal
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "interrupted: run the same command again to resume" in stderr
    assert "Traceback" not in stderr
    before = _check_file_intact(out)
    assert 3 <= before.point_id.nunique() < N_POINTS, "the sweep was not interrupted mid-way"
    _assert_no_leftover_workers(proc.pid)
    _resume_and_check(slow_sweep, out, before)


def test_kill_9_then_resume(slow_sweep: Path, tmp_path: Path):
    out = tmp_path / "results.csv"
    proc = _start(slow_sweep, out)
    _wait_for_points(proc, out, 3)
    os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its workers die at once, nothing cleans up
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    before = _check_file_intact(out)
    assert 3 <= before.point_id.nunique() < N_POINTS, "the sweep was not killed mid-way"
    _resume_and_check(slow_sweep, out, before)


def test_kill_9_of_the_sweep_process_alone(slow_sweep: Path, tmp_path: Path):
    """Only the sweep process is killed (as the OOM killer would): its workers notice and exit."""
    out = tmp_path / "results.csv"
    proc = _start(slow_sweep, out)
    _wait_for_points(proc, out, 2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    _assert_no_leftover_workers(proc.pid)  # the workers are in its process group
    before = _check_file_intact(out)
    _resume_and_check(slow_sweep, out, before)


def test_sigterm_stops_cleanly(slow_sweep: Path, tmp_path: Path):
    need("pyarrow")
    out = tmp_path / "results.parquet"
    proc = _start(slow_sweep, out)
    t0 = time.monotonic()
    while not (tmp_path / "results.parquet.journal.csv").exists() or \
            _finished(tmp_path / "results.parquet.journal.csv") < 2:
        assert proc.poll() is None and time.monotonic() - t0 < 240
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    # consolidated into a complete Parquet file, journal gone
    assert out.exists() and not (tmp_path / "results.parquet.journal.csv").exists()
    df = pd.read_parquet(out)
    assert 2 <= df[df.row == "total"].point_id.nunique() < N_POINTS
    _assert_no_leftover_workers(proc.pid)


def _assert_no_leftover_workers(pgid: int) -> None:
    """The interrupted sweep ended the worker processes it started (its process group is empty)."""
    t0 = time.monotonic()
    while True:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        if time.monotonic() - t0 > 10:
            os.killpg(pgid, signal.SIGKILL)
            pytest.fail("worker processes outlived the interrupted sweep")
        time.sleep(0.1)
