"""The sweep file: which designs and workloads to evaluate, and how to sample them.

```yaml
sweep:
  name: glb_and_bandwidth                 # optional (default: the file's stem)
  architecture: ../../arch_specs/eyeriss_like.yaml   # paths are relative to this file
  workload: ../../workloads/resnet18_sb.yaml
  mapping: my_mappings.yaml               # optional; layers it leaves out are searched
  mapper: {objective: edp, budget: 20000, seed: 0, restarts: 0, imperfect: false}
  sampling: {method: grid}                # grid | random | lhs (random/lhs: points, seed)
  parameters:                             # name -> what it sets; names are result columns
    glb_words:
      path: architecture.levels[shared_glb].size_words
      values: [32768, 65536, 131072]
    dram_bandwidth:
      path: architecture.levels[DRAM].read_bandwidth
      range: {min: 2, max: 32, scale: log, count: 5}     # grid: count or step
    pe_array:                             # several paths set together
      path: [architecture.levels.inter_PE_spatial.mesh, architecture.levels.ifmap_spad.mesh]
      choices:                            # label -> value (one per path)
        14x12: [[14, 1], [14, 12]]
        16x16: [[16, 1], [16, 16]]
    scheme:                               # a whole file per value
      path: workload
      choices: {binary: ../../workloads/resnet18_binary.yaml, sb: ../../workloads/resnet18_sb.yaml}
```

Checked as strictly as the other formats, before anything runs: unknown keys,
wrong types, a parameter without exactly one of ``values`` / ``choices`` /
``range``, an empty list or range, a path that does not parse or does not lead
anywhere in the architecture / workload (every alternative file, when the file
itself is a parameter), two parameters writing the same place, and every listed
value (and both ends of a range) checked against the architecture / workload
schema.  Each mistake is one :class:`~sbmodel.errors.SpecError` naming the
sweep file, YAML path and line.  Combinations that only fail together (a mesh
that is not a multiple of its parent's, tiles that fit nowhere) are not errors
of the sweep file: such a point is recorded as failed and the sweep goes on.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, Optional, Union

from pydantic import Field

from ..errors import SpecError
from ..spec.architecture import ArchitectureFile
from ..spec.common import StrictModel, check, validate
from ..spec.workload import WorkloadFile
from ..spec.yamlio import Located, format_path, load_yaml, parse_yaml
from .paths import ParamPath, PathError, set_paths, walk_values
from .results import DESIGN_COLUMNS, LEAD_COLUMNS, METRIC_COLUMNS, TAIL_COLUMNS

Number = Union[int, float]

#: Columns of the results that parameter names may not take.
RESERVED_COLUMNS = frozenset(LEAD_COLUMNS + METRIC_COLUMNS + DESIGN_COLUMNS + TAIL_COLUMNS
                             + ("architecture", "workload", "edp"))
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


# --------------------------------------------------------------------------- file models


class RangeSpec(StrictModel):
    """A numeric interval.  A grid takes ``count`` points (or every ``step``; with
    ``scale: log`` the step is a factor); random and Latin-hypercube sampling draw
    from the interval, or from those grid points when ``count`` / ``step`` is given."""

    min: Number
    max: Number
    scale: Literal["linear", "log"] = "linear"
    integer: bool = False
    count: Optional[int] = None
    step: Optional[Number] = None


class MapperSpec(StrictModel):
    """Settings of the mapping search for layers without a given mapping (as ``sbmodel evaluate``)."""

    objective: Literal["energy", "delay", "edp"] = "edp"
    budget: int = Field(default=20_000, ge=1)
    seed: int = 0
    restarts: int = Field(default=0, ge=0)
    imperfect: bool = False


class SamplingSpec(StrictModel):
    method: Literal["grid", "random", "lhs"] = "grid"
    points: Optional[int] = Field(default=None, ge=1)
    seed: int = 0


class ParameterSpec(StrictModel):
    path: Union[str, list[str]]
    values: Optional[list[Any]] = None
    choices: Optional[dict[Union[str, int, float, bool], Any]] = None
    range: Optional[RangeSpec] = None
    description: Optional[str] = None


class SweepSpec(StrictModel):
    name: Optional[str] = None
    description: Optional[str] = None
    architecture: Optional[str] = None
    workload: Optional[str] = None
    mapping: Optional[str] = None
    mapper: MapperSpec = MapperSpec()
    sampling: SamplingSpec = SamplingSpec()
    parameters: dict[str, ParameterSpec] = {}


class SweepFile(StrictModel):
    sweep: SweepSpec


# --------------------------------------------------------------------------- resolved sweep


@dataclass(frozen=True)
class Parameter:
    """One resolved parameter.  A point holds, per parameter, a *choice*: the index of an
    option for ``values`` / ``choices``, the number itself for a ``range``."""

    name: str
    paths: tuple[ParamPath, ...]
    options: tuple[Any, ...] | None = None  # values to set; with several paths, one list per option
    labels: tuple[Any, ...] | None = None   # what the results column shows for each option
    range: RangeSpec | None = None
    grid: tuple[Number, ...] = ()           # discretised range (count / step), else empty

    @property
    def root(self) -> str:
        return self.paths[0].root

    @property
    def is_file(self) -> bool:
        return self.paths[0].is_file

    @property
    def discrete(self) -> bool:
        return self.options is not None

    def grid_choices(self) -> list[Any]:
        """The choices a grid walks through."""
        if self.options is not None:
            return list(range(len(self.options)))
        return list(self.grid)

    def value(self, choice: Any) -> Any:
        """What the parameter writes (one value per path, as a tuple when it has several)."""
        return self.options[choice] if self.options is not None else choice

    def label(self, choice: Any) -> Any:
        """The results-column entry: the choice's label, a scalar value, or compact JSON."""
        if self.labels is not None:
            return self.labels[choice]
        v = self.value(choice)
        if isinstance(v, (list, tuple, dict)):
            return json.dumps(v, separators=(",", ":"))
        return v

    def assignments(self, choice: Any) -> list[tuple[ParamPath, Any]]:
        v = self.value(choice)
        if len(self.paths) == 1:
            return [(self.paths[0], v)]
        return list(zip(self.paths, v))


