"""Running a sweep: points in parallel, results appended as they finish, resumable.

* **Where points run.**  ``jobs=1``: in this process.  Otherwise a pool of local
  worker processes (default: one per CPU).  With a ``dask.distributed`` client
  (or ``scheduler="tcp://host:port"``) the same tasks run on a Dask cluster; the
  sweep (with its YAML documents) is sent to each worker once.
* **Equal work once.**  Points are grouped by what shapes their mapping searches
  (:func:`~sbmodel.sweep.point.mapping_group`).  The first point of a group runs
  first; the mappings it finds travel back with its result and are handed to the
  group's other points, which then only evaluate.  Locally, mappings are also
  kept in a cache directory beside the results, so a restarted sweep does not
  search again.
* **Reliability.**  Each finished point is appended to the results file at once
  (:mod:`.store`); on restart, finished points are skipped.  Ctrl-C stops the
  workers, keeps every finished point and exits; a killed sweep loses only the
  points in flight.  A failing point is recorded with its error.
* **Progress.**  A tqdm bar with rate and ETA when stderr is a terminal; nothing
  otherwise.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Protocol

from ..errors import SbmodelError
from .point import PointOutcome, PointTask, mapping_group, run_point
from .results import architecture_components, columns
from .sampling import Point, points as sweep_points
from .spec import Sweep, load_sweep
from .store import open_store, read_results

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class SweepSummary:
    """What a run did (also printed by the CLI)."""

    total_points: int
    skipped: int        # finished in an earlier run
    evaluated: int      # finished in this run
    failed: int         # of those, recorded as errors
    seconds: float
    interrupted: bool

    @property
    def points_per_second(self) -> float:
        return self.evaluated / self.seconds if self.seconds > 0 else 0.0

    def line(self, output: str | None) -> str:
        done = f"{self.evaluated} point(s) evaluated"
        if self.failed:
            done += f" ({self.failed} failed)"
        text = (f"sweep: {done} in {self.seconds:.1f} s ({self.points_per_second:.2f} points/s)"
                f"{f', {self.skipped} already done' if self.skipped else ''}; {self.total_points} in the sweep")
        if output:
            text += f" -> {output}"
        if self.interrupted:
            text += "; interrupted: run the same command again to resume"
        return text


# --------------------------------------------------------------------------- executors


class _Executor(Protocol):
    workers: int

    def submit(self, task: PointTask) -> Any: ...
    def wait_any(self, pending: Iterable[Any], timeout: float) -> set[Any]: ...
    def result(self, future: Any) -> PointOutcome: ...
    def stop(self, now: bool) -> None: ...


_WORKER: dict[str, Any] = {}


def _init_worker(sweep: Sweep, cache_dir: str | None) -> None:
    import signal
    import threading

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the parent ends workers with SIGTERM
    _WORKER["sweep"], _WORKER["cache_dir"] = sweep, cache_dir
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()


def _exit_with_parent(parent: int) -> None:
    """A worker whose sweep process died (kill -9) stops too, instead of finishing its point
    for nobody and waiting forever for the next."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def _run_in_worker(task: PointTask) -> PointOutcome:
    return run_point(_WORKER["sweep"], task, _WORKER["cache_dir"])


class _InlineFuture:
    def __init__(self, outcome: PointOutcome):
        self.outcome = outcome


class InlineExecutor:
    """Runs each point in this process when submitted (``jobs=1``)."""

    workers = 1

    def __init__(self, sweep: Sweep, cache_dir: str | None):
        self.sweep, self.cache_dir = sweep, cache_dir

    def submit(self, task: PointTask) -> _InlineFuture:
        return _InlineFuture(run_point(self.sweep, task, self.cache_dir))

    def wait_any(self, pending: Iterable[Any], timeout: float) -> set[Any]:
        return set(pending)

    def result(self, future: _InlineFuture) -> PointOutcome:
        return future.outcome

    def stop(self, now: bool) -> None:
        pass


