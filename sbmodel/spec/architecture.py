"""Our architecture format: a storage hierarchy from DRAM inwards, then the compute unit.

```yaml
architecture:
  name: simple_ws
  sources: ["where the numbers come from"]
  energy_table: accelergy_v4_simple_pe_array   # optional default table for `energy_pJ: <entry>`
  levels:                                      # outermost (DRAM) first
    - name: DRAM
      technology: DRAM                         # size_words may be left out: unbounded
      word_bits: 16
      block_size: 4                            # words per access
      energy_pJ: DRAM                          # an entry of the energy table ...
    - name: shared_glb
      size_words: 65536                        # per instance
      word_bits: 16
      block_size: 4
      read_bandwidth: 16                       # words per cycle per instance
      write_bandwidth: 16
      energy_pJ: {read: 32.38, fill: 26.16, update: 26.16, leak: 0.0054}   # ... or numbers
    - name: PE_array
      container: true                          # keeps nothing, only fans out
      mesh: [1, 1]
    - name: pe_spad
      mesh: [16, 16]                           # meshX x meshY instances (default: the parent's)
      keep: [Weights]                          # always holds these
      bypass: [Inputs, Outputs]                # never holds these
      ...
  compute:
    name: mac
    operand_bits: {weights: 8, inputs: 8, outputs: 16}
    style: {kind: mac}                         # mac | add | ucnn (see sbmodel.engine.repetition)
    energy_pJ: mac
```

``packed: true`` on a level stores sub-word data packed (a 1-bit weight takes
1/word_bits of a word: capacity, traffic and energy shrink with the bits);
without it every element takes one word, as in Timeloop.

Energies are per access of one block (storage) or per operation (compute), in
pJ; ``leak`` is per instance per cycle.  A string ``energy_pJ`` names an entry
of a table in ``sbmodel/data/energy_tables.yaml``: ``entry`` (in the
architecture's ``energy_table``) or ``table/entry``.  :func:`load_architecture`
returns a :class:`~sbmodel.core.architecture.Architecture` (levels innermost
first); every mistake is a :class:`~sbmodel.errors.SpecError` naming file, YAML
path and line.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

from pydantic import Field

from ..core.architecture import (COMPUTE_ACTIONS, STORAGE_ACTIONS, Architecture, ComputeLevel, ComputeStyle,
                                 StorageLevel)
from .common import StrictModel, check, validate
from .constraints import ConstraintsSpec, build_constraints
from .sparse import ComputeSparseSpec, LevelSparseSpec, build_sparse
from .workload import Bits
from .yamlio import Located, PathKey, load_yaml

PosInt = Annotated[int, Field(ge=1)]
NonNegInt = Annotated[int, Field(ge=0)]
PosFloat = Annotated[float, Field(gt=0.0)]
NonNegFloat = Annotated[float, Field(ge=0.0)]
Name = Annotated[str, Field(min_length=1)]
TensorName = Literal["Weights", "Inputs", "Outputs"]
Mesh = Annotated[list[PosInt], Field(min_length=2, max_length=2)]
# Numbers per action, or the name of an energy-table entry (checked after validation).
EnergySpec = Any

ENERGY_TABLES_RESOURCE = ("sbmodel", "data/energy_tables.yaml")
# Keys a container level may carry (it holds no data, so nothing about storage applies).
CONTAINER_KEYS = frozenset({"name", "description", "container", "mesh", "constraints"})


# --------------------------------------------------------------------------- file models


class MetadataSpec(StrictModel):
    """Geometry of the metadata storage of a compressed-format level (Sparseloop)."""

    word_bits: PosInt
    block_size: PosInt = 1
    storage_width_bits: NonNegInt = 0
    storage_depth: NonNegInt = 0


class StorageSpec(StrictModel):
    """One storage level as written in the file."""

    name: Name
    description: Optional[str] = None
    container: bool = False
    technology: Literal["SRAM", "DRAM"] = "SRAM"
    size_words: Optional[PosInt] = None
    word_bits: Optional[PosInt] = None
    block_size: PosInt = 1
    cluster_size: PosInt = 1
    mesh: Optional[Mesh] = None
    read_bandwidth: Optional[PosFloat] = None
    write_bandwidth: Optional[PosFloat] = None
    multiple_buffering: Annotated[float, Field(ge=1.0)] = 1.0
    min_utilization: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    reduction_supported: bool = True
    packed: bool = False  # sub-word data packed into words (a 1-bit weight is 1/word_bits word)
    keep: list[TensorName] = []
    bypass: list[TensorName] = []
    energy_pJ: EnergySpec = None
    metadata: Optional[MetadataSpec] = None
    sparse: Optional[LevelSparseSpec] = None  # formats, gating/skipping (see sbmodel.spec.sparse)
    constraints: Optional[ConstraintsSpec] = None  # what mappings may do here (sbmodel.spec.constraints)


class StyleSpec(StrictModel):
    """How the arithmetic units compute (see :class:`sbmodel.core.ComputeStyle`)."""

    kind: Literal["mac", "add", "ucnn"] = "mac"
    scale: Literal["folded", "per_output"] = "folded"  # region scale folded into BatchNorm or applied
    group_filters: Annotated[int, Field(ge=1, le=8)] = 1  # ucnn: filters sharing activation groups
    index_bits: Optional[PosInt] = None  # ucnn: indirection-table entry bits (default log2 of the chunk)
    structured: Optional[Annotated[str, Field(pattern=r"^[1-9][0-9]*:[1-9][0-9]*$")]] = None  # "2:4"


class ComputeSpec(StrictModel):
    """The compute unit as written in the file."""

    name: Name
    description: Optional[str] = None
    mesh: Optional[Mesh] = None
    word_bits: Optional[PosInt] = None
    operand_bits: Optional[Bits] = None
    style: StyleSpec = StyleSpec()
    energy_pJ: EnergySpec = None
    sparse: Optional[ComputeSparseSpec] = None  # compute gating/skipping (see sbmodel.spec.sparse)


class ArchitectureSpec(StrictModel):
    name: Name
    description: Optional[str] = None
    sources: list[str] = []
    energy_table: Optional[Name] = None
    levels: list[StorageSpec] = Field(min_length=1)
    compute: ComputeSpec


class ArchitectureFile(StrictModel):
    architecture: ArchitectureSpec


class EnergyEntry(StrictModel):
    energy_pJ: dict[str, NonNegFloat]
    note: Optional[str] = None


class EnergyTable(StrictModel):
    description: str
    source: str
    entries: dict[str, EnergyEntry] = Field(min_length=1)


class EnergyTablesFile(StrictModel):
    energy_tables: dict[str, EnergyTable]


# --------------------------------------------------------------------------- energy tables


@lru_cache(maxsize=1)
def energy_tables() -> dict[str, EnergyTable]:
    """The energy tables shipped in ``sbmodel/data/energy_tables.yaml`` (validated)."""
    package, relative = ENERGY_TABLES_RESOURCE
    path = resources.files(package).joinpath(relative)
    with resources.as_file(path) as real_path:
        located = load_yaml(real_path)
    tables = validate(EnergyTablesFile, located).energy_tables
    for table_name, table in tables.items():
        for entry_name, entry in table.entries.items():
            bad = set(entry.energy_pJ) - set(STORAGE_ACTIONS) - set(COMPUTE_ACTIONS)
            key = ("energy_tables", table_name, "entries", entry_name, "energy_pJ")
            check(not bad, located, key, f"unknown action(s) {sorted(bad)}")
    return tables


def _resolve_energies(
    spec: Any, located: Located, path: PathKey, actions: tuple[str, ...], default_table: Optional[str],
) -> dict[str, float]:
    """Per-action energies from a mapping of numbers or an energy-table reference."""
    if spec is None:
        return {}
    if isinstance(spec, str):
        return _table_energies(spec, located, path, actions, default_table)
    check(isinstance(spec, dict), located, path,
          f"expected a mapping of action: pJ or the name of an energy-table entry (got {spec!r})")
    out: dict[str, float] = {}
    for action, value in spec.items():
        where = path + (action,)
        hint = "; Timeloop's 'write' is called 'fill' here" if action == "write" and "fill" in actions else ""
        check(action in actions, located, where,
              f"unknown action {action!r} (expected one of {', '.join(actions)}){hint}")
        check(isinstance(value, (int, float)) and not isinstance(value, bool), located, where,
              f"expected a number of pJ (got {value!r})")
        check(value >= 0, located, where, f"energy must be at least 0 (got {value!r})")
        out[action] = float(value)
    return out


def _table_energies(
    reference: str, located: Located, path: PathKey, actions: tuple[str, ...], default_table: Optional[str],
) -> dict[str, float]:
    tables = energy_tables()
    if "/" in reference:
        table_name, entry_name = reference.split("/", 1)
    else:
        check(default_table is not None, located, path,
              f"energy entry {reference!r} needs 'energy_table' in the architecture, or write 'table/entry'")
        table_name, entry_name = str(default_table), reference
    check(table_name in tables, located, path,
          f"unknown energy table {table_name!r} (shipped tables: {', '.join(sorted(tables))})")
    entries = tables[table_name].entries
    check(entry_name in entries, located, path,
          f"energy table {table_name!r} has no entry {entry_name!r} (entries: {', '.join(entries)})")
    energies = dict(entries[entry_name].energy_pJ)
    bad = sorted(set(energies) - set(actions))
    check(not bad, located, path,
          f"energy entry {table_name}/{entry_name} has action(s) {bad} that this kind of level does not have")
    return energies


# --------------------------------------------------------------------------- building the core types


def _mesh(spec_mesh: Optional[list[int]], parent: tuple[int, int], located: Located, path: PathKey,
          parent_name: str) -> tuple[int, int]:
    """The (meshX, meshY) of a level; defaults to its parent's; must be a whole multiple of it."""
    if spec_mesh is None:
        return parent
    mx, my = spec_mesh
    check(mx % parent[0] == 0 and my % parent[1] == 0, located, path + ("mesh",),
          f"mesh {mx}x{my} is not a whole multiple of the mesh {parent[0]}x{parent[1]} of {parent_name} above it")
    return mx, my


