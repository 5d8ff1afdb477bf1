"""Importer for Timeloop / Sparseloop inputs (v0.3 multi-file or aggregated, v0.4 processed).

:func:`load_timeloop_inputs` turns the file list ``timeloop-model`` takes (plus
an ERT) into sbmodel's core types, so the same engine evaluates imported and
native designs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from ..core import Architecture, Mapping, Problem
from ..errors import SpecError
from .architecture import parse_architecture
from .ert import load_ert, parse_ert
from .inputs import TimeloopDocument, read_documents
from .map_txt import is_map_txt, map_txt_directives
from .mapping import parse_mapping
from .problem import parse_problem
from .sparse import parse_sparse_optimizations
from ..engine.sparse.spec import SparseSpec


@dataclass(frozen=True)
class TimeloopSpec:
    """Everything a set of Timeloop inputs describes, in sbmodel's types."""

    problem: Problem
    architecture: Architecture
    mapping: Mapping | None
    sparse: SparseSpec | None = None  # the sparse_optimizations section (None: dense design)
    document: TimeloopDocument | None = field(default=None, compare=False)


def load_timeloop_inputs(files: Iterable[str | Path], ert: str | Path | None = None) -> TimeloopSpec:
    """Parse Timeloop input files; energies come from ``ert`` (or an ``ERT`` section in the inputs).
    The mapping may also be given as Timeloop's printout of one (a ``*.map.txt`` file, see
    :mod:`.map_txt`) instead of ``mapping:`` directives."""
    files = list(files)
    printed = [f for f in files if is_map_txt(f)]
    if len(printed) > 1:
        raise SpecError(f"two printed mappings given ({printed[0]} and {printed[1]}): give one")
    doc = read_documents(f for f in files if not is_map_txt(f))
    if doc.get("problem") is None:
        raise SpecError("no 'problem' section in the Timeloop inputs")
    if doc.get("architecture") is None:
        raise SpecError("no 'architecture' section in the Timeloop inputs")
    if ert is not None:
        ert_table = load_ert(str(ert))
    elif doc.get("ERT") is not None:
        ert_table = parse_ert(doc.get("ERT"), doc.file_of("ERT"))
    else:
        raise SpecError("no energy reference table: pass --ert ERT.yaml (the ERT Timeloop used)")
    problem = parse_problem(doc.get("problem"), doc.file_of("problem"))
    arch = parse_architecture(doc.get("architecture"), ert_table, doc.file_of("architecture"))
    sparse = parse_sparse_optimizations(doc.get("sparse_optimizations"), problem, arch,
                                        doc.file_of("sparse_optimizations"))
    directives = doc.get("mapping")
    mapping_file = doc.file_of("mapping")
    if printed:
        if directives:
            raise SpecError(f"two mappings given: the directives of {mapping_file} and the printed mapping "
                            f"{printed[0]}: give one", file=str(printed[0]))
        directives = map_txt_directives(printed[0], problem, [lv.name for lv in arch.storage])
        mapping_file = str(printed[0])
    mapping = None
    if directives:
        # Spatial skipping lets a mapping use more spatial instances than the fanout before skipping.
        mapping = parse_mapping(directives, problem, arch, mapping_file,
                                spatial_overflow=sparse is not None and sparse.has_spatial_skipping)
    return TimeloopSpec(problem=problem, architecture=arch, mapping=mapping, sparse=sparse, document=doc)


__all__ = ["TimeloopSpec", "load_timeloop_inputs"]
