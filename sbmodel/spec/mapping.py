"""Our mapping format: how each layer's loops are tiled over an architecture.

```yaml
architecture: eyeriss_like          # optional: the design these mappings were written for
mappings:
  - layer: conv1                    # a layer name, a list of names, or instead
                                    # `shape: {C: 64, M: 64, P: 56, Q: 56, R: 3, S: 3}`
    levels:                         # outermost first; levels left out have no loops
      - level: DRAM
        temporal: [P8, Q2, M4]      # loops outermost first; dimensions left out = 1
      - level: shared_glb
        temporal: [P14, Q4]
        keep: [Inputs, Outputs]     # default: every tensor the architecture allows here
      - level: inter_PE_column_spatial
        spatial: {X: [Q14]}         # spatial loops per mesh axis, outermost first
      - level: inter_PE_spatial
        spatial: {Y: [C3, S3]}
      - level: weights_spad
        temporal: [R3]
      - level: psum_spad
        temporal: [{dim: M, factor: 8, residual: 8}]   # the long form (imperfect factors)
```

A loop token is a dimension name followed by its factor (``M4``).  The long
form ``{dim, factor, residual}`` gives an imperfect factorization: the final
iteration of the whole nest runs this loop only to ``residual`` (Timeloop's
rule, see :func:`sbmodel.core.mapping.covered_extent`).  Spatial loops at a
level fan out to its children; their product per axis may not exceed that
fanout (child mesh / parent mesh).

:func:`load_mappings` checks everything against the architecture and the
layers -- level and dimension names, loop factors against the layer bounds,
spatial fanouts, keep/bypass against the architecture, and that every level's
tiles fit -- and reports each mistake as a located
:class:`~sbmodel.errors.SpecError`.  :func:`dump_mapping` writes the format.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from math import prod
from pathlib import Path
from typing import Annotated, Any, Iterable, Optional, Sequence

import yaml
from pydantic import Field

from ..core.architecture import Architecture, StorageLevel
from ..core.mapping import LevelMapping, Loop, Mapping, covered_extent
from ..core.problem import Problem, box_size
from ..errors import SpecError
from .common import StrictModel, check, validate
from .yamlio import Located, PathKey, parse_yaml, read_text

PosInt = Annotated[int, Field(ge=1)]
Name = Annotated[str, Field(min_length=1)]
LOOP_TOKEN = re.compile(r"([A-Za-z_]+)([0-9]+)")
PLAIN_SCALAR = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
# Timeloop's per-level analysis switches, written as lists of tensor names.
SWITCHES = ("no_multicast", "no_link_transfer", "no_temporal_reuse")


# --------------------------------------------------------------------------- file models


class LoopSpec(StrictModel):
    """The long form of a loop (needed for imperfect factors)."""

    dim: Name
    factor: PosInt
    residual: Optional[PosInt] = None


class SpatialSpec(StrictModel):
    X: list[Any] = []  # loop tokens or LoopSpec mappings, outermost first
    Y: list[Any] = []


class LevelSpec(StrictModel):
    level: Name
    temporal: list[Any] = []  # loop tokens or LoopSpec mappings, outermost first
    spatial: Optional[SpatialSpec] = None
    keep: Optional[list[str]] = None
    no_multicast: list[str] = []
    no_link_transfer: list[str] = []
    no_temporal_reuse: list[str] = []


class MappingEntry(StrictModel):
    layer: Any = None  # a layer name or a list of names (checked after validation)
    shape: Optional[dict[str, PosInt]] = None
    levels: list[LevelSpec] = []


class MappingFile(StrictModel):
    architecture: Optional[Name] = None
    mappings: list[MappingEntry] = Field(min_length=1)


# --------------------------------------------------------------------------- parsed entries


@dataclass(frozen=True)
class PlacedLoop:
    """A loop with the YAML path it was written at."""

    loop: Loop
    path: PathKey


@dataclass
class ParsedLevel:
    """One listed level of an entry, loops still outermost first as written."""

    path: PathKey
    temporal: list[PlacedLoop] = field(default_factory=list)
    spatial_x: list[PlacedLoop] = field(default_factory=list)
    spatial_y: list[PlacedLoop] = field(default_factory=list)
    keep: Optional[list[tuple[str, PathKey]]] = None
    switches: dict[str, list[tuple[str, PathKey]]] = field(default_factory=dict)

    def loops(self) -> list[PlacedLoop]:
        return self.temporal + self.spatial_x + self.spatial_y


@dataclass
class ParsedEntry:
    """An entry checked against the architecture, not yet against a layer."""

    path: PathKey
    levels: dict[int, ParsedLevel]  # by architecture index (innermost = 0)

    def level_path(self, index: int) -> PathKey:
        """Where to point for a level: its entry if listed, else the entry's ``levels``."""
        listed = self.levels.get(index)
        return listed.path if listed else self.path + ("levels",)


