"""Independent, deliberately naive re-implementations used as test oracles.

Plain Python loops over filters, regions and weights, written from the
definitions in docs/weight_statistics.md without reusing any sbmodel code, so
a shared bug cannot make both sides agree.
"""

from __future__ import annotations

from collections import Counter

import numpy as np


def filters(values: np.ndarray) -> list[list[float]]:
    """Each output filter's weights in storage order ([C/groups][S][R])."""
    return [list(map(float, np.asarray(values[m]).ravel())) for m in range(values.shape[0])]


def regions(values: np.ndarray, kind: str = "filter", size: int | None = None) -> list[list[float]]:
    """Regions in filter-major order: whole filters, blocks of `size` input channels, or the tensor."""
    if kind == "tensor":
        return [list(map(float, np.asarray(values).ravel()))]
    if kind == "filter":
        return filters(values)
    out = []
    w = values if values.ndim == 4 else values.reshape(values.shape[0], values.shape[1], 1, 1)
    for m in range(w.shape[0]):
        for start in range(0, w.shape[1], size):
            out.append(list(map(float, w[m, start:start + size].ravel())))
    return out


def nonzeros(rows: list[list[float]]) -> list[int]:
    return [sum(1 for v in row if v != 0) for row in rows]


def unique_nonzero(rows: list[list[float]]) -> list[int]:
    return [len({v for v in row if v != 0}) for row in rows]


def signs(rows: list[list[float]]) -> list[int]:
    out = []
    for row in rows:
        pos = any(v > 0 for v in row)
        neg = any(v < 0 for v in row)
        out.append(1 if pos and not neg else -1 if neg and not pos else 0)
    return out


def zero_runs(values: np.ndarray) -> dict[int, int]:
    """For each nonzero: zeros since the previous nonzero of its filter (or the filter start)."""
    counts: Counter[int] = Counter()
    for row in filters(values):
        run = 0
        for v in row:
            if v == 0:
                run += 1
            else:
                counts[run] += 1
                run = 0
    return dict(counts)


def signed_binary(weights: np.ndarray, factor: float = 0.05, policy: str = "halves",
                  kind: str = "filter", size: int | None = None) -> np.ndarray:
    """The reference rule, weight by weight (sign s: keep s where s*w >= factor*max|region|)."""
    w = weights if weights.ndim == 4 else weights.reshape(weights.shape[0], weights.shape[1], 1, 1)
    out = np.zeros(w.shape, dtype=np.float32)
    slots = []  # (filter, channel range) per region
    for m in range(w.shape[0]):
        if kind == "filter":
            slots.append((m, 0, w.shape[1]))
        else:
            for start in range(0, w.shape[1], size):
                slots.append((m, start, min(start + size, w.shape[1])))
    n = len(slots)
    for i, (m, c0, c1) in enumerate(slots):
        block = w[m, c0:c1]
        delta = factor * float(np.max(np.abs(block)))
        if policy == "halves":
            s = 1 if i < n // 2 else -1
        else:
            pos = sum(1 for v in block.ravel() if v > 0 and abs(v) >= delta)
            neg = sum(1 for v in block.ravel() if v < 0 and abs(v) >= delta)
            s = 1 if pos >= neg else -1
        for idx in np.ndindex(block.shape):
            v = float(block[idx])
            if v != 0 and s * v >= delta:
                out[(m, c0 + idx[0]) + idx[1:]] = s
    return out.reshape(weights.shape)
