"""Time and peak memory of ``sbmodel stats export`` on a ResNet-18-sized checkpoint (11.68 M weights).

    python benchmarks/bench_stats_export.py [--repeat 3]

Writes a ResNet-18 checkpoint of Laplace-distributed weights (torchvision names,
no recorded shapes, so the export also infers the layer shapes) as .npz and,
when PyTorch is installed, as a .pth state dict; then runs the real console
script on it for several schemes and prints the wall time (best of
``--repeat``, including interpreter start-up and imports) and the peak
resident memory of the process (``ru_maxrss`` from ``wait4``).  The checkpoints
are written by a child process so this driver stays small: a forked child's
``ru_maxrss`` starts from its parent's resident size.  Targets (issue): under
5 s and under 1 GB.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path



def write_checkpoints(folder: Path) -> None:
    """Child-process mode: write the .npz (and .pth) checkpoints into ``folder``."""
    import numpy as np

    from sbmodel.quant.resnet18 import resnet18_layers

    rng = np.random.default_rng(0)
    state = {f"{name}.weight": rng.laplace(size=g.weight_shape()).astype(np.float32) for name, g in resnet18_layers()}
    paths = [folder / "resnet18.npz"]
    np.savez(paths[0], **state)
    try:
        import torch
    except ImportError:
        print("(PyTorch not installed: .pth case skipped)")
    else:
        paths.append(folder / "resnet18.pth")
        torch.save({k: torch.from_numpy(v) for k, v in state.items()}, paths[1])
    n = sum(v.size for v in state.values())
    print(f"checkpoint: {n:,} weights in {len(state)} layers ({paths[0].stat().st_size / 1e6:.1f} MB .npz)")


def run(args: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one console-script run."""
    start = time.perf_counter()
    proc = subprocess.Popen(["sbmodel", *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"sbmodel {' '.join(args)} failed: {err}")
    return seconds, usage.ru_maxrss / 1024.0  # ru_maxrss is in KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--write-checkpoints", metavar="DIR", help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.write_checkpoints:
        write_checkpoints(Path(opts.write_checkpoints))
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        subprocess.run([sys.executable, __file__, "--write-checkpoints", tmp], check=True)
        cases = []
        for ckpt in sorted(folder.glob("resnet18.*"), key=lambda p: p.suffix != ".npz"):
            for scheme, extra in (("signed-binary", []), ("ternary", []), ("binary", []), ("fp", []),
                                  ("signed-binary", ["--masks"])):
                if ckpt.suffix == ".pth" and (scheme != "signed-binary" or extra):
                    continue
                cases.append((ckpt, scheme, extra))
        print(f"{'checkpoint':<14} {'scheme':<14} {'extra':<8} {'wall s (best)':>13} {'peak RSS MB':>12}")
        for ckpt, scheme, extra in cases:
            args = ["stats", "export", str(ckpt), "--scheme", scheme, "--input-shape", "1,3,224,224",
                    "-o", str(folder / "out.yaml"), *extra]
            runs = [run(args) for _ in range(opts.repeat)]
            best = min(s for s, _ in runs)
            peak = max(m for _, m in runs)
            print(f"{ckpt.name:<14} {scheme:<14} {' '.join(extra):<8} {best:>13.2f} {peak:>12.0f}")
        print(f"(python {sys.version.split()[0]}, {os.cpu_count()} CPUs; wall time includes start-up and imports)")


if __name__ == "__main__":
    main()
