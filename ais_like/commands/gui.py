"""Open the workbench: tomograms, annotation, models, export and 3D rendering in one window.

FILES may be tomograms (.mrc .rec .map .st .tif ...), a project folder (NAME.aisproj) and
.scnm / .scnmgroup models. With --demo, a synthetic tomogram with a painted membrane feature
is written to --demo-dir (once) and its project opened.
"""

from __future__ import annotations


def add_arguments(parser):
    parser.add_argument("files", nargs="*", metavar="FILES", help="tomograms, a project folder, models")
    parser.add_argument("--demo", action="store_true", help="open the demo project (made on first use)")
    parser.add_argument("--demo-dir", default="ais_like_demo", metavar="DIR",
                        help="where the demo data live (default: %(default)s)")
    parser.add_argument("--apix", type=float, default=None, help="voxel size (Å) for tomograms without one")
    parser.add_argument("--frames", type=int, default=None, help=argparse_suppress())
    parser.add_argument("--screenshot", default=None, help=argparse_suppress())


def argparse_suppress():
    import argparse

    return argparse.SUPPRESS


def demo_project(folder) -> str:
    """The demo project's folder, writing the demo data first when absent."""
    from pathlib import Path

    from ..synthetic import write_demo_dataset

    folder = Path(folder)
    proj = folder / "demo_tomogram.aisproj"
    if not (proj / "project.json").is_file():
        write_demo_dataset(folder)
    return str(proj)


def run(args) -> int:
    from pathlib import Path

    from ..errors import InputError

    for f in args.files:
        if not Path(f).exists():
            raise InputError(f"{f}: no such file or folder")
    from ..gui.state import AppState
    from ..gui import actions

    state = AppState()
    files = list(args.files)
    if args.demo:
        files.insert(0, demo_project(args.demo_dir))
    actions.apply(state, "open_files", paths=files, apix=args.apix)  # as files dropped on the window
    if not files:
        found = actions.recovered_projects()
        if found:
            state.notify(f"{len(found)} autosaved unsaved project(s), newest {found[0].name}: "
                         "File > Recover autosaved project...", "warning")
    from ..gui.app import run as run_app

    return run_app(state, frames=args.frames, screenshot=args.screenshot)
