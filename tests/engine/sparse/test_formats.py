"""Metadata of each rank format on a tiny tensor, by hand.

A[M=4][K=8] with 8 nonzeros spread 2 per row (fixed-structured density 0.25),
held whole at one level: the outer rank walks M (fiber of 4 rows), the inner
rank walks K (4 fibers of 8 coordinates, 2 nonzero each).
"""

import pytest

from sbmodel.core import DataSpace, LevelMapping, Loop, Mapping, Problem
from sbmodel.engine.sparse import FixedStructured
from sbmodel.engine.sparse.formats import RankQuery, adjust_word_bits, rank_occupancy
from sbmodel.engine.sparse.density import Tile
from sbmodel.engine.sparse.spec import RankFormat, TensorFormat
from sbmodel.errors import SpecError

from .helpers import one_level, run, spec


def _problem():
    return Problem("mv", ("K", "M"), (8, 4), (
        DataSpace("A", (((1, "M"),), ((1, "K"),))),
        DataSpace("B", (((1, "K"),),)),
        DataSpace("Z", (((1, "M"),),), read_write=True),
    ), densities={"A": FixedStructured(0.25)})


def _metadata(outer: str, inner: str):
    mapping = Mapping((LevelMapping(temporal=(Loop("K", 8), Loop("M", 4)), keep=frozenset({"A", "B", "Z"})),))
    fmt = TensorFormat((RankFormat(outer), RankFormat(inner)))
    r = run(_problem(), one_level(metadata_width=8, metadata_bits=4), mapping, spec({"A": fmt}))
    tc = r.counts.level("Buffer").tensors[0]
    return tc.sparse.metadata_tile_units, tc.sparse, r


@pytest.mark.parametrize("inner,expect", [
    ("CP", (8, 0)),     # 4 fibers x 2 coordinates; the innermost payloads are the data
    ("RLE", (8, 0)),    # 4 fibers x 8 x 0.25 run lengths
    ("B", (32, 0)),     # 4 fibers x 8 bits
    ("UB", (32, 0)),    # uncompressed bitmask: every coordinate
])
def test_inner_rank_metadata(inner, expect):
    units, info, _ = _metadata("UOP", inner)
    assert units[1] == (0, 5)  # UOP over the 4 rows: 4 + 1 offsets
    assert units[0] == expect
    assert info.compressed == (inner != "UB")
    assert info.data_tile_words == (8 if inner != "UB" else 32)


def test_metadata_traffic_scales_with_tile_reads():
    units, info, r = _metadata("UOP", "CP")
    # A is read once per (k, m) iteration: 32 reads of a 32-point tile = 1 pass over its metadata...
    tc = r.counts.level("Buffer").tensors[0]
    assert tc.reads == 32
    # ...and the buffer only reads the 8 nonzeros of A
    assert r.level("Buffer").tensor("A").reads == 8
    assert info.metadata["metadata_read"] == ((8.0, 0.0), (0.0, 5.0))
    assert info.metadata_bits("metadata_read") == (8 + 5) * 4


def test_rank_query_formulas():
    q = RankQuery(max_fibers=3, fiber_shape=10, fiber_tile=Tile((10,)), element_tile=Tile((1,)),
                  density=FixedStructured(0.1))
    assert rank_occupancy("UOP", q, 0, 8).payload_units == 3 * 11
    assert rank_occupancy("CP", q, 4, 4).metadata_units == 3 * 1
    assert rank_occupancy("B", q, 1, 8).metadata_units == 30
    assert rank_occupancy("RLE", q, 4, 4).metadata_units == pytest.approx(3.0)
    assert rank_occupancy("UB", q, 1, 8).payload_units == 30


def test_word_bits_pack_into_the_metadata_row():
    assert adjust_word_bits(None, 4, 28) == 4
    assert adjust_word_bits(14, 4, 28) == 14
    assert adjust_word_bits(5, 4, 28) == 7  # 5 does not divide 28; 7 does
    assert adjust_word_bits(0, 4, 28) == 0


def test_bad_formats_are_errors():
    with pytest.raises(SpecError, match="unknown rank format 'XYZ'"):
        RankFormat("XYZ")
    with pytest.raises(SpecError, match="compressed above an uncompressed"):
        TensorFormat((RankFormat("CP"), RankFormat("UOP")))
