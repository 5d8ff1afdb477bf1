"""Design points of a sweep: full grid, uniform random, or Latin-hypercube samples.

A point is one *choice* per parameter (an option index, or a number of a
range; see :class:`~sbmodel.sweep.spec.Parameter`).  Sampling is seeded and
deterministic, so the same sweep file always yields the same points in the same
order; identical points (integer ranges, small option lists) are kept once.

* **grid**: every combination, the last parameter varying fastest; ranges at
  their ``count`` / ``step`` points.
* **random**: each parameter drawn independently and uniformly (log-uniformly
  for ``scale: log``).
* **lhs**: Latin hypercube (McKay, Beckman & Conover, Technometrics 21(2),
  1979): each parameter's unit interval is cut into ``points`` equal strata and
  every stratum is used exactly once, in an independent random order per
  parameter, so every one-dimensional projection is evenly covered.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np

from .spec import Parameter, Sweep, sample_range


@dataclass(frozen=True)
class Point:
    """One design point: its position in the sweep, its choices and a stable id."""

    index: int
    choices: tuple[Any, ...]  # one per parameter, in the sweep's parameter order
    point_id: str

    def labels(self, sweep: Sweep) -> dict[str, Any]:
        """Parameter name -> results-column entry."""
        return {p.name: p.label(c) for p, c in zip(sweep.parameters, self.choices)}


def point_id(sweep: Sweep, choices: tuple[Any, ...]) -> str:
    """Hash of the sweep's inputs (:attr:`Sweep.fingerprint`) and the point's values."""
    values = {p.name: _canonical(p.value(c)) for p, c in zip(sweep.parameters, choices)}
    text = json.dumps([sweep.fingerprint, values], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _canonical(v: Any) -> Any:
    if isinstance(v, tuple):
        return [_canonical(x) for x in v]
    if isinstance(v, float) and v.is_integer():
        return int(v)  # 4 and 4.0 are the same design
    return v


def points(sweep: Sweep) -> list[Point]:
    """The sweep's design points (duplicates removed, first occurrence kept)."""
    out: list[Point] = []
    seen: set[str] = set()
    for choices in _choices(sweep):
        pid = point_id(sweep, choices)
        if pid in seen:
            continue
        seen.add(pid)
        out.append(Point(len(out), choices, pid))
    return out


def _choices(sweep: Sweep) -> Iterator[tuple[Any, ...]]:
    params = sweep.parameters
    method = sweep.sampling.method
    if method == "grid":
        yield from itertools.product(*(p.grid_choices() for p in params))
        return
    n = int(sweep.sampling.points or 0)
    rng = np.random.default_rng(sweep.sampling.seed)
    if method == "random":
        u = rng.random((n, len(params)))
    else:  # lhs
        u = np.empty((n, len(params)))
        for j in range(len(params)):
            u[:, j] = (rng.permutation(n) + rng.random(n)) / n
    for i in range(n):
        yield tuple(_at(p, float(u[i, j])) for j, p in enumerate(params))


def _at(p: Parameter, u: float) -> Any:
    """The choice at quantile ``u`` in [0, 1) of a parameter."""
    u = min(max(u, 0.0), np.nextafter(1.0, 0.0))
    if p.discrete or p.grid:
        k = len(p.grid_choices())
        return p.grid_choices()[min(int(u * k), k - 1)]
    assert p.range is not None
    return sample_range(p.range, u)


__all__ = ["Point", "points", "point_id"]
