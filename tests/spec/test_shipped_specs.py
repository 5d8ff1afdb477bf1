"""Every shipped spec file loads, and the v4 designs and mappings written in our format
are field by field the ones Timeloop consumed in the reference cases.

The field-by-field checks read the reference with plain ``yaml.safe_load`` and
only the fields needed (not with sbmodel's Timeloop importer), so the two front
ends are checked independently; the last test then evaluates both and requires
identical results.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from sbmodel.core.architecture import Architecture
from sbmodel.core.mapping import Loop
from sbmodel.engine import evaluate_layer
from sbmodel.report.timeloop_json import timeloop_dict
from sbmodel.spec.architecture import load_architecture
from sbmodel.spec.mapping import load_mappings
from sbmodel.spec.workload import load_workload
from sbmodel.timeloop import load_timeloop_inputs
from .spec_helpers import ROOT

ARCH_FILES = sorted((ROOT / "arch_specs").glob("*.yaml"))
WORKLOAD_FILES = sorted((ROOT / "workloads").glob("*.yaml"))
# Every mapping file with the architecture and workload it is written for.
MAPPING_FILES = {
    "eyeriss_like_v4_default.yaml": ("eyeriss_like.yaml", "v4_default_problem.yaml"),
    "simple_ws_v4_default.yaml": ("simple_ws.yaml", "v4_default_problem.yaml"),
    "simple_os_v4_default.yaml": ("simple_os.yaml", "v4_default_problem.yaml"),
    # the headline's mappings (sbmodel map, budget 20 000, seed 0), pinned for tests/test_headline.py
    "eyeriss_sparse_resnet18_binary.yaml": ("eyeriss_sparse.yaml", "resnet18_binary.yaml"),
    "eyeriss_sparse_resnet18_ternary.yaml": ("eyeriss_sparse.yaml", "resnet18_ternary.yaml"),
    "eyeriss_sparse_resnet18_sb.yaml": ("eyeriss_sparse.yaml", "resnet18_sb.yaml"),
}
# Our design file -> the reference case it reproduces.
REFERENCE_CASES = {
    "eyeriss_like": "case_v4_design_eyeriss_like",
    "simple_ws": "case_v4_design_simple_weight_stationary",
    "simple_os": "case_v4_design_simple_output_stationary",
}
REQUIRED = ["eyeriss_like.yaml", "simple_ws.yaml", "simple_os.yaml"]


@pytest.mark.parametrize("path", ARCH_FILES, ids=lambda p: p.name)
def test_architecture_file_loads(path: Path) -> None:
    arch = load_architecture(path)
    assert arch.storage[-1].technology == "DRAM"


def test_required_designs_are_shipped() -> None:
    assert set(REQUIRED) <= {p.name for p in ARCH_FILES}


@pytest.mark.parametrize("path", WORKLOAD_FILES, ids=lambda p: p.name)
def test_workload_file_loads(path: Path) -> None:
    workload = load_workload(path)
    assert workload.problems()

# The mapping files of designs that reproduce a reference case.
REFERENCE_MAPPINGS = sorted(n for n, (a, _) in MAPPING_FILES.items() if a.removesuffix(".yaml") in REFERENCE_CASES)


def test_every_mapping_file_is_registered() -> None:
    assert {p.name for p in (ROOT / "mappings").glob("*.yaml")} == set(MAPPING_FILES)


@pytest.mark.parametrize("name", sorted(MAPPING_FILES))
def test_mapping_file_loads_for_its_design(name: str) -> None:
    arch_file, workload_file = MAPPING_FILES[name]
    arch = load_architecture(ROOT / "arch_specs" / arch_file)
    problems = load_workload(ROOT / "workloads" / workload_file).problems()
    mappings = load_mappings(ROOT / "mappings" / name, arch, problems)
    assert set(mappings) == {p.name for p in problems}


def test_resnet18_has_the_imagenet_layer_shapes() -> None:
    workload = load_workload(ROOT / "workloads" / "resnet18.yaml")
    layers = {layer.name: layer for layer in workload.layers}
    assert len(layers) == 21
    stem = layers["conv1"]
    assert (stem.C, stem.M, stem.P, stem.Q, stem.R, stem.S, stem.strides()) == (3, 64, 112, 112, 7, 7, (2, 2))
    convs3x3 = [layer for layer in workload.layers if layer.R == 3]
    assert len(convs3x3) == 16
    downsample = [layer for layer in workload.layers if "downsample" in layer.name]
    assert [(d.C, d.M, d.P, d.R, d.strides()) for d in downsample] == [
        (64, 128, 28, 1, (2, 2)), (128, 256, 14, 1, (2, 2)), (256, 512, 7, 1, (2, 2))]
    assert (layers["fc"].type, layers["fc"].C, layers["fc"].M) == ("fc", 512, 1000)
    # Widths double as the maps halve; the total is the well-known ~1.8 GMACs.
    for stage, (channels, size) in enumerate([(64, 56), (128, 28), (256, 14), (512, 7)], start=1):
        for block in (0, 1):
            conv2 = layers[f"layer{stage}.{block}.conv2"]
            assert (conv2.C, conv2.M, conv2.P, conv2.Q) == (channels, channels, size, size)
    macs = sum(p.operations for p in workload.problems())
    assert 1.80e9 < macs < 1.83e9
    assert workload.provenance.method == "shapes-only"


# --------------------------------------------------------------------------- the reference cases


def _read(path: Path) -> Any:
    with open(path) as fh:
        return yaml.safe_load(fh)


def _case_dir(reference_dir: Path, design: str) -> Path:
    return reference_dir / "timeloop" / REFERENCE_CASES[design] / "ref_outputs" / "default_problem"


def _component_name(name: str) -> str:
    """``system_top_level.shared_glb[1..1]`` -> ``shared_glb``."""
    return name.split("[")[0].split(".")[-1]


def reference_levels(case: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Storage levels (outermost first) and the compute unit as Timeloop consumed them."""
    local = _read(case / "parsed-processed-input.yaml")["architecture"]["subtree"][0]["local"]
    ert = {}
    for table in _read(case / "timeloop-mapper.ERT.yaml")["ERT"]["tables"]:
        energies: dict[str, float] = {}
        for action in table["actions"]:
            energies[action["name"]] = max(energies.get(action["name"], 0.0), float(action["energy"]))
        ert[_component_name(table["name"])] = energies
    storage, compute = [], {}
    for component in local:
        name, attrs = _component_name(component["name"]), component["attributes"]
        mesh = (attrs.get("meshX", 1), attrs.get("meshY", 1))
        if component["class"] == "intmac":
            table = ert[name]
            compute = {"name": name, "mesh": mesh, "energy": {"compute": table["compute"], "leak": table["leak"]},
                       "multiplier_bits": attrs["multiplier_width"]}
            continue
        level: dict[str, Any] = {"name": name, "mesh": mesh, "container": component["class"] == "dummy_storage"}
        if not level["container"]:
            block = attrs["width"] // attrs["datawidth"]
            table = ert[name]
            level.update(
                word_bits=attrs["datawidth"], block_size=block,
                size_words=attrs["depth"] * block if "depth" in attrs else None,
                read_bandwidth=attrs.get("read_bandwidth"), write_bandwidth=attrs.get("write_bandwidth"),
                energy={"read": table["read"], "fill": table["write"],
                        "update": table.get("update", table["write"]), "leak": table["leak"]},
            )
        storage.append(level)
    return storage, compute


