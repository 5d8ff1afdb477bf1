"""Timeloop constraint directives -> Constraints, with Timeloop's semantics and strict errors."""

import pytest

from sbmodel.errors import SbmodelError, SpecError
from sbmodel.mapper import Constraints, LevelConstraints, MapSpace
from sbmodel.timeloop.constraints import parse_constraints, parse_mapper_settings
from sbmodel.timeloop.inputs import TimeloopDocument
from tests.mapper.cases import conv1d_oc, small_conv, three_level


def doc(**sections):
    return TimeloopDocument(sections, {k: "inputs.yaml" for k in sections})


def parse(sections, problem=None, arch=None):
    return parse_constraints(doc(**sections), problem or conv1d_oc(), arch or three_level(pes=(2, 2)))


def test_factors_permutation_split_and_keep():
    c = parse({"architecture_constraints": {"targets": [
        {"target": "Buffer", "type": "temporal", "factors": "K=0 R=1, P<=4", "permutation": "P K"},
        {"target": "Buffer", "type": "spatial", "factors": "K=2", "permutation": "KRP", "split": 1},
        {"target": "RF", "type": "bypass", "keep": ["Outputs"], "bypass": ["Weights"]},
    ]}, "mapspace_constraints": [{"target": "DRAM", "type": "temporal", "factors": "K=99"}]})
    buf = c.level("Buffer")
    assert buf.temporal_factors == {"K": 8, "R": 1}  # 0 = the whole dimension
    assert buf.temporal_max == {"P": 4}
    assert buf.permutation == ("P", "K")  # spaces ignored, innermost first
    assert (buf.spatial_factors, buf.spatial_permutation, buf.spatial_split) == ({"K": 2}, ("K", "R", "P"), 1)
    assert c.level("RF").keep == {"Outputs"} and c.level("RF").bypass == {"Weights"}
    assert c.level("DRAM").temporal_factors == {"K": 8}  # clamped to the bound


def test_innermost_level_permutation_is_canonical_like_timeloop():
    c = parse({"mapspace_constraints": [{"target": "RF", "type": "temporal", "permutation": "PRK"}]})
    assert c.level("RF").permutation == ()


def test_mapspace_section_wins_over_mapspace_constraints():
    c = parse({"mapspace": {"template": "uber"},
               "mapspace_constraints": [{"target": "DRAM", "type": "temporal", "factors": "K=1"}]})
    assert c == Constraints()


def test_nested_old_syntax_and_utilization():
    c = parse({"mapspace_constraints": {"constraints": [
        {"target": "RF", "constraints": [{"type": "utilization", "min": 0.5}]},
        {"target": "Buffer", "type": "temporal", "attributes": {"factors": "R=3"}},
    ]}})
    assert c.min_utilization == 0.5 and c.level("Buffer").temporal_factors == {"R": 3}


@pytest.mark.parametrize("sections, message", [
    ({"architecture_constraints": [{"target": "Buffer", "type": "temporal", "factors": "K=2"}],
      "mapspace_constraints": [{"target": "Buffer", "type": "temporal", "factors": "K=4"}]}, "given twice"),
    ({"mapspace_constraints": [{"target": "Nowhere", "type": "temporal"}]}, "unknown target level"),
    ({"mapspace_constraints": [{"target": "Buffer", "type": "temporal", "factors": "Z=2"}]}, "unknown dimension"),
    ({"mapspace_constraints": [{"target": "Buffer", "type": "temporal", "factors": "K=2 junk"}]}, "cannot read"),
    ({"mapspace_constraints": [{"target": "Buffer", "type": "temporal", "permutation": "KQ"}]}, "unknown dimension"),
    ({"mapspace_constraints": [{"target": "Buffer", "type": "no_multicast"}]}, "unsupported constraint type"),
    ({"mapspace_constraints": [{"target": "Buffer", "type": "bypass", "keep": ["Psums"]}]}, "unknown data space"),
    ({"mapspace_constraints": [{"target": "Buffer", "type": "utilization", "min": 0.5}]}, "innermost"),
    ({"mapspace_constraints": [{"type": "temporal"}]}, "without a 'target'"),
])
def test_bad_directives_are_clear_errors(sections, message):
    with pytest.raises(SpecError, match=message):
        parse(sections)


def test_mapper_settings_follow_timeloop_keys():
    assert parse_mapper_settings(doc(mapper={"optimization_metrics": ["delay", "energy"]})).objective == \
        ("delay", "energy")
    # a list under the singular key is not a string: Timeloop falls back to the plural key, then EDP
    assert parse_mapper_settings(doc(mapper={"optimization_metric": ["delay", "energy"]})).objective == ("edp",)
    assert parse_mapper_settings(doc(mapper={"optimization_metric": "energy"})).objective == ("energy",)
    assert parse_mapper_settings(doc()).objective == ("edp",)
    with pytest.raises(SpecError, match="unknown optimization metric"):
        parse_mapper_settings(doc(mapper={"optimization_metrics": ["area"]}))


def test_space_rejects_impossible_constraints():
    arch = three_level(pes=(2, 2))
    with pytest.raises(SbmodelError, match="does not divide"):
        MapSpace(conv1d_oc(), arch, Constraints({"Buffer": LevelConstraints(temporal_factors={"K": 3})}))
    with pytest.raises(SbmodelError, match="no spatial fanout"):
        MapSpace(conv1d_oc(), arch, Constraints({"DRAM": LevelConstraints(spatial_factors={"K": 2})}))
    with pytest.raises(SbmodelError, match="unknown level"):
        MapSpace(small_conv(), arch, Constraints({"L9": LevelConstraints()}))
    with pytest.raises(SbmodelError, match="both kept and bypassed"):
        LevelConstraints(keep=frozenset({"Inputs"}), bypass=frozenset({"Inputs"}))


def test_the_ruby_map_space_asks_for_imperfect_factors():
    """Timeloop's ``mapspace: {template: ruby}`` searches residual factors: sbmodel's imperfect
    search; the default (uber) and constraint lists do not."""
    assert parse_mapper_settings(doc(mapspace={"template": "ruby"})).imperfect
    assert parse_mapper_settings(doc(mapspace_constraints={"template": "Ruby", "targets": []})).imperfect
    assert not parse_mapper_settings(doc(mapspace={"template": "uber"})).imperfect
    assert not parse_mapper_settings(doc(mapspace=[{"target": "Buffer", "type": "temporal"}])).imperfect
    assert not parse_mapper_settings(doc()).imperfect
