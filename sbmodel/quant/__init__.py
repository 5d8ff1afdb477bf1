"""Weight statistics from real networks: quantizers, checkpoint readers, exporter.

- :mod:`~sbmodel.quant.quantizers`: binary (BWN), ternary (TWN / TTQ) and
  signed-binary quantizers, NumPy only;
- :mod:`~sbmodel.quant.statistics`: per-layer density, nonzeros and unique
  values per filter / region, sign layout, histograms;
- :mod:`~sbmodel.quant.readers`: ``.npz``, PyTorch and ONNX checkpoints;
- :mod:`~sbmodel.quant.geometry`: loop bounds for each weight tensor;
- :mod:`~sbmodel.quant.export`: ``sbmodel stats export``;
- :mod:`~sbmodel.quant.qat`: the NumPy quantisation-aware training example;
- :mod:`~sbmodel.quant.synthetic`: the calibrated ResNet-18 workloads.

Names are imported lazily so ``import sbmodel.quant`` (and the CLI) stay fast.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "QuantizedWeights": "quantizers", "QuantizerConfig": "quantizers", "quantize": "quantizers",
    "binarize": "quantizers", "ternarize": "quantizers", "signed_binarize": "quantizers",
    "RegionSpec": "regions",
    "weight_statistics": "statistics", "tensor_density": "statistics",
    "read_checkpoint": "readers", "place_layers": "geometry",
    "export_workload": "export", "ExportOptions": "export", "ProvenanceInfo": "export", "ExportResult": "export",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'sbmodel.quant' has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


__all__ = sorted(_EXPORTS)
