"""ZigZag as a measured peer of sbmodel: the same architecture and workload, run through ZigZag.

Why: DESIGN.md quotes ZigZag (PyPI ``zigzag-dse``) as a peer for the wall time of a
ResNet-18 evaluation with mapping search.  This module makes that comparison
reproducible: it converts *our* loaded :class:`~sbmodel.core.architecture.Architecture`
and workload into ZigZag's three YAML inputs (accelerator, workload, mapping) in a
temporary folder, runs ZigZag's API (``zigzag.api.get_hardware_performance_zigzag``,
checked against zigzag-dse 3.9.1) and returns its total energy (pJ), latency (cycles),
per-layer figures and wall/CPU time.  ``benchmarks/bench_evaluate.py`` runs it in a
fresh process next to ``sbmodel evaluate``.  zigzag-dse stays an optional dependency.

    python benchmarks/zigzag_peer.py ARCH WORKLOAD [--json] [--keep-inputs DIR]

How our architecture becomes ZigZag's accelerator
-------------------------------------------------
* Operands: Inputs -> ``I1``, Weights -> ``I2``, Outputs -> ``O`` (ZigZag's default
  ``memory_operand_links``: I -> I1, W -> I2, O -> O).
* Levels: every non-container storage level becomes one ZigZag memory, innermost
  first (ZigZag's order).  It serves the tensors it may hold: the outermost level all
  of them; any other level every tensor not in its ``bypass`` list.  A tensor that is
  neither kept nor bypassed (the mapper's choice in sbmodel) is served, because ZigZag
  has no optional bypass.  Container levels only carry the spatial fanout.
* PE array: the compute mesh ``mesh_x x mesh_y`` is ZigZag's operational array,
  ``D1`` = X (size ``mesh_x``), ``D2`` = Y (``mesh_y``); axes of size 1 are dropped.  A
  level with one instance along an axis *serves* that dimension (one instance shared
  by the MACs along it, e.g. DRAM and the global buffer); a level with as many
  instances as MACs along it is private per MAC on it (the per-PE scratchpads).
  Partial sharing (1 < instances < MACs on an axis) is not expressible: error.
* Bits: sbmodel follows Timeloop's convention on unpacked levels: one element of any
  tensor takes one word of the level, so a level's capacity, traffic and energy count
  words.  ZigZag counts bits: ``elements * operand_precision``.  To make ZigZag count
  the same elements and the same block accesses, every operand gets the precision
  ``p`` = the word width of the outermost level (8 bits on eyeriss_like, 16 on
  simple_ws/os), ``O_final`` included, and a level's figures are
  ``size_bits = size_words * p``, ``block_bits = block_size * p``,
  ``bandwidth_bits_per_cycle = bandwidth_words * p``.  Where a level's ``word_bits``
  equals ``p`` (all of eyeriss_like's levels except ``psum_spad``, all levels of
  simple_ws/os) that is exactly ``size_words * word_bits``; ``psum_spad`` (16 words
  of 16 bits) becomes 16 elements = 128 ZigZag bits, i.e. what it holds in our model.
* Energy per access: sbmodel charges ``ceil(words / block_size)`` vector accesses per
  instance at the level's per-block action energy (``sbmodel/engine/energy.py``).
  ZigZag charges ``ceil(bits / bandwidth_min) * bandwidth_min / bandwidth_max`` accesses
  per transfer period, each at ``r_cost``/``w_cost`` (pJ per access of the port width
  ``bandwidth_max``), times the number of memory instances in use
  (``cost_model.py: _calc_memory_access``; ``bandwidth_min`` only sets this rounding).
  We set ``bandwidth_max = bandwidth_bits_per_cycle``, ``bandwidth_min = p`` (one word)
  and scale the per-block energy to the port width: ``r_cost = read_pJ * bandwidth_max /
  block_bits``, ``w_cost = fill_pJ * bandwidth_max / block_bits``.  Both tools then pay
  ``read_pJ / block_size`` per word moved, i.e. the block energy amortised over the
  words of a block as ``ceil(words / block_size)`` does.  (``bandwidth_min = block_bits``
  would round *every transfer period* up to a whole block: with eyeriss_like's 2-word
  weight scratchpad feeding one weight per MAC cycle that doubles the weight reads'
  energy -- measured 2.0x on layer1.0.conv1 -- a rounding sbmodel and Timeloop do not
  make.)  ZigZag has one write cost: our ``update`` (read-modify-write of partial sums
  from below) is charged at ``fill`` (they are equal in the shipped tables; a note is
  added when they differ).  A level without a bandwidth limit (DRAM) gets a port of
  ``UNLIMITED_BLOCKS_PER_CYCLE`` blocks per cycle, or its whole capacity if smaller (the
  1-word registers of simple_ws/os).  Separate read and write ports.
* MAC: ``unit_energy`` = our ``compute`` energy per MAC.
* Differences that remain by design of the two cost models: ZigZag has no leakage
  (sbmodel adds ``leak`` per instance per cycle; the benchmark also shows our energy
  without it); its API runs the cost model with
  ``access_same_data_considered_as_no_access=True``, so an operand that stays put while
  the inner loops are irrelevant to it (a weight reused over OY/OX) is read once, where
  sbmodel/Timeloop charge one read per MAC; multicast and spatial reduction follow from
  served dimensions rather than Timeloop's multicast analysis; one write cost (fill =
  update); no optional bypass (tensors the sbmodel mapper may bypass are always held,
  so all their traffic goes through the level and its bandwidth); the dataflow's
  per-level temporal constraints are not passed (only the spatial ones, as hints).
  Unsupported, with an error: sparse designs, packed levels, metadata storage,
  ``cluster_size > 1``, compute styles other than ``mac``, grouped convolutions.

Workload: one ZigZag layer per layer, ``O[b][k][oy][ox]+=W[k][c][fy][fx]*I[b][c][iy][ix]``
with ``ix = Wstride*ox + Wdilation*fx`` (our N, M, C, P, Q, R, S are ZigZag's B, K, C,
OX, OY, FX, FY); an fc layer is the 1x1 convolution with OX = OY = 1.  No padding: our
P/Q are output sizes and the input is the full ``stride*(P-1) + R`` box in both tools.
Both operands of a layer are sourced from the layer itself (layers are independent,
as in sbmodel).

Mapping: ZigZag searches the spatial mapping itself (``SpatialMappingGeneratorStage``,
the ``nb_spatial_mappings_generated`` best-utilising unrollings of one layer dimension
per array axis).  We only restrict *which* layer dimensions it may unroll on each axis
(``spatial_mapping_hint``), taken from our architecture's spatial constraints: a
dimension whose ``spatial_factors`` is fixed to 1 on the fanout feeding that axis is
left out.  On eyeriss_like this is the row-stationary placement: D1 (14 PE columns)
unrolls OY (our Q) or K (M); D2 (12 PEs per column) unrolls FY (S), C or K.  Designs
without spatial constraints (simple_ws/os) leave ZigZag free.  Temporal mapping: LOMA,
unconstrained.

Search settings (:class:`SearchSettings`): the API's defaults -- LOMA with
``lpf_limit = 6`` (also the value of ZigZag's example scripts), 3 spatial mappings per
layer, uneven temporal mappings -- except the objective, EDP, to match ``sbmodel
evaluate``'s default (``--objective edp``; ZigZag's API default is latency).  The
progress bar is off; ZigZag's own result files (per-layer JSON, pickle, loop orderings,
memory-hierarchy figure) are written to the temporary folder as in any API run and
count in the wall time.  The mappings ZigZag evaluates are counted by wrapping its
``CostModelStage`` (one count per cost-model evaluation).  ZigZag iterates over sets
of layer dimensions, so its choice among equally good spatial mappings depends on
``PYTHONHASHSEED`` (the benchmark fixes it to 0).  zigzag-dse 3.9.1 imports ``six``
without declaring it: ``pip install zigzag-dse six``.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sbmodel.core.architecture import Architecture, ComputeLevel, StorageLevel
from sbmodel.spec import load_architecture, load_workload
from sbmodel.spec.workload import Layer, Workload

TENSORS: tuple[str, ...] = ("Inputs", "Weights", "Outputs")
MEMORY_OPERAND: dict[str, str] = {"Inputs": "I1", "Weights": "I2", "Outputs": "O"}
# Our conv2D dimensions (Timeloop's names) -> ZigZag's layer dimensions.
ZIGZAG_DIM: dict[str, str] = {"N": "B", "M": "K", "C": "C", "P": "OX", "Q": "OY", "R": "FX", "S": "FY"}
CONV_EQUATION = "O[b][k][oy][ox]+=W[k][c][fy][fx]*I[b][c][iy][ix]"
# Port width, in blocks per cycle, of a level without a bandwidth limit (DRAM): wide
# enough never to stall.  Keep it modest: ZigZag truncates fractional access counts.
UNLIMITED_BLOCKS_PER_CYCLE = 64
UNBOUNDED_SIZE_BITS = 10**12  # capacity of an unbounded (DRAM) level


class ZigZagConversionError(ValueError):
    """The architecture or workload uses a feature ZigZag's inputs cannot express."""


