"""Timeloop map-space constraints and mapper settings -> :class:`~sbmodel.mapper.Constraints`.

Where Timeloop looks (``src/applications/mapper/mapper.cpp``), in this order:

* architecture constraints: ``architecture.constraints``, else the top-level
  ``arch_constraints``, else ``architecture_constraints``;
* map-space constraints: the top-level ``mapspace`` if present, else
  ``mapspace_constraints``.

Each is a list of directives, or a mapping holding that list under
``targets`` or ``constraints``; a directive names its level with ``target``
(or ``name``) and may nest its own ``constraints`` list or an ``attributes``
block (older syntax).  Directive types (``src/mapping/constraints.cpp``):

* ``temporal`` / ``spatial``: ``factors`` (``N=1 C=1``, ``P=0`` = the whole
  dimension, a factor above the bound is clamped to it, ``M<=8`` a maximum),
  ``permutation`` (the innermost loops, innermost first; one letter per
  dimension, spaces ignored) and, for ``spatial``, ``split`` (loops at
  positions below it run along X).  Like Timeloop, the innermost storage
  level's temporal permutation is ignored: its loops run in the problem's
  dimension order (the canonical order);
* ``bypass`` / ``datatype`` / ``bypassing``: ``keep`` and ``bypass`` lists;
* ``utilization`` / ``parallelism``: ``min``, the fraction of compute units used
  (only at the innermost storage level, like Timeloop);
* ``max_overbooked_proportion``: ``proportion``.

As in Timeloop, giving a factor, maximum, permutation, split or keep flag twice
for one level (e.g. once in the architecture and once in the map-space
constraints) is an error.  Types Timeloop knows but sbmodel's mapper cannot
honour (``no_multicast``, ``no_link_transfer``, ...) are rejected rather than
ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..core.architecture import Architecture
from ..core.problem import Problem
from ..errors import SpecError
from ..mapper.constraints import Constraints, LevelConstraints
from .inputs import TimeloopDocument, as_int, as_number

_TOKEN = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*(<=|=*)\s*([0-9]+)")
_SEPARATORS = re.compile(r"[\s,;]*")
OBJECTIVE_NAMES = {"energy": "energy", "delay": "delay", "edp": "edp", "cycles": "delay"}


@dataclass(frozen=True)
class MapperSettings:
    """What ``sbmodel timeloop map`` takes from the inputs' ``mapper`` section."""

    objective: tuple[str, ...]  # lexicographic: first metric first
    imperfect: bool = False  # ``mapspace: {template: ruby}``: residual (imperfect) factors allowed


def parse_mapper_settings(doc: TimeloopDocument) -> MapperSettings:
    """Timeloop's rule: ``optimization_metric`` (one string), else ``optimization_metrics`` (a list),
    else EDP.  The search algorithm, threads, timeout and victory condition are Timeloop's own and
    are ignored: sbmodel runs its own search.  A ``mapspace`` section with ``template: ruby``
    (Timeloop's Ruby map space, imperfect factors) turns on sbmodel's imperfect search."""
    space = next((node for name, node, _ in constraint_sections(doc) if name.startswith("mapspace")), None)
    imperfect = isinstance(space, dict) and str(space.get("template", "")).lower() == "ruby"
    mapper = doc.get("mapper") or {}
    file = doc.file_of("mapper")
    if not isinstance(mapper, dict):
        raise SpecError("'mapper' must be a mapping", file=file)
    metrics: list[Any] = []
    single = mapper.get("optimization_metric")
    if isinstance(single, str):
        metrics = [single]
    elif isinstance(mapper.get("optimization_metrics"), list):
        metrics = list(mapper["optimization_metrics"])
    if not metrics:
        return MapperSettings(("edp",), imperfect)
    out = []
    for m in metrics:
        name = OBJECTIVE_NAMES.get(str(m).lower())
        if name is None:
            raise SpecError(f"mapper: unknown optimization metric {m!r} (sbmodel knows energy, delay, edp)",
                            file=file, yaml_path="mapper.optimization_metrics")
        if name not in out:
            out.append(name)
    return MapperSettings(tuple(out), imperfect)


