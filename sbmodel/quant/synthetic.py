"""ResNet-18 workloads from calibrated synthetic weights (no ImageNet checkpoint is available offline).

    python -m sbmodel.quant.synthetic --workload-dir workloads

What the numbers are.  Every layer's latent weights are drawn i.i.d. from a
zero-mean *generalised Gaussian* ``p(w) ~ exp(-|w / a|^beta)`` (beta = 2:
Gaussian, beta = 1: Laplace; trained conv weights are peaked and heavy-tailed,
close to Laplace).  One shape ``beta`` serves the whole network; it is the
single free parameter, fitted by bisection so that the signed-binary reference
quantizer (one region per filter, halves, ``delta_f = 0.05 max|W_f|``) leaves
31 % of the 16 block 3x3 conv weights nonzero: the 69 % sparsity Kuhar et
al. report for signed-binary networks (arXiv:2211.13838).  The same tensors are
then quantised by every scheme, so the four files differ only by the scheme.
The scale ``a`` is irrelevant (every threshold is relative to the tensor) and
is set to Kaiming's ``sqrt(2 / fan_in)`` standard deviation.

Independent check, not used in the fit: PLUM (TMLR 2024) reports 2.8x lower
density than binary for ResNet-18 as a whole; the metric
``binary_over_sb_density`` in ``resnet18_sb.yaml`` is that ratio here (the
stem, the 1x1 downsample convs and the FC stay full precision, i.e. dense).

What is *not* calibrated: ternary densities follow from the same distribution
(no published per-layer ResNet-18 TWN density was used); binary density is 1
for any real-valued weights; activation densities are left out (they need a
trained network and images).  Anyone with a checkpoint replaces all of this
with measured numbers, e.g. for a torchvision-layout state dict::

    sbmodel stats export resnet18_sb.pth --scheme signed-binary --input-shape 1,3,224,224 \\
        -o workloads/resnet18_sb.yaml
"""

from __future__ import annotations

import argparse
import math
import shlex
import sys
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import SbmodelError
from .export import ExportOptions, ProvenanceInfo, export_workload
from .quantizers import QuantizerConfig, signed_binarize
from .readers.npz import write_npz
from .resnet18 import is_block_conv, resnet18_layers

TARGET_SB_DENSITY = 0.31  # 69 % sparsity: Kuhar, Tumanov, Hoffman, arXiv:2211.13838, abstract
PUBLISHED_BINARY_OVER_SB = 2.8  # PLUM, Kuhar, Jain, Tumanov, TMLR 2024, arXiv:2312.01581, abstract
SEED = 18
FILES = {"fp": "resnet18_fp", "binary": "resnet18_binary", "ternary": "resnet18_ternary",
         "signed-binary": "resnet18_sb"}
CITATIONS = {
    "shapes": "He, Zhang, Ren, Sun, Deep Residual Learning for Image Recognition, CVPR 2016 (ResNet-18 layers)",
    "sparsity": "Kuhar, Tumanov, Hoffman, Signed Binary Weight Networks, arXiv:2211.13838 (2022): 69% sparsity",
    "plum": "Kuhar, Jain, Tumanov, PLUM, TMLR 2024, arXiv:2312.01581: 2.8x lower density than binary, ResNet-18",
}
REGENERATE = "sbmodel stats export CHECKPOINT.pth --scheme {scheme} --input-shape 1,3,224,224 -o workloads/{file}.yaml"


def generalized_gaussian(rng: np.random.Generator, shape: tuple[int, ...], beta: float, std: float) -> np.ndarray:
    """Samples of ``exp(-|w/a|^beta)`` scaled to standard deviation ``std`` (|w/a|^beta ~ Gamma(1/beta))."""
    magnitude = rng.standard_gamma(1.0 / beta, size=shape) ** (1.0 / beta)
    sign = np.where(rng.random(size=shape) < 0.5, -1.0, 1.0)
    unit_std = math.sqrt(math.gamma(3.0 / beta) / math.gamma(1.0 / beta))
    return (sign * magnitude * (std / unit_std)).astype(np.float32)


def synthetic_resnet18(beta: float, seed: int = SEED, block_convs_only: bool = False) -> dict[str, np.ndarray]:
    """Latent weights of every ResNet-18 layer (torchvision names, ``.weight`` keys), in network order."""
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    for name, g in resnet18_layers():
        if block_convs_only and not is_block_conv(name):
            continue
        shape = g.weight_shape()
        fan_in = int(np.prod(shape[1:]))
        out[f"{name}.weight"] = generalized_gaussian(rng, shape, beta, math.sqrt(2.0 / fan_in))
    return out


def block_conv_sb_density(beta: float, seed: int = SEED) -> float:
    """Density the reference signed-binary quantizer leaves in the 16 block 3x3 convs."""
    nnz = total = 0
    for w in synthetic_resnet18(beta, seed, block_convs_only=True).values():
        q = signed_binarize(w)
        nnz += int(np.count_nonzero(q.codes))
        total += w.size
    return nnz / total


