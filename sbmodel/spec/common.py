"""Shared machinery for our YAML formats: strict pydantic models and error mapping.

Every user-facing format is a pydantic model that forbids unknown keys and does
not coerce types ("3" is not an int).  :func:`validate` runs a model on
:class:`~sbmodel.spec.yamlio.Located` data and turns the first validation error
into a :class:`~sbmodel.errors.SpecError` with file, YAML path and line.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from ..errors import SpecError
from .yamlio import Located

M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    """Base of every spec model: unknown keys and type coercion are errors."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)


_FRIENDLY = {
    "extra_forbidden": "unknown key",
    "missing": "required key is missing",
    "int_type": "expected an integer",
    "float_type": "expected a number",
    "string_type": "expected a string",
    "bool_type": "expected true or false",
    "list_type": "expected a list",
    "dict_type": "expected a mapping",
    "model_type": "expected a mapping",
    "greater_than": "must be greater than {gt}",
    "greater_than_equal": "must be at least {ge}",
    "less_than_equal": "must be at most {le}",
    "less_than": "must be less than {lt}",
    "literal_error": "expected one of {expected}",
}


def _message(err: dict[str, Any]) -> str:
    kind = err.get("type", "")
    ctx = err.get("ctx") or {}
    template = _FRIENDLY.get(kind)
    got = err.get("input")
    if template is not None:
        try:
            text = template.format(**ctx)
        except (KeyError, IndexError):
            text = template
    else:
        text = str(err.get("msg", "invalid value"))
        if text.startswith("Value error, "):
            text = text[len("Value error, "):]
    if kind not in ("missing", "extra_forbidden") and not isinstance(got, (dict, list)) and got is not None:
        text += f" (got {got!r})"
    return text


def _yaml_path(loc: tuple[Any, ...]) -> tuple[str | int, ...]:
    """Drop pydantic's union/tag markers from an error location."""
    out: list[str | int] = []
    for part in loc:
        if isinstance(part, str) and ("[" in part or part.startswith("function-")):
            continue  # e.g. 'int' / 'list[int]' branch names of a union
        out.append(part)
    return tuple(out)


def validate(model: type[M], located: Located, path: tuple[str | int, ...] = ()) -> M:
    """Validate ``located.data`` (or the sub-tree at ``path``) against ``model``."""
    data: Any = located.data
    for part in path:
        data = data[part]
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        # Prefer the deepest location: it points at the offending value.
        err = max(errors, key=lambda e: len(_yaml_path(tuple(e.get("loc", ())))))
        loc = path + _yaml_path(tuple(err.get("loc", ())))
        raise located.error(loc, _message(err)) from None


def check(condition: bool, located: Located, path: tuple[str | int, ...], message: str) -> None:
    """Raise a located :class:`SpecError` unless ``condition`` holds."""
    if not condition:
        raise located.error(path, message)


__all__ = ["StrictModel", "validate", "check", "SpecError"]
