"""Parameter paths: where in an architecture or workload file a sweep parameter writes.

A path starts at the file's top-level key and walks mappings with ``.key`` and
lists with ``[selector]`` (or ``.name`` / ``.index``, which needs no quoting inside
a YAML flow list ``[...]``)::

    architecture.levels.shared_glb.size_words       # the level whose name is shared_glb
    architecture.levels[shared_glb].size_words      # the same
    architecture.levels[3].read_bandwidth           # by position (0 = first listed)
    workload.layers[*].stats.weights.density        # every layer
    workload.layers[stats.weights.scheme=signed-binary].stats.weights.density
    workload.layers[type!=fc].bits.weights          # filters: key=value, key!=value
    workload                                        # the whole file: values are file paths

Overrides are applied to the raw YAML data *before* validation (copy-on-write:
only the containers on the path are copied, the rest is shared with the base
data), so a wrong value is reported by the same strict checks as a hand-edited
file.  Keys at the end of a path may be absent from the base data (a bandwidth
the file leaves unlimited, ``compute.style.kind`` when the file has no
``style`` block): they are created, and the schema validation catches typos.
List selections must exist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterator

from ..spec.yamlio import format_path

ROOTS = ("architecture", "workload")
_TOKEN = re.compile(r"\.([A-Za-z0-9_][A-Za-z0-9_\-]*)|\[([^\[\]]+)\]")


class PathError(ValueError):
    """A path does not parse, or does not lead anywhere in the data."""


@dataclass(frozen=True)
class Key:
    name: str

    def __str__(self) -> str:
        return f".{self.name}"


@dataclass(frozen=True)
class Select:
    """A list selector: ``*``, an index, a name, or a ``key=value`` / ``key!=value`` filter."""

    text: str

    def __str__(self) -> str:
        return f"[{self.text}]"

    def matches(self, items: list[Any]) -> list[int]:
        """Indices of the selected elements; :class:`PathError` when nothing is selected."""
        t = self.text.strip()
        if t == "*":
            return list(range(len(items)))
        if re.fullmatch(r"-?\d+", t):
            i = int(t)
            if not -len(items) <= i < len(items):
                raise PathError(f"index {i} is out of range: the list has {len(items)} element(s)")
            return [i % len(items)]
        m = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_.\-]*)\s*(!=|=)\s*(.+)", t)
        if m:
            key, op, want = m.group(1), m.group(2), m.group(3).strip()
            out = [i for i, item in enumerate(items)
                   if (_text(_dig(item, key.split("."))) == want) == (op == "=")]
            if not out:
                raise PathError(f"no element has {key}{op}{want}")
            return out
        out = [i for i, item in enumerate(items) if isinstance(item, dict) and str(item.get("name")) == t]
        if not out:
            names = [str(item.get("name")) for item in items if isinstance(item, dict) and "name" in item]
            listed = f" (names: {', '.join(names)})" if names else ""
            raise PathError(f"no element named {t!r}{listed}")
        if len(out) > 1:
            raise PathError(f"{len(out)} elements are named {t!r}")
        return out


Step = Key | Select

_MISSING = object()


def _dig(item: Any, keys: list[str]) -> Any:
    for k in keys:
        if not isinstance(item, dict) or k not in item:
            return _MISSING
        item = item[k]
    return item


def _text(value: Any) -> str | None:
    if value is _MISSING:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class ParamPath:
    """A parsed parameter path: its root (``architecture`` or ``workload``) and steps."""

    root: str
    steps: tuple[Step, ...]

    @classmethod
    def parse(cls, text: str) -> "ParamPath":
        text = text.strip()
        m = re.match(r"[A-Za-z_][A-Za-z0-9_]*", text)
        root = m.group(0) if m else ""
        if root not in ROOTS:
            raise PathError(f"a path starts with {' or '.join(ROOTS)} (got {text!r})")
        rest = text[len(root):]
        steps: list[Step] = []
        pos = 0
        while pos < len(rest):
            m = _TOKEN.match(rest, pos)
            if m is None:
                raise PathError(f"cannot parse {text!r} at {rest[pos:]!r}: expected .key or [selector]")
            steps.append(Key(m.group(1)) if m.group(1) is not None else Select(m.group(2)))
            pos = m.end()
        return cls(root, tuple(steps))

    @property
    def is_file(self) -> bool:
        """The whole file: the parameter's values are file paths."""
        return not self.steps

    def __str__(self) -> str:
        return self.root + "".join(str(s) for s in self.steps)

    def targets(self, data: Any) -> list[tuple[str | int, ...]]:
        """The concrete YAML paths (keys and indices from the file's top) the path writes to."""
        if not isinstance(data, dict) or self.root not in data:
            raise PathError(f"the file has no top-level '{self.root}:' mapping")
        found: list[tuple[str | int, ...]] = []
        self._walk(data[self.root], 0, (self.root,), found)
        return found

    def _walk(self, node: Any, i: int, at: tuple[str | int, ...], found: list[tuple[str | int, ...]]) -> None:
        if i == len(self.steps):
            found.append(at)
            return
        step = self.steps[i]
        if isinstance(step, Key) and isinstance(node, list):
            step = Select(step.name)  # `.name` on a list selects the element of that name (or index)
        if isinstance(step, Key):
            if not isinstance(node, dict):
                raise PathError(f"{format_path(at)} is {_kind(node)}, not a mapping: it has no key {step.name!r}")
            if step.name not in node:
                rest = self.steps[i:]
                if all(isinstance(s, Key) for s in rest):
                    # new keys (e.g. an optional block the file leaves out): the strict validation decides
                    found.append(at + tuple(s.name for s in rest))  # type: ignore[union-attr]
                    return
                keys = ", ".join(str(k) for k in node) or "none"
                raise PathError(f"{format_path(at)} has no key {step.name!r} (keys: {keys})")
            self._walk(node[step.name], i + 1, at + (step.name,), found)
        else:
            if not isinstance(node, list):
                raise PathError(f"{format_path(at)} is {_kind(node)}, not a list: [{step.text}] selects list elements")
            try:
                indices = step.matches(node)
            except PathError as exc:
                raise PathError(f"{format_path(at)}[{step.text}]: {exc}") from None
            for j in indices:
                self._walk(node[j], i + 1, at + (j,), found)


