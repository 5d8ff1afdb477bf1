"""mappings_counts: the closed form where it holds a mapping exactly, the loop-nest analysis
otherwise -- same counts either way, and the given mapping is kept."""
from __future__ import annotations

from sbmodel.core import LevelMapping, Loop, Mapping
from sbmodel.engine import dense_counts, evaluate_counts
from sbmodel.engine.batch import mappings_counts, representable
from tests.mapper.cases import small_conv, three_level

ALL = frozenset({"Weights", "Inputs", "Outputs"})


def _mapping(rf_loops, buf_loops) -> Mapping:
    return Mapping((LevelMapping(temporal=tuple(rf_loops), keep=ALL),
                    LevelMapping(temporal=tuple(buf_loops), keep=ALL),
                    LevelMapping(keep=ALL)))


def test_mixed_batch_equals_the_loop_nest_analysis():
    problem, arch = small_conv(), three_level(rf=64, buf=256)  # M4 C2 P4 Q2 R3 S1
    plain = _mapping([Loop("R", 3), Loop("P", 4)], [Loop("C", 2), Loop("M", 4), Loop("Q", 2)])
    split = _mapping([Loop("R", 3), Loop("P", 2), Loop("C", 2), Loop("P", 2)],  # P twice at a level
                     [Loop("M", 4), Loop("Q", 2)])
    assert representable(plain) and not representable(split)
    got = mappings_counts(problem, arch, [plain, split, plain])
    for mapping, counts in zip([plain, split, plain], got):
        assert counts.mapping is mapping
        want = evaluate_counts(dense_counts(problem, arch, mapping), arch)
        have = evaluate_counts(counts, arch)
        assert have.cycles == want.cycles
        assert abs(have.energy_pJ - want.energy_pJ) <= 1e-9 * want.energy_pJ
        for a, b in zip(counts.levels, dense_counts(problem, arch, mapping).levels):
            for x, y in zip(a.tensors, b.tensors):
                assert (x.reads, x.fills, x.updates) == (y.reads, y.fills, y.updates)
