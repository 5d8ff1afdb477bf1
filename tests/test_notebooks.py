"""Every notebook in notebooks/ runs top to bottom (nbclient, a fresh kernel, cwd = notebooks/).

The kernel imports sbmodel from this checkout.  Each cell has a time limit, so a
notebook that grows slow fails here instead of in a reader's hands.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .conftest import ROOT
from .sweep.conftest import need

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT_S = 120


def test_there_are_notebooks():
    names = {p.name for p in NOTEBOOKS}
    assert {"01_quickstart.ipynb", "02_repetition_sparsity.ipynb", "03_design_space_sweep.ipynb"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path: Path, monkeypatch, tmp_path: Path):
    nbformat = need("nbformat")
    nbclient = need("nbclient")
    need("ipykernel")
    monkeypatch.setenv("PYTHONPATH", str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("SBMODEL_NOTEBOOK_OUTPUT", str(tmp_path))  # where notebooks may write files
    book = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(book, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                                     resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    errors = [o for c in book.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
    assert all(not c.get("outputs") or c.get("execution_count") for c in book.cells if c.cell_type == "code")
