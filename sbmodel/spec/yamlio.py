"""Safe YAML loading that remembers where every value came from.

:func:`load_yaml` returns plain Python data plus a :class:`Located` index that
maps each YAML path to its line, so later validation can say
``arch.yaml:12: at levels[1].size: expected a positive integer``.
Duplicate keys are errors (PyYAML silently keeps the last one); only the
safe constructors are used, so no tag can run code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml

from ..errors import SpecError

PathKey = tuple[str | int, ...]
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MERGE_TAG = "tag:yaml.org,2002:merge"


def format_path(path: Iterable[str | int]) -> str:
    """``("layers", 3, "stride")`` -> ``layers[3].stride``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "<top>"


@dataclass
class Located:
    """Data loaded from one YAML file with the line of every path."""

    data: Any
    file: str
    lines: dict[PathKey, int] = field(default_factory=dict)

    def line(self, path: Iterable[str | int]) -> int | None:
        """Line of ``path`` or of its nearest ancestor that has one."""
        key = tuple(path)
        while True:
            if key in self.lines:
                return self.lines[key]
            if not key:
                return None
            key = key[:-1]

    def error(self, path: Iterable[str | int], message: str) -> SpecError:
        path = tuple(path)
        return SpecError(message, file=self.file, yaml_path=format_path(path), line=self.line(path))


class _Builder:
    """Turns a composed node tree into Python data, recording lines and rejecting duplicates."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.lines: dict[PathKey, int] = {}
        self._constructor = yaml.SafeLoader("")  # only used for scalar resolution

    def build(self, node: yaml.Node, path: PathKey) -> Any:
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(child, path + (i,)) for i, child in enumerate(node.value)]
        return self._constructor.construct_object(node, deep=True)

    def _mapping(self, node: yaml.MappingNode, path: PathKey) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        merged: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                for src in sources:
                    if not isinstance(src, yaml.MappingNode):
                        raise SpecError("a '<<' merge needs a mapping", self.file, format_path(path),
                                        key_node.start_mark.line + 1)
                    for k, v in self._mapping(src, path).items():
                        merged.setdefault(k, v)
                continue
            key = self._constructor.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                raise SpecError("mapping keys must be scalars", self.file, format_path(path),
                                key_node.start_mark.line + 1)
            if key in out:
                raise SpecError(
                    f"duplicate key '{key}' (first given on line {self.lines.get(path + (key,), '?')})",
                    self.file, format_path(path + (key,)), key_node.start_mark.line + 1,
                )
            self.lines[path + (key,)] = key_node.start_mark.line + 1
            out[key] = self.build(value_node, path + (key,))
        for k, v in merged.items():
            out.setdefault(k, v)
        return out


def parse_yaml(text: str, file: str = "<string>") -> Located:
    """Parse YAML text (one document) into :class:`Located` data."""
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise SpecError(f"invalid YAML: {exc.problem or exc}", file=file, line=line) from None
    except yaml.YAMLError as exc:
        raise SpecError(f"invalid YAML: {exc}", file=file) from None
    if node is None:
        return Located(None, file, {(): 1})
    builder = _Builder(file)
    try:
        data = builder.build(node, ())
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        raise SpecError(f"invalid YAML value: {exc.problem}", file=file,
                        line=mark.line + 1 if mark else None) from None
    return Located(data, file, builder.lines)


def load_yaml(path: str | Path) -> Located:
    """Read and parse a YAML file; unreadable files are a :class:`SpecError`."""
    return parse_yaml(read_text(path), str(path))


def read_text(path: str | Path) -> str:
    """A spec file's text; unreadable files are a :class:`SpecError` naming the file."""
    p = Path(path)
    try:
        return p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError("file not found", file=str(path)) from None
    except IsADirectoryError:
        raise SpecError("expected a YAML file, got a directory", file=str(path)) from None
    except UnicodeDecodeError:
        raise SpecError("not a UTF-8 text file", file=str(path)) from None
    except OSError as exc:
        raise SpecError(f"cannot read file: {exc.strerror}", file=str(path)) from None
