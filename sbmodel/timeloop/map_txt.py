"""Timeloop's printed mapping (``timeloop-model.map.txt``, ``timeloop-mapper.map.txt``) as an input.

Older Timeloop runs, and the ``map_txt_only`` reference runs, keep the mapping they used only
as this printout.  It has everything a mapping needs: per storage level (outermost first)
the tensors the level keeps, then its loops outermost first -- temporal ones, then the
spatial ones of the level's fanout, marked ``(Spatial-X)`` / ``(Spatial-Y)``; an imperfect
factor prints as ``[0:factor/residual)``.  We turn it into Timeloop mapping directives
(:func:`map_txt_directives`) and build the mapping from those with
:func:`~sbmodel.timeloop.mapping.parse_mapping`, so both inputs get the same checks.

What the printout does not show, the directives leave at Timeloop's defaults: the
analysis switches (``no_multicast_no_reduction`` ...) are off, and factor-1 loops the
printout leaves out go after the printed ones in a permutation.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ..core.problem import Problem
from ..errors import SpecError

_HEADER = re.compile(r"^(?P<name>[^\s\[|][^\[]*?)\s*\[(?P<body>[^\]]*)\]\s*$")
_KEPT = re.compile(r"([^\s:()]+):([0-9.]+)(?:\s*\([0-9.]+\))?")  # Weights:864 (864)
_LOOP = re.compile(r"^\|\s*for\s+(?P<dim>[A-Za-z_][A-Za-z_0-9]*)\s+in\s+\[0:(?P<end>[0-9]+)(?:/(?P<res>[0-9]+))?\)"
                   r"(?:\s+\(Spatial-(?P<axis>[XY])\))?\s*$")


def is_map_txt(path: str | Path) -> bool:
    """Inputs named ``*.txt`` are printed mappings (Timeloop's own inputs are YAML)."""
    return str(path).endswith(".txt")


def map_txt_directives(path: str | Path, problem: Problem, level_names: list[str]) -> list[dict[str, Any]]:
    """Timeloop mapping directives equivalent to the printed mapping in ``path``: per level a
    ``datatype`` directive (the listed tensors kept, the others bypassed), a ``temporal`` one and,
    when the level has spatial loops, a ``spatial`` one (X loops first, ``split`` = their count)."""
    file = str(path)
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise SpecError(f"cannot read the printed mapping: {exc.strerror}", file=file) from None
    blocks: list[dict[str, Any]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip()
        stripped = line.strip()
        if not stripped or set(stripped) <= {"-"} or stripped.lstrip("| ").startswith("<< Compute >>"):
            continue
        if line.startswith("|"):
            loop = _LOOP.match(line)
            if loop is None:
                raise SpecError(f"line {number}: expected a loop such as '| for P in [0:8)' or "
                                f"'| for M in [0:4) (Spatial-Y)', got {stripped!r}", file=file)
            if not blocks:
                raise SpecError(f"line {number}: a loop before the first level header 'NAME [ ... ]'", file=file)
            if loop["dim"] not in problem.bound:
                raise SpecError(f"line {number}: unknown dimension {loop['dim']} (the problem has "
                                f"{', '.join(problem.dims)})", file=file)
            blocks[-1]["loops"].append((loop["dim"], int(loop["end"]), loop["res"], loop["axis"], number))
            continue
        header = _HEADER.match(line)
        if header is None:
            raise SpecError(f"line {number}: expected a level header such as 'DRAM [ Weights:864 Inputs:151875 ]' "
                            f"or a loop line starting with '|', got {stripped!r}", file=file)
        name = header["name"].strip()
        if name not in level_names:
            raise SpecError(f"line {number}: unknown storage level {name!r} (the architecture has "
                            f"{', '.join(level_names)})", file=file)
        if any(b["name"] == name for b in blocks):
            raise SpecError(f"line {number}: level {name} printed twice", file=file)
        entries = _KEPT.findall(header["body"])  # (tensor, words): the words are the printout's, not inputs
        leftover = _KEPT.sub("", header["body"]).strip()
        if leftover:
            raise SpecError(f"line {number}: expected 'TENSOR:WORDS' entries in the brackets of level {name}, "
                            f"got {leftover!r}", file=file)
        kept = [tensor for tensor, _ in entries]
        unknown = [t for t in kept if t not in problem.dataspace_names]
        if unknown:
            raise SpecError(f"line {number}: level {name} keeps unknown tensor {unknown[0]} (the "
                            f"problem has {', '.join(problem.dataspace_names)})", file=file)
        blocks.append({"name": name, "kept": kept, "loops": []})
    if not blocks:
        raise SpecError("no level header 'NAME [ ... ]' found: not a printed Timeloop mapping", file=file)
    missing = [name for name in level_names if all(b["name"] != name for b in blocks)]
    if missing:  # Timeloop prints every storage level: a gap is a cut or foreign printout, not a default
        raise SpecError(f"storage level(s) {', '.join(missing)} missing from the printout (Timeloop prints "
                        "every level, with the tensors it keeps)", file=file)
    directives: list[dict[str, Any]] = []
    for block in blocks:
        name, loops = block["name"], block["loops"]
        directives.append({"target": name, "type": "datatype", "keep": block["kept"],
                           "bypass": [t for t in problem.dataspace_names if t not in block["kept"]]})
        temporal = [lp for lp in loops if lp[3] is None]
        spatial = [lp for lp in loops if lp[3] is not None]
        directives.append({"target": name, "type": "temporal", "factors": _factors(temporal, name, file),
                           "permutation": "".join(lp[0] for lp in reversed(temporal))})
        if spatial:
            inner_first = list(reversed(spatial))  # printed outermost first: Y loops, then X loops
            x = [lp for lp in inner_first if lp[3] == "X"]
            y = [lp for lp in inner_first if lp[3] == "Y"]
            if inner_first != x + y:
                line = next(lp[4] for lp in spatial if lp[3] == "X")
                raise SpecError(f"line {line}: level {name} prints a Spatial-X loop outside a Spatial-Y one "
                                "(Timeloop prints the Y loops outermost)", file=file)
            directives.append({"target": name, "type": "spatial", "factors": _factors(spatial, name, file),
                               "permutation": "".join(lp[0] for lp in x + y), "split": len(x)})
    return directives


def _factors(loops: list[tuple], level: str, file: str) -> str:
    """``D=N`` (``D=N,R`` for an imperfect factor) per dimension, as Timeloop's directives spell them."""
    seen: dict[str, int] = {}
    parts = []
    for dim, end, residual, _, number in loops:
        if dim in seen:
            raise SpecError(f"line {number}: level {level} has two loops over {dim} (lines {seen[dim]} and "
                            f"{number}); Timeloop prints one per dimension and level", file=file)
        seen[dim] = number
        parts.append(f"{dim}={end}" + (f",{residual}" if residual is not None else ""))
    return " ".join(parts)


__all__ = ["is_map_txt", "map_txt_directives"]
