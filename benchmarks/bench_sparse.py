"""Speed of the sparse engine: the actual-data model on ResNet-18-sized weights, and sparse
mapping evaluations per second.

1. *Actual-data model*: for every distinct ResNet-18 conv shape, a 31%-dense weight mask (the
   signed-binary density of DESIGN.md section 1), one mapping of ``arch_specs/eyeriss_sparse.yaml``
   found by the dense search, and the CPU time of the whole sparse stage with a fresh
   (cold-cache) actual-data model: every tile occupancy distribution the stage asks for is
   computed from the mask.  Target: under 50 ms per layer.
2. *Sparse mapping evaluations per second* (CPU time, one core): random mappings of one
   layer evaluated with sparsity by :func:`sbmodel.engine.sparse.batch.evaluate_sparse_batch`
   (dense counts from the vectorised closed form, then the sparse stage), for (a) valid
   mappings (fit every buffer and fanout), fully evaluated, with the dense closed form's own
   rate for comparison, and (b) raw candidates, most rejected by the capacity pre-check.
   ``eyeriss_gating_skipping`` (eyeriss_sparse without its formats) takes the array path;
   ``eyeriss_sparse`` (compressed weights) the exact per-mapping pipeline.  Target: 20,000
   per second per core.

    python benchmarks/bench_sparse.py [--batch 2000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

RESNET18_CONVS = [  # (name, C, M, P=Q, R=S, stride): distinct conv shapes of ResNet-18 (224x224 input)
    ("conv1", 3, 64, 112, 7, 2), ("layer1", 64, 64, 56, 3, 1), ("layer2.0.conv1", 64, 128, 28, 3, 2),
    ("layer2", 128, 128, 28, 3, 1), ("layer3.0.conv1", 128, 256, 14, 3, 2), ("layer3", 256, 256, 14, 3, 1),
    ("layer4.0.conv1", 256, 512, 7, 3, 2), ("layer4", 512, 512, 7, 3, 1),
]


def bench_actual_data(repeat: int) -> None:
    from sbmodel.core.problem import conv_problem
    from sbmodel.engine import apply_sparse, dense_counts
    from sbmodel.engine.sparse import ActualData, Hypergeometric
    from sbmodel.mapper import find_mapping
    from sbmodel.spec import load_architecture
    from sbmodel.spec.sparse import weights_mask_in_rank_order

    arch = load_architecture(ROOT / "arch_specs" / "eyeriss_sparse.yaml")
    rng = np.random.default_rng(0)
    print("actual-data model: whole sparse stage per layer, cold caches (eyeriss_sparse, 31% dense weights)")
    print(f"  {'layer':<16} {'weights':>10} {'ms (median)':>12} {'ms (max)':>10}")
    worst = 0.0
    for name, c, m, pq, rs, stride in RESNET18_CONVS:
        problem = conv_problem(name, C=c, M=m, P=pq, Q=pq, R=rs, S=rs, Wstride=stride, Hstride=stride)
        mask = rng.random((m, c, rs, rs)) < 0.31
        mapping = find_mapping(problem, replace(arch, sparse=None), "edp", budget=300, seed=0)
        counts = dense_counts(problem, arch, mapping)
        times = []
        for _ in range(repeat):
            model = ActualData(weights_mask_in_rank_order(mask, problem, name))  # cold: a fresh model
            dens = {"Weights": model, "Inputs": Hypergeometric(0.5, problem.tensor_size("Inputs"))}
            c2 = replace(counts, problem=replace(problem, densities=dens))
            t = time.process_time()
            apply_sparse(c2, arch)
            times.append(1000 * (time.process_time() - t))
        worst = max(worst, max(times))
        print(f"  {name:<16} {mask.size:>10,} {statistics.median(times):>12.1f} {max(times):>10.1f}")
    print(f"  worst layer: {worst:.1f} ms (target < 50 ms)")


def bench_batch(batch: int, repeat: int) -> None:
    from sbmodel.core.problem import conv_problem
    from sbmodel.engine.batch import evaluate_batch
    from sbmodel.engine.sparse import FixedStructured, Hypergeometric
    from sbmodel.engine.sparse.batch import evaluate_sparse_batch
    from sbmodel.mapper.space import MapSpace
    from sbmodel.spec import load_architecture

    problem = conv_problem("layer3", C=256, M=256, P=14, Q=14, R=3, S=3)
    problem = replace(problem, densities={"Weights": Hypergeometric(0.31, problem.tensor_size("Weights")),
                                          "Inputs": FixedStructured(0.5)})
    print(f"sparse mapping evaluations, ResNet-18 layer3 (3x3, 256->256, 14x14), one core, batch {batch}")
    for design in ("eyeriss_gating_skipping", "eyeriss_sparse"):
        arch = _design(design, load_architecture)
        dense_arch = replace(arch, sparse=None)
        space = MapSpace(problem, dense_arch)
        candidates = space.sample(batch * 20, np.random.default_rng(0))
        valid = candidates.take(np.nonzero(evaluate_batch(problem, dense_arch, candidates).fits)[0][:batch])
        if design == "eyeriss_sparse":  # the per-mapping pipeline: a few hundred are enough to time it
            valid = valid.take(np.arange(min(valid.size, 200)))
        rates, dense_rates, cand_rates, fast = [], [], [], 0
        for _ in range(repeat):
            t = time.process_time()
            evaluate_batch(problem, arch, valid, prefilter=False)
            dense_rates.append(valid.size / (time.process_time() - t))
            t = time.process_time()
            res = evaluate_sparse_batch(problem, arch, valid, prefilter=False)
            rates.append(valid.size / (time.process_time() - t))
            fast = int(res.vectorised.sum())
            sub = candidates.take(np.arange(min(candidates.size, 20 * batch)))
            t = time.process_time()
            evaluate_sparse_batch(problem, arch, sub)
            cand_rates.append(sub.size / (time.process_time() - t))
        full, dense = statistics.median(rates), statistics.median(dense_rates)
        stage = 1.0 / max(1.0 / full - 1.0 / dense, 1e-12)
        print(f"  {design:<24} {full:>9,.0f} valid mappings/s fully evaluated ({fast}/{valid.size} vectorised); "
              f"dense closed form alone {dense:,.0f}/s, sparse stage alone ~{stage:,.0f}/s; "
              f"{statistics.median(cand_rates):,.0f} candidates/s with the capacity pre-check")
    print("  target: 20,000 sparse mapping evaluations per second per core")


def _design(name: str, load_architecture):
    """eyeriss_sparse as shipped, or without its representation formats (gating/skipping only)."""
    arch = load_architecture(ROOT / "arch_specs" / "eyeriss_sparse.yaml")
    if name == "eyeriss_sparse":
        return arch
    from sbmodel.engine.sparse import LevelSparse

    levels = {n: LevelSparse({}, lv.actions) for n, lv in arch.sparse.levels.items()}
    return replace(arch, sparse=replace(arch.sparse, levels=levels))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", choices=("actual", "batch"))
    args = ap.parse_args()
    if args.only in (None, "actual"):
        bench_actual_data(args.repeat)
    if args.only in (None, "batch"):
        bench_batch(args.batch, args.repeat)


if __name__ == "__main__":
    main()
