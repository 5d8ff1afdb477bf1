"""From per-loop deltas to per-storage-level reads, fills and updates.

Each storage level takes its tile size from the outermost loop of its block
and its accesses (what it delivers to its children) from the innermost.  Then,
per tensor: partition sizes (everything one instance ever holds), each child's
share of its parent's accesses (its fills), bypassed levels folded into their
parents, link transfers turned into peer reads and fills, and the split of
read-write tensors into reads and updates where the first write of each
partial sum is not a read (Timeloop's first-read elision).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import floor
from typing import Sequence

from .nest_analysis import AccessStats, NestAnalysisResult


@dataclass
class TensorTile:
    """Dense per-instance counts of one tensor at one storage level."""

    size: float = 0.0
    partition_size: float = 0.0
    access: AccessStats = field(default_factory=dict)  # deliveries to children, by multicast
    content_accesses: float = 0.0
    link_transfers: float = 0.0
    replication_factor: int = 1
    fanout: int = 1
    partition_fraction_denominator: float = 0.0
    parent_access_share: float = 0.0
    peer_accesses: float = 0.0
    peer_fills: float = 0.0
    reads: float = 0.0
    fills: float = 0.0
    updates: float = 0.0
    temporal_reductions: float = 0.0
    kept: bool = True

    @property
    def weighted_accesses(self) -> float:
        return sum(acc * m for (m, _), (acc, _h) in self.access.items())

    def total_accesses(self) -> float:
        return sum(acc for acc, _h in self.access.values())

    def clear_buffer(self) -> None:
        self.size = self.partition_size = self.content_accesses = self.parent_access_share = 0.0


def collapse(analysis: NestAnalysisResult, num_levels: int, keep: Sequence[Sequence[bool]],
             read_write: Sequence[bool]) -> list[list[TensorTile]]:
    """Per tensor, per storage level (innermost first) dense counts.

    ``keep[level][tensor]`` says whether a level holds a tensor.
    """
    loops = analysis.loops
    ntensors = len(read_write)
    # Group valid loops into storage-level blocks (a block ends at a boundary loop).
    blocks: list[list[int]] = []
    current: list[int] = []
    for k, ls in enumerate(loops):
        current.append(k)
        if ls.is_boundary or k == len(loops) - 1:
            blocks.append(current)
            current = []
    if len(blocks) != num_levels:
        raise AssertionError(f"nest has {len(blocks)} storage blocks for {num_levels} levels")

    out: list[list[TensorTile]] = []
    for t in range(ntensors):
        tiles: list[TensorTile] = []
        for b, block in enumerate(blocks):
            inner, outer = loops[block[0]], loops[block[-1]]
            tile = TensorTile(
                size=outer.size[t],
                access={k: list(v) for k, v in inner.access[t].items()},
                link_transfers=inner.link_transfers[t],
                replication_factor=outer.replication_factor,
                fanout=inner.fanout,
            )
            tile.content_accesses = tile.total_accesses()
            if tiles:
                tiles[-1].partition_fraction_denominator = inner.size[t] if inner.is_master_spatial else tiles[-1].size
            tiles.append(tile)
        _partition_sizes(tiles)
        _parent_access_share(tiles)
        _mask(tiles, [keep[lv][t] for lv in range(num_levels)])
        _peer_accesses(tiles)
        _reads_fills_updates(tiles, read_write[t])
        out.append(tiles)
    return out


def _partition_sizes(tiles: list[TensorTile]) -> None:
    partition = tiles[-1].size
    tiles[-1].partition_size = partition
    for tile in reversed(tiles[:-1]):
        if tile.partition_fraction_denominator:
            partition = (partition * tile.size) // tile.partition_fraction_denominator
        tile.partition_size = partition


def _parent_access_share(tiles: list[TensorTile]) -> None:
    for cur, tile in enumerate(tiles):
        if tile.size == 0:
            continue
        tile.parent_access_share = 0.0
        outer = next((o for o in range(cur + 1, len(tiles)) if tiles[o].size != 0), None)
        if outer is None:
            continue
        parent = tiles[outer]
        tile.parent_access_share = sum(acc * m for (m, _), (acc, _h) in parent.access.items()) / parent.fanout


def _mask(tiles: list[TensorTile], keep: list[bool]) -> None:
    """Fold bypassed levels into their parents (their children now read the parent)."""
    for cur, tile in enumerate(tiles):
        tile.kept = keep[cur]
        if tile.size == 0 or keep[cur]:
            continue
        outer = next((o for o in range(cur + 1, len(tiles)) if tiles[o].size != 0), None)
        if outer is None:
            tile.clear_buffer()
            break
        parent = tiles[outer]
        children = tile.content_accesses * parent.fanout
        factor = children / parent.weighted_accesses if parent.weighted_accesses else 0.0
        for entry in parent.access.values():
            if entry[0] == 0:
                continue
            entry[0] *= factor
        parent.link_transfers = 0.0
        parent.content_accesses = parent.total_accesses()
        tile.clear_buffer()
    # Outermost bypassed levels hold nothing at all.
    for cur in reversed(range(len(tiles))):
        if not keep[cur]:
            tiles[cur] = TensorTile(kept=False)
        else:
            tiles[cur].parent_access_share = 0.0
            break


def _peer_accesses(tiles: list[TensorTile]) -> None:
    for cur in range(len(tiles) - 1, 0, -1):
        if tiles[cur].link_transfers:
            child = tiles[cur - 1]
            per_child = tiles[cur].link_transfers / child.replication_factor
            child.peer_accesses += per_child
            child.peer_fills += per_child


def _round(x: float) -> float:
    """Round half away from zero (C's ``round``), not Python's banker's rounding."""
    return float(floor(abs(x) + 0.5)) * (1.0 if x >= 0 else -1.0)


def _reads_fills_updates(tiles: list[TensorTile], read_write: bool) -> None:
    n = len(tiles)
    for cur, tile in enumerate(tiles):
        if tile.size == 0:
            tile.reads = tile.updates = tile.fills = tile.temporal_reductions = 0.0
            continue
        if read_write:
            outermost = all(tiles[o].size == 0 for o in range(cur + 1, n))
            tile.updates = _round(tile.content_accesses)
            tile.reads = _round(tile.content_accesses + tile.peer_accesses - tile.partition_size)
            tile.temporal_reductions = tile.reads
            share = tile.parent_access_share + tile.peer_fills
            tile.fills = _round(share if outermost else share - tile.partition_size)
        else:
            tile.reads = _round(tile.content_accesses + tile.peer_accesses)
            tile.updates = 0.0
            tile.fills = tile.parent_access_share + tile.peer_fills
            tile.temporal_reductions = 0.0