def _parse_loop(item: Any, located: Located, path: PathKey, axis: Optional[str]) -> PlacedLoop:
    if isinstance(item, str):
        match = LOOP_TOKEN.fullmatch(item.strip())
        check(match is not None, located, path,
              f"expected a loop like 'M4' (dimension name then factor) or "
              f"{{dim: M, factor: 4, residual: 3}} (got {item!r})")
        assert match is not None
        dim, factor = match.group(1), int(match.group(2))
        check(factor >= 1, located, path, f"a loop factor must be at least 1 (got {item!r})")
        return PlacedLoop(Loop(dim, factor, axis=axis), path)
    check(isinstance(item, dict), located, path,
          f"expected a loop like 'M4' or {{dim: M, factor: 4, residual: 3}} (got {item!r})")
    spec = validate(LoopSpec, located, path)
    residual = spec.residual
    check(residual is None or residual <= spec.factor, located, path + ("residual",),
          f"residual must be at most the factor {spec.factor} (got {residual})")
    return PlacedLoop(Loop(spec.dim, spec.factor, residual=residual, axis=axis), path)


def _parse_loops(items: list[Any], located: Located, path: PathKey, axis: Optional[str],
                 what: str) -> list[PlacedLoop]:
    loops = [_parse_loop(item, located, path + (i,), axis) for i, item in enumerate(items)]
    seen: dict[str, int] = {}
    for i, placed in enumerate(loops):
        dim = placed.loop.dim
        check(dim not in seen, located, placed.path,
              f"dimension {dim} appears twice in the {what} loops of this level "
              f"(first as item {seen.get(dim)}); give each dimension once, with the product of its factors")
        seen[dim] = i
    return loops


def _names(items: list[str], located: Located, path: PathKey) -> list[tuple[str, PathKey]]:
    out: list[tuple[str, PathKey]] = []
    for i, name in enumerate(items):
        check(name not in items[:i], located, path + (i,), f"{name} is listed twice")
        out.append((name, path + (i,)))
    return out


def _parse_level(spec: LevelSpec, located: Located, path: PathKey, arch: Architecture, index: int) -> ParsedLevel:
    level = arch.storage[index]
    parsed = ParsedLevel(path=path)
    parsed.temporal = _parse_loops(spec.temporal, located, path + ("temporal",), None, "temporal")
    if spec.spatial is not None:
        parsed.spatial_x = _parse_loops(spec.spatial.X, located, path + ("spatial", "X"), "X", "spatial X")
        parsed.spatial_y = _parse_loops(spec.spatial.Y, located, path + ("spatial", "Y"), "Y", "spatial Y")
    fanout = arch.fanout(index)
    for axis, loops, limit in (("X", parsed.spatial_x, fanout[0]), ("Y", parsed.spatial_y, fanout[1])):
        used = prod(p.loop.factor for p in loops)
        check(used <= limit, located, path + ("spatial", axis),
              f"spatial {axis} factors multiply to {used} but {level.name} fans out to only {limit} "
              f"along {axis} ({fanout[0]} x {fanout[1]} children)")
    if spec.keep is not None:
        parsed.keep = _names(spec.keep, located, path + ("keep",))
        for tensor, where in parsed.keep:
            check(not level.container_only, located, where,
                  f"{level.name} is a container level and keeps nothing")
            check(tensor not in level.must_bypass, located, where,
                  f"the architecture says {level.name} bypasses {tensor}; it cannot keep it")
    for switch in SWITCHES:
        parsed.switches[switch] = _names(getattr(spec, switch), located, path + (switch,))
    return parsed


