"""Arguments and handler of ``sbmodel stats export`` (kept light: heavy imports happen in the handler)."""

from __future__ import annotations

import argparse
import json
import shlex
import sys

SCHEME_CHOICES = ("fp", "binary", "ternary", "signed-binary", "as-is")

EXPORT_DESCRIPTION = """\
Read a trained checkpoint (NumPy .npz, PyTorch state_dict .pt/.pth, ONNX .onnx), quantise its
weights with SCHEME and write per-layer weight statistics (density, nonzeros and unique values
per filter / region, sign layout, value and zero-run histograms) into a workload file, with a
provenance block. By the signed-binary reference convention the first and last layers and the
shortcut convs stay full precision (see --keep-fp)."""


def add_export_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``sbmodel stats export``."""
    p.add_argument("checkpoint", metavar="CHECKPOINT", help="trained weights: .npz, .pt/.pth or .onnx")
    p.add_argument("--scheme", required=True, choices=SCHEME_CHOICES,
                   help="quantisation to apply (fp / as-is: keep the stored values)")
    p.add_argument("-o", "--output", required=True, metavar="WORKLOAD.yaml", help="workload file to write")
    p.add_argument("--json", action="store_true", help='print {"layers": [{name, scheme, weights, nonzeros, '
                   'density}]} as JSON')
    g = p.add_argument_group("layer shapes")
    g.add_argument("--format", default="auto", choices=("auto", "npz", "torch", "onnx"),
                   help="checkpoint format (default: from the extension)")
    g.add_argument("--input-shape", metavar="N,C,H,W",
                   help="network input; without a model or recorded shapes, layer shapes are inferred from "
                   "the weights by the ResNet convention")
    g.add_argument("--model", metavar="MODULE:FACTORY",
                   help="PyTorch: a factory returning the nn.Module; shapes come from a traced forward pass")
    g.add_argument("--shapes", metavar="WORKLOAD.yaml", help="take layer shapes from this workload (by name)")
    g = p.add_argument_group("quantisation")
    g.add_argument("--keep-fp", default="auto", metavar="auto|none|REGEX",
                   help="layers left in full precision (default auto: what the checkpoint says, else first, "
                   "last and shortcut layers)")
    g.add_argument("--ternary", default="twn", choices=("twn", "twn-filter", "ttq"),
                   help="ternary thresholds: TWN per layer (0.7 mean|W|), per filter (0.75), TTQ (0.05 max|W|)")
    g.add_argument("--threshold-factor", type=float, metavar="T", help="override the threshold factor")
    g.add_argument("--region", default="filter", metavar="filter|block:K|tensor",
                   help="signed-binary regions (default: one per output filter)")
    g.add_argument("--sign-policy", default="halves", choices=("halves", "majority"),
                   help="signed-binary region signs: first half +, second half - (reference), or majority")
    g.add_argument("--fp-bits", type=int, default=8, help="bits of a full-precision weight (default 8)")
    g.add_argument("--input-bits", type=int, default=8, help="bits of an input activation (default 8)")
    g.add_argument("--output-bits", type=int, default=16, help="bits of an output (default 16)")
    g = p.add_argument_group("extras and provenance")
    g.add_argument("--masks", action="store_true", help="also write the 0/1 weight masks to WORKLOAD.npz")
    g.add_argument("--activations", metavar="ACTS.npz",
                   help="calibration activations (each layer's inputs, keyed by layer name) for input densities")
    g.add_argument("--calibration", metavar="INPUTS.npy",
                   help="PyTorch with --model: network inputs to run for input densities")
    g.add_argument("--name", help="workload name (default: the output file's stem)")
    g.add_argument("--metric", action="append", default=[], metavar="KEY=VALUE",
                   help="a measured figure for the provenance, e.g. test_accuracy=0.69 (repeatable)")
    g.add_argument("--provenance-method", choices=("measured", "calibrated", "synthetic"),
                   help="how the numbers were obtained (default measured)")
    g.add_argument("--source", help="provenance source text (default: the checkpoint and its hash)")
    g.add_argument("--citation", help="provenance citation (default: the quantizer's paper)")
    g.add_argument("--notes", help="extra provenance notes")


def _metrics(items: list[str]) -> dict[str, float]:
    from ..errors import SbmodelError

    out: dict[str, float] = {}
    for item in items:
        key, sep, value = item.partition("=")
        try:
            out[key.strip()] = float(value)
        except ValueError:
            key = ""
        if not sep or not key.strip():
            raise SbmodelError(f"--metric must look like KEY=NUMBER, got {item!r}")
    return out


def run_export(args: argparse.Namespace) -> int:
    """Handler of ``sbmodel stats export``."""
    import numpy as np

    from ..errors import SbmodelError
    from .export import ExportOptions, ProvenanceInfo, export_workload
    from .geometry import parse_shape
    from .quantizers import QuantizerConfig
    from .regions import RegionSpec

    region = RegionSpec.parse(args.region)
    if region.kind != "filter" and args.scheme != "signed-binary":
        raise SbmodelError("--region applies to --scheme signed-binary only")
    quantizer = QuantizerConfig(scheme=args.scheme, ternary_method=args.ternary,
                                threshold_factor=args.threshold_factor, region=region,
                                sign_policy=args.sign_policy, fp_bits=args.fp_bits)
    for flag in ("input_bits", "output_bits"):
        if getattr(args, flag) < 1:
            raise SbmodelError(f"--{flag.replace('_', '-')} must be >= 1")
    command = shlex.join(["sbmodel", *sys.argv[1:]]) if sys.argv[1:3] == ["stats", "export"] else None
    options = ExportOptions(
        quantizer=quantizer, keep_fp=args.keep_fp, input_bits=args.input_bits, output_bits=args.output_bits,
        masks=args.masks, name=args.name,
        provenance=ProvenanceInfo(method=args.provenance_method, source=args.source, citation=args.citation,
                                  notes=args.notes, command=command, metrics=_metrics(args.metric)))
    calibration = None
    if args.calibration:
        try:
            calibration = np.load(args.calibration, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise SbmodelError(f"{args.calibration}: not a readable .npy array ({exc})") from None
        if not isinstance(calibration, np.ndarray) or calibration.dtype.kind not in "fiu":
            raise SbmodelError(f"{args.calibration}: expected one numeric .npy array of network inputs")
    result = export_workload(
        args.checkpoint, args.output, options, fmt=args.format, model=args.model,
        input_shape=parse_shape(args.input_shape) if args.input_shape else None,
        calibration=calibration, shapes=args.shapes, activations=args.activations)
    if args.json:
        print(json.dumps(result.summary(), indent=1))
    else:
        for s in result.layers:
            print(f"{s.name:<32} {s.scheme:<14} {s.weights:>10} weights  density {s.density:.4f}")
        print(f"wrote {result.workload_path}" + (f" and {result.mask_path}" if result.mask_path else ""))
    return 0
