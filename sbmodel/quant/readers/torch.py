"""PyTorch checkpoints: a ``state_dict`` saved with ``torch.save`` (``.pt`` / ``.pth``).

Needs the optional ``torch`` extra.  Files are loaded with
``weights_only=True``, so no code in a checkpoint runs; a pickled whole model
is refused with a hint to save its ``state_dict``.  A dict that wraps the state
dict under ``state_dict``, ``model_state_dict``, ``model`` or ``net`` (common in
training scripts) is unwrapped.

With ``model="package.module:factory"`` the factory builds the network, the
state dict is loaded into it (strictly) and one forward pass on zeros of
``input_shape`` is traced with hooks on every ``Conv2d`` and ``Linear``: that
gives exact strides, padding, groups and output sizes.  Calibration inputs
(an ``.npy`` array) are then run through the model to measure the density of
each layer's inputs.  Without a model only the weights are read and the layer
geometry is left to :mod:`sbmodel.quant.geometry`.
"""

from __future__ import annotations

import importlib
import math
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ...errors import SbmodelError
from ...spec.workload import TensorStats
from .base import Checkpoint, LayerGeometry, WeightTensor, check_unique_names, layer_name, weight_tensor

WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "net")


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        raise SbmodelError("reading PyTorch checkpoints needs PyTorch: pip install 'sbmodel[torch]'") from None
    return torch


def _state_dict(path: str, obj: Any, torch: Any) -> Mapping[str, Any]:
    if isinstance(obj, Mapping):
        if any(isinstance(v, torch.Tensor) for v in obj.values()):
            return obj
        for key in WRAPPER_KEYS:
            inner = obj.get(key)
            if isinstance(inner, Mapping) and any(isinstance(v, torch.Tensor) for v in inner.values()):
                return inner
    raise SbmodelError(f"{path}: expected a state_dict (a mapping of names to tensors, possibly under "
                       f"one of {', '.join(WRAPPER_KEYS)}), got {type(obj).__name__}")


def _to_numpy(torch: Any, tensor: Any) -> np.ndarray:
    """A CPU NumPy copy; quantized tensors are dequantized, half / bfloat16 widened."""
    t = tensor.detach().cpu()
    if t.is_quantized:
        t = t.dequantize()
    if t.dtype.is_floating_point and t.dtype not in (torch.float32, torch.float64):
        t = t.float()
    return t.numpy()


def load_state_dict(path: str) -> Mapping[str, Any]:
    """``torch.load`` the file safely and return its state dict."""
    torch = _torch()
    if not Path(path).is_file():
        raise SbmodelError(f"{path}: file not found")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt or unsafe files
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "weights_only" in str(exc) or "Unsupported global" in str(exc):
            msg = "it holds pickled objects, not just tensors (save model.state_dict() instead)"
        raise SbmodelError(f"{path}: not a readable PyTorch checkpoint: {msg}") from None
    return _state_dict(path, obj, torch)


def build_model(spec: str) -> Any:
    """Import ``package.module:factory`` and call the factory with no arguments."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise SbmodelError(f"--model must look like 'package.module:factory', got {spec!r}")
    if "" not in sys.path and "." not in sys.path:
        sys.path.insert(0, "")  # let users name a module in the current directory
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise SbmodelError(f"cannot import model module {module_name!r}: {exc}") from None
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise SbmodelError(f"model module {module_name!r} has no callable {attr!r}")
    try:
        return factory()
    except Exception as exc:
        raise SbmodelError(f"model factory {spec!r} failed: {exc}") from None


class _Tracer:
    """Forward hooks that record each Conv2d / Linear call's geometry and input density."""

    def __init__(self, torch: Any, model: Any) -> None:
        self.torch = torch
        self.geometry: dict[str, LayerGeometry] = {}
        self.calls: dict[str, int] = {}
        self.nonzeros: dict[str, int] = {}
        self.elements: dict[str, int] = {}
        self.handles = []
        nn = torch.nn
        for name, mod in model.named_modules():
            if isinstance(mod, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d, nn.Conv1d, nn.Conv3d)):
                raise SbmodelError(f"cannot place layer {name!r}: {type(mod).__name__} is not supported "
                                   "(conv2d and linear layers only)")
            if isinstance(mod, (nn.Conv2d, nn.Linear)):
                self.handles.append(mod.register_forward_hook(self._hook(name)))

    def _hook(self, name: str) -> Any:
        def hook(mod: Any, inputs: tuple[Any, ...], output: Any) -> None:
            x = inputs[0]
            self.calls[name] = self.calls.get(name, 0) + 1
            self.nonzeros[name] = self.nonzeros.get(name, 0) + int(self.torch.count_nonzero(x))
            self.elements[name] = self.elements.get(name, 0) + int(x.numel())
            if name in self.geometry:
                return
            if isinstance(mod, self.torch.nn.Conv2d):
                n, c, _, _ = x.shape
                _, m, q, p = output.shape
                s, r = mod.kernel_size
                self.geometry[name] = LayerGeometry(
                    "conv", C=int(c), M=int(m), N=int(n), P=int(p), Q=int(q), R=int(r), S=int(s),
                    Wstride=int(mod.stride[1]), Hstride=int(mod.stride[0]),
                    Wdilation=int(mod.dilation[1]), Hdilation=int(mod.dilation[0]), groups=int(mod.groups))
            else:
                c = int(x.shape[-1])
                self.geometry[name] = LayerGeometry("fc", C=c, M=int(mod.out_features),
                                                    N=int(math.prod(x.shape[:-1])))
        return hook

    def reset_counts(self) -> None:
        self.calls.clear()
        self.nonzeros.clear()
        self.elements.clear()

    def close(self) -> None:
        for h in self.handles:
            h.remove()


