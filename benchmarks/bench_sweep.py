"""Sweep speed: a 1,000-point ResNet-18 sweep with mapping search, and evaluation throughput.

    python benchmarks/bench_sweep.py resnet18   [--points 1000] [--budget 500] [--jobs 2]
    python benchmarks/bench_sweep.py throughput [--points 10000] [--jobs 2]
    python benchmarks/bench_sweep.py quality    [--budgets 500,1000] [--designs 5]

* ``resnet18``: a Latin-hypercube sample of the sparse Eyeriss-v2-like design
  (``arch_specs/eyeriss_sparse.yaml``: global-buffer size and bandwidth, DRAM
  bandwidth, weight-scratchpad size, PE array shape) and of the weight density of
  the signed-binary layers of ResNet-18 (``workloads/resnet18_sb.yaml``).  Every
  point is a different design, so every point searches the mappings of all its
  distinct layer shapes (12 of the 21 layers); nothing is cached beforehand (a
  fresh mapping-cache directory).  Reported: wall time, points/s, searches.  The
  default budget, 500 batch evaluations per layer shape, finds mappings as good as
  the budget of 1,000 did before the search spent small budgets on deeper descent
  (sbmodel.mapper.search._effort): EDP 0.97x theirs, geometric mean over 144 layer
  searches of 12 designs of this sample.
* ``throughput``: the evaluation path alone (DESIGN.md: "a 10,000-point sweep in
  under a minute"): one conv layer with a given mapping (found once, up front),
  a 100 x 100 grid of DRAM read energy x weight density -- every point a full
  sparse evaluation, parsed, validated and written like any other.
* ``quality``: what smaller search budgets cost in mapping quality: the
  energy-delay product of ResNet-18 found with each budget vs with the CLI's
  default budget (20,000), on a few designs of the sample.

The machine is shared: each run also prints the CPU time it got, and what that
CPU time would take on dedicated cores.

Peers on this machine (DESIGN.md section 5): Timeloop's mapper 89 s and ZigZag
70 s per ResNet-18 design point, i.e. about 25 and 19 hours for 1,000 points.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the sweep's workers)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def load_note(wall: float, cpu: float, jobs: int) -> str:
    """The machine is shared: say how much CPU the run got and what dedicated cores would give."""
    return (f"  CPU {cpu:.0f} s in {wall:.0f} s wall = {cpu / wall:.2f} cores busy on average (load average now "
            f"{os.getloadavg()[0]:.1f}); on {jobs} dedicated cores: ~{cpu / jobs:.0f} s")


TIMELOOP_S_PER_POINT = 89.0
ZIGZAG_S_PER_POINT = 70.0
PE_ARRAYS = {"14x12": [[14, 1], [14, 12]], "16x16": [[16, 1], [16, 16]], "8x8": [[8, 1], [8, 8]],
             "12x14": [[12, 1], [12, 14]]}
SB_STATS = "workload.layers[stats.weights.scheme=signed-binary].stats.weights"


def resnet18_sweep(points: int, budget: int, seed: int = 0) -> dict[str, Any]:
    return {"sweep": {
        "name": f"bench_resnet18_{points}",
        "architecture": str(ROOT / "arch_specs/eyeriss_sparse.yaml"),
        "workload": str(ROOT / "workloads/resnet18_sb.yaml"),
        "mapper": {"objective": "edp", "budget": budget, "seed": 0},
        "sampling": {"method": "lhs", "points": points, "seed": seed},
        "parameters": {
            "glb_words": {"path": "architecture.levels.shared_glb.size_words",
                          "range": {"min": 12800, "max": 204800, "scale": "log", "integer": True}},
            "glb_bandwidth": {"path": ["architecture.levels.shared_glb.read_bandwidth",
                                       "architecture.levels.shared_glb.write_bandwidth"],
                              "choices": {"8": [8, 8], "16": [16, 16], "32": [32, 32]}},
            "dram_bandwidth": {"path": "architecture.levels.DRAM.read_bandwidth",
                               "range": {"min": 2, "max": 64, "scale": "log"}},
            "weights_spad_words": {"path": "architecture.levels.weights_spad.size_words",
                                   "values": [112, 224, 448]},
            "pe_array": {"path": ["architecture.levels.inter_PE_spatial.mesh", "architecture.levels.ifmap_spad.mesh"],
                         "choices": PE_ARRAYS},
            # the density of the signed-binary layers: the per-filter counts follow from it
            "sb_density": {"path": [f"{SB_STATS}.density", f"{SB_STATS}.nonzeros_per_filter",
                                    f"{SB_STATS}.unique_nonzero_values_per_filter"],
                           "choices": {d: [d, None, None] for d in (0.1, 0.2, 0.31, 0.4, 0.5)}},
        }}}


def run_resnet18(args: argparse.Namespace) -> None:
    from sbmodel.sweep import load_sweep, run_sweep
    from sbmodel.sweep.runner import mapping_cache_dir

    sweep = load_sweep(resnet18_sweep(args.points, args.budget))
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        out = Path(args.out or tmp) / "resnet18.csv"
        if out.exists():
            sys.exit(f"{out} exists: give a fresh --out")
        t0, c0 = time.perf_counter(), cpu_seconds()
        df = run_sweep(sweep, out, jobs=args.jobs, progress=args.progress)
        wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
        s = df.attrs["summary"]
        searches = len(list(mapping_cache_dir(out).glob("*.json")))
        totals = df[df.row == "total"]
        per_point = totals["seconds"].dropna()
    print(f"ResNet-18 sweep on eyeriss_sparse: {s.evaluated} points ({s.failed} failed) in {wall:.1f} s wall "
          f"on {args.jobs} worker(s): {s.evaluated / wall:.2f} points/s; {searches} layer-shape searches "
          f"(budget {args.budget}); per point median {statistics.median(per_point):.2f} s of worker time")
    print(load_note(wall, cpu, args.jobs))
    peers = s.evaluated * TIMELOOP_S_PER_POINT / 3600, s.evaluated * ZIGZAG_S_PER_POINT / 3600
    print(f"  the same number of points at the peers' measured speed: Timeloop {peers[0]:.1f} h, "
          f"ZigZag {peers[1]:.1f} h")


def run_throughput(args: argparse.Namespace) -> None:
    from sbmodel.api import evaluate
    from sbmodel.mapper import find_mapping
    from sbmodel.spec import dump_mappings, load_architecture, load_workload
    from sbmodel.sweep import load_sweep, run_sweep

    arch_file = ROOT / "arch_specs/eyeriss_sparse.yaml"
    work_file = ROOT / "workloads/v4_default_problem.yaml"
    side = max(1, int(round(args.points ** 0.5)))
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        arch, work = load_architecture(arch_file), load_workload(work_file)
        result = evaluate(arch, work, mapper=lambda p, a: find_mapping(p, a, "edp", budget=2000, seed=0, cache=None))
        problems = {p.name: p for p in work.problems()}
        mapping = Path(tmp) / "mapping.yaml"
        mapping.write_text(dump_mappings([(problems[r.layer], m) for r, m in zip(result.layers, result.mappings)],
                                         arch))
        sweep = load_sweep({"sweep": {
            "name": "bench_throughput",
            "architecture": str(arch_file), "workload": str(work_file), "mapping": str(mapping),
            "parameters": {
                "dram_read_pJ": {"path": "architecture.levels.DRAM.energy_pJ.read",
                                 "range": {"min": 100.0, "max": 1000.0, "count": side}},
                "weight_density": {"path": "workload.layers[0].stats",
                                   "choices": {round(d, 4): {"weights": {"density": round(d, 4), "scheme": "ternary"}}
                                               for d in [0.05 + 0.95 * i / max(side - 1, 1) for i in range(side)]}},
            }}})
        out = Path(tmp) / "throughput.csv"
        t0, c0 = time.perf_counter(), cpu_seconds()
        df = run_sweep(sweep, out, jobs=args.jobs, progress=args.progress)
        wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
        s = df.attrs["summary"]
        per_point = df[df.row == "total"]["seconds"].dropna()
    print(f"evaluation throughput (1 conv layer, given mapping, sparse design): {s.evaluated} points "
          f"({s.failed} failed) in {wall:.1f} s wall on {args.jobs} worker(s): {s.evaluated / wall:.0f} points/s; "
          f"per point median {1000 * statistics.median(per_point):.1f} ms of worker time")
    print(load_note(wall, cpu, args.jobs))


def run_quality(args: argparse.Namespace) -> None:
    from sbmodel.api import evaluate
    from sbmodel.mapper import find_mapping
    from sbmodel.sweep import load_sweep, points
    from sbmodel.sweep.point import Materialiser

    budgets = [int(b) for b in str(args.budgets).split(",")] + [20_000]
    sweep = load_sweep(resnet18_sweep(1000, budgets[0]))
    mat = Materialiser(sweep)
    pts = points(sweep)[:: max(1, 1000 // args.designs)][: args.designs]
    print(f"ResNet-18 on eyeriss_sparse, {len(pts)} designs of the 1,000-point sample: EDP found with each "
          f"budget / EDP with budget 20000 (search seconds in brackets)")
    ratios: dict[int, list[float]] = {b: [] for b in budgets[:-1]}
    for pt in pts:
        arch, work = mat.architecture(pt.choices), mat.workload(pt.choices)
        edp, secs = {}, {}
        for budget in budgets:
            t0 = time.perf_counter()
            r = evaluate(arch, work, mapper=lambda p, a, b=budget: find_mapping(p, a, "edp", budget=b, seed=0,
                                                                               cache=None), jobs=1)
            t = r.totals()
            edp[budget], secs[budget] = t["energy_pJ"] * t["cycles"], time.perf_counter() - t0
        for b in ratios:
            ratios[b].append(edp[b] / edp[20_000])
        print(f"  point {pt.index:>4}: " + ", ".join(f"budget {b}: {edp[b] / edp[20_000]:.3f} ({secs[b]:.1f} s)"
                                                    for b in budgets))
    for b, r in ratios.items():
        print(f"  budget {b}: geometric mean EDP ratio {statistics.geometric_mean(r):.3f}, worst {max(r):.3f} "
              f"(1.000 = as good as budget 20000)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=("resnet18", "throughput", "quality"))
    ap.add_argument("--points", type=int, default=None, help="points (default 1000 / 10000)")
    ap.add_argument("--budget", type=int, default=500, help="mapping search budget per layer shape")
    ap.add_argument("--budgets", default="500,1000", help="quality: budgets compared with 20000")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--designs", type=int, default=5, help="quality: designs compared")
    ap.add_argument("--out", help="resnet18: keep the results in this folder")
    ap.add_argument("--progress", action="store_true", default=None)
    args = ap.parse_args()
    if args.what == "resnet18":
        args.points = args.points or 1000
        run_resnet18(args)
    elif args.what == "throughput":
        args.points = args.points or 10_000
        run_throughput(args)
    else:
        run_quality(args)


if __name__ == "__main__":
    main()
