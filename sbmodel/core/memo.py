"""Memoising a value per immutable object (by identity), for objects that are not hashable.

Architectures and problems are frozen dataclasses holding dicts, so they cannot key a dict
themselves; a search or a sweep point passes the same object many times.  The memo holds
the object, so its ``id`` cannot be reused by another object while the entry lives.
"""

from __future__ import annotations

from typing import Callable, Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class IdentityMemo(Generic[K, V]):
    """``memo(obj, build)``: ``build(obj)`` once per object (at most ``size`` kept, then cleared)."""

    def __init__(self, size: int = 64):
        self.size = size
        self._entries: dict[int, tuple[K, V]] = {}

    def __call__(self, obj: K, build: Callable[[K], V]) -> V:
        hit = self._entries.get(id(obj))
        if hit is not None and hit[0] is obj:
            return hit[1]
        if len(self._entries) >= self.size:
            self._entries.clear()
        value = build(obj)
        self._entries[id(obj)] = (obj, value)
        return value


__all__ = ["IdentityMemo"]