def reference_keep_bypass(case: Path) -> dict[str, tuple[set[str], set[str]]]:
    targets = _read(case / "parsed-processed-input.yaml")["architecture_constraints"]["targets"]
    return {t["target"]: (set(t.get("keep") or []), set(t.get("bypass") or []))
            for t in targets if t["type"] == "bypass"}


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) <= 1e-9 * max(abs(a), abs(b))


@pytest.mark.parametrize("design", sorted(REFERENCE_CASES))
def test_design_matches_the_reference_case(design: str, reference_dir: Path) -> None:
    arch = load_architecture(ROOT / "arch_specs" / f"{design}.yaml")
    ref_storage, ref_compute = reference_levels(_case_dir(reference_dir, design))
    ours = list(reversed(arch.storage))  # outermost first, like the reference
    assert [lv.name for lv in ours] == [r["name"] for r in ref_storage]
    for level, ref in zip(ours, ref_storage):
        assert (level.mesh_x, level.mesh_y) == ref["mesh"], level.name
        assert level.container_only == ref["container"], level.name
        if ref["container"]:
            continue
        assert (level.word_bits, level.block_size, level.size_words) == (
            ref["word_bits"], ref["block_size"], ref["size_words"]), level.name
        assert _close(level.read_bandwidth, ref["read_bandwidth"]), level.name
        assert _close(level.write_bandwidth, ref["write_bandwidth"]), level.name
        assert set(level.energy_pJ) == set(ref["energy"]), level.name
        for action, energy in ref["energy"].items():
            assert _close(level.energy_pJ[action], energy), (level.name, action)
    assert arch.compute.name == ref_compute["name"]
    assert (arch.compute.mesh_x, arch.compute.mesh_y) == ref_compute["mesh"]
    assert arch.compute.word_bits == ref_compute["multiplier_bits"]
    assert set(arch.compute.energy_pJ) == set(ref_compute["energy"])
    for action, energy in ref_compute["energy"].items():
        assert _close(arch.compute.energy_pJ[action], energy), action


