"""The ``sbmodel`` console script.

Each subcommand is a thin handler: parse arguments, call the Python API, print.
Heavy modules are imported inside handlers so ``sbmodel --help`` stays fast.
Errors in inputs (:class:`~sbmodel.errors.SbmodelError`) print one line and exit
with status 2; they never produce a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Callable, Sequence

from . import __version__
from .errors import SbmodelError

Handler = Callable[[argparse.Namespace], int]


def _add_timeloop(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "timeloop",
        help="evaluate or map Timeloop/Sparseloop input files",
        description="Run Timeloop/Sparseloop inputs (v0.3 multi-file or aggregated, v0.4 processed) "
        "through sbmodel's engine.",
    )
    tsub = p.add_subparsers(dest="timeloop_command", metavar="{run,map}", required=True)
    for name, helptext in (
        ("run", "evaluate the mapping given among the inputs (like timeloop-model)"),
        ("map", "search the map space the inputs define (like timeloop-mapper)"),
    ):
        q = tsub.add_parser(name, help=helptext, description=helptext)
        q.add_argument("files", nargs="+", metavar="FILE", help="Timeloop YAML inputs, in timeloop-model order "
                       "(the mapping may be Timeloop's printout of one, *.map.txt)")
        q.add_argument("--ert", metavar="ERT.yaml", help="Accelergy energy reference table")
        q.add_argument("--json", action="store_true", help="print the result as JSON")
        q.set_defaults(handler=_timeloop_run if name == "run" else _timeloop_map)
        if name == "map":
            q.add_argument("--objective", metavar="METRICS",
                           help="override the inputs' optimization metrics: energy, delay, edp, or a "
                           "comma-separated lexicographic list such as delay,energy")
            q.add_argument("--budget", type=int, default=40_000, metavar="N",
                           help="candidate mappings evaluated by the search (default: 40000)")
            q.add_argument("--seed", type=int, default=0, help="random seed of the search (default: 0)")
            q.add_argument("--restarts", type=int, default=0, metavar="N", help=_RESTARTS_HELP)
            q.add_argument("--imperfect", action="store_true", help=_IMPERFECT_HELP + "; on by itself "
                           "when the inputs ask for Timeloop's Ruby map space (mapspace: {template: ruby})")
            q.add_argument("--timeloop-mapping", metavar="PATH",
                           help="also write the mapping found as Timeloop mapping directives (a map.yaml that "
                           "timeloop-model reads with the same inputs)")


def _timeloop_run(args: argparse.Namespace) -> int:
    from .timeloop import load_timeloop_inputs
    from .engine import evaluate_layer
    from .report.timeloop_json import timeloop_json, timeloop_text

    spec = load_timeloop_inputs(args.files, ert=args.ert)
    if spec.mapping is None:
        raise SbmodelError(
            "the inputs contain no mapping; give the mapping file (timeloop-model needs one) "
            "or use 'sbmodel timeloop map' to search for one"
        )
    result = evaluate_layer(spec.problem, spec.architecture, spec.mapping, spec.sparse)
    if args.json:
        print(timeloop_json(result))
    else:
        from .report.mapping import loop_nest

        print(timeloop_text(result) + "\n\n" + loop_nest(result, spec.mapping, spec.architecture))
    return 0


def _timeloop_map(args: argparse.Namespace) -> int:
    """Search the map space of the inputs (constraints, mapper metrics); print the best mapping's run."""
    from .timeloop import load_timeloop_inputs
    from .timeloop.constraints import parse_constraints, parse_mapper_settings
    from .mapper.driver import map_layer
    from .report.timeloop_json import timeloop_json, timeloop_text

    _check_search_options(args)
    _check_folder(args.timeloop_mapping)
    spec = load_timeloop_inputs(args.files, ert=args.ert)
    constraints = parse_constraints(spec.document, spec.problem, spec.architecture)
    settings = parse_mapper_settings(spec.document)
    objective = tuple(m.strip() for m in args.objective.split(",")) if args.objective else settings.objective
    outcome = map_layer(spec.problem, spec.architecture, objective, constraints=constraints, sparse=spec.sparse,
                        budget=args.budget, seed=args.seed, restarts=args.restarts,
                        imperfect=args.imperfect or settings.imperfect)
    if args.timeloop_mapping:
        from .timeloop.mapping import dump_mapping_directives

        _emit(dump_mapping_directives(outcome.mapping, spec.problem, spec.architecture), args.timeloop_mapping)
    if args.json:
        from .report.mapping import mapping_dict

        print(timeloop_json(outcome.result, mapping=mapping_dict(outcome.mapping, spec.architecture, spec.problem)))
    else:
        from .report.mapping import loop_nest
        from .spec.mapping import dump_mappings

        s = outcome.search
        print(timeloop_text(outcome.result))
        print(f"search: {s.evaluations} candidates evaluated ({'exhaustive' if s.exhaustive else 'sampled'}), "
              f"objective {s.objective}, {s.seconds:.2f} s")
        print()
        print(loop_nest(outcome.result, outcome.mapping, spec.architecture))
        print()
        print(dump_mappings([(spec.problem, outcome.mapping)], spec.architecture))
    return 0


