"""Mapping sparse designs: the chosen mapping is the best exactly evaluated one, and fits once
its compressed tiles and metadata are sized exactly."""

from dataclasses import replace

import pytest

from sbmodel.errors import EvaluationError, SbmodelError

from sbmodel.engine import evaluate_layer
from sbmodel.engine.sparse.density import FixedStructured
from sbmodel.engine.sparse.spec import ActionOptimization, LevelSparse, RankFormat, SparseSpec, TensorFormat
from sbmodel.mapper import Constraints, LevelConstraints, MapSpace
from sbmodel.mapper.driver import _all_valid, compressed_scale, map_layer, sparse_fits
from sbmodel.mapper.exhaustive import count_mappings
from sbmodel.mapper.search import metric
from tests.mapper.cases import conv1d_oc, three_level

GATING = SparseSpec({"RF": LevelSparse(actions=(ActionOptimization("gating", (("Weights", ("Inputs",)),)),))})
ALL = (("K", "R", "P"),)  # each rank may flatten every dimension (as Sparseloop's flattened_rankIDs)
WEIGHTS_CP = TensorFormat((RankFormat("UOP", flattened=ALL), RankFormat("CP", 4, flattened=ALL)))
COMPRESSED = SparseSpec({"Buffer": LevelSparse(formats={"Weights": WEIGHTS_CP}),
                         "DRAM": LevelSparse(formats={"Weights": WEIGHTS_CP})})


def arch_with_metadata(rf, buf, pes=(1, 1), md_depth=64):
    """:func:`three_level` whose Buffer has a metadata store of ``md_depth`` x 8 bits."""
    a = three_level(rf=rf, buf=buf, pes=pes)
    levels = list(a.storage)
    levels[1] = replace(levels[1], metadata_word_bits=4, metadata_storage_width_bits=8,
                        metadata_storage_depth=md_depth)
    return replace(a, storage=tuple(levels))


def sparse_problem(K=8, R=3, P=8):
    p = conv1d_oc(K, R, P)
    return replace(p, densities={"Weights": FixedStructured(0.25), "Inputs": FixedStructured(0.5)})


def exact_optimum(problem, arch, spec, objective, constraints=None):
    space = MapSpace(problem, arch, constraints, tile_scale=compressed_scale(problem, arch, spec))
    best = None
    for m in _all_valid(space, problem):
        try:
            r = evaluate_layer(problem, arch, m, spec)
        except EvaluationError:  # e.g. more ranks than the format has
            continue
        if not sparse_fits(r, arch):
            continue
        v = float(metric(objective, r.energy_pJ, r.cycles))
        best = v if best is None else min(best, v)
    return best


@pytest.mark.parametrize("spec", [GATING, COMPRESSED], ids=["gating", "compressed"])
def test_small_sparse_spaces_give_the_exact_optimum(spec):
    problem = sparse_problem(4, 3, 4)
    arch = arch_with_metadata(rf=8, buf=16)
    keep = frozenset(problem.dataspace_names)
    cons = Constraints({"RF": LevelConstraints(keep=keep), "Buffer": LevelConstraints(keep=keep)})
    space = MapSpace(problem, arch, cons)
    assert count_mappings(space, cap=10 ** 6) <= 2000
    out = map_layer(problem, arch, "energy", constraints=cons, sparse=spec, budget=4000, exact_limit=2000)
    assert sparse_fits(out.result, arch)
    assert out.result.energy_pJ == pytest.approx(exact_optimum(problem, arch, spec, "energy", cons), rel=1e-12)


def test_compressed_tiles_can_fit_where_dense_ones_cannot():
    """Weights at 25 % density in CP format: a Buffer too small for the dense Weights tile
    holds the compressed one (6 words), so the sparse mapper may keep it there."""
    problem = sparse_problem(8, 3, 8)
    arch = arch_with_metadata(rf=64, buf=20)
    cons = Constraints({"Buffer": LevelConstraints(keep=frozenset({"Weights"}), temporal_factors={"K": 8, "R": 3}),
                        "RF": LevelConstraints(bypass=frozenset({"Weights"}))})
    with pytest.raises(SbmodelError, match="no valid mapping"):
        map_layer(problem, arch, "energy", constraints=cons, budget=2000)  # dense: 24 weights > 20 words
    out = map_layer(problem, arch, "energy", constraints=cons, sparse=COMPRESSED, budget=2000)
    assert sparse_fits(out.result, arch)