def constraint_sections(doc: TimeloopDocument) -> list[tuple[str, Any, str | None]]:
    """(name, node, file) of the architecture and map-space constraint sections Timeloop reads."""
    out: list[tuple[str, Any, str | None]] = []
    arch = doc.get("architecture")
    if isinstance(arch, dict) and arch.get("constraints") is not None:
        out.append(("architecture.constraints", arch["constraints"], doc.file_of("architecture")))
    elif doc.get("arch_constraints") is not None:
        out.append(("arch_constraints", doc.get("arch_constraints"), doc.file_of("arch_constraints")))
    elif doc.get("architecture_constraints") is not None:
        out.append(("architecture_constraints", doc.get("architecture_constraints"),
                    doc.file_of("architecture_constraints")))
    if "mapspace" in doc.sections:
        out.append(("mapspace", doc.get("mapspace"), doc.file_of("mapspace")))
    elif doc.get("mapspace_constraints") is not None:
        out.append(("mapspace_constraints", doc.get("mapspace_constraints"), doc.file_of("mapspace_constraints")))
    return out


def parse_constraints(doc: TimeloopDocument, problem: Problem, arch: Architecture) -> Constraints:
    """All constraints of a set of Timeloop inputs, merged with Timeloop's re-specification rules."""
    builder = _Builder(problem, arch)
    for name, node, file in constraint_sections(doc):
        for path, directive in _directives(node, name, file):
            builder.add(directive, path, file)
    return builder.build()


def _directives(node: Any, path: str, file: str | None) -> list[tuple[str, dict]]:
    """Flatten the accepted layouts of a constraints section into (yaml path, directive)."""
    if node is None:
        return []
    if isinstance(node, dict):
        for key in ("constraints", "targets"):
            if isinstance(node.get(key), list):
                return _directives(node[key], f"{path}.{key}", file)
        if "target" in node or "type" in node:
            raise SpecError("a constraints section must be a list of directives (or hold one under 'targets')",
                            file=file, yaml_path=path)
        return []  # e.g. v0.4 ``mapspace: {template: uber}``: no constraints
    if not isinstance(node, list):
        raise SpecError(f"expected a list of constraint directives, got {type(node).__name__}",
                        file=file, yaml_path=path)
    out: list[tuple[str, dict]] = []
    for i, item in enumerate(node):
        where = f"{path}[{i}]"
        if not isinstance(item, dict):
            raise SpecError("a constraint directive must be a mapping", file=file, yaml_path=where)
        if isinstance(item.get("constraints"), list):  # target with nested constraints (old syntax)
            for j, c in enumerate(item["constraints"]):
                if not isinstance(c, dict):
                    raise SpecError("a constraint directive must be a mapping", file=file,
                                    yaml_path=f"{where}.constraints[{j}]")
                merged = {"target": item.get("target", item.get("name"))}
                merged.update(c.get("attributes", c) if isinstance(c.get("attributes"), dict) else c)
                merged["type"] = c.get("type")
                out.append((f"{where}.constraints[{j}]", merged))
        else:
            flat = dict(item)
            if isinstance(item.get("attributes"), dict):
                flat.update(item["attributes"])
            out.append((where, flat))
    return out