@dataclass(frozen=True)
class Sweep:
    """A validated sweep: inputs, mapper settings, sampling and parameters, plus the loaded
    YAML documents every point is derived from (shipped once to each worker)."""

    name: str
    file: str
    architecture: str | None
    workload: str | None
    mapping: str | None
    mapper: MapperSpec
    sampling: SamplingSpec
    parameters: tuple[Parameter, ...]
    documents: dict[str, Located] = field(repr=False, compare=False)
    fingerprint: str = ""

    def parameter(self, name: str) -> Parameter:
        for p in self.parameters:
            if p.name == name:
                return p
        raise KeyError(name)

    def file_parameter(self, root: str) -> Parameter | None:
        return next((p for p in self.parameters if p.root == root and p.is_file), None)

    def files(self, root: str) -> list[str]:
        """Every file the architecture (or workload) of a point may come from."""
        fp = self.file_parameter(root)
        if fp is not None:
            return list(dict.fromkeys(fp.options or ()))
        base = self.architecture if root == "architecture" else self.workload
        return [base] if base else []


# --------------------------------------------------------------------------- loading


def load_sweep(source: str | Path | dict[str, Any], base_dir: str | Path | None = None) -> Sweep:
    """Read and validate a sweep file (or a dict of the same shape, for the Python API).

    Relative file paths inside the sweep are resolved against the sweep file's
    folder (``base_dir`` for a dict, default: the working directory).
    """
    if isinstance(source, dict):
        located = parse_yaml(json.dumps(source), "<sweep>")
        folder = Path(base_dir) if base_dir is not None else Path.cwd()
    else:
        located = load_yaml(source)
        folder = Path(base_dir) if base_dir is not None else Path(source).resolve().parent
    check(isinstance(located.data, dict) and "sweep" in located.data, located, (),
          "expected a top-level 'sweep:' mapping")
    spec = validate(SweepFile, located).sweep
    return _resolve(spec, located, folder)


