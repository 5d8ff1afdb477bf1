"""Gating and skipping on a 16-element dot product, computed by hand.

A holds 4 nonzeros out of 16 (fixed-structured 0.25); B and Z are dense.  One
buffer feeds one MAC: each of the 16 iterations reads A[k] and B[k] and
read-modify-writes Z (15 reads: the first update needs no read, 16 updates).
"""

from dataclasses import replace

import pytest

from sbmodel.engine.sparse import ComputeOptimization

from .helpers import dot_product, fmt, k_loop, one_level, opt, run, spec


def _t(result, name):
    return result.level("Buffer").tensor(name)


def test_gating_B_and_Z_on_A():
    r = run(dot_product(), one_level(), k_loop(), spec(actions=[opt("gating", "B", "A"), opt("gating", "Z", "A")]))
    a, b, z = _t(r, "A"), _t(r, "B"), _t(r, "Z")
    assert (a.reads, a.actions.get("gated_read", 0)) == (16, 0)  # A itself is read every time
    assert (b.reads, b.actions["gated_read"]) == (4, 12)  # B only where A[k] != 0
    # Z: 12 of the 16 updates are gated; of the 15 reads Sparseloop gates ceil(15 * 0.75) = 12
    assert (z.updates, z.actions["gated_update"]) == (4, 12)
    assert (z.reads, z.actions["gated_read"]) == (3, 12)
    assert r.compute.actual_computes == 4
    # gated accesses cost gated energy (0.1) and still take their cycle
    assert b.energy_pJ == pytest.approx(4 * 1.0 + 12 * 0.1)
    assert r.compute.energy_pJ == pytest.approx(4 * 2.0)


def test_skipping_with_compressed_A_saves_accesses_and_cycles():
    arch = one_level(metadata_width=4, metadata_bits=4)
    r = run(dot_product(), arch, k_loop(),
            spec({"A": fmt("CP")}, [opt("skipping", "B", "A"), opt("skipping", "Z", "A")]))
    a, b, z = _t(r, "A"), _t(r, "B"), _t(r, "Z")
    assert a.reads == 4  # compressed: only the 4 nonzeros are read
    assert (b.reads, b.actions["skipped_read"]) == (4, 12)
    assert (z.updates, z.actions["skipped_update"]) == (4, 12)
    assert "gated_read" not in b.actions
    # CP metadata: 4 coordinates of 4 bits per pass over the tile (read once)
    tc = r.counts.level("Buffer").tensors[0]
    assert tc.sparse.metadata["metadata_read"] == ((4.0, 0.0),)
    assert tc.sparse.metadata_bits("metadata_read") == 16
    # 16 bits = 4 rows of a 4-bit metadata storage, 0.5 pJ each
    assert a.energy_by_action_pJ["metadata_read"] == pytest.approx(4 * 0.5)
    assert r.compute.actual_computes == 4 and r.cycles == 4


def test_gated_accesses_take_cycles_skipped_do_not():
    base = one_level()
    arch = replace(base, storage=(replace(base.storage[0], read_bandwidth=1.0),))
    gated = run(dot_product(), arch, k_loop(), spec(actions=[opt("gating", "B", "A")]))
    skipped = run(dot_product(), arch, k_loop(), spec({"A": fmt("CP")}, [opt("skipping", "B", "A")]))
    # one read port: gated B still occupies it 16 times (+16 A, +15 Z) over 4 compute cycles
    assert gated.cycles == 16 + 16 + 15
    # the MAC is busy 4 of those cycles (Sparseloop's utilisation: actual + gated computes)
    assert gated.utilization == pytest.approx(4 / 47)
    # skipped B and compressed A: 4 + 4 + 15 port uses
    assert skipped.cycles == 4 + 4 + 15


@pytest.mark.parametrize("gate,skip,expect", [
    (False, False, (16, 0, 0)),   # every operand pair reaches the MAC
    (True, False, (4, 12, 0)),    # pairs with a zero are gated
    (False, True, (16, 0, 0)),    # nothing is missing (A is uncompressed): skipping has no effect
    (True, True, (4, 12, 0)),
])
def test_compute_gating_and_skipping_with_uncompressed_operands(gate, skip, expect):
    r = run(dot_product(), one_level(), k_loop(), spec(compute=ComputeOptimization(gate, skip)))
    c = r.compute
    assert (c.actual_computes, c.actions.get("gated_compute", 0), c.actions.get("skipped_compute", 0)) == expect


def test_compute_skipping_with_compressed_operand():
    # A compressed at the buffer: its zeros do not exist; the MAC can skip to the next pair.
    r = run(dot_product(), one_level(metadata_width=4, metadata_bits=4), k_loop(),
            spec({"A": fmt("CP")}, compute=ComputeOptimization(False, True)))
    assert (r.compute.actual_computes, r.compute.actions.get("skipped_compute", 0)) == (4, 12)
    assert r.compute.energy_pJ == pytest.approx(4 * 2.0)  # skipped computes cost nothing here


def test_condition_on_itself_and_unknown_tensors_are_errors():
    from sbmodel.errors import SpecError

    with pytest.raises(SpecError, match="conditioned on itself"):
        spec(actions=[opt("gating", "B", "B")]).validate(dot_product(), one_level())
    with pytest.raises(SpecError, match="unknown tensor 'Q'"):
        spec(actions=[opt("skipping", "B", "Q")]).validate(dot_product(), one_level())
    with pytest.raises(SpecError, match="unknown storage level"):
        spec(level="DRAM").validate(dot_product(), one_level())
