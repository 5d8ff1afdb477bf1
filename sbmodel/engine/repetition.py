"""The repetition stage: a layer's effectual computes as adds and multiplies.

Input: the counts the sparse stage left (effectual multiply-accumulates per
compute unit), the layer's :class:`~sbmodel.core.WeightProfile` and the
design's :class:`~sbmodel.core.ComputeStyle`.  Output: the same counts with
the compute actions split by arithmetic operation and the stored weight
representation priced in bits:

* ``mac`` -- a multiply and an add per effectual weight (the ``compute``
  action, unchanged: Timeloop's model).
* ``add`` -- weights of one magnitude per region (binary, ternary,
  signed-binary) are added or subtracted: one add per effectual weight; the
  region's scale is folded into BatchNorm or costs one multiply per output and
  region.  Layers with several magnitudes per region (full precision) fall
  back to ``mac``.
* ``ucnn`` -- UCNN's factorised dot products (Hegde et al., "UCNN: Exploiting
  Computational Reuse in Deep Neural Networks via Weight Repetition", ISCA
  2018).  A PE walks a *chunk* of ``L`` weight positions of ``G`` filters
  (``G`` = ``group_filters``) for one output position.  It sums the
  activations whose ``G`` weights form the same nonzero tuple (activation-group
  reuse), then per filter combines the tuple sums of each distinct weight
  value, multiplies each value once and accumulates::

      adds       = n_any - U + sum_g U_g        multiplies = sum_g V_g

  with ``n_any`` the positions where any of the ``G`` filters is nonzero,
  ``U`` the distinct nonzero tuples, ``U_g`` those nonzero in filter ``g`` and
  ``V_g`` the distinct nonzero values of filter ``g`` in the chunk (for
  ``G = 1``: adds = nonzeros, multiplies = distinct values).  Single-magnitude
  weights with a folded scale need no multiply (the sign is a subtract).
  Expected counts assume the weights of a filter are exchangeable: a value
  (tuple) held by ``k`` of the ``E`` positions is missing from a chunk of ``L``
  positions with the hypergeometric probability ``C(E-k, L) / C(E, L)``.
  The weights are stored as UCNN's indirection tables: per chunk one entry of
  ``index_bits`` (+1 group-end bit) per position in ``n_any`` and the
  ``sum_g V_g`` distinct values.

Stored weight bits on packed levels (:attr:`StorageLevel.packed`) follow the
values: uncompressed the layer's weight bits; compressed (a sparse format),
``ceil(log2(distinct nonzero values per region))`` payload bits per nonzero --
none for signed-binary, whose value is its region's sign, one for binary and
ternary -- plus the format's metadata; UCNN's tables as above.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from math import ceil, log2, prod

import numpy as np

from ..core.architecture import Architecture, ComputeStyle
from ..core.problem import Problem
from ..core.weights import WeightProfile
from ..errors import EvaluationError
from .counts import ArithmeticCounts, LayerCounts, LevelCounts

CONV_TENSORS = ("Weights", "Inputs", "Outputs")


def weight_profile(problem: Problem) -> WeightProfile:
    """The layer's profile, or a statistics-free one (every weight its own value)."""
    if problem.weights is not None:
        return problem.weights
    bits = int(problem.word_bits.get("Weights", 8))
    return WeightProfile.distinct(_filters(problem), _positions_per_filter(problem), bits)


def _positions_per_filter(problem: Problem) -> int:
    """Weight positions reduced into one output: the extent of the dims Outputs does not use."""
    reduced = problem.dataspace("Weights").dims - problem.dataspace("Outputs").dims
    return prod(problem.bound[d] for d in reduced)


def payload_bits(profile: WeightProfile) -> int:
    """Bits per stored nonzero weight in a compressed format (its value among its region's)."""
    if profile.scheme == "signed-binary":
        return 0  # one nonzero value per region: the mask (metadata) says everything
    if profile.single_magnitude:
        return 1  # binary, ternary: the sign
    return profile.bits


# ---- UCNN expected counts ---------------------------------------------------------------------

def _missing(positions: int, holders: np.ndarray, chunk: int) -> np.ndarray:
    """P(a value held by ``holders`` of ``positions`` exchangeable positions misses a chunk of
    ``chunk`` of them): C(E-k, L) / C(E, L), hypergeometric at whole k and linear in between
    (a tuple expected at 0.3 positions is present in a chunk 0.3 times as often as one at 1)."""
    lg = np.vectorize(_lgamma, otypes=[float])
    e, n = float(positions), float(chunk)
    k = np.clip(np.asarray(holders, float), 0.0, e)

    def exact(whole: np.ndarray) -> np.ndarray:
        rest = e - whole - n + 1.0
        out = np.zeros_like(whole)
        ok = rest > 0
        out[ok] = np.exp(lg(e - whole[ok] + 1.0) + lg(e - n + 1.0) - lg(rest[ok]) - lg(e + 1.0))
        return np.clip(out, 0.0, 1.0)

    low = np.floor(k)
    frac = k - low
    return (1.0 - frac) * exact(low) + frac * exact(np.minimum(low + 1.0, e))


