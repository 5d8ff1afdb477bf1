"""Train the digits ResNet in full precision, binary, ternary and signed-binary; export workloads.

    python -m sbmodel.quant.qat.digits                  # about a minute on 2 cores
    python -m sbmodel.quant.qat.digits --smoke --checkpoint-dir /tmp/d --workload-dir /tmp/d

Data: scikit-learn's bundled ``load_digits`` (1797 8x8 grey images, 10
classes, offline), pixels scaled to [0, 1], a stratified 80/20 split (1437
train, 360 test, seed 0).  Each scheme is trained with quantisation-aware
training (:mod:`.train`), evaluated on the test images with its quantised
weights, saved as an ``.npz`` checkpoint (latent weights, BatchNorm state,
layer geometry, measured accuracy and per-layer input densities), and exported
with :func:`sbmodel.quant.export.export_workload`, exactly as
``sbmodel stats export CHECKPOINT --scheme S --masks -o W.yaml`` would.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

from ...errors import SbmodelError
from ..export import ExportOptions, ProvenanceInfo, export_workload
from ..quantizers import QuantizerConfig, quantize
from ..readers.npz import write_npz
from .train import TrainConfig, TrainResult, train

SHORT_NAMES = {"fp": "fp", "binary": "binary", "ternary": "ternary", "signed-binary": "sb"}
SPLIT_SEED = 0
TEST_FRACTION = 0.2


def load_digits_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test); images as N x 1 x 8 x 8 float32 in [0, 1]."""
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise SbmodelError("the digits example needs scikit-learn: pip install 'sbmodel[train]'") from None
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None, :, :]
    y = digits.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=TEST_FRACTION, stratify=y, random_state=SPLIT_SEED)
    return x_tr, y_tr, x_te, y_te


def quantized_density(result: TrainResult) -> float:
    """Density of the quantised layers' weights, as the network runs them."""
    model = result.model
    layers = dict(model.named_layers())
    names = model.quantized_layer_names()
    if not names:
        return 1.0
    nnz = elements = 0
    for name in names:
        conv = layers[name]
        assert conv.quantizer is not None  # type: ignore[union-attr]
        q = quantize(conv.weight.value, conv.quantizer)  # type: ignore[union-attr]
        nnz += int(np.count_nonzero(q.values))
        elements += q.values.size
    return nnz / elements


def save_checkpoint(path: Path, result: TrainResult, scheme: str, config: TrainConfig, n_train: int,
                    n_test: int) -> None:
    """Latent weights + BN state + sbmodel metadata (geometry, metrics, input densities)."""
    model = result.model
    test = result.test
    metadata = {
        "geometry": {name: g.to_json() for name, g in model.geometry().items()},
        "input_densities": {name: {"nonzeros": test.input_nonzeros[name], "elements": test.input_elements[name]}
                            for name in test.input_nonzeros},
        "metrics": {"test_accuracy": test.accuracy, "train_accuracy": result.train_accuracy,
                    "test_images": float(n_test),
                    "train_images": float(n_train), "epochs": float(result.epochs),
                    "train_seconds": round(result.seconds, 1)},
        "quantized_layers": model.quantized_layer_names(),
        "description": (f"Digits ResNet trained with quantisation-aware training ({scheme}; NumPy, straight-"
                        f"through estimator of the signed-binary reference, Adam lr {config.learning_rate}, "
                        f"{result.epochs} epochs, seed {config.seed}) on scikit-learn digits ({n_train} train / "
                        f"{n_test} test images); test_accuracy measured with the "
                        "quantised weights, input densities measured on the test images."),
    }
    write_npz(path, model.state(), metadata)


def run(schemes: Sequence[str], config: TrainConfig, checkpoint_dir: Path, workload_dir: Path, masks: bool,
        command: str | None) -> list[tuple[str, TrainResult, Path]]:
    """Train, save and export every scheme; returns (scheme, result, workload path)."""
    x_tr, y_tr, x_te, y_te = load_digits_split()
    out = []
    for scheme in schemes:
        quantizer = None if scheme == "fp" else QuantizerConfig(scheme)  # type: ignore[arg-type]
        result = train(x_tr, y_tr, x_te, y_te, quantizer, config)
        short = SHORT_NAMES[scheme]
        ckpt = checkpoint_dir / f"digits_{short}.npz"
        save_checkpoint(ckpt, result, scheme, config, x_tr.shape[0], x_te.shape[0])
        target = workload_dir / f"digits_{short}.yaml"
        options = ExportOptions(
            quantizer=QuantizerConfig(scheme), masks=masks, name=f"digits_{short}",  # type: ignore[arg-type]
            description=f"Digits ResNet (8x8 inputs), {scheme} weights, trained on this CPU",
            provenance=ProvenanceInfo(command=command, notes=(
                f"Statistics alone, from the checkpoint: sbmodel stats export {ckpt} --scheme {scheme}"
                f"{' --masks' if masks else ''} -o {target}")))
        export_workload(ckpt, target, options)
        out.append((scheme, result, target))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sbmodel.quant.qat.digits", description=__doc__.split("\n\n")[0])
    parser.add_argument("--schemes", default="fp,binary,ternary,signed-binary",
                        help="comma-separated schemes to train (default: all four)")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--lr", type=float, default=1e-2, help="Adam learning rate (linear decay to 0)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoke", action="store_true", help="a few training steps only (CI): seconds, not minutes")
    parser.add_argument("--checkpoint-dir", type=Path, default=Path("examples/digits"))
    parser.add_argument("--workload-dir", type=Path, default=Path("workloads"))
    parser.add_argument("--no-masks", action="store_true", help="do not write the 0/1 weight masks")
    args = parser.parse_args(argv)
    schemes = [s.strip() for s in args.schemes.split(",") if s.strip()]
    try:
        for s in schemes:
            if s not in SHORT_NAMES:
                raise SbmodelError(f"unknown scheme {s!r}; expected some of {', '.join(SHORT_NAMES)}")
        for d in (args.checkpoint_dir, args.workload_dir):
            if not d.is_dir():
                raise SbmodelError(f"{d}: folder does not exist")
        config = TrainConfig(epochs=1 if args.smoke else args.epochs, learning_rate=args.lr, seed=args.seed,
                             max_steps=3 if args.smoke else None)
        command = shlex.join(["python", "-m", "sbmodel.quant.qat.digits", *(argv if argv is not None else sys.argv[1:])])
        results = run(schemes, config, args.checkpoint_dir, args.workload_dir, not args.no_masks, command)
    except SbmodelError as exc:
        print(f"digits: error: {exc}", file=sys.stderr)
        return 2
    print(f"{'scheme':<14} {'test acc':>8} {'train acc':>9} {'q-density':>9} {'seconds':>7}  workload")
    for scheme, r, path in results:
        print(f"{scheme:<14} {r.test.accuracy:>8.4f} {r.train_accuracy:>9.4f} {quantized_density(r):>9.4f} "
              f"{r.seconds:>7.1f}  {path}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