def sb_network_density(weights: dict[str, np.ndarray]) -> float:
    """Whole-network density when only the block convs are signed-binary (the rest dense)."""
    nnz = sum(int(np.count_nonzero(signed_binarize(w).codes)) if is_block_conv(key[: -len(".weight")])
              else int(np.count_nonzero(w)) for key, w in weights.items())
    return nnz / sum(w.size for w in weights.values())


def calibrate_beta(target: float = TARGET_SB_DENSITY, seed: int = SEED, lo: float = 0.4, hi: float = 2.0,
                   tolerance: float = 1e-3) -> float:
    """Bisection on beta (density rises with beta: lighter tails, lower max, lower threshold)."""
    d_lo, d_hi = block_conv_sb_density(lo, seed), block_conv_sb_density(hi, seed)
    if not d_lo <= target <= d_hi:
        raise SbmodelError(f"target density {target} outside [{d_lo:.3f}, {d_hi:.3f}] for beta in [{lo}, {hi}]")
    while hi - lo > tolerance:
        mid = 0.5 * (lo + hi)
        if block_conv_sb_density(mid, seed) < target:
            lo = mid
        else:
            hi = mid
    return round(0.5 * (lo + hi), 4)


def write_workloads(workload_dir: Path, beta: float, seed: int, command: str | None) -> dict[str, Path]:
    """Quantise one synthetic ResNet-18 with every scheme and write the four workload files."""
    weights = synthetic_resnet18(beta, seed)
    layers = resnet18_layers()
    quantized = [name for name, _ in layers if is_block_conv(name)]
    sb_block_density = block_conv_sb_density(beta, seed)
    metadata = {"geometry": {name: g.to_json() for name, g in layers}, "quantized_layers": quantized}
    written: dict[str, Path] = {}
    densities: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = Path(tmp) / "resnet18_synthetic.npz"
        write_npz(ckpt, weights, metadata)
        for scheme, file in FILES.items():
            source = (f"Synthetic latent weights, not a trained network: every ResNet-18 layer drawn i.i.d. from a "
                      f"generalised Gaussian exp(-|w/a|^beta), beta = {beta} (seed {seed}), then quantised "
                      f"with sbmodel's {scheme} rules.")
            if scheme == "signed-binary":
                method = "calibrated"
                source += (f" beta was fitted so that the reference signed-binary quantizer leaves "
                           f"{TARGET_SB_DENSITY:.0%} of the 16 block 3x3 conv weights nonzero (69% sparsity).")
            else:
                method = "synthetic"
                source += (f" beta was fitted to the published signed-binary sparsity (see resnet18_sb.yaml); the "
                           f"{scheme} statistics are what that distribution gives, not a published {scheme} figure.")
            metrics = {"generalized_gaussian_beta": beta, "seed": float(seed)}
            if scheme == "signed-binary":
                metrics.update(target_block_conv_density=TARGET_SB_DENSITY, block_conv_density=sb_block_density,
                               binary_over_sb_density=densities["binary"] / sb_network_density(weights),
                               published_binary_over_sb_density=PUBLISHED_BINARY_OVER_SB)
            citation = "; ".join([CITATIONS["shapes"], CITATIONS["sparsity"], CITATIONS["plum"]])
            notes = ("Layer shapes: ImageNet ResNet-18, batch 1, 224x224 input. "
                     "Activation (input) densities are left out: they need a trained network and images. "
                     "With a trained checkpoint (torchvision layout) regenerate this file with: "
                     + REGENERATE.format(scheme=scheme, file=file))
            options = ExportOptions(
                quantizer=QuantizerConfig(scheme),  # type: ignore[arg-type]
                name=file, description=f"ImageNet ResNet-18, {scheme} weights (calibrated synthetic statistics)",
                provenance=ProvenanceInfo(method=method, source=source, citation=citation, notes=notes,
                                          command=command, metrics=metrics))
            result = export_workload(ckpt, workload_dir / f"{file}.yaml", options)
            densities[scheme] = result.metrics["weight_density"]
            written[scheme] = result.workload_path
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sbmodel.quant.synthetic",
                                     description="Write workloads/resnet18_{fp,binary,ternary,sb}.yaml from "
                                     "calibrated synthetic weights.")
    parser.add_argument("--workload-dir", type=Path, default=Path("workloads"))
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--beta", type=float, help="skip the calibration and use this shape")
    args = parser.parse_args(argv)
    try:
        if not args.workload_dir.is_dir():
            raise SbmodelError(f"{args.workload_dir}: folder does not exist")
        beta = args.beta if args.beta is not None else calibrate_beta(seed=args.seed)
        command = shlex.join(["python", "-m", "sbmodel.quant.synthetic",
                              *(argv if argv is not None else sys.argv[1:])])
        written = write_workloads(args.workload_dir, beta, args.seed, command)
    except SbmodelError as exc:
        print(f"synthetic: error: {exc}", file=sys.stderr)
        return 2
    for scheme, path in written.items():
        print(f"{scheme:<14} {path}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