@pytest.mark.parametrize("design", sorted(REFERENCE_CASES))
def test_keep_and_bypass_match_the_reference_constraints(design: str, reference_dir: Path) -> None:
    arch = load_architecture(ROOT / "arch_specs" / f"{design}.yaml")
    constraints = reference_keep_bypass(_case_dir(reference_dir, design))
    for level in arch.storage:
        keep, bypass = constraints.get(level.name, (set(), set()))
        if level.container_only:
            assert not keep, level.name  # containers bypass everything
            continue
        assert (level.must_keep, level.must_bypass) == (keep, bypass), level.name


def reference_mapping(case: Path) -> dict[str, dict[str, Any]]:
    """Per level: temporal loops inner -> outer, spatial loops (X then Y) inner -> outer, kept tensors."""
    levels: dict[str, dict[str, Any]] = {}
    for item in _read(case / "timeloop-mapper.map.yaml")["mapping"]:
        level = levels.setdefault(item["target"], {"temporal": (), "spatial": (), "keep": frozenset()})
        if item["type"] in ("datatype", "bypass"):
            level["keep"] = frozenset(item.get("keep") or [])
            continue
        factors = {token[0]: int(token[1:]) for token in item["factors"].split()}
        order = [d for d in item["permutation"] if factors[d] > 1]
        if item["type"] == "temporal":
            level["temporal"] = tuple(Loop(d, factors[d]) for d in order)
        else:
            split = item.get("split", len(item["permutation"]))
            position = {d: i for i, d in enumerate(item["permutation"])}
            level["spatial"] = tuple(Loop(d, factors[d], axis="X" if position[d] < split else "Y") for d in order)
    return levels


def _without_unit_loops(loops: tuple[Loop, ...]) -> tuple[Loop, ...]:
    return tuple(lp for lp in loops if lp.factor > 1)