def _storage_level(
    spec: StorageSpec, located: Located, path: PathKey, mesh: tuple[int, int], default_table: Optional[str],
) -> StorageLevel:
    if spec.container:
        extra = sorted(spec.model_fields_set - CONTAINER_KEYS)
        check(not extra, located, path + (extra[0],) if extra else path,
              f"a container level keeps nothing and only carries a spatial fanout; remove {', '.join(extra)}")
        # Like Timeloop's dummy_storage: one 1-bit word, no energies, keeps nothing.
        return StorageLevel(
            name=spec.name, size_words=1, word_bits=1, instances=mesh[0] * mesh[1],
            mesh_x=mesh[0], mesh_y=mesh[1], container_only=True,
            constraints=build_constraints(spec.constraints, located, path),
        )
    if spec.word_bits is None:
        raise located.error(path, "required key is missing: word_bits")
    check(spec.size_words is not None or spec.technology == "DRAM", located, path,
          "required key is missing: size_words (only a DRAM level may be unbounded)")
    for i, tensor in enumerate(spec.keep):
        check(tensor not in spec.keep[:i], located, path + ("keep", i), f"{tensor} is listed twice")
    for i, tensor in enumerate(spec.bypass):
        check(tensor not in spec.bypass[:i], located, path + ("bypass", i), f"{tensor} is listed twice")
        check(tensor not in spec.keep, located, path + ("bypass", i),
              f"{tensor} is both kept and bypassed; a level either keeps a tensor or bypasses it")
    metadata: dict[str, int] = {}
    if spec.metadata is not None:
        metadata = {
            "metadata_word_bits": spec.metadata.word_bits,
            "metadata_block_size": spec.metadata.block_size,
            "metadata_storage_width_bits": spec.metadata.storage_width_bits,
            "metadata_storage_depth": spec.metadata.storage_depth,
        }
    return StorageLevel(
        name=spec.name,
        size_words=spec.size_words,
        word_bits=spec.word_bits,
        block_size=spec.block_size,
        cluster_size=spec.cluster_size,
        instances=mesh[0] * mesh[1],
        mesh_x=mesh[0],
        mesh_y=mesh[1],
        read_bandwidth=spec.read_bandwidth,
        write_bandwidth=spec.write_bandwidth,
        multiple_buffering=spec.multiple_buffering,
        min_utilization=spec.min_utilization,
        technology=spec.technology,
        reduction_supported=spec.reduction_supported,
        packed=spec.packed,
        energy_pJ=_resolve_energies(spec.energy_pJ, located, path + ("energy_pJ",), STORAGE_ACTIONS, default_table),
        must_keep=frozenset(spec.keep),
        must_bypass=frozenset(spec.bypass),
        constraints=build_constraints(spec.constraints, located, path),
        **metadata,
    )


