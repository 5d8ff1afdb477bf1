"""Python API: the same operations as the CLI, returning typed results and DataFrames.

>>> from sbmodel.api import evaluate
>>> result = evaluate("arch_specs/eyeriss_like.yaml", "workloads/v4_default_problem.yaml",
...                   mappings="mappings/eyeriss_like_v4_default.yaml")
>>> result.totals()["energy_pJ"]            # doctest: +SKIP
>>> result.layers_frame()                   # one row per layer (pandas)
"""

from __future__ import annotations

import multiprocessing
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping as TypingMapping, Sequence

from .core import Architecture, Mapping, Problem
from .core.memo import IdentityMemo
from .engine import analyse_counts, evaluate_counts
from .engine.repetition import design_view
from .engine.results import LayerResult
from .errors import SbmodelError
from .spec.workload import Provenance, Workload

if TYPE_CHECKING:  # pandas is imported lazily: the CLI's json/table paths do not need it
    import pandas as pd


@dataclass(frozen=True)
class NetworkResult:
    """Per-layer results of one workload on one architecture."""

    architecture: Architecture
    workload: Workload
    layers: tuple[LayerResult, ...]
    mappings: tuple[Mapping, ...]
    mapping_sources: tuple[str, ...]  # per layer: the mapping file, or "mapper"
    extras: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def provenance(self) -> Provenance:
        return self.workload.provenance

    def totals(self) -> dict[str, float]:
        return {
            "energy_pJ": sum(r.energy_pJ for r in self.layers),
            "cycles": sum(r.cycles for r in self.layers),
            "computes": sum(r.compute.actual_computes for r in self.layers),
            "algorithmic_computes": sum(r.compute.algorithmic_computes for r in self.layers),
        }

    def layers_frame(self) -> "pd.DataFrame":
        """One row per layer: cycles, energy, computes, utilisation, energy per level."""
        import pandas as pd

        rows = []
        for r in self.layers:
            row: dict[str, Any] = {
                "layer": r.layer, "cycles": r.cycles, "energy_pJ": r.energy_pJ,
                "computes": r.compute.actual_computes, "utilization": r.utilization,
                f"energy_pJ.{r.compute.name}": r.compute.energy_pJ,
            }
            for lv in r.levels:
                if lv.container_only:
                    continue
                row[f"energy_pJ.{lv.name}"] = lv.energy_pJ
            rows.append(row)
        return pd.DataFrame(rows)

    def accesses_frame(self) -> "pd.DataFrame":
        """Long format: one row per (layer, level, tensor, action) with counts and energy."""
        import pandas as pd

        rows = []
        for r in self.layers:
            for lv in r.levels:
                for t in lv.tensors:
                    if not t.kept:
                        continue
                    for action, count in t.actions.items():
                        rows.append({
                            "layer": r.layer, "level": lv.name, "tensor": t.tensor, "action": action,
                            "count_per_instance": count, "instances": t.utilized_instances,
                            "count_total": count * t.utilized_instances,
                            "energy_pJ": t.energy_by_action_pJ.get(action, 0.0),
                        })
            for action, count in r.compute.actions.items():
                rows.append({
                    "layer": r.layer, "level": r.compute.name, "tensor": "", "action": action,
                    "count_per_instance": count / max(r.compute.utilized_instances, 1),
                    "instances": r.compute.utilized_instances, "count_total": count,
                    "energy_pJ": r.compute.energy_by_action_pJ.get(action, 0.0),
                })
        return pd.DataFrame(rows)


def _load_arch(arch: str | Path | Architecture) -> Architecture:
    if isinstance(arch, Architecture):
        return arch
    from .spec import load_architecture

    return load_architecture(arch)


def _load_workload(workload: str | Path | Workload) -> Workload:
    if isinstance(workload, Workload):
        return workload
    from .spec import load_workload

    return load_workload(workload)


