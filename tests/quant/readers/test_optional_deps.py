"""Without the optional extras, the PyTorch and ONNX readers say what to install (no traceback)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from sbmodel.errors import SbmodelError
from sbmodel.quant.readers import read_checkpoint


@pytest.mark.parametrize("module, suffix, hint", [("torch", "pt", "sbmodel[torch]"), ("onnx", "onnx", "sbmodel[onnx]")])
def test_missing_extra_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, module: str, suffix: str,
                                        hint: str) -> None:
    path = tmp_path / f"model.{suffix}"
    path.write_bytes(b"\0")
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` raise ImportError
    with pytest.raises(SbmodelError, match=hint.replace("[", r"\[").replace("]", r"\]")):
        read_checkpoint(path)
