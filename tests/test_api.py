"""sbmodel.api: evaluating given mappings."""
from __future__ import annotations

from sbmodel.api import evaluate_mapping
from sbmodel.core import Loop, LevelMapping, Mapping
from sbmodel.engine import evaluate_layer
from tests.mapper.cases import small_conv, three_level


def test_a_mapping_whose_dense_tiles_overflow_is_still_evaluated_not_zeroed():
    """The closed form's capacity prefilter must not turn a mapping into zero counts: tiles
    may fit only compressed or packed, or fanouts only with spatial skipping (the capacity
    checks belong to the mapper and the mapping-file loader)."""
    problem = small_conv()  # M4 C2 P4 Q2 R3 S1
    arch = three_level(rf=2, buf=256)
    whole = [Loop("M", 4), Loop("C", 2), Loop("P", 4), Loop("Q", 2), Loop("R", 3)]
    mapping = Mapping((
        LevelMapping(temporal=tuple(whole[2:]), keep=frozenset({"Weights", "Inputs", "Outputs"})),  # RF
        LevelMapping(temporal=tuple(whole[:2]), keep=frozenset({"Weights", "Inputs", "Outputs"})),  # Buffer
        LevelMapping(keep=frozenset({"Weights", "Inputs", "Outputs"})),  # DRAM
    ))
    via_api = evaluate_mapping(problem, arch, mapping)
    assert via_api.energy_pJ > 0
    assert via_api.energy_pJ == evaluate_layer(problem, arch, mapping).energy_pJ
    assert via_api.cycles == evaluate_layer(problem, arch, mapping).cycles