def test_sampled_sparse_search_is_deterministic_and_fits():
    problem = sparse_problem(16, 3, 16)
    arch = arch_with_metadata(rf=16, buf=96, pes=(2, 2))
    a = map_layer(problem, arch, "edp", sparse=COMPRESSED, budget=3000, exact_limit=0, seed=5)
    b = map_layer(problem, arch, "edp", sparse=COMPRESSED, budget=3000, exact_limit=0, seed=5)
    assert a.mapping == b.mapping and sparse_fits(a.result, arch)
    assert a.exact_evaluations >= 1


def test_ucnn_tables_larger_than_the_packed_weights_still_get_a_fitting_mapping():
    """ucnn_like stores 1-bit weights packed, but as UCNN indirection tables (~3.6 bits per
    position): the dense search's best tiles overflow the weight scratchpad, and the exact
    evaluations must teach the next round what the tables really take."""
    from pathlib import Path

    from sbmodel.engine.repetition import design_view
    from sbmodel.mapper import find_mapping
    from sbmodel.spec import load_architecture, load_workload

    root = Path(__file__).resolve().parents[2]
    arch = load_architecture(root / "arch_specs/ucnn_like.yaml")
    layer = next(p for p in load_workload(root / "workloads/resnet18_binary.yaml").problems()
                 if p.name == "layer3.0.conv1")
    problem = design_view(layer, arch)
    mapping = find_mapping(problem, arch, budget=20_000, cache=None)  # the default budget
    result = evaluate_layer(problem, arch, mapping)
    assert result.counts.compute.arithmetic.style == "ucnn"
    assert result.counts.compute.arithmetic.weight_bits_per_position > 1.0
    assert sparse_fits(result, arch)


def test_exact_reranking_shrinks_with_the_budget():
    from sbmodel.mapper.driver import sparse_rerank

    assert [sparse_rerank(b) for b in (500, 1_999, 2_000, 19_999, 20_000, 40_000)] == [4, 4, 8, 8, 16, 16]


def test_metadata_that_overflows_its_store_teaches_the_search_what_fits():
    """eyeriss_sparse with a 448-word weight scratchpad but a metadata store for 224 CSC
    coordinates: the dense search fills the scratchpad with dense weights, whose metadata
    overflows.  The exact evaluations of its best calibrate a metadata-aware search, whose
    mapping fits.  Whether the dense search's best overflows depends on its random draws, so
    a few seeds are searched: on each the mapping fits, and on some the overflow happened."""
    from pathlib import Path

    from sbmodel.spec import load_architecture, load_workload

    root = Path(__file__).resolve().parents[2]
    base = load_architecture(root / "arch_specs/eyeriss_sparse.yaml")
    levels = [replace(lv, size_words=448) if lv.name == "weights_spad" else lv for lv in base.storage]
    arch = replace(base, storage=tuple(levels))
    layer = next(p for p in load_workload(root / "workloads/resnet18_sb.yaml").problems()
                 if p.name == "layer3.0.conv2")
    overflowed = 0
    for seed in range(6):
        out = map_layer(layer, arch, "edp", sparse=arch.sparse, budget=500, seed=seed)
        overflowed += out.rejected >= 1  # the dense search's best did not fit
        assert sparse_fits(out.result, arch)
        spad = out.result.counts.levels[[lv.name for lv in arch.storage].index("weights_spad")]
        weights = spad.tensors[layer.dataspace_names.index("Weights")]
        assert weights.sparse.metadata_tile_bits <= 112 * 16
    assert overflowed >= 1