@pytest.mark.parametrize("name", REFERENCE_MAPPINGS)
def test_mapping_matches_the_reference_mapping(name: str, reference_dir: Path) -> None:
    arch_file, workload_file = MAPPING_FILES[name]
    arch: Architecture = load_architecture(ROOT / "arch_specs" / arch_file)
    (problem,) = load_workload(ROOT / "workloads" / workload_file).problems()
    mapping = load_mappings(ROOT / "mappings" / name, arch, [problem])[problem.name]
    reference = reference_mapping(_case_dir(reference_dir, arch.name))
    assert set(reference) == {lv.name for lv in arch.storage}
    for level, ours in zip(arch.storage, mapping.levels):
        ref = reference[level.name]
        assert _without_unit_loops(ours.temporal) == ref["temporal"], level.name
        assert _without_unit_loops(ours.spatial) == ref["spatial"], level.name
        assert ours.keep == ref["keep"], level.name


def test_default_problem_matches_the_reference(reference_dir: Path) -> None:
    (problem,) = load_workload(ROOT / "workloads" / "v4_default_problem.yaml").problems()
    for design in REFERENCE_CASES:
        instance = _read(_case_dir(reference_dir, design) / "parsed-processed-input.yaml")["problem"]["instance"]
        for dim, bound in problem.bound.items():
            assert instance[dim] == bound, (design, dim)
        assert (instance["Wstride"], instance["Hstride"]) == (2, 2)
        inputs = problem.dataspace("Inputs").projection
        assert inputs[2] == ((instance["Wstride"], "P"), (instance["Wdilation"], "R"))


@pytest.mark.parametrize("mapping_name", REFERENCE_MAPPINGS)
def test_our_files_and_the_timeloop_inputs_give_identical_results(
    mapping_name: str, reference_dir: Path, timeloop_manifest: dict,
) -> None:
    """Our design + workload + mapping files evaluate exactly like the imported reference case."""
    arch_file, workload_file = MAPPING_FILES[mapping_name]
    arch = load_architecture(ROOT / "arch_specs" / arch_file)
    (problem,) = load_workload(ROOT / "workloads" / workload_file).problems()
    mapping = load_mappings(ROOT / "mappings" / mapping_name, arch, [problem])[problem.name]
    ours = timeloop_dict(evaluate_layer(problem, arch, mapping))

    (run,) = [r for r in timeloop_manifest["runs"] if r["case"] == REFERENCE_CASES[arch.name]]
    case = reference_dir / "timeloop" / run["case"]
    imported = load_timeloop_inputs([case / p for p in run["inputs"]], ert=case / run["ert"])
    assert imported.mapping == mapping
    theirs = timeloop_dict(evaluate_layer(imported.problem, imported.architecture, imported.mapping))
    assert ours == theirs
    assert ours["cycles"] == run["reference_head"]["cycles"]


def _doc_blocks() -> list[str]:
    text = (ROOT / "docs" / "formats.md").read_text()
    return [block.split("```", 1)[0] for block in text.split("```yaml\n")[1:]]


def test_the_examples_in_the_format_docs_are_valid(tmp_path: Path) -> None:
    blocks = {name: next(b for b in _doc_blocks() if b.startswith(name + ":")) for name in
              ("architecture", "workload")}
    arch_block = next(b for b in _doc_blocks() if "name: simple_ws" in b)
    (tmp_path / "arch.yaml").write_text(arch_block)
    assert load_architecture(tmp_path / "arch.yaml") == load_architecture(ROOT / "arch_specs" / "simple_ws.yaml")
    (tmp_path / "workload.yaml").write_text(blocks["workload"])
    assert len(load_workload(tmp_path / "workload.yaml").layers) == 3
    map_block = next(b for b in _doc_blocks() if b.startswith("architecture: eyeriss_like"))
    (tmp_path / "map.yaml").write_text(map_block)
    arch = load_architecture(ROOT / "arch_specs" / "eyeriss_like.yaml")
    problems = load_workload(ROOT / "workloads" / "v4_default_problem.yaml").problems()
    assert load_mappings(tmp_path / "map.yaml", arch, problems) == load_mappings(
        ROOT / "mappings" / "eyeriss_like_v4_default.yaml", arch, problems)
