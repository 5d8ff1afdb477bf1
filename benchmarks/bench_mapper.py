"""Mapper speed and quality: evaluations per second, seconds per layer, result vs Timeloop's mapper.

Prints, per layer:

* ResNet-18 layers on the Eyeriss-like design (``arch_specs/eyeriss_like.yaml``, its own
  row-stationary constraints): seconds for one search, candidate evaluations per second of
  the whole search (sampling, moves, validity, de-duplication and the batch evaluator), how
  many were valid, and the best EDP;
* the dense Timeloop mapper reference runs (``../shared/reference``): our objective value
  over Timeloop's mapper's, the search time and whether the space was enumerated.

Times are CPU seconds of this process (``time.process_time``), so other load on the machine
does not inflate them; wall seconds are shown for the Timeloop cases.

    python benchmarks/bench_mapper.py [--budget 40000] [--layers 4] [--no-reference]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from sbmodel.mapper import search
from sbmodel.mapper.search import metric
from sbmodel.spec import load_architecture, load_workload

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT.parent / "shared" / "reference" / "timeloop"


def resnet(args: argparse.Namespace) -> None:
    arch = load_architecture(ROOT / "arch_specs" / "eyeriss_like.yaml")
    problems = load_workload(ROOT / "workloads" / "resnet18.yaml").problems()
    picks = [problems[i] for i in np.linspace(0, len(problems) - 1, args.layers).astype(int)]
    total_e, total_t = 0, 0.0
    print(f"ResNet-18 on {arch.name}, budget {args.budget} evaluations per layer (EDP):")
    for p in picks:
        t0 = time.process_time()
        r = search(p, arch, "edp", budget=args.budget, seed=0)
        dt = time.process_time() - t0
        total_e += r.evaluations
        total_t += dt
        print(f"  {p.name:<24} {dt:6.2f} s CPU  {r.evaluations:>7} evaluations ({r.valid} valid)  "
              f"{r.evaluations / dt:>9,.0f} /s  EDP {r.energy_pJ * r.cycles:.4g}"
              f"{'  (exhaustive)' if r.exhaustive else ''}")
    print(f"  whole search: {total_e / total_t:,.0f} candidate evaluations/s per core, "
          f"{total_t / len(picks):.2f} s per layer")


def reference(args: argparse.Namespace) -> None:
    import yaml

    from sbmodel.mapper.driver import map_layer
    from sbmodel.timeloop import load_timeloop_inputs
    from sbmodel.timeloop.constraints import parse_constraints, parse_mapper_settings

    manifest = REFERENCE / "manifest.yaml"
    if not manifest.is_file():
        print(f"(no reference data at {REFERENCE})")
        return
    runs = yaml.safe_load(manifest.read_text())["runs"]
    print(f"\nTimeloop mapper reference runs (dense), budget {args.budget}:")
    for run in runs:
        if run.get("mapping_source") not in ("mapper_found_yaml", "map_txt_only") or run["kind"] != "dense":
            continue
        case = REFERENCE / run["case"]
        inputs = list(run["inputs"])[:-1] if run["mapping_source"] == "mapper_found_yaml" else list(run["inputs"])
        inputs += list(run.get("mapper_inputs") or [])
        t0, c0 = time.perf_counter(), time.process_time()
        spec = load_timeloop_inputs([case / p for p in inputs], case / run["ert"])
        objective = parse_mapper_settings(spec.document).objective
        out = map_layer(spec.problem, spec.architecture, objective,
                        constraints=parse_constraints(spec.document, spec.problem, spec.architecture),
                        sparse=spec.sparse, budget=args.budget)
        ref = run.get("reference_head") or run["reference"]
        m = objective[0]
        ratio = float(metric(m, out.result.energy_pJ, out.result.cycles) / metric(m, ref["energy_pJ"], ref["cycles"]))
        s = out.search
        print(f"  {run['id']:<50} {m:<6} ours/timeloop {ratio:.4f}  {time.perf_counter() - t0:5.1f} s wall "
              f"{time.process_time() - c0:5.1f} s CPU  {s.evaluations:>6} evaluations"
              f"{' (exhaustive)' if s.exhaustive else ''}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=int, default=40_000)
    ap.add_argument("--layers", type=int, default=4, help="distinct ResNet-18 layers to map")
    ap.add_argument("--no-reference", action="store_true", help="skip the Timeloop reference runs")
    args = ap.parse_args()
    resnet(args)
    if not args.no_reference:
        reference(args)


if __name__ == "__main__":
    main()
