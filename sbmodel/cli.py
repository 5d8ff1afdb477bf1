"""The ``sbmodel`` console script.

Each subcommand is a thin handler: parse arguments, call the Python API, print.
Heavy modules are imported inside handlers so ``sbmodel --help`` stays fast.
Errors in inputs (:class:`~sbmodel.errors.SbmodelError`) print one line and exit
with status 2; they never produce a traceback.
"""

from __future__ import annotations

import argparse
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
        q.add_argument("files", nargs="+", metavar="FILE", help="Timeloop YAML inputs, in timeloop-model order")
        q.add_argument("--ert", metavar="ERT.yaml", help="Accelergy energy reference table")
        q.add_argument("--json", action="store_true", help="print the result as JSON")
        q.set_defaults(handler=_timeloop_run if name == "run" else _timeloop_map)


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
    print(timeloop_json(result) if args.json else timeloop_text(result))
    return 0


def _timeloop_map(args: argparse.Namespace) -> int:
    raise SbmodelError("'sbmodel timeloop map' needs the mapper, which is not implemented yet")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sbmodel",
        description="Analytical cycles / traffic / energy model of DNN accelerators with weight "
        "sparsity and weight repetition.",
    )
    parser.add_argument("--version", action="version", version=f"sbmodel {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_timeloop(sub)
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
