"""What every checkpoint reader returns, and the checks every weight tensor passes.

A reader turns a file into a :class:`Checkpoint`: the layer weight tensors in
network order, plus whatever layer geometry the file itself can give (ONNX
shape inference, a traced PyTorch forward pass, sbmodel metadata in an .npz).
Missing geometry is filled in by :mod:`sbmodel.quant.geometry`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Mapping

import numpy as np

from ...errors import SbmodelError
from ...spec.workload import TensorStats

LayerType = Literal["conv", "fc"]


@dataclass(frozen=True)
class LayerGeometry:
    """Loop bounds of one layer in Timeloop's conv2D names (P/R width, Q/S height)."""

    type: LayerType
    C: int
    M: int
    N: int = 1
    P: int = 1
    Q: int = 1
    R: int = 1
    S: int = 1
    Wstride: int = 1
    Hstride: int = 1
    Wdilation: int = 1
    Hdilation: int = 1
    groups: int = 1

    def __post_init__(self) -> None:
        for name in ("C", "M", "N", "P", "Q", "R", "S", "Wstride", "Hstride", "Wdilation", "Hdilation", "groups"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise SbmodelError(f"layer geometry: {name} must be a positive integer, got {value!r}")
        if self.C % self.groups or self.M % self.groups:
            raise SbmodelError(f"layer geometry: C={self.C} and M={self.M} must be divisible by "
                               f"groups={self.groups}")

    def weight_shape(self) -> tuple[int, ...]:
        """The weight tensor shape this geometry implies (PyTorch layout)."""
        if self.type == "fc":
            return (self.M, self.C)
        return (self.M, self.C // self.groups, self.S, self.R)

    def layer_fields(self) -> dict[str, Any]:
        """The workload-format layer keys (defaults left out for readability)."""
        out: dict[str, Any] = {"type": self.type, "N": self.N, "C": self.C, "M": self.M}
        if self.type == "conv":
            out.update(P=self.P, Q=self.Q, R=self.R, S=self.S)
            if self.Wstride == self.Hstride:
                out["stride"] = self.Wstride
            else:
                out.update(Wstride=self.Wstride, Hstride=self.Hstride)
            if self.Wdilation != 1 or self.Hdilation != 1:
                if self.Wdilation == self.Hdilation:
                    out["dilation"] = self.Wdilation
                else:
                    out.update(Wdilation=self.Wdilation, Hdilation=self.Hdilation)
            if self.groups != 1:
                out["groups"] = self.groups
        return out

    def to_json(self) -> dict[str, Any]:
        """All fields, for sbmodel metadata inside a checkpoint."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str) -> "LayerGeometry":
        if not isinstance(data, Mapping):
            raise SbmodelError(f"{where}: layer geometry must be a mapping")
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise SbmodelError(f"{where}: unknown layer geometry keys {sorted(unknown)}")
        if data.get("type") not in ("conv", "fc"):
            raise SbmodelError(f"{where}: layer type must be 'conv' or 'fc', got {data.get('type')!r}")
        try:
            return cls(**dict(data))
        except TypeError as exc:
            raise SbmodelError(f"{where}: {exc}") from None
        except SbmodelError as exc:
            raise SbmodelError(f"{where}: {exc}") from None


@dataclass(frozen=True)
class WeightTensor:
    """One layer's weights as found in a checkpoint."""

    name: str            # layer name, e.g. "layer1.0.conv1"
    key: str             # the key or initializer name in the file, e.g. "layer1.0.conv1.weight"
    array: np.ndarray    # float32, [M][C/groups][S][R] (conv) or [M][C] (fc)


@dataclass(frozen=True)
class Checkpoint:
    """Weights of a network, in order, plus what the file says about its layers."""

    path: str
    format: Literal["npz", "torch", "onnx"]
    tensors: tuple[WeightTensor, ...]
    geometry: Mapping[str, LayerGeometry] = field(default_factory=dict)
    geometry_source: str | None = None            # how `geometry` was obtained
    input_densities: Mapping[str, TensorStats] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)
    quantized_layers: tuple[str, ...] | None = None  # layers the checkpoint says were trained quantised
    description: str | None = None


def layer_name(key: str) -> str:
    """``layer1.0.conv1.weight`` -> ``layer1.0.conv1``."""
    return key[: -len(".weight")] if key.endswith(".weight") and len(key) > len(".weight") else key


def weight_tensor(path: str, key: str, array: np.ndarray, name: str | None = None) -> WeightTensor:
    """Check a layer weight tensor and convert it to float32.

    Rank 4 is a conv weight ``[M][C/groups][S][R]``, rank 2 an FC weight ``[M][C]``;
    anything else, a non-numeric dtype, an empty tensor or a non-finite value is
    an error naming the file and the tensor.
    """
    if array.ndim not in (2, 4):
        raise SbmodelError(f"{path}: tensor {key!r} has shape {tuple(array.shape)} (rank {array.ndim}); "
                           "a layer weight must have rank 4 (conv: M, C/groups, S, R) or 2 (fc: M, C)")
    if array.dtype.kind not in "fiu":
        raise SbmodelError(f"{path}: tensor {key!r} has dtype {array.dtype}; expected a real number type")
    if array.size == 0:
        raise SbmodelError(f"{path}: tensor {key!r} is empty (shape {tuple(array.shape)})")
    out = np.ascontiguousarray(array, dtype=np.float32)
    if not np.isfinite(out).all():
        bad = int(np.count_nonzero(~np.isfinite(out)))
        raise SbmodelError(f"{path}: tensor {key!r} has {bad} non-finite values (NaN or inf)")
    return WeightTensor(name or layer_name(key), key, out)


def check_unique_names(path: str, tensors: list[WeightTensor]) -> None:
    seen: dict[str, str] = {}
    for t in tensors:
        if t.name in seen:
            raise SbmodelError(f"{path}: tensors {seen[t.name]!r} and {t.key!r} both name layer {t.name!r}")
        seen[t.name] = t.key
    if not tensors:
        raise SbmodelError(f"{path}: no layer weights found (expected tensors of rank 4 or 2)")
