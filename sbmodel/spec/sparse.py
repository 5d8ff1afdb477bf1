"""Sparse features in our YAML formats: per-level formats and gating/skipping, compute
optimisations (architecture file), and density models of a layer's tensors (workload file).

In an architecture file a storage level may carry::

    metadata: {word_bits: 4, storage_width_bits: 32, storage_depth: 2048}
    sparse:
      formats:                               # how a tensor is stored at this level
        Weights:
          ranks: [UOP, {format: CP, metadata_word_bits: 4}]   # outermost rank first
          order: outer-to-inner              # or inner-to-outer: which loops the ranks take first
      gating:                                # access happens, at gated energy, if ...
        - {target: Weights, condition_on: [Inputs]}           # ... the Inputs tile is empty
      skipping:                              # access neither happens nor costs a cycle
        - {target: Outputs, condition_on: [Weights, Inputs]}
      spatial_skipping: []                   # spatial instances below this level left idle

and the compute unit ``sparse: {gate_on_zero_operand: true, skip_on_not_aligned_operands: true}``.
A rank is a format name (UOP, CP, B, RLE, UB) or a mapping with ``format``,
``metadata_word_bits``, ``payload_word_bits`` and ``flatten`` (groups of
dimensions one rank may cover).  In a workload file a tensor's statistics may
name its density model (``distribution``: ``fixed-structured``,
``hypergeometric`` or ``actual-data``); weights with a ``mask`` default to
``actual-data`` (exact statistics of the real mask), other tensors to
``hypergeometric`` (zeros placed uniformly at random).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal, Optional

import numpy as np
from pydantic import BeforeValidator, Field

from ..engine.sparse.density import ActualData, DensityModel, FixedStructured, Hypergeometric, load_mask
from ..engine.sparse.spec import (ActionOptimization, ComputeOptimization, LevelSparse, RankFormat, SparseSpec,
                                  TensorFormat)
from ..errors import SpecError
from .common import StrictModel, check
from .yamlio import Located, PathKey, format_path

if TYPE_CHECKING:
    from ..core.problem import Problem
    from .architecture import ArchitectureSpec

TensorName = Literal["Weights", "Inputs", "Outputs"]
DimName = Literal["N", "G", "C", "M", "P", "Q", "R", "S"]
FormatName = Literal["UOP", "CP", "B", "RLE", "UB"]
Distribution = Literal["fixed-structured", "hypergeometric", "actual-data"]
NonNegInt = Annotated[int, Field(ge=0)]


class RankSpec(StrictModel):
    """One rank of a tensor's fibertree."""

    format: FormatName
    metadata_word_bits: Optional[NonNegInt] = None
    payload_word_bits: Optional[NonNegInt] = None
    flatten: list[Annotated[list[DimName], Field(min_length=1)]] = []


def _rank_shorthand(value: object) -> object:
    """A bare format name stands for ``{format: NAME}``."""
    return {"format": value} if isinstance(value, str) else value


Rank = Annotated[RankSpec, BeforeValidator(_rank_shorthand)]


class TensorFormatSpec(StrictModel):
    ranks: Annotated[list[Rank], Field(min_length=1)]
    order: Literal["outer-to-inner", "inner-to-outer"] = "outer-to-inner"


class ActionSpec(StrictModel):
    target: TensorName
    condition_on: Annotated[list[TensorName], Field(min_length=1)]


class LevelSparseSpec(StrictModel):
    """Sparse features of one storage level (see the module docstring)."""

    formats: dict[TensorName, TensorFormatSpec] = {}
    gating: list[ActionSpec] = []
    skipping: list[ActionSpec] = []
    spatial_skipping: list[ActionSpec] = []


class ComputeSparseSpec(StrictModel):
    gate_on_zero_operand: bool = False
    skip_on_not_aligned_operands: bool = False


_KINDS = (("gating", "gating"), ("skipping", "skipping"), ("spatial_skipping", "spatial_skipping"))