MapperFn = Callable[[Problem, Architecture], Mapping]


def evaluate_mapping(problem: Problem, arch: Architecture, mapping: Mapping) -> LayerResult:
    """One layer on one mapping.  Uses the vectorised closed form when it expresses the
    mapping exactly (perfect factors; property-tested equal to the loop-nest analysis),
    else the loop-nest analysis (see :func:`evaluate_mappings`)."""
    return evaluate_mappings([problem], arch, [mapping])[0]


def evaluate_mappings(problems: Sequence[Problem], arch: Architecture, mappings: Sequence[Mapping]
                      ) -> list[LayerResult]:
    """Each layer on its mapping, as :func:`evaluate_mapping`.  Dense counts depend only on the
    layer's shape and element bits, the mapping and the design's structure -- not on its
    energies or bandwidths, nor on the data -- so they are computed once per distinct such
    key and kept for later calls: repeated layers of a network, and sweep points that vary
    energies, bandwidths or densities, reuse them (the later stages run for every layer)."""
    from dataclasses import replace

    from .engine.batch import mapping_counts

    structure = _structure_key(arch)
    out = []
    for problem, mapping in zip(problems, mappings):
        key = (structure, problem.dims, problem.bounds, problem.dataspaces,
               tuple(sorted(problem.word_bits.items())), mapping)
        counts = _DENSE_COUNTS.get(key)
        if counts is None:
            counts = mapping_counts(problem, arch, mapping)
            if len(_DENSE_COUNTS) >= 512:
                _DENSE_COUNTS.pop(next(iter(_DENSE_COUNTS)))  # oldest first
            _DENSE_COUNTS[key] = counts
        if counts.problem is not problem or counts.mapping is not mapping:
            # this layer's own statistics, and its own mapping object: equal mappings may
            # differ in the order of their factor-1 loops, which the sparse stage reads
            counts = replace(counts, problem=problem, mapping=mapping)
        out.append(evaluate_counts(analyse_counts(counts, arch), arch))
    return out


_DENSE_COUNTS: dict[Any, Any] = {}  # (structure, layer shape, mapping) -> dense LayerCounts
_STRUCTURES: IdentityMemo[Architecture, str] = IdentityMemo()


def _structure_key(arch: Architecture) -> str:
    """Fingerprint of what dense counts depend on: the design without its per-action energies
    and bandwidths (memoised per architecture object)."""
    return _STRUCTURES(arch, _bare_fingerprint)


def _bare_fingerprint(arch: Architecture) -> str:
    from dataclasses import replace

    from .mapper.cache import fingerprint

    return fingerprint(replace(arch, storage=tuple(replace(lv, energy_pJ={}, read_bandwidth=None, write_bandwidth=None)
                                                   for lv in arch.storage),
                               compute=replace(arch.compute, energy_pJ={})))


_WORKER_MAPPER: MapperFn | None = None  # set before forking workers; inherited by them


def _map_in_worker(item: tuple[Problem, Architecture]) -> Mapping:
    assert _WORKER_MAPPER is not None
    return _WORKER_MAPPER(*item)


DENSITY_GRANULARITY = 0.01  # layers whose densities agree to this share one mapping search


def search_view(problem: Problem, arch: Architecture) -> Problem:
    """What of a layer its mapping search depends on: densities only on a design that exploits
    zeros (rounded to DENSITY_GRANULARITY: near-equal layers share a search, and each is then
    evaluated with its own statistics), data bits only on a design that packs them."""
    from dataclasses import replace as _replace

    from .engine.sparse.density import FixedStructured, Hypergeometric

    densities: dict[str, object] = {}
    if arch.sparse is not None and not arch.sparse.empty:
        for tensor, model in problem.densities.items():
            if isinstance(model, (Hypergeometric, FixedStructured)):  # a density, not data
                model = _replace(model, density=round(model.density / DENSITY_GRANULARITY) * DENSITY_GRANULARITY)
            densities[tensor] = model
    packed = any(lv.packed for lv in arch.storage)
    return _replace(problem, name="", densities=densities, word_bits=dict(problem.word_bits) if packed else {})


