"""Checkpoint readers: NumPy ``.npz``, PyTorch ``state_dict`` and ONNX.

:func:`read_checkpoint` picks the reader from the file extension (or ``fmt``).
The PyTorch and ONNX readers import their libraries only when called, so the
optional extras are needed only for those formats.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Sequence

import numpy as np

from ...errors import SbmodelError
from .base import Checkpoint, LayerGeometry, WeightTensor
from .npz import read_npz, write_npz

CheckpointFormat = Literal["auto", "npz", "torch", "onnx"]
EXTENSIONS = {".npz": "npz", ".pt": "torch", ".pth": "torch", ".bin": "torch", ".ckpt": "torch", ".onnx": "onnx"}


def detect_format(path: str | Path) -> str:
    """The reader for ``path`` by its extension."""
    fmt = EXTENSIONS.get(Path(path).suffix.lower())
    if fmt is None:
        raise SbmodelError(f"{path}: cannot tell the checkpoint format from the extension "
                           f"{Path(path).suffix or '(none)'!r}; use one of {', '.join(sorted(EXTENSIONS))} "
                           "or give --format npz|torch|onnx")
    return fmt


def read_checkpoint(path: str | Path, fmt: CheckpointFormat = "auto", *, model: str | None = None,
                    input_shape: Sequence[int] | None = None, calibration: np.ndarray | None = None) -> Checkpoint:
    """Read any supported checkpoint; ``model`` and ``calibration`` apply to PyTorch only."""
    kind = detect_format(path) if fmt == "auto" else fmt
    if kind != "torch" and (model is not None or calibration is not None):
        raise SbmodelError("--model and --calibration apply to PyTorch checkpoints only")
    if kind == "npz":
        return read_npz(path)
    if kind == "torch":
        from .torch import read_torch

        return read_torch(path, model=model, input_shape=input_shape, calibration=calibration)
    if kind == "onnx":
        from .onnx import read_onnx

        return read_onnx(path, input_shape=input_shape)
    raise SbmodelError(f"unknown checkpoint format {fmt!r}; expected auto, npz, torch or onnx")


__all__ = ["Checkpoint", "LayerGeometry", "WeightTensor", "read_checkpoint", "read_npz", "write_npz",
           "detect_format"]