def _add_stats(sub: argparse._SubParsersAction) -> None:
    from .quant.cli_args import EXPORT_DESCRIPTION, add_export_arguments

    p = sub.add_parser("stats", help="export per-layer weight statistics from trained checkpoints",
                       description="Weight statistics of binary, ternary and signed-binary networks.")
    ssub = p.add_subparsers(dest="stats_command", metavar="{export}", required=True)
    q = ssub.add_parser("export", help="quantise a checkpoint and write its statistics into a workload file",
                        description=EXPORT_DESCRIPTION)
    add_export_arguments(q)
    q.set_defaults(handler=_stats_export)


def _stats_export(args: argparse.Namespace) -> int:
    from .quant.cli_args import run_export

    return run_export(args)


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="per-layer and total cycles, traffic and energy of a workload on an architecture",
        description="Evaluate every layer of WORKLOAD on ARCH (our YAML formats). Layers take their "
        "mapping from --mapping; layers without one are mapped by the mapping search.",
    )
    p.add_argument("arch", metavar="ARCH", help="architecture YAML (e.g. arch_specs/eyeriss_like.yaml)")
    p.add_argument("workload", metavar="WORKLOAD", help="workload YAML (e.g. workloads/resnet18.yaml)")
    p.add_argument("--mapping", metavar="FILE", help="mapping YAML covering some or all layers")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table", help="output format")
    p.add_argument("--output", metavar="PATH", help="write the report to PATH instead of stdout")
    p.add_argument("--layers", metavar="NAME", nargs="+", help="evaluate only these layers")
    p.add_argument("--plot", metavar="PATH", help="also write the energy breakdown figure (.pdf/.svg + .png, or .png)")
    p.add_argument("--loop-nests", action="store_true",
                   help="also print each layer's mapping as a loop nest, after the table (the JSON output "
                   "always carries each layer's mapping)")
    _add_search_options(p)
    p.set_defaults(handler=_evaluate)


def _add_search_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("mapping search (layers without a given mapping)")
    g.add_argument("--objective", choices=("energy", "delay", "edp"), default="edp",
                   help="what the mapper minimises (default: edp)")
    g.add_argument("--budget", type=int, default=20_000, metavar="N",
                   help="candidate mappings evaluated per layer shape (default: 20000)")
    g.add_argument("--seed", type=int, default=0, help="random seed of the search (default: 0)")
    g.add_argument("--restarts", type=int, default=0, metavar="N", help=_RESTARTS_HELP)
    g.add_argument("--imperfect", action="store_true", help=_IMPERFECT_HELP)


_IMPERFECT_HELP = ("also try imperfect factorisations (residual loops): each layer is searched padded too (badly "
                   "factoring bounds such as 7 or 1000 rounded up to 8 or 1024) and the best padded mapping, run "
                   "only over the real points, is evaluated exactly; never worse, 3-14x the time on ResNet-18 "
                   "(dense designs and gating/skipping ones)")

