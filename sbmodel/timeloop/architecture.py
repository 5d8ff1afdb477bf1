"""Timeloop ``architecture:`` sections -> :class:`~sbmodel.core.Architecture`.

Supports the tree form (v0.2/v0.3 ``subtree``/``local``, also what v0.4's
``parsed-processed-input.yaml`` holds) and the classic ``storage``/``arithmetic``
lists.  Attribute semantics follow Timeloop's buffer parser: ``depth`` counts
rows of ``width`` bits, a row holds ``block_size`` words, ``entries`` counts
words, instance counts multiply down the tree (``PE[0..167]``).
"""

from __future__ import annotations

import re
from typing import Any

from ..core.architecture import Architecture, ComputeLevel, StorageLevel
from ..errors import SpecError
from .ert import builtin_vector_access_energy, compute_energies, storage_energies
from .inputs import as_int, as_number

_BUFFER_CLASSES = ("DRAM", "SRAM", "regfile", "smartbuffer", "storage")
_COMPUTE_CLASSES = ("mac", "intmac", "fpmac", "compute")
_NETWORK_CLASSES = ("XY_NoC", "Legacy", "ReductionTree", "SimpleMulticast")
_RANGE = re.compile(r"\[(\d+)\.\.(\d+)\]")


def _element_count(name: str) -> int:
    """``PE[0..167]`` -> 168; names without a range -> 1."""
    m = _RANGE.search(name)
    return int(m.group(2)) - int(m.group(1)) + 1 if m else 1


def _base_name(name: str) -> str:
    return _RANGE.sub("", name).strip()


def _matches(cls: str, names: tuple[str, ...]) -> bool:
    return any(n in cls for n in names)


class _Component:
    """One ``local`` entry with its multiplicity from enclosing subtrees."""

    def __init__(self, node: dict[str, Any], multiplicity: int, file: str | None):
        self.node = node
        self.file = file
        self.raw_name = str(node.get("name", ""))
        self.name = _base_name(self.raw_name)
        self.cls = str(node.get("class", ""))
        self.attrs: dict[str, Any] = dict(node.get("attributes") or {})
        self.elements = multiplicity * _element_count(self.raw_name)

    def attr(self, *keys: str) -> Any:
        for k in keys:
            if k in self.attrs and self.attrs[k] is not None:
                return self.attrs[k]
        return None

    def num(self, *keys: str) -> float | None:
        v = self.attr(*keys)
        return None if v is None else as_number(v, f"{self.name}.{keys[0]}", self.file)

    def int_(self, *keys: str) -> int | None:
        v = self.attr(*keys)
        return None if v is None else as_int(v, f"{self.name}.{keys[0]}", self.file)

    def mesh(self) -> tuple[int, int, int]:
        """(instances, meshX, meshY) with Timeloop's inference rules."""
        instances = self.int_("instances") or self.elements
        mx, my = self.int_("meshX"), self.int_("meshY")
        if mx is not None and my is not None:
            pass
        elif mx is not None:
            if instances % mx:
                raise SpecError(f"{self.name}: instances {instances} not divisible by meshX {mx}", file=self.file)
            my = instances // mx
        elif my is not None:
            if instances % my:
                raise SpecError(f"{self.name}: instances {instances} not divisible by meshY {my}", file=self.file)
            mx = instances // my
        else:
            mx, my = instances, 1
        if mx * my != instances:
            raise SpecError(f"{self.name}: meshX*meshY = {mx}*{my} != instances {instances}", file=self.file)
        return instances, mx, my


def _collect_tree(arch: dict[str, Any], file: str | None) -> list[_Component]:
    """Walk the single-child subtree chain; return components outermost first."""
    comps: list[_Component] = []
    node: Any = arch
    multiplicity = 1
    while isinstance(node, dict) and node.get("subtree"):
        subtrees = node["subtree"]
        if not isinstance(subtrees, list) or len(subtrees) != 1:
            raise SpecError("architecture: each subtree level must have exactly one child "
                            "(Timeloop supports one subtree per level)", file=file)
        node = subtrees[0]
        if not isinstance(node, dict):
            raise SpecError("architecture: a subtree must be a mapping", file=file)
        multiplicity *= _element_count(str(node.get("name", "")))
        for local in node.get("local") or []:
            if not isinstance(local, dict):
                raise SpecError("architecture: 'local' entries must be mappings", file=file)
            comps.append(_Component(local, multiplicity, file))
    return comps