def _parse_entry(entry: MappingEntry, located: Located, path: PathKey, arch: Architecture) -> ParsedEntry:
    names = [lv.name for lv in reversed(arch.storage)]  # outermost first, as written
    parsed = ParsedEntry(path=path, levels={})
    previous: Optional[tuple[int, str]] = None
    for j, spec in enumerate(entry.levels):
        where = path + ("levels", j)
        check(spec.level in names, located, where + ("level",),
              f"unknown level {spec.level!r} (architecture {arch.name} has {', '.join(names)})")
        index = arch.level_index(spec.level)
        check(index not in parsed.levels, located, where + ("level",), f"level {spec.level} is listed twice")
        if previous is not None:
            check(index < previous[0], located, where + ("level",),
                  f"level {spec.level} is listed after {previous[1]} but sits above it; "
                  f"list levels from the outermost (DRAM) inwards")
        previous = (index, spec.level)
        parsed.levels[index] = _parse_level(spec, located, where, arch, index)
    return parsed


# --------------------------------------------------------------------------- per-layer checks


def _default_keep(level: StorageLevel, problem: Problem) -> frozenset[str]:
    """What a level keeps unless the mapping says: every tensor the architecture allows."""
    if level.container_only:
        return frozenset()
    return frozenset(t for t in problem.dataspace_names if t not in level.must_bypass)


def _factor_text(loops: Iterable[Loop]) -> str:
    parts = [f"{lp.factor}" if lp.residual is None else f"{lp.factor} (last {lp.residual})" for lp in loops]
    return " x ".join(parts) if parts else "no loops"


def tile_words(mapping: Mapping, problem: Problem, index: int) -> dict[str, int]:
    """Words of each tensor in one instance of level ``index``: the box spanned by all
    loops at and inside that level (full factors), projected through each tensor."""
    extent = {d: 1 for d in problem.dims}
    for lm in mapping.levels[: index + 1]:
        for lp in lm.temporal + lm.spatial:
            extent[lp.dim] *= lp.factor
    return {ds.name: box_size(ds, extent) for ds in problem.dataspaces}


def _build_mapping(parsed: ParsedEntry, located: Located, arch: Architecture, problem: Problem,
                   source: str) -> Mapping:
    layer = f"layer {problem.name}: "
    dims = set(problem.dims)
    tensors = set(problem.dataspace_names)
    levels: list[LevelMapping] = []
    for index, level in enumerate(arch.storage):
        listed = parsed.levels.get(index)
        if listed is None:
            levels.append(LevelMapping(keep=_default_keep(level, problem)))
            continue
        for placed in listed.loops():
            check(placed.loop.dim in dims, located, placed.path,
                  f"{layer}unknown dimension {placed.loop.dim} (the layer has {', '.join(problem.dims)})")
        named = (listed.keep or []) + [item for group in listed.switches.values() for item in group]
        for tensor, where in named:
            check(tensor in tensors, located, where,
                  f"{layer}unknown tensor {tensor} (the layer has {', '.join(problem.dataspace_names)})")
        if listed.keep is None:
            keep = _default_keep(level, problem)
        else:
            keep = frozenset(t for t, _ in listed.keep)
            missing = sorted(level.must_keep & tensors - keep)
            check(not missing, located, listed.path + ("keep",),
                  f"{layer}the architecture says {level.name} always keeps {', '.join(missing)}; add it to keep")
        levels.append(LevelMapping(
            temporal=tuple(p.loop for p in reversed(listed.temporal)),
            spatial=tuple(p.loop for p in reversed(listed.spatial_x)) + tuple(p.loop for p in reversed(listed.spatial_y)),
            keep=keep,
            **{name: frozenset(t for t, _ in items) for name, items in listed.switches.items()},
        ))
    mapping = Mapping(levels=tuple(levels), source=source)
    _check_coverage(mapping, parsed, located, problem, layer)
    for tensor in problem.dataspace_names:
        check(any(tensor in lm.keep for lm in mapping.levels), located, parsed.path,
              f"{layer}tensor {tensor} is kept at no level; some level (usually DRAM) must hold it")
    _check_capacity(mapping, parsed, located, arch, problem, layer)
    try:
        mapping.validate(problem, arch)  # the core's own checks, as a safety net
    except SpecError as exc:
        raise located.error(parsed.path, layer + exc.message) from None
    return mapping


