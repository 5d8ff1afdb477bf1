"""The batch evaluator's fast kernels equal their plain NumPy definitions.

The evaluator gathers with flat takes, builds tile sizes from per-dimension planes and
pre-filters capacity and fanouts per level; each must give exactly what the textbook
formulation gives, on any batch (also ones that break fanouts or capacity).
"""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from sbmodel.engine.batch import MappingBatch, _along, _Shape, _tile_words, evaluate_batch, fits
from sbmodel.mapper.space import MapSpace
from sbmodel.spec import load_architecture, load_workload

ROOT = Path(__file__).resolve().parents[2]
DESIGNS = ["eyeriss_like", "eyeriss_sparse", "simple_ws", "simple_os", "stc_like", "ucnn_like"]


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 40), st.integers(1, 12), st.integers(0, 12), st.integers(0, 2**31))
def test_flat_gather_equals_take_along_axis(rows, cols, picks, seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(-1000, 1000, (rows, cols))
    idx = rng.integers(0, cols, (rows, picks))
    assert np.array_equal(_along(x, idx), np.take_along_axis(x, idx, 1))
    strided = x[:, ::-1]  # not contiguous: gathered from a copy
    assert np.array_equal(_along(strided, idx), np.take_along_axis(strided, idx, 1))


def _problems():
    wl = load_workload(ROOT / "workloads" / "resnet18.yaml").problems()
    return [wl[0], wl[7], wl[-1]]  # 7x7 stride 2, a 1x1 stride-2 downsample, the FC layer


def _scrambled(batch: MappingBatch, rng: np.random.Generator) -> MappingBatch:
    """The batch with some spatial factors and axes changed at random (fanouts overflow)."""
    sf, ax = batch.spatial.copy(), batch.spatial_axis.copy()
    hit = rng.random(sf.shape) < 0.05
    sf[hit] = rng.integers(1, 20, int(hit.sum()))
    ax[rng.random(ax.shape) < 0.1] ^= 1
    return MappingBatch(batch.temporal, batch.temporal_order, sf, ax, batch.spatial_order, batch.keep)


@pytest.mark.parametrize("design", DESIGNS)
def test_tile_words_equal_rank_extent_products(design):
    arch = load_architecture(ROOT / "arch_specs" / f"{design}.yaml")
    for problem in _problems():
        batch = MapSpace(problem, arch).sample(300, np.random.default_rng(1))
        ext = np.cumprod(batch.temporal * batch.spatial, axis=1)
        want = np.ones(ext.shape[:2] + (len(problem.dataspaces),), np.int64)
        for t, ds in enumerate(problem.dataspaces):
            for rank in ds.projection:
                want[..., t] *= 1 + sum(abs(c) * (ext[..., problem.dims.index(d)] - 1) for c, d in rank)
        assert np.array_equal(_tile_words(_Shape.of(problem), ext), want)


@pytest.mark.parametrize("design", DESIGNS)
def test_prefilter_agrees_with_full_analysis(design):
    """fits() (capacity and fanouts, no access analysis) says what the full analysis says."""
    arch = load_architecture(ROOT / "arch_specs" / f"{design}.yaml")
    rng = np.random.default_rng(2)
    fitting = checked = 0
    for problem in _problems():
        space = MapSpace(problem, arch)
        batch = MappingBatch.concat([space.sample(200, rng), _scrambled(space.sample(400, rng, fitting=True), rng)])
        quick = fits(problem, arch, batch)
        full = evaluate_batch(problem, arch, batch, prefilter=False).fits
        assert np.array_equal(quick, full)
        fitting, checked = fitting + int(quick.sum()), checked + batch.size
    assert 0 < fitting < checked  # both kinds of candidate were checked
