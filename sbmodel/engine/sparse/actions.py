"""Storage action optimisations: how often a gated or skipped tile access is ineffectual.

``gating``/``skipping`` of a target tensor at a level, conditioned on other
tensors, saves every access to a target tile whose *corresponding*
conditioned-on tile is empty.  Which tiles correspond follows from the
mapping (Sparseloop's ``storage-gs-analyzer.cpp``): the target tile is the one
the innermost loop above the target's child level that indexes the target
walks over (a scalar at the compute units); the conditioned-on tile grows by
every spatial loop above it (spatial tiles stay put) and, for a spatial
target loop, by the temporal loops above it until one indexes the target.
Dimensions both tensors share (co-iterated) shrink both tiles by their loop
factors, down to the target level's block size.

``spatial_skipping`` removes whole spatial instances below a level whose
conditioned-on subtile is empty (e.g. 2:4 structured weights in a sparse
tensor core): fewer instances are needed and each saves its accesses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import ceil

from ...core.architecture import Architecture
from ...core.problem import Problem
from ...errors import EvaluationError
from .density import Tile
from .nest import CompleteNest, NestLoop, project, scalar_box
from .spec import ActionOptimization, Densities, SparseSpec
from .state import ComputeState, TileState


@dataclass
class OptimizationState:
    """Which (level, tensor) tiles are gated / skipped / spatially skipped, and how often."""

    gate: set[tuple[int, int]] = field(default_factory=set)
    skip: set[tuple[int, int]] = field(default_factory=set)
    spatial_skip: set[tuple[int, int]] = field(default_factory=set)
    prob: dict[tuple[int, int], float] = field(default_factory=dict)  # explicitly optimised fraction
    spatial_prob: dict[tuple[int, int], float] = field(default_factory=dict)
    storage_saf: dict[int, bool] = field(default_factory=dict)  # operand optimised at the innermost level
    innermost_empty_prob: dict[int, float] = field(default_factory=dict)

    def mask(self, kind: str) -> set[tuple[int, int]]:
        return {"gate": self.gate, "skip": self.skip, "spatial_skip": self.spatial_skip}[kind]


@dataclass(frozen=True)
class _Impact:
    target: int
    level: int
    prob: float
    occupancy: float


def _box_tile(problem: Problem, t: int, box: dict[str, int]) -> Tile:
    return project(problem.dataspaces[t], box)


def _read_impact(states: list[list[TileState]], nest: CompleteNest, problem: Problem, arch: Architecture,
                 densities: Densities, level: int, target: int, condition_on: tuple[int, ...]) -> _Impact:
    """Probability that an access to ``target`` via ``level`` is ineffectual (all cond-on tiles empty)."""
    names = [lv.name for lv in arch.storage]
    dss = problem.dataspaces
    target_dims = dss[target].dims
    target_level = level
    if not states[target][level].kept:
        above = [l for l in range(level + 1, len(states[target])) if states[target][l].kept]
        if not above:
            raise EvaluationError(f"level {names[level]}: optimisation of {dss[target].name}: no level at or above "
                                  f"it keeps {dss[target].name}")
        target_level = above[0]
    child = states[target][target_level].child
    child_level = -1 if child is None else child

    found = False
    scalar_mold = False
    target_loop: NestLoop | None = None
    loop_level = target_level
    loop_id = len(nest.levels[target_level]) - 1
    mold: dict[str, int] = {}
    for l in range(child_level + 1, target_level + 1):
        loops = nest.levels[l]
        for k, lp in enumerate(loops):
            if child_level != -1:
                hit = not lp.trivial and lp.dim in target_dims
            else:
                nxt_spatial = k + 1 < len(loops) and loops[k + 1].spatial
                if not nxt_spatial:
                    hit = True
                    scalar_mold = not lp.spatial
                else:
                    hit = lp.dim in target_dims and not lp.trivial
            if hit:
                found = True
                target_loop, loop_level, loop_id = lp, l, k
                mold = scalar_box(problem) if scalar_mold else nest.mold(l, k)
                break
        if found:
            break
    if not found:
        target_loop = nest.levels[target_level][-1]
        loop_level, loop_id = target_level, len(nest.levels[target_level]) - 1
        mold = nest.mold(target_level, loop_id)
    assert target_loop is not None

    is_spatial = target_loop.spatial
    relevant = [target_loop]
    cond_mold = dict(mold)
    upper_found = not is_spatial
    for l in range(loop_level, target_level + 1):
        start = loop_id + 1 if l == loop_level else 0
        for lp in nest.levels[l][start:]:
            if lp.trivial:
                continue
            non_target_above_spatial = (not upper_found and not lp.spatial and child_level != -1
                                        and lp.dim not in target_dims)
            if lp.spatial or non_target_above_spatial:
                cond_mold[lp.dim] *= lp.factor
                relevant.append(lp)
            if is_spatial and not lp.spatial and (child_level == -1 or lp.dim in target_dims):
                upper_found = True

    block = arch.storage[target_level].block_size
    effectual = 1.0
    for c in condition_on:
        cond_dims = dss[c].dims
        co_dims = target_dims & cond_dims
        co_factors: dict[str, float] = {}
        aggregate = 1.0
        is_co = False
        ineffective = False
        if not scalar_mold:
            for lp in relevant:
                if is_spatial and is_co and lp.dim in cond_dims:
                    ineffective = True
                    break
                if lp.dim in co_dims:
                    co_factors[lp.dim] = co_factors.get(lp.dim, 1.0) * lp.factor
                    aggregate *= lp.factor
                    is_co = True
        if ineffective:
            continue
        t_mold = dict(mold)
        c_mold = dict(cond_mold)
        granularity = _box_tile(problem, target, mold).size
        scaling = float(ceil(block / (granularity / aggregate)))
        for d in problem.dims:  # Sparseloop walks co-iterated dimensions in dimension order
            if d not in co_factors:
                continue
            eff = co_factors[d] / scaling
            t_mold[d] = int(ceil(t_mold[d] / eff))
            c_mold[d] = int(ceil(c_mold[d] / eff))
            scaling = scaling / co_factors[d]
        if scaling > 1:
            c_mold[target_loop.dim] = int(c_mold[target_loop.dim] * scaling)
            t_mold[target_loop.dim] = int(t_mold[target_loop.dim] * scaling)
        cond_tile = _box_tile(problem, c, c_mold)
        p_empty = densities.of(dss[c].name).probability(cond_tile, 0)
        effectual *= 1.0 - p_empty

    st = states[target][target_level]
    occupancy = st.expected_occupancy
    meta_level = target_level if child_level == -1 else child_level
    spec = arch.storage[target_level]
    ratio = spec.metadata_word_bits // spec.word_bits
    occupancy += sum(o.total_units for o in states[target][meta_level].expected_metadata) * ratio
    return _Impact(target, target_level, 1.0 - effectual, occupancy)


def _define_read_impact(opt_state: OptimizationState, impacts: list[_Impact], arch: Architecture, kind: str) -> None:
    """Keep the option that saves most; a tile optimised twice keeps the more effective one."""
    best = 0
    max_savings = 0.0
    for i, imp in enumerate(impacts):
        lv = arch.storage[imp.level]
        savings = lv.action_energy("read") / lv.block_size * imp.occupancy * imp.prob
        max_savings = savings if savings >= max_savings else max_savings
        best = i if savings >= max_savings else best
    imp = impacts[best]
    key = (imp.level, imp.target)
    if key in opt_state.gate or key in opt_state.skip:
        if opt_state.prob[key] < imp.prob:
            opt_state.gate.discard(key)
            opt_state.skip.discard(key)
            opt_state.prob[key] = imp.prob
            opt_state.mask(kind).add(key)
    else:
        opt_state.mask(kind).add(key)
        opt_state.prob[key] = imp.prob


def _tensor_ids(problem: Problem, opt: ActionOptimization) -> list[tuple[int, tuple[int, ...]]]:
    index = {n: i for i, n in enumerate(problem.dataspace_names)}
    return [(index[t], tuple(index[c] for c in cond)) for t, cond in opt.options]


def storage_optimizations(states: list[list[TileState]], compute: ComputeState, nest: CompleteNest,
                          problem: Problem, arch: Architecture, spec: SparseSpec,
                          densities: Densities) -> OptimizationState:
    """Gating, then skipping, then spatial skipping of every level (Sparseloop's order)."""
    opt_state = OptimizationState()
    for t, ds in enumerate(problem.dataspaces):
        if not ds.read_write:
            opt_state.storage_saf[t] = False
    names = [lv.name for lv in arch.storage]
    for kind, mask in (("gating", "gate"), ("skipping", "skip")):
        for level, name in enumerate(names):
            for opt in spec.level(name).actions:
                if opt.kind != kind:
                    continue
                impacts = [_read_impact(states, nest, problem, arch, densities, level, t, cond)
                           for t, cond in _tensor_ids(problem, opt)]
                _define_read_impact(opt_state, impacts, arch, mask)
    if spec.has_spatial_skipping:
        _spatial_skipping(states, compute, nest, problem, arch, spec, densities, opt_state)
    return opt_state


# ----------------------------------------------------------------------------------------------------------
# Spatial skipping
# ----------------------------------------------------------------------------------------------------------

@dataclass
class _Expansion:
    x: float
    y: float


def _subtile_mold(nest: CompleteNest, problem: Problem, level: int, k: int) -> dict[str, int]:
    """The operation space one spatial instance below loop ``k`` of ``level`` covers."""
    if level == 0 and k == 0:
        return scalar_box(problem)
    if k == 0:
        return nest.mold(level - 1, len(nest.levels[level - 1]) - 1)
    return nest.mold(level, k - 1)


def _spatial_skipping(states: list[list[TileState]], compute: ComputeState, nest: CompleteNest, problem: Problem,
                      arch: Architecture, spec: SparseSpec, densities: Densities, opt_state: OptimizationState) -> None:
    n = arch.num_levels
    nd = len(problem.dataspaces)
    dss = problem.dataspaces
    avg: list[list[float]] = []
    exp: list[list[_Expansion]] = []
    reduced: list[list[bool]] = []
    # architecture level a: 0 = compute, a = storage level a-1
    for t in range(nd):
        avg_t = [1.0]
        exp_t = [_Expansion(compute.max_x, compute.max_y)]
        red_t = [False]
        for upper in range(n):
            holder = upper
            while not states[t][holder].kept and holder < n - 1:
                holder += 1
            if states[t][holder].has_metadata:
                innermost = True
                ratio_eff = 1.0
                for k, lp in enumerate(nest.levels[upper]):
                    if not lp.spatial or lp.factor <= 1 or lp.dim not in dss[t].dims:
                        continue
                    sub = _subtile_mold(nest, problem, upper, k)
                    sub_tile = project(dss[t], sub)
                    if innermost:
                        ratio_eff = 1.0 - states[t][holder].density.probability(sub_tile, 0)
                        innermost = False
                    fiber = dict(sub)
                    fiber[lp.dim] *= lp.factor
                    count = states[t][holder].density.max_elements(project(dss[t], fiber), sub_tile)
                    r = count / lp.factor
                    if lp.axis == "X":
                        exp_t[-1].x *= r
                    else:
                        exp_t[-1].y *= r
                avg_t[-1] = ratio_eff
                if ratio_eff != 1.0:
                    red_t[-1] = True
            avg_t.append(1.0)
            exp_t.append(_Expansion(states[t][upper].max_x, states[t][upper].max_y))
            red_t.append(False)
        avg.append(avg_t)
        exp.append(exp_t)
        reduced.append(red_t)
    # propagate expansions and average ratios inwards
    for t in range(nd):
        for a in range(n, -1, -1):
            if a != 0:
                st = states[t][a - 1]
                xr = exp[t][a].x / st.max_x
                yr = exp[t][a].y / st.max_y
                if xr != 1.0 or yr != 1.0:
                    st.max_x, st.max_y = exp[t][a].x, exp[t][a].y
                    st.avg_replication = st.replication * avg[t][a - 1]
                    cross = False
                    for inner in range(a - 1, -1, -1):
                        exp[t][inner].x *= xr
                        exp[t][inner].y *= yr
                        if reduced[t][inner]:
                            cross = True
                        if not cross:
                            avg[t][inner] *= avg[t][a]
            else:
                compute.max_x, compute.max_y = exp[t][0].x, exp[t][0].y
                compute.avg_replication = avg[t][0]
    # each spatial-skipping optimisation
    names = [lv.name for lv in arch.storage]
    index = {n_: i for i, n_ in enumerate(problem.dataspace_names)}
    for upper, name in enumerate(names):
        for opt in spec.level(name).actions:
            if opt.kind != "spatial_skipping":
                continue
            if len(opt.options) != 1:
                raise EvaluationError(f"level {name}: spatial skipping takes exactly one target")
            target_name, cond_names = opt.options[0]
            target = index[target_name]
            cond = [index[c] for c in cond_names]
            _spatial_impact(states, nest, problem, upper, target, cond, exp, avg)
            opt_state.spatial_skip.add((upper, target))
    # summarise and propagate the capacity reduction
    for t in range(nd):
        orig = [(states[t][l].max_x, states[t][l].max_y) for l in range(n)]
        for a in range(n, -1, -1):
            mx, my, ratio = exp[t][a].x, exp[t][a].y, avg[t][a]
            xr = yr = 1.0
            if a != 0:
                st = states[t][a - 1]
                st.max_x, st.max_y = mx, my
                st.avg_replication = st.replication * ratio
                yr = my / orig[a - 1][1]
                xr = mx / orig[a - 1][0]
            else:
                if t == 0:
                    compute.max_x, compute.max_y = mx, my
                    compute.avg_replication = compute.replication * ratio
                else:
                    compute.max_x = max(compute.max_x, mx)
                    compute.max_y = max(compute.max_y, my)
                    compute.avg_replication = max(compute.avg_replication, compute.replication * ratio)
            if a < n:
                opt_state.spatial_prob[(a, t)] = 1.0 - ratio
            if xr != 1 or yr != 1:
                cross = False
                for inner in range(a - 1, -1, -1):
                    if (inner, t) in opt_state.spatial_skip:
                        cross = True
                    if not cross:
                        avg[t][inner] *= ratio
                    exp[t][inner].x *= xr
                    exp[t][inner].y *= yr
    for a in range(n):  # required fanouts must fit the hardware
        fx, fy = arch.fanout(a)
        for t in range(nd):
            need_x = exp[t][a].x / exp[t][a + 1].x if exp[t][a + 1].x else 0
            need_y = exp[t][a].y / exp[t][a + 1].y if exp[t][a + 1].y else 0
            if int(need_x) > fx or int(need_y) > fy:
                raise EvaluationError(
                    f"level {names[a]}: after spatial skipping the mapping still needs a {int(need_x)}x{int(need_y)} "
                    f"fanout for {dss[t].name}, but the hardware has {fx}x{fy}")


def _spatial_impact(states: list[list[TileState]], nest: CompleteNest, problem: Problem, upper: int, target: int,
                    cond: list[int], exp: list[list[_Expansion]], avg: list[list[float]]) -> None:
    n = len(states[target])
    dss = problem.dataspaces
    child = upper - 1
    while child >= 0 and not states[target][child].kept:
        child -= 1
    target_dims = dss[target].dims
    per_cond: dict[int, float] = {}
    for c in cond:
        cond_dims = dss[c].dims
        holder = upper
        while holder < n and not states[c][holder].kept:
            holder += 1
        if holder == n or not states[c][holder].has_metadata:
            per_cond[c] = 1.0
            continue
        captured = False
        for k, lp in enumerate(nest.levels[upper]):
            if not lp.spatial or lp.factor <= 1 or lp.dim not in cond_dims:
                continue
            mold = _subtile_mold(nest, problem, upper, k)
            co_dims = target_dims & cond_dims
            if child != -1 and lp.dim in co_dims:
                t_level = upper
                while not states[target][t_level].kept and t_level < n - 1:
                    t_level += 1
                found = False
                for l in range(upper, t_level + 1):
                    for u in nest.levels[l]:
                        if found:
                            break
                        if not u.spatial and u.factor > 1:
                            if u.dim in target_dims:
                                found = True
                            elif lp.dim in cond_dims:
                                mold[u.dim] *= u.factor
                    if found:
                        break
            sub_tile = project(dss[c], mold)
            density = states[c][holder].density
            if not captured:
                per_cond[c] = 1.0 - density.probability(sub_tile, 0)
                captured = True
            fiber = dict(mold)
            fiber[lp.dim] *= lp.factor
            count = density.max_elements(project(dss[c], fiber), sub_tile)
            r = count / lp.factor
            if lp.axis == "X":
                exp[target][upper].x *= r
            else:
                exp[target][upper].y *= r
    ratio = 1.0
    for v in per_cond.values():
        ratio *= v
    avg[target][upper] = ratio


__all__ = ["OptimizationState", "storage_optimizations"]