@dataclass(frozen=True)
class SearchSettings:
    """ZigZag's search settings (see the module docstring for why these values)."""

    opt: str = "EDP"  # energy | latency | EDP
    lpf_limit: int = 6
    nb_spatial_mappings: int = 3
    temporal_mapping_type: str = "uneven"


@dataclass
class ZigZagInputs:
    """ZigZag's three inputs as YAML-ready data, plus how they were derived."""

    accelerator: dict[str, Any]
    workload: list[dict[str, Any]]
    mapping: list[dict[str, Any]]
    precision_bits: int
    notes: list[str] = field(default_factory=list)

    def write(self, folder: Path) -> tuple[Path, Path, Path]:
        """Write accelerator.yaml, workload.yaml and mapping.yaml into ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        paths = (folder / "accelerator.yaml", folder / "workload.yaml", folder / "mapping.yaml")
        for path, data in zip(paths, (self.accelerator, self.workload, self.mapping)):
            path.write_text(yaml.safe_dump(data, sort_keys=False))
        return paths


@dataclass
class ZigZagLayer:
    name: str
    energy_pJ: float
    cycles: float
    spatial_mapping: str  # the unrolling ZigZag chose, per OA dimension
    energy_by_component_pJ: dict[str, float]  # the compute unit (our name) and each memory


@dataclass
class ZigZagResult:
    """ZigZag's figures for a whole workload; times are for the API call (search included)."""

    energy_pJ: float
    cycles: float
    api_wall_s: float
    api_cpu_s: float
    evaluations: int
    layers: list[ZigZagLayer]
    energy_by_component_pJ: dict[str, float]
    settings: SearchSettings
    notes: list[str]
    zigzag_version: str

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)


