"""Repetition stage on tiny layers whose adds, multiplies, stored bits and energies are
computed by hand, for every compute style and weight scheme."""

from dataclasses import replace
from math import comb

import numpy as np
import pytest

from sbmodel.core import Architecture, ComputeLevel, ComputeStyle, StorageLevel, WeightProfile, conv_problem
from sbmodel.engine import dense_counts, evaluate_counts
from sbmodel.engine.arithmetic import (add_energy_45nm_pJ, multiply_energy_45nm_pJ, operation_energies)
from sbmodel.engine.repetition import (_missing, design_view, payload_bits, repetition_counts, structured_density,
                                       ucnn_pass_counts)
from sbmodel.errors import EvaluationError, SpecError

from .helpers import mapping

ALL = {"Weights", "Inputs", "Outputs"}
ENERGY = {"compute": 1.0, "add": 0.25, "multiply": 0.75}


def design(kind="mac", packed=False, folded=True, group=1, index_bits=None):
    buffer = StorageLevel(name="Buffer", size_words=None, word_bits=8, packed=packed,
                          energy_pJ={"read": 1.0, "fill": 1.0, "update": 1.0})
    style = ComputeStyle(kind, scale_folded=folded, group_filters=group, index_bits=index_bits)
    return Architecture("t", (buffer,), ComputeLevel("PE", energy_pJ=ENERGY, style=style))


def layer(M=2, C=4, profile=None, weight_bits=8):
    p = conv_problem("l", M=M, C=C, word_bits={"Weights": weight_bits, "Inputs": 8, "Outputs": 8})
    return replace(p, weights=profile)


def run(problem, arch, m):
    counts = repetition_counts(dense_counts(problem, arch, m), arch)
    return counts, evaluate_counts(counts, arch)


SB = WeightProfile("signed-binary", 1, 4, (2, 1), (1, 1))  # filter 0: 2 nonzeros, filter 1: one
FP = WeightProfile("fp", 8, 4, (4, 4), (4, 4))
C_INNER = mapping(("M2 C4", ALL))  # C innermost: a PE reduces a whole filter (chunk 4) per output


def test_mac_is_one_multiply_and_one_add_per_compute():
    _, r = run(layer(profile=SB), design("mac"), C_INNER)
    assert (r.compute.adds, r.compute.multiplies, r.compute.style) == (8, 8, "mac")
    assert r.compute.energy_pJ == 8 * 1.0  # the MAC energy, as Timeloop charges it


def test_add_style_folds_the_scale_into_batchnorm():
    _, r = run(layer(profile=SB), design("add"), C_INNER)
    assert (r.compute.adds, r.compute.multiplies) == (8, 0)
    assert r.compute.energy_pJ == pytest.approx(8 * 0.25)


def test_add_style_with_a_scale_per_output_and_region():
    _, r = run(layer(profile=SB), design("add", folded=False), C_INNER)
    assert (r.compute.adds, r.compute.multiplies) == (8, 2)  # 2 outputs x 1 region
    assert r.compute.energy_pJ == pytest.approx(8 * 0.25 + 2 * 0.75)


def test_add_style_channel_block_regions_multiply_per_region():
    sb_blocks = replace(SB, regions_per_filter=2)
    _, r = run(layer(profile=sb_blocks), design("add", folded=False), C_INNER)
    assert r.compute.multiplies == 4


def test_add_only_datapath_falls_back_to_mac_for_full_precision_layers():
    _, r = run(layer(profile=FP), design("add"), C_INNER)
    assert (r.compute.adds, r.compute.multiplies, r.compute.style) == (8, 8, "mac (fallback)")
    assert r.compute.energy_pJ == 8 * 1.0


def test_ucnn_whole_filter_chunk_adds_equal_nonzeros():
    counts, r = run(layer(profile=SB), design("ucnn"), C_INNER)
    assert counts.compute.arithmetic.chunk == 4
    # one pass per filter (1 output, chunk = whole filter): adds = 2 + 1 nonzeros; sign-only weights
    # with a folded scale need no multiply
    assert (r.compute.adds, r.compute.multiplies) == (pytest.approx(3), 0)
    assert r.compute.energy_pJ == pytest.approx(3 * 0.25)
    assert r.cycles == 3  # one add per cycle on the single PE


