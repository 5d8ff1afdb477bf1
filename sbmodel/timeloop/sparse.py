"""Sparseloop inputs: ``sparse_optimizations`` and the problem's ``densities``.

``sparse_optimizations.targets`` lists, per architecture level, its
``representation_format`` (per tensor: ``ranks`` outermost first, each with a
``format`` UOP/CP/B/RLE/UB, optional ``metadata_word_bits``,
``payload_word_bits``, ``flattened_rankIDs``; ``rank_application_order``),
its ``action_optimization`` (``gating``/``skipping``/``skipping_spatial`` of a
``target`` ``condition_on`` other tensors, alone or as ``options``) and, for
the compute level, ``compute_optimization``.  Keys arrive with hyphens
already turned into underscores (:mod:`.inputs`); values such as
``skipping-spatial`` or ``inner-to-outer`` are normalised the same way.
Anything unknown is an error naming the file and where.
"""

from __future__ import annotations

from typing import Any

from ..core.architecture import Architecture
from ..core.problem import Problem
from ..engine.sparse.density import DensityModel, FixedStructured, Hypergeometric
from ..engine.sparse.formats import ALIASES
from ..engine.sparse.spec import (ActionOptimization, ComputeOptimization, LevelSparse, RankFormat, SparseSpec,
                                  TensorFormat)
from ..errors import SpecError
from .inputs import as_int, as_number

_FIXED = {"fixed", "fixed_structured"}
_ACTIONS = {"gating": "gating", "skipping": "skipping", "skipping_spatial": "spatial_skipping",
            "spatial_skipping": "spatial_skipping"}
_COMPUTE = {"gating": "gate", "gate_on_zero_operand": "gate", "skipping": "skip",
            "skip_on_not_aligned_operands": "skip"}


def _norm(value: Any) -> str:
    return str(value).strip().replace("-", "_").lower()


def _names(value: Any, where: str, file: str | None) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SpecError(f"{where}: expected a list of tensor names, got {value!r}", file=file)
    return tuple(value)


def _rank(node: Any, where: str, file: str | None) -> RankFormat:
    if not isinstance(node, dict) or "format" not in node:
        raise SpecError(f"{where}: a rank needs a 'format' (one of UOP, CP, B, RLE, UB)", file=file)
    unknown = set(node) - {"format", "metadata_word_bits", "payload_word_bits", "flattened_rankIDs",
                           "flattened_rankids"}
    if unknown:
        raise SpecError(f"{where}: unknown key(s) {sorted(unknown)}", file=file)
    fmt = ALIASES.get(str(node["format"]).lower())
    if fmt is None:
        raise SpecError(f"{where}: unknown rank format {node['format']!r} (UOP, CP, B, RLE, UB)", file=file)
    flat_raw = node.get("flattened_rankIDs", node.get("flattened_rankids")) or []
    if not isinstance(flat_raw, list):
        raise SpecError(f"{where}.flattened_rankIDs: expected a list of lists of dimension names", file=file)
    groups = tuple(_names(g, f"{where}.flattened_rankIDs", file) for g in flat_raw)
    md = node.get("metadata_word_bits")
    pl = node.get("payload_word_bits")
    try:
        return RankFormat(fmt, None if md is None else as_int(md, f"{where}.metadata_word_bits", file),
                          None if pl is None else as_int(pl, f"{where}.payload_word_bits", file), groups)
    except SpecError as exc:
        raise SpecError(f"{where}: {exc.message}", file=file) from None


def _formats(node: Any, where: str, file: str | None) -> dict[str, TensorFormat]:
    if not isinstance(node, dict) or not isinstance(node.get("data_spaces"), list):
        raise SpecError(f"{where}: expected 'data_spaces:' with a list of tensors", file=file)
    out: dict[str, TensorFormat] = {}
    for i, ds in enumerate(node["data_spaces"]):
        w = f"{where}.data_spaces[{i}]"
        if not isinstance(ds, dict) or "name" not in ds or not isinstance(ds.get("ranks"), list):
            raise SpecError(f"{w}: a tensor needs a 'name' and a list of 'ranks'", file=file)
        order = _norm(ds.get("rank_application_order", "outer_to_inner"))
        if order not in ("outer_to_inner", "inner_to_outer"):
            raise SpecError(f"{w}.rank_application_order: expected inner-to-outer or outer-to-inner, got "
                            f"{ds.get('rank_application_order')!r}", file=file)
        ranks = tuple(_rank(r, f"{w}.ranks[{j}]", file) for j, r in enumerate(ds["ranks"]))
        try:
            out[str(ds["name"])] = TensorFormat(ranks, order == "inner_to_outer")
        except SpecError as exc:
            raise SpecError(f"{w}: {exc.message}", file=file) from None
    return out


def _actions(node: Any, where: str, file: str | None) -> tuple[ActionOptimization, ...]:
    if not isinstance(node, list):
        raise SpecError(f"{where}: expected a list of optimisations", file=file)
    out = []
    for i, item in enumerate(node):
        w = f"{where}[{i}]"
        if not isinstance(item, dict) or "type" not in item:
            raise SpecError(f"{w}: an action optimisation needs a 'type' (gating, skipping, skipping-spatial)",
                            file=file)
        kind = _ACTIONS.get(_norm(item["type"]))
        if kind is None:
            raise SpecError(f"{w}.type: unknown action optimisation {item['type']!r} "
                            "(gating, skipping, skipping-spatial)", file=file)
        choices = item.get("options", [item])
        if not isinstance(choices, list):
            raise SpecError(f"{w}.options: expected a list", file=file)
        options = []
        for j, c in enumerate(choices):
            cw = f"{w}.options[{j}]" if "options" in item else w
            if not isinstance(c, dict) or "target" not in c or "condition_on" not in c:
                raise SpecError(f"{cw}: needs a 'target' and 'condition_on'", file=file)
            options.append((str(c["target"]), _names(c["condition_on"], f"{cw}.condition_on", file)))
        try:
            out.append(ActionOptimization(kind, tuple(options)))
        except SpecError as exc:
            raise SpecError(f"{w}: {exc.message}", file=file) from None
    return tuple(out)


