"""The mapping format: what a valid file builds, round trips, and one located error per mistake."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from sbmodel.core.architecture import Architecture
from sbmodel.core.mapping import LevelMapping, Loop, Mapping
from sbmodel.core.problem import Problem, conv_problem
from sbmodel.errors import SpecError
from sbmodel.spec.architecture import load_architecture
from sbmodel.spec.mapping import dump_mapping, dump_mappings, load_mapping, load_mappings, tile_words
from .spec_helpers import TINY_ARCH, edit, expect_error, line_of

Write = Callable[[str, str], Path]

CONV = conv_problem("conv", C=4, M=8, P=6, Q=6, R=3, S=3)
OTHER = conv_problem("other", C=4, M=8, P=6, Q=6, R=3, S=3)
STRIDED = conv_problem("strided", C=4, M=8, P=6, Q=6, R=3, S=3, Wstride=2, Hstride=2)
SMALL = conv_problem("small", C=2, M=8, P=6, Q=6, R=3, S=3)

MAPPING = """\
architecture: tiny
mappings:
  - layer: conv
    levels:
      - level: DRAM
        temporal: [M2, Q3]
      - level: buffer
        temporal: [P3, Q2]
        spatial: {X: [P2]}
        keep: [Inputs, Outputs]
      - level: array
        spatial: {X: [M2], Y: [C2]}
      - level: spad
        temporal: [M2, C2, R3, S3]
"""


@pytest.fixture
def arch(write: Write) -> Architecture:
    return load_architecture(write("arch.yaml", TINY_ARCH))


def load_for(arch: Architecture, *problems: Problem) -> Callable[[Path], dict[str, Mapping]]:
    return lambda path: load_mappings(path, arch, problems or [CONV])


def test_valid_mapping_builds_the_core_loops(write: Write, arch: Architecture) -> None:
    mapping = load_mappings(write("map.yaml", MAPPING), arch, [CONV])["conv"]
    spad, array, buffer, dram = mapping.levels
    # Temporal loops inner -> outer; spatial X loops inner -> outer, then Y.
    assert dram.temporal == (Loop("Q", 3), Loop("M", 2))
    assert buffer.temporal == (Loop("Q", 2), Loop("P", 3))
    assert buffer.spatial == (Loop("P", 2, axis="X"),)
    assert array.spatial == (Loop("M", 2, axis="X"), Loop("C", 2, axis="Y"))
    assert spad.temporal == (Loop("S", 3), Loop("R", 3), Loop("C", 2), Loop("M", 2))
    # Keep: given at the buffer; the architecture's allowance elsewhere; nothing at the container.
    assert buffer.keep == {"Inputs", "Outputs"}
    assert dram.keep == {"Weights", "Inputs", "Outputs"}
    assert spad.keep == {"Weights", "Inputs"}
    assert array.keep == frozenset()
    mapping.validate(CONV, arch)
    assert mapping.source.endswith("map.yaml")


def test_tiles_are_boxes_of_the_loops_at_and_inside_a_level(write: Write, arch: Architecture) -> None:
    mapping = load_mappings(write("map.yaml", MAPPING), arch, [CONV])["conv"]
    # spad: M2 C2 R3 S3 -> Weights 2*2*3*3, Inputs C2 x (R3 wide) x (S3 high), Outputs M2.
    assert tile_words(mapping, CONV, 0) == {"Weights": 36, "Inputs": 18, "Outputs": 2}
    # buffer: M4 C4 R3 S3 P6 Q2 -> Inputs 4 x (6+3-1) x (2+3-1).
    assert tile_words(mapping, CONV, 2) == {"Weights": 144, "Inputs": 128, "Outputs": 48}


def test_round_trip_dump_then_load(write: Write, arch: Architecture) -> None:
    mapping = load_mappings(write("map.yaml", MAPPING), arch, [CONV])["conv"]
    text = dump_mapping(mapping, arch, CONV)
    again = load_mappings(write("dumped.yaml", text), arch, [CONV])["conv"]
    assert again == mapping
    assert dump_mapping(again, arch, CONV) == text


def test_dump_leaves_out_unit_loops_and_writes_imperfect_factors(arch: Architecture) -> None:
    problem = conv_problem("odd", C=1, M=7, P=1, Q=1)
    mapping = Mapping(levels=(
        LevelMapping(temporal=(Loop("C", 1), Loop("M", 4, residual=3)), keep=frozenset({"Weights"})),
        LevelMapping(),
        LevelMapping(keep=frozenset({"Inputs", "Outputs"})),
        LevelMapping(temporal=(Loop("M", 2),), keep=frozenset({"Weights", "Inputs", "Outputs"})),
    ))
    text = dump_mapping(mapping, arch, problem)
    assert "temporal: [{dim: M, factor: 4, residual: 3}]" in text
    assert "C1" not in text
    assert "keep: [Weights, Inputs, Outputs]" in text


def test_imperfect_factors_cover_the_bound(write: Write, arch: Architecture) -> None:
    problem = conv_problem("odd", C=1, M=7, P=1, Q=1)
    text = """\