def _check_coverage(mapping: Mapping, parsed: ParsedEntry, located: Located, problem: Problem, layer: str) -> None:
    for dim, bound in problem.bound.items():
        covered = covered_extent(mapping, dim)
        if covered == bound:
            continue
        loops = [lp for _, lp in mapping.loops_outer_to_inner() if lp.dim == dim]
        first = next((p.path for lv in sorted(parsed.levels, reverse=True)
                      for p in parsed.levels[lv].loops() if p.loop.dim == dim), parsed.path + ("levels",))
        raise located.error(first, f"{layer}the factors of dimension {dim} ({_factor_text(loops)}) cover "
                                   f"{covered} but the layer has {dim}={bound}")


def _check_capacity(mapping: Mapping, parsed: ParsedEntry, located: Located, arch: Architecture,
                    problem: Problem, layer: str) -> None:
    for index, level in enumerate(arch.storage):
        capacity = level.effective_size_words
        keep = mapping.levels[index].keep
        if capacity is None or not keep:
            continue
        # a level that packs sub-word data holds bits / word_bits words per element
        tiles = {t: w * (problem.word_bits.get(t, level.word_bits) / level.word_bits if level.packed else 1)
                 for t, w in tile_words(mapping, problem, index).items() if t in keep}
        needed = sum(tiles.values())
        if needed <= capacity + 1e-9:
            continue
        parts = " + ".join(f"{t} {w:g}" for t, w in tiles.items())
        buffering = "" if level.multiple_buffering == 1 else f" after {level.multiple_buffering:g}x buffering"
        raise located.error(parsed.level_path(index),
                            f"{layer}the tiles kept at {level.name} need {needed:g} words ({parts}) but one "
                            f"instance holds {capacity} words{buffering}")


# --------------------------------------------------------------------------- loading


def _entry_layer_names(entry: MappingEntry, located: Located, path: PathKey) -> list[tuple[str, PathKey]]:
    """The layers an entry names explicitly (empty for a ``shape`` entry)."""
    check((entry.layer is None) != (entry.shape is None), located, path,
          "give either 'layer' (a name or a list of names) or 'shape', not both or neither")
    if entry.layer is None:
        return []
    if isinstance(entry.layer, str):
        return [(entry.layer, path + ("layer",))]
    check(isinstance(entry.layer, list) and len(entry.layer) > 0, located, path + ("layer",),
          f"expected a layer name or a non-empty list of names (got {entry.layer!r})")
    out: list[tuple[str, PathKey]] = []
    for i, name in enumerate(entry.layer):
        check(isinstance(name, str), located, path + ("layer", i), f"expected a layer name (got {name!r})")
        out.append((name, path + ("layer", i)))
    return out


def _matches_shape(shape: dict[str, int], problem: Problem) -> bool:
    """A layer matches a shape if every dimension has the given bound (dimensions left out: 1)."""
    return set(shape) <= set(problem.dims) and all(shape.get(d, 1) == b for d, b in problem.bound.items())


