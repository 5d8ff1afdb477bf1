"""Reading Timeloop input files into one merged, key-normalised document.

Timeloop accepts its inputs as several YAML files whose top-level keys are
merged (``architecture``, ``problem``, ``mapping``, ``sparse_optimizations``,
``mapper``, ``mapspace_constraints`` ...), in v0.3 multi-file, v0.3
aggregated or v0.4 ``parsed-processed-input`` form.  Keys may be spelled with
hyphens or underscores (``block-size`` == ``block_size``); we normalise to
underscores like Timeloop does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from ..errors import SpecError
from ..spec.yamlio import load_yaml

# Top-level sections that are lists of directives and concatenate across files.
_LIST_SECTIONS = {"mapping"}


def normalise_keys(node: Any) -> Any:
    """Recursively replace hyphens by underscores in mapping keys."""
    if isinstance(node, dict):
        return {(k.replace("-", "_") if isinstance(k, str) else k): normalise_keys(v) for k, v in node.items()}
    if isinstance(node, list):
        return [normalise_keys(v) for v in node]
    return node


@dataclass(frozen=True)
class TimeloopDocument:
    """Merged top-level sections, and which file each came from (for error messages)."""

    sections: dict[str, Any]
    origin: dict[str, str]

    def get(self, key: str, default: Any = None) -> Any:
        return self.sections.get(key, default)

    def file_of(self, key: str) -> str | None:
        return self.origin.get(key)


def read_documents(paths: Iterable[str | Path]) -> TimeloopDocument:
    """Load and merge Timeloop YAML files in order (later files win, like Timeloop)."""
    sections: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for path in paths:
        located = load_yaml(path)
        data = located.data
        if data is None:
            continue
        if not isinstance(data, dict):
            raise SpecError("expected a YAML mapping at the top level of a Timeloop input", file=str(path))
        data = normalise_keys(data)
        for key, value in data.items():
            if key in _LIST_SECTIONS and isinstance(sections.get(key), list) and isinstance(value, list):
                sections[key] = sections[key] + value
            else:
                sections[key] = value
            origin[key] = str(path)
    return TimeloopDocument(sections, origin)


def as_number(value: Any, what: str, file: str | None = None) -> float:
    """Timeloop reads numbers from strings too (``1e-9``); so do we."""
    if isinstance(value, bool):
        raise SpecError(f"{what}: expected a number, got {value!r}", file=file)
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        try:
            return float(value) if any(c in value for c in ".eE") else int(value)
        except ValueError:
            pass
    raise SpecError(f"{what}: expected a number, got {value!r}", file=file)


def as_int(value: Any, what: str, file: str | None = None) -> int:
    number = as_number(value, what, file)
    if int(number) != number:
        raise SpecError(f"{what}: expected an integer, got {value!r}", file=file)
    return int(number)
