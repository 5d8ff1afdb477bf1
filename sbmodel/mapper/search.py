"""Mapping search: seeded random sampling, then local refinement of the best candidates.

Candidates are evaluated in NumPy batches by :func:`sbmodel.engine.batch.evaluate_batch`;
the winner is re-evaluated with the exact loop-nest simulation.  For the same
inputs, seed and budget the result is always the same mapping: ties on the
objective are broken by energy, then cycles, then the candidate's position
in the (deterministic) candidate stream.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..core.architecture import Architecture
from ..core.mapping import Mapping
from ..core.problem import Problem
from ..engine.batch import BatchResult, MappingBatch, evaluate_batch
from ..errors import SbmodelError
from .space import Constraints, MapSpace

OBJECTIVES = ("energy", "delay", "edp")
Evaluator = Callable[[MappingBatch], BatchResult]


@dataclass(frozen=True)
class SearchResult:
    mapping: Mapping
    energy_pJ: float
    cycles: int
    objective: str
    score: float
    evaluations: int
    valid: int
    seconds: float


def score(objective: str, energy: np.ndarray, cycles: np.ndarray) -> np.ndarray:
    if objective == "energy":
        return energy
    if objective == "delay":
        return cycles.astype(float)
    if objective == "edp":
        return energy * cycles
    raise SbmodelError(f"unknown objective {objective!r} (choose {', '.join(OBJECTIVES)})")


def _rank_key(objective: str, res: BatchResult, ok: np.ndarray, offset: int) -> np.ndarray:
    """Sort key: invalid last, then objective, energy, cycles, stream position."""
    s = np.where(ok, score(objective, res.energy_pJ, res.cycles), np.inf)
    e = np.where(ok, res.energy_pJ, np.inf)
    c = np.where(ok, res.cycles.astype(float), np.inf)
    pos = offset + np.arange(len(s))
    return np.lexsort((pos, c, e, s))


def search(
    problem: Problem,
    arch: Architecture,
    objective: str = "edp",
    *,
    constraints: Constraints | None = None,
    budget: int = 20_000,
    seed: int = 0,
    batch: int = 2_000,
    elite: int = 16,
    evaluator: Evaluator | None = None,
) -> SearchResult:
    """Best mapping found within ``budget`` candidate evaluations."""
    if objective not in OBJECTIVES:
        raise SbmodelError(f"unknown objective {objective!r} (choose {', '.join(OBJECTIVES)})")
    t0 = time.perf_counter()
    space = MapSpace(problem, arch, constraints)
    rng = np.random.default_rng(seed)
    evaluate = evaluator or (lambda b: evaluate_batch(problem, arch, b))
    min_util = space.constraints.min_utilization

    best: MappingBatch | None = None
    best_res: BatchResult | None = None
    evaluations = valid = 0

    def consider(cands: MappingBatch) -> None:
        nonlocal best, best_res, evaluations, valid
        res = evaluate(cands)
        ok = res.fits & (space.utilization(cands) >= min_util - 1e-12)
        evaluations += cands.size
        valid += int(ok.sum())
        if best is not None:
            cands = MappingBatch.concat([best, cands])
            res = _concat_results(best_res, res)
            ok = np.concatenate([np.isfinite(score(objective, best_res.energy_pJ, best_res.cycles)), ok])
        order = _rank_key(objective, res, ok, 0)[:elite]
        order = order[ok[order]]
        if order.size:
            best = cands.take(order)
            best_res = _take_result(res, order)

    # 1. random phase: half the budget
    explore = max(batch, budget // 2)
    while evaluations < explore:
        consider(space.sample(min(batch, explore - evaluations), rng))
    if best is None:
        raise SbmodelError(
            f"no valid mapping of layer {problem.name} on {arch.name} in {evaluations} candidates: "
            "tiles do not fit the buffers or the constraints leave no room")
    # 2. local refinement: neighbours of the elite until the budget is spent
    stale = 0
    while evaluations < budget and stale < 6:
        before = float(score(objective, best_res.energy_pJ[:1], best_res.cycles[:1])[0])
        reps = max(1, min(batch, budget - evaluations) // best.size)
        parents = best.take(np.repeat(np.arange(best.size), reps))
        child = space.mutate(parents, rng)
        for _ in range(int(rng.integers(0, 3))):
            child = space.mutate(child, rng)
        consider(child)
        after = float(score(objective, best_res.energy_pJ[:1], best_res.cycles[:1])[0])
        stale = stale + 1 if after >= before else 0

    mapping = best.mapping(problem, 0)
    return SearchResult(
        mapping=mapping, energy_pJ=float(best_res.energy_pJ[0]), cycles=int(best_res.cycles[0]),
        objective=objective, score=float(score(objective, best_res.energy_pJ[:1], best_res.cycles[:1])[0]),
        evaluations=evaluations, valid=valid, seconds=time.perf_counter() - t0,
    )


def _take_result(res: BatchResult, idx: np.ndarray) -> BatchResult:
    return BatchResult(**{k: getattr(res, k)[idx] for k in res.__dataclass_fields__})


def _concat_results(a: BatchResult, b: BatchResult) -> BatchResult:
    return BatchResult(**{k: np.concatenate([getattr(a, k), getattr(b, k)]) for k in a.__dataclass_fields__})
