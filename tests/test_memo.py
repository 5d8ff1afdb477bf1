"""sbmodel.core.memo: one value per object, never another object's."""

from sbmodel.core.memo import IdentityMemo


def test_builds_once_per_object_and_never_serves_another_objects_value():
    built = []
    memo: IdentityMemo[dict, int] = IdentityMemo(size=2)
    a, b, c = {"x": 1}, {"x": 1}, {"x": 2}  # a and b equal but distinct objects
    build = lambda d: built.append(d) or len(built)  # noqa: E731
    assert memo(a, build) == 1 and memo(a, build) == 1
    assert memo(b, build) == 2  # equal content, other object: its own value
    assert memo(c, build) == 3  # over the size: cleared, then built
    assert memo(a, build) == 4  # built again after the clear
    assert len(built) == 4