class LocalExecutor:
    """A pool of local worker processes (fork where available: the sweep is inherited)."""

    def __init__(self, sweep: Sweep, cache_dir: str | None, jobs: int):
        methods = multiprocessing.get_all_start_methods()
        ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
        self.workers = jobs
        self.pool = ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_init_worker,
                                        initargs=(sweep, cache_dir))

    def submit(self, task: PointTask) -> Future:
        return self.pool.submit(_run_in_worker, task)

    def wait_any(self, pending: Iterable[Any], timeout: float) -> set[Any]:
        done, _ = wait(list(pending), timeout=timeout, return_when=FIRST_COMPLETED)
        return set(done)

    def result(self, future: Future) -> PointOutcome:
        from concurrent.futures.process import BrokenProcessPool

        try:
            return future.result()
        except BrokenProcessPool:
            raise SbmodelError("a sweep worker process died (out of memory, or killed); the finished points are "
                               "saved: run the same command again to resume") from None

    def stop(self, now: bool) -> None:
        """Shut the pool down; ``now``: cancel queued points and end the worker processes it started."""
        if not now:
            self.pool.shutdown(wait=True)
            return
        terminate = getattr(self.pool, "terminate_workers", None)  # Python >= 3.14
        if terminate is not None:
            terminate()
            return
        procs = list((getattr(self.pool, "_processes", None) or {}).values())
        self.pool.shutdown(wait=False, cancel_futures=True)
        for p in procs:
            if p.is_alive():
                p.terminate()
        for p in procs:
            p.join(timeout=5)


def _dask_run(sweep: Sweep, task: PointTask, cache_dir: str | None) -> PointOutcome:
    return run_point(sweep, task, cache_dir)


class DaskExecutor:
    """Points as tasks on a ``dask.distributed`` cluster."""

    def __init__(self, sweep: Sweep, cache_dir: str | None, client: Any):
        self.client = client
        self.workers = max(1, sum(client.nthreads().values()))
        # Sent once per worker, then passed to every task by reference.
        self.sweep_ref = client.scatter(sweep, broadcast=True, hash=False)
        self.cache_dir = cache_dir
        self.futures: set[Any] = set()

    def submit(self, task: PointTask) -> Any:
        fut = self.client.submit(_dask_run, self.sweep_ref, task, self.cache_dir, pure=False,
                                  key=f"sbmodel-sweep-{task.point_id}-{time.monotonic_ns()}")
        self.futures.add(fut)
        return fut

    def wait_any(self, pending: Iterable[Any], timeout: float) -> set[Any]:
        from distributed import wait as dask_wait
        from distributed.client import FIRST_COMPLETED as DASK_FIRST

        try:
            done, _ = dask_wait(list(pending), timeout=timeout, return_when=DASK_FIRST)
        except Exception as exc:  # distributed raises its own or the builtin TimeoutError
            if "Timeout" in type(exc).__name__:
                return set()
            raise
        return set(done)

    def result(self, future: Any) -> PointOutcome:
        self.futures.discard(future)
        return future.result()

    def stop(self, now: bool) -> None:
        if now and self.futures:
            self.client.cancel(list(self.futures))
        self.futures.clear()


def connect(scheduler: str) -> Any:
    """A Dask client for ``tcp://host:port`` (needs the optional ``dask`` extra)."""
    try:
        from distributed import Client
    except ImportError:
        raise SbmodelError("running on a Dask cluster needs dask.distributed: pip install 'sbmodel[dask]'") from None
    try:
        return Client(scheduler, timeout="20s")
    except (OSError, TimeoutError) as exc:
        raise SbmodelError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None


# --------------------------------------------------------------------------- progress


