"""Evaluating one design point (runs in a worker process, locally or on a Dask cluster).

A point's architecture and workload are the sweep's YAML documents with the
point's parameter values written in (before validation, so a bad combination
fails the same strict checks as a hand-written file); then
:func:`sbmodel.api.evaluate` runs it, searching mappings for layers without a
given one.  Every failure -- an invalid combination, a design no mapping fits --
becomes an error outcome: a worker never takes the sweep down with it.

Mappings are shared through :class:`SharedMappingCache`: the search's own
cache key (architecture, layer shape and statistics, search settings) looks up,
in order, mappings the scheduler handed to this task (found by an earlier point
on another worker), this worker's memory, and the sweep's cache directory.
"""

from __future__ import annotations

import json
import os
import time
import traceback
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from ..core.architecture import Architecture
from ..errors import SbmodelError
from ..core.mapping import Mapping
from ..mapper.cache import MappingCache
from ..spec.architecture import ArchitectureFile, build_architecture
from ..spec.common import validate
from ..spec.workload import Workload, WorkloadFile
from ..spec.yamlio import Located
from .results import area_proxy, result_rows
from .spec import Sweep, apply_overrides


@dataclass(frozen=True)
class PointTask:
    """What a worker needs besides the sweep: the point, and mappings found elsewhere."""

    index: int
    point_id: str
    choices: tuple[Any, ...]
    mappings: dict[str, Mapping] = field(default_factory=dict)  # cache key -> mapping found elsewhere


@dataclass(frozen=True)
class PointOutcome:
    index: int
    point_id: str
    rows: list[dict[str, Any]]           # layer rows then the total row (or one error row)
    ok: bool
    seconds: float
    new_mappings: dict[str, Mapping] = field(default_factory=dict)  # searched here: cache key -> mapping


class SharedMappingCache:
    """The mapper's cache interface (``key``, ``get``, ``put``) over three sources:
    mappings handed over with the task, this worker's memory, a shared directory.
    Records what it searched so the scheduler can pass it on to other points."""

    def __init__(self, inner: MappingCache, handed: dict[str, Mapping]):
        self.inner = inner
        self.handed = handed
        self.found: dict[str, Mapping] = {}

    def key(self, arch: Architecture, problem: Any, **settings: Any) -> str:
        return self.inner.key(arch, problem, **settings)

    def get(self, key: str) -> Mapping | None:
        if key in self.handed:
            return self.handed[key]  # the object itself (pickled), exactly what the search returned
        return self.inner.get(key)

    def put(self, key: str, mapping: Mapping) -> None:
        self.inner.put(key, mapping)
        self.found[key] = mapping


# One cache object per worker process and directory: its memory outlives single points.
@lru_cache(maxsize=8)
def _worker_cache(directory: str | None) -> MappingCache:
    return MappingCache(directory)


class Materialiser:
    """Builds a point's architecture and workload, memoised on the values that shape them
    (many points share an architecture and differ only in workload, or the reverse)."""

    def __init__(self, sweep: Sweep, memo: int = 64):
        self.sweep = sweep
        self._arch = lru_cache(maxsize=memo)(self._build_arch)
        self._work = lru_cache(maxsize=memo)(self._build_workload)

    def _split(self, root: str, choices: tuple[Any, ...]) -> tuple[str, tuple[tuple[int, Any], ...]]:
        base = self.sweep.architecture if root == "architecture" else self.sweep.workload
        mine: list[tuple[int, Any]] = []
        for i, (p, c) in enumerate(zip(self.sweep.parameters, choices)):
            if p.root != root:
                continue
            if p.is_file:
                base = p.value(c)
            else:
                mine.append((i, c))
        assert base is not None
        return base, tuple(mine)

    def _data(self, file: str, mine: tuple[tuple[int, Any], ...]) -> Located:
        doc = self.sweep.documents[file]
        assignments = [a for i, c in mine for a in self.sweep.parameters[i].assignments(c)]
        return Located(apply_overrides(doc, assignments), doc.file, doc.lines)

    def _build_arch(self, file: str, mine: tuple[tuple[int, Any], ...]) -> Architecture:
        located = self._data(file, mine)
        return build_architecture(validate(ArchitectureFile, located).architecture, located)

    def _build_workload(self, file: str, mine: tuple[tuple[int, Any], ...]) -> Workload:
        workload = validate(WorkloadFile, self._data(file, mine)).workload
        workload._file = self.sweep.documents[file].file  # as load_workload: masks are relative to the file
        return workload

    def architecture(self, choices: tuple[Any, ...]) -> Architecture:
        return self._arch(*self._split("architecture", choices))

    def workload(self, choices: tuple[Any, ...]) -> Workload:
        return self._work(*self._split("workload", choices))


def mapping_group(sweep: Sweep, choices: tuple[Any, ...]) -> tuple[Any, ...]:
    """Points with equal groups most likely need the same mapping searches: equal
    architecture and equal layer shapes (weight statistics aside).  Only a scheduling
    hint (the first point of a group runs before the others, which then reuse its
    mappings); correctness rests on the mapper's own cache key."""
    return tuple(c for p, c in zip(sweep.parameters, choices)
                 if p.root == "architecture" or p.is_file or ".stats" not in str(p.paths[0]))


def run_point(sweep: Sweep, task: PointTask, cache_dir: str | None) -> PointOutcome:
    """Evaluate one point; any failure is returned as an error outcome, never raised."""
    from ..api import evaluate
    from ..mapper import find_mapping

    t0 = time.perf_counter()
    mat = _materialiser(sweep)
    cache = SharedMappingCache(_worker_cache(cache_dir), task.mappings)
    m = sweep.mapper
    try:
        arch = mat.architecture(task.choices)
        work = mat.workload(task.choices)
        result = evaluate(
            arch, work, mappings=sweep.mapping,
            mapper=lambda problem, a: find_mapping(problem, a, m.objective, budget=m.budget, seed=m.seed,
                                                   restarts=m.restarts, imperfect=m.imperfect, cache=cache),
            jobs=1,
        )
        rows = result_rows(result, area_proxy(arch))
        ok, error = True, ""
    except Exception as exc:  # noqa: BLE001 -- every failure is a recorded outcome
        rows, ok, error = [], False, _one_line(exc)
    seconds = time.perf_counter() - t0
    if not ok:
        rows = [{"row": "total", "status": "error", "layer": "", "error": error, "seconds": seconds}]
    else:
        rows[-1]["seconds"] = seconds
    return PointOutcome(task.index, task.point_id, rows, ok, seconds, cache.found)


def _one_line(exc: BaseException) -> str:
    """``Type: message`` on one line (results are one line per row)."""
    if isinstance(exc, SbmodelError):
        text = str(exc)
    else:
        tb = traceback.extract_tb(exc.__traceback__)
        where = f" [{os.path.basename(tb[-1].filename)}:{tb[-1].lineno}]" if tb else ""
        text = f"{type(exc).__name__}: {exc}{where}"
    return " ".join(text.split())


_MATERIALISERS: dict[str, Materialiser] = {}


def _materialiser(sweep: Sweep) -> Materialiser:
    """One materialiser per sweep per process, so its memo serves every point of the worker."""
    key = sweep.fingerprint + json.dumps(sweep.name)
    mat = _MATERIALISERS.get(key)
    if mat is None:
        _MATERIALISERS.clear()
        mat = _MATERIALISERS[key] = Materialiser(sweep)
    return mat


__all__ = ["PointTask", "PointOutcome", "run_point", "mapping_group", "Materialiser", "SharedMappingCache"]