def _assign_entries(spec: MappingFile, located: Located, problems: Sequence[Problem]) -> dict[str, int]:
    """Layer name -> index of the entry that maps it (explicit names win over shapes)."""
    known = [p.name for p in problems]
    all_dims = sorted({d for p in problems for d in p.dims})
    explicit: dict[str, int] = {}
    shapes: list[int] = []
    for k, entry in enumerate(spec.mappings):
        path: PathKey = ("mappings", k)
        for name, where in _entry_layer_names(entry, located, path):
            check(name in known, located, where,
                  f"unknown layer {name!r} (the workload has {', '.join(known) or 'no layers'})")
            check(name not in explicit, located, where,
                  f"layer {name} already has a mapping (entry {explicit.get(name)})")
            explicit[name] = k
        if entry.shape is not None:
            for dim in entry.shape:
                check(not all_dims or dim in all_dims, located, path + ("shape", dim),
                      f"unknown dimension {dim} (the layers have {', '.join(all_dims)})")
            for other in shapes:
                check(spec.mappings[other].shape != entry.shape, located, path + ("shape",),
                      f"the same shape is already mapped by entry {other}")
            shapes.append(k)
    assigned = dict(explicit)
    for problem in problems:
        if problem.name not in assigned:
            for k in shapes:
                if _matches_shape(spec.mappings[k].shape or {}, problem):
                    assigned[problem.name] = k
                    break
    return assigned


def load_mappings(path: str | Path, arch: Architecture, problems: Iterable[Problem]) -> dict[str, Mapping]:
    """Read a mapping file and build a validated mapping for every layer it covers.

    Returns ``{layer name: Mapping}`` in workload order; layers the file does not
    cover are left out (the caller may search mappings for them).
    """
    problems = list(problems)
    located, spec = _read_mapping_file(path)
    if spec.architecture is not None:
        check(spec.architecture == arch.name, located, ("architecture",),
              f"these mappings are for architecture {spec.architecture!r} but the architecture is {arch.name!r}")
    assigned = _assign_entries(spec, located, problems)
    parsed = {k: _parse_entry(spec.mappings[k], located, ("mappings", k), arch) for k in sorted(set(assigned.values()))}
    return {
        p.name: _build_mapping(parsed[assigned[p.name]], located, arch, p, source=str(path))
        for p in problems if p.name in assigned
    }


def _read_mapping_file(path: str | Path) -> tuple[Located, "MappingFile"]:
    """The parsed and schema-checked mapping file, parsed once per content (a sweep evaluates
    every point with the same file; reading it again is cheap, parsing and checking are not)."""
    return _parse_mapping_file(str(path), read_text(path))


@lru_cache(maxsize=16)
def _parse_mapping_file(path: str, text: str) -> tuple[Located, "MappingFile"]:
    located = parse_yaml(text, path)
    check(isinstance(located.data, dict) and "mappings" in located.data, located, (),
          "expected a top-level 'mappings:' list")
    return located, validate(MappingFile, located)


def load_mapping(path: str | Path, arch: Architecture, problem: Problem) -> Mapping:
    """The mapping of one layer; an error if the file has none for it."""
    mappings = load_mappings(path, arch, [problem])
    if problem.name not in mappings:
        raise SpecError(f"no mapping for layer {problem.name} (by name or shape)", file=str(path))
    return mappings[problem.name]


# --------------------------------------------------------------------------- writing


def _scalar(text: str) -> str:
    """``text`` as a YAML scalar: plain when that reads back as the same string, else quoted."""
    if PLAIN_SCALAR.fullmatch(text) and yaml.safe_load(text) == text:
        return text
    return json.dumps(text)


