"""Data movement of one mapping: Timeloop's nest-analysis semantics, reimplemented.

For every loop we track the tile of each tensor spanned by the loops inside
it and, as the enclosing loops advance, the *delta* (data not present in the
previous tile) that must be delivered from the level above.  Summed over the
iterations, deltas are the reads of the parent level (one per multicast
group when several spatial children need the same delta).  Like Timeloop we
simulate only iterations 0, 1 (weighted by the remaining iterations) and,
for imperfect factorisations, the last ones; only spatial element 0 is
simulated, the others are translated copies.  A change in the direction a
tile moves resets its residency (the whole tile is re-fetched).  Link
transfers between neighbouring spatial instances are counted when they
reduce parent accesses.

The output is one :class:`LoopStats` per temporal loop and per master
spatial loop, innermost first, which :mod:`sbmodel.engine.tiling` collapses
into per-storage-level counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from ..core.mapping import Mapping
from . import pointset as ps
from .nest import LoopNest

# (multicast factor, scatter factor) -> [accesses, hops]
AccessStats = dict[tuple[int, int], list[float]]


@dataclass
class _State:
    """Live state of one loop for one spatial instance path."""

    ndata: int
    last: list[ps.BoxSet] = field(default_factory=list)
    last_translation: list[tuple[int, ...] | None] = field(default_factory=list)
    max_size: list[int] = field(default_factory=list)
    access: list[AccessStats] = field(default_factory=list)
    link_transfers: list[float] = field(default_factory=list)
    prev_spatial_deltas: dict[int, list[ps.BoxSet]] = field(default_factory=dict)
    prev_spatial_keys: dict[int, list[frozenset]] = field(default_factory=dict)  # ps.key of each

    def __post_init__(self) -> None:
        n = self.ndata
        self.last = [ps.EMPTY] * n
        self.last_translation = [None] * n
        self.max_size = [0] * n
        self.access = [{} for _ in range(n)]
        self.link_transfers = [0.0] * n


@dataclass(frozen=True)
class LoopStats:
    """What the analysis learned about one (temporal or master-spatial) loop, per tensor."""

    loop: int
    size: tuple[int, ...]  # max tile size (words) per tensor
    access: tuple[AccessStats, ...]  # deltas delivered to the loop's children, by multicast
    link_transfers: tuple[float, ...]
    replication_factor: int  # spatial instances outside this loop
    fanout: int
    is_boundary: bool
    is_master_spatial: bool


@dataclass(frozen=True)
class NestAnalysisResult:
    loops: tuple[LoopStats, ...]  # valid loops only, innermost first
    compute_accesses: float  # temporal iterations of one compute unit (its cycles if dense)
    compute_replication: int  # compute units in use
    max_temporal_iterations: int


def _add(stats: AccessStats, multicast: int, scatter: int, accesses: float, hops: float) -> None:
    entry = stats.setdefault((multicast, scatter), [0.0, 0.0])
    entry[0] += accesses
    entry[1] += hops


def _total(stats: AccessStats) -> float:
    return sum(v[0] for v in stats.values())


class _Simulator:
    def __init__(self, nest: LoopNest, mapping: Mapping, fanout_xy_physical: Sequence[tuple[int, int]]):
        self.nest = nest
        self.problem = nest.problem
        self.dspaces = nest.problem.dataspaces
        self.nd = len(self.dspaces)
        self.ndims = len(nest.problem.dims)
        self.dim_index = {d: i for i, d in enumerate(nest.problem.dims)}
        self.indices = [0] * len(nest.loops)
        self.transform = [0] * self.ndims
        self.epochs = 1.0
        self.stamp: list[int] = []
        self.states: dict[tuple[int, tuple[int, ...]], _State] = {}
        self.compute: dict[tuple[int, ...], float] = {}
        self.physical = fanout_xy_physical
        names = list(nest.problem.dataspace_names)
        self.no_reuse = [[ds in lm.no_temporal_reuse for ds in names] for lm in mapping.levels]
        self.no_multicast = [[ds in lm.no_multicast for ds in names] for lm in mapping.levels]
        self.no_link = [[ds in lm.no_link_transfer for ds in names] for lm in mapping.levels]
        # A temporal iteration needs the last iteration simulated when factors are imperfect.
        self.run_last = nest.imperfect
        self.run_second_last = nest.imperfect
        # per dimension, its loops with their residual ends, and whether any of them ends early
        # (residual_end < end); in a perfect nest none does
        self.over_dim = [[(lv, lp.residual_end) for lv, lp in enumerate(nest.loops) if lp.dim == d]
                         for d in range(self.ndims)]
        self.partial = [any(lp.dim == d and lp.residual_end != lp.end for lp in nest.loops)
                        for d in range(self.ndims)]

    # -- geometry -------------------------------------------------------------------------
    def state(self, loop: int) -> _State:
        k = (loop, tuple(self.stamp[:-1]))
        st = self.states.get(k)
        if st is None:
            st = self.states[k] = _State(self.nd)
        return st

    def is_last_global(self, start: int, dim: int) -> bool:
        """True if every loop over ``dim`` from ``start`` outwards is at its last iteration.
        (Only asked when it matters: a dimension without partial loops runs every iteration
        in full, so the answer cannot change what the caller does.)"""
        if not self.partial[dim]:
            return False
        indices = self.indices
        for lv, end in self.over_dim[dim]:
            if lv >= start and indices[lv] + 1 < end:
                return False
        return True

    def working_set(self, loop: int) -> list[ps.BoxSet]:
        lo = self.transform
        hi = []
        for d in range(self.ndims):
            ext = self.nest.extent_last[loop][d] if self.is_last_global(loop + 1, d) else self.nest.extent[loop][d]
            hi.append(lo[d] + ext - 1)
        return [(ps.project(ds, lo, hi, self.dim_index),) for ds in self.dspaces]

    def point(self) -> list[int]:
        p = [0] * self.ndims
        for lv, lp in enumerate(self.nest.loops):
            p[lp.dim] += self.nest.stride[lv][lp.dim] * self.indices[lv]
        return p

    # -- recursion ------------------------------------------------------------------------
    def deltas(self, loop: int) -> list[ps.BoxSet]:
        nest = self.nest
        boundary = nest.is_boundary[loop]
        if boundary:
            self.stamp.append(0)
        st = self.state(loop)
        if nest.loops[loop].spatial:
            self.spatial(loop)
        else:
            self.temporal(loop, st)

        current = self.working_set(loop)
        if boundary or nest.master[loop]:
            for i, s in enumerate(current):
                st.max_size[i] = max(st.max_size[i], ps.volume(s))

        level = nest.level_of[loop]
        out: list[ps.BoxSet] = []
        for i, cur in enumerate(current):
            if self.no_reuse[level][i]:
                out.append(cur)
                continue
            prev = st.last[i]
            move = ps.translation(prev, cur) if prev else None
            prev_move = st.last_translation[i]
            if move is None or not any(move):
                out.append(ps.difference(cur, prev))
                st.last[i] = cur
            elif prev_move is None:
                out.append(ps.difference(cur, prev))
                st.last[i] = cur
                st.last_translation[i] = move
            elif move == prev_move:
                out.append(ps.difference(cur, prev))
                st.last[i] = cur
            else:  # the tile changed direction: drop what it held, fetch it whole
                out.append(cur)
                st.last[i] = cur
                st.last_translation[i] = None
        if boundary:
            self.stamp.pop()
        return out

    def temporal(self, loop: int, st: _State) -> None:
        nest = self.nest
        lp = nest.loops[loop]
        end = lp.residual_end if self.is_last_global(loop + 1, lp.dim) else lp.end
        n = end
        if loop == 0:
            body = n * self.epochs
            key = tuple(self.stamp[:-1])
            self.compute[key] = self.compute.get(key, 0.0) + body
            for i in range(self.nd):
                _add(st.access[i], 1, 1, body, 0.0)
            return

        sizes: list[list[int]] = []
        scales: list[float] = []
        step = nest.stride[loop][lp.dim]
        saved = self.transform[lp.dim]
        run_last, run_2nd = self.run_last, self.run_second_last

        def call() -> list[int]:
            return [ps.volume(d) for d in self.deltas(loop - 1)]

        self.indices[loop] = 0
        if n >= 1:
            sizes.append(call())
            scales.append(1)
            self.transform[lp.dim] += step
            self.indices[loop] += 1
        if (run_2nd and n >= 4) or (run_last and not run_2nd and n >= 3) or (not run_last and n >= 2):
            virtual = n - 2 if run_last else n - 1
            if run_2nd:
                virtual -= 1
            saved_epochs = self.epochs
            self.epochs *= virtual
            sizes.append(call())
            self.epochs = saved_epochs
            scales.append(virtual)
            self.transform[lp.dim] += step * virtual
            self.indices[loop] += virtual
        if run_2nd and n >= 3:
            got = call()
            if n >= 4:
                scales[-1] += 1
            else:
                sizes.append(got)
                scales.append(1)
            self.transform[lp.dim] += step
            self.indices[loop] += 1
        if run_last and n >= 2:
            got = call()
            if not run_2nd and n >= 3:
                scales[-1] += 1
            else:
                sizes.append(got)
                scales.append(1)
                self.transform[lp.dim] += step
            self.indices[loop] += 1
        self.transform[lp.dim] = saved

        if nest.is_boundary[loop - 1]:
            for i in range(self.nd):
                total = sum(sz[i] * sc for sz, sc in zip(sizes, scales))
                _add(st.access[i], 1, 1, total * self.epochs, 0.0)

    def spatial(self, loop: int) -> None:
        nest = self.nest
        deltas: dict[int, list[ps.BoxSet]] = {}
        table: dict[int, int] = {}
        self.fill_spatial(loop, deltas, table, 0, 0, loop)
        st = self.state(loop)
        level = nest.level_of[loop]
        keys = {idx: [ps.key(b) for b in d] for idx, d in deltas.items()}  # identities, built once
        without = self.multicast(loop, deltas, keys, {i: set(deltas) for i in range(self.nd)})
        chosen = without
        link = [0.0] * self.nd
        if not all(self.no_link[level]):
            unaccounted = {i: set(deltas) for i in range(self.nd)}
            self.link_transfers(loop, deltas, keys, unaccounted, link, st)
            with_links = self.multicast(loop, deltas, keys, unaccounted)
            chosen = []
            for i in range(self.nd):
                if _total(with_links[i]) < _total(without[i]):
                    st.link_transfers[i] += link[i]
                    chosen.append(with_links[i])
                else:
                    chosen.append(without[i])
        for i in range(self.nd):
            for (m, s), (acc, hops) in chosen[i].items():
                _add(st.access[i], m, s, acc, hops)

    def fill_spatial(self, loop: int, deltas: dict[int, list[ps.BoxSet]], table: dict[int, int],
                     base: int, ex_stride: int, ex_level: int) -> None:
        nest = self.nest
        lp = nest.loops[loop]
        end = lp.residual_end if self.is_last_global(loop + 1, lp.dim) else lp.end
        base *= end
        if loop == 0:
            for i in range(end):
                self.indices[0] = i
                idx = base + i
                p = self.point()
                deltas[idx] = [(ps.project(ds, p, p, self.dim_index),) for ds in self.dspaces]
                self.stamp[-1] = idx
                key = tuple(self.stamp)
                self.compute[key] = self.compute.get(key, 0.0) + self.epochs
            return
        step = nest.stride[loop][lp.dim]
        saved = self.transform[lp.dim]
        if nest.loops[loop - 1].spatial:
            for i in range(end):
                self.indices[loop] = i
                if i >= 1:
                    self.fill_spatial(loop - 1, deltas, table, base + i, 1, loop)
                else:
                    self.fill_spatial(loop - 1, deltas, table, base + i, ex_stride * end, ex_level)
                self.transform[lp.dim] += step
        else:
            start = 0
            if ex_stride == 0:
                self.indices[loop] = 0
                idx = base
                table[idx] = idx
                self.stamp[-1] = idx
                deltas[idx] = self.deltas(loop - 1)
                self.transform[lp.dim] += step
                start = 1
                ex_stride, ex_level = 1, loop
            else:
                ex_stride *= end
            self.indices[loop] = start
            if start < end:
                moves = self.translation_vectors(ex_level)
                for i in range(start, end):
                    self.indices[loop] = i
                    dst = base + i
                    src = table[base + i - ex_stride]
                    table[dst] = dst
                    deltas[dst] = [ps.translate(d, mv) for d, mv in zip(deltas[src], moves)]
        self.transform[lp.dim] = saved

    def translation_vectors(self, loop: int) -> list[tuple[int, ...]]:
        lp = self.nest.loops[loop]
        first = self.working_set(loop)
        self.transform[lp.dim] += self.nest.stride[loop][lp.dim]
        second = self.working_set(loop)
        self.transform[lp.dim] -= self.nest.stride[loop][lp.dim]
        out = []
        for a, b in zip(first, second):
            mv = ps.translation(a, b)
            out.append(mv if mv is not None else (0,) * len(a[0]))
        return out

    def _mesh(self, loop: int) -> tuple[int, int]:
        level = self.nest.level_of[loop]
        px, py = self.physical[level]
        lx, ly = self.nest.fanout_xy[loop]
        return max(px, lx), max(py, ly)

    def multicast(self, loop: int, deltas: dict[int, list[ps.BoxSet]], keys: dict[int, list[frozenset]],
                  unaccounted: dict[int, set[int]]) -> list[AccessStats]:
        """Group equal deltas: each group is one parent access multicast to its members."""
        h_size, v_size = self._mesh(loop)
        level = self.nest.level_of[loop]
        out: list[AccessStats] = []
        for i in range(self.nd):
            groups: dict[object, list[int]] = {}
            own = unaccounted[i]
            for idx in deltas:
                if idx not in own:
                    continue
                k = idx if self.no_multicast[level][i] else keys[idx][i]
                groups.setdefault(k, []).append(idx)
            stats: AccessStats = {}
            scatter: dict[int, int] = {}
            for members in groups.values():
                size = ps.volume(deltas[members[0]][i])
                if size <= 0:
                    continue
                m = len(members)
                hops = float(max(j % h_size for j in members))
                centre = (v_size - 1) / 2.0
                hops += sum(abs(j // h_size - centre) for j in members)
                _add(stats, m, 0, size * self.epochs, hops)
                scatter[m] = scatter.get(m, 0) + 1
            out.append({(m, scatter[m]): v for (m, _), v in stats.items()})
        return out

    def link_transfers(self, loop: int, deltas: dict[int, list[ps.BoxSet]], keys: dict[int, list[frozenset]],
                       unaccounted: dict[int, set[int]], link: list[float], st: _State) -> None:
        """Deltas a child can take from a neighbour that held them one step earlier."""
        h_size, v_size = self._mesh(loop)
        level = self.nest.level_of[loop]
        ignore = self.no_link[level]
        prev, prev_keys = st.prev_spatial_deltas, st.prev_spatial_keys
        reuse: dict[int, list[bool]] = {}
        checked = [i for i in range(self.nd) if not ignore[i]]

        def compare(cur_idx: int, prev_idx: int) -> None:
            cur = deltas.get(cur_idx)
            old = prev.get(prev_idx)
            if cur is None or old is None:
                return
            ck, ok = keys[cur_idx], prev_keys[prev_idx]
            for i in checked:  # ps.same(cur[i], old[i]) on the prebuilt keys
                if cur[i] and len(cur[i]) == len(old[i]) and ck[i] == ok[i]:
                    reuse.setdefault(cur_idx, [False] * self.nd)[i] = True

        if v_size > 1:
            for h in range(h_size):
                for v in range(1, v_size):
                    compare(v * h_size + h, (v - 1) * h_size + h)
            for h in range(h_size):
                for v in range(v_size - 1):
                    compare(v * h_size + h, (v + 1) * h_size + h)
        if h_size > 1:
            for v in range(v_size):
                for h in range(1, h_size):
                    compare(v * h_size + h, v * h_size + h - 1)
            for v in range(v_size):
                for h in range(h_size - 1):
                    compare(v * h_size + h, v * h_size + h + 1)
        for idx, d in deltas.items():
            flags = reuse.get(idx)
            if not flags:
                continue
            for i in range(self.nd):
                if flags[i]:
                    link[i] += ps.volume(d[i]) * self.epochs
                    unaccounted[i].discard(idx)
        st.prev_spatial_deltas, st.prev_spatial_keys = deltas, keys

    # -- collection -----------------------------------------------------------------------
    def run(self) -> NestAnalysisResult:
        nest = self.nest
        self.deltas(len(nest.loops) - 1)
        loops = []
        for lv, lp in enumerate(nest.loops):
            if lp.spatial and not nest.master[lv]:
                continue
            states = [s for (k, _), s in self.states.items() if k == lv]
            count = max(1, len(states))
            size = tuple(sum(s.max_size[i] for s in states) // count for i in range(self.nd))
            access = []
            for i in range(self.nd):
                merged: AccessStats = {}
                for s in states:
                    for (m, sc), (acc, hops) in s.access[i].items():
                        _add(merged, m, sc, acc / count, hops / count)
                access.append(merged)
            links = tuple(sum(s.link_transfers[i] for s in states) / count for i in range(self.nd))
            loops.append(LoopStats(
                loop=lv, size=size, access=tuple(access), link_transfers=links,
                replication_factor=nest.spatial_elems[lv], fanout=nest.fanout[lv],
                is_boundary=nest.is_boundary[lv], is_master_spatial=nest.master[lv],
            ))
        first = loops[0].loop
        compute = sum(self.compute.values()) / max(1, len(self.compute))
        temporal = 1
        for lp in nest.loops:
            if not lp.spatial:
                temporal *= lp.end
        return NestAnalysisResult(
            loops=tuple(loops),
            compute_accesses=compute,
            compute_replication=nest.spatial_elems[first] * nest.fanout[first],
            max_temporal_iterations=temporal,
        )


def analyse_nest(nest: LoopNest, mapping: Mapping,
                 physical_fanout_xy: Sequence[tuple[int, int]]) -> NestAnalysisResult:
    """Run the delta analysis of ``nest``; ``physical_fanout_xy[level]`` is the
    hardware (X, Y) fanout below each storage level (used for link transfers)."""
    return _Simulator(nest, mapping, physical_fanout_xy).run()
