"""``sbmodel sweep`` and ``sbmodel plot``: argument definitions and handlers.

Registered by :func:`sbmodel.cli.build_parser`; everything heavy is imported
inside the handlers so ``sbmodel --help`` stays fast.
"""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Any


def add_sweep_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "sweep",
        help="evaluate a design-space sweep (grid, random, Latin hypercube) in parallel, resumably",
        description="Evaluate every design point of SWEEP.yaml (see docs/sweeps.md) and append one row per "
        "(point, layer) plus a total row per point to the results file as points finish. Running the same "
        "command again skips finished points, so an interrupted sweep resumes where it stopped. Points that "
        "fail (e.g. a design no mapping fits) are recorded with their error.",
    )
    p.add_argument("sweep", metavar="SWEEP.yaml", help="sweep file")
    p.add_argument("-o", "--output", metavar="RESULTS",
                   help="results file: .csv (append-only) or .parquet (needs pyarrow); default: the sweep "
                   "file's name with .csv, in the current folder")
    p.add_argument("-j", "--jobs", type=int, metavar="N",
                   help="local worker processes (default: one per CPU; 1 = no subprocesses)")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                   help="run the points on this Dask scheduler instead of local processes (needs sbmodel[dask])")
    p.add_argument("--retry-errors", action="store_true", help="evaluate points that failed in an earlier run again")
    p.add_argument("--mapping-cache", metavar="DIR",
                   help="where searched mappings are kept (default: RESULTS without suffix + '.mappings/')")
    p.add_argument("--limit", type=int, metavar="N", help="evaluate at most N of the pending points")
    p.add_argument("--dry-run", action="store_true", help="validate the sweep and list its points; evaluate nothing")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--progress", dest="progress", action="store_true", default=None,
                   help="always show the progress bar (default: only on a terminal)")
    g.add_argument("--no-progress", dest="progress", action="store_false", help="never show the progress bar")
    p.add_argument("-q", "--quiet", action="store_true", help="no summary line")
    p.set_defaults(handler=run_sweep_command)
    return p


def _terminate_as_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def run_sweep_command(args: argparse.Namespace) -> int:
    from ..errors import SbmodelError
    from .runner import SweepInterrupted, run_sweep
    from .sampling import points
    from .spec import load_sweep

    for name in ("jobs", "limit"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise SbmodelError(f"--{name} must be at least 1")
    sweep = load_sweep(args.sweep)
    if args.output is None:
        from pathlib import Path

        args.output = Path(args.sweep).stem + ".csv"
    if args.dry_run:
        pts = points(sweep)
        print(f"sweep {sweep.name}: {len(pts)} point(s), {sweep.sampling.method} sampling over "
              f"{len(sweep.parameters)} parameter(s)")
        for pt in pts[:20]:
            print(f"  {pt.index:>6}  {pt.point_id}  " + ", ".join(f"{k}={v}" for k, v in pt.labels(sweep).items()))
        if len(pts) > 20:
            print(f"  ... {len(pts) - 20} more")
        return 0
    # `kill` (SIGTERM) stops as cleanly as Ctrl-C: finished points saved, Parquet consolidated.
    previous = signal.signal(signal.SIGTERM, _terminate_as_interrupt)
    summary = None
    try:
        df = run_sweep(sweep, args.output, jobs=args.jobs, scheduler=args.scheduler, progress=args.progress,
                       retry_errors=args.retry_errors, mapping_cache=args.mapping_cache, limit=args.limit)
        summary = df.attrs["summary"]
    except SweepInterrupted as exc:
        if not args.quiet:
            print(exc.summary.line(args.output), file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    if not args.quiet:
        print(summary.line(args.output), file=sys.stderr)
    return 0


def add_plot_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "plot",
        help="figures of sweep results: Pareto fronts, energy breakdowns, per-layer bars",
        description="Plot the results file of 'sbmodel sweep'. Colours follow one palette (a component keeps its "
        "colour in every figure); a .pdf or .svg figure also gets a .png beside it.",
    )
    p.add_argument("results", metavar="RESULTS", help="results file (.csv or .parquet) of 'sbmodel sweep'")
    p.add_argument("--kind", choices=("pareto", "breakdown", "layers"), default="pareto",
                   help="pareto: energy vs cycles vs area proxy, non-dominated points marked; breakdown: "
                   "stacked energy per point by component; layers: per-layer bars (default: pareto)")
    p.add_argument("-o", "--output", metavar="FIGURE",
                   help="figure file: .pdf, .svg or .png (default: RESULTS without suffix + _KIND.pdf)")
    p.add_argument("--no-png", action="store_true", help="do not write a .png beside a .pdf/.svg figure")
    p.add_argument("--points", type=int, nargs="+", metavar="N",
                   help="breakdown/layers: these points (default: all when few, else the non-dominated ones)")
    p.add_argument("--color-by", metavar="PARAMETER", help="pareto: colour points by this parameter")
    p.add_argument("--objectives", metavar="A,B[,C]", default="energy_pJ,cycles,area_proxy",
                   help="pareto: result columns to minimise (default: energy_pJ,cycles,area_proxy)")
    p.add_argument("--by", choices=("component", "tensor"), default="component",
                   help="breakdown: split by component, or by component and tensor (default: component)")
    p.add_argument("--normalize", action="store_true", help="breakdown: shares of each point's energy")
    p.add_argument("--metric", default="energy_pJ", help="layers: result column to plot (default: energy_pJ)")
    p.set_defaults(handler=run_plot_command)
    return p


def run_plot_command(args: argparse.Namespace) -> int:
    from ..errors import SbmodelError
    from ..report import plots

    df = plots.load_frame(args.results)
    if args.output is None:
        from pathlib import Path

        res = Path(args.results)
        args.output = str(res.with_name(f"{res.stem}_{args.kind}.pdf"))
    if args.kind == "pareto":
        fig = plots.pareto_figure(df, objectives=[o.strip() for o in args.objectives.split(",") if o.strip()],
                                  color_by=args.color_by)
    elif args.kind == "breakdown":
        fig = plots.breakdown_figure(df, points=args.points, by=args.by, normalize=args.normalize)
    else:
        if args.metric not in df.columns:
            raise SbmodelError(f"--metric {args.metric}: no such column in {args.results}")
        fig = plots.layers_figure(df, metric=args.metric, points=args.points)
    written = plots.save_figure(fig, args.output, png=not args.no_png)
    print("wrote " + ", ".join(str(w) for w in written), file=sys.stderr)
    return 0


__all__ = ["add_sweep_parser", "run_sweep_command", "add_plot_parser", "run_plot_command"]
