"""Combine representation and gating/skipping into actual, gated and skipped action counts.

1. A tile with metadata never touches its empty elements: actual reads, fills
   and updates scale with the tile's expected density.
2. Walking each tensor's levels top down, an optimised level removes its
   ineffectual accesses from every level below (they never happen there) until
   the next level with its own optimisation, which then only counts what is
   left; each optimised level books its own share as gated or skipped (gated
   accesses still take their cycle, skipped ones do not).  Operands optimised
   at their innermost level remove the matching computes.
3. Uncompressed tiles below compressed parents decompress what they receive
   (and compress what they send back).

The arithmetic (floors, ceilings, the order of steps) is Sparseloop's
(``storage-optimization-combiner.cpp``), including its quirks.
"""

from __future__ import annotations

import copy
from math import ceil, floor

from ...core.problem import Problem
from ...errors import EvaluationError
from .actions import OptimizationState
from .state import ComputeState, RankCounts, TileState


def representation_impact(states: list[list[TileState]]) -> None:
    """Step 1: metadata lets the hardware skip empty elements of the tile."""
    for tiles_t in states:
        for st in tiles_t:
            if not st.has_metadata:
                continue
            sparsity = 1.0 - st.expected_occupancy / st.shape
            st.data["random_read"] = st.reads - floor(st.reads * sparsity)
            st.data["random_fill"] = st.fills - floor(st.fills * sparsity)
            if st.read_write:
                st.data["random_update"] = st.updates - floor(st.updates * sparsity)


def _scale_ranks(counts: RankCounts, p: float, lower: int) -> None:
    """Sparseloop scales rank ``lower`` up to rank 0 — i.e. only when ``lower`` is 0."""
    if lower == 0 and counts:
        for j in range(2):
            counts[0][j] -= floor(counts[0][j] * p)


def _local_impact(states: list[list[TileState]], t: int, l: int, p: float, kind: str) -> None:
    """A level's own optimisation: book ``p`` of its reads/updates (and metadata) as ``kind``."""
    st = states[t][l]
    reads, updates = st.data["random_read"], st.data["random_update"]
    d_reads = ceil(reads * p) if st.read_write else floor(reads * p)
    st.data[f"{kind}_read"] += d_reads
    reads -= d_reads
    d_updates = floor(updates * p)
    st.data[f"{kind}_update"] += d_updates
    updates -= d_updates
    fmt_reads = st.fmt_actions["random_metadata_read"]
    fmt_updates = st.fmt_actions["random_metadata_update"]
    ranks = states[t][st.child].num_metadata_ranks if st.child is not None else st.num_metadata_ranks
    for r in range(min(ranks, len(fmt_reads))):
        for j in range(len(fmt_reads[r])):
            d = floor(fmt_reads[r][j] * p)
            fmt_reads[r][j] -= d
            st.fmt_actions[f"{kind}_metadata_read"][r][j] += d
            d = floor(fmt_updates[r][j] * p)
            fmt_updates[r][j] -= d
            st.fmt_actions[f"{kind}_metadata_update"][r][j] += d
    st.data["random_read"], st.data["random_update"] = reads, updates
    if st.read_write and st.shape:
        st.temporal_reductions = float(ceil(st.temporal_reductions * st.data["random_update"] / st.updates)) \
            if st.updates else 0.0