class _Builder:
    """Accumulates directives per level, rejecting re-specifications like Timeloop."""

    def __init__(self, problem: Problem, arch: Architecture):
        self.problem, self.arch = problem, arch
        self.levels: dict[str, dict[str, Any]] = {}
        self.min_utilization: float | None = None
        self.names = [lv.name for lv in arch.storage]

    def _level(self, directive: dict, path: str, file: str | None) -> str:
        target = directive.get("target", directive.get("name"))
        if isinstance(target, int) and not isinstance(target, bool):
            if not 0 <= target < len(self.names):
                raise SpecError(f"target level {target} out of range 0..{len(self.names) - 1}", file=file,
                                yaml_path=path)
            return self.names[target]
        if not isinstance(target, str) or not target:
            raise SpecError("constraint directive without a 'target' level", file=file, yaml_path=path)
        if target not in self.names:
            raise SpecError(f"unknown target level {target!r} (storage levels: {', '.join(self.names)})",
                            file=file, yaml_path=path)
        return target

    def add(self, d: dict, path: str, file: str | None) -> None:
        kind = d.get("type")
        if not isinstance(kind, str):
            raise SpecError("constraint directive without a 'type'", file=file, yaml_path=path)
        level = self._level(d, path, file)
        slot = self.levels.setdefault(level, {"keep": set(), "bypass": set()})
        at = f"{path} (level {level})"
        if kind in ("temporal", "spatial"):
            fixed, maxima = self._factors(d.get("factors"), at, file)
            pre = "temporal" if kind == "temporal" else "spatial"
            for key, values in ((f"{pre}_factors", fixed), (f"{pre}_max", maxima)):
                table = slot.setdefault(key, {})
                clash = sorted(set(table) & set(values))
                if clash:
                    raise SpecError(f"{kind} factor of {', '.join(clash)} at level {level} given twice (e.g. "
                                    "in both the architecture and the map-space constraints)",
                                    file=file, yaml_path=path)
                table.update(values)
            perm = self._permutation(d.get("permutation"), at, file)
            if perm:
                key = "permutation" if kind == "temporal" else "spatial_permutation"
                if slot.get(key):
                    raise SpecError(f"{kind} permutation of level {level} given twice", file=file, yaml_path=path)
                slot[key] = perm
            if kind == "spatial" and d.get("split") is not None:
                if "spatial_split" in slot:
                    raise SpecError(f"spatial split of level {level} given twice", file=file, yaml_path=path)
                split = as_int(d["split"], f"{at}: split", file)
                if split < 0:
                    raise SpecError(f"split must be >= 0, got {split}", file=file, yaml_path=f"{path}.split")
                slot["spatial_split"] = split
        elif kind in ("bypass", "datatype", "bypassing"):
            outermost = level == self.names[-1]
            for key in ("keep", "bypass"):
                for t in self._tensors(d.get(key), f"{at}.{key}", file):
                    if not outermost and (t in slot["keep"] or t in slot["bypass"]):
                        raise SpecError(f"keep/bypass of {t} at level {level} given twice", file=file,
                                        yaml_path=f"{path}.{key}")
                    slot[key].add(t)
            both = slot["keep"] & slot["bypass"]
            if both:
                raise SpecError(f"level {level}: tensor(s) {sorted(both)} both kept and bypassed", file=file,
                                yaml_path=path)
        elif kind in ("utilization", "parallelism"):
            if level != self.names[0]:
                raise SpecError(f"parallelism can only be constrained at the innermost storage level "
                                f"({self.names[0]}), not {level}", file=file, yaml_path=path)
            if self.min_utilization is not None:
                raise SpecError("minimum utilization given twice", file=file, yaml_path=path)
            value = float(as_number(d.get("min"), f"{at}: min", file))
            if not 0.0 <= value <= 1.0:
                raise SpecError(f"min utilization must be in [0, 1], got {value}", file=file,
                                yaml_path=f"{path}.min")
            self.min_utilization = value
        elif kind == "max_overbooked_proportion":
            value = float(as_number(d.get("proportion"), f"{at}: proportion", file))
            if not 0.0 <= value < 1.0:
                raise SpecError(f"proportion must be in [0, 1), got {value}", file=file,
                                yaml_path=f"{path}.proportion")
            slot["max_overbooked_proportion"] = value
        else:
            raise SpecError(f"unsupported constraint type {kind!r} (sbmodel's mapper honours temporal, spatial, "
                            "bypass/datatype, utilization and max_overbooked_proportion)", file=file,
                            yaml_path=f"{path}.type")

    def _factors(self, text: Any, where: str, file: str | None) -> tuple[dict[str, int], dict[str, int]]:
        if text is None:
            return {}, {}
        if isinstance(text, list):
            text = " ".join(str(t) for t in text)
        elif isinstance(text, dict):
            text = " ".join(f"{k}={v}" for k, v in text.items())
        text = str(text)
        fixed: dict[str, int] = {}
        maxima: dict[str, int] = {}
        pos = 0
        bounds = self.problem.bound
        for m in _TOKEN.finditer(text):
            gap = text[pos:m.start()]
            if _SEPARATORS.fullmatch(gap) is None:
                raise SpecError(f"{where}: cannot read factors {text!r} near {gap.strip()!r}", file=file)
            pos = m.end()
            dim, op, value = m.group(1), m.group(2), int(m.group(3))
            if dim not in bounds:
                raise SpecError(f"{where}: factor for unknown dimension {dim} (the problem has "
                                f"{', '.join(self.problem.dims)})", file=file)
            if op == "<=":
                if value <= 0:
                    raise SpecError(f"{where}: maximum factor of {dim} must be positive", file=file)
                if dim in maxima:
                    raise SpecError(f"{where}: maximum factor of {dim} given twice", file=file)
                maxima[dim] = value
            else:
                if dim in fixed:
                    raise SpecError(f"{where}: factor of {dim} given twice", file=file)
                fixed[dim] = bounds[dim] if value == 0 or value > bounds[dim] else value
        if _SEPARATORS.fullmatch(text[pos:]) is None:
            raise SpecError(f"{where}: cannot read factors {text!r} near {text[pos:].strip()!r}", file=file)
        return fixed, maxima

    def _permutation(self, text: Any, where: str, file: str | None) -> tuple[str, ...]:
        if text is None:
            return ()
        if isinstance(text, list):
            perm = [str(t) for t in text]
        else:
            perm = [ch for ch in str(text) if not ch.isspace()]
        for d in perm:
            if d not in self.problem.dims:
                raise SpecError(f"{where}: permutation names unknown dimension {d!r} (the problem has "
                                f"{', '.join(self.problem.dims)})", file=file)
        if len(set(perm)) != len(perm):
            raise SpecError(f"{where}: permutation {''.join(perm)} repeats a dimension", file=file)
        return tuple(perm)

    def _tensors(self, value: Any, where: str, file: str | None) -> list[str]:
        if value is None:
            return []
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            raise SpecError(f"{where}: expected a list of data-space names", file=file)
        names = self.problem.dataspace_names
        for t in value:
            if t not in names:
                raise SpecError(f"{where}: unknown data space {t!r} (the problem has {', '.join(names)})",
                                file=file)
        return [str(t) for t in value]

    def build(self) -> Constraints:
        levels = {}
        for name, s in self.levels.items():
            # Timeloop builds the innermost level's temporal loops in the canonical (problem) order
            # whatever the constraint says (uber.cpp: use_canonical_permutation for tiling level 0).
            innermost = name == self.names[0]
            levels[name] = LevelConstraints(
                temporal_factors=s.get("temporal_factors", {}), spatial_factors=s.get("spatial_factors", {}),
                temporal_max=s.get("temporal_max", {}), spatial_max=s.get("spatial_max", {}),
                permutation=() if innermost else s.get("permutation", ()), spatial_permutation=s.get("spatial_permutation", ()),
                spatial_split=s.get("spatial_split"), keep=frozenset(s["keep"]), bypass=frozenset(s["bypass"]),
                max_overbooked_proportion=s.get("max_overbooked_proportion", 0.0),
            )
        return Constraints(levels, self.min_utilization or 0.0)


__all__ = ["MapperSettings", "parse_mapper_settings", "parse_constraints", "constraint_sections"]