def _kind(node: Any) -> str:
    if isinstance(node, dict):
        return "a mapping"
    if isinstance(node, list):
        return "a list"
    return f"a value ({node!r})"


def set_paths(data: Any, assignments: list[tuple[tuple[str | int, ...], Any]]) -> Any:
    """A copy of ``data`` with each concrete path set to its value.

    Copy-on-write: containers on the written paths are copied, everything else
    is shared with ``data`` (which is never modified).
    """
    out = _shallow(data)
    copied: set[tuple[str | int, ...]] = {()}
    for path, value in assignments:
        node = out
        for depth, key in enumerate(path[:-1]):
            prefix = path[: depth + 1]
            if isinstance(node, dict) and key not in node:
                node[key] = {}  # an absent optional block, created on the way
                copied.add(prefix)
            child = node[key]
            if prefix not in copied:
                child = _shallow(child)
                node[key] = child
                copied.add(prefix)
            node = child
        node[path[-1]] = value
    return out


def _shallow(node: Any) -> Any:
    if isinstance(node, dict):
        return dict(node)
    if isinstance(node, list):
        return list(node)
    return node


def walk_values(value: Any) -> Iterator[Any]:
    """Every scalar in a (nested) value, for checks such as 'no NaN'."""
    if isinstance(value, dict):
        for v in value.values():
            yield from walk_values(v)
    elif isinstance(value, list):
        for v in value:
            yield from walk_values(v)
    else:
        yield value


__all__ = ["ParamPath", "PathError", "set_paths", "ROOTS"]
