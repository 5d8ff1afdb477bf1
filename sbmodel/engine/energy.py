"""Energy = actions x per-action energy (+ leakage), per level, tensor and action.

Storage energies are per *vector* access: ``count`` scalar accesses of a
level with ``block_size`` words per access cost ``ceil(count / block_size)``
vector accesses (on a packed level, ``count`` elements are first converted
to the words their bits fill), per instance, summed over the utilised instances (compressed
tiles scale this by the sparse stage's ``vector_ratio``: their nonzeros do
not fill whole blocks).  Metadata costs one access per
``metadata_storage_width_bits`` bits moved (nothing if the level has no
metadata storage width).  Leakage is paid by every utilised instance of a
level for every cycle of the layer.
"""

from __future__ import annotations

from math import ceil

from ..core.architecture import Architecture, StorageLevel
from .arithmetic import operation_energies
from .counts import ComputeCounts, TensorCounts

# Actions whose energy is charged per block of words; metadata and (de)compression
# counts are already in access units.
BLOCK_ACTIONS = frozenset({
    "read", "fill", "update", "gated_read", "gated_fill", "gated_update",
    "skipped_read", "skipped_fill", "skipped_update",
})


def vector_accesses(scalar: float, block_size: int) -> int:
    """Whole vector accesses needed for ``scalar`` word accesses (per instance)."""
    n = int(scalar)
    return -(-n // block_size) if n > 0 else 0


def packed_words(tc: TensorCounts, count: float, level: StorageLevel) -> float:
    """Words moved by ``count`` element accesses (whole words when packed, see StorageLevel.packed)."""
    if tc.element_bits is None:
        return count
    return float(ceil(tc.words(count, level.word_bits) - 1e-9))


def metadata_vector_accesses(bits: float, level: StorageLevel) -> int:
    """Metadata storage rows touched to move ``bits`` (per instance)."""
    width = level.metadata_storage_width_bits
    return int(ceil(bits / width)) if width and bits > 0 else 0


def tensor_energy(level: StorageLevel, tc: TensorCounts) -> dict[str, float]:
    """Energy in pJ of one tensor at one level over all its utilised instances, by action."""
    if tc.utilized_instances == 0:
        return {}
    clusters = min(tc.utilized_instances, level.instances // level.cluster_size)
    cluster_utilization = tc.utilized_instances / clusters if clusters else 1.0
    ratio = tc.sparse.vector_ratio if tc.sparse is not None else 1.0
    # Sparse tiles that are never sent when empty keep fewer instances busy on average.
    instances = tc.sparse.avg_utilized_instances if tc.sparse is not None else tc.utilized_instances
    vectors_by_action: dict[str, float] = {}
    for action, count in tc.actions.items():
        if count == 0:
            continue
        vectors_by_action[action] = (vector_accesses(packed_words(tc, count, level), level.block_size) * ratio
                                     if action in BLOCK_ACTIONS else count)
    if tc.sparse is not None:
        for action in tc.sparse.metadata:
            vectors_by_action[action] = metadata_vector_accesses(tc.sparse.metadata_bits(action), level)
    out: dict[str, float] = {}
    for action, vectors in vectors_by_action.items():
        energy = vectors * level.action_energy(action) / cluster_utilization * instances
        if energy:
            out[action] = energy
    return out


def leakage_energy(level: StorageLevel, utilized_instances: int, cycles: int) -> float:
    """Leakage of the instances a mapping uses (Timeloop power-gates the idle ones)."""
    return level.action_energy("leak") * utilized_instances * cycles


def compute_energy(arch: Architecture, cc: ComputeCounts) -> dict[str, float]:
    """Energy in pJ of the compute units by action; adds and multiplies at the design's
    (given or derived, see :mod:`.arithmetic`) per-operation energies."""
    ops = operation_energies(arch.compute)
    per_op = {"add": ops.add_pJ, "multiply": ops.multiply_pJ}
    out: dict[str, float] = {}
    for action, count in cc.actions.items():
        e = count * cc.utilized_instances * per_op.get(action, arch.compute.action_energy(action))
        if e:
            out[action] = e
    return out


__all__ = ["vector_accesses", "packed_words", "metadata_vector_accesses", "tensor_energy", "leakage_energy", "compute_energy"]
