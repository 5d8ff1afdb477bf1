"""Our workload format: a network of conv / FC / matmul layers with weight statistics.

```yaml
workload:
  name: resnet18_sb
  provenance:                      # mandatory: where every number comes from
    method: calibrated             # measured | calibrated | shapes-only | synthetic
    source: "..."
  layers:
    - name: conv1
      type: conv                   # conv | fc | matmul
      C: 3
      M: 64
      P: 112                       # output width  (Q: output height)
      Q: 112
      R: 7                         # filter width  (S: filter height)
      S: 7
      stride: 2                    # or Wstride / Hstride
      bits: {weights: 8, inputs: 8, outputs: 16}
      stats: {...}                 # see LayerStats
```

Dimension names follow Timeloop's ``conv2D`` problem so imported designs and
our own agree: ``N`` batch, ``C`` input channels, ``M`` output channels,
``P``/``Q`` output width/height, ``R``/``S`` filter width/height.  An ``fc``
layer takes ``C``, ``M`` (and ``N``); a ``matmul`` ``[N x C] @ [C x M]`` is the
same loop nest.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated, Literal, Optional

from pydantic import Field, PrivateAttr, field_validator, model_validator

from ..core.problem import Problem, conv_problem
from ..core.weights import WeightProfile
from .common import StrictModel, validate
from .yamlio import Located, load_yaml

PosInt = Annotated[int, Field(ge=1)]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
Scheme = Literal["fp", "binary", "ternary", "signed-binary", "as-is"]


class Provenance(StrictModel):
    """Where a workload's numbers come from.  Shown by ``sbmodel evaluate``."""

    method: Literal["measured", "calibrated", "shapes-only", "synthetic"]
    source: str
    citation: Optional[str] = None
    command: Optional[str] = None  # the command that regenerates the file
    created: Optional[str] = None
    tool_version: Optional[str] = None
    metrics: Optional[dict[str, float]] = None  # e.g. test_accuracy of the exported checkpoint
    notes: Optional[str] = None


class Bits(StrictModel):
    weights: PosInt = 8
    inputs: PosInt = 8
    outputs: PosInt = 16


class Histogram(StrictModel):
    """``counts[i]`` occurrences of ``values[i]``."""

    values: list[float]
    counts: list[Annotated[int, Field(ge=0)]]

    @model_validator(mode="after")
    def _same_length(self) -> "Histogram":
        if len(self.values) != len(self.counts):
            raise ValueError(f"values has {len(self.values)} entries but counts has {len(self.counts)}")
        return self


class Region(StrictModel):
    """How a weight tensor is split into sign/scale regions."""

    kind: Literal["filter", "channel-block", "tensor"] = "filter"
    size: Optional[PosInt] = None  # input channels per block for kind=channel-block


class TensorStats(StrictModel):
    """Density of a tensor (activations: measured on calibration inputs)."""

    density: Fraction
    # Density model for the sparse engine (sbmodel.spec.sparse): fixed-structured, hypergeometric
    # (default) or actual-data (default for weights with a mask).
    distribution: Optional[Literal["fixed-structured", "hypergeometric", "actual-data"]] = None
    nonzeros: Optional[Annotated[int, Field(ge=0)]] = None
    elements: Optional[Annotated[int, Field(ge=0)]] = None


class WeightStats(TensorStats):
    """Statistics of a (quantised) weight tensor, as exported by ``sbmodel stats export``.

    Exact definitions are in :mod:`sbmodel.quant.statistics` and
    docs/weight_statistics.md.  In short: layout ``[M][C/groups][S][R]``, regions
    filter-major; ``value_histogram`` counts the codes -1/0/+1 of binary, ternary
    and signed-binary weights (raw values for fp / as-is, when at most 256);
    ``zero_run_histogram`` counts, per run length, the nonzeros preceded by that
    many zeros within their filter (RLE); ``mask`` arrays are boolean in the
    weight layout.
    """

    scheme: Scheme
    bits: Optional[PosInt] = None
    region: Region = Region()
    nonzeros_per_filter: Optional[list[Annotated[int, Field(ge=0)]]] = None
    nonzeros_per_region: Optional[list[Annotated[int, Field(ge=0)]]] = None
    unique_nonzero_values_per_filter: Optional[list[Annotated[int, Field(ge=0)]]] = None
    unique_nonzero_values_per_region: Optional[list[Annotated[int, Field(ge=0)]]] = None
    sign_per_region: Optional[list[Literal[-1, 0, 1]]] = None  # sign of the region's nonzeros (0: mixed/empty)
    value_histogram: Optional[Histogram] = None
    zero_run_histogram: Optional[Histogram] = None  # run lengths of zeros in storage order
    mask: Optional[str] = None  # "file.npz" or "file.npz:key", relative to the workload file


class LayerStats(StrictModel):
    weights: Optional[WeightStats] = None
    inputs: Optional[TensorStats] = None
    outputs: Optional[TensorStats] = None


