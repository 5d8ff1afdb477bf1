"""Imperfect factorisation for the mapping search: padded layers searched, residual loops evaluated.

A dimension whose bound factors badly (7, 14, 1000, ...) can leave spatial
instances idle or tiles small under perfect factorisation.  Timeloop's
``residual`` loops cover such a bound with factors whose product exceeds it:
the loops of a dimension count its points in mixed radix, each loop running to
its residual on the last iteration of the loops outside it
(:func:`sbmodel.core.mapping.covered_extent`).

The batch evaluator cannot represent residuals, so the search works on
*padded* layers (:func:`padded_problems`: bounds rounded up to numbers with
many factors), and the best mappings of each padded layer are turned into
mappings of the real layer (:func:`residual_mapping`) that the exact analysis
then evaluates.  Tiles and fanouts of the residual mapping are at most those of
the padded one, so it fits wherever the padded mapping fits.
"""

from __future__ import annotations

from dataclasses import replace
from math import prod

import numpy as np

from ..core.mapping import Loop, Mapping, covered_extent
from ..core.problem import Problem
from ..errors import SbmodelError

MAX_PADDED_VARIANTS = 4  # padded layers searched per layer: all dimensions at once, then one at a time


def smooth_ceiling(n: int) -> int:
    """Smallest number >= ``n`` of the form 2^a * 3^b (many divisors: factors for every level)."""
    best = 1 << max(0, n - 1).bit_length()  # the next power of two
    three = 1
    while three < best:
        value = three
        while value < n:
            value *= 2
        best = min(best, value)
        three *= 3
    return best


def padded_problems(problem: Problem) -> list[Problem]:
    """Padded copies of ``problem`` to search: every badly factoring dimension rounded up to
    :func:`smooth_ceiling` at once, then each such dimension alone (at most
    ``MAX_PADDED_VARIANTS`` in all); none when every bound is already smooth."""
    grown = {d: smooth_ceiling(b) for d, b in problem.bound.items() if smooth_ceiling(b) != b}
    variants: list[dict[str, int]] = [grown] if grown else []
    if len(grown) > 1:
        variants += [{d: b} for d, b in grown.items()]
    return [replace(problem, name=f"{problem.name} (padded {_describe(v)})",
                    bounds=tuple(v.get(d, b) for d, b in zip(problem.dims, problem.bounds)))
            for v in variants[:MAX_PADDED_VARIANTS]]


def _describe(grown: dict[str, int]) -> str:
    return ", ".join(f"{d}={b}" for d, b in grown.items())


def residual_mapping(padded: Mapping, problem: Problem) -> Mapping:
    """The mapping of ``problem`` that runs ``padded`` (a mapping of a padded copy) only over the
    real points: per dimension, the last point's index in the mixed radix of its loops (outer
    to inner) gives each loop's residual; the outermost loop shrinks to its last iteration's
    extent (a factor-1 loop is dropped).  Bounds the padding did not change keep their loops."""
    # every loop with its place, outermost first (as :meth:`Mapping.loops_outer_to_inner`)
    places = [(lvl, group, i) for lvl in reversed(range(len(padded.levels)))
              for group in ("temporal", "spatial")
              for i in reversed(range(len(getattr(padded.levels[lvl], group))))]
    loop_at = {pl: getattr(padded.levels[pl[0]], pl[1])[pl[2]] for pl in places}
    new: dict[tuple[int, str, int], Loop | None] = {}  # place -> replacement (None: dropped)
    for dim, bound in problem.bound.items():
        own = [pl for pl in places if loop_at[pl].dim == dim]
        span = 1
        for pl in own:
            span *= loop_at[pl].factor
        if span == bound:
            continue
        if span < bound:
            raise SbmodelError(f"the mapping covers {dim}={span}, less than layer {problem.name}'s {bound}")
        digits = mixed_radix(np.array([bound - 1]), [loop_at[pl].factor for pl in own])[0]
        for i, (pl, digit) in enumerate(zip(own, digits.tolist())):
            lp = loop_at[pl]
            if i == 0:
                new[pl] = replace(lp, factor=digit + 1, residual=None) if digit else None
            elif digit + 1 != lp.factor:
                new[pl] = replace(lp, residual=digit + 1)
    levels = []
    for lvl, lm in enumerate(padded.levels):
        groups = {}
        for group in ("temporal", "spatial"):
            kept = (new.get((lvl, group, i), lp) for i, lp in enumerate(getattr(lm, group)))
            groups[group] = tuple(lp for lp in kept if lp is not None)
        levels.append(replace(lm, **groups))
    mapping = Mapping(tuple(levels), source=padded.source)
    for dim, bound in problem.bound.items():  # the mixed radix covers each bound exactly
        assert covered_extent(mapping, dim) == bound, (dim, covered_extent(mapping, dim), bound)
    return mapping


def mixed_radix(points: np.ndarray, factors: list[int]) -> np.ndarray:
    """``[len(points), len(factors)]``: each point's digits in the mixed radix of ``factors``
    (outer to inner, as a dimension's loops count its points; Timeloop's ``covered_extent``)."""
    digits = np.zeros((points.size, len(factors)), np.int64)
    rest = points.astype(np.int64)
    for i in reversed(range(len(factors))):  # inner to outer
        rest, digits[:, i] = np.divmod(rest, factors[i])
    return digits


def compute_steps(mapping: Mapping, problem: Problem) -> int:
    """Temporal iterations of a (possibly residual) mapping: per dimension, the distinct
    combinations of its temporal loops' indices over the points it covers; the product over
    dimensions.  (A residual spatial loop leaves instances idle but takes no fewer steps.)"""
    loops = [lp for _, lp in mapping.loops_outer_to_inner()]
    steps = 1
    for dim, bound in problem.bound.items():
        own = [lp for lp in loops if lp.dim == dim]
        temporal = [i for i, lp in enumerate(own) if not lp.spatial]
        if all(lp.residual is None for lp in own):
            steps *= prod(own[i].factor for i in temporal)
            continue
        digits = mixed_radix(np.arange(bound), [lp.factor for lp in own])[:, temporal]
        steps *= len(np.unique(digits, axis=0)) if temporal else 1
    return steps


__all__ = ["smooth_ceiling", "padded_problems", "residual_mapping", "mixed_radix", "compute_steps",
           "MAX_PADDED_VARIANTS"]