mappings:
  - layer: odd
    levels:
      - level: DRAM
        temporal: [M2]
      - level: spad
        temporal: [{dim: M, factor: 4, residual: 3}]
"""
    mapping = load_mappings(write("map.yaml", text), arch, [problem])["odd"]
    assert mapping.levels[0].temporal == (Loop("M", 4, residual=3),)
    again = load_mappings(write("again.yaml", dump_mapping(mapping, arch, problem)), arch, [problem])
    assert again["odd"] == mapping


def test_one_entry_for_several_layers_and_by_shape(write: Write, arch: Architecture) -> None:
    by_list = edit(MAPPING, "  - layer: conv\n", "  - layer: [conv, other]\n")
    mappings = load_mappings(write("list.yaml", by_list), arch, [CONV, OTHER, SMALL])
    assert list(mappings) == ["conv", "other"]  # 'small' is not covered
    assert mappings["conv"] == mappings["other"]

    by_shape = edit(MAPPING, "  - layer: conv\n", "  - shape: {C: 4, M: 8, P: 6, Q: 6, R: 3, S: 3}\n")
    mappings = load_mappings(write("shape.yaml", by_shape), arch, [CONV, SMALL, OTHER])
    assert list(mappings) == ["conv", "other"]


def test_a_named_entry_wins_over_a_shape(write: Write, arch: Architecture) -> None:
    text = MAPPING + MAPPING.split("mappings:\n")[1].replace(
        "  - layer: conv\n", "  - shape: {C: 4, M: 8, P: 6, Q: 6, R: 3, S: 3}\n").replace("[M2, Q3]", "[Q3, M2]")
    mappings = load_mappings(write("map.yaml", text), arch, [CONV, OTHER])
    assert mappings["conv"].levels[3].temporal == (Loop("Q", 3), Loop("M", 2))
    assert mappings["other"].levels[3].temporal == (Loop("M", 2), Loop("Q", 3))


def test_dump_of_several_layers_loads_back(write: Write, arch: Architecture) -> None:
    by_list = edit(MAPPING, "  - layer: conv\n", "  - layer: [conv, other]\n")
    mappings = load_mappings(write("list.yaml", by_list), arch, [CONV, OTHER])
    text = dump_mappings([(CONV, mappings["conv"]), (OTHER, mappings["other"])], arch)
    assert load_mappings(write("both.yaml", text), arch, [CONV, OTHER]) == mappings


def test_load_mapping_of_an_uncovered_layer_is_an_error(write: Write, arch: Architecture) -> None:
    by_shape = edit(MAPPING, "  - layer: conv\n", "  - shape: {C: 4, M: 8, P: 6, Q: 6, R: 3, S: 3}\n")
    assert load_mapping(write("shape.yaml", by_shape), arch, CONV) == load_mappings(
        write("map.yaml", MAPPING), arch, [CONV])["conv"]
    with pytest.raises(SpecError, match="no mapping for layer small"):
        load_mapping(write("shape.yaml", by_shape), arch, SMALL)


DRAM_BLOCK = "      - level: DRAM\n        temporal: [M2, Q3]\n"

# Each case: (old text, new text, expected YAML path, snippet of the offending line, words in the message);
# old may be a list of (old, new) edits (new is then None), or None with new the whole file.
ERRORS = {
    "unknown level": ("level: array", "level: arrray", "mappings[0].levels[2].level", "level: arrray",
                      ["unknown level 'arrray'", "DRAM, buffer, array, spad"]),
    "compute is no storage level": ("level: spad", "level: mac", "mappings[0].levels[3].level", "level: mac",
                                    ["unknown level 'mac'"]),
    "level listed twice": ("level: array", "level: buffer", "mappings[0].levels[2].level", "level: buffer",
                           ["listed twice"], 2),
    "levels out of order": (None, edit(MAPPING, DRAM_BLOCK, "") + DRAM_BLOCK,
                            "mappings[0].levels[3].level", "level: DRAM", ["listed after spad", "outermost"]),
    "unknown dimension": ("temporal: [M2, Q3]", "temporal: [M2, K3]", "mappings[0].levels[0].temporal[1]",
                          "[M2, K3]", ["layer conv", "unknown dimension K", "C, M, R, S, N, P, Q"]),
    "dimension twice in temporal": ("temporal: [P3, Q2]", "temporal: [P3, Q2, P1]",
                                    "mappings[0].levels[1].temporal[2]", "[P3, Q2, P1]", ["P appears twice"]),
    "dimension twice on one axis": ("{X: [M2], Y: [C2]}", "{X: [M2, M1], Y: [C2]}",
                                    "mappings[0].levels[2].spatial.X[1]", "X: [M2, M1]",
                                    ["M appears twice in the spatial X loops"]),
    "factors below the bound": ("temporal: [M2, Q3]", "temporal: [M2, Q2]", "mappings[0].levels[0].temporal[1]",
                                "[M2, Q2]", ["dimension Q (2 x 2)", "cover 4", "the layer has Q=6"]),
    "factors above the bound": ("[M2, C2, R3, S3]", "[M2, C2, R3, S3, N2]", "mappings[0].levels[3].temporal[4]",
                                "N2]", ["dimension N (2)", "cover 2", "N=1"]),
    "dimension never mapped": ("[M2, C2, R3, S3]", "[M2, C2, R3]", "mappings[0].levels", "    levels:",
                               ["dimension S (no loops)", "cover 1", "S=3"]),
    "spatial beyond the fanout": ("{X: [M2], Y: [C2]}", "{X: [M2], Y: [C4]}", "mappings[0].levels[2].spatial.Y",
                                  "Y: [C4]", ["Y factors multiply to 4", "array fans out to only 2 along Y"]),
    "spatial at a level without fanout": ("        temporal: [M2, C2, R3, S3]\n",
                                          "        temporal: [M2, C2, R3, S3]\n        spatial: {X: [M1, Q2]}\n",
                                          "mappings[0].levels[3].spatial.X", "spatial: {X: [M1, Q2]}",
                                          ["only 1 along X"]),
    "keep what the architecture bypasses": ("        temporal: [M2, C2, R3, S3]\n",
                                            "        temporal: [M2, C2, R3, S3]\n        keep: [Weights, Outputs]\n",
                                            "mappings[0].levels[3].keep[1]", "keep: [Weights, Outputs]",
                                            ["spad bypasses Outputs"]),
    "drop what the architecture keeps": ("        temporal: [M2, C2, R3, S3]\n",
                                         "        temporal: [M2, C2, R3, S3]\n        keep: [Inputs]\n",
                                         "mappings[0].levels[3].keep", "keep: [Inputs]",
                                         ["spad always keeps Weights"]),
    "keep at a container": ("{X: [M2], Y: [C2]}", "{X: [M2], Y: [C2]}\n        keep: [Inputs]",
                            "mappings[0].levels[2].keep[0]", "keep: [Inputs]", ["container", "keeps nothing"]),
    "unknown tensor": ("keep: [Inputs, Outputs]", "keep: [Inputs, Psums]", "mappings[0].levels[1].keep[1]",
                       "keep: [Inputs, Psums]", ["unknown tensor Psums"]),
    "tensor listed twice": ("keep: [Inputs, Outputs]", "keep: [Inputs, Inputs]", "mappings[0].levels[1].keep[1]",
                            "keep: [Inputs, Inputs]", ["Inputs is listed twice"]),
    "tensor kept nowhere": ([("        temporal: [M2, Q3]\n", "        temporal: [M2, Q3]\n        keep: [Weights, Inputs]\n"),
                             ("keep: [Inputs, Outputs]", "keep: [Inputs]")], None,
                            "mappings[0]", "- layer: conv", ["Outputs is kept at no level"]),
    "tiles overflow a buffer": ([("[M2, Q3]", "[Q3]"), ("[M2, C2, R3, S3]", "[M4, C2, R3, S3]")], None,
                                "mappings[0].levels[3]", "- level: spad",
                                ["tiles kept at spad need 90 words (Weights 72 + Inputs 18)", "holds 64 words"]),
    "bad loop token": ("[M2, Q3]", "[M2, 3Q]", "mappings[0].levels[0].temporal[1]", "[M2, 3Q]",
                       ["expected a loop like 'M4'", "'3Q'"]),
    "loop without factor": ("[M2, Q3]", "[M2, Q]", "mappings[0].levels[0].temporal[1]", "[M2, Q]", ["'Q'"]),
    "zero factor": ("[M2, Q3]", "[M2, Q0, Q3]", "mappings[0].levels[0].temporal[1]", "[M2, Q0, Q3]",
                    ["at least 1"]),
    "number instead of a token": ("[M2, Q3]", "[M2, 3]", "mappings[0].levels[0].temporal[1]", "[M2, 3]",
                                  ["expected a loop like 'M4'"]),
    "residual above the factor": ("[M2, Q3]", "[M2, {dim: Q, factor: 3, residual: 4}]",
                                  "mappings[0].levels[0].temporal[1].residual", "residual: 4",
                                  ["at most the factor 3"]),
    "unknown key in a long loop": ("[M2, Q3]", "[M2, {dim: Q, factor: 3, residue: 2}]",
                                   "mappings[0].levels[0].temporal[1].residue", "residue", ["unknown key"]),
    "long loop without factor": ("[M2, Q3]", "[M2, {dim: Q}]", "mappings[0].levels[0].temporal[1].factor",
                                 "{dim: Q}", ["required key is missing"]),
    "unknown key in a level": ("        keep: [Inputs, Outputs]\n", "        keeps: [Inputs, Outputs]\n",
                               "mappings[0].levels[1].keeps", "keeps:", ["unknown key"]),
    "unknown axis": ("{X: [M2], Y: [C2]}", "{X: [M2], Z: [C2]}", "mappings[0].levels[2].spatial.Z",
                     "Z: [C2]", ["unknown key"]),
    "unknown layer": ("layer: conv", "layer: conv9", "mappings[0].layer", "layer: conv9",
                      ["unknown layer 'conv9'", "the workload has conv"]),
    "layer as a number": ("layer: conv", "layer: 3", "mappings[0].layer", "layer: 3", ["expected a layer name"]),
    "layer and shape": ("  - layer: conv\n", "  - layer: conv\n    shape: {C: 4}\n", "mappings[0]",
                        "- layer: conv", ["either 'layer'", "or 'shape'"]),
    "neither layer nor shape": ("  - layer: conv\n    levels:\n", "  - levels:\n", "mappings[0]", "- levels:",
                                ["either 'layer'"]),
    "unknown dimension in a shape": ("layer: conv", "shape: {C: 4, K: 3}", "mappings[0].shape.K",
                                     "shape: {C: 4, K: 3}", ["unknown dimension K"]),
    "wrong architecture": ("architecture: tiny", "architecture: eyeriss_like", "architecture",
                           "architecture: eyeriss_like", ["for architecture 'eyeriss_like'", "is 'tiny'"]),
    "duplicate key": ("        temporal: [P3, Q2]\n", "        temporal: [P3, Q2]\n        temporal: [P6]\n",
                      "mappings[0].levels[1].temporal", "temporal: [P6]", ["duplicate key 'temporal'"]),
    "no mappings": (None, "mappings: []\n", "mappings", "mappings: []", []),
    "not a mapping file": (None, "architecture:\n  name: tiny\n", "<top>", "architecture:", ["'mappings:'"]),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_each_mistake_is_one_located_error(case: str, write: Write, arch: Architecture) -> None:
    old, new, yaml_path, snippet, words, *occurrence = ERRORS[case]
    if old is None:
        text = new
    else:
        text = MAPPING
        for before, after in ([(old, new)] if isinstance(old, str) else old):
            text = edit(text, before, after)
    path = write("map.yaml", text)
    expect_error(load_for(arch), path, yaml_path, line_of(text, snippet, *occurrence), *words)


def test_unlisted_level_overflow_names_the_level(write: Write) -> None:
    # A small buffer left out of the mapping overflows with the loops inside it.
    arch = load_architecture(write("arch.yaml", edit(edit(TINY_ARCH, "size_words: 256", "size_words: 64"),
                                                     "size_words: 64\n      word_bits: 8\n      keep",
                                                     "size_words: 1024\n      word_bits: 8\n      keep")))
    text = edit(MAPPING, "[M2, Q3]", "[M2, Q6, P6]")
    text = edit(text, "      - level: buffer\n        temporal: [P3, Q2]\n        spatial: {X: [P2]}\n"
                      "        keep: [Inputs, Outputs]\n", "")
    expect_error(load_for(arch), write("map.yaml", text), "mappings[0].levels", line_of(text, "    levels:"),
                 "tiles kept at buffer need 184 words (Weights 144 + Inputs 36 + Outputs 4)", "holds 64 words")


def test_a_shape_entry_is_checked_for_each_matching_layer(write: Write, arch: Architecture) -> None:
    # Same bounds, but stride 2 widens the input tile beyond the buffer.
    text = edit(MAPPING, "  - layer: conv\n", "  - shape: {C: 4, M: 8, P: 6, Q: 6, R: 3, S: 3}\n")
    expect_error(load_for(arch, CONV, STRIDED), write("map.yaml", text), "mappings[0].levels[1]",
                 line_of(text, "- level: buffer"), "layer strided", "need 308 words (Inputs 260 + Outputs 48)")


def test_a_layer_mapped_twice(write: Write, arch: Architecture) -> None:
    text = MAPPING + MAPPING.split("mappings:\n")[1]
    expect_error(load_for(arch), write("map.yaml", text), "mappings[1].layer",
                 line_of(text, "layer: conv", 2), "layer conv already has a mapping (entry 0)")


def test_the_same_shape_twice(write: Write, arch: Architecture) -> None:
    entry = MAPPING.split("mappings:\n")[1].replace("  - layer: conv\n", "  - shape: {C: 4, M: 8, P: 6}\n")
    text = "mappings:\n" + entry + entry
    expect_error(load_for(arch), write("map.yaml", text), "mappings[1].shape",
                 line_of(text, "shape:", 2), "already mapped by entry 0")


def test_a_mistake_in_one_of_several_layers_names_that_layer(write: Write, arch: Architecture) -> None:
    text = edit(MAPPING, "  - layer: conv\n", "  - layer: [conv, small]\n")
    expect_error(load_for(arch, CONV, SMALL), write("map.yaml", text), "mappings[0].levels[2].spatial.Y[0]",
                 line_of(text, "Y: [C2]"), "layer small", "dimension C (2 x 2)", "C=2")


def test_a_mapping_file_read_again_after_an_edit_gives_the_new_mappings(write: Write, arch: Architecture) -> None:
    """A file is parsed once per version (sweeps evaluate every point with it); an edited file
    is read again, and a broken edit is reported, not served from memory."""
    path = write("map.yaml", MAPPING)
    first = load_mappings(path, arch, [CONV])["conv"]
    assert load_mappings(path, arch, [CONV])["conv"] == first
    path.write_text(MAPPING.replace("temporal: [M2, Q3]", "temporal: [Q3, M2]"))
    again = load_mappings(path, arch, [CONV])["conv"]
    assert again.levels[-1].temporal == (Loop("M", 2), Loop("Q", 3)) != first.levels[-1].temporal
    path.write_text(MAPPING.replace("temporal: [M2, Q3]", "temporal: [M2, Q3, X9]"))
    with pytest.raises(SpecError):
        load_mappings(path, arch, [CONV])