def _compute_level(
    spec: ComputeSpec, located: Located, path: PathKey, mesh: tuple[int, int], default_table: Optional[str],
) -> ComputeLevel:
    operand_bits: dict[str, int] = {}
    if spec.operand_bits is not None:
        bits = spec.operand_bits
        operand_bits = {"Weights": bits.weights, "Inputs": bits.inputs, "Outputs": bits.outputs}
    if spec.word_bits is not None:
        word_bits = spec.word_bits
    elif operand_bits:
        word_bits = max(operand_bits["Weights"], operand_bits["Inputs"])  # the multiplier width
    else:
        word_bits = ComputeLevel.word_bits  # the core's default
    return ComputeLevel(
        name=spec.name, instances=mesh[0] * mesh[1], mesh_x=mesh[0], mesh_y=mesh[1], word_bits=word_bits,
        energy_pJ=_resolve_energies(spec.energy_pJ, located, path + ("energy_pJ",), COMPUTE_ACTIONS, default_table),
        operand_bits=operand_bits,
        style=_style(spec.style, located, path + ("style",)),
    )


def _style(spec: StyleSpec, located: Located, path: PathKey) -> ComputeStyle:
    structured = None
    if spec.structured is not None:
        n, m = (int(x) for x in spec.structured.split(":"))
        check(n < m, located, path + ("structured",), f"n:m structured sparsity needs n < m, got {spec.structured}")
        structured = (n, m)
    return ComputeStyle(spec.kind, scale_folded=spec.scale == "folded", group_filters=spec.group_filters,
                        index_bits=spec.index_bits, structured=structured)


