"""``ais-like``: the command line. A thin layer over the core; each command is one module in
``ais_like.commands`` with ``add_arguments(parser)`` and ``run(args) -> int``.

Commands are imported only when chosen, so ``ais-like --help`` answers instantly.
Errors in the user's input print one line, ``ais-like: error: ...``, and exit with code 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings

from . import __version__
from .errors import AisLikeError, Cancelled

# name -> (module in ais_like.commands, one-line help). The order is the order of --help.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("demo", "make a synthetic tomogram, train a membrane model, segment and score it"),
    "train": ("train", "train a model from a label volume + slices, or from a training set"),
    "segment": ("segment", "segment tomograms with trained models (.scnm / .scnmgroup)"),
    "extract": ("extract", "cut a training set of tiles from a tomogram and its annotations"),
    "interact": ("interact", "apply model interactions to existing segmentation volumes"),
    "pick": ("pick", "pick particles from segmentation volumes (.star / .txt)"),
    "evaluate-picks": ("evaluate_picks", "precision / recall / F1 of picks against a reference list"),
    "mesh": ("mesh", "export segmentation volumes as .obj meshes"),
    "batch": ("batch", "segment, pick and mesh many tomograms on a local or cluster Dask"),
    "models": ("models", "list model architectures, or the installed model library"),
    "info": ("info", "describe a volume, a training set or a model archive"),
    "devices": ("devices", "report the Keras backend and the devices it uses (CPU / GPU)"),
    "gui": ("gui", "open the workbench (the default when no command is given)"),
}


def _top_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ais-like",
        description="Segment cryo-electron tomograms with small per-feature CNNs.",
        epilog="Run 'ais-like COMMAND --help' for a command's options. With no command, the GUI opens.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"ais-like {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_) in COMMANDS.items():
        sub.add_parser(name, help=help_, add_help=False)
    return p


def build_parser(name: str) -> argparse.ArgumentParser:
    """The full parser of one command (imports that command's module only)."""
    module_name, help_ = COMMANDS[name]
    module = importlib.import_module(f"ais_like.commands.{module_name}")
    parser = argparse.ArgumentParser(prog=f"ais-like {name}", description=module.__doc__ or help_,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    module.add_arguments(parser)
    parser.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        argv = ["gui"]
    if argv[0] not in COMMANDS:
        _top_parser().parse_args(argv)  # prints help / version / "invalid choice" and exits
        return 2
    parser = build_parser(argv[0])
    args = parser.parse_args(argv[1:])
    warnings.simplefilter("default")
    warnings.formatwarning = lambda msg, cat, *a, **k: f"ais-like: warning: {msg}\n"
    try:
        return int(args._run(args) or 0)
    except AisLikeError as exc:
        print(f"ais-like: error: {exc}", file=sys.stderr)
        return 2
    except Cancelled:
        print("ais-like: cancelled", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("ais-like: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