_RESTARTS_HELP = ("more descents of each layer's search, each from a fresh random phase; the best of all wins "
                  "(default: 0).  Single descents can settle in different local optima: on designs with 1-word "
                  "registers (simple_ws, simple_os) one restart halves the gap to the best known mappings, "
                  "for 1.3-1.7x the search time")


def _check_search_options(args: argparse.Namespace) -> None:
    if args.budget < 1:
        raise SbmodelError("--budget must be at least 1")
    if args.restarts < 0:
        raise SbmodelError(f"--restarts must be 0 or more (got {args.restarts})")


def _mapper_from(args: argparse.Namespace):
    from .mapper import find_mapping

    _check_search_options(args)
    return lambda problem, arch: find_mapping(problem, arch, args.objective, budget=args.budget, seed=args.seed,
                                              restarts=args.restarts, imperfect=args.imperfect)


def _evaluate(args: argparse.Namespace) -> int:
    from .api import evaluate
    from .report.network import loop_nests, to_csv, to_json, to_table

    _check_folder(args.output)
    if args.loop_nests and args.format != "table":
        raise SbmodelError(f"--loop-nests prints after the table; --format {args.format} has no place for it "
                           "(the JSON output carries each layer's mapping under \"mapping\")")
    result = evaluate(args.arch, args.workload, mappings=args.mapping, layers=args.layers,
                      mapper=_mapper_from(args))
    text = {"table": to_table, "json": to_json, "csv": to_csv}[args.format](result)
    if args.loop_nests:
        text += "\n\n" + loop_nests(result)
    _emit(text, args.output)
    if args.plot:
        from .report.plots import network_figure, save_figure

        save_figure(network_figure(result), args.plot)
    return 0


def _check_folder(output: str | None) -> None:
    """Refuse an output path whose folder does not exist -- before the work, not after it."""
    from pathlib import Path

    if output is not None and not Path(output).parent.exists():
        raise SbmodelError(f"cannot write {output}: folder {Path(output).parent} does not exist")


def _emit(text: str, output: str | None) -> None:
    """Print, or write atomically to ``output`` (never a half-written file)."""
    if output is None:
        print(text)
        return
    import os
    import tempfile
    from pathlib import Path

    from .errors import SbmodelError

    target = Path(output)
    _check_folder(output)
    fd, tmp = tempfile.mkstemp(dir=target.parent or ".", prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text if text.endswith("\n") else text + "\n")
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise SbmodelError(f"cannot write {output}: {exc.strerror}") from None


def _add_map(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "map",
        help="search the best mapping of every layer and write them as a mapping file",
        description="Search mappings of every layer of WORKLOAD on ARCH (repeated shapes share one search) "
        "and print or write them in sbmodel's mapping format.",
    )
    p.add_argument("arch", metavar="ARCH", help="architecture YAML")
    p.add_argument("workload", metavar="WORKLOAD", help="workload YAML")
    p.add_argument("-o", "--output", metavar="PATH", help="write the mapping file to PATH")
    p.add_argument("--layers", metavar="NAME", nargs="+", help="map only these layers")
    _add_search_options(p)
    p.set_defaults(handler=_map)


def _map(args: argparse.Namespace) -> int:
    from .api import evaluate
    from .spec.mapping import dump_mappings

    _check_folder(args.output)
    result = evaluate(args.arch, args.workload, layers=args.layers, mapper=_mapper_from(args))
    problems = {p.name: p for p in result.workload.problems()}
    text = dump_mappings([(problems[r.layer], m) for m, r in zip(result.mappings, result.layers)],
                         result.architecture)
    _emit(text, args.output)
    if args.output:
        t = result.totals()
        print(f"wrote mappings of {len(result.layers)} layers to {args.output}: "
              f"total {t['energy_pJ']:.6g} pJ, {int(t['cycles'])} cycles ({args.objective})", file=sys.stderr)
    return 0