def _resolve(spec: SweepSpec, located: Located, folder: Path) -> Sweep:
    root: tuple[str | int, ...] = ("sweep",)
    s = spec.sampling
    if s.method == "grid":
        check(s.points is None, located, root + ("sampling", "points"),
              "a grid takes every combination; 'points' applies to random and lhs sampling")
    else:
        check(s.points is not None, located, root + ("sampling",),
              f"{s.method} sampling needs 'points': how many design points to draw")

    docs: dict[str, Located] = {}

    def load_file(rel: str, where: tuple[str | int, ...], kind: str) -> str:
        path = (folder / rel).resolve() if not Path(rel).is_absolute() else Path(rel)
        check(path.is_file(), located, where, f"{kind} file not found: {rel} (looked at {path})")
        key = str(path)
        if key not in docs:
            docs[key] = load_yaml(path)
            top = docs[key].data
            if not (isinstance(top, dict) and kind in top):
                raise located.error(where, f"{rel} is not a{'n' if kind[0] in 'aeiou' else ''} {kind} file "
                                           f"(no top-level '{kind}:' mapping)")
        return key

    arch = load_file(spec.architecture, root + ("architecture",), "architecture") if spec.architecture else None
    work = load_file(spec.workload, root + ("workload",), "workload") if spec.workload else None
    mapping = None
    if spec.mapping:
        mp = (folder / spec.mapping).resolve()
        check(mp.is_file(), located, root + ("mapping",), f"mapping file not found: {spec.mapping} (looked at {mp})")
        mapping = str(mp)

    params: list[Parameter] = []
    for name, ps in spec.parameters.items():
        where = root + ("parameters", name)
        check(bool(_NAME.fullmatch(str(name))), located, where,
              f"parameter name {name!r} must be an identifier (letters, digits, _): it becomes a results column")
        check(name not in RESERVED_COLUMNS, located, where,
              f"parameter name {name!r} is a results column already; choose another name")
        param = _parameter(str(name), ps, located, where, load_file)
        check(s.method != "grid" or param.discrete or bool(param.grid), located, where + ("range",),
              "a grid needs count or step for each range (random and lhs sampling draw from the interval)")
        params.append(param)

    for root_name in ("architecture", "workload"):
        files = [p for p in params if p.root == root_name and p.is_file]
        base = arch if root_name == "architecture" else work
        if len(files) > 1:
            raise located.error(root + ("parameters", files[1].name), f"two parameters choose the {root_name} file")
        if not files and base is None:
            raise located.error(root, f"required key is missing: {root_name} (or a parameter with path: {root_name})")

    sweep_tmp = Sweep(name=spec.name or Path(located.file).stem, file=located.file, architecture=arch,
                      workload=work, mapping=mapping, mapper=spec.mapper, sampling=spec.sampling,
                      parameters=tuple(params), documents=docs)
    _check_targets(sweep_tmp, located)
    _check_values(sweep_tmp, located)
    return replace(sweep_tmp, fingerprint=_fingerprint(sweep_tmp))