def search_groups(problems: Sequence[Problem], arch: Architecture) -> dict[str, list[Problem]]:
    """The layers one mapping search serves, by the fingerprint of their :func:`search_view`,
    in workload order."""
    from .mapper.cache import fingerprint, problem_key

    groups: dict[str, list[Problem]] = {}
    for p in problems:
        groups.setdefault(fingerprint(problem_key(search_view(p, arch))), []).append(p)
    return groups


def map_layers(problems: Sequence[Problem], arch: Architecture, mapper: MapperFn,
               jobs: int | None = None) -> dict[str, Mapping]:
    """Search a mapping for every layer; layers the search cannot tell apart (same shape, and
    on sparse designs near-equal densities, see :func:`search_view`) share one search
    (:func:`search_groups`), and distinct ones are searched in parallel processes (``jobs``,
    default: CPU count)."""
    groups = search_groups(problems, arch)
    reps = [g[0] for g in groups.values()]
    jobs = min(jobs or os.cpu_count() or 1, len(reps))
    if jobs > 1 and "fork" in multiprocessing.get_all_start_methods():
        global _WORKER_MAPPER
        _WORKER_MAPPER = mapper
        try:
            with multiprocessing.get_context("fork").Pool(jobs) as pool:
                found = pool.map(_map_in_worker, [(p, arch) for p in reps], chunksize=1)
        finally:
            _WORKER_MAPPER = None
    else:
        found = [mapper(p, arch) for p in reps]
    out: dict[str, Mapping] = {}
    for group, mapping in zip(groups.values(), found):
        for p in group:
            out[p.name] = mapping
    return out


def evaluate(
    arch: str | Path | Architecture,
    workload: str | Path | Workload,
    mappings: str | Path | TypingMapping[str, Mapping] | None = None,
    *,
    mapper: MapperFn | None = None,
    layers: Sequence[str] | None = None,
    jobs: int | None = None,
) -> NetworkResult:
    """Evaluate every layer of ``workload`` on ``arch``.

    Layers take their mapping from ``mappings`` (a mapping file or ``{layer: Mapping}``);
    layers without one are mapped by ``mapper`` (the mapping search) when given.
    """
    architecture = _load_arch(arch)
    wl = _load_workload(workload)
    problems = [design_view(p, architecture) for p in wl.problems()]  # as the design sees them (n:m)
    given: dict[str, Mapping]
    source = ""
    if mappings is None:
        given = {}
    elif isinstance(mappings, (str, Path)):
        from .spec import load_mappings

        given = load_mappings(mappings, architecture, problems)  # a file for the whole workload fits any subset
        source = str(mappings)
    else:
        given = dict(mappings)
    if layers is not None:
        wanted = set(layers)
        unknown = wanted - {p.name for p in problems}
        if unknown:
            raise SbmodelError(f"unknown layer(s) {sorted(unknown)} in workload {wl.name}")
        problems = [p for p in problems if p.name in wanted]
    missing = [p for p in problems if p.name not in given]
    if missing and mapper is None:
        raise SbmodelError(
            f"no mapping for layer {missing[0].name}: give a mapping file that covers it (--mapping)")
    searched = map_layers(missing, architecture, mapper, jobs) if missing else {}
    used = [given[p.name] if p.name in given else searched[p.name] for p in problems]
    sources = [(source or "given") if p.name in given else "mapper" for p in problems]
    results = evaluate_mappings(problems, architecture, used)
    return NetworkResult(architecture, wl, tuple(results), tuple(used), tuple(sources))


__all__ = ["evaluate", "evaluate_mapping", "evaluate_mappings", "map_layers", "search_groups", "search_view", "NetworkResult"]