class Layer(StrictModel):
    name: str
    type: Literal["conv", "fc", "matmul"] = "conv"
    N: PosInt = 1
    C: PosInt
    M: PosInt
    P: PosInt = 1
    Q: PosInt = 1
    R: PosInt = 1
    S: PosInt = 1
    stride: Optional[PosInt] = None
    Wstride: Optional[PosInt] = None
    Hstride: Optional[PosInt] = None
    dilation: Optional[PosInt] = None
    Wdilation: Optional[PosInt] = None
    Hdilation: Optional[PosInt] = None
    groups: PosInt = 1
    bits: Optional[Bits] = None
    stats: Optional[LayerStats] = None

    @model_validator(mode="after")
    def _consistent(self) -> "Layer":
        if self.stride is not None and (self.Wstride is not None or self.Hstride is not None):
            raise ValueError("give either stride or Wstride/Hstride, not both")
        if self.dilation is not None and (self.Wdilation is not None or self.Hdilation is not None):
            raise ValueError("give either dilation or Wdilation/Hdilation, not both")
        if self.type in ("fc", "matmul") and (self.P, self.Q, self.R, self.S) != (1, 1, 1, 1):
            raise ValueError(f"a {self.type} layer has P = Q = R = S = 1")
        if self.C % self.groups or self.M % self.groups:
            raise ValueError(f"C={self.C} and M={self.M} must be divisible by groups={self.groups}")
        w = self.stats.weights if self.stats is not None else None
        if w is not None:
            positions = self.positions_per_filter
            for key in ("nonzeros_per_filter", "unique_nonzero_values_per_filter"):
                values = getattr(w, key)
                if values is not None and len(values) != self.M:
                    raise ValueError(f"stats.weights.{key} has {len(values)} entries, the layer has M={self.M} "
                                     "filters")
            if w.nonzeros_per_filter is not None and max(w.nonzeros_per_filter) > positions:
                raise ValueError(f"stats.weights.nonzeros_per_filter: a filter has {max(w.nonzeros_per_filter)} "
                                 f"nonzeros, more than its {positions} weights")
            if w.nonzeros_per_filter is not None and w.unique_nonzero_values_per_filter is not None:
                for f, (n, u) in enumerate(zip(w.nonzeros_per_filter, w.unique_nonzero_values_per_filter)):
                    if u > n or (n and not u):
                        raise ValueError(f"stats.weights: filter {f} has {u} unique nonzero values for {n} nonzeros")
        return self

    @property
    def positions_per_filter(self) -> int:
        return (self.C // self.groups) * self.R * self.S

    def weight_profile(self, default_bits: Bits) -> Optional[WeightProfile]:
        """The repetition stage's view of ``stats.weights`` (None without statistics).  Counts left
        out follow from the density and the scheme (binary/ternary: 2 values, signed-binary: 1)."""
        w = self.stats.weights if self.stats is not None else None
        if w is None:
            return None
        positions = self.positions_per_filter
        bits = w.bits or (self.bits or default_bits).weights
        nonzeros = w.nonzeros_per_filter or [int(round(w.density * positions))] * self.M
        if w.unique_nonzero_values_per_filter is not None:
            unique = list(w.unique_nonzero_values_per_filter)
        else:
            per_scheme = {"binary": 2, "ternary": 2, "signed-binary": 1}.get(w.scheme)
            unique = [min(n, per_scheme) if per_scheme else n for n in nonzeros]
        regions = 1
        if w.region.kind == "channel-block" and w.region.size:
            regions = -(-(self.C // self.groups) // w.region.size)
        return WeightProfile(w.scheme, bits, positions, tuple(nonzeros), tuple(unique), regions)

    def strides(self) -> tuple[int, int]:
        s = self.stride or 1
        return (self.Wstride or s, self.Hstride or s)

    def dilations(self) -> tuple[int, int]:
        d = self.dilation or 1
        return (self.Wdilation or d, self.Hdilation or d)

    def to_problem(self, default_bits: Bits) -> Problem:
        bits = self.bits or default_bits
        ws, hs = self.strides()
        wd, hd = self.dilations()
        problem = conv_problem(
            self.name, N=self.N, M=self.M, C=self.C, P=self.P, Q=self.Q, R=self.R, S=self.S,
            Wstride=ws, Hstride=hs, Wdilation=wd, Hdilation=hd, groups=self.groups,
            word_bits={"Weights": bits.weights, "Inputs": bits.inputs, "Outputs": bits.outputs},
        )
        profile = self.weight_profile(default_bits)
        return problem if profile is None else replace(problem, weights=profile)


class Workload(StrictModel):
    name: str
    description: Optional[str] = None
    provenance: Provenance
    bits: Bits = Bits()
    layers: list[Layer] = Field(min_length=1)

    @field_validator("layers")
    @classmethod
    def _unique_names(cls, layers: list[Layer]) -> list[Layer]:
        seen: set[str] = set()
        for layer in layers:
            if layer.name in seen:
                raise ValueError(f"layer name {layer.name!r} is used twice")
            seen.add(layer.name)
        return layers

    # Where the workload file is (masks are relative to it) and the density models once built.
    _file: Optional[str] = PrivateAttr(default=None)
    _densities: dict = PrivateAttr(default_factory=dict)
    _lines: dict = PrivateAttr(default_factory=dict)  # YAML path -> line, for located errors

    def problems(self) -> list[Problem]:
        """The layers as problems, with their tensors' density models (for the sparse engine;
        masks are read here, on first use)."""
        from .sparse import layer_densities

        base = Path(self._file).parent if self._file else None
        out = []
        for i, layer in enumerate(self.layers):
            problem = layer.to_problem(self.bits)
            dens = self._densities.get(layer.name)
            if dens is None:
                located = Located(None, self._file or "", self._lines) if self._file else None
                dens = layer_densities(layer, problem, base, ("workload", "layers", i), located)
                self._densities[layer.name] = dens
            out.append(replace(problem, densities=dens) if dens else problem)
        return out


class WorkloadFile(StrictModel):
    workload: Workload


def load_workload(path: str | Path) -> Workload:
    """Read and validate a workload file (see the module docstring)."""
    located: Located = load_yaml(path)
    if not isinstance(located.data, dict) or "workload" not in located.data:
        raise located.error((), "expected a top-level 'workload:' mapping")
    workload = validate(WorkloadFile, located).workload
    workload._file = str(path)
    workload._lines = located.lines
    return workload