def propagate(states: list[list[TileState]], compute: ComputeState, problem: Problem, opt: OptimizationState) -> None:
    """Step 2 of the module doc."""
    n = len(states[0])
    max_reads = [[states[t][l].data["random_read"] for t in range(len(states))] for l in range(n)]
    max_fills = [[states[t][l].data["random_fill"] for t in range(len(states))] for l in range(n)]
    max_updates = [[states[t][l].data["random_update"] for t in range(len(states))] for l in range(n)]
    f_reads = [[copy.deepcopy(states[t][l].format_reads) for t in range(len(states))] for l in range(n)]
    f_fills = [[copy.deepcopy(states[t][l].format_fills) for t in range(len(states))] for l in range(n)]
    f_updates = [[copy.deepcopy(states[t][l].format_updates) for t in range(len(states))] for l in range(n)]
    finalized = [[False] * len(states) for _ in range(n)]
    computes = compute.accesses * compute.replication

    def finalize(t: int, l: int, metadata_reads: RankCounts) -> None:
        st = states[t][l]
        st.data["random_fill"] = max_fills[l][t]
        st.data["random_read"] = max_reads[l][t]
        st.data["random_update"] = max_updates[l][t]
        st.fmt_actions["random_metadata_fill"] = f_fills[l][t]
        st.fmt_actions["random_metadata_read"] = metadata_reads
        st.fmt_actions["random_metadata_update"] = f_updates[l][t]

    def kind_at(l: int, t: int) -> str | None:
        if (l, t) in opt.spatial_skip:
            return "spatial_skip"
        if (l, t) in opt.gate:
            return "gated"
        if (l, t) in opt.skip:
            return "skipped"
        return None

    for t, ds in enumerate(problem.dataspaces):
        for l in range(n - 1, -1, -1):
            kind = kind_at(l, t)
            if kind is None:
                continue
            p = opt.prob.get((l, t), 0.0) if ((l, t) in opt.gate or (l, t) in opt.skip) else 0.0
            if (l, t) in opt.spatial_skip:
                if p != 0:
                    raise EvaluationError(f"{ds.name}: spatial and temporal skipping at the same level is not supported")
                p = opt.spatial_prob.get((l, t), 0.0)
            imp = l - 1
            while imp >= 0:
                max_fills[imp][t] -= floor(max_fills[imp][t] * p)
                max_reads[imp][t] -= floor(max_reads[imp][t] * p)
                max_updates[imp][t] -= floor(max_updates[imp][t] * p)
                if states[t][imp].has_metadata:
                    top = len(f_reads[l][t]) - 1
                    _scale_ranks(f_fills[imp][t], p, min(len(f_fills[imp][t]), top) if top >= 0 else 1)
                    _scale_ranks(f_reads[imp][t], p, min(len(f_reads[imp][t]), top) if top >= 0 else 1)
                local = kind_at(imp, t)
                if local is not None:
                    local_p = opt.spatial_prob.get((imp, t), 0.0) if local == "spatial_skip" \
                        else opt.prob.get((imp, t), 0.0)
                    # Deliberate deviation: Sparseloop lets this go negative when the level above
                    # saves more than this level's own optimisation would (negative gated/skipped
                    # counts, more actual accesses than dense); here such a level saves nothing
                    # more.  (p = 1: nothing reaches this level, any share will do.)
                    effective = max(0.0, 1.0 - (1.0 - local_p) / (1.0 - p)) if p < 1.0 else 0.0
                    # Sparseloop stores the metadata *updates* as this level's metadata reads here.
                    finalize(t, imp, copy.deepcopy(f_updates[imp][t]))
                    if local != "spatial_skip":
                        _local_impact(states, t, imp, effective, local)
                    finalized[imp][t] = True
                    break
                imp -= 1
            if not finalized[l][t]:
                finalized[l][t] = True
                finalize(t, l, f_reads[l][t])
                if kind != "spatial_skip":
                    _local_impact(states, t, l, p, kind)
            if imp < 0 and not ds.read_write:
                computes -= floor(computes * p)
                opt.storage_saf[t] = True
                opt.innermost_empty_prob[t] = round(p * 1e6) / 1e6
    for l in range(n):
        for t in range(len(states)):
            if (l, t) in opt.gate or (l, t) in opt.skip:
                continue
            finalize(t, l, f_reads[l][t])
            st = states[t][l]
            st.temporal_reductions = 0.0 if st.updates == 0 else \
                float(ceil(st.temporal_reductions * st.data["random_update"] / st.updates))
    compute.random = computes


def compression_costs(states: list[list[TileState]], problem: Problem, level_names: list[str]) -> None:
    """Step 3: decompression of fills from a compressed parent, compression of updates sent back."""
    n = len(states[0])
    for l in range(n - 1, -1, -1):
        for t, ds in enumerate(problem.dataspaces):
            st = states[t][l]
            if st.compressed:
                continue
            if st.parent is not None and states[t][st.parent].compressed:
                if ds.read_write:
                    st.data["compression_count"] += states[t][st.parent].data["random_update"]
                st.data["decompression_count"] += st.data["random_fill"]
            if st.child is not None and states[t][st.child].compressed:
                raise EvaluationError(
                    f"level {level_names[l]}: {ds.name} is uncompressed above a compressed level "
                    f"({level_names[st.child]}): on-chip compression is not modelled")


__all__ = ["representation_impact", "propagate", "compression_costs"]
