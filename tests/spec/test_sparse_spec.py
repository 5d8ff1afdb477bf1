"""Sparse features in our YAML (architecture formats/gating/skipping, workload densities and
masks) and in the Timeloop importer: what valid files build, one located error per mistake."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from sbmodel.engine.sparse import ActualData, FixedStructured, Hypergeometric
from sbmodel.errors import SpecError
from sbmodel.spec import load_architecture, load_workload
from .spec_helpers import ROOT, TINY_ARCH, edit, expect_error, line_of

Write = Callable[[str, str], Path]

SPARSE_SPAD = """\
      energy_pJ: {read: 0.5}
      metadata: {word_bits: 4, storage_width_bits: 8}
      sparse:
        formats:
          Weights: {ranks: [UOP, {format: CP, metadata_word_bits: 4}], order: inner-to-outer}
        skipping:
          - {target: Weights, condition_on: [Inputs]}
        gating:
          - {target: Inputs, condition_on: [Weights]}
  compute:
    name: mac
    energy_pJ: {compute: 0.2}
    sparse: {skip_on_not_aligned_operands: true}
"""


def _sparse_arch() -> str:
    return edit(TINY_ARCH, "      energy_pJ: {read: 0.5}\n  compute:\n    name: mac\n    energy_pJ: {compute: 0.2}\n",
                SPARSE_SPAD)


def test_sparse_level_builds_a_sparse_spec(write: Write) -> None:
    arch = load_architecture(write("arch.yaml", _sparse_arch()))
    sp = arch.sparse.level("spad")
    fmt = sp.formats["Weights"]
    assert [r.format for r in fmt.ranks] == ["UOP", "CP"] and fmt.inner_to_outer
    assert fmt.ranks[1].metadata_word_bits == 4 and fmt.compressed
    assert [(a.kind, a.options) for a in sp.actions] == [("gating", (("Inputs", ("Weights",)),)),
                                                         ("skipping", (("Weights", ("Inputs",)),))]
    assert arch.sparse.compute.skip_on_not_aligned_operands and not arch.sparse.compute.gate_on_zero_operand
    assert arch.storage[0].metadata_storage_width_bits == 8


def test_dense_designs_have_no_sparse_spec() -> None:
    assert load_architecture(ROOT / "arch_specs" / "eyeriss_like.yaml").sparse is None


def test_shipped_sparse_design_loads() -> None:
    arch = load_architecture(ROOT / "arch_specs" / "eyeriss_sparse.yaml")
    assert arch.sparse.level("weights_spad").formats["Weights"].compressed
    assert arch.sparse.compute.gate_on_zero_operand and arch.sparse.compute.skip_on_not_aligned_operands


@pytest.mark.parametrize("old,new,yaml_path,snippet,words", [
    ("ranks: [UOP, {format: CP", "ranks: [UOP, {format: CSR", "architecture.levels[3].sparse.formats.Weights.ranks[1].format",
     "ranks: [UOP", ("CSR", "'UOP', 'CP'")),
    ("condition_on: [Inputs]}", "condition_on: [Activations]}",
     "architecture.levels[3].sparse.skipping[0].condition_on[0]", "condition_on: [Activations]", ("Activations",)),
    ("condition_on: [Weights]}", "condition_on: [Inputs]}", "architecture.levels[3].sparse.gating[0].condition_on",
     "target: Inputs, condition_on", ("itself",)),
    ("        skipping:\n", "        skiping:\n", "architecture.levels[3].sparse.skiping", "skiping", ("unknown key",)),
    ("ranks: [UOP, {format: CP, metadata_word_bits: 4}]", "ranks: [CP, UOP]",
     "architecture.levels[3].sparse.formats.Weights.ranks", "ranks: [CP, UOP]", ("uncompressed",)),
    ("metadata_word_bits: 4}", "metadata_word_bits: 12}",
     "architecture.levels[3].sparse.formats.Weights.ranks[1].metadata_word_bits", "metadata_word_bits: 12",
     ("8-bit",)),
    ("          Weights: {ranks", "          Outputs: {ranks", "architecture.levels[3].sparse.formats.Outputs",
     "Outputs: {ranks", ("bypasses Outputs",)),
    ("      metadata: {word_bits: 4, storage_width_bits: 8}\n", "",
     "architecture.levels[3].sparse.formats.Weights", "Weights: {ranks", ("metadata",)),
])
def test_sparse_mistakes_are_located_errors(write: Write, old, new, yaml_path, snippet, words) -> None:
    text = edit(_sparse_arch(), old, new)
    path = write("arch.yaml", text)
    expect_error(load_architecture, path, yaml_path, line_of(text, snippet), *words)


# --------------------------------------------------------------------------- workloads

WORKLOAD = """\
workload:
  name: w
  provenance: {method: synthetic, source: test}
  layers:
    - name: conv
      C: 2
      M: 4
      P: 3
      R: 3
      S: 3
      stats:
        weights: {density: DENS, scheme: ternary MASK}
        inputs: {density: 0.5, distribution: fixed-structured}