class _Progress:
    def __init__(self, total: int, initial: int, name: str, enabled: bool | None):
        if enabled is None:
            enabled = sys.stderr.isatty()
        self.bar = None
        self.failed = 0
        if enabled:
            from tqdm import tqdm

            tqdm.monitor_interval = 0  # no monitor thread: workers are forked from this process
            self.bar = tqdm(total=total, initial=initial, desc=f"sweep {name}", unit="pt", dynamic_ncols=True,
                            smoothing=0.1)

    def update(self, n: int, failed: int) -> None:
        self.failed += failed
        if self.bar is not None:
            self.bar.update(n)
            if self.failed:
                self.bar.set_postfix(failed=self.failed, refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


# --------------------------------------------------------------------------- the run


def mapping_cache_dir(output: str | Path) -> Path:
    """Where a sweep writing ``output`` keeps its mappings: ``results.csv`` -> ``results.mappings/``."""
    p = Path(output)
    stem = p.name[: -len(p.suffix)] if p.suffix else p.name
    return p.with_name(stem + ".mappings")


def sweep_columns(sweep: Sweep) -> list[str]:
    """The results columns: parameters, then energy columns for the components of every
    architecture the sweep may use (levels by name, in the order first met)."""
    from ..spec.architecture import ArchitectureFile, build_architecture
    from ..spec.common import validate

    components: dict[str, bool] = {}
    for f in sweep.files("architecture"):
        doc = sweep.documents[f]
        spec = validate(ArchitectureFile, doc).architecture
        try:
            arch = build_architecture(spec, doc)
            comps = architecture_components(arch)
        except SbmodelError:  # the base file alone may be an invalid combination: names still count
            comps = [(spec.compute.name, False)] + [(lv.name, True) for lv in reversed(spec.levels)
                                                    if not lv.container]
        for name, storage in comps:
            components.setdefault(name, storage)
    return columns([p.name for p in sweep.parameters], components.items())


def run_sweep(
    sweep: Sweep | str | Path | dict[str, Any],
    output: str | Path | None = None,
    *,
    jobs: int | None = None,
    client: Any = None,
    scheduler: str | None = None,
    progress: bool | None = None,
    retry_errors: bool = False,
    mapping_cache: str | Path | None = None,
    limit: int | None = None,
    on_summary: Callable[[SweepSummary], None] | None = None,
) -> "pd.DataFrame":
    """Run a sweep and return its results (all points, including earlier runs') as a DataFrame.

    ``output``: a ``.csv`` or ``.parquet`` file, appended to as points finish and
    resumed from when it exists.  Without it results live in a temporary file.
    ``jobs``: local worker processes (default: CPU count; 1 = this process).
    ``client`` / ``scheduler``: run on a Dask cluster instead.  ``progress``: show
    a bar (default: when stderr is a terminal).  ``retry_errors``: evaluate failed
    points again.  ``limit``: evaluate at most this many pending points (for trials).
    """
    import tempfile

    if not isinstance(sweep, Sweep):
        sweep = load_sweep(sweep)
    tmpdir = None
    if output is None:
        tmpdir = tempfile.TemporaryDirectory(prefix="sbmodel-sweep-")
        output = Path(tmpdir.name) / "results.csv"
    try:
        if mapping_cache is not None:
            cache: Path | None = Path(mapping_cache)
        else:  # beside the results; a throw-away run shares mappings in memory only
            cache = None if tmpdir is not None else mapping_cache_dir(output)
        summary = _run(sweep, Path(output), jobs=jobs, client=client, scheduler=scheduler, progress=progress,
                       retry_errors=retry_errors, mapping_cache=cache, limit=limit)
        if on_summary is not None:
            on_summary(summary)
        df = read_results(output)
        df.attrs["summary"] = summary
        return df
    finally:
        if tmpdir is not None:
            tmpdir.cleanup()


def _run(sweep: Sweep, output: Path, *, jobs: int | None, client: Any, scheduler: str | None,
         progress: bool | None, retry_errors: bool, mapping_cache: Path | None, limit: int | None) -> SweepSummary:
    all_points = sweep_points(sweep)
    store = open_store(output, sweep_columns(sweep))
    finished = store.open()
    interrupted = False
    t0 = time.perf_counter()
    evaluated = failed = 0
    executor: Any = None
    own_client = None
    try:
        done_ids = {pid for pid, status in finished.items() if status == "ok" or not retry_errors}
        pending = [p for p in all_points if p.point_id not in done_ids]
        if limit is not None:
            pending = pending[:limit]
        skipped = len(all_points) - len([p for p in all_points if p.point_id not in done_ids])
        bar = _Progress(len(all_points) if limit is None else skipped + len(pending), skipped, sweep.name, progress)
        cache_dir = str(mapping_cache) if mapping_cache else None
        if not pending:
            executor = None
        elif client is not None or scheduler is not None:
            if client is None:
                client = own_client = connect(scheduler)  # type: ignore[arg-type]
            executor = DaskExecutor(sweep, cache_dir, client)
        elif (jobs or os.cpu_count() or 1) > 1 and len(pending) > 1:
            executor = LocalExecutor(sweep, cache_dir, min(jobs or os.cpu_count() or 1, len(pending)))
        else:
            executor = InlineExecutor(sweep, cache_dir)
        completed = False
        try:
            for outcomes in _schedule(sweep, pending, executor):
                blocks = [_block(sweep, all_points[o.index], o) for o in outcomes]
                store.append(blocks)
                n_failed = sum(not o.ok for o in outcomes)
                evaluated += len(outcomes)
                failed += n_failed
                bar.update(len(outcomes), n_failed)
            completed = True
        except KeyboardInterrupt:
            interrupted = True
        finally:
            bar.close()
            if executor is not None:
                executor.stop(now=not completed)
    finally:
        store.close()
        if own_client is not None:
            own_client.close()
    summary = SweepSummary(len(all_points), skipped, evaluated, failed, time.perf_counter() - t0, interrupted)
    if interrupted:
        raise SweepInterrupted(summary)
    return summary


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C during a sweep: finished points are saved; ``summary`` says how far it got."""

    def __init__(self, summary: SweepSummary):
        super().__init__(summary.line(None))
        self.summary = summary


def _block(sweep: Sweep, point: Point, outcome: PointOutcome) -> list[dict[str, Any]]:
    head = {"point_id": point.point_id, "point": point.index, **point.labels(sweep)}
    return [{**head, **row} for row in outcome.rows]


class _Pace:
    """How many points to keep submitted: two per worker for slow points (few are lost if the
    sweep is killed), more for fast ones so workers never wait on this process (about half a
    second of work queued per worker, at most 64 points each)."""

    QUEUED_S = 0.5

    def __init__(self, workers: int):
        self.workers = workers
        self.mean_s: float | None = None

    def observe(self, seconds: float) -> None:
        self.mean_s = seconds if self.mean_s is None else 0.9 * self.mean_s + 0.1 * seconds

    @property
    def window(self) -> int:
        if self.mean_s is None:
            return max(2, 2 * self.workers)
        per_worker = min(64, max(2, int(self.QUEUED_S / max(self.mean_s, 1e-4))))
        return per_worker * self.workers


def _schedule(sweep: Sweep, pending: list[Point], executor: Any) -> Iterable[list[PointOutcome]]:
    """Submit points (group leaders first, followers once their leader is back, with its
    mappings); yield the outcomes that finish together."""
    if executor is None:
        return
    groups: dict[tuple[Any, ...], deque[Point]] = {}
    for p in pending:
        groups.setdefault(mapping_group(sweep, p.choices), deque()).append(p)
    ready: deque[tuple[Point, tuple[Any, ...]]] = deque((q.popleft(), g) for g, q in groups.items())
    known: dict[tuple[Any, ...], dict[str, Any]] = {}
    in_flight: dict[Any, tuple[Point, tuple[Any, ...]]] = {}
    pace = _Pace(executor.workers)
    while ready or in_flight:
        while ready and len(in_flight) < pace.window:
            point, g = ready.popleft()
            task = PointTask(point.index, point.point_id, point.choices, dict(known.get(g, {})))
            in_flight[executor.submit(task)] = (point, g)
        done = executor.wait_any(in_flight.keys(), timeout=0.5)
        outcomes = []
        for fut in done:
            point, g = in_flight.pop(fut)
            outcome = executor.result(fut)
            outcomes.append(outcome)
            pace.observe(outcome.seconds)
            if outcome.new_mappings:
                known.setdefault(g, {}).update(outcome.new_mappings)
            followers = groups.get(g)
            if followers:  # the leader is back: release the whole group
                ready.extend((q, g) for q in followers)
                followers.clear()
        if outcomes:
            yield outcomes


__all__ = ["run_sweep", "SweepSummary", "SweepInterrupted", "mapping_cache_dir", "sweep_columns", "connect"]