def _lgamma(x: float) -> float:
    from math import lgamma

    return lgamma(x)


@dataclass(frozen=True)
class UcnnPass:
    """Expected work of one UCNN PE pass (``G`` filters x a chunk of positions, one output
    position), averaged over the layer's groups of ``G`` consecutive filters."""

    adds: float
    values: float  # distinct nonzero values summed over the G filters (value multiplies)
    any_positions: float  # positions where any of the G filters is nonzero (table entries)
    nonempty_filters: float  # filters with a nonzero in the chunk (scale multiplies)


def ucnn_pass_counts(profile: WeightProfile, chunk: int, group: int) -> UcnnPass:
    """Expected counts of one pass (see the module doc for the formulas)."""
    E, L, G = profile.positions_per_filter, chunk, group
    n = np.array(profile.nonzeros_per_filter, float)
    u = np.array(profile.unique_nonzero_per_filter, float)
    pad = (-len(n)) % G  # a missing filter of the last group holds no nonzero
    n = np.concatenate([n, np.zeros(pad)]).reshape(-1, G)
    u = np.concatenate([u, np.zeros(pad)]).reshape(-1, G)
    holders = np.divide(n, u, out=np.zeros_like(n), where=u > 0)  # positions per value of a filter
    d = n / E
    values = u * (1.0 - _missing(E, holders.ravel(), L).reshape(holders.shape))  # V_g
    nonempty = 1.0 - _missing(E, n.ravel(), L).reshape(n.shape)
    n_any = L * (1.0 - np.prod(1.0 - d, axis=1))
    tuples = np.zeros(len(n))  # U
    tuples_in = np.zeros_like(n)  # U_g
    for mask in range(1, 1 << G):
        members = np.array([(mask >> g) & 1 for g in range(G)], bool)
        count = np.prod(np.where(members, u, 1.0), axis=1)
        p_tuple = np.prod(np.where(members, holders / E, 1.0 - d), axis=1)  # one given tuple
        present = count * (1.0 - _missing(E, E * p_tuple, L))
        tuples += present
        tuples_in += present[:, None] * members[None, :]
    adds = n_any - tuples + tuples_in.sum(axis=1)
    return UcnnPass(adds=float(adds.mean()), values=float(values.sum(axis=1).mean()),
                    any_positions=float(n_any.mean()), nonempty_filters=float(nonempty.sum(axis=1).mean()))


def reduction_chunk(problem: Problem, counts: LayerCounts, arch: Architecture) -> int:
    """Weight positions of one filter a compute unit reduces into one output in a row: the
    reduction-dimension temporal loops, innermost first, up to the first loop over a dimension
    of the outputs, within the innermost level that keeps the weights."""
    outputs = problem.dataspace("Outputs").dims
    weights = problem.dataspace("Weights").dims
    last = next((i for i, lm in enumerate(counts.mapping.levels) if "Weights" in lm.keep), arch.num_levels - 1)
    chunk = 1
    for lm in counts.mapping.levels[:last + 1]:
        for loop in lm.temporal:
            if loop.factor == 1:
                continue
            if loop.dim in outputs:
                return chunk
            if loop.dim in weights:
                chunk *= loop.factor
    return chunk


# ---- n:m structured designs ---------------------------------------------------------------------

