"""Dense mapping evaluations per second (one core) and memory for ResNet-18.

Prints: the vectorised closed form's throughput on random valid-shape mappings of
ResNet-18 layers on the Eyeriss-like design, the loop-nest simulator's speed for
comparison, and the peak memory of evaluating every ResNet-18 layer.
Times are CPU seconds of this process (``time.process_time``), the best of ``--repeat``
runs of each batch (as ``timeit`` reports): on a shared virtual machine single runs of the
same work were seen to vary by 20 %.

    python benchmarks/bench_dense.py [--batch 20000] [--layers 4] [--repeat 3]
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import numpy as np

from sbmodel.engine import evaluate_layer
from sbmodel.engine.batch import evaluate_batch
from sbmodel.mapper.space import MapSpace
from sbmodel.spec import load_architecture, load_workload

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=20_000)
    ap.add_argument("--layers", type=int, default=4, help="distinct ResNet-18 layers to sample")
    ap.add_argument("--arch", default=str(ROOT / "arch_specs" / "eyeriss_like.yaml"))
    ap.add_argument("--repeat", type=int, default=3, help="runs of each batch; the fastest counts")
    args = ap.parse_args()
    arch = load_architecture(args.arch)
    problems = load_workload(ROOT / "workloads" / "resnet18.yaml").problems()
    picks = [problems[i] for i in np.linspace(0, len(problems) - 1, args.layers).astype(int)]
    rng = np.random.default_rng(0)
    total_n, total_valid, total_t = 0, 0, 0.0
    for p in picks:
        space = MapSpace(p, arch)
        batch = space.sample(args.batch, rng)
        evaluate_batch(p, arch, batch.take(np.arange(100)))  # warm caches
        dt = float("inf")
        for _ in range(max(1, args.repeat)):
            t0 = time.process_time()
            res = evaluate_batch(p, arch, batch)
            dt = min(dt, time.process_time() - t0)
        total_n += batch.size
        total_valid += int(res.fits.sum())
        total_t += dt
        print(f"{p.name:<24} {batch.size:>7} candidates {dt:6.2f} s CPU  {batch.size / dt:>9,.0f} /s  "
              f"({res.fits.mean() * 100:.0f}% fit: {res.fits.sum() / dt:>8,.0f} valid mappings/s)")
    print(f"vectorised dense evaluation: {total_n / total_t:,.0f} candidate mappings/s per core "
          f"(capacity-rejected ones included, as Timeloop counts), {total_valid / total_t:,.0f} valid mappings "
          f"fully evaluated/s")
    full = [MapSpace(p, arch).sample(args.batch, rng) for p in picks[:1]]
    dt = float("inf")
    for _ in range(max(1, args.repeat)):
        t0 = time.process_time()
        res = evaluate_batch(picks[0], arch, full[0], prefilter=False)
        dt = min(dt, time.process_time() - t0)
    print(f"without the capacity pre-check ({picks[0].name}): {full[0].size / dt:,.0f} mappings/s fully analysed")

    p = picks[0]
    m = MapSpace(p, arch).sample(20, rng)
    t0 = time.process_time()
    for i in range(m.size):
        evaluate_layer(p, arch, m.mapping(p, i))
    sim = (time.process_time() - t0) / m.size
    print(f"loop-nest simulator: {1 / sim:,.0f} mappings/s ({sim * 1e3:.1f} ms each)")

    space_mem = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for p in problems:
        evaluate_batch(p, arch, MapSpace(p, arch).sample(2000, rng))
    print(f"peak memory after evaluating 2000 mappings of each of the {len(problems)} ResNet-18 layers: "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB (before: {space_mem:.0f} MB)")


if __name__ == "__main__":
    main()
