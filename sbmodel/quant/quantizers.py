"""Weight quantizers for binary, ternary and signed-binary networks (NumPy only).

Each quantizer maps latent (full-precision) weights to the values the deployed
network multiplies with, and says which integer *code* (-1, 0, +1) each weight
holds, so statistics can be computed on either.  The rules, from the papers and
the signed-binary reference implementation (see docs/weight_statistics.md):

- **binary** (BWN, Rastegari et al. 2016): ``sign(W_f) * mean|W_f|`` per output
  filter ``f``; ``sign(0) = +1`` as in the reference implementation's
  ``binary_sign``.
- **ternary** (TWN, Li et al. 2016): ``delta = 0.7 * mean|W|`` over the layer,
  ``alpha = mean of |W| where |W| > delta``; ``twn-filter`` does the same per
  filter with 0.75; **TTQ** (Zhu et al. 2017): ``delta = 0.05 * max|W|`` per
  layer and separate positive / negative scales.  TTQ learns those scales during
  training; from latent weights alone we take the mean magnitude of the weights
  above the threshold on each side (TTQ's initialisation).
- **signed-binary** (Kuhar et al. 2022, PLUM, TMLR 2024): each region is
  ``{0, +1}`` or ``{0, -1}``; weight ``w`` of a region with sign ``s`` is ``s``
  when ``s * w >= delta_region`` and 0 otherwise, with ``delta_region = 0.05 *
  max|W_region|`` and scale 1 (BatchNorm follows).  The reference uses one region
  per filter and gives the first ``M // 2`` filters the sign +1 and the rest -1
  (``halves``); ``majority`` gives each region the sign of the majority of its
  weights with ``|w| >= delta`` (ties: +1).  One deliberate difference: exact
  zeros stay 0 (the reference turns a filter that is all zeros, where
  ``delta = 0``, into all +-1).

Everything is vectorised over the whole tensor; nothing loops over weights.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Mapping

import numpy as np

from ..errors import SbmodelError
from .regions import FILTER, RegionSpec, as_4d, filter_matrix, from_region_matrix, region_matrix

SchemeName = Literal["fp", "binary", "ternary", "signed-binary", "as-is"]
TernaryMethod = Literal["twn", "twn-filter", "ttq"]
SignPolicy = Literal["halves", "majority"]

SCHEMES: tuple[str, ...] = ("fp", "binary", "ternary", "signed-binary", "as-is")
TERNARY_METHODS: tuple[str, ...] = ("twn", "twn-filter", "ttq")
SIGN_POLICIES: tuple[str, ...] = ("halves", "majority")

# Default threshold factors (delta = factor * statistic), with where they come from.
DEFAULT_THRESHOLD: Mapping[str, float] = {
    "twn": 0.7,          # Li et al. 2016, delta = 0.7 * mean|W| per layer
    "twn-filter": 0.75,  # per-filter variant (0.75, as in the official TWN code per DESIGN.md)
    "ttq": 0.05,         # Zhu et al. 2017, delta = t * max|W|, t = 0.05
    "signed-binary": 0.05,  # Kuhar et al. reference: delta_f = 0.05 * max|W_f|
}

# Bits per stored weight code.  Signed-binary stores one bit per weight (zero or
# the region's single value); the sign is one bit of metadata per region.
CODE_BITS: Mapping[str, int] = {"binary": 1, "ternary": 2, "signed-binary": 1}


@dataclass(frozen=True)
class QuantizedWeights:
    """A quantised weight tensor: the values used at inference plus their codes."""

    values: np.ndarray            # float32, same shape as the latent weights
    codes: np.ndarray | None      # int8 in {-1, 0, +1}; None for fp / as-is
    scheme: SchemeName
    bits: int                     # bits per stored weight
    region: RegionSpec = FILTER   # regions the scheme's sign / scale is defined on
    params: Mapping[str, object] = field(default_factory=dict)  # quantizer settings, for provenance


@dataclass(frozen=True)
class QuantizerConfig:
    """Which quantizer to apply and its settings (defaults: the published rules)."""

    scheme: SchemeName
    ternary_method: TernaryMethod = "twn"
    threshold_factor: float | None = None  # None: DEFAULT_THRESHOLD of the method
    region: RegionSpec = FILTER            # signed-binary only
    sign_policy: SignPolicy = "halves"     # signed-binary only
    fp_bits: int = 8                       # bits of a weight left in full precision

    def __post_init__(self) -> None:
        if self.scheme not in SCHEMES:
            raise SbmodelError(f"unknown scheme {self.scheme!r}; expected one of {', '.join(SCHEMES)}")
        if self.ternary_method not in TERNARY_METHODS:
            raise SbmodelError(f"unknown ternary method {self.ternary_method!r}; expected one of "
                               f"{', '.join(TERNARY_METHODS)}")
        if self.sign_policy not in SIGN_POLICIES:
            raise SbmodelError(f"unknown sign policy {self.sign_policy!r}; expected one of "
                               f"{', '.join(SIGN_POLICIES)}")
        if self.threshold_factor is not None and not (0.0 <= self.threshold_factor < float("inf")):
            raise SbmodelError(f"threshold factor must be a finite number >= 0, got {self.threshold_factor}")
        if self.region.kind != "filter" and self.scheme != "signed-binary":
            raise SbmodelError("a region other than 'filter' applies to the signed-binary scheme only")
        if self.fp_bits < 1:
            raise SbmodelError(f"fp bits must be >= 1, got {self.fp_bits}")


def _float32(weights: np.ndarray) -> np.ndarray:
    return np.asarray(weights, dtype=np.float32)


def binarize(weights: np.ndarray) -> QuantizedWeights:
    """BWN: ``sign(W_f) * mean|W_f|`` per output filter, ``sign(0) = +1``."""
    w = _float32(weights)
    rows = filter_matrix(as_4d(w))
    alpha64 = np.abs(rows).mean(axis=1, keepdims=True, dtype=np.float64)
    alpha = alpha64.astype(np.float32)
    # a filter of tiny weights whose mean underflows float32 still gets a nonzero scale
    alpha[(alpha == 0) & (alpha64 > 0)] = np.nextafter(np.float32(0), np.float32(1))
    codes = np.where(rows >= 0, 1, -1).astype(np.int8)
    values = codes * alpha
    return QuantizedWeights(values.reshape(w.shape), codes.reshape(w.shape), "binary", CODE_BITS["binary"],
                            FILTER, {"method": "bwn", "scale": "mean|W| per filter"})


def ternarize(weights: np.ndarray, method: TernaryMethod = "twn",
              threshold_factor: float | None = None) -> QuantizedWeights:
    """TWN (per layer or per filter) or TTQ thresholds; see the module docstring."""
    if method not in TERNARY_METHODS:
        raise SbmodelError(f"unknown ternary method {method!r}; expected one of {', '.join(TERNARY_METHODS)}")
    t = DEFAULT_THRESHOLD[method] if threshold_factor is None else threshold_factor
    w = _float32(weights)
    rows = filter_matrix(as_4d(w))
    mag = np.abs(rows)
    if method == "twn-filter":
        delta = t * mag.mean(axis=1, keepdims=True, dtype=np.float64)
    elif method == "twn":
        delta = np.full((1, 1), t * mag.mean(dtype=np.float64))
    else:  # ttq
        delta = np.full((1, 1), t * float(mag.max(initial=0.0)))
    keep = mag > delta
    codes = (np.sign(rows) * keep).astype(np.int8)
    if method == "ttq":
        pos, neg = codes > 0, codes < 0
        w_pos = float(rows[pos].mean(dtype=np.float64)) if pos.any() else 0.0
        w_neg = float(-rows[neg].mean(dtype=np.float64)) if neg.any() else 0.0
        values = np.where(pos, np.float32(w_pos), np.where(neg, np.float32(-w_neg), np.float32(0.0)))
    else:
        axis = 1 if method == "twn-filter" else None
        n_kept = keep.sum(axis=axis, keepdims=True)
        kept_sum = np.where(keep, mag, 0.0).sum(axis=axis, keepdims=True, dtype=np.float64)
        alpha = np.divide(kept_sum, n_kept, out=np.zeros_like(kept_sum), where=n_kept > 0)
        values = codes * alpha.astype(np.float32)
    return QuantizedWeights(values.astype(np.float32).reshape(w.shape), codes.reshape(w.shape), "ternary",
                            CODE_BITS["ternary"], FILTER, {"method": method, "threshold_factor": t})


def region_signs(regions: np.ndarray, delta: np.ndarray, policy: SignPolicy) -> np.ndarray:
    """The sign (+1 / -1) of each region row under ``policy`` (see module docstring)."""
    n = regions.shape[0]
    if policy == "halves":
        return np.where(np.arange(n) < n // 2, 1, -1).astype(np.int8)[:, None]
    reach = np.abs(regions) >= delta
    n_pos = ((regions > 0) & reach).sum(axis=1, keepdims=True)
    n_neg = ((regions < 0) & reach).sum(axis=1, keepdims=True)
    return np.where(n_pos >= n_neg, 1, -1).astype(np.int8)


def signed_binarize(weights: np.ndarray, region: RegionSpec = FILTER, sign_policy: SignPolicy = "halves",
                    threshold_factor: float | None = None) -> QuantizedWeights:
    """Signed binarization: each region ``{0, +1}`` or ``{0, -1}``, ``delta = t * max|W_region|``."""
    if sign_policy not in SIGN_POLICIES:
        raise SbmodelError(f"unknown sign policy {sign_policy!r}; expected one of {', '.join(SIGN_POLICIES)}")
    t = DEFAULT_THRESHOLD["signed-binary"] if threshold_factor is None else threshold_factor
    w = _float32(weights)
    regions = region_matrix(w, region)
    delta = t * np.abs(regions).max(axis=1, keepdims=True, initial=0.0)
    sign = region_signs(regions, delta, sign_policy)
    codes_m = np.where((regions * sign >= delta) & (regions != 0), sign, 0).astype(np.int8)
    codes = from_region_matrix(codes_m, w.shape, region)
    return QuantizedWeights(codes.astype(np.float32), codes, "signed-binary", CODE_BITS["signed-binary"],
                            region, {"threshold_factor": t, "sign_policy": sign_policy, "scale": 1})


def as_is_bits(values: np.ndarray, fp_bits: int) -> int:
    """Bits to index a layer's distinct values (at most 256 of them), else ``fp_bits``."""
    distinct = np.unique(values)
    if distinct.size > 256:
        return fp_bits
    return max(1, int(np.ceil(np.log2(max(distinct.size, 2)))))


def quantize(weights: np.ndarray, config: QuantizerConfig) -> QuantizedWeights:
    """Apply the quantizer ``config`` names to one layer's weights."""
    if config.scheme == "binary":
        return binarize(weights)
    if config.scheme == "ternary":
        return ternarize(weights, config.ternary_method, config.threshold_factor)
    if config.scheme == "signed-binary":
        return signed_binarize(weights, config.region, config.sign_policy, config.threshold_factor)
    w = _float32(weights)
    if config.scheme == "fp":
        return QuantizedWeights(w, None, "fp", config.fp_bits, FILTER, {})
    return QuantizedWeights(w, None, "as-is", as_is_bits(w, config.fp_bits), FILTER, {})


def ste_gradient(latent: np.ndarray, grad_quantized: np.ndarray) -> np.ndarray:
    """Straight-through estimator of the reference implementation.

    The gradient with respect to the quantised weights passes to the latent
    weights unchanged, clipped to [-1, 1], and is zero where ``|latent| > 1``.
    """
    return np.where(np.abs(latent) > 1.0, 0.0, np.clip(grad_quantized, -1.0, 1.0)).astype(latent.dtype)
