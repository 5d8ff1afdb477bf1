"""Parameter paths: parsing, selection, copy-on-write overrides."""

from __future__ import annotations

import copy

import pytest

from sbmodel.sweep.paths import ParamPath, PathError, set_paths

DATA = {
    "architecture": {
        "levels": [{"name": "DRAM", "word_bits": 8}, {"name": "glb", "size_words": 64, "keep": ["Inputs"]}],
        "compute": {"name": "mac"},
    },
}
LAYERS = {"workload": {"layers": [
    {"name": "a", "stats": {"weights": {"scheme": "fp", "density": 1.0}}},
    {"name": "b.0.conv", "stats": {"weights": {"scheme": "signed-binary", "density": 0.3}}},
    {"name": "c", "stats": {"weights": {"scheme": "signed-binary", "density": 0.4}}},
]}}


@pytest.mark.parametrize("text, target", [
    ("architecture.levels[glb].size_words", ("architecture", "levels", 1, "size_words")),
    ("architecture.levels.glb.size_words", ("architecture", "levels", 1, "size_words")),
    ("architecture.levels[1].size_words", ("architecture", "levels", 1, "size_words")),
    ("architecture.levels[-1].size_words", ("architecture", "levels", 1, "size_words")),
    ("architecture.levels[0].read_bandwidth", ("architecture", "levels", 0, "read_bandwidth")),  # new last key
    ("architecture.levels[name=glb].keep", ("architecture", "levels", 1, "keep")),
])
def test_targets(text, target):
    assert ParamPath.parse(text).targets(DATA) == [target]


def test_filters_and_star_select_many():
    p = ParamPath.parse("workload.layers[stats.weights.scheme=signed-binary].stats.weights.density")
    assert [t[2] for t in p.targets(LAYERS)] == [1, 2]
    assert len(ParamPath.parse("workload.layers[*].stats.weights.density").targets(LAYERS)) == 3
    assert [t[2] for t in ParamPath.parse("workload.layers[stats.weights.scheme!=fp].name").targets(LAYERS)] == [1, 2]
    assert ParamPath.parse("workload.layers[b.0.conv].stats").targets(LAYERS) == [("workload", "layers", 1, "stats")]


def test_file_path():
    assert ParamPath.parse("workload").is_file
    assert not ParamPath.parse("workload.name").is_file


@pytest.mark.parametrize("text, message", [
    ("arch.levels", "starts with architecture or workload"),
    ("architecture..x", "cannot parse"),
    ("architecture.levels[glb]size", "cannot parse"),
    ("architecture.levels[sram].size_words", "no element named 'sram' (names: DRAM, glb)"),
    ("architecture.levels[5].size_words", "index 5 is out of range"),
    ("architecture.nothing[0].x", "has no key 'nothing'"),
    ("architecture.compute[0]", "not a list"),
    ("architecture.levels.glb.size_words.x", "not a mapping"),
    ("architecture.levels[name=none].x", "no element has name=none"),
])
def test_path_errors(text, message):
    with pytest.raises(PathError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        ParamPath.parse(text).targets(DATA)


def test_set_paths_is_copy_on_write():
    before = copy.deepcopy(DATA)
    out = set_paths(DATA, [(("architecture", "levels", 1, "size_words"), 128),
                           (("architecture", "levels", 1, "keep"), ["Weights"])])
    assert DATA == before  # the base is never modified
    assert out["architecture"]["levels"][1] == {"name": "glb", "size_words": 128, "keep": ["Weights"]}
    assert out["architecture"]["levels"][0] is DATA["architecture"]["levels"][0]  # untouched parts shared
    assert out["architecture"]["compute"] is DATA["architecture"]["compute"]


def test_absent_blocks_are_created():
    p = ParamPath.parse("architecture.compute.style.kind")
    assert p.targets(DATA) == [("architecture", "compute", "style", "kind")]
    out = set_paths(DATA, [(p.targets(DATA)[0], "add")])
    assert out["architecture"]["compute"] == {"name": "mac", "style": {"kind": "add"}}
    assert "style" not in DATA["architecture"]["compute"]
