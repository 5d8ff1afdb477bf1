"""NumPy ``.npz`` checkpoints.

Every array of rank 4 or 2 is a layer weight (``name.weight`` names the layer
``name``); arrays of rank 0 or 1 (biases, BatchNorm parameters and statistics)
are not layers and are skipped; any other rank is an error.  Arrays are read in
file order, which is the network order :mod:`sbmodel.quant.geometry` relies on
when it has to infer shapes.

An optional entry ``__sbmodel__`` (a 0-d string array holding JSON), written by
sbmodel's own tools, adds what weights alone cannot say::

    {"format": "sbmodel-checkpoint/1",
     "geometry": {"layer": {"type": "conv", "C": 16, "M": 16, "P": 8, ...}},
     "input_densities": {"layer": {"nonzeros": 123, "elements": 456}},
     "metrics": {"test_accuracy": 0.97},
     "quantized_layers": ["layer", ...],
     "description": "..."}

Objects are never unpickled (``allow_pickle=False``).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ...errors import SbmodelError
from ...spec.workload import TensorStats
from .base import Checkpoint, LayerGeometry, WeightTensor, check_unique_names, weight_tensor

METADATA_KEY = "__sbmodel__"
METADATA_FORMAT = "sbmodel-checkpoint/1"


def _metadata(path: str, raw: np.ndarray) -> dict[str, Any]:
    try:
        data = json.loads(str(raw[()]))
    except (ValueError, TypeError, IndexError) as exc:
        raise SbmodelError(f"{path}: entry {METADATA_KEY!r} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != METADATA_FORMAT:
        raise SbmodelError(f"{path}: entry {METADATA_KEY!r} must be a JSON object with "
                           f"\"format\": \"{METADATA_FORMAT}\"")
    return data


def _densities(path: str, data: Mapping[str, Any]) -> dict[str, TensorStats]:
    out: dict[str, TensorStats] = {}
    for name, d in data.items():
        try:
            nnz, elements = int(d["nonzeros"]), int(d["elements"])
        except (KeyError, TypeError, ValueError):
            raise SbmodelError(f"{path}: input density of layer {name!r} needs integer "
                               "'nonzeros' and 'elements'") from None
        if elements < 1 or not 0 <= nnz <= elements:
            raise SbmodelError(f"{path}: input density of layer {name!r}: need 0 <= nonzeros <= elements, "
                               f"elements >= 1 (got {nnz}, {elements})")
        out[name] = TensorStats(density=nnz / elements, nonzeros=nnz, elements=elements)
    return out


def read_npz(path: str | Path) -> Checkpoint:
    """Read a ``.npz`` checkpoint (see the module docstring)."""
    p = str(path)
    try:
        archive = np.load(p, allow_pickle=False)
    except FileNotFoundError:
        raise SbmodelError(f"{p}: file not found") from None
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise SbmodelError(f"{p}: not a readable .npz archive ({exc})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise SbmodelError(f"{p}: a single .npy array, not an .npz archive of named tensors")
    tensors: list[WeightTensor] = []
    meta: dict[str, Any] = {}
    with archive:
        for key in archive.files:
            try:
                array = archive[key]
            except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
                raise SbmodelError(f"{p}: tensor {key!r} cannot be read ({exc})") from None
            if key == METADATA_KEY:
                meta = _metadata(p, array)
            elif key.startswith("__") or array.ndim < 2:
                continue
            else:
                tensors.append(weight_tensor(p, key, array))
    check_unique_names(p, tensors)
    geometry = {name: LayerGeometry.from_json(g, f"{p}: {METADATA_KEY} geometry of {name!r}")
                for name, g in (meta.get("geometry") or {}).items()}
    metrics = meta.get("metrics") or {}
    if not isinstance(metrics, dict) or not all(isinstance(v, (int, float)) for v in metrics.values()):
        raise SbmodelError(f"{p}: {METADATA_KEY} metrics must map names to numbers")
    quantized = meta.get("quantized_layers")
    return Checkpoint(
        path=p, format="npz", tensors=tuple(tensors), geometry=geometry,
        geometry_source=f"sbmodel metadata in {Path(p).name}" if geometry else None,
        input_densities=_densities(p, meta.get("input_densities") or {}),
        metrics={k: float(v) for k, v in metrics.items()},
        quantized_layers=tuple(quantized) if quantized is not None else None,
        description=meta.get("description"),
    )


def write_npz(path: str | Path, arrays: Mapping[str, np.ndarray], metadata: Mapping[str, Any] | None = None) -> None:
    """Write a checkpoint that :func:`read_npz` reads back, metadata included."""
    payload: dict[str, np.ndarray] = dict(arrays)
    if metadata is not None:
        payload[METADATA_KEY] = np.array(json.dumps({"format": METADATA_FORMAT, **metadata}))
    with open(path, "wb") as fh:
        np.savez(fh, **payload)
