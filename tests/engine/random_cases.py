"""Random small layers, architectures and perfectly factorised mappings for property tests."""

from __future__ import annotations

import random

from sbmodel.core import Architecture, ComputeLevel, LevelMapping, Loop, Mapping, StorageLevel, conv_problem


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _split(n: int, k: int, rng: random.Random) -> list[int]:
    out = []
    for _ in range(k - 1):
        d = rng.choice(_divisors(n))
        out.append(d)
        n //= d
    out.append(n)
    rng.shuffle(out)
    return out


def random_case(rng: random.Random):
    """(problem, architecture, mapping): 2-4 levels with X/Y fanouts, random keep/bypass,
    strides and dilations, sliding windows, bandwidth limits, block sizes and leakage."""
    prob = conv_problem(
        "p", N=rng.choice([1, 2]), M=rng.choice([1, 2, 3, 4]), C=rng.choice([1, 2, 4]),
        P=rng.choice([1, 2, 3, 4, 6, 8]), Q=rng.choice([1, 2, 3, 4]), R=rng.choice([1, 2, 3]),
        S=rng.choice([1, 3]), Wstride=rng.choice([1, 1, 2]), Hstride=rng.choice([1, 2]),
        Wdilation=rng.choice([1, 1, 2]),
    )
    nl = rng.choice([2, 3, 4])
    fan = [(rng.choice([1, 2, 4]), rng.choice([1, 2])) for _ in range(nl)]
    mesh: list[tuple[int, int]] = [(1, 1)] * nl
    mx = my = 1
    for i in reversed(range(nl)):
        mesh[i] = (mx, my)
        mx *= fan[i][0]
        my *= fan[i][1]
    levels = []
    for i in range(nl):
        x, y = mesh[i]
        levels.append(StorageLevel(
            name=f"L{i}", size_words=None, word_bits=8, block_size=rng.choice([1, 1, 2, 4]),
            instances=x * y, mesh_x=x, mesh_y=y,
            read_bandwidth=rng.choice([None, None, 1.0, 4.0]), write_bandwidth=rng.choice([None, 2.0]),
            energy_pJ={"read": rng.uniform(0.1, 10), "fill": rng.uniform(0.1, 10),
                       "update": rng.uniform(0.1, 10), "leak": rng.choice([0.0, 0.01])},
        ))
    arch = Architecture("a", tuple(levels), ComputeLevel("MAC", mx * my, mx, my, energy_pJ={"compute": 1.0}))
    per = {d: _split(b, 2 * nl, rng) for d, b in zip(prob.dims, prob.bounds)}
    lms = []
    for i in range(nl):
        bx, by = fan[i]
        spatial = []
        for d in rng.sample(list(prob.dims), len(prob.dims)):
            f = per[d][2 * i]
            if f <= 1:
                continue
            if f <= bx and rng.random() < 0.7:
                spatial.append(Loop(d, f, axis="X"))
                bx = bx // f if bx % f == 0 else bx
            elif f <= by:
                spatial.append(Loop(d, f, axis="Y"))
                by = by // f if by % f == 0 else by
            else:
                per[d][2 * i + 1] *= f
        spatial = [lp for lp in spatial if lp.axis == "X"] + [lp for lp in spatial if lp.axis == "Y"]
        temporal = [Loop(d, per[d][2 * i + 1]) for d in rng.sample(list(prob.dims), len(prob.dims))
                    if per[d][2 * i + 1] > 1]
        keep = frozenset(t for t in prob.dataspace_names if i == nl - 1 or rng.random() < 0.7)
        lms.append(LevelMapping(temporal=tuple(temporal), spatial=tuple(spatial), keep=keep))
    return prob, arch, Mapping(tuple(lms))
