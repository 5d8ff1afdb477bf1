"""The exporter: every exported statistic recomputed independently, layer policy, provenance, atomic writes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sbmodel.errors import SbmodelError, SpecError
from sbmodel.quant import export as export_module
from sbmodel.quant.export import ExportOptions, ProvenanceInfo, export_workload
from sbmodel.quant.quantizers import QuantizerConfig
from sbmodel.quant.readers.npz import write_npz
from sbmodel.quant.regions import RegionSpec
from sbmodel.spec.workload import Layer, load_workload

from . import naive

RNG = np.random.default_rng(7)
# A tiny ResNet-like network in torchvision naming: stem, two block convs, a 1x1/2 shortcut, fc.
WEIGHTS = {
    "conv1.weight": RNG.laplace(size=(8, 3, 3, 3)).astype(np.float32),
    "layer1.0.conv1.weight": RNG.laplace(size=(8, 8, 3, 3)).astype(np.float32),
    "layer1.0.conv2.weight": RNG.laplace(size=(8, 8, 3, 3)).astype(np.float32),
    "layer2.0.conv1.weight": RNG.laplace(size=(16, 8, 3, 3)).astype(np.float32),
    "layer2.0.downsample.0.weight": RNG.laplace(size=(16, 8, 1, 1)).astype(np.float32),
    "fc.weight": RNG.laplace(size=(10, 16)).astype(np.float32),
    "fc.bias": np.zeros(10, np.float32),
}
QUANTISED = ["layer1.0.conv1", "layer1.0.conv2", "layer2.0.conv1"]


@pytest.fixture()
def ckpt(tmp_path: Path) -> Path:
    path = tmp_path / "net.npz"
    np.savez(path, **WEIGHTS)
    return path


def _export(ckpt: Path, out: Path, scheme: str = "signed-binary", **kw: object) -> export_module.ExportResult:
    region = kw.pop("region", RegionSpec())
    options = ExportOptions(quantizer=QuantizerConfig(scheme, region=region), masks=True,  # type: ignore[arg-type]
                            **kw)  # type: ignore[arg-type]
    return export_workload(ckpt, out, options, input_shape=(1, 3, 16, 16))


def _check_layer_against_oracles(layer: Layer, values: np.ndarray, mask: np.ndarray) -> None:
    """Recompute every weight statistic of one layer from its quantised values, naively."""
    ws = layer.stats.weights  # type: ignore[union-attr]
    region = ws.region
    kind, size = region.kind, region.size
    rows_f, rows_r = naive.filters(values), naive.regions(values, kind, size)
    assert ws.elements == values.size
    assert ws.nonzeros == sum(naive.nonzeros(rows_f))
    assert ws.density == ws.nonzeros / ws.elements
    assert ws.nonzeros_per_filter == naive.nonzeros(rows_f)
    assert ws.nonzeros_per_region == naive.nonzeros(rows_r)
    assert ws.unique_nonzero_values_per_filter == naive.unique_nonzero(rows_f)
    assert ws.unique_nonzero_values_per_region == naive.unique_nonzero(rows_r)
    assert ws.sign_per_region == naive.signs(rows_r)
    assert dict(zip(map(int, ws.zero_run_histogram.values), ws.zero_run_histogram.counts)) == \
        naive.zero_runs(values)
    np.testing.assert_array_equal(mask, values != 0)


def test_signed_binary_export_recomputed_independently(ckpt: Path, tmp_path: Path) -> None:
    out = tmp_path / "sb.yaml"
    result = _export(ckpt, out)
    workload = load_workload(out)
    masks = np.load(tmp_path / "sb.npz")
    for layer in workload.layers:
        latent = WEIGHTS[f"{layer.name}.weight"]
        ws = layer.stats.weights  # type: ignore[union-attr]
        if layer.name in QUANTISED:
            values = naive.signed_binary(latent)  # the reference rule, weight by weight
            assert ws.scheme == "signed-binary" and ws.bits == 1
            assert layer.bits is not None and layer.bits.weights == 1
            assert ws.value_histogram.values == [-1.0, 0.0, 1.0]
            assert ws.value_histogram.counts == [int((values == -1).sum()), int((values == 0).sum()),
                                                 int((values == 1).sum())]
        else:
            values = latent
            assert ws.scheme == "fp" and ws.bits == 8 and layer.bits is None
        assert ws.mask == f"sb.npz:{layer.name}"
        _check_layer_against_oracles(layer, values, masks[layer.name])
    by_name = {s.name: s for s in result.layers}
    assert by_name["layer1.0.conv1"].nonzeros == int(np.count_nonzero(naive.signed_binary(
        WEIGHTS["layer1.0.conv1.weight"])))


def test_channel_block_regions_exported(ckpt: Path, tmp_path: Path) -> None:
    out = tmp_path / "blocks.yaml"
    _export(ckpt, out, region=RegionSpec("channel-block", 3))
    masks = np.load(tmp_path / "blocks.npz")
    layer = next(l for l in load_workload(out).layers if l.name == "layer1.0.conv2")
    values = naive.signed_binary(WEIGHTS["layer1.0.conv2.weight"], kind="channel-block", size=3)
    assert layer.stats.weights.region.kind == "channel-block" and layer.stats.weights.region.size == 3
    assert len(layer.stats.weights.sign_per_region) == 8 * 3  # 8 filters x ceil(8 / 3) blocks
    _check_layer_against_oracles(layer, values, masks[layer.name])


@pytest.mark.parametrize("scheme", ["binary", "ternary"])
def test_other_schemes_use_the_same_layer_policy(ckpt: Path, tmp_path: Path, scheme: str) -> None:
    out = tmp_path / f"{scheme}.yaml"
    _export(ckpt, out, scheme)
    layers = {l.name: l for l in load_workload(out).layers}
    assert sorted(n for n, l in layers.items() if l.stats.weights.scheme == scheme) == QUANTISED
    assert layers["layer2.0.downsample.0"].stats.weights.scheme == "fp"
    if scheme == "binary":
        assert layers["layer1.0.conv1"].stats.weights.density == 1.0
        assert set(layers["layer1.0.conv1"].stats.weights.unique_nonzero_values_per_filter) <= {1, 2}


def test_keep_fp_none_regex_and_checkpoint_hint(ckpt: Path, tmp_path: Path) -> None:
    out = tmp_path / "all.yaml"
    _export(ckpt, out, keep_fp="none")
    assert all(l.stats.weights.scheme == "signed-binary" for l in load_workload(out).layers)
    _export(ckpt, out, keep_fp=r"^fc$")
    assert [l.name for l in load_workload(out).layers if l.stats.weights.scheme == "fp"] == ["fc"]
    hinted = tmp_path / "hinted.npz"
    write_npz(hinted, WEIGHTS, {"quantized_layers": ["layer2.0.conv1"]})
    export_workload(hinted, out, ExportOptions(QuantizerConfig("ternary")), input_shape=(1, 3, 16, 16))
    assert [l.name for l in load_workload(out).layers if l.stats.weights.scheme == "ternary"] == ["layer2.0.conv1"]
    with pytest.raises(SbmodelError, match="not a regular expression"):
        _export(ckpt, out, keep_fp="(")


def test_activation_densities_and_provenance(ckpt: Path, tmp_path: Path) -> None:
    acts = tmp_path / "acts.npz"
    a = np.zeros((4, 8, 16, 16), np.float32)
    a[:, :, :4] = 1.0  # a quarter nonzero
    np.savez(acts, **{"layer1.0.conv1": a})
    out = tmp_path / "a.yaml"
    options = ExportOptions(QuantizerConfig("signed-binary"),
                            provenance=ProvenanceInfo(metrics={"test_accuracy": 0.5}, notes="hello"))
    export_workload(ckpt, out, options, input_shape=(1, 3, 16, 16), activations=acts)
    w = load_workload(out)
    inputs = next(l for l in w.layers if l.name == "layer1.0.conv1").stats.inputs
    assert (inputs.density, inputs.nonzeros, inputs.elements) == (0.25, a.size // 4, a.size)
    p = w.provenance
    assert p.method == "measured" and "sha256" in p.source and "Kuhar" in (p.citation or "")
    assert p.metrics["test_accuracy"] == 0.5 and "hello" in (p.notes or "")
    total = sum(l.stats.weights.nonzeros for l in w.layers) / sum(l.stats.weights.elements for l in w.layers)
    assert p.metrics["weight_density"] == total
    np.savez(acts, **{"no_such_layer": a})
    with pytest.raises(SbmodelError, match="'no_such_layer' name no layer"):
        export_workload(ckpt, out, options, input_shape=(1, 3, 16, 16), activations=acts)


def test_failed_export_leaves_nothing_half_written(ckpt: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "w.yaml"
    out.write_text("previous contents\n")
    bad = tmp_path / "bad.npz"
    np.savez(bad, **{"x.weight": np.ones((2, 3, 4))})
    with pytest.raises(SbmodelError, match="rank 3"):
        _export(bad, out)
    assert out.read_text() == "previous contents\n"

    def fail(path: object) -> None:
        raise SpecError("simulated failure while validating", file=str(path))

    monkeypatch.setattr(export_module, "load_workload", fail)
    with pytest.raises(SpecError, match="simulated"):
        _export(ckpt, out)
    assert out.read_text() == "previous contents\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.npz", "net.npz", "w.yaml"]


def test_output_path_errors(ckpt: Path, tmp_path: Path) -> None:
    with pytest.raises(SbmodelError, match="must be a .yaml file"):
        _export(ckpt, tmp_path / "w.json")
    with pytest.raises(SbmodelError, match="does not exist"):
        _export(ckpt, tmp_path / "missing" / "w.yaml")
    recorded = tmp_path / "rec.npz"
    write_npz(recorded, {"c.weight": np.ones((2, 3, 3, 3), np.float32)},
              {"geometry": {"c": {"type": "conv", "C": 3, "M": 2, "P": 4, "Q": 4, "R": 3, "S": 3}}})
    with pytest.raises(SbmodelError, match="records its layer shapes"):
        export_workload(recorded, tmp_path / "w.yaml", ExportOptions(QuantizerConfig("fp")), input_shape=(1, 3, 4, 4))
