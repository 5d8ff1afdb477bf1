"""Per-rank representation formats and the metadata they cost (Sparseloop's format models).

A tensor tile stored in a compressed or annotated format is a fibertree: each
*rank* holds fibers of coordinates, each coordinate pointing at a subtile of
the rank below.  For one rank, a format tells how many metadata units and
payload units the rank needs, given how many fibers it has at most
(``max_fibers``), how many coordinates a fiber spans (``fiber_shape``), and
how likely a fiber's tile (``fiber_tile``) and a coordinate's subtile
(``element_tile``) are to be empty:

========  ========================  ======================================  ==========
format    metadata units            payload units                           compressed
========  ========================  ======================================  ==========
UOP       0                         fibers * (fiber_shape + 1) (offsets)    no
UB        max_fibers * fiber_shape  max_fibers * fiber_shape                no
B         fibers * fiber_shape      fibers * ceil(fiber_shape * p_nonempty) yes
CP        fibers * ceil(fiber_shape * p_nonempty) (coordinates), payload same   yes
RLE       fibers * fiber_shape * p_nonempty (run lengths), payload same          yes
========  ========================  ======================================  ==========

``fibers = max_fibers * P(fiber tile nonempty)``; the innermost rank's payloads
are the data themselves and cost no metadata.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

import numpy as np

from .density import DensityModel, Given, Tile

Units = Union[float, np.ndarray]  # one value, or one per occupancy of the tile

FORMATS: tuple[str, ...] = ("UOP", "CP", "B", "RLE", "UB")
COMPRESSED = {"UOP": False, "UB": False, "CP": True, "B": True, "RLE": True}
# Word bits a format uses when the spec leaves them out: None = the level's metadata word bits.
DEFAULT_METADATA_BITS: dict[str, int | None] = {"UOP": None, "UB": None, "CP": None, "B": 1, "RLE": None}
ALIASES = {f.lower(): f for f in FORMATS} | {"bitmask": "B", "coordinate_payload": "CP", "run_length": "RLE"}


@dataclass(frozen=True)
class RankOccupancy:
    """Metadata and payload units of one rank of one tile, and their word widths in bits."""

    metadata_units: Units = 0.0
    payload_units: Units = 0.0
    metadata_bits: int = 0
    payload_bits: int = 0

    @property
    def total_units(self) -> Units:
        return self.metadata_units + self.payload_units

    @property
    def bits(self) -> Units:
        return self.metadata_units * self.metadata_bits + self.payload_units * self.payload_bits

    def expected(self, p: np.ndarray) -> "RankOccupancy":
        """Probability-weighted sum over the occupancies (units given one per occupancy)."""
        md = np.broadcast_to(self.metadata_units, p.shape)
        pl = np.broadcast_to(self.payload_units, p.shape)
        return RankOccupancy(_weighted(p, md), _weighted(p, pl), self.metadata_bits, self.payload_bits)

    def scaled(self, s: float) -> "RankOccupancy":
        return RankOccupancy(self.metadata_units * s, self.payload_units * s, self.metadata_bits, self.payload_bits)

    def plus(self, other: "RankOccupancy") -> "RankOccupancy":
        return RankOccupancy(self.metadata_units + other.metadata_units, self.payload_units + other.payload_units,
                             self.metadata_bits, self.payload_bits)


@dataclass(frozen=True)
class RankQuery:
    """What a format needs to size one rank of a tile."""

    max_fibers: float
    fiber_shape: int
    fiber_tile: Tile
    element_tile: Tile
    density: DensityModel
    given: Given | None = None

    def p_fiber_empty(self) -> Units:
        return self.density.probability(self.fiber_tile, 0, self.given)

    def p_element_empty(self) -> Units:
        return self.density.probability(self.element_tile, 0, self.given)


def _weighted(p: np.ndarray, units: np.ndarray) -> float:
    """Sum of p * units in occupancy order (Sparseloop accumulates sequentially)."""
    total = 0.0
    for a, b in zip(p.tolist(), units.tolist()):
        total += a * b
    return total


def rank_occupancy(fmt: str, q: RankQuery, metadata_bits: int, payload_bits: int) -> RankOccupancy:
    """Units one rank in format ``fmt`` needs (see the module table)."""
    if fmt == "UOP":
        fibers = q.max_fibers * (1.0 - q.p_fiber_empty())
        return RankOccupancy(0.0, fibers * (q.fiber_shape + 1), metadata_bits, payload_bits)
    if fmt == "UB":
        units = q.max_fibers * q.fiber_shape
        return RankOccupancy(units, units, metadata_bits, payload_bits)
    fibers = q.max_fibers * (1.0 - q.p_fiber_empty())
    p_nonempty = 1.0 - q.p_element_empty()
    if fmt == "B":
        return RankOccupancy(fibers * q.fiber_shape, fibers * np.ceil(q.fiber_shape * p_nonempty),
                             metadata_bits, payload_bits)
    if fmt == "CP":
        units = np.ceil(q.fiber_shape * p_nonempty) * fibers
        return RankOccupancy(units, units, metadata_bits, payload_bits)
    if fmt == "RLE":
        units = q.fiber_shape * p_nonempty * fibers
        return RankOccupancy(units, units, metadata_bits, payload_bits)
    raise ValueError(f"unknown format {fmt}")


def adjust_word_bits(bits: int | None, default_bits: int, storage_width_bits: int) -> int:
    """Word width a rank really uses: the level default if unspecified, else the next width
    that packs evenly into the metadata storage row (Sparseloop avoids fragmentation)."""
    if bits is None:
        return default_bits
    if bits != 0 and storage_width_bits % bits:
        for cand in range(bits, 2 * bits):
            if storage_width_bits % cand == 0:
                return cand
        return 2 * bits
    return bits


__all__ = ["FORMATS", "COMPRESSED", "DEFAULT_METADATA_BITS", "ALIASES", "RankOccupancy", "RankQuery",
           "rank_occupancy", "adjust_word_bits"]
