"""Timeloop's printed mapping (``*.map.txt``) read as a mapping input: hand cases and errors."""

from __future__ import annotations

import subprocess

import pytest

from sbmodel.errors import SpecError
from sbmodel.timeloop.map_txt import map_txt_directives
from sbmodel.timeloop.mapping import parse_mapping
from tests.conftest import require_console_script
from tests.mapper.cases import small_conv, three_level

LEVELS = ["RF", "Buffer", "DRAM"]

PRINTED = """
DRAM [ Weights:24 (24) Inputs:24 Outputs:32 ]
---------------------------------------------
| for M in [0:2)

Buffer [ Inputs:12 Outputs:16 ]
-------------------------------
|   for Q in [0:1)
|     for P in [0:3/1)
|       for M in [0:2) (Spatial-Y)
|         for C in [0:2) (Spatial-X)

RF [ Weights:3 ]
----------------
|           for R in [0:3)
|             << Compute >>
"""


def directives(tmp_path, text: str):
    path = tmp_path / "timeloop-model.map.txt"
    path.write_text(text)
    return map_txt_directives(path, small_conv(), LEVELS)


def test_a_printed_mapping_becomes_timeloops_directives(tmp_path):
    """Kept tensors from the brackets (the others bypassed), temporal permutations innermost
    first, spatial X loops first with ``split`` = their count, ``[0:N/R)`` as ``D=N,R``."""
    got = directives(tmp_path, PRINTED)
    by = {(d["target"], d["type"]): d for d in got}
    assert by["DRAM", "datatype"] == {"target": "DRAM", "type": "datatype",
                                      "keep": ["Weights", "Inputs", "Outputs"], "bypass": []}
    assert by["Buffer", "datatype"]["bypass"] == ["Weights"]
    assert by["Buffer", "temporal"]["factors"] == "Q=1 P=3,1" and by["Buffer", "temporal"]["permutation"] == "PQ"
    assert by["Buffer", "spatial"] == {"target": "Buffer", "type": "spatial", "factors": "M=2 C=2",
                                       "permutation": "CM", "split": 1}
    assert by["RF", "temporal"] == {"target": "RF", "type": "temporal", "factors": "R=3", "permutation": "R"}


def test_the_directives_build_the_mapping_printed(tmp_path):
    """The printout goes through the same checks as directives: ``[0:3/1)`` is the only loop over
    P, so the nest's single pass over it runs to 1 (Timeloop's rule) and the layer's P4 is not
    covered: refused, naming the dimension and the file.  With P4 and Q2 it builds the mapping."""
    problem, arch = small_conv(), three_level(pes=(2, 2))
    with pytest.raises(SpecError, match="map.txt: mapping: the factors of dimension P cover 1 but the layer has P=4"):
        parse_mapping(directives(tmp_path, PRINTED), problem, arch, "timeloop-model.map.txt")
    fixed = PRINTED.replace("[0:3/1)", "[0:4)").replace("for Q in [0:1)", "for Q in [0:2)")
    mapping = parse_mapping(directives(tmp_path, fixed), problem, arch, "timeloop-model.map.txt")
    rf, buffer, dram = mapping.levels
    assert [(lp.dim, lp.factor) for lp in buffer.temporal] == [("P", 4), ("Q", 2)]  # innermost first
    assert [(lp.dim, lp.factor, lp.axis) for lp in buffer.spatial] == [("C", 2, "X"), ("M", 2, "Y")]
    assert rf.keep == {"Weights"} and buffer.keep == {"Inputs", "Outputs"}


@pytest.mark.parametrize("text, message", [
    ("DRAM [ Weights:24 ]\n| for M in [0:2) (Spatial-Z)\n", "line 2: expected a loop such as"),
    ("DRAM [ Weights:24 ]\nBuffer [ ]\n", "storage level(s) RF missing from the printout"),
    ("| for M in [0:2)\n", "line 1: a loop before the first level header"),
    ("L2 [ Weights:24 ]\n", "line 1: unknown storage level 'L2' (the architecture has RF, Buffer, DRAM)"),
    ("DRAM [ Psums:24 ]\n", "line 1: level DRAM keeps unknown tensor Psums"),
    ("DRAM [ Weights=24 ]\n", "line 1: expected 'TENSOR:WORDS' entries in the brackets of level DRAM"),
    ("DRAM [ ]\n| for K in [0:2)\n", "line 2: unknown dimension K"),
    ("DRAM [ ]\n| for M in [0:2)\n| for M in [0:2)\nBuffer [ ]\nRF [ ]\n",
     "level DRAM has two loops over M (lines 2 and 3)"),
    ("DRAM [ ]\nDRAM [ ]\n", "line 2: level DRAM printed twice"),
    ("energy: 3 pJ\n", "line 1: expected a level header"),
    ("\n\n", "no level header 'NAME [ ... ]' found"),
    ("Buffer [ ]\n| for M in [0:2) (Spatial-X)\n| for C in [0:2) (Spatial-Y)\nDRAM [ ]\nRF [ ]\n",
     "line 2: level Buffer prints a Spatial-X loop outside a Spatial-Y one"),
])
def test_malformed_printouts_name_the_file_and_line(tmp_path, text, message):
    with pytest.raises(SpecError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")) as err:
        directives(tmp_path, text)
    assert "timeloop-model.map.txt" in str(err.value)


def test_console_script_refuses_two_mappings_in_one_line(reference_dir, tmp_path):
    """A printed mapping and mapping directives together are one clear error, not a silent choice."""
    case = reference_dir / "timeloop" / "case_v4_design_eyeriss_like" / "ref_outputs" / "default_problem"
    p = subprocess.run([require_console_script(), "timeloop", "run", "--json", "--ert",
                        str(case / "timeloop-mapper.ERT.yaml"), str(case / "parsed-processed-input.yaml"),
                        str(case / "timeloop-mapper.map.yaml"), str(case / "timeloop-mapper.map.txt")],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2
    assert p.stderr.strip().count("\n") == 0 and "two mappings given" in p.stderr and "Traceback" not in p.stderr
