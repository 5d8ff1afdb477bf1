"""Our own YAML formats: architecture, workload and mapping files.

Each loader validates strictly and reports every mistake as a
:class:`~sbmodel.errors.SpecError` naming the file, the YAML path and the line.
See ``docs/formats.md`` for the formats with complete examples.
"""

from .architecture import energy_tables, load_architecture, read_architecture_spec
from .mapping import dump_mapping, dump_mappings, load_mapping, load_mappings, tile_words
from .workload import load_workload

__all__ = [
    "load_architecture", "read_architecture_spec", "energy_tables",
    "load_workload",
    "load_mappings", "load_mapping", "dump_mapping", "dump_mappings", "tile_words",
]
