"""Small, fast sweeps for the tests: a two-layer workload on the shipped designs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from ..conftest import need  # noqa: F401  (the sweep tests import it from here)

ROOT = Path(__file__).resolve().parents[2]
ARCH = ROOT / "arch_specs" / "eyeriss_like.yaml"

TINY_WORKLOAD = {
    "workload": {
        "name": "tiny",
        "provenance": {"method": "shapes-only", "source": "sbmodel tests: two small layers"},
        "layers": [
            {"name": "conv", "C": 8, "M": 16, "P": 8, "Q": 8, "R": 3, "S": 3,
             "stats": {"weights": {"density": 0.5, "scheme": "ternary"}}},
            {"name": "fc", "type": "fc", "C": 64, "M": 10,
             "stats": {"weights": {"density": 1.0, "scheme": "fp"}}},
        ],
    }
}


def write_yaml(path: Path, data: Any) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def sweep_dict(parameters: dict[str, Any], **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"architecture": str(ARCH), "workload": "tiny.yaml",
                            "mapper": {"budget": 200, "seed": 0}, "parameters": parameters}
    body.update(extra)
    return {"sweep": body}


@pytest.fixture
def tiny_dir(tmp_path: Path) -> Path:
    write_yaml(tmp_path / "tiny.yaml", TINY_WORKLOAD)
    return tmp_path


@pytest.fixture
def make_sweep(tiny_dir: Path):
    """Write a sweep file into the test folder: make_sweep(parameters, **sweep_keys) -> path."""

    def make(parameters: dict[str, Any], name: str = "sweep.yaml", **extra: Any) -> Path:
        return write_yaml(tiny_dir / name, sweep_dict(parameters, **extra))

    return make


GLB = "architecture.levels.shared_glb.size_words"
DRAM_BW = "architecture.levels.DRAM.read_bandwidth"
