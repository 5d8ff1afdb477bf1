"""The ``constraints:`` block of a level in our architecture format: what mappings may do there.

It mirrors :class:`sbmodel.mapper.LevelConstraints` (Timeloop's map-space
constraints) so a design can state its dataflow, e.g. Eyeriss's row-stationary
template:

```yaml
- name: weights_spad
  constraints:
    temporal_factors: {N: 1, M: 1, P: 1, Q: 1, S: 1}   # 1: no loop here; 0: the whole dimension
    permutation: [N, M, P, Q, S, C, R]                  # innermost loops first
- name: inter_PE_spatial
  container: true
  constraints:
    spatial_factors: {N: 1, P: 1, Q: 1, R: 1}
    spatial_permutation: [N, P, Q, R, S, C, M]
    spatial_split: 0                                    # every spatial loop runs along Y
```

Keys: ``temporal_factors``, ``spatial_factors`` (exact factors), ``temporal_max``,
``spatial_max`` (upper bounds), ``permutation``, ``spatial_permutation``
(innermost loops first, the rest free), ``spatial_split`` (loops at positions
below it run along X) or ``spatial_axis`` (``{M: X}``), and
``max_overbooked_proportion``.  Dimensions are the layer dimensions of our
workloads (N, M, C, P, Q, R, S, G); a constraint on a dimension a layer does not
have is ignored for that layer.  Keep/bypass stay the level's ``keep``/``bypass``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal, Optional

from pydantic import Field

from .common import StrictModel, check
from .yamlio import Located, PathKey

if TYPE_CHECKING:
    from ..mapper.constraints import LevelConstraints

Dimension = Literal["N", "M", "C", "P", "Q", "R", "S", "G"]
NonNegInt = Annotated[int, Field(ge=0)]
PosInt = Annotated[int, Field(ge=1)]


class ConstraintsSpec(StrictModel):
    """A level's mapper constraints as written in the file."""

    temporal_factors: dict[Dimension, NonNegInt] = {}
    spatial_factors: dict[Dimension, NonNegInt] = {}
    temporal_max: dict[Dimension, PosInt] = {}
    spatial_max: dict[Dimension, PosInt] = {}
    permutation: list[Dimension] = []
    spatial_permutation: list[Dimension] = []
    spatial_split: Optional[NonNegInt] = None
    spatial_axis: dict[Dimension, Literal["X", "Y"]] = {}
    max_overbooked_proportion: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0


def build_constraints(spec: Optional[ConstraintsSpec], located: Located, path: PathKey
                      ) -> "Optional[LevelConstraints]":
    """Check what pydantic cannot and build the core type (None when there is no block)."""
    from ..mapper.constraints import LevelConstraints  # the mapper package imports the engine: load lazily

    if spec is None:
        return None
    here = path + ("constraints",)
    for key in ("permutation", "spatial_permutation"):
        perm = getattr(spec, key)
        for i, d in enumerate(perm):
            check(d not in perm[:i], located, here + (key, i), f"dimension {d} is listed twice")
    check(spec.spatial_split is None or not spec.spatial_axis, located, here + ("spatial_axis",),
          "give either spatial_split or spatial_axis, not both")
    for fixed, maxima, kind in (("temporal_factors", "temporal_max", "temporal"),
                                ("spatial_factors", "spatial_max", "spatial")):
        both = sorted(set(getattr(spec, fixed)) & set(getattr(spec, maxima)))
        check(not both, located, here + (maxima, both[0]) if both else here,
              f"{kind} factor of {', '.join(both)} is both fixed and bounded; give one of them")
    return LevelConstraints(
        temporal_factors=dict(spec.temporal_factors), spatial_factors=dict(spec.spatial_factors),
        temporal_max=dict(spec.temporal_max), spatial_max=dict(spec.spatial_max),
        spatial_axis=dict(spec.spatial_axis), permutation=tuple(spec.permutation),
        spatial_permutation=tuple(spec.spatial_permutation), spatial_split=spec.spatial_split,
        max_overbooked_proportion=spec.max_overbooked_proportion,
    )


__all__ = ["ConstraintsSpec", "build_constraints"]
