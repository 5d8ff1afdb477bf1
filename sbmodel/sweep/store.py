"""Results files that survive interruption: append-only CSV, or Parquet with a CSV journal.

**CSV** (``results.csv``).  A header line, then for each finished point one
*block*: its layer rows followed by its total row, every row one physical line
(text fields are flattened to one line).  Blocks are written with a single
``write`` on a file opened for appending as soon as the points finish (and
``fsync``-ed at least twice a second), so a killed process leaves complete
blocks, and a machine that goes down at worst a partial tail.
On reopening, everything after the last total row is cut off (kept aside in
``results.csv.partial`` for inspection), so the file again holds complete points
only; :func:`read_results` applies the same rule when reading a file that a
running or killed sweep left behind.

**Parquet** (``results.parquet``).  Points are appended to a CSV journal beside
it (``results.parquet.journal.csv``, the same format as above); when the sweep
ends or is interrupted, the Parquet file is rewritten with the old rows plus the
journal's (to a temporary file, then renamed over it: a reader sees the old or
the new file, never half of one) and the journal is deleted.  A journal left by
a killed sweep is picked up by the next run and by :func:`read_results`.

A point is *finished* when its total row is in the file, successful or failed;
a point written twice (``--retry-errors``) counts with its last block.
"""

from __future__ import annotations

import csv
import io
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from ..errors import SbmodelError

if TYPE_CHECKING:
    import pandas as pd

ROW_FIELD = 2  # position of the ``row`` column: point_id, point, row, ...


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str):
        return " ".join(value.split()) if ("\n" in value or "\r" in value) else value
    if isinstance(value, float):
        return repr(value)
    return value


class CsvLog:
    """Append-only CSV of point blocks (see the module docstring)."""

    #: Blocks are written at once (a killed process loses nothing written: the data is in
    #: the OS's page cache); ``fsync`` -- which only matters if the machine itself goes
    #: down -- runs at most this often, so fast sweeps do not wait on the disk.
    SYNC_INTERVAL_S = 0.5

    def __init__(self, path: str | Path, columns: Sequence[str]):
        self.path = Path(path)
        self.columns = list(columns)
        self._fd: int | None = None
        self._synced = 0.0
        self._dirty = False

    # ---------------------------------------------------------------- reading / repair
    def open(self) -> dict[str, str]:
        """Open for appending (creating the file with its header); returns the finished
        points already in it: point_id -> status.  Repairs a partial tail first."""
        if self.path.exists() and self.path.stat().st_size > 0:
            header = _first_line(self.path)
            if header != self.columns:
                raise SbmodelError(
                    f"{self.path} holds results with other columns (a different sweep or sbmodel version); "
                    f"write to a new file, or delete it to start over")
            finished = self._repair()
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            buf = io.StringIO()
            csv.writer(buf, lineterminator="\n").writerow(self.columns)
            with open(self.path, "w", encoding="utf-8", newline="") as fh:
                fh.write(buf.getvalue())
                fh.flush()
                os.fsync(fh.fileno())
            finished = {}
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        return finished

    def _repair(self) -> dict[str, str]:
        """Cut the file after its last complete block; return finished point_id -> status."""
        finished: dict[str, str] = {}
        good_end = 0
        with open(self.path, "rb") as fh:
            offset = 0
            for raw in fh:
                offset += len(raw)
                if not raw.endswith(b"\n"):
                    break
                if good_end == 0:  # header line
                    good_end = offset
                    continue
                fields = next(csv.reader([raw.decode("utf-8", "replace")]), [])
                if len(fields) == len(self.columns) and fields[ROW_FIELD] == "total":
                    finished[fields[0]] = fields[3]
                    good_end = offset
        size = self.path.stat().st_size
        if good_end < size:
            with open(self.path, "rb") as fh:
                fh.seek(good_end)
                tail = fh.read()
            Path(str(self.path) + ".partial").write_bytes(tail)
            with open(self.path, "r+b") as fh:
                fh.truncate(good_end)
                fh.flush()
                os.fsync(fh.fileno())
        return finished

    # ---------------------------------------------------------------- writing
    def append(self, blocks: Iterable[list[dict[str, Any]]]) -> None:
        """Write the rows of finished points (one block each) with one write; fsync at most
        every :attr:`SYNC_INTERVAL_S` (and on close)."""
        assert self._fd is not None, "open() first"
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        for rows in blocks:
            for row in rows:
                w.writerow([_cell(row.get(c)) for c in self.columns])
        data = buf.getvalue().encode("utf-8")
        if not data:
            return
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]
        self._dirty = True
        now = time.monotonic()
        if now - self._synced >= self.SYNC_INTERVAL_S:
            os.fsync(self._fd)
            self._synced, self._dirty = now, False

    def close(self) -> None:
        if self._fd is not None:
            if self._dirty:
                os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None