# --------------------------------------------------------------------------- architecture


def _array_axes(compute: ComputeLevel) -> list[tuple[str, str, int]]:
    """(our axis, ZigZag OA dimension, size) of the operational array; size-1 axes dropped."""
    axes = [(axis, size) for axis, size in (("X", compute.mesh_x), ("Y", compute.mesh_y)) if size > 1]
    if not axes:
        axes = [("X", 1)]
    return [(axis, f"D{i + 1}", size) for i, (axis, size) in enumerate(axes)]


def _served_dimensions(level: StorageLevel, compute: ComputeLevel) -> list[str]:
    """OA dimensions along which one instance of ``level`` is shared by all MACs."""
    served = []
    for axis, oa_dim, size in _array_axes(compute):
        instances = level.mesh_x if axis == "X" else level.mesh_y
        if instances == 1:
            served.append(oa_dim)
        elif instances != size:
            raise ZigZagConversionError(
                f"level {level.name}: {instances} instances along {axis} for {size} MACs; ZigZag memories are "
                "either private per MAC or shared by a whole array dimension")
    return served


def _held_tensors(level: StorageLevel, outermost: bool) -> list[str]:
    if outermost:
        if level.must_bypass:
            raise ZigZagConversionError(f"outermost level {level.name} bypasses {sorted(level.must_bypass)}")
        return list(TENSORS)
    return [t for t in TENSORS if t not in level.must_bypass]


def _check_supported(arch: Architecture) -> None:
    if arch.sparse is not None:
        raise ZigZagConversionError(f"{arch.name} is a sparse design; ZigZag models dense layers only")
    if arch.compute.style.kind != "mac":
        raise ZigZagConversionError(f"compute style {arch.compute.style.kind!r}: ZigZag models MAC arrays only")
    for level in arch.storage:
        if level.container_only:
            continue
        if level.packed:
            raise ZigZagConversionError(f"level {level.name}: packed sub-word storage is not supported")
        if level.cluster_size != 1:
            raise ZigZagConversionError(f"level {level.name}: cluster_size {level.cluster_size} is not supported")
        if level.metadata_storage_width_bits or level.metadata_word_bits:
            raise ZigZagConversionError(f"level {level.name}: metadata storage is not supported")


