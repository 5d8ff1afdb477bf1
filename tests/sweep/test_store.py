"""Results files: complete blocks only, repaired tails, atomic Parquet, latest block wins."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from sbmodel.errors import SbmodelError
from sbmodel.sweep.store import CsvLog, ParquetStore, consolidate, journal_path, read_results

from .conftest import need

COLS = ["point_id", "point", "row", "status", "layer", "x", "energy_pJ", "seconds", "error"]


def block(pid: str, point: int, x: float, layers=("a", "b"), error: str = "") -> list[dict]:
    if error:
        return [{"point_id": pid, "point": point, "row": "total", "status": "error", "layer": "", "x": x,
                 "error": error}]
    rows = [{"point_id": pid, "point": point, "row": "layer", "status": "ok", "layer": name, "x": x,
             "energy_pJ": 1.5} for name in layers]
    return rows + [{"point_id": pid, "point": point, "row": "total", "status": "ok", "layer": "", "x": x,
                    "energy_pJ": 1.5 * len(layers), "seconds": 0.1}]


def test_append_and_reopen(tmp_path: Path):
    path = tmp_path / "r.csv"
    log = CsvLog(path, COLS)
    assert log.open() == {}
    log.append([block("p0", 0, 1.0), block("p1", 1, 2.0, error="boom\nsecond line")])
    log.close()
    assert path.read_text().endswith("\n")
    log = CsvLog(path, COLS)
    assert log.open() == {"p0": "ok", "p1": "error"}
    log.close()
    df = read_results(path)
    assert list(df["row"]) == ["layer", "layer", "total", "total"]
    assert df.loc[3, "error"] == "boom second line"  # one physical line per row


@pytest.mark.parametrize("cut", [1, 10, -1])
def test_partial_tail_is_cut_off(tmp_path: Path, cut: int):
    path = tmp_path / "r.csv"
    log = CsvLog(path, COLS)
    log.open()
    log.append([block("p0", 0, 1.0)])
    log.close()
    good = path.read_bytes()
    extra = _csv_text(block("p1", 1, 2.0)).encode()
    path.write_bytes(good + extra[: cut if cut > 0 else len(extra) - 1])  # killed mid-block
    assert len(read_results(path)) == 3  # readers never see the partial point
    log = CsvLog(path, COLS)
    assert log.open() == {"p0": "ok"}
    log.close()
    assert path.read_bytes() == good
    assert (tmp_path / "r.csv.partial").exists()


def _csv_text(rows) -> str:
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    for r in rows:
        w.writerow([r.get(c, "") for c in COLS])
    return buf.getvalue()


def test_other_columns_refused(tmp_path: Path):
    path = tmp_path / "r.csv"
    CsvLog(path, COLS).open()
    with pytest.raises(SbmodelError, match="other columns"):
        CsvLog(path, COLS + ["y"]).open()


def test_latest_block_wins(tmp_path: Path):
    path = tmp_path / "r.csv"
    log = CsvLog(path, COLS)
    log.open()
    log.append([block("p0", 0, 1.0, error="infeasible"), block("p1", 1, 2.0)])
    log.append([block("p0", 0, 1.0)])  # retried
    log.close()
    df = read_results(path)
    assert list(df["point_id"]) == ["p0", "p0", "p0", "p1", "p1", "p1"]
    assert set(df[df.point_id == "p0"]["status"]) == {"ok"}


def test_parquet_journal_and_consolidation(tmp_path: Path):
    need("pyarrow")
    path = tmp_path / "r.parquet"
    store = ParquetStore(path, COLS)
    assert store.open() == {}
    store.append([block("p0", 0, 1.0)])
    assert journal_path(path).exists() and not path.exists()
    assert len(read_results(path)) == 3  # the journal is read while the sweep runs
    store.close()
    assert path.exists() and not journal_path(path).exists()
    store = ParquetStore(path, COLS)
    assert store.open() == {"p0": "ok"}
    store.append([block("p1", 1, 2.0, error="x")])
    store.close()
    df = pd.read_parquet(path)
    assert len(df) == 4 and list(df.columns) == COLS


def test_parquet_killed_before_consolidation(tmp_path: Path):
    need("pyarrow")
    path = tmp_path / "r.parquet"
    store = ParquetStore(path, COLS)
    store.open()
    store.append([block("p0", 0, 1.0)])
    store.journal.close()  # as if killed: no consolidation
    with open(journal_path(path), "ab") as fh:
        fh.write(b"p1,1,layer,ok,a")  # and a partial line
    store = ParquetStore(path, COLS)
    assert store.open() == {"p0": "ok"}
    store.close()
    assert not journal_path(path).exists()
    assert len(read_results(path)) == 3
    os.remove(path)
    consolidate(path)  # nothing to do, no error