@lru_cache(maxsize=256)  # every exact evaluation of a layer views it again
def structured_density(profile: WeightProfile, n: int, m: int) -> float:
    """Multiply slots an n:m engine uses per weight position: each block of ``m`` weights takes
    ``ceil(k / n)`` passes of ``n`` slots for its ``k`` nonzeros (at least one pass), with ``k``
    binomial in the filter's density (a 2:4 engine runs blocks of 3 or 4 nonzeros twice)."""
    from math import comb

    used = 0.0
    for nnz in profile.nonzeros_per_filter:
        d = nnz / profile.positions_per_filter
        slots = sum(comb(m, k) * d ** k * (1 - d) ** (m - k) * n * max(1, -(-k // n)) for k in range(m + 1))
        used += min(slots / m, 1.0)
    return used / profile.filters


def design_view(problem: Problem, arch: Architecture) -> Problem:
    """The layer as a design sees it: on an n:m structured engine the weights take the fixed
    structured density of the slots they use (idempotent; other designs: unchanged)."""
    structured = arch.compute.style.structured
    if structured is None or "Weights" not in problem.dataspace_names or "M" not in problem.dims:
        return problem
    from .sparse.density import FixedStructured

    density = structured_density(weight_profile(problem), *structured)
    return replace(problem, densities={**dict(problem.densities), "Weights": FixedStructured(density)})


# ---- the stage ---------------------------------------------------------------------------------

def repetition_counts(counts: LayerCounts, arch: Architecture) -> LayerCounts:
    """Split the effectual computes by the design's compute style (see the module doc)."""
    style = arch.compute.style
    cc = counts.compute
    units = cc.utilized_instances
    effectual = cc.actions.get("compute", 0.0) * units
    problem = counts.problem
    conv = all(t in problem.dataspace_names for t in CONV_TENSORS) and "M" in problem.dims
    if not conv:
        if style.kind != "mac":
            raise EvaluationError(f"compute style {style.kind} needs a layer with Weights, Inputs and Outputs "
                                  f"and output channels M; {problem.name} has {list(problem.dataspace_names)}")
        arith = ArithmeticCounts("mac", effectual, effectual, effectual)
        return replace(counts, compute=replace(cc, arithmetic=arith))
    profile = weight_profile(problem)
    _check_profile(profile, problem)
    if style.kind == "ucnn":
        return _ucnn(counts, arch, profile, style)
    levels = _payload(counts, arch, profile)
    if style.kind == "add" and profile.single_magnitude:
        outputs = problem.operations / profile.positions_per_filter
        multiplies = 0.0 if style.scale_folded else outputs * profile.regions_per_filter
        arith = ArithmeticCounts("add", effectual, effectual, multiplies)
        actions = _replace_compute(cc.actions, {"add": effectual / units, "multiply": multiplies / units})
        return replace(counts, levels=levels, compute=replace(cc, actions=actions, arithmetic=arith))
    kind = "mac" if style.kind == "mac" else "mac (fallback)"
    arith = ArithmeticCounts(kind, effectual, effectual, effectual)
    return replace(counts, levels=levels, compute=replace(cc, arithmetic=arith))


def _filters(problem: Problem) -> int:
    """Output channels over all groups: the extent of the dims Weights and Outputs share."""
    shared = problem.dataspace("Weights").dims & problem.dataspace("Outputs").dims
    return prod(problem.bound[d] for d in shared)


def _check_profile(profile: WeightProfile, problem: Problem) -> None:
    filters, positions = _filters(problem), _positions_per_filter(problem)
    if (profile.filters, profile.positions_per_filter) != (filters, positions):
        raise EvaluationError(f"layer {problem.name}: weight statistics describe {profile.filters} filters of "
                              f"{profile.positions_per_filter} weights, the layer has {filters} of {positions}")


def _replace_compute(actions: dict | object, new: dict[str, float]) -> dict[str, float]:
    out = {k: v for k, v in dict(actions).items() if k != "compute"}  # type: ignore[arg-type]
    out.update({k: v for k, v in new.items() if v})
    return out


def _payload(counts: LayerCounts, arch: Architecture, profile: WeightProfile,
             ucnn_bits: float | None = None) -> tuple[LevelCounts, ...]:
    """Weights' stored bits per element on packed levels (compressed: payload bits per nonzero)."""
    levels = []
    for lc, spec in zip(counts.levels, arch.storage):
        tensors = []
        for tc in lc.tensors:
            if tc.tensor == "Weights" and tc.element_bits is not None:
                if ucnn_bits is not None:
                    bits = ucnn_bits
                elif tc.sparse is not None and tc.sparse.compressed:
                    bits = float(payload_bits(profile))
                else:
                    bits = float(profile.bits)
                tc = replace(tc, element_bits=bits)
            tensors.append(tc)
        levels.append(replace(lc, tensors=tuple(tensors)))
    return tuple(levels)


def _ucnn(counts: LayerCounts, arch: Architecture, profile: WeightProfile, style: ComputeStyle) -> LayerCounts:
    problem, cc = counts.problem, counts.compute
    units = cc.utilized_instances
    chunk = reduction_chunk(problem, counts, arch)
    group = min(style.group_filters, profile.filters)
    work = ucnn_pass_counts(profile, chunk, group)
    positions = profile.positions_per_filter
    passes = problem.operations / (positions * profile.filters) * (positions / chunk) * (profile.filters / group)
    adds = work.adds * passes
    if profile.single_magnitude:
        # the sign is an add or a subtract; a scale per region costs one multiply per nonempty chunk
        multiplies = 0.0 if style.scale_folded else work.nonempty_filters * passes
        value_bits = 1
    else:
        multiplies = work.values * passes
        value_bits = profile.bits
    index_bits = style.index_bits or max(1, ceil(log2(max(chunk, 2))))
    table_bits = work.any_positions * (index_bits + 1) + work.values * value_bits
    bits_per_position = table_bits / (group * chunk)
    effectual = cc.actions.get("compute", 0.0) * units
    arith = ArithmeticCounts("ucnn", effectual, adds, multiplies, chunk=chunk, group_filters=group,
                             weight_bits_per_position=bits_per_position)
    actions = _replace_compute(cc.actions, {"add": adds / units, "multiply": multiplies / units})
    busy = cc.avg_utilized_instances or units
    cycles = float(ceil(max(adds, multiplies) / busy)) if busy else 0.0
    levels = _payload(counts, arch, profile, ucnn_bits=bits_per_position)
    compute = replace(cc, actions=actions, cycles=cycles, arithmetic=arith)
    return replace(counts, levels=levels, compute=compute)


__all__ = ["repetition_counts", "design_view", "structured_density", "weight_profile", "payload_bits", "ucnn_pass_counts", "UcnnPass", "reduction_chunk"]
