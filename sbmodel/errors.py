"""Errors that sbmodel reports to users.

Every problem with an input file is a :class:`SpecError`: it names the file, the
YAML path (``layers[3].stride``), the line and what was expected, so the CLI can
print one clear line and exit with status 2 instead of a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass


class SbmodelError(Exception):
    """Base class of all errors sbmodel raises on purpose."""


@dataclass
class SpecError(SbmodelError):
    """An input file is malformed or describes something impossible."""

    message: str
    file: str | None = None
    yaml_path: str | None = None
    line: int | None = None

    def __post_init__(self) -> None:
        super().__init__(self.format())

    def format(self) -> str:
        """``file:line: at yaml.path: message`` with the parts that are known."""
        head = self.file or ""
        if self.line is not None:
            head = f"{head}:{self.line}" if head else f"line {self.line}"
        parts = [p for p in (head, f"at {self.yaml_path}" if self.yaml_path else "") if p]
        return ": ".join(parts + [self.message])

    def __str__(self) -> str:
        return self.format()


class EvaluationError(SbmodelError):
    """A valid input cannot be evaluated (e.g. a tile overflows its buffer)."""
