"""Tiny sparse cases built from core types, with results computable by hand."""

from __future__ import annotations

from sbmodel.core import Architecture, ComputeLevel, DataSpace, LevelMapping, Loop, Mapping, Problem, StorageLevel
from sbmodel.engine import evaluate_layer
from sbmodel.engine.sparse import (ActionOptimization, ComputeOptimization, FixedStructured, LevelSparse,
                                   RankFormat, SparseSpec, TensorFormat)


def dot_product(k: int = 16, a_density: float = 0.25) -> Problem:
    """Z[m] += A[k] * B[k] (Sparseloop's dot-product exercise)."""
    return Problem("dot", ("K", "M"), (k, 1), (
        DataSpace("A", (((1, "K"),),)),
        DataSpace("B", (((1, "K"),),)),
        DataSpace("Z", (((1, "M"),),), read_write=True),
    ), densities={"A": FixedStructured(a_density)})


def one_level(metadata_width: int = 0, metadata_bits: int = 0, **energy: float) -> Architecture:
    e = {"read": 1.0, "fill": 1.0, "update": 1.0, "gated_read": 0.1, "gated_update": 0.1,
         "metadata_read": 0.5, "metadata_fill": 0.5}
    e.update(energy)
    buf = StorageLevel("Buffer", 64, 8, energy_pJ=e, metadata_word_bits=metadata_bits,
                       metadata_storage_width_bits=metadata_width)
    return Architecture("one", (buf,), ComputeLevel("MAC", energy_pJ={"compute": 2.0, "gated_compute": 0.2,
                                                                       "skipped_compute": 0.0}))


def k_loop(k: int = 16) -> Mapping:
    return Mapping((LevelMapping(temporal=(Loop("K", k),), keep=frozenset({"A", "B", "Z"})),))


def opt(kind: str, target: str, *cond: str) -> ActionOptimization:
    return ActionOptimization(kind, ((target, tuple(cond)),))


def spec(formats=None, actions=(), compute=ComputeOptimization(), level="Buffer") -> SparseSpec:
    return SparseSpec({level: LevelSparse(dict(formats or {}), tuple(actions))}, compute)


def fmt(*names: str, bits: int | None = None) -> TensorFormat:
    return TensorFormat(tuple(RankFormat(n, metadata_word_bits=bits) for n in names))


def run(problem, arch, mapping, sparse):
    return evaluate_layer(problem, arch, mapping, sparse)