def test_ucnn_full_precision_multiplies_every_distinct_value():
    _, r = run(layer(profile=FP), design("ucnn"), C_INNER)
    assert (r.compute.adds, r.compute.multiplies) == (pytest.approx(8), pytest.approx(8))


def test_ucnn_ternary_two_values_per_filter():
    # filter 0: +1, -1, 0, 0 ; filter 1: +1, +1, -1, -1 -> values {+a, -a} in both
    tern = WeightProfile("ternary", 2, 4, (2, 4), (2, 2))
    _, r = run(layer(profile=tern), design("ucnn", folded=False), C_INNER)
    assert r.compute.adds == pytest.approx(6)
    assert r.compute.multiplies == pytest.approx(2)  # one scale multiply per filter pass


def test_ucnn_activation_group_reuse_across_two_dense_binary_filters():
    """C=16, dense binary filters with 8 x +1 and 8 x -1: the 4 weight pairs (+-1, +-1) each hold
    4 positions.  Per pass: 16 positions summed into 4 tuple sums (12 adds), then each filter
    combines the 4 tuple sums (4 adds each, incl. the accumulate): 20 adds instead of 32."""
    binary = WeightProfile("binary", 1, 16, (16, 16), (2, 2))
    p = layer(M=2, C=16, profile=binary)
    m = mapping(("M2 C16", ALL))
    _, g1 = run(p, design("ucnn", group=1), m)
    _, g2 = run(p, design("ucnn", group=2), m)
    assert g1.compute.adds == pytest.approx(32)
    assert g2.compute.adds == pytest.approx(20)
    assert g2.cycles == 20


def test_ucnn_chunk_stops_at_the_first_output_loop_and_counts_missing_values():
    """Chunk of 2 of a filter's 4 positions; filter 0 holds 2 nonzeros, filter 1 one.
    A chunk misses filter 0's value with probability C(2,2)/C(4,2) = 1/6, filter 1's with
    C(3,2)/C(4,2) = 1/2; with a scale per output the multiplies are the nonempty chunks."""
    m = mapping(("C2 M2 C2", ALL))
    counts, r = run(layer(profile=SB), design("ucnn", folded=False), m)
    assert counts.compute.arithmetic.chunk == 2
    assert _missing(4, np.array([2.0, 1.0]), 2) == pytest.approx([1 / 6, 1 / 2])
    # passes: 2 chunks per filter, 2 filters -> adds = expected nonzeros = 3
    assert r.compute.adds == pytest.approx(3)
    # nonempty chunks: 2 per filter, filter 0 nonempty with 5/6, filter 1 with 1/2
    assert r.compute.multiplies == pytest.approx(2 * (1 - comb(2, 2) / comb(4, 2)) + 2 * (1 - comb(3, 2) / comb(4, 2)))


def test_ucnn_table_bits_per_weight_position():
    binary = WeightProfile("binary", 1, 16, (16, 16), (2, 2))
    counts, _ = run(layer(M=2, C=16, profile=binary, weight_bits=1), design("ucnn", packed=True, group=2),
                    mapping(("M2 C16", ALL)))
    # 16 entries of log2(16) = 4 index bits + 1 group-end bit, plus 2 + 2 sign values, over 32 positions
    assert counts.compute.arithmetic.weight_bits_per_position == pytest.approx((16 * 5 + 4) / 32)
    assert counts.levels[0].tensors[0].element_bits == pytest.approx((16 * 5 + 4) / 32)


def test_ucnn_pass_counts_single_filter_is_nonzeros_and_values():
    work = ucnn_pass_counts(WeightProfile("fp", 8, 9, (9,), (9,)), 9, 1)
    assert (work.adds, work.values, work.any_positions, work.nonempty_filters) == pytest.approx((9, 9, 9, 1))


def test_packed_level_moves_bits_not_elements():
    """Binary weights (1 bit) packed 8 to a word: 8 weight reads are one word access."""
    binary = WeightProfile("binary", 1, 4, (4, 4), (2, 2))
    p = layer(profile=binary, weight_bits=1)
    _, unpacked = run(p, design("mac", packed=False), C_INNER)
    _, packed = run(p, design("mac", packed=True), C_INNER)
    w_unpacked = unpacked.level("Buffer").tensor("Weights")
    w_packed = packed.level("Buffer").tensor("Weights")
    assert w_unpacked.reads == w_packed.reads == 8
    assert w_unpacked.energy_pJ == 8 * 1.0
    assert w_packed.energy_pJ == 1 * 1.0


