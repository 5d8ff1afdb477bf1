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


def test_repeated_layers_share_dense_counts_and_equal_one_by_one_evaluation():
    """evaluate_mappings computes dense counts once per (shape, element bits, mapping); every
    layer still gets its own data-dependent stages, name and figures."""
    from sbmodel.api import evaluate_mappings
    from sbmodel.spec import load_architecture, load_mappings, load_workload
    from tests.conftest import ROOT

    arch = load_architecture(ROOT / "arch_specs/eyeriss_sparse.yaml")
    problems = load_workload(ROOT / "workloads/resnet18_sb.yaml").problems()
    given = load_mappings(ROOT / "mappings/eyeriss_sparse_resnet18_sb.yaml", arch, problems)
    mappings = [given[p.name] for p in problems]
    assert len({(p.bounds, m) for p, m in zip(problems, mappings)}) < len(problems)  # some repeat
    together = evaluate_mappings(problems, arch, mappings)
    for p, m, r in zip(problems, mappings, together):
        alone = evaluate_mapping(p, arch, m)
        assert r.layer == p.name
        assert r == alone  # every figure, per level and tensor
