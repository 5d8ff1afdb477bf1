"""Mapping search: the map space of a layer and a fast, seeded search over it.

* :mod:`.constraints` -- what a mapping may do (factors, permutations, splits, keep/bypass);
* :mod:`.space` -- the map space as NumPy arrays: sampling, moves, validity, canonical keys;
* :mod:`.exhaustive` -- enumeration of small spaces;
* :mod:`.search` -- exhaustive or sampled + best-first local search, deterministic per seed;
* :mod:`.cache` -- search results reused across identical layers.
"""

from .cache import DEFAULT_CACHE, MappingCache
from .constraints import Constraints, LevelConstraints
from .search import OBJECTIVES, SearchResult, search
from .space import MapSpace

__all__ = ["search", "SearchResult", "OBJECTIVES", "MapSpace", "Constraints", "LevelConstraints",
           "MappingCache", "DEFAULT_CACHE", "find_mapping"]


def find_mapping(problem, arch, objective="edp", *, budget: int = 20_000, seed: int = 0, restarts: int = 0,
                 imperfect: bool = False, constraints: Constraints | None = None,
                 cache: MappingCache | None = DEFAULT_CACHE):
    """Search a mapping for one layer, reusing a cached result for an identical
    (architecture, layer shape, statistics, settings).  The best candidates are evaluated
    exactly (every stage: sparsity, repetition) and must fit the hardware; on a sparse design
    the search runs on a calibrated surrogate (:func:`.driver.map_layer`).  ``imperfect`` also
    tries residual (imperfectly factorised) mappings (:mod:`.imperfect`)."""
    from .driver import map_layer

    key = None
    if cache is not None:
        extra = {"imperfect": True} if imperfect else {}  # keys of perfect searches stay as they were
        key = cache.key(arch, problem, objective=objective, budget=budget, seed=seed, restarts=restarts,
                        constraints=constraints, **extra)
        hit = cache.get(key)
        if hit is not None:
            return hit
    found = map_layer(problem, arch, objective, constraints=constraints, sparse=arch.sparse, budget=budget,
                      seed=seed, restarts=restarts, imperfect=imperfect).mapping
    if cache is not None:
        cache.put(key, found)
    return found
