"""The PyTorch reader: state dicts, traced geometry, calibration densities, and refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import need

torch = need("torch")  # optional extra: skipped without it locally, required under CI

from sbmodel.errors import SbmodelError
from sbmodel.quant.geometry import place_layers
from sbmodel.quant.readers import read_checkpoint
from sbmodel.quant.readers.base import LayerGeometry
from sbmodel.quant.resnet18 import resnet18_layers

from .torch_models import resnet18, tiny

MODELS = "tests.quant.readers.torch_models"


@pytest.fixture(scope="module")
def resnet_pth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("torch") / "resnet18.pth"
    torch.save(resnet18().state_dict(), path)
    return path


def test_state_dict_weights_in_order(resnet_pth: Path) -> None:
    ckpt = read_checkpoint(resnet_pth)
    assert [t.name for t in ckpt.tensors] == [name for name, _ in resnet18_layers()]
    state = torch.load(resnet_pth, weights_only=True)
    np.testing.assert_array_equal(ckpt.tensors[1].array, state["layer1.0.conv1.weight"].numpy())


def test_traced_geometry_is_resnet18_and_matches_the_convention(resnet_pth: Path) -> None:
    traced = read_checkpoint(resnet_pth, model=f"{MODELS}:resnet18", input_shape=(1, 3, 224, 224))
    assert dict(traced.geometry) == dict(resnet18_layers())
    inferred = place_layers(read_checkpoint(resnet_pth), input_shape=(1, 3, 224, 224))
    assert {pl.name: pl.geometry for pl in inferred.layers} == dict(resnet18_layers())
    assert "ResNet convention" in inferred.source


def test_wrapped_state_dict_and_half_precision(tmp_path: Path) -> None:
    path = tmp_path / "wrapped.pt"
    state = {k: v.half() for k, v in tiny().state_dict().items()}
    torch.save({"epoch": 3, "model_state_dict": state}, path)
    ckpt = read_checkpoint(path)
    assert [t.name for t in ckpt.tensors] == ["conv", "grouped", "fc"]
    assert ckpt.tensors[0].array.dtype == np.float32


def test_grouped_conv_and_calibration_densities(tmp_path: Path) -> None:
    path = tmp_path / "tiny.pt"
    model = tiny()
    torch.save(model.state_dict(), path)
    x = np.random.default_rng(0).standard_normal((5, 2, 6, 6)).astype(np.float32)
    x[:, :, :3] = 0.0  # half of every image is zero
    ckpt = read_checkpoint(path, model=f"{MODELS}:tiny", input_shape=(1, 2, 6, 6), calibration=x)
    assert ckpt.geometry["conv"] == LayerGeometry("conv", C=2, M=4, N=1, P=3, Q=3, R=3, S=3, Wstride=2, Hstride=2)
    assert ckpt.geometry["grouped"] == LayerGeometry("conv", C=4, M=4, N=1, P=3, Q=3, R=3, S=3, groups=2)
    assert ckpt.geometry["fc"] == LayerGeometry("fc", C=4, M=3, N=1)
    assert ckpt.input_densities["conv"].density == 0.5
    assert ckpt.input_densities["conv"].elements == x.size
    with torch.no_grad():  # independent recomputation of the second layer's input density
        h = torch.relu(model.conv(torch.from_numpy(x)))
    assert ckpt.input_densities["grouped"].nonzeros == int((h != 0).sum())


def test_refusals(tmp_path: Path) -> None:
    whole = tmp_path / "whole.pt"
    torch.save(tiny(), whole)
    with pytest.raises(SbmodelError, match="pickled objects.*state_dict"):
        read_checkpoint(whole)
    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(b"\x80\x02 garbage")
    with pytest.raises(SbmodelError, match="corrupt.pth: not a readable PyTorch checkpoint"):
        read_checkpoint(corrupt)
    rank3 = tmp_path / "conv1d.pt"
    torch.save({"c.weight": torch.ones(4, 2, 3)}, rank3)
    with pytest.raises(SbmodelError, match="'c.weight' has shape \\(4, 2, 3\\) \\(rank 3\\)"):
        read_checkpoint(rank3)
    ok = tmp_path / "tiny.pt"
    torch.save(tiny().state_dict(), ok)
    with pytest.raises(SbmodelError, match="does not fit model"):
        read_checkpoint(ok, model=f"{MODELS}:resnet18", input_shape=(1, 3, 32, 32))
    with pytest.raises(SbmodelError, match="cannot import model module"):
        read_checkpoint(ok, model="no_such_module:f", input_shape=(1, 2, 6, 6))
    with pytest.raises(SbmodelError, match="fails on an input of shape"):
        read_checkpoint(ok, model=f"{MODELS}:tiny", input_shape=(1, 5, 6, 6))


def test_layer_that_never_runs_cannot_be_placed(tmp_path: Path) -> None:
    from .torch_models import unused

    path = tmp_path / "unused.pt"
    torch.save(unused().state_dict(), path)
    ckpt = read_checkpoint(path, model=f"{MODELS}:unused", input_shape=(1, 2, 6, 6))
    with pytest.raises(SbmodelError, match="cannot place layer 'spare'"):
        place_layers(ckpt)