def _parameter(name: str, ps: ParameterSpec, located: Located, where: tuple[str | int, ...], load_file) -> Parameter:
    given = [k for k in ("values", "choices", "range") if getattr(ps, k) is not None]
    check(len(given) == 1, located, where,
          "give exactly one of values, choices or range" + (f" (got {', '.join(given)})" if given else ""))
    texts = [ps.path] if isinstance(ps.path, str) else list(ps.path)
    check(len(texts) > 0, located, where + ("path",), "empty list of paths")
    paths: list[ParamPath] = []
    for i, text in enumerate(texts):
        at = where + ("path",) if isinstance(ps.path, str) else where + ("path", i)
        try:
            paths.append(ParamPath.parse(text))
        except PathError as exc:
            raise located.error(at, str(exc)) from None
    roots = {p.root for p in paths}
    check(len(roots) == 1, located, where + ("path",),
          "the paths of one parameter must all be in the architecture or all in the workload")
    if any(p.is_file for p in paths):
        check(len(paths) == 1, located, where + ("path",), "a file parameter (path: architecture / workload) "
                                                            "sets the whole file and nothing else")
        check(ps.range is None, located, where + ("range",), "a file parameter takes values or choices (file paths)")
    for i in range(len(paths)):
        for j in range(i):
            check(str(paths[i]) != str(paths[j]), located, where + ("path", i), f"path {paths[i]} is listed twice")

    if ps.range is not None:
        grid = _range_grid(ps.range, located, where + ("range",))
        return Parameter(name, tuple(paths), range=ps.range, grid=tuple(grid))

    if ps.values is not None:
        raw_options, labels, at = list(ps.values), None, [where + ("values", i) for i in range(len(ps.values))]
        check(len(raw_options) > 0, located, where + ("values",), "empty list of values: give at least one")
    else:
        assert ps.choices is not None
        check(len(ps.choices) > 0, located, where + ("choices",), "no choices: give at least one label: value")
        raw_options, labels = list(ps.choices.values()), tuple(ps.choices.keys())
        at = [where + ("choices", k) for k in ps.choices]
    options: list[Any] = []
    for value, loc in zip(raw_options, at):
        if paths[0].is_file:
            check(isinstance(value, str), located, loc, f"expected a file path (got {value!r})")
            value = load_file(value, loc, paths[0].root)
        elif len(paths) > 1:
            check(isinstance(value, list) and len(value) == len(paths), located, loc,
                  f"this parameter sets {len(paths)} paths: each value is a list of {len(paths)} values, one per path "
                  f"(got {value!r})")
            value = tuple(value)
        for scalar in walk_values(value):
            check(not (isinstance(scalar, float) and not math.isfinite(scalar)), located, loc,
                  f"values must be finite numbers (got {scalar!r})")
        options.append(value)
    if labels is None and paths[0].is_file:
        labels = tuple(raw_options)
    seen: dict[str, int] = {}
    for i, opt in enumerate(options):
        key = json.dumps(opt, sort_keys=True, default=str)
        check(key not in seen, located, at[i], f"the same value is listed twice (also at position {seen.get(key)})")
        seen[key] = i
    return Parameter(name, tuple(paths), options=tuple(options), labels=labels)


def _range_grid(r: RangeSpec, located: Located, where: tuple[str | int, ...]) -> list[Number]:
    check(math.isfinite(r.min) and math.isfinite(r.max), located, where, "min and max must be finite numbers")
    check(r.min < r.max, located, where,
          f"empty range: min ({r.min}) must be below max ({r.max}); for one value write values: [{r.min}]")
    if r.scale == "log":
        check(r.min > 0, located, where + ("min",), f"a log-scale range needs min > 0 (got {r.min})")
    if r.integer:
        check(math.ceil(r.min) <= math.floor(r.max), located, where, f"no integer lies in [{r.min}, {r.max}]")
    check(r.count is None or r.step is None, located, where, "give count or step, not both")
    if r.count is not None:
        check(r.count >= 1, located, where + ("count",), f"count must be at least 1 (got {r.count})")
        n = r.count
        if n == 1:
            pts = [float(r.min)]
        elif r.scale == "log":
            lo, hi = math.log(r.min), math.log(r.max)
            pts = [math.exp(lo + (hi - lo) * i / (n - 1)) for i in range(n)]
            pts[0], pts[-1] = float(r.min), float(r.max)
        else:
            pts = [r.min + (r.max - r.min) * i / (n - 1) for i in range(n)]
    elif r.step is not None:
        if r.scale == "log":
            check(r.step > 1, located, where + ("step",), f"with scale: log, step is a factor > 1 (got {r.step})")
        else:
            check(r.step > 0, located, where + ("step",), f"step must be above 0 (got {r.step})")
        pts, x, i = [], float(r.min), 0
        while x <= r.max * (1 + 1e-12) + 1e-12 and i < 1_000_001:
            pts.append(x)
            i += 1
            x = r.min * r.step ** i if r.scale == "log" else r.min + r.step * i
        check(len(pts) <= 1_000_000, located, where + ("step",), "this step gives more than a million values")
    else:
        return []
    out: list[Number] = []
    for x in pts:
        v: Number = int(round(x)) if r.integer else _tidy(x)
        if v not in out:
            out.append(v)
    return out


def _tidy(x: float) -> float:
    """Round away float noise (0.30000000000000004 -> 0.3) so labels and point ids are stable."""
    return float(f"{x:.12g}")