def test_signed_binary_payload_is_the_mask_alone():
    assert payload_bits(SB) == 0
    assert payload_bits(WeightProfile("ternary", 2, 4, (2, 2), (2, 2))) == 1
    assert payload_bits(WeightProfile("binary", 1, 4, (4, 4), (2, 2))) == 1
    assert payload_bits(FP) == 8


def test_profile_must_match_the_layer():
    with pytest.raises(EvaluationError, match="3 filters of 4 weights, the layer has 2 of 4"):
        run(layer(profile=WeightProfile("fp", 8, 4, (4,) * 3, (4,) * 3)), design("add"), C_INNER)


@pytest.mark.parametrize("kwargs, message", [
    (dict(kind="adder"), "unknown compute style"),
    (dict(group_filters=0), "group_filters must be >= 1"),
    (dict(kind="ucnn", index_bits=0), "index_bits must be >= 1"),
])
def test_bad_compute_style(kwargs, message):
    with pytest.raises(SpecError, match=message):
        ComputeStyle(**kwargs)


def test_profile_rejects_impossible_statistics():
    with pytest.raises(SpecError, match="filter 0 has 5 nonzeros"):
        WeightProfile("fp", 8, 4, (5,), (1,))
    with pytest.raises(SpecError, match="2 unique nonzero values for 1 nonzeros"):
        WeightProfile("fp", 8, 4, (1,), (2,))


def test_derived_operation_energies_split_the_mac():
    pe = ComputeLevel("PE", energy_pJ={"compute": 0.207692},
                      operand_bits={"Weights": 8, "Inputs": 8, "Outputs": 16})
    ops = operation_energies(pe)
    assert ops.derived
    assert ops.add_pJ + ops.multiply_pJ == pytest.approx(0.207692)
    assert ops.multiply_pJ / ops.add_pJ == pytest.approx(0.2 / (0.03 + 8 * 0.07 / 24))
    assert add_energy_45nm_pJ(8) == pytest.approx(0.03) and add_energy_45nm_pJ(32) == pytest.approx(0.1)
    assert multiply_energy_45nm_pJ(8, 8) == pytest.approx(0.2)
    assert multiply_energy_45nm_pJ(32, 32) == pytest.approx(3.1)
    given = operation_energies(ComputeLevel("PE", energy_pJ=ENERGY))
    assert (given.add_pJ, given.multiply_pJ, given.derived) == (0.25, 0.75, False)


def test_two_of_four_engine_uses_the_slots_of_its_blocks():
    """2:4: a block with k <= 2 nonzeros takes one pass of 2 slots, k = 3 or 4 two passes.
    Density 1/2: P(k >= 3) = (4 + 1) / 16, slots per position (2 * 11/16 + 4 * 5/16) / 4."""
    half = WeightProfile("ternary", 2, 4, (2, 2), (2, 2))
    assert structured_density(half, 2, 4) == pytest.approx((2 * 11 / 16 + 4 * 5 / 16) / 4)
    assert structured_density(WeightProfile("binary", 1, 4, (4,), (2,)), 2, 4) == 1.0
    assert structured_density(WeightProfile("signed-binary", 1, 4, (0,), (0,)), 2, 4) == 0.5


def test_structured_design_sees_weights_at_the_slot_density():
    arch = replace(design(), compute=replace(design().compute, style=ComputeStyle("mac", structured=(2, 4))))
    p = layer(profile=WeightProfile("ternary", 2, 4, (2, 2), (2, 2)))
    viewed = design_view(p, arch)
    assert viewed.densities["Weights"].density == pytest.approx(structured_density(p.weights, 2, 4))
    assert design_view(viewed, arch).densities["Weights"].density == viewed.densities["Weights"].density
    assert design_view(p, design()) is p
    with pytest.raises(SpecError, match="structured sparsity n:m needs 1 <= n < m"):
        ComputeStyle("mac", structured=(4, 4))