def _loop_text(loop: dict[str, Any]) -> str:
    """One loop of :func:`mapping_levels` as this format writes it: ``M4``, or the long form."""
    if "residual" not in loop and re.fullmatch(r"[A-Za-z_]+", loop["dim"]):
        return f"{loop['dim']}{loop['factor']}"
    fields = [f"dim: {_scalar(loop['dim'])}", f"factor: {loop['factor']}"]
    if "residual" in loop:
        fields.append(f"residual: {loop['residual']}")
    return "{" + ", ".join(fields) + "}"


def _loop_dict(loop: Loop) -> dict[str, Any]:
    out: dict[str, Any] = {"dim": loop.dim, "factor": loop.factor}
    if loop.residual is not None and loop.residual != loop.factor:
        out["residual"] = loop.residual
    return out


def _nontrivial(loops: Iterable[Loop]) -> list[dict[str, Any]]:
    """Loops outermost first, without those of factor 1 (they change nothing)."""
    return [_loop_dict(lp) for lp in reversed(tuple(loops)) if lp.factor > 1]


def ordered_tensors(tensors: frozenset[str], problem: Problem) -> list[str]:
    """``tensors`` in the problem's order (any others after them, sorted)."""
    return [t for t in problem.dataspace_names if t in tensors] + sorted(tensors - set(problem.dataspace_names))


def mapping_levels(mapping: Mapping, arch: Architecture, problem: Problem) -> list[dict[str, Any]]:
    """A mapping as the ``levels`` of this format, as data: per level, outermost first, its
    temporal loops and per axis its spatial loops (each outermost first, factor-1 loops left out;
    ``residual`` only for an imperfect factor), the tensors it keeps (not for a container) and
    Timeloop's switches where set.  :func:`dump_mappings` writes it; JSON reports carry it."""
    levels = []
    for index in reversed(range(arch.num_levels)):
        level, lm = arch.storage[index], mapping.levels[index]
        entry: dict[str, Any] = {"level": level.name, "temporal": _nontrivial(lm.temporal)}
        spatial = {axis: _nontrivial(lp for lp in lm.spatial if lp.axis == axis) for axis in ("X", "Y")}
        entry["spatial"] = {axis: loops for axis, loops in spatial.items() if loops}
        if not level.container_only:
            entry["keep"] = ordered_tensors(lm.keep, problem)
        for switch in SWITCHES:
            if getattr(lm, switch):
                entry[switch] = ordered_tensors(getattr(lm, switch), problem)
        levels.append(entry)
    return levels


def _tensor_list(tensors: list[str]) -> str:
    return "[" + ", ".join(_scalar(t) for t in tensors) + "]"


def dump_mappings(items: Iterable[tuple[Problem, Mapping]], arch: Architecture) -> str:
    """Several layers' mappings as one file of this format."""
    lines = [f"architecture: {_scalar(arch.name)}", "mappings:"]
    for problem, mapping in items:
        lines += [f"  - layer: {_scalar(problem.name)}", "    levels:"]
        for entry in mapping_levels(mapping, arch, problem):
            lines.append(f"      - level: {_scalar(entry['level'])}")
            if entry["temporal"]:
                lines.append(f"        temporal: [{', '.join(_loop_text(lp) for lp in entry['temporal'])}]")
            if entry["spatial"]:
                lines.append("        spatial: {" + ", ".join(
                    f"{axis}: [{', '.join(_loop_text(lp) for lp in loops)}]" for axis, loops in entry["spatial"].items())
                    + "}")
            for key in ("keep", *SWITCHES):
                if key in entry:
                    lines.append(f"        {key}: {_tensor_list(entry[key])}")
    return "\n".join(lines) + "\n"


def dump_mapping(mapping: Mapping, arch: Architecture, problem: Problem) -> str:
    """One layer's mapping in this format (loops of factor 1 are left out)."""
    return dump_mappings([(problem, mapping)], arch)


__all__ = [
    "MappingFile", "MappingEntry", "LevelSpec", "LoopSpec",
    "load_mappings", "load_mapping", "dump_mapping", "dump_mappings", "mapping_levels", "ordered_tensors",
    "tile_words",
]