def sample_range(r: RangeSpec, u: float) -> Number:
    """The value at quantile ``u`` in [0, 1) of a continuous range."""
    if r.scale == "log":
        x = math.exp(math.log(r.min) + (math.log(r.max) - math.log(r.min)) * u)
    else:
        x = r.min + (r.max - r.min) * u
    if r.integer:
        lo, hi = math.ceil(r.min), math.floor(r.max)
        return int(min(max(round(x), lo), hi))
    return _tidy(min(max(x, r.min), r.max))


def _check_targets(sweep: Sweep, located: Located) -> None:
    """Every path leads somewhere in every alternative file; no two parameters write one place."""
    for root_name in ("architecture", "workload"):
        params = [p for p in sweep.parameters if p.root == root_name and not p.is_file]
        for f in sweep.files(root_name):
            doc = sweep.documents[f]
            owner: dict[tuple[str | int, ...], str] = {}
            for p in params:
                for i, path in enumerate(p.paths):
                    at = ("sweep", "parameters", p.name, "path") + ((i,) if len(p.paths) > 1 else ())
                    try:
                        targets = path.targets(doc.data)
                    except PathError as exc:
                        raise located.error(at, f"{exc} (in {_rel(f)})") from None
                    for t in targets:
                        for other_t, other in owner.items():
                            if t[: len(other_t)] == other_t or other_t[: len(t)] == t:
                                raise located.error(at, f"{path} writes {format_path(t)}, which parameter {other} "
                                                        f"also writes (in {_rel(f)})")
                        owner[t] = p.name


def _check_values(sweep: Sweep, located: Located) -> None:
    """Each listed value (and both ends of a range) passes the architecture / workload schema."""
    models = {"architecture": ArchitectureFile, "workload": WorkloadFile}
    for p in sweep.parameters:
        if p.is_file:
            for f in p.options or ():
                validate(models[p.root], sweep.documents[f])
            continue
        where = ("sweep", "parameters", p.name)
        if p.discrete:
            probes = [(c, where + (("values", c) if p.labels is None else ("choices", p.labels[c]))) for c in
                      range(len(p.options or ()))]
        else:
            assert p.range is not None
            r = p.range
            probes = [(v, where + ("range",)) for v in
                      dict.fromkeys([sample_range(r, 0.0), sample_range(r, 0.5), sample_range(r, 1.0)]
                                    + list(p.grid))]
        for f in sweep.files(p.root):
            doc = sweep.documents[f]
            for choice, at in probes:
                data = apply_overrides(doc, [(path, value) for path, value in p.assignments(choice)])
                try:
                    validate(models[p.root], Located(data, doc.file, doc.lines))
                except SpecError as exc:
                    hint = ""
                    if p.range is not None and not p.range.integer and "integer" in exc.message:
                        hint = "; add integer: true to the range"
                    raise located.error(at, f"value {p.label(choice)!r} gives {_rel(f)}: at {exc.yaml_path}: "
                                            f"{exc.message}{hint}") from None


def apply_overrides(doc: Located, assignments: list[tuple[ParamPath, Any]]) -> Any:
    """The document's data with every (path, value) written (copy-on-write)."""
    concrete = []
    for path, value in assignments:
        for target in path.targets(doc.data):
            concrete.append((target, value))
    return set_paths(doc.data, concrete) if concrete else doc.data


def _fingerprint(sweep: Sweep) -> str:
    """What every result depends on besides the point's own choices: file contents,
    mapper settings and the parameters' paths.  Part of each point's id, so changed
    inputs never reuse stale results on resume."""
    h = hashlib.sha256()
    parts = {
        "files": sorted(hashlib.sha256(Path(f).read_bytes()).hexdigest() for f in sweep.documents),
        "mapping": hashlib.sha256(Path(sweep.mapping).read_bytes()).hexdigest() if sweep.mapping else None,
        "mapper": sweep.mapper.model_dump(),
        "parameters": [[p.name, [str(x) for x in p.paths]] for p in sweep.parameters],
    }
    h.update(json.dumps(parts, sort_keys=True).encode())
    return h.hexdigest()[:16]


def _rel(path: str) -> str:
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return path


__all__ = ["load_sweep", "Sweep", "Parameter", "SweepSpec", "RangeSpec", "MapperSpec", "SamplingSpec",
           "apply_overrides", "sample_range", "RESERVED_COLUMNS"]
