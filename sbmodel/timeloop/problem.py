"""Timeloop ``problem:`` sections (shape + instance) -> :class:`~sbmodel.core.Problem`."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..core.problem import DataSpace, Problem, conv_problem
from ..errors import SpecError
from .inputs import as_int, as_number


def parse_problem(problem: Any, file: str | None = None) -> Problem:
    """Parse a Timeloop problem section; densities become density models for the sparse stage."""
    problem = _parse_problem(problem, file)
    from .sparse import parse_densities

    return replace(problem, densities=parse_densities(problem.densities, problem, file))


def _parse_problem(problem: Any, file: str | None) -> Problem:
    if not isinstance(problem, dict):
        raise SpecError("'problem' must be a mapping with 'shape' and 'instance'", file=file)
    shape = problem.get("shape")
    instance = problem.get("instance")
    if instance is None:  # old flat form: bounds next to 'shape'
        instance = {k: v for k, v in problem.items() if k != "shape"}
    if not isinstance(instance, dict):
        raise SpecError("problem.instance must be a mapping of dimension bounds", file=file)
    densities = instance.get("densities") or {}

    if isinstance(shape, str) or shape is None:
        if shape not in (None, "cnn-layer", "cnn_layer"):
            raise SpecError(f"problem.shape: unknown built-in shape {shape!r} (only cnn-layer)", file=file)
        return _builtin_cnn(instance, densities, file)
    if not isinstance(shape, dict):
        raise SpecError("problem.shape must be a mapping", file=file)

    dims = shape.get("dimensions")
    if not isinstance(dims, list) or not dims:
        raise SpecError("problem.shape.dimensions must be a non-empty list", file=file)
    dims = [str(d) for d in dims]
    coefficients: dict[str, int] = {}
    for c in shape.get("coefficients") or []:
        if not isinstance(c, dict) or "name" not in c:
            raise SpecError("problem.shape.coefficients entries need a name", file=file)
        name = str(c["name"])
        value = instance.get(name, c.get("default", 1))
        coefficients[name] = as_int(value, f"problem coefficient {name}", file)

    spaces = shape.get("data_spaces")
    if not isinstance(spaces, list) or not spaces:
        raise SpecError("problem.shape.data_spaces must be a non-empty list", file=file)
    dataspaces = []
    for i, ds in enumerate(spaces):
        if not isinstance(ds, dict) or "name" not in ds or "projection" not in ds:
            raise SpecError(f"problem.shape.data_spaces[{i}] needs a name and a projection", file=file)
        ranks = []
        for rank in ds["projection"]:
            terms = []
            for term in rank if isinstance(rank, list) else [rank]:
                term = term if isinstance(term, list) else [term]
                if not 1 <= len(term) <= 2:
                    raise SpecError(f"data space {ds['name']}: a projection term is [dimension] or "
                                    f"[dimension, coefficient], got {term}", file=file)
                dim = str(term[0])
                coef = 1
                if len(term) == 2:
                    cname = str(term[1])
                    if cname not in coefficients:
                        raise SpecError(f"data space {ds['name']}: unknown coefficient {cname}", file=file)
                    coef = coefficients[cname]
                terms.append((coef, dim))
            ranks.append(tuple(terms))
        rw = ds.get("read_write", False)
        if isinstance(rw, str):
            rw = rw.strip().lower() in ("true", "yes", "1")
        dataspaces.append(DataSpace(str(ds["name"]), tuple(ranks), bool(rw)))

    bounds = []
    for d in dims:
        if d not in instance:
            raise SpecError(f"problem.instance: no bound for dimension {d}", file=file)
        bounds.append(as_int(instance[d], f"problem.instance.{d}", file))
    try:
        return Problem(name=str(shape.get("name", "problem")), dims=tuple(dims), bounds=tuple(bounds),
                       dataspaces=tuple(dataspaces), densities=dict(densities))
    except SpecError as exc:
        raise SpecError(exc.message, file=file) from None


def _builtin_cnn(instance: dict[str, Any], densities: dict[str, Any], file: str | None) -> Problem:
    def get(key: str, default: int = 1) -> int:
        return as_int(instance.get(key, default), f"problem.instance.{key}", file)

    prob = conv_problem(
        "cnn-layer", N=get("N"), M=get("M", get("K")), C=get("C"), P=get("P"), Q=get("Q"),
        R=get("R"), S=get("S"), Wstride=get("Wstride"), Hstride=get("Hstride"),
        Wdilation=get("Wdilation"), Hdilation=get("Hdilation"),
    )
    return Problem(prob.name, prob.dims, prob.bounds, prob.dataspaces, densities=dict(densities))


__all__ = ["parse_problem", "as_number"]
