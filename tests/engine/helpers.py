"""Small builders for hand-computed engine tests (core types, no YAML)."""

from __future__ import annotations

from sbmodel.core import Architecture, ComputeLevel, LevelMapping, Loop, Mapping, StorageLevel


def level(name, size=None, instances=1, mesh=None, block=1, **energy):
    mx, my = mesh or (instances, 1)
    e = {"read": 1.0, "fill": 1.0, "update": 1.0}
    e.update(energy)
    return StorageLevel(name=name, size_words=size, word_bits=8, block_size=block, instances=instances,
                        mesh_x=mx, mesh_y=my, energy_pJ=e)


def arch(levels_outer_first, macs=1, mesh=None, compute_pJ=1.0):
    mx, my = mesh or (macs, 1)
    return Architecture("test", tuple(reversed(levels_outer_first)),
                        ComputeLevel("MAC", macs, mx, my, energy_pJ={"compute": compute_pJ}))


def loops(spec: str, axis=None):
    """'R3 P16' (outermost first) -> temporal/spatial loops inner to outer."""
    out = []
    for tok in spec.split():
        dim = tok.rstrip("0123456789")
        out.append(Loop(dim, int(tok[len(dim):]), axis=axis))
    return tuple(reversed(out))


def mapping(*levels_outer_first):
    """Each level: (temporal 'outer..inner', keep set, spatial X str, spatial Y str)."""
    out = []
    for t, keep, *sp in levels_outer_first:
        sx = loops(sp[0], "X") if len(sp) > 0 and sp[0] else ()
        sy = loops(sp[1], "Y") if len(sp) > 1 and sp[1] else ()
        out.append(LevelMapping(temporal=loops(t), spatial=sx + sy, keep=frozenset(keep)))
    return Mapping(tuple(reversed(out)))
