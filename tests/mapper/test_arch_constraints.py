"""Dataflow constraints in our architecture format: Eyeriss's row-stationary template."""

import numpy as np
import pytest

from sbmodel.errors import SpecError
from sbmodel.mapper import MapSpace, search
from sbmodel.spec import load_architecture, load_workload
from tests.conftest import ROOT

EYERISS = ROOT / "arch_specs" / "eyeriss_like.yaml"


def v4_default():
    return load_workload(ROOT / "workloads" / "v4_default_problem.yaml").problems()[0]


def test_row_stationary_holds_in_every_mapping_the_space_produces():
    arch, problem = load_architecture(EYERISS), v4_default()
    space = MapSpace(problem, arch)
    rng = np.random.default_rng(0)
    b = space.sample(20000, rng)
    b = b.take(np.nonzero(space.valid(b))[0])
    b = space.mutate(b, rng)
    b = b.take(np.nonzero(space.valid(b))[0])
    assert b.size > 100
    names = [lv.name for lv in arch.storage]
    d = {x: i for i, x in enumerate(problem.dims)}
    lvl = {n: names.index(n) for n in names}

    def loops(level, spatial=False):
        f = (b.spatial if spatial else b.temporal)[:, lvl[level]]
        return {x for x in problem.dims if (f[:, d[x]] > 1).any()}

    assert loops("psum_spad") <= {"M"} and not loops("ifmap_spad")
    assert loops("weights_spad") <= {"C", "R"}
    assert loops("inter_PE_column_spatial", spatial=True) <= {"Q", "M"}
    assert loops("inter_PE_spatial", spatial=True) <= {"S", "C", "M"}
    assert not loops("inter_PE_column_spatial") and not loops("inter_PE_spatial")
    # columns fan out along X, PEs of a column along Y
    assert (b.spatial_axis[:, lvl["inter_PE_column_spatial"]][b.spatial[:, lvl["inter_PE_column_spatial"]] > 1]
            == 0).all()
    assert (b.spatial_axis[:, lvl["inter_PE_spatial"]][b.spatial[:, lvl["inter_PE_spatial"]] > 1] == 1).all()
    # weights_spad: C inside R where both loop
    w = lvl["weights_spad"]
    both = (b.temporal[:, w, d["C"]] > 1) & (b.temporal[:, w, d["R"]] > 1)
    pos = np.argsort(b.temporal_order[:, w], axis=1)
    assert (pos[both, d["C"]] < pos[both, d["R"]]).all()


def test_row_stationary_search_beats_timeloops_mapper_on_the_v4_default_problem():
    """Timeloop's mapper (v4 exercises, same design, same constraints) found 59234341.9 pJ x 86016
    cycles (the reference run v4_design_eyeriss_like)."""
    found = search(v4_default(), load_architecture(EYERISS), "edp", budget=20_000)
    assert found.energy_pJ * found.cycles < 59234341.903743 * 86016


@pytest.mark.parametrize("block, message", [
    ("constraints: {temporal_factors: {Z: 1}}", "Z"),
    ("constraints: {permutation: [C, C]}", "listed twice"),
    ("constraints: {spatial_split: 1, spatial_axis: {M: X}}", "not both"),
    ("constraints: {temporal_factors: {M: 2}, temporal_max: {M: 4}}", "both fixed and bounded"),
    ("constraints: {tempral_factors: {M: 2}}", "unknown key"),
])
def test_bad_constraint_blocks_are_located_errors(tmp_path, block, message):
    text = EYERISS.read_text().replace("      keep: [Weights]\n", f"      keep: [Weights]\n      {block}\n", 1)
    text = text.replace("      constraints:                  # row stationary: one filter row (R) of some input"
                        " channels\n        temporal_factors: {N: 1, M: 1, P: 1, Q: 1, S: 1}\n"
                        "        permutation: [N, M, P, Q, S, C, R]\n", "")
    path = tmp_path / "arch.yaml"
    path.write_text(text)
    with pytest.raises(SpecError, match=message) as err:
        load_architecture(path)
    assert err.value.line is not None and err.value.file is not None