def trace_model(path: str, state: Mapping[str, Any], model_spec: str, input_shape: Sequence[int],
                calibration: np.ndarray | None) -> tuple[dict[str, LayerGeometry], dict[str, TensorStats]]:
    """Geometry of every Conv2d / Linear from one forward pass; input densities from calibration data."""
    torch = _torch()
    model = build_model(model_spec)
    if not isinstance(model, torch.nn.Module):
        raise SbmodelError(f"model factory {model_spec!r} returned {type(model).__name__}, not a torch.nn.Module")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = " ".join(str(exc).split())[:400]
        raise SbmodelError(f"{path}: does not fit model {model_spec!r}: {first}") from None
    model.eval()
    tracer = _Tracer(torch, model)
    try:
        with torch.no_grad():
            try:
                model(torch.zeros(tuple(input_shape)))
            except Exception as exc:
                raise SbmodelError(f"model {model_spec!r} fails on an input of shape {tuple(input_shape)}: "
                                   f"{exc}") from None
            for name, calls in tracer.calls.items():
                if calls > 1:
                    raise SbmodelError(f"cannot place layer {name!r}: it runs {calls} times in one forward "
                                       "pass (shared weights are not supported)")
            densities: dict[str, TensorStats] = {}
            if calibration is not None:
                tracer.reset_counts()
                for start in range(0, calibration.shape[0], 64):
                    batch = torch.from_numpy(np.ascontiguousarray(calibration[start:start + 64], dtype=np.float32))
                    try:
                        model(batch)
                    except Exception as exc:
                        raise SbmodelError(f"model {model_spec!r} fails on the calibration inputs of shape "
                                           f"{tuple(calibration.shape)}: {exc}") from None
                densities = {n: TensorStats(density=tracer.nonzeros[n] / tracer.elements[n],
                                            nonzeros=tracer.nonzeros[n], elements=tracer.elements[n])
                             for n in tracer.elements if tracer.elements[n] > 0}
    finally:
        tracer.close()
    return tracer.geometry, densities


def read_torch(path: str | Path, model: str | None = None, input_shape: Sequence[int] | None = None,
               calibration: np.ndarray | None = None) -> Checkpoint:
    """Read a PyTorch state dict (see the module docstring)."""
    p = str(path)
    state = load_state_dict(p)
    torch = _torch()
    tensors: list[WeightTensor] = []
    for key, value in state.items():
        if isinstance(value, torch.Tensor) and value.dim() >= 2:  # rank 0/1: biases, BatchNorm
            tensors.append(weight_tensor(p, key, _to_numpy(torch, value)))
    check_unique_names(p, tensors)
    geometry: dict[str, LayerGeometry] = {}
    densities: dict[str, TensorStats] = {}
    source = None
    if model is not None:
        if input_shape is None:
            raise SbmodelError("--model needs --input-shape N,C,H,W for the traced forward pass")
        traced, densities = trace_model(p, state, model, input_shape, calibration)
        names = {t.name for t in tensors}
        for mod_name, g in traced.items():
            if mod_name in names:
                geometry[mod_name] = g
        source = f"traced forward pass of {model} on input {tuple(input_shape)}"
        densities = {n: d for n, d in densities.items() if n in names}
    elif calibration is not None:
        raise SbmodelError("calibration inputs need --model (the network that runs them)")
    return Checkpoint(path=p, format="torch", tensors=tuple(tensors), geometry=geometry,
                      geometry_source=source, input_densities=densities)


__all__ = ["read_torch", "load_state_dict", "trace_model", "layer_name"]
