"""One palette for every sbmodel figure, so a component keeps its colour across plots and papers.

Colours are Paul Tol's colour-blind-safe schemes ("muted" and "bright",
https://personal.sron.nl/~pault/).  Components are coloured by *role*:

* DRAM (any level named like it, or the outermost level) -- wine;
* global / shared buffers -- sand;
* PE-local input, weight and output (partial-sum) storage -- cyan, green, indigo,
  recognised from the level name (``ifmap``/``input``, ``weight``, ``psum``/``output``);
* the compute unit -- grey;
* anything else -- the remaining muted colours, in a fixed order by name hash, so a
  name always gets the same colour and no two components in one figure share one.

Tensors are told apart by hatching (Weights ``//``, Inputs ``..``, Outputs ``xx``;
leakage plain), and weight schemes have fixed colours too (fp, binary, ternary,
signed-binary).
"""

from __future__ import annotations

import hashlib
from typing import Iterable, Sequence

# Paul Tol, muted scheme
ROSE, INDIGO, SAND, GREEN, CYAN, WINE, TEAL, OLIVE, PURPLE, PALE_GREY = (
    "#CC6677", "#332288", "#DDCC77", "#117733", "#88CCEE", "#882255", "#44AA99", "#999933", "#AA4499", "#DDDDDD")
GREY = "#777777"
# Paul Tol, bright scheme (schemes and categorical parameters)
BRIGHT = ("#4477AA", "#EE6677", "#228833", "#CCBB44", "#66CCEE", "#AA3377", "#BBBBBB")

_ROLE_RULES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("dram", "offchip", "off_chip", "main_memory"), WINE),
    (("glb", "global", "shared", "buffer", "l2", "sram"), SAND),
    (("ifmap", "input", "iact"), CYAN),
    (("weight", "filter", "wgt"), GREEN),
    (("psum", "output", "accum", "ofmap"), INDIGO),
    (("mac", "compute", "alu", "multiplier", "adder", "pe_compute"), GREY),
)
_SPARE = (ROSE, TEAL, OLIVE, PURPLE, "#6699CC", "#EE8866", "#BBCC33", "#AAAA00")

TENSOR_HATCH = {"Weights": "//", "Inputs": "..", "Outputs": "xx", "leakage": ""}
SCHEME_COLORS = {"fp": GREY, "binary": BRIGHT[0], "ternary": BRIGHT[3], "signed-binary": BRIGHT[1],
                 "sb": BRIGHT[1], "as-is": BRIGHT[6]}
PARETO_EDGE = "#000000"
DOMINATED = "#BBBBBB"


def _role(name: str) -> tuple[int, str] | None:
    """(how canonical the match is: the matching keyword's position, the role's colour)."""
    low = name.lower()
    for keys, color in _ROLE_RULES:
        for rank, k in enumerate(keys):
            if k in low:
                return rank, color
    return None


def _hash_index(name: str, n: int) -> int:
    return int(hashlib.sha1(name.encode()).hexdigest(), 16) % n


def component_colors(names: Sequence[str]) -> dict[str, str]:
    """A colour per component name: by role where the name tells it, else a stable spare colour.
    Within one call no two names share a colour (a second level of one role, e.g. two
    weight stores, takes a spare colour)."""
    out: dict[str, str] = {}
    used: set[str] = set()
    # roles first, so a spare never takes DRAM's wine; when two names share a role the more
    # canonical match keeps it whatever the order (psum_spad before accumulators)
    roles = {name: _role(name) for name in names}
    for name in sorted((n for n in names if roles[n]), key=lambda n: roles[n][0]):  # type: ignore[index]
        color = roles[name][1]  # type: ignore[index]
        if color not in used:
            out[name] = color
            used.add(color)
    pool = list(_SPARE) + [c for _, c in _ROLE_RULES]
    for name in names:
        if name in out:
            continue
        start = _hash_index(name, len(_SPARE))
        free = [c for c in pool[start:len(_SPARE)] + pool[:start] + pool[len(_SPARE):] if c not in used]
        out[name] = free[0] if free else pool[start]
        used.add(out[name])
    return {name: out[name] for name in names}


def categorical_colors(values: Iterable[object]) -> dict[object, str]:
    """Colours for the categories of a parameter (schemes keep their fixed colours)."""
    out: dict[object, str] = {}
    k = 0
    for v in values:
        if v in out:
            continue
        fixed = SCHEME_COLORS.get(str(v).lower()) if isinstance(v, str) else None
        if fixed is not None and fixed not in out.values():
            out[v] = fixed
        else:
            free = [c for c in BRIGHT if c not in out.values()]
            out[v] = free[0] if free else BRIGHT[k % len(BRIGHT)]
            k += 1
    return out


SEQUENTIAL_CMAP = "viridis"  # continuous parameters

__all__ = ["component_colors", "categorical_colors", "TENSOR_HATCH", "SCHEME_COLORS", "SEQUENTIAL_CMAP",
           "PARETO_EDGE", "DOMINATED"]