def _add_compare(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare",
        help="compare workloads (e.g. binary / ternary / signed-binary) across designs",
        description="Evaluate every architecture x workload among FILES (told apart by their top-level "
        "key, architecture: or workload:) and report energy, cycles, EDP, weight density, effectual "
        "adds and multiplies and DRAM traffic, each also as a ratio to the baseline pair.",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="architecture and workload YAML files, any order")
    p.add_argument("--baseline", metavar="[DESIGN/]WORKLOAD",
                   help="the pair the ratios are relative to (default: the first design and workload)")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table", help="output format")
    p.add_argument("--output", metavar="PATH", help="write the report to PATH instead of stdout")
    p.add_argument("--plot", metavar="PATH",
                   help="write the energy breakdown figure (.pdf/.svg + .png twin, or .png)")
    p.add_argument("--by", choices=("component", "tensor"), default="component",
                   help="figure: stack by component, or split each level by tensor (default: component)")
    _add_search_options(p)
    p.set_defaults(handler=_compare)


def _split_files(files: Sequence[str]) -> tuple[list[str], list[str]]:
    """Architecture and workload files among ``files``, by their top-level key."""
    from .spec.yamlio import load_yaml

    archs, workloads = [], []
    for f in files:
        data = load_yaml(f).data
        top = data if isinstance(data, dict) else {}
        if isinstance(top.get("architecture"), dict):
            archs.append(f)
        elif isinstance(top.get("workload"), dict):
            workloads.append(f)
        else:
            raise SbmodelError(f"{f}: neither an architecture nor a workload file (expected a top-level "
                               "'architecture:' or 'workload:' mapping)")
    if not archs or not workloads:
        missing = "architecture" if not archs else "workload"
        raise SbmodelError(f"compare needs at least one {missing} file among {' '.join(files)}")
    return archs, workloads


def _compare(args: argparse.Namespace) -> int:
    from .compare import compare
    from .report.comparison import to_csv, to_json, to_table

    _check_folder(args.output)
    archs, workloads = _split_files(args.files)
    comparison = compare(archs, workloads, baseline=args.baseline, mapper=_mapper_from(args))
    text = {"table": to_table, "json": to_json, "csv": to_csv}[args.format](comparison)
    _emit(text, args.output)
    if args.plot:
        from .report.plots import save_figure

        written = save_figure(comparison.figure(by=args.by), args.plot)
        print(f"wrote {', '.join(str(w) for w in written)}", file=sys.stderr)
    return 0


def _add_sweep(sub: argparse._SubParsersAction) -> None:
    from .sweep.cli import add_sweep_parser  # light: handlers import the sweep machinery lazily

    add_sweep_parser(sub)


def _add_plot(sub: argparse._SubParsersAction) -> None:
    from .sweep.cli import add_plot_parser

    add_plot_parser(sub)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sbmodel",
        description="Analytical cycles / traffic / energy model of DNN accelerators with weight "
        "sparsity and weight repetition.",
    )
    parser.add_argument("--version", action="version", version=f"sbmodel {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_evaluate(sub)
    _add_compare(sub)
    _add_map(sub)
    _add_timeloop(sub)
    _add_stats(sub)
    _add_sweep(sub)
    _add_plot(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except SbmodelError as exc:
        print(f"sbmodel: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sbmodel: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def run() -> None:
    """Console-script entry point: :func:`main`, then exit without the interpreter's teardown.

    Tearing down the imported modules (NumPy, pydantic, ...) takes ~0.1 s, 5 % of a cold
    ``sbmodel evaluate``, and cleans up nothing of ours: files are written and closed by
    ``with`` blocks, worker pools and clients are shut down by then.  The output streams are
    flushed first; with other threads still running, the normal exit waits for them."""
    import threading

    code = main()
    if threading.active_count() > 1:
        sys.exit(code)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):  # a closed pipe or stream: nothing left to deliver
            pass
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    run()