def _port_bits(level: StorageLevel, bandwidth_words: float | None, precision_bits: int) -> tuple[int, int, float]:
    """(bandwidth_min, bandwidth_max, energy scale) of one port: ``bandwidth_min`` is one
    element (word), ``bandwidth_max`` the bits per cycle; the scale turns per-block pJ into
    pJ per access of ``bandwidth_max`` bits."""
    block_bits = level.block_size * precision_bits
    if bandwidth_words is None:  # unlimited: wide, but no wider than the memory (a 1-word register)
        max_bits = block_bits * UNLIMITED_BLOCKS_PER_CYCLE
        if level.size_words is not None:
            max_bits = max(block_bits, min(max_bits, level.size_words * precision_bits))
    else:
        max_bits = max(1, int(round(bandwidth_words * precision_bits)))
    return min(precision_bits, max_bits), max_bits, max_bits / block_bits


def accelerator_spec(arch: Architecture, precision_bits: int, notes: list[str]) -> dict[str, Any]:
    """ZigZag's accelerator YAML (as data) for a dense architecture."""
    _check_supported(arch)
    memories: dict[str, Any] = {}
    outermost = arch.storage[-1]
    for level in arch.storage:  # innermost first, as ZigZag wants
        if level.container_only:
            continue
        held = _held_tensors(level, level is outermost)
        if not held:
            continue
        if level.word_bits != precision_bits:
            notes.append(f"{level.name}: {level.word_bits}-bit words counted as {precision_bits}-bit elements "
                         f"(one element per word, as sbmodel counts them)")
        undecided = [t for t in held if t not in level.must_keep and level is not outermost]
        if undecided:
            notes.append(f"{level.name}: {', '.join(undecided)} neither kept nor bypassed; served in ZigZag")
        if level.energy_pJ.get("update", level.action_energy("fill")) != level.action_energy("fill"):
            notes.append(f"{level.name}: update ({level.action_energy('update')} pJ) charged at fill "
                         f"({level.action_energy('fill')} pJ) by ZigZag")
        if level.multiple_buffering != 1.0:
            notes.append(f"{level.name}: capacity after multiple buffering x{level.multiple_buffering}")
        # r_cost is paid per access of the read port, w_cost per access of the write port.
        r_min, r_max, r_scale = _port_bits(level, level.read_bandwidth, precision_bits)
        w_min, w_max, w_scale = _port_bits(level, level.write_bandwidth, precision_bits)
        operands = [MEMORY_OPERAND[t] for t in held]
        read_alloc, write_alloc = [], []
        for op in operands:
            read_alloc.append(f"{op}, tl")
            write_alloc.append(f"{op}, fh")
            if op == "O":  # partial sums also come back from below and go up
                read_alloc.append("O, th")
                write_alloc.append("O, fl")
        size_bits = (UNBOUNDED_SIZE_BITS if level.size_words is None
                     else int(level.effective_size_words or 0) * precision_bits)
        memories[level.name] = {
            "size": size_bits,
            "r_cost": level.action_energy("read") * r_scale,
            "w_cost": level.action_energy("fill") * w_scale,
            "area": 0.0,
            "latency": 1,
            "operands": operands,
            "ports": [
                {"name": "r_port_1", "type": "read", "bandwidth_min": r_min, "bandwidth_max": r_max,
                 "allocation": read_alloc},
                {"name": "w_port_1", "type": "write", "bandwidth_min": w_min, "bandwidth_max": w_max,
                 "allocation": write_alloc},
            ],
            "served_dimensions": _served_dimensions(level, arch.compute),
        }
    axes = _array_axes(arch.compute)
    return {
        "name": arch.name,
        "memories": memories,
        "operational_array": {
            "unit_energy": arch.compute.action_energy("compute"),
            "unit_area": 0.0,
            "dimensions": [oa_dim for _, oa_dim, _ in axes],
            "sizes": [size for _, _, size in axes],
        },
    }


