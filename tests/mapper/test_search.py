"""The search on layers that nothing fits: a clear error, fast, also through the parallel map."""

import pytest

from sbmodel.api import map_layers
from sbmodel.core import conv_problem
from sbmodel.errors import SbmodelError
from sbmodel.mapper import find_mapping
from sbmodel.mapper.search import search
from sbmodel.spec import load_architecture

from ..conftest import ROOT


def test_a_layer_nothing_fits_is_reported_not_searched_forever():
    """An 11 x 11 filter window cannot fit ucnn_like's input scratchpad under its whole-window
    constraint: a one-line error (also out of the worker processes of a network's map)."""
    arch = load_architecture(ROOT / "arch_specs/ucnn_like.yaml")
    big = conv_problem("big", M=64, C=3, R=11, S=11, P=10, Q=10)
    small = conv_problem("small", M=8, C=8, R=3, S=3, P=4, Q=4)
    with pytest.raises(SbmodelError, match="no valid mapping of layer big on ucnn_like"):
        search(big, arch, budget=200)
    with pytest.raises(SbmodelError, match="no valid mapping of layer big on ucnn_like"):
        map_layers([small, big], arch, lambda p, a: find_mapping(p, a, budget=200, cache=None), jobs=2)


def test_search_effort_grows_with_the_budget_up_to_the_whole_pool():
    """Small budgets expand few pool members and kick few candidates per round (more descent
    steps per evaluation); from 20,000 evaluations the whole pool and a full batch."""
    from sbmodel.mapper.search import _effort

    efforts = [_effort(b, 16, 4096) for b in (100, 500, 1_000, 5_000, 10_000, 20_000, 100_000)]
    assert efforts[0] == efforts[2] == (4, 256)
    assert efforts[-2] == efforts[-1] == (16, 4096)
    assert all(a[0] <= b[0] and a[1] <= b[1] for a, b in zip(efforts, efforts[1:]))
    assert _effort(20_000, 8, 1024) == (8, 1024)  # never beyond the pool or a batch
