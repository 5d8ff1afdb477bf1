"""Box-set algebra used by the nest analysis."""

from hypothesis import given, strategies as st

from sbmodel.core import DataSpace
from sbmodel.engine import pointset as ps


def test_project_sliding_window_and_stride():
    ds = DataSpace("Inputs", (((1, "C"),), ((2, "P"), (1, "R"))))
    idx = {"C": 0, "P": 1, "R": 2}
    # C in [0, 1], P in [0, 3], R in [0, 2]: W = 2P + R spans 0..8 (holes included, as Timeloop)
    assert ps.project(ds, [0, 0, 0], [1, 3, 2], idx) == ((0, 2), (0, 9))


def test_difference_of_overlapping_windows():
    a = (((0, 4), (2, 6)),)
    b = (((0, 4), (0, 4)),)
    d = ps.difference(a, b)
    assert ps.volume(d) == 8
    assert d == (((0, 4), (4, 6)),)


def test_difference_disjoint_and_identical():
    a = (((0, 2),),)
    assert ps.difference(a, (((5, 7),),)) == a
    assert ps.difference(a, a) == ()


def test_translation_and_translate():
    a = (((0, 4), (0, 4)),)
    b = ps.translate(a, (0, 3))
    assert ps.translation(a, b) == (0, 3)
    assert ps.translation((), b) is None
    assert ps.translation(a, ()) == (0, 0)


def test_same_ignores_order():
    x, y = ((0, 1),), ((3, 4),)
    assert ps.same((x, y), (y, x))
    assert not ps.same((x,), (x, y))


boxes = st.tuples(st.integers(-5, 5), st.integers(1, 6)).map(lambda t: (t[0], t[0] + t[1]))


@given(st.tuples(boxes, boxes), st.tuples(boxes, boxes))
def test_difference_volume(a, b):
    """|a \\ b| = |a| - |a intersect b| and the pieces are disjoint and inside a."""
    inter = 1
    for (alo, ahi), (blo, bhi) in zip(a, b):
        inter *= max(0, min(ahi, bhi) - max(alo, blo))
    d = ps.difference((a,), (b,))
    assert ps.volume(d) == ps.box_volume(a) - inter
    pts = set()
    for box in d:
        for x in range(*box[0]):
            for y in range(*box[1]):
                assert a[0][0] <= x < a[0][1] and a[1][0] <= y < a[1][1]
                assert not (b[0][0] <= x < b[0][1] and b[1][0] <= y < b[1][1])
                assert (x, y) not in pts
                pts.add((x, y))