def spatial_mapping_hint(arch: Architecture) -> dict[str, list[str]]:
    """Layer dimensions each OA dimension may unroll, from the design's spatial constraints.

    A fanout along one axis allows the dimensions whose ``spatial_factors`` is not fixed to 1
    there; an OA dimension without any constrained fanout is left out (ZigZag: any dimension).
    """
    allowed: dict[str, set[str]] = {}
    oa_of_axis = {axis: oa_dim for axis, oa_dim, _ in _array_axes(arch.compute)}
    for i, level in enumerate(arch.storage):
        fan_x, fan_y = arch.fanout(i)
        if (fan_x, fan_y) == (1, 1):
            continue
        fixed = level.constraints.spatial_factors if level.constraints is not None else {}
        dims = {ZIGZAG_DIM[d] for d in ZIGZAG_DIM if fixed.get(d) != 1}
        for axis, fan in (("X", fan_x), ("Y", fan_y)):
            if fan > 1 and axis in oa_of_axis:
                allowed.setdefault(oa_of_axis[axis], set()).update(dims)
    order = list(ZIGZAG_DIM.values())
    return {oa: sorted(dims, key=order.index) for oa, dims in sorted(allowed.items())
            if dims and dims != set(order)}


def mapping_spec(arch: Architecture) -> list[dict[str, Any]]:
    """ZigZag's mapping YAML: no fixed unrolling, a hint from our constraints, default operand links."""
    entry: dict[str, Any] = {"name": "default", "memory_operand_links": {"O": "O", "W": "I2", "I": "I1"}}
    hint = spatial_mapping_hint(arch)
    if hint:
        entry["spatial_mapping_hint"] = hint
    return [entry]


# --------------------------------------------------------------------------- workload


def layer_spec(layer_id: int, layer: Layer, precision_bits: int) -> dict[str, Any]:
    """One ZigZag workload entry for a conv / fc / matmul layer of ours."""
    if layer.groups != 1:
        raise ZigZagConversionError(f"layer {layer.name}: grouped convolution (groups={layer.groups})")
    w_stride, h_stride = layer.strides()
    w_dilation, h_dilation = layer.dilations()
    sizes = {"N": layer.N, "M": layer.M, "C": layer.C, "Q": layer.Q, "P": layer.P, "S": layer.S, "R": layer.R}
    return {
        "id": layer_id,
        "name": layer.name,
        "operator_type": "Conv",
        "equation": CONV_EQUATION,
        "dimension_relations": [f"ix={w_stride}*ox+{w_dilation}*fx", f"iy={h_stride}*oy+{h_dilation}*fy"],
        "loop_dims": [ZIGZAG_DIM[d] for d in sizes],
        "loop_sizes": list(sizes.values()),
        "operand_precision": {"W": precision_bits, "I": precision_bits, "O": precision_bits,
                              "O_final": precision_bits},
        "operand_source": {"W": layer_id, "I": layer_id},  # both constant: independent layers
    }


def workload_spec(workload: Workload, precision_bits: int) -> list[dict[str, Any]]:
    return [layer_spec(i, layer, precision_bits) for i, layer in enumerate(workload.layers)]


def build_inputs(arch: Architecture, workload: Workload) -> ZigZagInputs:
    """ZigZag's accelerator, workload and mapping for our architecture and workload."""
    precision_bits = arch.storage[-1].word_bits  # one element per word of the outermost level
    notes: list[str] = []
    accelerator = accelerator_spec(arch, precision_bits, notes)
    return ZigZagInputs(accelerator, workload_spec(workload, precision_bits), mapping_spec(arch),
                        precision_bits, notes)


