"""How a layer's mapping is reported: a loop nest to read (the layout of Timeloop's
``map.txt``) and a JSON form for ``sbmodel evaluate --format json``.

Both list levels outermost first and leave out loops of factor 1 (they change nothing), as
the mapping files of :mod:`sbmodel.spec.mapping` do.
"""

from __future__ import annotations

from typing import Any

from ..core.architecture import Architecture
from ..core.mapping import LevelMapping, Loop, Mapping
from ..core.problem import Problem
from ..engine.results import LayerResult
from ..spec.mapping import SWITCHES

INDENT = "  "  # per loop, as deep as the loops around it


def _loops_outer_first(lm: LevelMapping) -> list[Loop]:
    """A level's non-trivial loops as the nest runs them, outermost first: temporal, then spatial
    (the spatial loops sit inside the level's temporal ones)."""
    return [lp for lp in (*reversed(lm.temporal), *reversed(lm.spatial)) if lp.factor > 1]


def _loop_line(lp: Loop) -> str:
    """Timeloop's long form: an imperfect factor's final iteration runs to ``residual``, written
    ``[0:factor/residual)``."""
    last = f"/{lp.residual}" if lp.residual is not None and lp.residual != lp.factor else ""
    text = f"for {lp.dim} in [0:{lp.factor}{last})"
    if lp.axis is not None:
        text += f" (Spatial-{lp.axis})"
    return text


def _words(words: float) -> str:
    """A tile size as Timeloop prints it: a whole number of words (two decimals otherwise)."""
    return f"{words:.0f}" if float(words).is_integer() else f"{words:.2f}"


def _ordered(tensors: frozenset[str], problem: Problem) -> list[str]:
    return [t for t in problem.dataspace_names if t in tensors] + sorted(tensors - set(problem.dataspace_names))


def loop_nest(result: LayerResult, mapping: Mapping, arch: Architecture) -> str:
    """The mapping of one evaluated layer as a loop nest: per level (outermost first) the tensors
    it keeps with the words of one instance's tile, then its loops, indented one step deeper per
    enclosing loop, down to the compute."""
    problem = result.counts.problem
    tiles = {(lv.name, t.tensor): t.tile_size_words for lv in result.levels for t in lv.tensors if t.kept}
    lines: list[str] = []
    depth = 0
    for index in reversed(range(arch.num_levels)):
        level, lm = arch.storage[index], mapping.levels[index]
        kept = "" if level.container_only else " ".join(
            f"{t}:{_words(tiles.get((level.name, t), 0.0))}" for t in _ordered(lm.keep, problem))
        header = f"{level.name} [ {kept} ]" if kept else f"{level.name} [ ]"
        lines += [header, "-" * len(header)]
        for lp in _loops_outer_first(lm):
            lines.append("|" + INDENT * depth + " " + _loop_line(lp))
            depth += 1
        lines.append("")
    lines.append("|" + INDENT * depth + " << Compute >>")
    return "\n".join(lines)


def mapping_dict(mapping: Mapping, arch: Architecture, problem: Problem) -> list[dict[str, Any]]:
    """A mapping as JSON data: per level, outermost first, its temporal and spatial loops
    (outermost first; ``residual`` only for imperfect factors) and the tensors it keeps -- the
    structure of a mapping file's ``levels`` (:mod:`sbmodel.spec.mapping`)."""
    def loop(lp: Loop) -> dict[str, Any]:
        out: dict[str, Any] = {"dim": lp.dim, "factor": lp.factor}
        if lp.residual is not None and lp.residual != lp.factor:
            out["residual"] = lp.residual
        return out

    levels = []
    for index in reversed(range(arch.num_levels)):
        level, lm = arch.storage[index], mapping.levels[index]
        entry: dict[str, Any] = {"level": level.name,
                                 "temporal": [loop(lp) for lp in reversed(lm.temporal) if lp.factor > 1]}
        spatial = {axis: [loop(lp) for lp in reversed(lm.spatial) if lp.axis == axis and lp.factor > 1]
                   for axis in ("X", "Y")}
        entry["spatial"] = {axis: loops for axis, loops in spatial.items() if loops}
        if not level.container_only:
            entry["keep"] = _ordered(lm.keep, problem)
        for switch in SWITCHES:  # Timeloop's analysis switches, where a level sets them
            if getattr(lm, switch):
                entry[switch] = _ordered(getattr(lm, switch), problem)
        levels.append(entry)
    return levels


__all__ = ["loop_nest", "mapping_dict"]
