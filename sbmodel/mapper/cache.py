"""Mapping cache: repeated layer shapes (and sweep points) reuse a search result.

Keyed by a fingerprint of everything a search depends on: the architecture
(levels, sizes, fanouts, energies, constraints), the layer's shape and
statistics, the objective, budget and seed, and the search and engine code
itself.  Held in memory per process and, when a directory is given, as small
JSON files shared across processes.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

from ..core.architecture import Architecture
from ..core.mapping import LevelMapping, Loop, Mapping
from ..core.memo import IdentityMemo
from ..core.problem import Problem


def _plain(x: Any) -> Any:
    """JSON-able form of what defines ``x``: dataclass fields without private ones (memo
    tables such as a density model's ``_cache`` fill up as a model is used, and must not
    change the key of the layer or design it belongs to)."""
    if is_dataclass(x) and not isinstance(x, type):
        return {f.name: _plain(getattr(x, f.name)) for f in fields(x) if not f.name.startswith("_")}
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in sorted(x.items(), key=lambda kv: str(kv[0]))}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, (set, frozenset)):
        return sorted(_plain(v) for v in x)
    return x


def fingerprint(*parts: Any) -> str:
    text = json.dumps([_plain(p) for p in parts], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def design_fingerprint(arch: Architecture) -> str:
    """:func:`fingerprint` of an architecture, computed once per architecture object (a
    network's layers and a sweep point's searches all key on the same design)."""
    return _DESIGNS(arch, fingerprint)


_DESIGNS: IdentityMemo[Architecture, str] = IdentityMemo()


@functools.cache
def search_revision() -> str:
    """Fingerprint of the code a search result depends on (the mapper and the engine that scores
    its candidates): a cache directory kept across an upgrade or a local change then misses
    instead of returning what an older search found, which today's would not."""
    from .. import __version__

    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256(__version__.encode())  # all there is to go by where sources are not shipped
    try:
        for folder in ("mapper", "engine"):
            for path in sorted((package / folder).rglob("*.py")):
                digest.update(path.relative_to(package).as_posix().encode())
                digest.update(path.read_bytes())
    except OSError:
        pass  # unreadable sources: the version alone still separates releases
    return digest.hexdigest()[:16]


def problem_key(problem: Problem) -> Any:
    """Shape (not name) of a layer plus whatever statistics it carries."""
    return {"dims": problem.dims, "bounds": problem.bounds, "dataspaces": _plain(problem.dataspaces),
            "densities": _plain(dict(problem.densities)), "bits": _plain(dict(problem.word_bits))}


def mapping_to_json(m: Mapping) -> list[dict[str, Any]]:
    """Loops as ``[dim, factor]`` (temporal) and ``[dim, factor, axis]`` (spatial), with the
    residual appended when a loop has one (imperfect factorisation)."""
    def tail(lp: Loop) -> list[int]:
        return [] if lp.residual is None else [lp.residual]

    return [{"temporal": [[lp.dim, lp.factor, *tail(lp)] for lp in lm.temporal],
             "spatial": [[lp.dim, lp.factor, lp.axis, *tail(lp)] for lp in lm.spatial],
             "keep": sorted(lm.keep)} for lm in m.levels]


def mapping_from_json(data: list[dict[str, Any]], source: str = "cache") -> Mapping:
    def temporal(d: str, f: int, residual: int | None = None) -> Loop:
        return Loop(d, f, residual=residual)

    def spatial(d: str, f: int, a: str, residual: int | None = None) -> Loop:
        return Loop(d, f, residual=residual, axis=a)

    return Mapping(tuple(
        LevelMapping(temporal=tuple(temporal(*lp) for lp in lv["temporal"]),
                     spatial=tuple(spatial(*lp) for lp in lv["spatial"]),
                     keep=frozenset(lv["keep"]))
        for lv in data), source=source)


class MappingCache:
    """In-memory cache, optionally backed by a directory of JSON files."""

    def __init__(self, directory: str | Path | None = None):
        self.directory = Path(directory) if directory else None
        self._memory: dict[str, Mapping] = {}
        self.hits = self.misses = 0

    def key(self, arch: Architecture, problem: Problem, **settings: Any) -> str:
        return fingerprint(design_fingerprint(arch), problem_key(problem), settings, search_revision())

    def get(self, key: str) -> Mapping | None:
        m = self._memory.get(key)
        if m is None and self.directory is not None:
            path = self.directory / f"{key}.json"
            if path.is_file():
                try:
                    m = mapping_from_json(json.loads(path.read_text()), source=f"cache:{path.name}")
                except (ValueError, KeyError, TypeError):
                    m = None  # a damaged entry is ignored and rewritten
                if m is not None:
                    self._memory[key] = m
        if m is None:
            self.misses += 1
        else:
            self.hits += 1
        return m

    def put(self, key: str, mapping: Mapping) -> None:
        self._memory[key] = mapping
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=f".{key}.", suffix=".tmp")
            with os.fdopen(fd, "w") as fh:
                json.dump(mapping_to_json(mapping), fh)
            os.replace(tmp, self.directory / f"{key}.json")


DEFAULT_CACHE = MappingCache(os.environ.get("SBMODEL_MAPPING_CACHE") or None)
