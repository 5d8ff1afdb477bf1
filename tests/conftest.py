"""Shared fixtures: where the Timeloop reference runs live.

Tests read the reference data from ``../shared/reference`` (or the folder named
by ``SBMODEL_REFERENCE_DIR``); it is never copied into the project.  Without
it, reference tests are skipped locally but *fail* under CI (``CI=true``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_console_script() -> str:
    """Path of the installed ``sbmodel`` script; skipped locally, a failure under CI."""
    import shutil

    path = shutil.which("sbmodel")
    if path is None:
        msg = "the sbmodel console script is not installed (pip install -e .)"
        if in_ci():
            pytest.fail(msg)
        pytest.skip(msg)
    return path


def need(module: str):
    """Import an optional dependency (torch, onnx, dask, pyarrow): skipped locally without it
    (the README's test command installs only ``.[test]``), a failure under CI, which installs
    it (see .ci/run).  Usable in a test or at a test module's top."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        if in_ci():
            pytest.fail(f"{module} is not installed (CI installs it: see .ci/run)")
        pytest.skip(f"{module} is not installed", allow_module_level=True)


def reference_root() -> Path:
    env = os.environ.get("SBMODEL_REFERENCE_DIR")
    return Path(env) if env else ROOT.parent / "shared" / "reference"


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    root = reference_root()
    if not (root / "timeloop" / "manifest.yaml").is_file():
        msg = f"reference data not found at {root} (set SBMODEL_REFERENCE_DIR)"
        if in_ci():
            pytest.fail(msg)
        pytest.skip(msg)
    return root


@pytest.fixture(scope="session")
def timeloop_manifest(reference_dir: Path) -> dict:
    import yaml

    with open(reference_dir / "timeloop" / "manifest.yaml") as fh:
        return yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