class ParquetStore:
    """A Parquet file, consolidated from a CSV journal at the end of each run."""

    def __init__(self, path: str | Path, columns: Sequence[str]):
        self.path = Path(path)
        self.columns = list(columns)
        self.journal = CsvLog(journal_path(self.path), columns)

    def open(self) -> dict[str, str]:
        _require_pyarrow()
        finished: dict[str, str] = {}
        if self.path.exists():
            old = _read_parquet(self.path)
            if list(old.columns) != self.columns:
                raise SbmodelError(
                    f"{self.path} holds results with other columns (a different sweep or sbmodel version); "
                    f"write to a new file, or delete it to start over")
            totals = old[old["row"] == "total"]
            finished.update(zip(totals["point_id"].astype(str), totals["status"].astype(str)))
        finished.update(self.journal.open())
        return finished

    def append(self, blocks: Iterable[list[dict[str, Any]]]) -> None:
        self.journal.append(blocks)

    def close(self) -> None:
        self.journal.close()
        consolidate(self.path)


def journal_path(path: Path) -> Path:
    return Path(str(path) + ".journal.csv")


def is_parquet(path: str | Path) -> bool:
    return str(path).lower().endswith((".parquet", ".pq"))


def open_store(path: str | Path, columns: Sequence[str]) -> CsvLog | ParquetStore:
    if is_parquet(path):
        return ParquetStore(path, columns)
    if not str(path).lower().endswith(".csv"):
        raise SbmodelError(f"results file {path}: use a .csv or .parquet name")
    return CsvLog(path, columns)


def consolidate(path: str | Path) -> None:
    """Fold a Parquet results file's journal into it (atomic replace), then drop the journal."""
    path = Path(path)
    journal = journal_path(path)
    if not journal.exists():
        return
    frames = []
    if path.exists():
        frames.append(_read_parquet(path))
    frames.append(read_csv_log(journal))
    import pandas as pd

    df = _latest_blocks(pd.concat([f for f in frames if len(f)], ignore_index=True) if any(len(f) for f in frames)
                        else frames[-1])
    tmp = path.with_name(f".{path.name}.tmp")
    _to_parquet(df, tmp)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    journal.unlink()


def _to_parquet(df: "pd.DataFrame", path: Path) -> None:
    df = df.copy()
    for col in df.columns:
        if df[col].dtype == object:
            kinds = {type(v) for v in df[col].dropna()}
            if len(kinds) > 1 or (kinds and not kinds <= {str}):
                df[col] = df[col].map(lambda v: v if v is None or (isinstance(v, float) and v != v) else str(v))
    df.to_parquet(path, index=False)


def _read_parquet(path: Path) -> "pd.DataFrame":
    import pandas as pd

    _require_pyarrow()
    return pd.read_parquet(path)


def _require_pyarrow() -> None:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise SbmodelError("Parquet results need pyarrow: pip install 'sbmodel[parquet]' (or write a .csv)") from None


def read_csv_log(path: str | Path) -> "pd.DataFrame":
    """A results CSV as a DataFrame, without the partial tail a killed sweep may leave."""
    import pandas as pd

    path = Path(path)
    data = path.read_bytes()
    lines = data.split(b"\n")
    # keep complete lines up to and including the last total row
    keep = 1
    # the last complete total row, scanning back (a row is one line: cells carry no newlines;
    # the last element is what follows the final newline)
    for i in range(len(lines) - 2, 0, -1):
        fields = next(csv.reader([lines[i].decode("utf-8", "replace")]), [])
        if len(fields) > ROW_FIELD and fields[ROW_FIELD] == "total":
            keep = i + 1
            break
    text = b"\n".join(lines[:keep]).decode("utf-8") + "\n"
    return pd.read_csv(io.StringIO(text), keep_default_na=False, na_values=[""], dtype={"point_id": str, "layer": str,
                                                                                       "error": str})


def _latest_blocks(df: "pd.DataFrame") -> "pd.DataFrame":
    """Keep each point's last written block (a retried point was written twice)."""
    if df.empty:
        return df
    block = (df["row"] == "total").astype(int)[::-1].cumsum()[::-1]  # block number counted from the end
    last = block.groupby(df["point_id"]).transform("min")
    return df[block == last].reset_index(drop=True)


def read_results(path: str | Path) -> "pd.DataFrame":
    """Read a sweep's results (CSV, or Parquet plus any journal a killed run left), one block
    per point (its latest), without partial tails.  Sorted by point, layer rows before totals."""
    import pandas as pd

    path = Path(path)
    if is_parquet(path):
        frames = [_read_parquet(path)] if path.exists() else []
        if journal_path(path).exists():
            frames.append(read_csv_log(journal_path(path)))
        if not frames:
            raise SbmodelError(f"no results at {path}")
        df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    else:
        if not path.exists():
            raise SbmodelError(f"no results at {path}")
        df = read_csv_log(path)
    df = _latest_blocks(df)
    for col in ("layer", "error"):
        if col in df:
            df[col] = df[col].fillna("")
    if df.empty or "point" not in df:
        return df
    # by point; within a point its layer rows in file order, then its total row
    key = df.assign(_total=(df["row"] == "total").astype(int), _pos=range(len(df)))
    order = key.sort_values(["point", "_total", "_pos"], kind="stable").index
    return df.loc[order].reset_index(drop=True)


def _first_line(path: Path) -> list[str]:
    with open(path, encoding="utf-8", newline="") as fh:
        return next(csv.reader([fh.readline()]), [])


__all__ = ["CsvLog", "ParquetStore", "open_store", "read_results", "consolidate", "is_parquet"]