def _compute(node: Any, where: str, file: str | None) -> ComputeOptimization:
    if not isinstance(node, list):
        raise SpecError(f"{where}: expected a list of compute optimisations", file=file)
    gate = skip = False
    for i, item in enumerate(node):
        kind = _COMPUTE.get(_norm(item.get("type", ""))) if isinstance(item, dict) else None
        if kind is None:
            raise SpecError(f"{where}[{i}]: unknown compute optimisation {item!r} "
                            "(type: gating / skipping)", file=file)
        gate |= kind == "gate"
        skip |= kind == "skip"
    return ComputeOptimization(gate_on_zero_operand=gate, skip_on_not_aligned_operands=skip)


def parse_sparse_optimizations(raw: Any, problem: Problem, arch: Architecture,
                               file: str | None = None) -> SparseSpec | None:
    """Sparseloop's ``sparse_optimizations`` section -> :class:`SparseSpec` (None if absent or empty)."""
    if raw is None:
        return None
    if isinstance(raw, dict) and "sparse_optimizations" in raw:
        raw = raw["sparse_optimizations"]
    if not isinstance(raw, dict):
        raise SpecError("sparse_optimizations: expected a mapping with 'targets'", file=file)
    targets = raw.get("targets") or []
    if not isinstance(targets, list):
        raise SpecError("sparse_optimizations.targets: expected a list", file=file)
    storage = [lv.name for lv in arch.storage]
    levels: dict[str, LevelSparse] = {}
    compute = ComputeOptimization()
    for i, tgt in enumerate(targets):
        w = f"sparse_optimizations.targets[{i}]"
        if not isinstance(tgt, dict) or "name" not in tgt:
            raise SpecError(f"{w}: needs the 'name' of an architecture level", file=file)
        name = str(tgt["name"])
        unknown = set(tgt) - {"name", "representation_format", "compression", "action_optimization",
                              "compute_optimization"}
        if unknown:
            raise SpecError(f"{w}: unknown key(s) {sorted(unknown)}", file=file)
        if name == arch.compute.name:
            if "compute_optimization" in tgt:
                compute = _compute(tgt["compute_optimization"], f"{w}.compute_optimization", file)
            if set(tgt) - {"name", "compute_optimization"}:
                raise SpecError(f"{w}: the compute level {name} takes only compute_optimization", file=file)
            continue
        if name not in storage:
            raise SpecError(f"{w}: unknown architecture level {name!r} (levels: {storage + [arch.compute.name]})",
                            file=file)
        if "compute_optimization" in tgt:
            raise SpecError(f"{w}: compute_optimization belongs to the compute level {arch.compute.name}", file=file)
        fmt_node = tgt.get("representation_format", tgt.get("compression"))
        formats = _formats(fmt_node, f"{w}.representation_format", file) if fmt_node is not None else {}
        actions = _actions(tgt["action_optimization"], f"{w}.action_optimization", file) \
            if "action_optimization" in tgt else ()
        prev = levels.get(name, LevelSparse())
        levels[name] = LevelSparse({**prev.formats, **formats}, prev.actions + actions)
    spec = SparseSpec(levels, compute)
    try:
        spec.validate(problem, arch, "sparse_optimizations", check_dims=True)
    except SpecError as exc:
        raise SpecError(exc.message, file=file) from None
    return None if spec.empty else spec


def parse_densities(raw: Any, problem: Problem, file: str | None = None) -> dict[str, DensityModel]:
    """The problem's ``densities`` -> a density model per tensor (plain numbers: fixed-structured)."""
    if not raw:
        return {}
    if not isinstance(raw, dict):
        raise SpecError("problem.instance.densities: expected a mapping of tensor -> density", file=file)
    out: dict[str, DensityModel] = {}
    for name, spec in raw.items():
        where = f"problem.instance.densities.{name}"
        if name not in problem.dataspace_names:
            raise SpecError(f"{where}: unknown tensor {name!r} (tensors: {list(problem.dataspace_names)})", file=file)
        if isinstance(spec, dict):
            dist = _norm(spec.get("distribution", "fixed_structured"))
            if "density" not in spec:
                raise SpecError(f"{where}: needs a 'density'", file=file)
            density = float(as_number(spec["density"], f"{where}.density", file))
        else:
            dist = "fixed_structured"
            density = float(as_number(spec, where, file))
        if not 0.0 <= density <= 1.0:
            raise SpecError(f"{where}: density must be within [0, 1], got {density}", file=file)
        if dist in _FIXED:
            out[name] = FixedStructured(density)
        elif dist == "hypergeometric":
            size = spec.get("workload_tensor_size") if isinstance(spec, dict) else None
            size = as_int(size, f"{where}.workload_tensor_size", file) if size else problem.tensor_size(name)
            out[name] = Hypergeometric(density, size)
        else:
            raise SpecError(f"{where}.distribution: unsupported density distribution {spec.get('distribution')!r} "
                            "(fixed-structured, hypergeometric)", file=file)
    return out


__all__ = ["parse_sparse_optimizations", "parse_densities"]
