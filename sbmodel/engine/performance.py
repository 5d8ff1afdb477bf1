"""Cycles: compute-bound time stretched by each level's read/write bandwidth.

A level that must move more words per cycle than its bandwidth allows slows
the whole layer by the ratio; the layer takes as long as its slowest level
(Timeloop's model: no overlap limits beyond bandwidth).  Counts are in words:
elements on unpacked levels, the words their bits fill on packed ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil

from ..core.architecture import Architecture
from .counts import LayerCounts

READ_ACTIONS = ("read", "gated_read")
WRITE_ACTIONS = ("fill", "gated_fill", "update", "gated_update")
# Metadata moved through the same ports counts as data words (whole words per tensor, rounded down).
METADATA_READ_ACTIONS = ("metadata_read", "gated_metadata_read")
METADATA_WRITE_ACTIONS = ("metadata_fill", "gated_metadata_fill", "metadata_update", "gated_metadata_update")


@dataclass(frozen=True)
class LevelTiming:
    cycles: int
    slowdown: float
    read_words_per_cycle: float
    write_words_per_cycle: float


def level_timing(counts: LayerCounts, arch: Architecture, compute_cycles: float) -> list[LevelTiming]:
    """Per storage level (innermost first): bandwidth demand, slowdown and cycles."""
    out = []
    for lc, spec in zip(counts.levels, arch.storage):
        # Per tensor, words per cycle, summed in tensor order (Timeloop's rounding).
        read_bw = write_bw = 0.0
        for t in lc.tensors:
            reads = t.words(sum(t.actions.get(k, 0.0) for k in READ_ACTIONS), spec.word_bits)
            writes = t.words(sum(t.actions.get(k, 0.0) for k in WRITE_ACTIONS), spec.word_bits)
            if t.sparse is not None:
                reads += sum(t.sparse.metadata_bits(k) for k in METADATA_READ_ACTIONS) // spec.word_bits
                writes += sum(t.sparse.metadata_bits(k) for k in METADATA_WRITE_ACTIONS) // spec.word_bits
            if compute_cycles:
                read_bw += reads / compute_cycles
                write_bw += writes / compute_cycles
        slowdown = 1.0
        if spec.read_bandwidth is not None and spec.read_bandwidth < read_bw:
            slowdown = min(slowdown, spec.read_bandwidth / read_bw)
        if spec.write_bandwidth is not None and spec.write_bandwidth < write_bw:
            slowdown = min(slowdown, spec.write_bandwidth / write_bw)
        cycles = int(ceil(compute_cycles / slowdown)) if slowdown > 0 else 0
        out.append(LevelTiming(cycles, slowdown, read_bw, write_bw))
    return out
