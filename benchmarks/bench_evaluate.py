"""Wall time of a full `sbmodel evaluate` of ResNet-18 with mapping search, from a cold start.

Runs the real console script in a fresh process (imports, spec loading, search of every
distinct layer shape on all cores, exact evaluation, report) and prints its wall time,
next to the peers measured on this machine (DESIGN.md section 5): Timeloop's mapper 89 s,
ZigZag 70 s, AccelForge 128 s for ResNet-18.

    python benchmarks/bench_evaluate.py [--arch arch_specs/eyeriss_like.yaml] [--budget N] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default=str(ROOT / "arch_specs" / "eyeriss_like.yaml"))
    ap.add_argument("--workload", default=str(ROOT / "workloads" / "resnet18.yaml"))
    ap.add_argument("--budget", type=int, default=None, help="candidates per layer shape (default: the CLI's)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    exe = shutil.which("sbmodel")
    if exe is None:
        sys.exit("install sbmodel first: pip install -e .")
    cmd = [exe, "evaluate", args.arch, args.workload, "--format", "json"]
    if args.budget:
        cmd += ["--budget", str(args.budget)]
    env = dict(os.environ)
    env.pop("SBMODEL_MAPPING_CACHE", None)  # cold: no mapping cache
    times = []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            p = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp)
            times.append(time.perf_counter() - t0)
        if p.returncode:
            sys.exit(p.stderr)
    import json

    total = json.loads(p.stdout)["totals"]
    print(f"sbmodel evaluate ResNet-18 with search: {statistics.median(times):.2f} s wall (median of "
          f"{args.repeat}; min {min(times):.2f} s) on {os.cpu_count()} cores; "
          f"energy {total['energy_pJ']:.4g} pJ, {total['cycles']:,} cycles")
    print("peers for ResNet-18 on this machine (DESIGN.md): Timeloop mapper 89 s, ZigZag 70 s, AccelForge 128 s")


if __name__ == "__main__":
    main()
