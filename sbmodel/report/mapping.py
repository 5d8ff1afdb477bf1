"""How a layer's mapping is reported: a loop nest to read (the layout of Timeloop's
``map.txt``) and a JSON form for ``sbmodel evaluate --format json``.

Both list levels outermost first and leave out loops of factor 1 (they change nothing), as
the mapping files of :mod:`sbmodel.spec.mapping` do.
"""

from __future__ import annotations

from collections import defaultdict

from ..core.architecture import Architecture
from ..core.mapping import Loop, Mapping
from ..engine.results import LayerResult
from ..spec.mapping import mapping_levels as mapping_dict  # the JSON form is the mapping file's `levels`
from ..spec.mapping import ordered_tensors

INDENT = "  "  # per loop, as deep as the loops around it


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


def loop_nest(result: LayerResult, mapping: Mapping, arch: Architecture) -> str:
    """The mapping of one evaluated layer as a loop nest: per level (outermost first) the tensors
    it keeps with the words of one instance's tile, then its non-trivial loops in nest order
    (:meth:`~sbmodel.core.mapping.Mapping.loops_outer_to_inner`), indented one step deeper per
    enclosing loop, down to the compute."""
    problem = result.counts.problem
    tiles = {(lv.name, t.tensor): t.tile_size_words for lv in result.levels for t in lv.tensors if t.kept}
    loops: dict[int, list[Loop]] = defaultdict(list)
    for index, lp in mapping.loops_outer_to_inner():
        if lp.factor > 1:
            loops[index].append(lp)
    lines: list[str] = []
    depth = 0
    for index in reversed(range(arch.num_levels)):
        level, lm = arch.storage[index], mapping.levels[index]
        kept = "" if level.container_only else " ".join(
            f"{t}:{_words(tiles.get((level.name, t), 0.0))}" for t in ordered_tensors(lm.keep, problem))
        header = f"{level.name} [ {kept} ]" if kept else f"{level.name} [ ]"
        lines += [header, "-" * len(header)]
        for lp in loops[index]:
            lines.append("|" + INDENT * depth + " " + _loop_line(lp))
            depth += 1
        lines.append("")
    lines.append("|" + INDENT * depth + " << Compute >>")
    return "\n".join(lines)


__all__ = ["loop_nest", "mapping_dict"]
