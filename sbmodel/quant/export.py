"""``sbmodel stats export``: checkpoint -> quantised weights -> workload file with statistics.

:func:`export_workload` reads a checkpoint, places its layers, quantises the
layers the scheme applies to, computes every statistic of
:mod:`sbmodel.quant.statistics`, and writes a workload that
:func:`sbmodel.spec.workload.load_workload` accepts, with a provenance block
saying where each number comes from.  Optionally the 0/1 masks go to an
``.npz`` beside it (one boolean array per layer, in the weight layout
``[M][C/groups][S][R]`` or ``[M][C]``, keyed by layer name).

Which layers stay full precision (``keep_fp="auto"``): the layers the
checkpoint itself lists as quantised decide if it lists them; otherwise the
convention of the signed-binary reference, applied to every scheme: the first
and the last layer, and shortcut convolutions (names containing
``downsample`` or ``shortcut``, or 1x1 convs with stride > 1), stay
full precision.  ``"none"`` quantises everything, any other value is a regular
expression of layer names to keep in full precision.

Files are written to temporaries in the output folder, validated by loading
them back, and only then renamed into place: an error never leaves a
half-written file, and an existing file survives a failed export.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import yaml
from pydantic import ValidationError

from .. import __version__
from ..errors import SbmodelError
from ..spec.workload import TensorStats, WorkloadFile, load_workload
from .geometry import PlacedLayer, place_layers
from .quantizers import QuantizerConfig, quantize
from .readers import read_checkpoint
from .readers.base import Checkpoint
from .regions import FILTER
from .statistics import tensor_density, weight_statistics

_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

CITATIONS: Mapping[str, str] = {
    "binary": "BWN: Rastegari et al., XNOR-Net, ECCV 2016, arXiv:1603.05279",
    "ternary": "TWN: Li, Zhang, Liu, Ternary Weight Networks, arXiv:1605.04711 (2016); "
               "TTQ: Zhu, Han, Mao, Dally, Trained Ternary Quantization, ICLR 2017",
    "signed-binary": "Kuhar, Tumanov, Hoffman, Signed Binary Weight Networks, arXiv:2211.13838 (2022); "
                     "Kuhar, Jain, Tumanov, PLUM, TMLR 2024, arXiv:2312.01581 "
                     "(reference code: github.com/sachitkuhar/PLUM)",
}
SHORTCUT_NAME = re.compile(r"downsample|shortcut")


@dataclass(frozen=True)
class ProvenanceInfo:
    """What the caller knows about the numbers beyond the checkpoint itself."""

    method: str | None = None          # measured | calibrated | synthetic (default: measured)
    source: str | None = None
    citation: str | None = None
    notes: str | None = None
    command: str | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ExportOptions:
    """Everything :func:`export_workload` needs besides the files."""

    quantizer: QuantizerConfig
    keep_fp: str = "auto"
    input_bits: int = 8
    output_bits: int = 16
    masks: bool = False
    name: str | None = None
    description: str | None = None
    provenance: ProvenanceInfo = ProvenanceInfo()


@dataclass(frozen=True)
class LayerSummary:
    name: str
    scheme: str
    weights: int
    nonzeros: int
    density: float


@dataclass(frozen=True)
class ExportResult:
    workload_path: Path
    mask_path: Path | None
    layers: tuple[LayerSummary, ...]
    metrics: Mapping[str, float]

    def summary(self) -> dict[str, Any]:
        """The JSON of DESIGN.md section 3 (plus the file names and totals)."""
        return {
            "workload": str(self.workload_path),
            "masks": str(self.mask_path) if self.mask_path else None,
            "layers": [{"name": s.name, "scheme": s.scheme, "weights": s.weights, "nonzeros": s.nonzeros,
                        "density": s.density} for s in self.layers],
            "totals": dict(self.metrics),
        }


def full_precision_layers(layers: Sequence[PlacedLayer], keep_fp: str,
                          quantized_hint: Sequence[str] | None) -> set[str]:
    """Names of the layers that stay full precision (see the module docstring)."""
    names = [layer.name for layer in layers]
    if keep_fp == "none":
        return set()
    if keep_fp != "auto":
        try:
            pattern = re.compile(keep_fp)
        except re.error as exc:
            raise SbmodelError(f"--keep-fp: not a regular expression: {keep_fp!r} ({exc})") from None
        return {n for n in names if pattern.search(n)}
    if quantized_hint is not None:
        unknown = set(quantized_hint) - set(names)
        if unknown:
            raise SbmodelError(f"the checkpoint lists quantised layers it does not contain: {sorted(unknown)}")
        return set(names) - set(quantized_hint)
    keep = {names[0], names[-1]}
    for layer in layers:
        g = layer.geometry
        if SHORTCUT_NAME.search(layer.name) or (g.type == "conv" and g.R == g.S == 1 and
                                                max(g.Wstride, g.Hstride) > 1):
            keep.add(layer.name)
    return keep


def read_activations(path: str | Path, layer_names: Sequence[str]) -> dict[str, TensorStats]:
    """Input densities from an .npz of calibration activations keyed by layer name."""
    p = str(path)
    try:
        archive = np.load(p, allow_pickle=False)
    except FileNotFoundError:
        raise SbmodelError(f"{p}: file not found") from None
    except (ValueError, OSError, EOFError) as exc:
        raise SbmodelError(f"{p}: not a readable .npz archive of activations ({exc})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise SbmodelError(f"{p}: expected an .npz archive of activations keyed by layer name")
    out: dict[str, TensorStats] = {}
    with archive:
        for key in archive.files:
            if key not in layer_names:
                raise SbmodelError(f"{p}: activations {key!r} name no layer of the checkpoint "
                                   f"(layers: {', '.join(layer_names[:5])}{', ...' if len(layer_names) > 5 else ''})")
            try:
                array = archive[key]
            except (ValueError, OSError, EOFError) as exc:
                raise SbmodelError(f"{p}: activations {key!r} cannot be read ({exc})") from None
            if array.dtype.kind not in "fiub" or array.size == 0:
                raise SbmodelError(f"{p}: activations {key!r} must be a non-empty numeric array")
            out[key] = tensor_density(array)
    return out


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _describe_quantizer(cfg: QuantizerConfig) -> str:
    if cfg.scheme == "binary":
        return "binary (BWN): sign(W) * mean|W| per filter"
    if cfg.scheme == "ternary":
        t = cfg.threshold_factor
        return {"twn": f"ternary (TWN): delta = {t if t is not None else 0.7} * mean|W| per layer",
                "twn-filter": f"ternary (TWN per filter): delta = {t if t is not None else 0.75} * mean|W_f|",
                "ttq": f"ternary (TTQ thresholds): delta = {t if t is not None else 0.05} * max|W|"
                }[cfg.ternary_method]
    if cfg.scheme == "signed-binary":
        t = cfg.threshold_factor if cfg.threshold_factor is not None else 0.05
        return (f"signed-binary: regions {cfg.region.label()}, sign policy {cfg.sign_policy}, "
                f"delta = {t} * max|W_region|, scale 1")
    return f"{cfg.scheme}: weights as stored in the checkpoint"


class _FlowDumper(_Dumper):  # type: ignore[misc, valid-type]
    """YAML dumper that writes lists of scalars on one line (``[1, 2, 3]``)."""


def _represent_list(dumper: Any, data: list[Any]) -> Any:
    flow = all(not isinstance(x, (list, dict)) for x in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_FlowDumper.add_representer(list, _represent_list)


def dump_workload_yaml(data: Mapping[str, Any]) -> str:
    """Workload data as YAML text (block mappings, flow-style number lists)."""
    return yaml.dump(dict(data), Dumper=_FlowDumper, sort_keys=False, default_flow_style=False, width=120,
                     allow_unicode=True)


def _layer_entry(layer: PlacedLayer, stats: dict[str, Any], weight_bits: int, default_bits: int,
                 input_bits: int, output_bits: int) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": layer.name, **layer.geometry.layer_fields()}
    if weight_bits != default_bits:
        entry["bits"] = {"weights": weight_bits, "inputs": input_bits, "outputs": output_bits}
    entry["stats"] = stats
    return entry


def build_workload(ckpt: Checkpoint, layers: Sequence[PlacedLayer], geometry_source: str, options: ExportOptions,
                   input_densities: Mapping[str, TensorStats], name: str,
                   mask_name: str | None) -> tuple[dict[str, Any], dict[str, np.ndarray], list[LayerSummary]]:
    """The workload data (validated), the masks and the per-layer summary."""
    cfg = options.quantizer
    fp = set() if cfg.scheme in ("fp", "as-is") else full_precision_layers(layers, options.keep_fp,
                                                                             ckpt.quantized_layers)
    entries: list[dict[str, Any]] = []
    masks: dict[str, np.ndarray] = {}
    summary: list[LayerSummary] = []
    q_nnz = q_elems = 0
    for layer in layers:
        layer_cfg = replace(cfg, scheme="fp", region=FILTER) if layer.name in fp else cfg
        q = quantize(layer.weights, layer_cfg)
        key = layer.name.replace(":", "_")
        ws = weight_statistics(q, mask=f"{mask_name}:{key}" if mask_name else None)
        if mask_name:
            masks[key] = q.values != 0
        stats: dict[str, Any] = {"weights": ws.model_dump(exclude_none=True)}
        if layer.name in input_densities:
            stats["inputs"] = input_densities[layer.name].model_dump(exclude_none=True)
        entries.append(_layer_entry(layer, stats, q.bits, cfg.fp_bits, options.input_bits, options.output_bits))
        summary.append(LayerSummary(layer.name, q.scheme, ws.elements or 0, ws.nonzeros or 0, ws.density))
        if layer.name not in fp:
            q_nnz += ws.nonzeros or 0
            q_elems += ws.elements or 0
    total_nnz = sum(s.nonzeros for s in summary)
    total = sum(s.weights for s in summary)
    metrics: dict[str, float] = {**{k: float(v) for k, v in ckpt.metrics.items()},
                                 **{k: float(v) for k, v in options.provenance.metrics.items()},
                                 "weights": float(total), "nonzero_weights": float(total_nnz),
                                 "weight_density": total_nnz / total}
    if q_elems and cfg.scheme not in ("fp", "as-is"):
        metrics["quantized_layers_weight_density"] = q_nnz / q_elems
    provenance = _provenance(ckpt, options, geometry_source, fp, input_densities, metrics, len(layers))
    data = {"workload": {
        "name": name,
        "description": options.description or f"{cfg.scheme} weight statistics of {Path(ckpt.path).name}",
        "provenance": provenance,
        "bits": {"weights": cfg.fp_bits, "inputs": options.input_bits, "outputs": options.output_bits},
        "layers": entries,
    }}
    try:
        WorkloadFile.model_validate(data)
    except ValidationError as exc:  # a bug in this module, reported without a traceback
        raise SbmodelError(f"internal error: the exported workload does not validate: {exc}") from None
    return data, masks, summary


def _provenance(ckpt: Checkpoint, options: ExportOptions, geometry_source: str, fp: set[str],
                densities: Mapping[str, TensorStats], metrics: Mapping[str, float], n_layers: int) -> dict[str, Any]:
    info = options.provenance
    cfg = options.quantizer
    quant = _describe_quantizer(cfg)
    default_source = (f"{ckpt.format} checkpoint {Path(ckpt.path).name} (sha256 {_sha256(ckpt.path)[:16]}), "
                      f"{n_layers} layers; weights quantised by sbmodel {__version__}: {quant}")
    notes = []
    if info.source:
        notes.append(f"Quantizer: {quant}.")
    if fp:
        notes.append(f"Full precision ({len(fp)} layers, keep-fp={options.keep_fp}): "
                     + ", ".join(sorted(fp)) + ".")
    notes.append(f"Layer geometry: {geometry_source}.")
    notes.append(f"Input (activation) densities: {len(densities)} layers measured on calibration data."
                 if densities else "Input (activation) densities: not measured (no calibration data).")
    if ckpt.description:
        notes.append(ckpt.description)
    if info.notes:
        notes.append(info.notes)
    out: dict[str, Any] = {
        "method": info.method or "measured",
        "source": info.source or default_source,
    }
    citation = info.citation or CITATIONS.get(cfg.scheme)
    if citation:
        out["citation"] = citation
    if info.command:
        out["command"] = info.command
    out["created"] = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
    out["tool_version"] = __version__
    out["metrics"] = dict(metrics)
    out["notes"] = " ".join(notes)
    return out


def _temp_beside(target: Path, stack: ExitStack) -> Path:
    """A temporary file next to ``target`` (same file system, so the final rename is atomic)."""
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)  # mkstemp makes 0600; give the final file the usual permissions
    os.close(fd)
    tmp = Path(name)
    stack.callback(lambda: tmp.unlink(missing_ok=True))
    return tmp


def export_workload(checkpoint: str | Path, output: str | Path, options: ExportOptions, *,
                    fmt: str = "auto", model: str | None = None, input_shape: Sequence[int] | None = None,
                    calibration: np.ndarray | None = None, shapes: str | Path | None = None,
                    activations: str | Path | None = None,
                    input_densities: Mapping[str, TensorStats] | None = None) -> ExportResult:
    """Export the weight statistics of ``checkpoint`` to the workload file ``output``."""
    out = Path(output)
    if out.suffix.lower() not in (".yaml", ".yml"):
        raise SbmodelError(f"{out}: the output must be a .yaml file")
    if not out.parent.is_dir():
        raise SbmodelError(f"{out}: folder {out.parent} does not exist")
    ckpt = read_checkpoint(checkpoint, fmt, model=model, input_shape=input_shape,  # type: ignore[arg-type]
                           calibration=calibration)
    if ckpt.format == "npz" and ckpt.geometry and input_shape is not None and shapes is None:
        raise SbmodelError(f"{checkpoint}: the checkpoint records its layer shapes; --input-shape is not used, "
                           "drop it")
    placement = place_layers(ckpt, input_shape if ckpt.format != "onnx" else None, shapes)
    densities: dict[str, TensorStats] = dict(ckpt.input_densities)
    if activations is not None:
        densities.update(read_activations(activations, [layer.name for layer in placement.layers]))
    densities.update(input_densities or {})
    mask_path = out.with_suffix(".npz") if options.masks else None
    data, masks, summary = build_workload(ckpt, placement.layers, placement.source, options, densities,
                                          options.name or out.stem, mask_path.name if mask_path else None)
    with ExitStack() as stack:
        tmp_yaml = _temp_beside(out, stack)
        tmp_yaml.write_text(dump_workload_yaml(data), encoding="utf-8")
        load_workload(tmp_yaml)  # what we write must read back
        tmp_masks = None
        if mask_path is not None:
            tmp_masks = _temp_beside(mask_path, stack)
            with open(tmp_masks, "wb") as fh:
                np.savez_compressed(fh, **masks)
        if tmp_masks is not None and mask_path is not None:
            os.replace(tmp_masks, mask_path)
        os.replace(tmp_yaml, out)
    return ExportResult(out, mask_path, tuple(summary), data["workload"]["provenance"]["metrics"])
