"""The shape of one layer: its loop dimensions and how each tensor is indexed.

A :class:`Problem` is the engine's view of a layer, as general as Timeloop's
problem shape: named dimensions with bounds, and data spaces (tensors) whose
every rank is an affine sum of dimensions (``W = Wstride*P + Wdilation*R``).
Front ends (our workload format, the Timeloop importer) build Problems;
:func:`conv_problem` builds the usual convolution / FC / matmul layers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import prod
from typing import Mapping

from ..errors import SpecError
from .weights import WeightProfile

# One term of a projection: coefficient * dimension.
Term = tuple[int, str]


@dataclass(frozen=True)
class DataSpace:
    """A tensor of the layer: each rank is a sum of ``coefficient * dimension``."""

    name: str
    projection: tuple[tuple[Term, ...], ...]
    read_write: bool = False

    @property
    def dims(self) -> frozenset[str]:
        """The dimensions that index this tensor (its *relevant* dimensions)."""
        return frozenset(d for rank in self.projection for _, d in rank)


@dataclass(frozen=True)
class Problem:
    """Loop dimensions with bounds, plus the tensors they index."""

    name: str
    dims: tuple[str, ...]
    bounds: tuple[int, ...]
    dataspaces: tuple[DataSpace, ...]
    # Tensor-level densities are attached by the sparse stage's inputs; the dense
    # engine ignores them.  Keys are data-space names.
    densities: Mapping[str, object] = field(default_factory=dict, compare=False, hash=False)
    word_bits: Mapping[str, int] = field(default_factory=dict, compare=False, hash=False)
    # Weight values (nonzeros and distinct values per filter) for the repetition
    # stage; None: no statistics (every weight its own value).
    weights: "WeightProfile | None" = field(default=None, compare=False, hash=False)

    def __post_init__(self) -> None:
        if len(self.dims) != len(self.bounds):
            raise SpecError(f"problem {self.name}: {len(self.dims)} dimensions but {len(self.bounds)} bounds")
        if len(set(self.dims)) != len(self.dims):
            raise SpecError(f"problem {self.name}: repeated dimension name in {self.dims}")
        for d, b in zip(self.dims, self.bounds):
            if b < 1:
                raise SpecError(f"problem {self.name}: dimension {d} must be >= 1, got {b}")
        names = [ds.name for ds in self.dataspaces]
        if len(set(names)) != len(names):
            raise SpecError(f"problem {self.name}: repeated data-space name in {names}")
        for ds in self.dataspaces:
            for d in ds.dims:
                if d not in self.dims:
                    raise SpecError(f"problem {self.name}: data space {ds.name} uses unknown dimension {d}")

    @property
    def bound(self) -> dict[str, int]:
        return dict(zip(self.dims, self.bounds))

    @property
    def dataspace_names(self) -> tuple[str, ...]:
        return tuple(ds.name for ds in self.dataspaces)

    def dataspace(self, name: str) -> DataSpace:
        for ds in self.dataspaces:
            if ds.name == name:
                return ds
        raise KeyError(name)

    @property
    def operations(self) -> int:
        """Algorithmic compute count: the product of all bounds."""
        return prod(self.bounds)

    def tensor_size(self, name: str) -> int:
        """Points in the bounding box of a tensor (Timeloop's tensor size)."""
        return box_size(self.dataspace(name), {d: b for d, b in zip(self.dims, self.bounds)})


def box_extent(rank: tuple[Term, ...], extent: Mapping[str, int]) -> int:
    """Extent of one data-space rank when each dimension spans ``extent[d]`` points.

    Timeloop projects the corners of an operation-space box, so a strided rank
    covers ``sum(c * (e - 1)) + 1`` points (holes included).
    """
    return sum(abs(c) * (extent[d] - 1) for c, d in rank) + 1


def box_size(ds: DataSpace, extent: Mapping[str, int]) -> int:
    return prod(box_extent(rank, extent) for rank in ds.projection)


def conv_problem(
    name: str,
    *,
    N: int = 1,
    M: int,
    C: int,
    P: int = 1,
    Q: int = 1,
    R: int = 1,
    S: int = 1,
    Wstride: int = 1,
    Hstride: int = 1,
    Wdilation: int = 1,
    Hdilation: int = 1,
    groups: int = 1,
    word_bits: Mapping[str, int] | None = None,
) -> Problem:
    """A convolution in Timeloop's ``conv2D`` convention.

    ``M`` output channels, ``C`` input channels, ``P x Q`` output (width x height),
    ``R x S`` filter (width x height); input width is ``Wstride*(P-1) + Wdilation*(R-1) + 1``.
    FC and matmul layers are convolutions with ``P = Q = R = S = 1`` (and ``N`` rows).
    Grouped convolutions get a ``G`` dimension; ``M`` and ``C`` are then per group.
    """
    wb = dict(word_bits or {})
    inputs_w = ((Wstride, "P"), (Wdilation, "R"))
    inputs_h = ((Hstride, "Q"), (Hdilation, "S"))
    if groups == 1:
        dims = ("C", "M", "R", "S", "N", "P", "Q")
        bounds = (C, M, R, S, N, P, Q)
        dataspaces = (
            DataSpace("Weights", (((1, "C"),), ((1, "M"),), ((1, "R"),), ((1, "S"),))),
            DataSpace("Inputs", (((1, "N"),), ((1, "C"),), inputs_w, inputs_h)),
            DataSpace("Outputs", (((1, "N"),), ((1, "M"),), ((1, "Q"),), ((1, "P"),)), read_write=True),
        )
    else:
        if C % groups or M % groups:
            raise SpecError(f"layer {name}: C={C} and M={M} must be divisible by groups={groups}")
        dims = ("G", "C", "M", "R", "S", "N", "P", "Q")
        bounds = (groups, C // groups, M // groups, R, S, N, P, Q)
        dataspaces = (
            DataSpace("Weights", (((1, "G"),), ((1, "C"),), ((1, "M"),), ((1, "R"),), ((1, "S"),))),
            DataSpace("Inputs", (((1, "N"),), ((1, "G"),), ((1, "C"),), inputs_w, inputs_h)),
            DataSpace("Outputs", (((1, "N"),), ((1, "G"),), ((1, "M"),), ((1, "Q"),), ((1, "P"),)), read_write=True),
        )
    return Problem(name=name, dims=dims, bounds=bounds, dataspaces=dataspaces, word_bits=wb)