def build_architecture(spec: ArchitectureSpec, located: Located) -> Architecture:
    """Check what pydantic cannot (names, meshes, energies) and build the core type."""
    root: PathKey = ("architecture",)
    table = spec.energy_table
    if table is not None:
        tables = energy_tables()
        check(table in tables, located, root + ("energy_table",),
              f"unknown energy table {table!r} (shipped tables: {', '.join(sorted(tables))})")
    seen: set[str] = set()
    for i, level in enumerate(spec.levels):
        check(level.name not in seen, located, root + ("levels", i, "name"), f"level name {level.name!r} is used twice")
        seen.add(level.name)
    check(spec.compute.name not in seen, located, root + ("compute", "name"),
          f"the compute unit's name {spec.compute.name!r} is already a storage level's name")

    outer_first: list[StorageLevel] = []
    mesh, parent_name = (1, 1), "the top"
    for i, level in enumerate(spec.levels):
        path = root + ("levels", i)
        mesh = _mesh(level.mesh, mesh, located, path, parent_name)
        outer_first.append(_storage_level(level, located, path, mesh, table))
        parent_name = level.name
    compute_path = root + ("compute",)
    compute_mesh = _mesh(spec.compute.mesh, mesh, located, compute_path, parent_name)
    compute = _compute_level(spec.compute, located, compute_path, compute_mesh, table)
    return Architecture(name=spec.name, storage=tuple(reversed(outer_first)), compute=compute,
                        sparse=build_sparse(spec, located))


def read_architecture_spec(path: str | Path) -> tuple[ArchitectureSpec, Located]:
    """The validated file model (with descriptions and sources) and its located data."""
    located = load_yaml(path)
    check(isinstance(located.data, dict) and "architecture" in located.data, located, (),
          "expected a top-level 'architecture:' mapping")
    return validate(ArchitectureFile, located).architecture, located


def load_architecture(path: str | Path) -> Architecture:
    """Read, validate and build an architecture file (see the module docstring)."""
    spec, located = read_architecture_spec(path)
    return build_architecture(spec, located)


__all__ = [
    "ArchitectureSpec", "StorageSpec", "ComputeSpec", "EnergyTable",
    "energy_tables", "build_architecture", "read_architecture_spec", "load_architecture",
]
