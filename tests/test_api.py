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


def fresh_evaluation(problem, arch, mapping):
    """The pipeline without any memo: closed-form dense counts, the data stages, energy."""
    from sbmodel.engine import analyse_counts, evaluate_counts
    from sbmodel.engine.batch import mapping_counts

    return evaluate_counts(analyse_counts(mapping_counts(problem, arch, mapping), arch), arch)


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
        alone = fresh_evaluation(p, arch, m)
        assert r.layer == p.name
        assert r == alone  # every figure, per level and tensor


def test_dense_counts_are_reused_across_designs_that_differ_only_in_energies_and_bandwidths():
    """A sweep over energies or bandwidths reuses the dense counts of its first point; every
    figure still equals a fresh evaluation of the design at hand."""
    from dataclasses import replace

    import sbmodel.api as api
    import sbmodel.engine.batch as api_batch
    from sbmodel.spec import load_architecture, load_mappings, load_workload
    from tests.conftest import ROOT

    arch = load_architecture(ROOT / "arch_specs/eyeriss_sparse.yaml")
    levels = [replace(lv, energy_pJ={**lv.energy_pJ, "read": 2 * lv.energy_pJ["read"]}) if lv.name == "DRAM"
              else replace(lv, read_bandwidth=4, write_bandwidth=4) if lv.name == "shared_glb" else lv
              for lv in arch.storage]
    other = replace(arch, storage=tuple(levels))
    assert api._structure_key(other) == api._structure_key(arch)
    bigger = replace(arch, storage=tuple(replace(lv, size_words=2 * lv.size_words) if lv.name == "shared_glb"
                                         else lv for lv in arch.storage))
    assert api._structure_key(bigger) != api._structure_key(arch)  # sizes are part of the structure
    problems = load_workload(ROOT / "workloads/resnet18_sb.yaml").problems()
    given = load_mappings(ROOT / "mappings/eyeriss_sparse_resnet18_sb.yaml", arch, problems)
    problems = problems[:6]
    mappings = [given[p.name] for p in problems]
    first = api.evaluate_mappings(problems, arch, mappings)
    computed = []
    real = api_batch.mapping_counts
    try:
        api_batch.mapping_counts = lambda *a: computed.append(a) or real(*a)
        second = api.evaluate_mappings(problems, other, mappings)
    finally:
        api_batch.mapping_counts = real
    assert computed == []  # every dense count came from the first design's
    for p, m, b in zip(problems, mappings, second):
        assert b == fresh_evaluation(p, other, m)  # as a fresh evaluation of the other design
    assert sum(b.energy_pJ for b in second) > sum(a.energy_pJ for a in first)  # DRAM reads cost more
