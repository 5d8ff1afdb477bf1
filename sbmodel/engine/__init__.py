"""The analysis pipeline: dense loop nest -> sparsity -> repetition -> cycles and energy.

:func:`evaluate_layer` is the one entry point; each stage lives in its own module:

* :mod:`.nest`, :mod:`.nest_analysis`, :mod:`.tiling`, :mod:`.counts` — dense accesses;
* :mod:`.sparse` — densities, formats, gating/skipping (actual vs algorithmic counts);
* :mod:`.repetition` — effectual computes as adds and multiplies, stored weight bits;
* :mod:`.performance` — bandwidth-limited cycles;
* :mod:`.energy` — actions x energies, leakage.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from ..core import Architecture, Mapping, Problem
from .counts import LayerCounts, dense_counts
from .energy import compute_energy, leakage_energy, tensor_energy
from .performance import level_timing
from .repetition import design_view, repetition_counts
from .results import ComputeResult, LayerResult, LevelResult, TensorResult

if TYPE_CHECKING:
    from .sparse.spec import SparseSpec


def evaluate_counts(counts: LayerCounts, arch: Architecture) -> LayerResult:
    """Cycles and energy of already-computed action counts."""
    compute_cycles = counts.compute.cycles
    timing = level_timing(counts, arch, compute_cycles)
    total_cycles = int(max([round(compute_cycles)] + [t.cycles for t in timing]))

    levels = []
    for lc, spec, tm in zip(counts.levels, arch.storage, timing):
        tensors = []
        for tc in lc.tensors:
            by_action = tensor_energy(spec, tc) if tc.kept else {}
            tensors.append(TensorResult(
                tensor=tc.tensor, kept=tc.kept, utilized_instances=tc.utilized_instances,
                tile_size_words=tc.tile_size_words, partition_size_words=tc.partition_size_words,
                reads=tc.actions.get("read", 0.0), fills=tc.actions.get("fill", 0.0),
                updates=tc.actions.get("update", 0.0), actions=dict(tc.actions),
                energy_by_action_pJ=by_action, energy_pJ=sum(by_action.values()),
                element_bits=tc.element_bits if tc.element_bits is not None else float(spec.word_bits),
                metadata_bits=(sum(tc.sparse.metadata_bits(a) for a in tc.sparse.metadata)
                               if tc.sparse is not None else 0.0),
            ))
        leak = leakage_energy(spec, lc.utilized_instances, total_cycles)
        levels.append(LevelResult(
            name=spec.name, index=lc.index, instances=spec.instances,
            utilized_instances=lc.utilized_instances, cycles=tm.cycles, bandwidth_slowdown=tm.slowdown,
            leakage_pJ=leak, energy_pJ=sum(t.energy_pJ for t in tensors) + leak,
            tensors=tuple(tensors), container_only=spec.container_only,
        ))

    cc = counts.compute
    by_action = compute_energy(arch, cc)
    arith = cc.arithmetic
    actual = arith.effectual if arith is not None else cc.actions.get("compute", 0.0) * cc.utilized_instances
    compute = ComputeResult(
        name=arch.compute.name, instances=arch.compute.instances, utilized_instances=cc.utilized_instances,
        algorithmic_computes=(cc.algorithmic_total if cc.algorithmic_total is not None
                              else cc.algorithmic * cc.utilized_instances),
        actual_computes=actual,
        actions={k: v * cc.utilized_instances for k, v in cc.actions.items()},
        energy_by_action_pJ=by_action, cycles=int(round(compute_cycles)), energy_pJ=sum(by_action.values()),
        style=arith.style if arith is not None else "mac",
        adds=arith.adds if arith is not None else actual,
        multiplies=arith.multiplies if arith is not None else actual,
    )
    energy = compute.energy_pJ + sum(lv.energy_pJ for lv in levels)
    # Busy compute slots: every algorithmic operation, or (sparse) the actual and gated ones (Sparseloop).
    busy = ((cc.actions.get("compute", 0.0) + cc.actions.get("gated_compute", 0.0)) * cc.utilized_instances
            if cc.algorithmic_total is not None else cc.algorithmic * cc.utilized_instances)
    ideal = busy / arch.compute.instances
    return LayerResult(
        layer=counts.problem.name, architecture=arch.name, cycles=total_cycles, energy_pJ=energy,
        compute=compute, levels=tuple(levels),
        utilization=ideal / total_cycles if total_cycles else 0.0, counts=counts,
    )


def evaluate_layer(problem: Problem, arch: Architecture, mapping: Mapping,
                   sparse: "SparseSpec | None" = None) -> LayerResult:
    """Evaluate one layer: dense analysis, then sparse optimisations (``sparse``, else the
    architecture's own), then the repetition stage, then cycles and energy.

    Densities come from ``problem.densities`` (tensor name -> density model);
    tensors without one are dense.  Weight values come from ``problem.weights``.
    """
    return evaluate_counts(analyse_counts(dense_counts(problem, arch, mapping), arch, sparse), arch)


def analyse_counts(counts: LayerCounts, arch: Architecture, sparse: "SparseSpec | None" = None) -> LayerCounts:
    """The stages that depend on the data on dense counts: sparsity, then repetition (on an
    n:m structured design the weights are first seen at the density of the slots they use)."""
    viewed = design_view(counts.problem, arch)
    if viewed is not counts.problem:
        counts = replace(counts, problem=viewed)
    return repetition_counts(apply_sparse(counts, arch, sparse), arch)


def apply_sparse(counts: LayerCounts, arch: Architecture, sparse: "SparseSpec | None" = None) -> LayerCounts:
    """The sparse stage on dense counts (a no-op for dense designs)."""
    spec = sparse if sparse is not None else arch.sparse
    if spec is None or spec.empty:
        return counts
    from .sparse import Densities, sparse_counts

    return sparse_counts(counts, arch, spec, Densities(dict(counts.problem.densities)))


__all__ = ["evaluate_layer", "evaluate_counts", "analyse_counts", "apply_sparse", "dense_counts", "LayerResult", "LevelResult",
           "TensorResult", "ComputeResult", "LayerCounts"]
