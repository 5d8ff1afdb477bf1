"""Timeloop ``mapping:`` directives -> :class:`~sbmodel.core.Mapping`.

Semantics follow timeloop-model's mapping parser: per target level a temporal
directive (and a spatial one if the level fans out), ``factors`` like
``R=3 P1`` (0 means the whole dimension, ``P8,6`` an imperfect factor with
residual 6), ``permutation`` listed innermost first, ``split`` = how many of
the spatial permutation's dimensions go along X (default: all), missing
factors are 1 and missing tensors are kept.
"""

from __future__ import annotations

import re
from typing import Any

from ..core.architecture import Architecture
from ..core.mapping import LevelMapping, Loop, Mapping
from ..core.problem import Problem
from ..errors import SpecError
from .inputs import as_int

# LevelMapping's analysis switches and the directive keys Timeloop spells them with
SWITCH_KEYS = {"no_multicast": "no_multicast_no_reduction", "no_link_transfer": "no_link_transfer",
               "no_temporal_reuse": "no_temporal_reuse"}

_FACTOR = re.compile(r"([A-Za-z]+)\s*=?\s*([0-9]+)(?:,([0-9]+))?")


def _parse_factors(text: Any, problem: Problem, where: str, file: str | None) -> dict[str, tuple[int, int]]:
    if text is None:
        return {}
    if isinstance(text, dict):  # tolerate {R: 3, P: 1}
        text = " ".join(f"{k}={v}" for k, v in text.items())
    text = str(text).split("#", 1)[0]
    out: dict[str, tuple[int, int]] = {}
    bounds = problem.bound
    for m in _FACTOR.finditer(text):
        dim, end_s, res_s = m.group(1), m.group(2), m.group(3)
        if dim not in bounds:
            raise SpecError(f"{where}: factor for unknown dimension {dim} (problem has {list(problem.dims)})",
                            file=file)
        end = int(end_s)
        if end == 0:
            end = bounds[dim]
        residual = int(res_s) if res_s else end
        out[dim] = (end, residual)
    return out


def _parse_permutation(text: Any, problem: Problem, where: str, file: str | None) -> list[str]:
    if text is None:
        return []
    if isinstance(text, list):
        perm = [str(t) for t in text]
    else:
        perm = [ch for ch in str(text) if not ch.isspace()]
    for d in perm:
        if d not in problem.dims:
            raise SpecError(f"{where}: permutation names unknown dimension {d}", file=file)
    seen = [d for d in problem.dims if d not in perm]
    return perm + seen  # pad missing dimensions in problem order, like Timeloop


def _names(value: Any, problem: Problem, where: str, file: str | None) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    out = []
    for v in items:
        if str(v) not in problem.dataspace_names:
            raise SpecError(f"{where}: unknown data space {v} (problem has {list(problem.dataspace_names)})",
                            file=file)
        out.append(str(v))
    return out


def parse_mapping(directives: Any, problem: Problem, arch: Architecture, file: str | None = None,
                  spatial_overflow: bool = False) -> Mapping:
    """Build a :class:`Mapping` from Timeloop mapping directives.

    The full permutations (factor-1 loops included) are kept in
    ``temporal_order``/``spatial_order``: the sparse stage needs the complete
    nest.  ``spatial_overflow`` accepts spatial factors beyond the
    fanout (checked after spatial skipping instead).
    """
    if isinstance(directives, dict) and "mapping" in directives:
        directives = directives["mapping"]
    if not isinstance(directives, list):
        raise SpecError("'mapping' must be a list of directives", file=file)
    n = arch.num_levels
    names = [lv.name for lv in arch.storage]
    temporal: dict[int, dict[str, Any]] = {}
    spatial: dict[int, dict[str, Any]] = {}
    keep = {ds: [True] * n for ds in problem.dataspace_names}
    flags: dict[str, dict[int, set[str]]] = {key: {} for key in SWITCH_KEYS}

    for k, d in enumerate(directives):
        if not isinstance(d, dict):
            raise SpecError(f"mapping[{k}]: a directive must be a mapping", file=file)
        kind = str(d.get("type", ""))
        target = d.get("target", d.get("name"))
        if isinstance(target, int) and not isinstance(target, bool):
            level = target
            if not 0 <= level < n:
                raise SpecError(f"mapping[{k}]: target level {target} out of range", file=file)
        else:
            tname = re.sub(r"\[\d+\.\.\d+\]", "", str(target))
            if tname not in names:
                raise SpecError(f"mapping[{k}]: unknown target level {target!r} (levels: {names})", file=file)
            level = names.index(tname)
        where = f"mapping[{k}] ({kind} at {names[level]})"
        if kind in ("temporal", "spatial"):
            entry = {
                "factors": _parse_factors(d.get("factors"), problem, where, file),
                "permutation": _parse_permutation(d.get("permutation"), problem, where, file),
                "split": as_int(d["split"], f"{where}.split", file) if "split" in d else len(problem.dims),
            }
            if kind == "spatial":
                fx, fy = arch.fanout(level)
                if fx * fy <= 1:
                    raise SpecError(f"{where}: level {names[level]} has no spatial fanout to its children", file=file)
                spatial[level] = entry
            else:
                temporal[level] = entry
            for key, flag in SWITCH_KEYS.items():
                if flag in d:
                    flags[key].setdefault(level, set()).update(_names(d[flag], problem, where, file))
            for unsupported in ("rmw_on_first_writeback",):
                if d.get(unsupported):
                    raise SpecError(f"{where}: '{unsupported}' is not supported", file=file)
        elif kind in ("datatype", "bypass", "bypassing"):
            for ds in _names(d.get("keep"), problem, where, file):
                keep[ds][level] = True
            for ds in _names(d.get("bypass"), problem, where, file):
                keep[ds][level] = False
            if d.get("passthrough"):
                raise SpecError(f"{where}: 'passthrough' is not supported", file=file)
        elif kind == "skew":
            raise SpecError(f"{where}: skewed mappings are not supported", file=file)
        else:
            raise SpecError(f"mapping[{k}]: unknown directive type {kind!r}", file=file)

    levels = []
    for i in range(n):
        t = temporal.get(i, {"factors": {}, "permutation": list(problem.dims), "split": len(problem.dims)})
        s = spatial.get(i)
        t_loops = tuple(
            Loop(dim, t["factors"].get(dim, (1, 1))[0], _res(t["factors"].get(dim, (1, 1))))
            for dim in t["permutation"] if t["factors"].get(dim, (1, 1))[0] > 1
        )
        s_order: tuple[tuple[str, str], ...] = ()
        s_loops: tuple[Loop, ...] = ()
        if s is not None:
            loops = []
            for idx, dim in enumerate(s["permutation"]):
                end, res = s["factors"].get(dim, (1, 1))
                axis = "X" if idx < s["split"] else "Y"
                s_order += ((dim, axis),)
                if end > 1:
                    loops.append(Loop(dim, end, _res((end, res)), axis=axis))
            s_loops = tuple(lp for lp in loops if lp.axis == "X") + tuple(lp for lp in loops if lp.axis == "Y")
        levels.append(LevelMapping(
            temporal=t_loops,
            spatial=s_loops,
            keep=frozenset(ds for ds in problem.dataspace_names if keep[ds][i]),
            no_multicast=frozenset(flags["no_multicast"].get(i, ())),
            no_link_transfer=frozenset(flags["no_link_transfer"].get(i, ())),
            no_temporal_reuse=frozenset(flags["no_temporal_reuse"].get(i, ())),
            temporal_order=tuple(t["permutation"]),
            spatial_order=s_order,
        ))
    mapping = Mapping(tuple(levels), source=file or "")
    try:
        mapping.validate(problem, arch, spatial_overflow=spatial_overflow)
    except SpecError as exc:
        raise SpecError(exc.message, file=file) from None
    return mapping