# --------------------------------------------------------------------------- running ZigZag


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run_zigzag(arch_path: str | Path, workload_path: str | Path, settings: SearchSettings = SearchSettings(),
               *, keep_inputs: str | Path | None = None, verbose: bool = False) -> ZigZagResult:
    """Convert, run ZigZag in this process and collect its figures (needs ``zigzag-dse``)."""
    import importlib.metadata

    import zigzag.api as zz_api
    from zigzag.stages.evaluation.cost_model_evaluation import CostModelStage

    if not verbose:  # ZigZag's API calls logging.basicConfig(INFO); a handler makes that a no-op
        root = logging.getLogger()
        if not root.handlers:
            root.addHandler(logging.NullHandler())
        root.setLevel(logging.WARNING)

    arch = load_architecture(arch_path)
    inputs = build_inputs(arch, load_workload(workload_path))

    evaluations = 0

    class CountingCostModelStage(CostModelStage):  # counts the mappings ZigZag evaluates
        def run(self):  # type: ignore[override]
            nonlocal evaluations
            evaluations += 1
            yield from super().run()

    with tempfile.TemporaryDirectory(prefix="zigzag_peer_") as tmp:
        folder = Path(keep_inputs) if keep_inputs else Path(tmp)
        acc_path, wl_path, map_path = inputs.write(folder)
        original_stage = zz_api.CostModelStage
        zz_api.CostModelStage = CountingCostModelStage
        try:
            cpu0, t0 = _cpu_seconds(), time.perf_counter()
            energy_pJ, cycles, cmes = zz_api.get_hardware_performance_zigzag(
                workload=str(wl_path), accelerator=str(acc_path), mapping=str(map_path),
                opt=settings.opt, lpf_limit=settings.lpf_limit,
                nb_spatial_mappings_generated=settings.nb_spatial_mappings,
                temporal_mapping_type=settings.temporal_mapping_type,  # type: ignore[arg-type]
                dump_folder=str(Path(tmp) / "outputs"), loma_show_progress_bar=False,
            )
            wall_s, cpu_s = time.perf_counter() - t0, _cpu_seconds() - cpu0
        finally:
            zz_api.CostModelStage = original_stage

    layers: list[ZigZagLayer] = []
    by_component: dict[str, float] = {}
    for cme, (layer, _extra) in cmes[0][1]:
        components = {arch.compute.name: float(cme.mac_energy)}
        hierarchy = cme.accelerator.memory_hierarchy
        for layer_op, per_level in cme.mem_energy_breakdown.items():
            mem_op = cme.layer.memory_operand_links.layer_to_mem_op(layer_op)
            for mem_level, energy in zip(hierarchy.get_memory_levels(mem_op), per_level):
                name = mem_level.memory_instance.name
                components[name] = components.get(name, 0.0) + float(energy)
        for name, energy in components.items():
            by_component[name] = by_component.get(name, 0.0) + energy
        unrolling = {str(oa): {str(d): round(float(f), 3) for d, f in single.items()}
                     for oa, single in cme.layer.spatial_mapping.items()}
        layers.append(ZigZagLayer(name=str(layer.name), energy_pJ=float(cme.energy_total),
                                  cycles=float(cme.latency_total2), spatial_mapping=json.dumps(unrolling),
                                  energy_by_component_pJ=components))
    return ZigZagResult(energy_pJ=float(energy_pJ), cycles=float(cycles), api_wall_s=wall_s, api_cpu_s=cpu_s,
                        evaluations=evaluations, layers=layers, energy_by_component_pJ=by_component,
                        settings=settings, notes=inputs.notes,
                        zigzag_version=importlib.metadata.version("zigzag-dse"))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("arch", help="our architecture YAML")
    ap.add_argument("workload", help="our workload YAML")
    ap.add_argument("--opt", default=SearchSettings.opt, choices=("energy", "latency", "EDP"))
    ap.add_argument("--lpf-limit", type=int, default=SearchSettings.lpf_limit)
    ap.add_argument("--spatial-mappings", type=int, default=SearchSettings.nb_spatial_mappings)
    ap.add_argument("--keep-inputs", metavar="DIR", help="also write ZigZag's generated inputs to DIR")
    ap.add_argument("--inputs-only", action="store_true", help="only generate the inputs (needs --keep-inputs)")
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    ap.add_argument("--verbose", action="store_true", help="keep ZigZag's INFO logging")
    args = ap.parse_args(argv)
    if args.inputs_only:
        if not args.keep_inputs:
            sys.exit("--inputs-only needs --keep-inputs DIR")
        inputs = build_inputs(load_architecture(args.arch), load_workload(args.workload))
        for path in inputs.write(Path(args.keep_inputs)):
            print(path)
        for note in inputs.notes:
            print("note:", note)
        return
    settings = SearchSettings(opt=args.opt, lpf_limit=args.lpf_limit, nb_spatial_mappings=args.spatial_mappings)
    result = run_zigzag(args.arch, args.workload, settings, keep_inputs=args.keep_inputs, verbose=args.verbose)
    if args.json:
        print(result.to_json())
        return
    print(f"ZigZag {result.zigzag_version}: {result.energy_pJ:.4g} pJ, {result.cycles:,.0f} cycles, "
          f"{result.api_wall_s:.1f} s wall / {result.api_cpu_s:.1f} s CPU, {result.evaluations} evaluations "
          f"({result.evaluations / max(result.api_wall_s, 1e-9):.0f}/s)")
    for layer in result.layers:
        print(f"  {layer.name:24s} {layer.energy_pJ:12.4g} pJ {layer.cycles:12,.0f} cycles  {layer.spatial_mapping}")
    for note in result.notes:
        print("note:", note)


if __name__ == "__main__":
    main()
