"""The sparse stage: dense counts in, actual / gated / skipped counts and metadata out.

:func:`sparse_counts` runs, in Sparseloop's order: formats (rank assignment),
expected occupancy, metadata traffic, storage gating/skipping (and spatial
skipping), their combination and propagation, (de)compression, and the
compute split.  With no sparse feature it returns the dense counts unchanged
(densities alone change nothing: hardware that does not exploit zeros pays
for them).
"""

from __future__ import annotations

from dataclasses import replace
from math import ceil, floor

from ...core.architecture import Architecture
from ...errors import EvaluationError
from ..counts import ComputeCounts, LayerCounts, SparseTensorInfo
from .actions import storage_optimizations
from .compute import compute_actions
from .nest import complete_nest, project
from .propagate import compression_costs, propagate, representation_impact
from .representation import define_formats, expected_occupancy, max_data_occupancy, metadata_accesses, \
    metadata_tile_bits
from .spec import Densities, SparseSpec
from .state import FORMAT_OPS, KINDS, ComputeState, TileState

# Mean density -> tile size / block size below which Sparseloop models vector accesses of compressed
# tiles statistically (buffer.hpp's VectorWidthCoefficientTable); rows are block sizes.
VECTOR_WIDTH_THRESHOLDS: dict[int, tuple[int, ...]] = {
    2: (251, 125, 84, 63, 51, 42, 36, 32, 28, 1),
    4: (375, 188, 125, 94, 75, 63, 54, 47, 42, 1),
    8: (438, 219, 146, 110, 88, 73, 63, 55, 49, 1),
    16: (469, 235, 157, 118, 94, 79, 67, 59, 52, 1),
    32: (485, 243, 162, 122, 97, 81, 70, 61, 52, 1),
}

_SBMODEL_ACTION = {f"{k}_{a}": (a if k == "random" else f"{k}_{a}") for k in KINDS for a in ("read", "fill", "update")}
_SBMODEL_ACTION.update(compression_count="compression", decompression_count="decompression")
_FORMAT_ACTION = {f"{k}_{op}": (op if k == "random" else f"{k}_{op}") for k in KINDS for op in FORMAT_OPS}


def _whole(count: float) -> float:
    """A per-instance count as the sparse stage takes it: whole counts as ints (Sparseloop's
    arithmetic), averages over instances that differ (e.g. 9.5 fills) kept as they are."""
    return int(round(count)) if abs(count - round(count)) < 1e-9 else float(count)


def _build_states(counts: LayerCounts, densities: Densities) -> tuple[list[list[TileState]], ComputeState]:
    problem = counts.problem
    states: list[list[TileState]] = []
    for t, ds in enumerate(problem.dataspaces):
        row: list[TileState] = []
        for lc in counts.levels:
            tc = lc.tensors[t]
            shape = int(round(tc.tile_size_words)) if tc.kept else 0
            row.append(TileState(
                tensor=ds.name, level=lc.index, read_write=ds.read_write, shape=shape,
                tile=project(ds, {d: 1 for d in problem.dims}),
                reads=_whole(tc.reads), fills=_whole(tc.fills), updates=_whole(tc.updates),
                temporal_reductions=float(tc.temporal_reductions), replication=int(tc.utilized_instances),
                max_x=float(lc.utilized_x), max_y=float(lc.utilized_y), density=densities.of(ds.name),
            ))
        kept = [l for l, st in enumerate(row) if st.kept]
        for i, l in enumerate(kept):
            row[l].child = kept[i - 1] if i > 0 else None
            row[l].parent = kept[i + 1] if i + 1 < len(kept) else None
        states.append(row)
    x = y = 1
    for lm in counts.mapping.levels:
        x *= lm.spatial_extent("X")
        y *= lm.spatial_extent("Y")
    cc = counts.compute
    compute = ComputeState(accesses=float(cc.algorithmic), replication=int(cc.utilized_instances),
                           max_x=float(x), max_y=float(y))
    return states, compute


def _vector_ratio(st: TileState, block: int) -> float:
    """Vector accesses of a compressed tile per naive ceil(count/block) (nonzeros do not fill blocks)."""
    density = st.expected_density
    if not (st.compressed and st.shape and block > 1 and density < 1.0):
        return 1.0
    table = VECTOR_WIDTH_THRESHOLDS.get(block)
    if table is not None:
        idx = int(floor(density / 0.1) - 1) if density >= 0.1 else 0
        if not table[idx] > st.shape // block:
            return 1.0
    total = sum(ceil(k / block) * st.density.probability(st.tile, k) for k in range(1, st.shape + 1))
    naive = st.shape * density / block
    return total / naive if naive else 1.0