"""


def _workload(density="0.5", mask="") -> str:
    return WORKLOAD.replace("DENS", density).replace(" MASK", mask)


def test_workload_densities_become_density_models(write: Write) -> None:
    (p,) = load_workload(write("w.yaml", _workload())).problems()
    assert isinstance(p.densities["Weights"], Hypergeometric) and p.densities["Weights"].density == 0.5
    assert p.densities["Weights"].tensor_size == 2 * 4 * 3 * 3
    assert isinstance(p.densities["Inputs"], FixedStructured)
    assert "Outputs" not in p.densities


def test_mask_gives_the_exact_actual_data_model(write: Write, tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    mask = rng.random((4, 2, 3, 3)) < 0.5  # PyTorch layout [M, C, kH, kW]
    np.savez(tmp_path / "m.npz", conv=mask)
    text = _workload(str(float(mask.mean())), ", mask: m.npz:conv")
    (p,) = load_workload(write("w.yaml", text)).problems()
    model = p.densities["Weights"]
    assert isinstance(model, ActualData)
    # ranks [C, M, R, S]: mask[m, c, s, r] == model[c, m, r, s]
    assert model.mask[1, 3, 0, 2] == mask[3, 1, 2, 0]


@pytest.mark.parametrize("density,mask,words", [
    ("1.5", "", ("at most 1",)),
    ("0.5", ", mask: missing.npz:conv", ("not found",)),
    ("0.5", ", mask: m.npz:other", ("no array 'other'",)),
    ("0.1", ", mask: m.npz:conv", ("disagrees with its mask",)),
    ("0.5", ", mask: bad.npz:conv", ("shape",)),
])
def test_workload_density_mistakes_are_errors(write: Write, tmp_path: Path, density, mask, words) -> None:
    np.savez(tmp_path / "m.npz", conv=np.ones((4, 2, 3, 3)) * (np.arange(72).reshape(4, 2, 3, 3) % 2))
    np.savez(tmp_path / "bad.npz", conv=np.ones((2, 4, 3, 3)))
    path = write("w.yaml", _workload(density, mask))
    with pytest.raises(SpecError) as info:
        load_workload(path).problems()
    text = str(info.value)
    assert str(path) in text and "\n" not in text
    line = WORKLOAD.splitlines().index(next(ln for ln in WORKLOAD.splitlines() if "weights: {density" in ln)) + 1
    assert f"{path}:{line}: at workload.layers[0].stats.weights." in text, text  # file, line and YAML path
    for w in words:
        assert w in text, text


# --------------------------------------------------------------------------- Timeloop inputs

def _timeloop(tmp_path: Path, sparse: str, densities: str = "A: 0.25") -> list[Path]:
    files = {
        "arch.yaml": """architecture:
  version: 0.3
  subtree:
    - name: PE
      local:
        - {name: Buffer, class: storage, attributes: {depth: 64, width: 8, datawidth: 8}}
        - {name: MAC, class: compute, attributes: {datawidth: 8}}
""",
        "prob.yaml": f"""problem:
  shape:
    name: dot
    dimensions: [K, M]
    data-spaces:
      - {{name: A, projection: [[[K]]]}}
      - {{name: B, projection: [[[K]]]}}
      - {{name: Z, projection: [[[M]]], read-write: True}}
  instance:
    K: 16
    M: 1
    densities: {{{densities}}}
""",
        "map.yaml": "mapping:\n  - {target: Buffer, type: temporal, factors: K=16 M=1, permutation: KM}\n",
        "sparse.yaml": sparse,
        "ert.yaml": """ERT:
  version: 0.3
  tables:
    - {name: PE.Buffer, actions: [{name: read, energy: 1.0}, {name: write, energy: 1.0}]}
    - {name: PE.MAC, actions: [{name: mac_random, energy: 2.0}]}
""",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return [tmp_path / n for n in ("arch.yaml", "prob.yaml", "map.yaml", "sparse.yaml")]


GATING = """sparse_optimizations:
  targets:
    - name: Buffer
      action-optimization:
        - {type: gating, target: B, condition-on: [A]}
"""


def test_timeloop_sparse_optimizations_are_imported(tmp_path: Path) -> None:
    from sbmodel.engine import evaluate_layer
    from sbmodel.timeloop import load_timeloop_inputs

    spec = load_timeloop_inputs(_timeloop(tmp_path, GATING), ert=tmp_path / "ert.yaml")
    r = evaluate_layer(spec.problem, spec.architecture, spec.mapping, spec.sparse)
    b = r.level("Buffer").tensor("B")
    assert (b.reads, b.actions["gated_read"]) == (4, 12)


@pytest.mark.parametrize("sparse,densities,words", [
    (GATING.replace("condition-on: [A]", "condition-on: [Q]"), "A: 0.25", ("unknown tensor 'Q'",)),
    (GATING.replace("type: gating", "type: squashing"), "A: 0.25", ("squashing",)),
    (GATING.replace("name: Buffer", "name: GLB"), "A: 0.25", ("unknown architecture level 'GLB'",)),
    (GATING + "      representation-format:\n        data-spaces:\n          - {name: A, ranks: [{format: CSR}]}\n",
     "A: 0.25", ("unknown rank format 'CSR'",)),
    (GATING, "A: 1.25", ("within [0, 1]",)),
    (GATING, "A: {distribution: banded, density: 0.5}", ("unsupported density distribution",)),
    (GATING, "X: 0.5", ("unknown tensor 'X'",)),
])
def test_timeloop_sparse_mistakes_are_errors(tmp_path: Path, sparse, densities, words) -> None:
    from sbmodel.timeloop import load_timeloop_inputs

    files = _timeloop(tmp_path, sparse, densities)
    with pytest.raises(SpecError) as info:
        load_timeloop_inputs(files, ert=tmp_path / "ert.yaml")
    text = str(info.value)
    assert str(tmp_path) in text
    for w in words:
        assert w in text, text
