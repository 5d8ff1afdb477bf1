"""Design-space sweeps: grid, random and Latin-hypercube sampling over architecture and
workload parameters, run in parallel (local processes or a Dask cluster), resumable.

>>> from sbmodel.sweep import run_sweep
>>> df = run_sweep("examples/sweeps/eyeriss_glb.yaml", "results.csv")   # doctest: +SKIP
>>> df[df.row == "total"]                                                # one row per point

Modules: :mod:`.spec` (the sweep file), :mod:`.paths` (parameter paths),
:mod:`.sampling` (design points), :mod:`.point` (evaluating one point),
:mod:`.results` (the columns), :mod:`.store` (results files that survive
interruption), :mod:`.runner` (scheduling, progress), :mod:`.cli` (``sbmodel
sweep`` / ``sbmodel plot``).  See docs/sweeps.md.

Names are imported lazily so the CLI's ``--help`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "run_sweep": "runner", "SweepSummary": "runner", "SweepInterrupted": "runner",
    "load_sweep": "spec", "Sweep": "spec", "Parameter": "spec",
    "points": "sampling", "Point": "sampling",
    "read_results": "store",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'sbmodel.sweep' has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


__all__ = sorted(_EXPORTS)