def _freeze(counts: LayerCounts, arch: Architecture, states: list[list[TileState]],
            compute: ComputeState, check_instances: bool) -> LayerCounts:
    """Frozen counts; ``check_instances``: after spatial skipping the instances used must exist
    (without it the mapping was already checked against the fanouts)."""
    levels = []
    for l, lc in enumerate(counts.levels):
        spec = arch.storage[l]
        tensors = []
        for t, tc in enumerate(lc.tensors):
            st = states[t][l]
            if not tc.kept:
                tensors.append(tc)
                continue
            actions = {"read": 0.0, "fill": 0.0, "update": 0.0}
            for name, value in st.data.items():
                if value:
                    actions[_SBMODEL_ACTION[name]] = float(value)
            metadata = {_FORMAT_ACTION[name]: tuple((float(md), float(pl)) for md, pl in ranks)
                        for name, ranks in st.fmt_actions.items() if any(md or pl for md, pl in ranks)}
            md_bits, md_units = metadata_tile_bits(st)
            info = SparseTensorInfo(
                density_model=st.density.name,
                expected_density=st.expected_density,
                representation=" ".join(r.format for r in st.fmt.ranks) if st.fmt else "none",
                compressed=st.compressed,
                data_tile_words=float(max_data_occupancy(st)) if st.has_metadata else float(st.shape),
                metadata_tile_bits=float(md_bits),
                metadata_tile_units=tuple((float(ceil(o.metadata_units)), float(ceil(o.payload_units)))
                                          for o in md_units),
                avg_utilized_instances=st.avg_replication,
                rank_word_bits=tuple((o.metadata_bits, o.payload_bits) for o in st.expected_metadata),
                metadata=metadata,
                vector_ratio=_vector_ratio(st, spec.block_size),
            )
            utilized = int(st.max_x) * int(st.max_y)
            tensors.append(replace(tc, actions=actions, temporal_reductions=st.temporal_reductions,
                                   utilized_instances=utilized, sparse=info))
        utilized = max([t.utilized_instances for t in tensors if t.kept] or [lc.utilized_instances])
        if check_instances and utilized > spec.instances:
            raise EvaluationError(f"level {spec.name}: the mapping uses {utilized} instances but the hardware "
                                  f"has {spec.instances}")
        levels.append(replace(lc, tensors=tuple(tensors), utilized_instances=utilized))
    units = int(compute.max_x) * int(compute.max_y)
    if check_instances and units > arch.compute.instances:
        raise EvaluationError(f"compute {arch.compute.name}: the mapping uses {units} units but the hardware "
                              f"has {arch.compute.instances}")
    per_unit = {"compute": compute.random / units, "gated_compute": compute.gated / units,
                "skipped_compute": compute.skipped / units}
    cc = ComputeCounts(
        utilized_instances=units,
        algorithmic=counts.compute.algorithmic,
        actions={k: v for k, v in per_unit.items() if v or k == "compute"},
        cycles=float(ceil((compute.random + compute.gated) / compute.avg_replication)) if compute.avg_replication else 0.0,
        algorithmic_total=compute.accesses * compute.replication,
        avg_utilized_instances=compute.avg_replication,
    )
    return replace(counts, levels=tuple(levels), compute=cc)


def sparse_counts(counts: LayerCounts, arch: Architecture, spec: SparseSpec | None,
                  densities: Densities | None = None) -> LayerCounts:
    """Rewrite dense counts with the design's sparse features (see the module doc)."""
    if spec is None or spec.empty:
        return counts
    problem = counts.problem
    densities = densities or Densities()
    spec.validate(problem, arch)
    nest = complete_nest(problem, arch, counts.mapping)
    states, compute = _build_states(counts, densities)
    for t, ds in enumerate(problem.dataspaces):
        for l, st in enumerate(states[t]):
            if st.kept:
                st.tile = project(ds, nest.level_mold(l))
    level_names = [lv.name for lv in arch.storage]
    if spec.has_formats:
        define_formats(states, nest, problem, arch, spec)
    expected_occupancy(states)
    metadata_accesses(states)
    opt = storage_optimizations(states, compute, nest, problem, arch, spec, densities)
    representation_impact(states)
    propagate(states, compute, problem, opt)
    compression_costs(states, problem, level_names)
    compute_actions(states, compute, problem, opt, spec.compute)
    return _freeze(counts, arch, states, compute, spec.has_spatial_skipping)


__all__ = ["sparse_counts", "VECTOR_WIDTH_THRESHOLDS"]