def build_sparse(spec: "ArchitectureSpec", located: Located) -> SparseSpec | None:
    """The design's :class:`SparseSpec` (None if it has no sparse feature), with located checks."""
    levels: dict[str, LevelSparse] = {}
    for i, level in enumerate(spec.levels):
        sp = getattr(level, "sparse", None)
        if sp is None:
            continue
        path: PathKey = ("architecture", "levels", i, "sparse")
        formats: dict[str, TensorFormat] = {}
        for tensor, fmt in sp.formats.items():
            fpath = path + ("formats", tensor)
            check(tensor not in level.bypass, located, fpath,
                  f"level {level.name} bypasses {tensor}, so it stores no {tensor} to format")
            check(level.metadata is not None, located, fpath,
                  f"level {level.name} stores {tensor} in a format with metadata, so it needs a "
                  "'metadata:' block (word_bits, storage_width_bits) saying where the metadata lives")
            ranks = []
            for j, rs in enumerate(fmt.ranks):
                width = level.metadata.storage_width_bits if level.metadata is not None else 0
                for key in ("metadata_word_bits", "payload_word_bits"):
                    bits = getattr(rs, key)
                    check(bits is None or width == 0 or bits <= width, located, fpath + ("ranks", j, key),
                          f"{bits} bits do not fit the {width}-bit metadata storage row")
                ranks.append(RankFormat(rs.format, rs.metadata_word_bits, rs.payload_word_bits,
                                        tuple(tuple(g) for g in rs.flatten)))
            try:
                formats[tensor] = TensorFormat(tuple(ranks), fmt.order == "inner-to-outer")
            except SpecError as exc:
                raise located.error(fpath + ("ranks",), exc.message) from None
        actions = []
        for key, kind in _KINDS:
            for j, a in enumerate(getattr(sp, key)):
                check(a.target not in a.condition_on, located, path + (key, j, "condition_on"),
                      f"{kind} of {a.target} cannot be conditioned on {a.target} itself")
                actions.append(ActionOptimization(kind, ((a.target, tuple(a.condition_on)),)))
        levels[level.name] = LevelSparse(formats, tuple(actions))
    csp = getattr(spec.compute, "sparse", None)
    compute = ComputeOptimization(csp.gate_on_zero_operand, csp.skip_on_not_aligned_operands) if csp else \
        ComputeOptimization()
    out = SparseSpec(levels, compute)
    return None if out.empty else out


# --------------------------------------------------------------------------- workload densities


def weights_mask_in_rank_order(mask: np.ndarray, problem: "Problem", where: str) -> np.ndarray:
    """A weight mask in PyTorch layout ([M, C/groups, kH, kW], or [M, C] for FC) reordered to the
    Weights ranks of our problems ([C, M, R, S], or [G, C, M, R, S] with groups)."""
    b = problem.bound
    groups = b.get("G", 1)
    m_total, c, r, s = b["M"] * groups, b["C"], b["R"], b["S"]
    if mask.ndim == 2:
        mask = mask[:, :, None, None]
    if mask.shape != (m_total, c, s, r):
        raise SpecError(f"mask has shape {tuple(mask.shape)} but the layer's weights are "
                        f"[M={m_total}, C/groups={c}, kH=S={s}, kW=R={r}] (PyTorch layout)", yaml_path=where or None)
    if groups == 1:
        return np.transpose(mask, (1, 0, 3, 2))
    return np.transpose(mask.reshape(groups, b["M"], c, s, r), (0, 2, 1, 4, 3))


def density_model(tensor: str, stats: object, problem: "Problem", base: Path | None, path: PathKey,
                  located: Located | None = None) -> DensityModel:
    """The density model one tensor's statistics ask for; errors name ``path`` (and its line,
    given the file's ``located`` lines)."""

    def error(sub: tuple[str, ...], message: str) -> SpecError:
        where = tuple(path) + sub
        return located.error(where, message) if located is not None else \
            SpecError(message, yaml_path=format_path(where))

    density = float(getattr(stats, "density"))
    mask_ref = getattr(stats, "mask", None)
    dist = getattr(stats, "distribution", None) or ("actual-data" if mask_ref else "hypergeometric")
    if dist == "fixed-structured":
        return FixedStructured(density)
    if dist == "hypergeometric":
        return Hypergeometric(density, problem.tensor_size(tensor))
    if not mask_ref:
        raise error(("distribution",), "distribution actual-data needs a 'mask' (file.npz:key)")
    if tensor != "Weights":
        raise error(("mask",), "masks are supported for weights only")
    file, _, key = str(mask_ref).partition(":")
    mask_path = Path(file) if base is None or Path(file).is_absolute() else base / file
    try:
        ranked = weights_mask_in_rank_order(np.asarray(load_mask(mask_path, key or None)), problem, "")
    except SpecError as exc:
        raise error(("mask",), exc.message) from None
    model = ActualData(ranked, source=str(mask_ref))
    if abs(model.mean_density - density) > 1e-6:
        raise error(("density",), f"density {density} disagrees with its mask ({model.mean_density:.6g})")
    return model


def layer_densities(layer: object, problem: "Problem", base: Path | None, path: PathKey,
                    located: Located | None = None) -> dict[str, DensityModel]:
    """Density models of the tensors a layer's statistics describe (others stay dense)."""
    stats = getattr(layer, "stats", None)
    out: dict[str, DensityModel] = {}
    if stats is None:
        return out
    for field_name, tensor in (("weights", "Weights"), ("inputs", "Inputs"), ("outputs", "Outputs")):
        s = getattr(stats, field_name, None)
        if s is not None:
            out[tensor] = density_model(tensor, s, problem, base, tuple(path) + ("stats", field_name), located)
    return out


__all__ = ["LevelSparseSpec", "ComputeSparseSpec", "TensorFormatSpec", "RankSpec", "ActionSpec", "build_sparse",
           "layer_densities", "density_model", "weights_mask_in_rank_order", "Distribution"]
