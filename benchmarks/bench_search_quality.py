"""Mapping-search quality over designs and seeds: what a change to the search does to the mappings it finds.

Searches every distinct layer shape of a workload (default ResNet-18) on each design, for
each seed, with :func:`sbmodel.mapper.driver.map_layer` (exact re-ranking included, as
``sbmodel evaluate`` does) and prints per design: the seed-to-seed spread of the summed
objective, evaluations and CPU time.  ``--save FILE`` writes one JSON line per search;
``--against FILE`` compares this run with a saved one, search by search (per-layer ratio,
geometric mean, best and worst, layers better / worse, the summed objective per seed, and the
ratio of evaluations and CPU time) -- how the factor-trade figures in docs/mapper.md were made:

    git stash; python benchmarks/bench_search_quality.py --save before.jsonl; git stash pop
    python benchmarks/bench_search_quality.py --against before.jsonl

    python benchmarks/bench_search_quality.py [--designs simple_ws,eyeriss_like] [--seeds 0,1,2,3]
        [--workload resnet18] [--objective edp] [--budget 20000] [--save F] [--against F]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections import defaultdict
from pathlib import Path

from sbmodel.api import design_view, search_groups
from sbmodel.mapper.driver import map_layer
from sbmodel.mapper.search import metric
from sbmodel.spec import load_architecture, load_workload

ROOT = Path(__file__).resolve().parents[1]
DESIGNS = "simple_ws,simple_os,eyeriss_sparse,ucnn_like,eyeriss_like,stc_like"


def run(designs: list[str], seeds: list[int], workload: str, objective: str, budget: int) -> list[dict]:
    """One record per (design, distinct layer shape, seed): the objective of the mapping found."""
    records = []
    for design in designs:
        arch = load_architecture(ROOT / "arch_specs" / f"{design}.yaml")
        problems = [design_view(p, arch) for p in load_workload(ROOT / "workloads" / f"{workload}.yaml").problems()]
        for p in (group[0] for group in search_groups(problems, arch).values()):  # as evaluate does
            for seed in seeds:
                t0 = time.process_time()
                out = map_layer(p, arch, objective, sparse=arch.sparse, budget=budget, seed=seed)
                energy, cycles = out.result.energy_pJ, out.result.cycles
                records.append({"design": design, "layer": p.name, "seed": seed, "energy_pJ": energy,
                                "cycles": cycles, "objective": float(metric(objective, energy, cycles)),
                                "evaluations": out.search.evaluations, "cpu_s": time.process_time() - t0})
    return records


def summary(records: list[dict]) -> None:
    by_design: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        by_design[r["design"]].append(r)
    print(f"{'design':<16}{'summed objective per seed':>40}{'spread':>9}{'evaluations':>13}{'CPU s':>8}")
    for design, rows in by_design.items():
        seeds = sorted({r["seed"] for r in rows})
        sums = [sum(r["objective"] for r in rows if r["seed"] == s) for s in seeds]
        print(f"{design:<16}{' '.join(f'{v:.4g}' for v in sums):>40}{max(sums) / min(sums):>8.3f}x"
              f"{sum(r['evaluations'] for r in rows):>13,}{sum(r['cpu_s'] for r in rows):>8.1f}")


def compare(records: list[dict], before: list[dict]) -> None:
    """Each search against the same search (design, layer, seed) of ``before``."""
    old = {(r["design"], r["layer"], r["seed"]): r for r in before}
    pairs: dict[str, list[tuple[dict, dict]]] = defaultdict(list)
    for r in records:
        o = old.get((r["design"], r["layer"], r["seed"]))
        if o is not None:
            pairs[r["design"]].append((o, r))
    print(f"\nagainst the saved run (this / saved): per layer geometric mean (best-worst), layers "
          f"better / worse, summed objective per seed, evaluations, CPU time")
    for design, rows in pairs.items():
        logs = [math.log(n["objective"] / o["objective"]) for o, n in rows]
        seeds = sorted({o["seed"] for o, _ in rows})
        sums = [sum(n["objective"] for o, n in rows if o["seed"] == s) / sum(o["objective"] for o, n in rows
                                                                            if o["seed"] == s) for s in seeds]
        print(f"  {design:<15} {math.exp(sum(logs) / len(logs)):.4f}x ({math.exp(min(logs)):.2f}-"
              f"{math.exp(max(logs)):.2f})  {sum(x < -1e-12 for x in logs)} / {sum(x > 1e-12 for x in logs)}  "
              f"{' '.join(f'{v:.3f}' for v in sums)}  "
              f"{sum(n['evaluations'] for _, n in rows) / sum(o['evaluations'] for o, _ in rows):.2f}x  "
              f"{sum(n['cpu_s'] for _, n in rows) / sum(o['cpu_s'] for o, _ in rows):.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--designs", default=DESIGNS, help=f"arch_specs/ names, comma-separated (default {DESIGNS})")
    ap.add_argument("--seeds", default="0,1,2,3")
    ap.add_argument("--workload", default="resnet18", help="a workloads/ name")
    ap.add_argument("--objective", default="edp", choices=("energy", "delay", "edp"))
    ap.add_argument("--budget", type=int, default=20_000)
    ap.add_argument("--save", type=Path, help="write the searches as JSON lines")
    ap.add_argument("--against", type=Path, help="compare with searches saved by --save")
    args = ap.parse_args()
    designs = args.designs.split(",")
    missing = [d for d in designs if not (ROOT / "arch_specs" / f"{d}.yaml").is_file()]
    if missing:
        ap.error(f"no arch_specs/{missing[0]}.yaml (designs: "
                 f"{', '.join(sorted(p.stem for p in (ROOT / 'arch_specs').glob('*.yaml')))})")
    if not (ROOT / "workloads" / f"{args.workload}.yaml").is_file():
        ap.error(f"no workloads/{args.workload}.yaml")
    try:
        seeds = [int(s) for s in args.seeds.split(",")]
    except ValueError:
        ap.error(f"--seeds: expected comma-separated integers (got {args.seeds!r})")
    if args.budget < 1:
        ap.error("--budget must be at least 1")
    if args.against and not args.against.is_file():
        ap.error(f"--against: no file {args.against}")
    records = run(designs, seeds, args.workload, args.objective, args.budget)
    summary(records)
    if args.save:
        args.save.write_text("".join(json.dumps(r) + "\n" for r in records))
    if args.against:
        compare(records, [json.loads(line) for line in args.against.read_text().splitlines() if line])


if __name__ == "__main__":
    main()
