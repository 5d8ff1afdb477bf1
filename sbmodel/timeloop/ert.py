"""Accelergy energy reference tables (ERT) and Timeloop's action-name mapping.

An ERT lists, per component, the energy of each action, possibly for several
argument variants; Timeloop keeps the maximum over variants.  A component is
matched to an architecture level by its last hierarchical name with any
``[a..b]`` range removed (``system.PE[0..167].ifmap_spad`` -> ``ifmap_spad``).
Each sbmodel action then takes the first ERT action present from Timeloop's
priority list (e.g. a fill costs ``random_fill``, else ``random_write``,
``fill``, ``write``).
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import SpecError
from .inputs import as_number, normalise_keys
from ..spec.yamlio import load_yaml

# sbmodel storage action -> priority list of ERT action names (Timeloop's table).
STORAGE_ACTION_NAMES: dict[str, tuple[str, ...]] = {
    "read": ("random_read", "read"),
    "gated_read": ("gated_read",),
    "skipped_read": ("skipped_read", "gated_read"),
    "metadata_read": ("random_metadata_read", "metadata_read"),
    "gated_metadata_read": ("gated_metadata_read",),
    "skipped_metadata_read": ("skipped_metadata_read", "gated_metadata_read"),
    "fill": ("random_fill", "random_write", "fill", "write"),
    "gated_fill": ("gated_fill", "gated_write"),
    "skipped_fill": ("skipped_fill", "skipped_write", "gated_fill", "gated_write"),
    "metadata_fill": ("random_metadata_fill", "random_metadata_write", "metadata_fill", "metadata_write"),
    "gated_metadata_fill": ("gated_metadata_fill", "gated_metadata_write"),
    "skipped_metadata_fill": ("skipped_metadata_fill", "skipped_metadata_write", "gated_metadata_fill",
                              "gated_metadata_write"),
    "update": ("random_update", "random_write", "update", "write"),
    "gated_update": ("gated_update", "gated_write"),
    "skipped_update": ("skipped_update", "skipped_write", "gated_update", "gated_write"),
    "metadata_update": ("random_metadata_update", "random_metadata_write", "metadata_update", "metadata_write"),
    "gated_metadata_update": ("gated_metadata_update", "gated_metadata_write"),
    "skipped_metadata_update": ("skipped_metadata_update", "skipped_metadata_write", "gated_metadata_update",
                                "gated_metadata_write"),
    "decompression": ("decompression_count",),
    "compression": ("compression_count",),
    "leak": ("leak",),
}
COMPUTE_ACTION_NAMES: dict[str, tuple[str, ...]] = {
    "compute": ("mac_random", "mult_random", "mac", "mult", "compute"),
    "gated_compute": ("mac_gated", "mult_gated", "compute_gated", "mac", "mult", "compute"),
    "skipped_compute": ("mac_skipped", "mult_skipped", "compute_skipped", "mac_gated", "mult_gated",
                        "compute_gated", "mac", "mult", "compute"),
}
DENSE_STORAGE_ACTIONS = ("read", "fill", "update")

_RANGE = re.compile(r"\[\d+\.\.\d+\]$")


def component_name(hierarchical: str) -> str:
    """``sys.chip.PE[0..167].ifmap_spad[0..3]`` -> ``ifmap_spad``."""
    return _RANGE.sub("", hierarchical.strip()).rsplit(".", 1)[-1]


def parse_ert(data: Any, file: str | None = None) -> dict[str, dict[str, float]]:
    """ERT (v0.2, v0.3 or v0.4) -> {component: {ert action: max energy over arguments}}."""
    data = normalise_keys(data)
    if isinstance(data, dict) and "ERT" in data:
        data = data["ERT"]
    if not isinstance(data, dict) or "tables" not in data:
        raise SpecError("an ERT needs a 'tables' section", file=file)
    tables = data["tables"]
    out: dict[str, dict[str, float]] = {}

    def record(component: str, action: str, entries: Any) -> None:
        variants = entries if isinstance(entries, list) else [entries]
        best = 0.0
        for v in variants:
            if isinstance(v, dict) and "energy" in v:
                best = max(best, float(as_number(v["energy"], f"ERT {component}.{action}", file)))
        actions = out.setdefault(component_name(component), {})
        actions[action] = max(best, actions.get(action, 0.0))

    if isinstance(tables, list):  # v0.3 / v0.4
        for table in tables:
            if not isinstance(table, dict) or "name" not in table:
                raise SpecError("ERT table entries need a name", file=file)
            for action in table.get("actions") or []:
                if not isinstance(action, dict) or "name" not in action:
                    raise SpecError(f"ERT {table['name']}: actions need a name", file=file)
                # Several entries with one action name are argument variants: keep the max.
                record(table["name"], action["name"], action)
    elif isinstance(tables, dict):  # v0.2
        for comp, actions in tables.items():
            for action, entries in (actions or {}).items():
                record(comp, action, entries)
    else:
        raise SpecError("ERT 'tables' must be a list or mapping", file=file)
    return out


def load_ert(path: str) -> dict[str, dict[str, float]]:
    return parse_ert(load_yaml(path).data, path)


def storage_energies(ert_actions: dict[str, float], vector_access_energy: float | None = None) -> dict[str, float]:
    """sbmodel storage action energies for one ERT component (Timeloop's fallbacks).

    Dense actions missing from the table cost Timeloop's built-in vector access
    energy of the level (``vector_access_energy``, see
    :func:`builtin_vector_access_energy`), or the dearest action of the
    component when that is not given; other missing actions cost 0.
    """
    dearest = max(ert_actions.values(), default=0.0) if vector_access_energy is None else vector_access_energy
    out: dict[str, float] = {}
    for action, names in STORAGE_ACTION_NAMES.items():
        hit = next((ert_actions[n] for n in names if n in ert_actions), None)
        if hit is None and action in DENSE_STORAGE_ACTIONS:
            hit = dearest
        if hit is not None:
            out[action] = hit
    return out


def builtin_vector_access_energy(technology: str, size_words: int | None, word_bits: int, block_size: int,
                                 cluster_size: int) -> float:
    """Timeloop's own access-energy model (``pat``), used for dense actions an ERT does not name.

    DRAM: 200 pJ per 16 bits; SRAM: linear in capacity between 1 unit at 0.5 KB
    and 6 units at 100 KB per 16-bit access, scaled by the access width.
    """
    if technology == "DRAM":
        return 200.0 * word_bits * block_size / 16
    if not size_words:
        return 0.0
    width = word_bits * block_size * cluster_size
    height = -(-size_words // block_size)
    slope = (6.0 - 1.0) / (100.0 - 0.5)
    kb = width * height / (8 * 1024)
    return (slope * (kb - 0.5) + 1.0) * width / 16 / cluster_size


def compute_energies(ert_actions: dict[str, float]) -> dict[str, float]:
    out: dict[str, float] = {}
    for action, names in COMPUTE_ACTION_NAMES.items():
        hit = next((ert_actions[n] for n in names if n in ert_actions), None)
        if hit is not None:
            out[action] = hit
    return out
