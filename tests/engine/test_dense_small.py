"""Dense engine on tiny nests whose counts are computed by hand."""

import pytest

from sbmodel.core import DataSpace, Problem, conv_problem
from sbmodel.engine import evaluate_layer

from .helpers import arch, level, mapping

ALL = {"Weights", "Inputs", "Outputs"}


def conv1d(P=16, R=3, K=1, C=1):
    return Problem("conv1d", ("C", "K", "R", "P"), (C, K, R, P), (
        DataSpace("Weights", (((1, "C"),), ((1, "K"),), ((1, "R"),))),
        DataSpace("Inputs", (((1, "C"),), ((1, "R"), (1, "P")))),
        DataSpace("Outputs", (((1, "K"),), ((1, "P"),)), read_write=True),
    ))


def counts(result, lvl, tensor):
    t = result.level(lvl).tensor(tensor)
    return t.reads, t.fills, t.updates


def test_one_level_buffer_serves_every_mac():
    a = arch([level("Buffer", 64)])
    r = evaluate_layer(conv1d(), a, mapping(("R3 P16", ALL)))
    assert r.compute.actual_computes == 48
    assert counts(r, "Buffer", "Weights") == (48, 0, 0)
    assert counts(r, "Buffer", "Inputs") == (48, 0, 0)
    # 48 partial-sum updates; the first update of each of the 16 outputs is not a read.
    assert counts(r, "Buffer", "Outputs") == (32, 0, 48)
    assert r.cycles == 48


def test_weight_stationary_sliding_window():
    """R outside P: one weight per pass, the input window slides by one per weight."""
    a = arch([level("Memory"), level("Buffer", 64)])
    r = evaluate_layer(conv1d(), a, mapping(("R3", ALL), ("P16", ALL)))
    assert counts(r, "Buffer", "Weights") == (48, 3, 0)
    assert counts(r, "Buffer", "Inputs") == (48, 16 + 2, 0)  # window of 16, then 1 new input per step
    assert counts(r, "Buffer", "Outputs") == (48 - 16, 0, 48)
    assert counts(r, "Memory", "Weights") == (3, 0, 0)
    assert counts(r, "Memory", "Inputs") == (18, 0, 0)
    assert counts(r, "Memory", "Outputs") == (0, 0, 16)


def test_output_stationary_refetches_inputs():
    """P outside R: each output's window of 3 inputs; consecutive windows overlap by 2."""
    a = arch([level("Memory"), level("Buffer", 64)])
    r = evaluate_layer(conv1d(), a, mapping(("P16", ALL), ("R3", ALL)))
    assert counts(r, "Buffer", "Weights") == (48, 3, 0)  # all 3 weights stay resident
    assert counts(r, "Buffer", "Inputs") == (48, 3 + 15, 0)
    assert counts(r, "Buffer", "Outputs") == (48 - 1 * 16, 0, 48)
    assert counts(r, "Memory", "Outputs") == (0, 0, 16)


def test_spatial_multicast_and_reduction():
    """4 PEs split C: weights and inputs are unicast, outputs are spatially reduced."""
    prob = conv_problem("mv", M=2, C=4)
    a = arch([level("GLB"), level("RF", 8, instances=4)], macs=4)
    m = mapping(("", ALL, "C4"), ("M2", ALL))
    r = evaluate_layer(prob, a, m)
    glb, rf = r.level("GLB"), r.level("RF")
    assert r.compute.actual_computes == 8 and r.compute.utilized_instances == 4
    assert glb.tensor("Weights").reads == 8 and glb.tensor("Inputs").reads == 4
    # two partial-sum vectors reduced across the 4 PEs: 2 updates, never read back
    assert (glb.tensor("Outputs").reads, glb.tensor("Outputs").updates) == (0, 2)
    assert (rf.tensor("Weights").fills, rf.tensor("Inputs").fills) == (2, 1)
    assert rf.utilized_instances == 4
    assert (rf.tensor("Outputs").reads, rf.tensor("Outputs").fills, rf.tensor("Outputs").updates) == (0, 0, 2)


def test_spatial_multicast_of_inputs():
    """4 PEs split M: every PE needs the same inputs -> one read multicast to 4."""
    prob = conv_problem("mv", M=4, C=2)
    a = arch([level("GLB"), level("RF", 8, instances=4)], macs=4)
    r = evaluate_layer(prob, a, mapping(("", ALL, "M4"), ("C2", ALL)))
    inputs = r.level("GLB").tensor("Inputs")
    assert inputs.reads == 2
    assert r.level("RF").tensor("Inputs").fills == 2
    assert r.counts.level("GLB").tensors[1].multicast == {(4, 1): 2.0}


def test_bypass_sends_children_to_grandparent():
    """Weights bypass the Buffer: the MACs read them from Memory, once per MAC."""
    a = arch([level("Memory"), level("Buffer", 64)])
    r = evaluate_layer(conv1d(), a, mapping(("R3", ALL), ("P16", {"Inputs", "Outputs"})))
    assert not r.level("Buffer").tensor("Weights").kept
    assert r.level("Memory").tensor("Weights").reads == 48
    assert r.level("Buffer").tensor("Weights").energy_pJ == 0


def test_block_size_and_energy():
    """Energy is per vector access of block_size words, rounded up per instance."""
    a = arch([level("Memory", block=4, read=10.0, fill=20.0, update=30.0), level("Buffer", 64)])
    r = evaluate_layer(conv1d(), a, mapping(("R3", ALL), ("P16", ALL)))
    mem = r.level("Memory")
    assert mem.tensor("Weights").energy_pJ == pytest.approx(1 * 10.0)  # ceil(3/4) reads
    assert mem.tensor("Inputs").energy_pJ == pytest.approx(5 * 10.0)  # ceil(18/4)
    assert mem.tensor("Outputs").energy_pJ == pytest.approx(4 * 30.0)  # ceil(16/4) updates
    assert r.compute.energy_pJ == pytest.approx(48.0)


def test_bandwidth_limits_cycles():
    a = arch([level("Memory"), level("Buffer", 64)])
    slow = arch([level("Memory"), level("Buffer", 64)])
    slow = type(slow)(slow.name, (slow.storage[0], type(slow.storage[1])(
        **{**slow.storage[1].__dict__, "read_bandwidth": 0.25})), slow.compute)
    m = mapping(("R3", ALL), ("P16", ALL))
    assert evaluate_layer(conv1d(), a, m).cycles == 48
    # Memory must supply 3 + 18 + 0 reads in 48 cycles at 0.25 words/cycle -> 84 cycles
    assert evaluate_layer(conv1d(), slow, m).cycles == 84
