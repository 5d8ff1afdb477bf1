"""The sweep file is validated as strictly as the other formats: one located error per mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from sbmodel.errors import SpecError
from sbmodel.sweep.spec import load_sweep

from .conftest import DRAM_BW, GLB, ROOT, write_yaml


def test_valid_sweep(make_sweep):
    path = make_sweep({
        "glb": {"path": GLB, "values": [1024, 65536]},
        "bw": {"path": DRAM_BW, "range": {"min": 2, "max": 32, "scale": "log", "count": 5}},
        "pe": {"path": ["architecture.levels.inter_PE_spatial.mesh", "architecture.levels.ifmap_spad.mesh"],
               "choices": {"14x12": [[14, 1], [14, 12]], "7x12": [[7, 1], [7, 12]]}},
        "density": {"path": "workload.layers[conv].stats.weights.density", "range": {"min": 0.1, "max": 0.9, "count": 3}},
    })
    s = load_sweep(path)
    assert s.name == "sweep"
    assert [p.name for p in s.parameters] == ["glb", "bw", "pe", "density"]
    assert s.parameter("bw").grid == (2.0, 4.0, 8.0, 16.0, 32.0)
    assert s.parameter("density").grid == (0.1, 0.5, 0.9)
    assert s.parameter("pe").label(1) == "7x12"
    assert s.parameter("pe").value(1) == ([7, 1], [7, 12])
    assert s.parameter("glb").label(0) == 1024


def test_file_parameter_and_alternatives(tiny_dir, make_sweep):
    other = dict(__import__("tests.sweep.conftest", fromlist=["TINY_WORKLOAD"]).TINY_WORKLOAD)
    write_yaml(tiny_dir / "tiny2.yaml", other)
    path = make_sweep({"wl": {"path": "workload", "choices": {"one": "tiny.yaml", "two": "tiny2.yaml"}},
                       "d": {"path": "workload.layers[conv].stats.weights.density", "values": [0.2]}})
    s = load_sweep(path)
    assert len(s.files("workload")) == 2
    assert s.parameter("wl").label(0) == "one"


def _error(make_sweep, parameters=None, **extra) -> SpecError:
    path = make_sweep(parameters if parameters is not None else {"glb": {"path": GLB, "values": [1024]}}, **extra)
    with pytest.raises(SpecError) as info:
        load_sweep(path)
    err = info.value
    assert err.file and err.file.endswith("sweep.yaml"), err
    return err


@pytest.mark.parametrize("parameters, yaml_path, message", [
    ({"glb": {"path": GLB, "values": [1024], "colour": 1}}, "sweep.parameters.glb.colour", "unknown key"),
    ({"glb": {"path": GLB}}, "sweep.parameters.glb", "exactly one of values, choices or range"),
    ({"glb": {"path": GLB, "values": [1], "range": {"min": 1, "max": 2}}}, "sweep.parameters.glb",
     "exactly one of values, choices or range (got values, range)"),
    ({"glb": {"path": GLB, "values": []}}, "sweep.parameters.glb.values", "empty list of values"),
    ({"glb": {"path": GLB, "range": {"min": 8, "max": 8, "count": 2, "integer": True}}}, "sweep.parameters.glb.range",
     "empty range"),
    ({"glb": {"path": GLB, "range": {"min": 9, "max": 2, "count": 2}}}, "sweep.parameters.glb.range", "empty range"),
    ({"glb": {"path": GLB, "range": {"min": 0, "max": 2, "scale": "log", "count": 2}}},
     "sweep.parameters.glb.range.min", "log-scale range needs min > 0"),
    ({"glb": {"path": GLB, "range": {"min": 1, "max": 2}}}, "sweep.parameters.glb.range", "a grid needs count or step"),
    ({"glb": {"path": "architecture.levels[glb].size_words", "values": [1]}}, "sweep.parameters.glb.path",
     "no element named 'glb' (names: DRAM, shared_glb"),
    ({"glb": {"path": "architecture.levels.shared_glb.size_words.x", "values": [1]}}, "sweep.parameters.glb.path",
     "is a value (131072), not a mapping"),
    ({"glb": {"path": "arch.levels", "values": [1]}}, "sweep.parameters.glb.path", "starts with architecture or workload"),
    ({"glb": {"path": GLB, "values": ["big"]}}, "sweep.parameters.glb.values[0]",
     "value 'big' gives arch_specs/eyeriss_like.yaml: at architecture.levels[1].size_words: expected an integer"),
    ({"glb": {"path": GLB, "values": [1024, 0]}}, "sweep.parameters.glb.values[1]", "must be at least 1"),
    ({"glb": {"path": GLB, "range": {"min": 1000, "max": 5000, "count": 3}}}, "sweep.parameters.glb.range",
     "add integer: true"),
    ({"glb": {"path": "architecture.levels.shared_glb.size_word", "values": [1024]}}, "sweep.parameters.glb.values[0]",
     "unknown key"),
    ({"glb": {"path": GLB, "values": [1024, 1024]}}, "sweep.parameters.glb.values[1]", "listed twice"),
    ({"st": {"path": "architecture.compute.stlye.kind", "values": ["add"]}}, "sweep.parameters.st.values[0]",
     "at architecture.compute.stlye: unknown key"),
    ({"st": {"path": "architecture.compute.style.kind", "values": ["adder"]}}, "sweep.parameters.st.values[0]",
     "expected one of 'mac', 'add' or 'ucnn'"),
    ({"glb": {"path": GLB, "values": [1]}, "glb2": {"path": "architecture.levels[1].size_words", "values": [2]}},
     "sweep.parameters.glb2.path", "which parameter glb also writes"),
    ({"cycles": {"path": GLB, "values": [1]}}, "sweep.parameters.cycles", "is a results column already"),
    ({"my-glb": {"path": GLB, "values": [1]}}, "sweep.parameters.my-glb", "must be an identifier"),
    ({"pe": {"path": ["architecture.levels.inter_PE_spatial.mesh", "architecture.levels.ifmap_spad.mesh"],
             "values": [[[14, 1]]]}}, "sweep.parameters.pe.values[0]", "each value is a list of 2 values"),
    ({"wl": {"path": "workload", "values": ["missing.yaml"]}}, "sweep.parameters.wl.values[0]", "workload file not found"),
    ({"wl": {"path": "workload", "range": {"min": 1, "max": 2, "count": 2}}}, "sweep.parameters.wl.range",
     "file parameter takes values or choices"),
    ({"d": {"path": "workload.layers[conv].stats.weights.density", "values": [1.5]}},
     "sweep.parameters.d.values[0]", "must be at most 1"),
    ({"glb": {"path": GLB, "values": [float("nan")]}}, "sweep.parameters.glb.values[0]", "finite"),
])
def test_located_errors(make_sweep, parameters, yaml_path, message):
    err = _error(make_sweep, parameters)
    assert err.yaml_path == yaml_path
    assert message in err.message
    assert err.line is not None


def test_unknown_top_key(make_sweep):
    err = _error(make_sweep, None, repeat=3)
    assert err.yaml_path == "sweep.repeat" and "unknown key" in err.message


def test_wrong_type(make_sweep):
    err = _error(make_sweep, None, mapper={"budget": "many"})
    assert err.yaml_path == "sweep.mapper.budget" and "expected an integer" in err.message
    err = _error(make_sweep, None, mapper={"restarts": -1})
    assert err.yaml_path == "sweep.mapper.restarts" and "must be at least 0 (got -1)" in err.message
    assert err.line is not None
    err = _error(make_sweep, None, mapper={"imperfect": "yes please"})
    assert err.yaml_path == "sweep.mapper.imperfect" and "expected true or false (got 'yes please')" in err.message


def test_sampling_rules(make_sweep):
    err = _error(make_sweep, None, sampling={"method": "lhs"})
    assert err.yaml_path == "sweep.sampling" and "needs 'points'" in err.message
    err = _error(make_sweep, None, sampling={"method": "grid", "points": 4})
    assert err.yaml_path == "sweep.sampling.points"


def test_missing_files(make_sweep):
    err = _error(make_sweep, None, architecture="nowhere.yaml")
    assert err.yaml_path == "sweep.architecture" and "architecture file not found" in err.message
    err = _error(make_sweep, None, workload=str(ROOT / "arch_specs" / "simple_ws.yaml"))
    assert "is not a workload file" in err.message


def test_path_missing_in_an_alternative_file(tiny_dir, make_sweep):
    # the path exists in eyeriss_like but not in simple_ws: checked against every alternative
    err = _error(make_sweep, {
        "arch": {"path": "architecture", "values": [str(ROOT / "arch_specs" / "eyeriss_like.yaml"),
                                                    str(ROOT / "arch_specs" / "simple_ws.yaml")]},
        "spad": {"path": "architecture.levels.ifmap_spad.size_words", "values": [12]},
    })
    assert err.yaml_path == "sweep.parameters.spad.path"
    assert "no element named 'ifmap_spad'" in err.message and "simple_ws.yaml" in err.message


def test_not_a_sweep(tmp_path: Path):
    p = write_yaml(tmp_path / "x.yaml", {"architecture": {}})
    with pytest.raises(SpecError, match="top-level 'sweep:'"):
        load_sweep(p)


def test_fingerprint_follows_inputs(tiny_dir, make_sweep):
    path = make_sweep({"glb": {"path": GLB, "values": [1024]}})
    a = load_sweep(path).fingerprint
    assert load_sweep(path).fingerprint == a
    make_sweep({"glb": {"path": GLB, "values": [1024]}}, mapper={"budget": 300})
    assert load_sweep(path).fingerprint != a  # other search settings: other results
