"""The architecture format: what a valid file builds, and one located error per mistake."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from sbmodel.core.architecture import Architecture
from sbmodel.errors import SpecError
from sbmodel.spec.architecture import energy_tables, load_architecture
from .spec_helpers import TINY_ARCH, edit, expect_error, line_of

Write = Callable[[str, str], Path]


def test_tiny_architecture_builds_innermost_first(write: Write) -> None:
    arch = load_architecture(write("arch.yaml", TINY_ARCH))
    assert isinstance(arch, Architecture)
    assert [lv.name for lv in arch.storage] == ["spad", "array", "buffer", "DRAM"]
    spad, array, buffer, dram = arch.storage
    assert (dram.size_words, dram.technology, dram.block_size) == (None, "DRAM", 4)
    assert (buffer.size_words, buffer.read_bandwidth, buffer.write_bandwidth) == (256, 8.0, None)
    assert buffer.energy_pJ == {"read": 2.5, "fill": 2.0, "update": 2.0, "leak": 0.01}
    assert array.container_only and (array.mesh_x, array.mesh_y, array.instances) == (2, 1, 2)
    assert (spad.mesh_x, spad.mesh_y, spad.instances) == (4, 2, 8)
    assert spad.must_keep == {"Weights"} and spad.must_bypass == {"Outputs"}
    # The compute unit inherits the innermost level's mesh.
    assert (arch.compute.mesh_x, arch.compute.mesh_y) == (4, 2)
    assert arch.compute.energy_pJ == {"compute": 0.2}
    # Fanout to children: buffer -> array 2x1, array -> spads 2x2, spad -> MAC 1x1.
    assert [arch.fanout(i) for i in range(arch.num_levels)] == [(1, 1), (2, 2), (2, 1), (1, 1)]


def test_mesh_defaults_to_the_parent_mesh(write: Write) -> None:
    text = edit(TINY_ARCH, "      mesh: [4, 2]\n", "")
    arch = load_architecture(write("arch.yaml", text))
    assert (arch.storage[0].mesh_x, arch.storage[0].mesh_y) == (2, 1)


def test_energy_table_entries_by_name(write: Write) -> None:
    text = edit(TINY_ARCH, "  name: tiny\n", "  name: tiny\n  energy_table: accelergy_v4_eyeriss_like\n")
    text = edit(text, "energy_pJ: {read: 2.5, fill: 2.0, update: 2.0, leak: 0.01}", "energy_pJ: shared_glb")
    text = edit(text, "energy_pJ: {compute: 0.2}", "energy_pJ: horowitz_isscc2014_45nm/int8_mac")
    arch = load_architecture(write("arch.yaml", text))
    table = energy_tables()
    assert arch.storage[2].energy_pJ == table["accelergy_v4_eyeriss_like"].entries["shared_glb"].energy_pJ
    assert arch.compute.energy_pJ == {"compute": 0.23, "add": 0.03, "multiply": 0.2}


def test_operand_bits_set_the_multiplier_width(write: Write) -> None:
    text = edit(TINY_ARCH, "    name: mac\n", "    name: mac\n    operand_bits: {weights: 4, inputs: 8, outputs: 24}\n")
    compute = load_architecture(write("arch.yaml", text)).compute
    assert compute.operand_bits == {"Weights": 4, "Inputs": 8, "Outputs": 24}
    assert compute.word_bits == 8


def test_shipped_energy_tables_cite_sources() -> None:
    tables = energy_tables()
    assert {"accelergy_v4_eyeriss_like", "accelergy_v4_simple_pe_array", "horowitz_isscc2014_45nm"} <= set(tables)
    for table in tables.values():
        assert len(table.source) > 40
        for entry in table.entries.values():
            assert entry.energy_pJ and all(v >= 0 for v in entry.energy_pJ.values())


# Each case: (old text, new text, expected YAML path, snippet of the offending line, words in the message).
ERRORS = {
    "unknown key": ("      size_words: 64\n", "      size_word: 64\n",
                    "architecture.levels[3].size_word", "size_word:", ["unknown key"]),
    "duplicate key": ("      size_words: 64\n", "      size_words: 64\n      size_words: 32\n",
                      "architecture.levels[3].size_words", "size_words: 32", ["duplicate key"]),
    "string for a size": ("size_words: 64", "size_words: '64'",
                          "architecture.levels[3].size_words", "size_words: '64'", ["expected an integer"]),
    "zero size": ("size_words: 64", "size_words: 0",
                  "architecture.levels[3].size_words", "size_words: 0", ["at least 1"]),
    "negative block size": ("      block_size: 4\n      read", "      block_size: -4\n      read",
                            "architecture.levels[1].block_size", "block_size: -4", ["at least 1"]),
    "zero bandwidth": ("read_bandwidth: 8", "read_bandwidth: 0",
                       "architecture.levels[1].read_bandwidth", "read_bandwidth: 0", ["greater than 0"]),
    "mesh not a multiple of the parent's": ("mesh: [4, 2]", "mesh: [3, 2]",
                                            "architecture.levels[3].mesh", "mesh: [3, 2]",
                                            ["3x2", "not a whole multiple", "2x1 of array"]),
    "compute mesh not a multiple": ("    name: mac\n", "    name: mac\n    mesh: [6, 1]\n",
                                    "architecture.compute.mesh", "mesh: [6, 1]", ["6x1", "4x2 of spad"]),
    "mesh of three numbers": ("mesh: [4, 2]", "mesh: [4, 2, 1]",
                              "architecture.levels[3].mesh", "mesh: [4, 2, 1]", []),
    "level named twice": ("    - name: spad\n", "    - name: buffer\n",
                          "architecture.levels[3].name", "- name: buffer", ["'buffer' is used twice"], 2),
    "compute named like a level": ("    name: mac\n", "    name: spad\n",
                                   "architecture.compute.name", "    name: spad", ["already a storage level"]),
    "energy for an unknown action": ("energy_pJ: {read: 0.5}", "energy_pJ: {read: 0.5, write: 0.7}",
                                     "architecture.levels[3].energy_pJ.write", "write: 0.7",
                                     ["unknown action 'write'", "fill"]),
    "compute energy for a storage action": ("energy_pJ: {compute: 0.2}", "energy_pJ: {compute: 0.2, read: 1}",
                                            "architecture.compute.energy_pJ.read", "compute: 0.2",
                                            ["unknown action 'read'"]),
    "negative energy": ("energy_pJ: {read: 0.5}", "energy_pJ: {read: -0.5}",
                        "architecture.levels[3].energy_pJ.read", "read: -0.5", ["at least 0"]),
    "energy as text": ("energy_pJ: {read: 0.5}", "energy_pJ: {read: '0.5'}",
                       "architecture.levels[3].energy_pJ.read", "read: '0.5'", ["expected a number"]),
    "keep and bypass the same tensor": ("bypass: [Outputs]", "bypass: [Outputs, Weights]",
                                        "architecture.levels[3].bypass[1]", "bypass: [Outputs, Weights]",
                                        ["Weights is both kept and bypassed"]),
    "tensor listed twice": ("keep: [Weights]", "keep: [Weights, Weights]",
                            "architecture.levels[3].keep[1]", "keep: [Weights, Weights]", ["listed twice"]),
    "unknown tensor": ("keep: [Weights]", "keep: [Weight]",
                       "architecture.levels[3].keep[0]", "keep: [Weight]", ["'Weights'"]),
    "missing compute": ("  compute:\n    name: mac\n    energy_pJ: {compute: 0.2}\n", "",
                        "architecture.compute", "architecture:", ["required key is missing"]),
    "missing word bits": ("      size_words: 64\n      word_bits: 8\n", "      size_words: 64\n",
                          "architecture.levels[3]", "- name: spad", ["word_bits"]),
    "SRAM without a size": ("      size_words: 256\n", "",
                            "architecture.levels[1]", "- name: buffer", ["size_words", "only a DRAM"]),
    "container with a size": ("      container: true\n", "      container: true\n      size_words: 4\n",
                              "architecture.levels[2].size_words", "size_words: 4", ["container", "keeps nothing"]),
    "no levels": (None, "architecture:\n  name: x\n  levels: []\n  compute: {name: mac}\n",
                  "architecture.levels", "levels: []", []),
    "unknown energy table": ("  name: tiny\n", "  name: tiny\n  energy_table: nope\n",
                             "architecture.energy_table", "energy_table: nope",
                             ["unknown energy table 'nope'", "accelergy_v4_eyeriss_like"]),
    "energy entry without a table": ("energy_pJ: {read: 0.5}", "energy_pJ: psum_spad",
                                     "architecture.levels[3].energy_pJ", "energy_pJ: psum_spad",
                                     ["needs 'energy_table'"]),
    "unknown energy entry": ("energy_pJ: {read: 0.5}", "energy_pJ: accelergy_v4_eyeriss_like/psum",
                             "architecture.levels[3].energy_pJ", "energy_pJ: accelergy_v4_eyeriss_like/psum",
                             ["no entry 'psum'", "psum_spad"]),
    "compute entry on a storage level": ("energy_pJ: {read: 0.5}", "energy_pJ: accelergy_v4_eyeriss_like/mac",
                                         "architecture.levels[3].energy_pJ", "accelergy_v4_eyeriss_like/mac",
                                         ["['compute']"]),
    "energy as a list": ("energy_pJ: {read: 0.5}", "energy_pJ: [0.5]",
                         "architecture.levels[3].energy_pJ", "energy_pJ: [0.5]", ["expected a mapping"]),
    "not an architecture file": (None, "workload:\n  name: x\n", "<top>", "workload:", ["'architecture:'"]),
    "python tag (no code runs)": ("  name: tiny\n", "  name: !!python/name:os.system tiny\n",
                                  "", "python/name", ["invalid YAML value"]),
    "unknown top-level key": ("architecture:\n", "extra: 1\narchitecture:\n", "extra", "extra: 1", ["unknown key"]),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_each_mistake_is_one_located_error(case: str, write: Write) -> None:
    old, new, yaml_path, snippet, words, *occurrence = ERRORS[case]
    text = new if old is None else edit(TINY_ARCH, old, new)
    path = write("arch.yaml", text)
    line = line_of(text, snippet, *occurrence)
    expect_error(load_architecture, path, yaml_path or None, line, *words)


def test_missing_file_is_a_spec_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="file not found"):
        load_architecture(tmp_path / "nope.yaml")