def _storage_level(c: _Component, ert: dict[str, dict[str, float]]) -> StorageLevel:
    word_bits = c.int_("word_bits", "word_width", "datawidth") or 16
    block_size = c.int_("block_size", "n_words")
    cluster = c.int_("cluster_size")
    width = c.int_("width", "memory_width", "data_storage_width")
    if width is not None and word_bits:
        if block_size is not None and cluster is not None:
            pass
        elif cluster is not None:
            block_size = width // cluster // word_bits
        elif block_size is not None:
            cluster = max(1, width // (word_bits * block_size))
        else:
            block_size = max(1, width // word_bits)
            cluster = 1
    block_size = block_size or 1
    cluster = cluster or 1

    entries = c.int_("entries")
    depth = c.int_("depth", "memory_depth", "data_storage_depth")
    size_kb = c.num("sizeKB")
    size: int | None
    if entries is not None:
        size = entries
    elif depth is not None:
        size = depth * block_size
    elif size_kb is not None:
        size = int(size_kb * 1024 * 8 / word_bits)
    else:
        size = None

    technology = "DRAM" if ("DRAM" in c.cls or str(c.attr("technology")) == "DRAM") else "SRAM"
    bw = c.num("bandwidth")
    read_bw = c.num("read_bandwidth")
    write_bw = c.num("write_bandwidth")
    if bw is not None:
        read_bw = read_bw if read_bw is not None else bw / 2
        write_bw = write_bw if write_bw is not None else bw / 2
    instances, mx, my = c.mesh()
    mb = c.num("multiple_buffering")

    if c.name in ert:
        override = c.num("vector_access_energy")
        builtin = float(override) if override is not None else builtin_vector_access_energy(
            technology, size, word_bits, block_size, cluster)
        energies = storage_energies(ert[c.name], builtin)
    elif size == 0 or "dummy" in c.cls.lower():
        # Containers that only carry a fanout (v0.4 dummy_storage) hold no data and cost nothing.
        energies = {"read": 0.0, "fill": 0.0, "update": 0.0}
    else:
        raise SpecError(
            f"the ERT has no entry for storage level {c.name}; give the ERT Timeloop used "
            f"(--ert) so energies are defined", file=c.file)

    md_bits = c.int_("metadata_word_bits", "metadata_datawidth") or 0
    return StorageLevel(
        name=c.name,
        size_words=size,
        word_bits=word_bits,
        block_size=block_size,
        cluster_size=cluster,
        instances=instances,
        mesh_x=mx,
        mesh_y=my,
        read_bandwidth=read_bw,
        write_bandwidth=write_bw,
        multiple_buffering=float(mb) if mb is not None else 1.0,
        min_utilization=float(c.num("min_utilization") or 0.0),
        technology=technology,
        energy_pJ=energies,
        metadata_word_bits=md_bits,
        metadata_block_size=c.int_("metadata_block_size") or 1,
        metadata_storage_width_bits=c.int_("metadata_storage_width") or 0,
        metadata_storage_depth=c.int_("metadata_storage_depth") or 0,
        container_only=("dummy" in c.cls.lower()),
    )


def _compute_level(c: _Component, ert: dict[str, dict[str, float]]) -> ComputeLevel:
    instances, mx, my = c.mesh()
    if c.name not in ert:
        raise SpecError(f"the ERT has no entry for compute level {c.name}", file=c.file)
    return ComputeLevel(
        name=c.name, instances=instances, mesh_x=mx, mesh_y=my,
        word_bits=c.int_("word_bits", "datawidth", "multiplier_width") or 16,
        energy_pJ=compute_energies(ert[c.name]),
    )


def parse_architecture(arch: Any, ert: dict[str, dict[str, float]], file: str | None = None) -> Architecture:
    """Build the architecture; every level's energies come from the ERT."""
    if not isinstance(arch, dict):
        raise SpecError("'architecture' must be a mapping", file=file)
    if "subtree" in arch:
        comps = _collect_tree(arch, file)
    elif "storage" in arch and "arithmetic" in arch:
        # The classic form lists storage innermost first; we collect outermost first.
        comps = [_Component(s, 1, file) for s in reversed(arch["storage"] or [])]
        comps.append(_Component(dict(arch["arithmetic"], **{"class": "mac"}), 1, file))
    else:
        raise SpecError("architecture: expected a 'subtree' tree or 'storage'/'arithmetic' lists", file=file)

    storage: list[StorageLevel] = []
    compute: ComputeLevel | None = None
    for c in comps:
        if _matches(c.cls, _BUFFER_CLASSES):
            storage.append(_storage_level(c, ert))
        elif _matches(c.cls, _COMPUTE_CLASSES):
            if compute is not None:
                raise SpecError(f"architecture: two compute levels ({compute.name}, {c.name})", file=file)
            compute = _compute_level(c, ert)
        elif _matches(c.cls, _NETWORK_CLASSES):
            raise SpecError(f"architecture: explicit network {c.name} ({c.cls}) is not supported", file=file)
        # Other classes are ignored, as Timeloop does.
    if compute is None:
        raise SpecError("architecture: no compute level (class mac/intmac/fpmac/compute)", file=file)
    if not storage:
        raise SpecError("architecture: no storage level", file=file)
    name = str(arch.get("name") or (arch["subtree"][0].get("name") if "subtree" in arch else "architecture"))
    return Architecture(name=_base_name(name), storage=tuple(reversed(storage)), compute=compute)