def _res(pair: tuple[int, int]) -> int | None:
    end, res = pair
    return None if res == end else res


# --------------------------------------------------------------------------- writing


def mapping_directives(mapping: Mapping, problem: Problem, arch: Architecture) -> list[dict[str, Any]]:
    """Timeloop ``mapping:`` directives for ``mapping`` (the inverse of :func:`parse_mapping`):
    per level, innermost first, a ``datatype`` directive (kept and bypassed tensors), a
    ``temporal`` one and, where the level fans out, a ``spatial`` one, every dimension's factor
    spelled out (``P8,6`` for an imperfect one) and permutations innermost first.  Loops of
    factor 1 go where the mapping's full order puts them when it is known, else after the others."""
    out: list[dict[str, Any]] = []
    dims = list(problem.dims)
    for index, (level, lm) in enumerate(zip(arch.storage, mapping.levels)):
        out.append({"target": level.name, "type": "datatype",
                    "keep": [t for t in problem.dataspace_names if t in lm.keep],
                    "bypass": [t for t in problem.dataspace_names if t not in lm.keep]})
        order = [lp.dim for lp in lm.temporal]  # the non-unit loops, innermost first
        full = list(lm.temporal_order)  # every loop, when the mapping came from directives
        if [d for d in full if d in order] != order:
            full = order
        temporal: dict[str, Any] = {"target": level.name, "type": "temporal",
                                    "factors": _factor_text(lm.temporal, dims),
                                    "permutation": "".join(_complete(full, dims))}
        for switch, flag in SWITCH_KEYS.items():
            if getattr(lm, switch):
                temporal[flag] = [t for t in problem.dataspace_names if t in getattr(lm, switch)]
        out.append(temporal)
        fx, fy = arch.fanout(index)
        if fx * fy > 1:
            placed = [(lp.dim, lp.axis) for lp in lm.spatial]  # X loops first, each axis innermost first
            full_s = list(lm.spatial_order)  # every spatial loop with its axis, when known
            if [e for e in full_s if e in placed] != placed or [a for _, a in full_s] != sorted(a for _, a in full_s):
                full_s = placed  # unknown, or not X-first: the non-unit loops, the rest along Y
            out.append({"target": level.name, "type": "spatial", "factors": _factor_text(lm.spatial, dims),
                        "permutation": "".join(_complete([d for d, _ in full_s], dims)),
                        "split": sum(a == "X" for _, a in full_s)})
    return out


def _factor_text(loops: tuple[Loop, ...], dims: list[str]) -> str:
    factors = {lp.dim: f"{lp.factor}" + (f",{lp.residual}" if lp.residual not in (None, lp.factor) else "")
               for lp in loops}
    return " ".join(f"{d}{factors.get(d, '1')}" for d in dims)


def _complete(order: list[str], dims: list[str]) -> list[str]:
    """``order`` followed by the dimensions it leaves out, in problem order."""
    return order + [d for d in dims if d not in order]


def dump_mapping_directives(mapping: Mapping, problem: Problem, arch: Architecture) -> str:
    """A Timeloop mapping file (``mapping:`` directives) that timeloop-model reads."""
    import yaml

    return yaml.safe_dump({"mapping": mapping_directives(mapping, problem, arch)}, sort_keys=False,
                          default_flow_style=False)
