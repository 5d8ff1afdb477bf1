"""Compute actions: which multiply-accumulates are actual, gated, skipped or never happen.

Each of the two operands reaching the compute units is, per operation,
*existing and nonzero*, *existing and zero* (stored uncompressed) or *not
existing* (compressed away).  Operand pairs with a zero are gated if the
units gate on zero operands (else computed anyway); pairs with a missing
operand are skipped if the units skip unaligned operands (else gated or
computed); pairs where both are missing never reach the units.  An operand
already optimised at its innermost level changes the other operand's
odds (its accesses only happen where the first is nonempty).  Sparseloop's
two-operand model (``compute-gs-analyzer.cpp``).
"""

from __future__ import annotations

from math import floor

from ...core.problem import Problem
from ...errors import EvaluationError
from .actions import OptimizationState
from .density import Tile
from .spec import ComputeOptimization
from .state import ComputeState, TileState

ENZ, EZ, NE = "exist_nonzero", "exist_zero", "not_exist"


def _clamp(states: dict[str, float], name: str) -> dict[str, float]:
    out = {}
    for k, v in states.items():
        if v < -1e-5 or v > 1.00001:
            raise EvaluationError(f"operand {name}: state probability {v} outside [0, 1]")
        out[k] = min(1.0, max(0.0, v))
    return out


def compute_actions(states: list[list[TileState]], compute: ComputeState, problem: Problem,
                    opt: OptimizationState, compute_opt: ComputeOptimization) -> None:
    """Split the computes left after storage optimisations into actual, gated and skipped."""
    operands = [t for t, ds in enumerate(problem.dataspaces) if not ds.read_write]
    if len(operands) != 2:
        raise EvaluationError(f"sparse compute modelling needs exactly two operand tensors, the layer has "
                              f"{len(operands)} ({[problem.dataspaces[t].name for t in operands]})")
    density: dict[int, float] = {}
    has_md: dict[int, bool] = {}
    for t in operands:
        inner = next((st for st in states[t] if st.kept), None)
        if inner is None:
            raise EvaluationError(f"operand {problem.dataspaces[t].name} is kept at no level")
        scalar = Tile.scalar(len(problem.dataspaces[t].projection))
        d = round(1e6 * inner.density.expected_occupancy(scalar) / scalar.size) / 1e6
        density[t] = round(d * 1e6) / 1e6
        has_md[t] = inner.has_metadata
    per: dict[int, dict[str, float]] = {}
    for t in operands:
        d = density[t]
        per[t] = {ENZ: d, EZ: 0.0, NE: 1.0 - d} if has_md[t] else {ENZ: d, EZ: 1.0 - d, NE: 0.0}
    a, b = operands

    def condition(x: int, on: int) -> None:
        ratio = 1.0 - opt.innermost_empty_prob.get(on, 0.0)
        # (ratio 0: the other operand is always empty, no compute is left; keep the plain density)
        dens = density[x] / ratio if ratio > 0 else density[x]
        per[x] = {EZ: 0.0 if has_md[x] else 1.0 - dens, NE: 1.0 - dens if has_md[x] else 0.0, ENZ: dens}

    saf_a, saf_b = opt.storage_saf.get(a, False), opt.storage_saf.get(b, False)
    if saf_a and saf_b:
        condition(a, b)
        condition(b, a)
    elif saf_a:
        condition(b, a)
    elif saf_b:
        condition(a, b)
    pa = _clamp(per[a], problem.dataspaces[a].name)
    pb = _clamp(per[b], problem.dataspaces[b].name)

    total = compute.random
    gate, skip = compute_opt.gate_on_zero_operand, compute_opt.skip_on_not_aligned_operands
    gated = skipped = 0.0
    # In Sparseloop's order (the floors below see the same float sums):
    # one operand zero, one missing, both zero, one zero and one missing.
    cases = (
        (total * (pa[ENZ] * pb[EZ] + pa[EZ] * pb[ENZ]), False),
        (total * (pa[ENZ] * pb[NE] + pa[NE] * pb[ENZ]), True),
        (total * pa[EZ] * pb[EZ], False),
        (total * (pa[EZ] * pb[NE] + pa[NE] * pb[EZ]), True),
    )
    for delta, missing in cases:
        if missing and skip:
            skipped += delta
        elif gate:
            gated += delta
    nonexistent = total * pa[NE] * pb[NE]
    compute.skipped = float(floor(skipped))
    compute.gated = float(floor(gated))
    compute.random = total - floor(skipped) - floor(gated) - floor(nonexistent)


__all__ = ["compute_actions"]
