"""Helpers for the spec-format tests: edit YAML text, find lines, expect a located error."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest

from sbmodel.errors import SpecError

ROOT = Path(__file__).resolve().parents[2]

# A small architecture used by the architecture and mapping tests: DRAM, a
# buffer, a container fanning out 2x1, a 4x2 array of scratchpads, MACs.
TINY_ARCH = """\
architecture:
  name: tiny
  levels:
    - name: DRAM
      technology: DRAM
      word_bits: 8
      block_size: 4
      energy_pJ: {read: 100, fill: 100, update: 100}
    - name: buffer
      size_words: 256
      word_bits: 8
      block_size: 4
      read_bandwidth: 8
      energy_pJ: {read: 2.5, fill: 2.0, update: 2.0, leak: 0.01}
    - name: array
      container: true
      mesh: [2, 1]
    - name: spad
      mesh: [4, 2]
      size_words: 64
      word_bits: 8
      keep: [Weights]
      bypass: [Outputs]
      energy_pJ: {read: 0.5}
  compute:
    name: mac
    energy_pJ: {compute: 0.2}
"""


def line_of(text: str, snippet: str, occurrence: int = 1) -> int:
    """1-based line of the ``occurrence``-th line of ``text`` containing ``snippet``."""
    hits = [i + 1 for i, line in enumerate(text.splitlines()) if snippet in line]
    assert len(hits) >= occurrence, f"{snippet!r} not in the test text"
    return hits[occurrence - 1]


def edit(text: str, old: str, new: str) -> str:
    """``text`` with the single occurrence of ``old`` replaced (fails loudly if absent)."""
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
    return text.replace(old, new)


def expect_error(
    load: Callable[[Path], Any], path: Path, yaml_path: str, line: int | None, *words: str,
) -> SpecError:
    """Run ``load(path)``; it must raise one located, one-line SpecError mentioning ``words``."""
    with pytest.raises(SpecError) as info:
        load(path)
    err = info.value
    text = str(err)
    assert err.file == str(path), text
    assert err.yaml_path == yaml_path, text
    assert err.line == line, text
    assert "\n" not in text
    for word in words:
        assert word in text, f"{word!r} not in {text!r}"
    return err
