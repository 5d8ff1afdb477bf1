"""Map one layer end to end: search with the batch evaluator, then choose among the best
candidates with the exact evaluation (the dense counts of :func:`sbmodel.engine.batch.mapping_counts`, then the sparse and repetition stages).

**Dense designs**: the batch evaluator is exact, so the re-evaluation of the
``rerank`` best only confirms the ranking (and covers mappings the closed form
flags as approximate).

**Sparse designs** (a non-empty :class:`~sbmodel.engine.sparse.spec.SparseSpec`):
the batch evaluator is dense, so it serves as a *calibrated surrogate*.

1. Calibration starts from what the spec says: a tensor stored in a compressed
   format at a level takes ``density`` of its dense tile, metadata is free, and
   each tensor's energy at each level scales by 1.
2. A search round ranks candidates by the surrogate (dense per-tensor energies
   times the calibration ratios, cycles times the cycle ratio) and pre-screens
   capacity with the scaled tiles and metadata; its ``rerank`` best are
   evaluated exactly (sparse stage included) and checked by
   :func:`sparse_fits` (compressed data words and metadata bits against each
   buffer, at confidence 1, as Sparseloop's buffer model does).
3. The exact results re-calibrate the ratios (medians over the evaluated
   candidates; capacity ratios take the maximum, to stay conservative) and a
   second round searches again.  Ratios measured on large tiles can be
   optimistic for smaller ones (UCNN tables do not shrink in proportion), so
   when no exactly evaluated candidate fits yet, up to ``REPAIR_ROUNDS`` more
   rounds re-calibrate and search again.

Designs the vectorised sparse evaluator covers exactly (gating/skipping
without representation formats or spatial skipping:
:func:`sbmodel.engine.sparse.batch.vectorisable`) skip the surrogate: the search
ranks by exact sparse figures.  Designs with formats but no spatial skipping
first try the plain dense search and evaluate its ``rerank`` best exactly; when
none of those fits (metadata overflowing its storage rejects dense-fitting
tiles), they calibrate a screen of the rest of the search's pool, and only when
none of those fits either does one surrogate round run, from that calibration.  Spaces with at most
``exact_limit`` mappings skip it too: every mapping that passes the pre-screen is
evaluated exactly.  The best exactly-evaluated
mapping that fits wins (objective metrics, then energy, cycles, order of
evaluation).  Everything is deterministic for a seed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from math import ceil
from typing import TYPE_CHECKING, Sequence

import numpy as np

from ..core.architecture import Architecture
from ..core.mapping import Mapping
from ..core.problem import Problem
from ..engine import analyse_counts, evaluate_counts
from ..engine.batch import BatchResult, MappingBatch, mappings_counts
from ..engine.counts import words_per_element
from ..engine.results import LayerResult
from ..errors import EvaluationError, SbmodelError
from .constraints import Constraints
from .exhaustive import count_mappings, enumerate_mappings
from .imperfect import compute_steps, padded_problems, residual_mapping
from .search import Evaluator, Objective, SearchResult, dense_evaluator, metric, objective_names, rank, search
from .space import MapSpace

if TYPE_CHECKING:
    from ..engine.counts import TensorCounts
    from ..engine.sparse.spec import SparseSpec


@dataclass(frozen=True)
class MapOutcome:
    """The chosen mapping, its exact evaluation, and the search behind it."""

    mapping: Mapping
    result: LayerResult
    search: SearchResult
    exact_evaluations: int
    rejected: int  # exactly evaluated candidates that did not fit (compressed tiles, instances)


@dataclass(frozen=True)
class Calibration:
    """Sparse-over-dense ratios of a design, per storage level and tensor ([L, T] arrays)."""

    data_scale: np.ndarray  # data words held per dense tile word
    metadata_scale: np.ndarray  # metadata bits held per dense tile word
    energy_ratio: np.ndarray  # tensor energy (all actions, metadata included) per dense energy
    compute_ratio: float
    cycle_ratio: float

    @staticmethod
    def initial(problem: Problem, arch: Architecture, sparse: "SparseSpec") -> "Calibration":
        L, T = arch.num_levels, len(problem.dataspaces)
        return Calibration(compressed_scale(problem, arch, sparse), np.zeros((L, T)), np.ones((L, T)), 1.0, 1.0)

    def refined(self, pairs: Sequence[tuple[LayerResult, BatchResult, int]], problem: Problem,
                arch: Architecture) -> "Calibration":
        """Ratios measured on exactly evaluated candidates (``(exact, dense batch, row)`` triples)."""
        if not pairs:
            return self
        dense_words = words_per_element(problem, arch)  # what the dense search charges per element
        L, T = self.data_scale.shape
        data = [[[] for _ in range(T)] for _ in range(L)]
        meta = [[[] for _ in range(T)] for _ in range(L)]
        energy = [[[] for _ in range(T)] for _ in range(L)]
        compute, cycles = [], []
        for r, dense, i in pairs:
            counts = r.counts
            for l, lv in enumerate(r.levels):
                for t, tr in enumerate(lv.tensors):
                    de = float(dense.tensor_energy_pJ[i, l, t])
                    if tr.kept and de > 0:
                        energy[l][t].append(tr.energy_pJ / de)
                    tc = counts.levels[l].tensors[t] if counts is not None else None
                    if tc is None or not tc.kept or tc.tile_size_words <= 0:
                        continue
                    # words the exact tile takes (compressed, and at the bits the repetition
                    # stage stores, e.g. UCNN tables) per word the dense search charged for it
                    held = held_words(tc, arch.storage[l].word_bits)
                    data[l][t].append(held / (tc.tile_size_words * dense_words[l, t]))
                    if tc.sparse is not None:
                        meta[l][t].append(tc.sparse.metadata_tile_bits / tc.tile_size_words)
            if dense.compute_energy_pJ[i] > 0:
                compute.append(r.compute.energy_pJ / float(dense.compute_energy_pJ[i]))
            if dense.cycles[i] > 0:
                cycles.append(r.cycles / float(dense.cycles[i]))

        def pick(values: list[list[list[float]]], old: np.ndarray, how) -> np.ndarray:
            out = old.copy()
            for l in range(L):
                for t in range(T):
                    if values[l][t]:
                        out[l, t] = how(values[l][t])
            return out

        return Calibration(
            data_scale=pick(data, self.data_scale, max), metadata_scale=pick(meta, self.metadata_scale, max),
            energy_ratio=pick(energy, self.energy_ratio, lambda v: float(np.median(v))),
            compute_ratio=float(np.median(compute)) if compute else self.compute_ratio,
            cycle_ratio=float(np.median(cycles)) if cycles else self.cycle_ratio,
        )

    def surrogate(self, base: Evaluator) -> Evaluator:
        """The dense evaluator with energies and cycles scaled by the calibration."""

        def evaluate(batch: MappingBatch) -> BatchResult:
            res = base(batch)
            ok = np.isfinite(res.energy_pJ)
            cycles = np.where(ok, np.ceil(np.where(ok, res.cycles, 0) * self.cycle_ratio), res.cycles)
            leak = res.level_energy_pJ - res.tensor_energy_pJ.sum(axis=2)
            energy = ((res.tensor_energy_pJ * self.energy_ratio[None]).sum(axis=(1, 2))
                      + res.compute_energy_pJ * self.compute_ratio + leak.sum(axis=1) * self.cycle_ratio)
            energy = np.where(ok, energy, np.inf)
            return replace(res, energy_pJ=energy, cycles=cycles.astype(res.cycles.dtype))

        return evaluate


def compressed_scale(problem: Problem, arch: Architecture, sparse: "SparseSpec | None") -> np.ndarray:
    """``[L, T]`` tile-size multipliers: a tensor's mean density where a level stores it in a
    compressed format, else 1."""
    L, T = arch.num_levels, len(problem.dataspaces)
    scale = np.ones((L, T))
    if sparse is None:
        return scale
    names = problem.dataspace_names
    for l, lv in enumerate(arch.storage):
        spec = sparse.levels.get(lv.name)
        if spec is None:
            continue
        for t, name in enumerate(names):
            fmt = spec.formats.get(name)
            model = problem.densities.get(name)
            if fmt is not None and fmt.compressed and model is not None:
                scale[l, t] = min(1.0, float(model.mean_density))
    return scale


def fanout_slack(problem: Problem, sparse: "SparseSpec | None") -> float:
    """How far spatial skipping may stretch a fanout: 1 / the lowest mean density (at most 64)."""
    if sparse is None or not sparse.has_spatial_skipping:
        return 1.0
    densities = [float(m.mean_density) for m in problem.densities.values()]
    low = min([d for d in densities if d > 0] or [1.0])
    return min(64.0, 1.0 / low)


def held_words(tc: "TensorCounts", word_bits: int) -> float:
    """Words a kept tile takes at its largest occupancy: compressed data when the level
    compresses it, at the bits it is stored in (packed levels: bits / word_bits)."""
    held = ceil(tc.sparse.data_tile_words) if tc.sparse is not None else tc.tile_size_words
    return tc.words(held, word_bits)


def sparse_fits(result: LayerResult, arch: Architecture) -> bool:
    """Every bounded buffer holds its tiles at their largest occupancy (confidence 1), like
    Sparseloop's ``BufferLevel::ComputeScalarAccesses``: the data words (compressed tiles at their
    largest number of nonzeros) within the data capacity, and the metadata bits within the metadata
    storage (``metadata_storage_depth x metadata_storage_width``; none given = no room for metadata)."""
    counts = result.counts
    if counts is None:
        return True
    for lc, spec in zip(counts.levels, arch.storage):
        cap = spec.effective_size_words
        if cap is None:
            continue
        words = 0.0
        bits = 0.0
        for tc in lc.tensors:
            if not tc.kept:
                continue
            words += held_words(tc, spec.word_bits)
            if tc.sparse is not None:
                bits += tc.sparse.metadata_tile_bits
        md_cap = spec.metadata_capacity_bits
        if words > cap + 1e-9 or bits > md_cap:
            return False
    return True


class _Exact:
    """Exact evaluations so far (each mapping once), in evaluation order."""

    def __init__(self, problem: Problem, arch: Architecture, sparse: "SparseSpec | None", names: tuple[str, ...]):
        self.problem, self.arch, self.sparse, self.names = problem, arch, sparse, names
        self.results: list[tuple[Mapping, LayerResult]] = []  # fitting candidates
        self.evaluated = 0
        self.rejected = 0
        self._seen: set[Mapping] = set()

    def evaluate(self, mappings: Sequence[Mapping]) -> list[tuple[Mapping, LayerResult]]:
        """Evaluate the mappings not seen before; returns every one that could be evaluated
        (fitting or not: all of them calibrate the surrogate)."""
        out = []
        fresh = [m for m in dict.fromkeys(mappings) if m not in self._seen]
        self._seen.update(fresh)
        try:  # dense counts of all of them at once (closed form where exact)
            together = mappings_counts(self.problem, self.arch, fresh) if fresh else []
        except EvaluationError:  # one of them cannot be analysed: take them one by one
            together = [None] * len(fresh)
        for m, counts in zip(fresh, together):
            self.evaluated += 1
            try:
                if counts is None:
                    counts = mappings_counts(self.problem, self.arch, [m])[0]
                r = evaluate_counts(analyse_counts(counts, self.arch, self.sparse), self.arch)
            except EvaluationError:
                self.rejected += 1
                continue
            out.append((m, r))
            if self.sparse is not None and not sparse_fits(r, self.arch):
                self.rejected += 1
                continue
            self.results.append((m, r))
        return out

    def best(self) -> tuple[Mapping, LayerResult] | None:
        if not self.results:
            return None
        energy = np.array([r.energy_pJ for _, r in self.results], float)
        cycles = np.array([r.cycles for _, r in self.results], float)
        return self.results[int(rank(self.names, energy, cycles, np.arange(len(self.results)))[0])]


def map_layer(
    problem: Problem,
    arch: Architecture,
    objective: Objective = "edp",
    *,
    constraints: Constraints | None = None,
    sparse: "SparseSpec | None" = None,
    budget: int = 20_000,
    seed: int = 0,
    restarts: int = 0,
    rerank: int | None = None,
    exact_limit: int = 64,
    rounds: int = 2,
    imperfect: bool = False,
) -> MapOutcome:
    """Best mapping of one layer, exactly evaluated (see the module doc).  ``budget`` is the
    number of batch evaluations in all (per search); ``restarts`` more descents of each search
    (:func:`~sbmodel.mapper.search.search`); ``rerank`` the exact evaluations per round (default 4
    for dense designs, 16 for sparse ones).  ``imperfect`` also searches padded copies of the
    layer and evaluates their best mappings with residual loops (:mod:`.imperfect`); the
    perfect candidates stay in the running, so it never returns a worse mapping."""
    names = objective_names(objective)
    is_sparse = sparse is not None and not sparse.empty
    exact = _Exact(problem, arch, sparse if is_sparse else None, names)
    exact_batch = _sparse_batch_evaluator(problem, arch, sparse) if is_sparse else None
    if imperfect and is_sparse and exact_batch is None:
        raise SbmodelError(
            "imperfect factorisation is searched on dense designs and on sparse ones that gate or skip "
            "without compressed formats; this design stores compressed tensors")
    if not is_sparse or exact_batch is not None:
        # dense designs: the batch evaluator is exact.  Gating/skipping without formats: the
        # vectorised sparse evaluator is exact and tiles are stored uncompressed, so the dense
        # capacity check is the real one
        top = rerank or 4
        found = search(problem, arch, names, constraints=constraints, budget=budget, seed=seed, restarts=restarts,
                       evaluator=exact_batch, keep_top=top, elite=max(16, top))
        exact.evaluate(found.top)
        if imperfect:
            _imperfect_candidates(exact, problem, arch, names, constraints, budget, seed, restarts)
        return _outcome(exact, found, problem)
    top = rerank or sparse_rerank(budget)
    cal = Calibration.initial(problem, arch, sparse)
    slack = fanout_slack(problem, sparse)
    found: SearchResult | None = None
    base = dense_evaluator(problem, arch)
    informed = False  # the calibration already comes from exact evaluations
    if not sparse.has_spatial_skipping:
        # formats without spatial skipping: the dense search ranks mappings by the accesses
        # that compression then scales; its best candidates, evaluated exactly, are as good as
        # the surrogate's on the shipped designs, at half the cost.  When none of its `top`
        # best fits (metadata overflowing its storage rejects dense-fitting tiles), what those
        # tiles really take calibrates a screen of the rest of its pool, and only if none of
        # those fits either do the surrogate rounds run, from that calibration.
        pool = max(16, top)
        try:
            found = search(problem, arch, names, constraints=constraints, budget=budget, seed=seed, restarts=restarts,
                           keep_top=top, elite=pool)
        except SbmodelError:  # no dense tile fits: only the compressed ones may
            found = None
        else:
            fresh = exact.evaluate(found.top)
            if exact.results:
                return _outcome(exact, found, problem)
            cal, informed = _refine(cal, fresh, problem, arch, base), bool(fresh)
            rest = list(found.ranked(problem, top, pool))
            if rest and informed:
                space = MapSpace(problem, arch, constraints, tile_scale=cal.data_scale,
                                 metadata_scale=cal.metadata_scale, fanout_slack=slack)
                ok = space.valid(MappingBatch.from_mappings(problem, rest))
                exact.evaluate([m for m, good in zip(rest, ok) if good][:top])
                if exact.results:
                    return _outcome(exact, found, problem)
    rounds = 1 if informed else max(1, rounds)
    for round_ in range(rounds + REPAIR_ROUNDS):
        if round_ >= rounds and exact.results:
            break  # extra rounds only repair a calibration that let nothing fit
        space = MapSpace(problem, arch, constraints, tile_scale=cal.data_scale,
                         metadata_scale=cal.metadata_scale if round_ or informed else None, fanout_slack=slack)
        if round_ == 0 and count_mappings(space, cap=exact_limit) is not None:
            exact.evaluate(_all_valid(space, problem))
            if exact.results:
                break
        found = search(problem, arch, names, constraints=constraints, budget=max(1, budget // rounds),
                       seed=seed + round_, restarts=restarts, space=space, evaluator=cal.surrogate(base), keep_top=top,
                       elite=max(16, top), patience=SURROGATE_PATIENCE)
        fresh = exact.evaluate(found.top)
        if round_ + 1 < rounds or not exact.results:
            cal = _refine(cal, fresh, problem, arch, base)
    if not exact.results and sparse.has_spatial_skipping:
        # the surrogate's widened fanouts overbooked every candidate: fall back to mappings
        # within the physical fanouts (spatial skipping then only leaves instances idle)
        try:
            plain = search(problem, arch, names, constraints=constraints, budget=max(1, budget // rounds),
                           seed=seed, restarts=restarts, keep_top=top, elite=max(16, top))
        except SbmodelError:
            plain = None
        if plain is not None:
            exact.evaluate(plain.top)
            found = found or plain
    return _outcome(exact, found, problem)


def _imperfect_candidates(exact: _Exact, problem: Problem, arch: Architecture, names: tuple[str, ...],
                          constraints: Constraints | None, budget: int, seed: int, restarts: int) -> None:
    """Search each padded copy of ``problem`` (:func:`.imperfect.padded_problems`) and evaluate
    its best mapping, turned into a residual mapping of the real layer, exactly -- unless its
    estimate (the padded energy scaled by the share of real operations; cycles no fewer than
    the residual mapping's compute steps) cannot beat the best exact result so far: the
    loop-nest analysis of a residual mapping takes from 0.01 s to about a minute.  A padded
    copy the constraints do not allow (fixed factors that do not divide it) or on which
    nothing fits is passed over.  ``exact.sparse`` (None on a dense design) picks the evaluator."""
    for padded in padded_problems(problem):
        evaluator = None if exact.sparse is None else _sparse_batch_evaluator(padded, arch, exact.sparse)
        try:
            found = search(padded, arch, names, constraints=constraints, budget=budget, seed=seed, restarts=restarts,
                           evaluator=evaluator)
        except SbmodelError:
            continue
        candidate = residual_mapping(found.mapping, problem)
        incumbent = exact.best()
        if incumbent is not None:
            # the padded energy scaled by the share of real operations, and the residual
            # mapping's compute steps: what it would cost if nothing else held it back
            share = problem.operations / padded.operations
            estimate = metric(names[0], found.energy_pJ * share,
                              max(compute_steps(candidate, problem), found.cycles * share))
            if estimate > metric(names[0], incumbent[1].energy_pJ, incumbent[1].cycles):
                continue
        exact.evaluate([candidate])


def _refine(cal: Calibration, fresh: Sequence[tuple[Mapping, LayerResult]], problem: Problem,
            arch: Architecture, base: Evaluator) -> Calibration:
    """``cal`` re-measured on exactly evaluated mappings against their dense evaluation."""
    if not fresh:
        return cal
    mappings = [m for m, _ in fresh]
    dense = base(MappingBatch.from_mappings(problem, mappings))
    return cal.refined([(r, dense, i) for i, (_, r) in enumerate(fresh)], problem, arch)


def sparse_rerank(budget: int) -> int:
    """Candidates per round evaluated exactly on a sparse design: 4 below a budget of 2,000
    batch evaluations, 8 below 20,000, 16 from there.  An exact evaluation costs as much as
    ~50 batch evaluations, and with a small budget the search, not the re-ranking, limits
    quality.  Measured on the sparse Eyeriss-like ResNet-18 sweep designs (144 layer
    searches at budget 500): the best of the 4 best dense candidates has 0.7 % more EDP than
    the best of 8 (geometric mean), for 25 % less mapping time; at budget 1,000 the best of 8
    has 0.6 % more than the best of 16, while the search's own shortfall against a
    20,000-evaluation search is about 50 %."""
    if budget >= 20_000:
        return 16
    return 8 if budget >= 2_000 else 4


REPAIR_ROUNDS = 2  # surrogate rounds added when none of the exactly evaluated candidates fits
# idle rounds a surrogate search may kick its local optima for (the search's default is 2): its
# calibrated ranking is rougher than the dense one, and on ucnn_like (ResNet-18, signed-binary)
# 8 rounds find 6 % less energy than 2
SURROGATE_PATIENCE = 8


def _sparse_batch_evaluator(problem: Problem, arch: Architecture, sparse: "SparseSpec") -> Evaluator | None:
    """The vectorised sparse evaluator, when it covers the design exactly (no formats, no
    spatial skipping); else None."""
    from ..engine.sparse.batch import evaluate_sparse_batch, vectorisable

    if not vectorisable(problem, arch, sparse):
        return None
    return lambda b: evaluate_sparse_batch(problem, arch, b, spec=sparse)


def _outcome(exact: _Exact, found: SearchResult | None, problem: Problem) -> MapOutcome:
    best = exact.best()
    if best is None:
        raise SbmodelError(
            f"none of the {exact.evaluated} best mappings of layer {problem.name} fits the hardware once "
            "evaluated exactly (compressed tiles, metadata, spatial skipping); try a larger --budget")
    m, r = best
    if found is None:
        found = SearchResult(mapping=m, energy_pJ=r.energy_pJ, cycles=r.cycles, objective=",".join(exact.names),
                             score=float(metric(exact.names[0], r.energy_pJ, r.cycles)),
                             evaluations=exact.evaluated, valid=len(exact.results), seconds=0.0, exhaustive=True,
                             space_size=float(exact.evaluated), top=(m,))
    return MapOutcome(mapping=m, result=r, search=found, exact_evaluations=exact.evaluated,
                      rejected=exact.rejected)


def _all_valid(space: MapSpace, problem: Problem) -> list[Mapping]:
    """Every mapping of a small space that passes :meth:`MapSpace.valid`, de-duplicated, in
    enumeration order."""
    out: list[Mapping] = []
    seen: set[int] = set()
    for cands in enumerate_mappings(space):
        ok = np.nonzero(space.valid(cands))[0]
        keys = space.keys(cands.take(ok))
        for i, k in zip(ok, keys):
            if int(k) not in seen:
                seen.add(int(k))
                out.append(cands.mapping(problem, int(i)))
    return out


__all__ = ["MapOutcome", "Calibration", "map_layer", "sparse_fits", "compressed_scale", "fanout_slack"]
