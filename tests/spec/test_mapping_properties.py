"""Property tests: random valid mappings of a small conv load, validate and round trip;
a random change to one factor is always rejected, naming the dimension."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sbmodel.core.architecture import Architecture
from sbmodel.core.mapping import LevelMapping, Loop, Mapping
from sbmodel.core.problem import conv_problem
from sbmodel.errors import SpecError
from sbmodel.spec.architecture import load_architecture
from sbmodel.spec.mapping import dump_mapping, load_mappings
from .spec_helpers import TINY_ARCH, edit

PROBLEM = conv_problem("p", N=2, C=2, M=4, P=3, Q=2, R=3, S=1)
PRIME_FACTORS = {"N": [2], "C": [2], "M": [2, 2], "P": [3], "Q": [2], "R": [3], "S": []}
TENSORS = ("Weights", "Inputs", "Outputs")
# Buffers big enough for any tiling of PROBLEM, so every factorization is valid.
ROOMY_ARCH = edit(edit(TINY_ARCH, "size_words: 256", "size_words: 100000"), "size_words: 64", "size_words: 100000")


@dataclass
class LevelPlan:
    """One level as a test writes it: loops outermost first, keep (None = default)."""

    temporal: list[tuple[str, int]] = field(default_factory=list)
    x: list[tuple[str, int]] = field(default_factory=list)
    y: list[tuple[str, int]] = field(default_factory=list)
    keep: Optional[set[str]] = None


@pytest.fixture(scope="module")
def arch(tmp_path_factory: pytest.TempPathFactory) -> Architecture:
    path = tmp_path_factory.mktemp("arch") / "roomy.yaml"
    path.write_text(ROOMY_ARCH)
    return load_architecture(path)


def _place(draw: st.DrawFn, arch: Architecture) -> dict[int, LevelPlan]:
    """Spread each dimension's prime factors over the slots (level, temporal/X/Y)."""
    products: dict[tuple[int, str, str], int] = {}
    for dim, primes in PRIME_FACTORS.items():
        for prime in primes:
            level = draw(st.integers(0, arch.num_levels - 1))
            kind = draw(st.sampled_from(["T", "X", "Y"]))
            if kind != "T":
                limit = arch.fanout(level)[0 if kind == "X" else 1]
                used = 1
                for (lv, k, _), f in products.items():
                    used *= f if (lv, k) == (level, kind) else 1
                if used * prime > limit:
                    kind = "T"  # no room on that axis: loop in time instead
            key = (level, kind, dim)
            products[key] = products.get(key, 1) * prime
    plans = {i: LevelPlan() for i in range(arch.num_levels)}
    for (level, kind, dim), factor in products.items():
        target = {"T": plans[level].temporal, "X": plans[level].x, "Y": plans[level].y}[kind]
        target.append((dim, factor))
    for plan in plans.values():
        for loops in (plan.temporal, plan.x, plan.y):
            loops[:] = draw(st.permutations(loops))
    return plans


def _choose_keep(draw: st.DrawFn, arch: Architecture, plans: dict[int, LevelPlan]) -> None:
    spad, _array, buffer, dram = (plans[i] for i in range(4))
    if draw(st.booleans()):
        spad.keep = {"Weights"} | ({"Inputs"} if draw(st.booleans()) else set())
    if draw(st.booleans()):
        buffer.keep = set(draw(st.lists(st.sampled_from(TENSORS), unique=True)))
    kept = (spad.keep or {"Weights", "Inputs"}) | (buffer.keep if buffer.keep is not None else set(TENSORS))
    if draw(st.booleans()) or kept != set(TENSORS):
        dram.keep = (set(TENSORS) - kept) | set(draw(st.lists(st.sampled_from(TENSORS), unique=True)))


@st.composite
def plans(draw: st.DrawFn, arch: Architecture) -> dict[int, LevelPlan]:
    result = _place(draw, arch)
    _choose_keep(draw, arch, result)
    return result


def write_yaml(plans_by_level: dict[int, LevelPlan], arch: Architecture) -> str:
    """The test's own writer of the format (independent of dump_mapping)."""
    tokens = lambda loops: "[" + ", ".join(f"{d}{f}" for d, f in loops) + "]"  # noqa: E731
    lines = ["mappings:", f"  - layer: {PROBLEM.name}", "    levels:"]
    for index in reversed(range(arch.num_levels)):
        plan = plans_by_level[index]
        lines.append(f"      - level: {arch.storage[index].name}")
        if plan.temporal:
            lines.append(f"        temporal: {tokens(plan.temporal)}")
        axes = [f"{axis}: {tokens(loops)}" for axis, loops in (("X", plan.x), ("Y", plan.y)) if loops]
        if axes:
            lines.append("        spatial: {" + ", ".join(axes) + "}")
        if plan.keep is not None:
            lines.append("        keep: [" + ", ".join(t for t in TENSORS if t in plan.keep) + "]")
    return "\n".join(lines) + "\n"


def expected_mapping(plans_by_level: dict[int, LevelPlan], arch: Architecture) -> Mapping:
    levels = []
    for index, level in enumerate(arch.storage):
        plan = plans_by_level[index]
        keep = plan.keep
        if keep is None:
            keep = set() if level.container_only else set(TENSORS) - level.must_bypass
        levels.append(LevelMapping(
            temporal=tuple(Loop(d, f) for d, f in reversed(plan.temporal)),
            spatial=tuple(Loop(d, f, axis="X") for d, f in reversed(plan.x))
            + tuple(Loop(d, f, axis="Y") for d, f in reversed(plan.y)),
            keep=frozenset(keep),
        ))
    return Mapping(levels=tuple(levels))


def _load(tmp_path: Path, name: str, text: str, arch: Architecture) -> Mapping:
    path = tmp_path / name
    path.write_text(text)
    return load_mappings(path, arch, [PROBLEM])[PROBLEM.name]


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(data=st.data())
def test_random_valid_mappings_load_validate_and_round_trip(data: st.DataObject, arch: Architecture,
                                                            tmp_path: Path) -> None:
    plan = data.draw(plans(arch))
    expected = expected_mapping(plan, arch)
    loaded = _load(tmp_path, "written.yaml", write_yaml(plan, arch), arch)
    assert loaded == expected
    loaded.validate(PROBLEM, arch)
    assert _load(tmp_path, "dumped.yaml", dump_mapping(loaded, arch, PROBLEM), arch) == loaded


@SETTINGS
@given(data=st.data())
def test_changing_one_factor_is_rejected(data: st.DataObject, arch: Architecture, tmp_path: Path) -> None:
    plan = data.draw(plans(arch))
    dim = data.draw(st.sampled_from(sorted(PRIME_FACTORS)))
    level = data.draw(st.integers(0, arch.num_levels - 1))
    extra = data.draw(st.integers(2, 3))
    temporal = plan[level].temporal
    existing = [i for i, (d, _) in enumerate(temporal) if d == dim]
    if existing:
        d, f = temporal[existing[0]]
        temporal[existing[0]] = (d, f * extra)
    else:
        temporal.insert(data.draw(st.integers(0, len(temporal))), (dim, extra))
    with pytest.raises(SpecError) as info:
        _load(tmp_path, "perturbed.yaml", write_yaml(plan, arch), arch)
    bound = PROBLEM.bound[dim]
    assert f"dimension {dim}" in str(info.value) and f"{dim}={bound}" in str(info.value)
    assert f"cover {bound * extra}" in str(info.value)
