"""Options shared by several commands, so that they are spelled the same everywhere."""

from __future__ import annotations

import argparse


def add_apix(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--apix", type=float, default=None, metavar="Å",
                        help="voxel size in Å per pixel; overrides a missing or wrong header value")


def add_quiet(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


def parse_int_list(text: str) -> list[int]:
    """'20,40,60' or '20-25,40' -> [20, 40, 60] / [20, ..., 25, 40]."""
    out: list[int] = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part[1:]:
            a, b = part.split("-", 1) if not part.startswith("-") else ("-" + part[1:].split("-", 1)[0], part[1:].split("-", 1)[1])
            out.extend(range(int(a), int(b) + 1))
        else:
            out.append(int(part))
    return out


def int_list(text: str) -> list[int]:
    """argparse type for '20,40,60'."""
    try:
        return parse_int_list(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated slice numbers like 20,40,60, got {text!r}")


def add_data(parser: argparse.ArgumentParser, required: bool = True, help_: str | None = None) -> None:
    parser.add_argument("--data", required=required, metavar="TOMO|FOLDER|'GLOB'|LIST.txt", action="append",
                        help=help_ or "tomogram(s): a file, a folder of volumes, a quoted glob or a .txt list "
                                      "(repeatable)")


def add_tile_options(parser: argparse.ArgumentParser) -> None:
    """How a training set is cut: the options of ``train`` and ``extract``."""
    g = parser.add_argument_group("training data (a label volume + annotated slices, or a project)")
    g.add_argument("--labels", metavar="LABELS.mrc", help="label volume (feature > 0) of the same shape as --data")
    g.add_argument("--slices", type=int_list, metavar="Z,Z,...",
                   help="indices of the fully annotated slices of --labels, e.g. 20,40,60 or 20-25")
    g.add_argument("--project", metavar="P.aisproj", help="a workbench project: train from its annotations "
                   "(boxes and painted slices) of --feature on every tomogram")
    g.add_argument("--feature", metavar="NAME", help="feature name (the model's title; default: Membrane for "
                   "--labels, required with --project)")
    g = parser.add_argument_group("tiles")
    g.add_argument("--box", type=int, default=None, metavar="PX",
                   help="tile side in pixels (default: 64, or the feature's box size in a project)")
    g.add_argument("--target-apix", type=float, default=None, metavar="Å",
                   help="Å/px the model works at; slices are resampled to it (default: the data's)")
    g.add_argument("--tiles", type=int, default=None, metavar="N", help="number of tiles (default: 4 per box of annotated area, at least 768)")
    g.add_argument("--positive-fraction", type=float, default=0.5, metavar="F",
                   help="fraction of tiles that contain the feature (default: %(default)s)")
    g.add_argument("--normalisation", "--normalization", choices=("slice", "global"), default="slice",
                   help="robust median/MAD normalisation per slice or over the whole volume (default: %(default)s)")
    g.add_argument("--clamp", type=float, default=4.0, metavar="SIGMAS",
                   help="clamp normalised values at this many sigmas (default: %(default)s; 0 = off)")
    g.add_argument("--lowpass", type=float, default=None, metavar="Å", help="low-pass filter slices at this resolution")
    g.add_argument("--highpass", type=float, default=None, metavar="Å", help="high-pass filter slices at this scale")
    g.add_argument("--no-augment", action="store_true", help="no rotations/flips of the tiles")
    g.add_argument("--rotate", action="store_true", help="arbitrary rotations instead of the 8 rotations/flips")
    g.add_argument("--noise", type=float, default=0.0, metavar="SIGMA", help="add Gaussian noise to tiles")
    g.add_argument("--contrast", type=float, default=0.0, metavar="SIGMA", help="jitter tile contrast")
    g.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")


def trainset_from_args(args, progress=None):
    """The training set that ``--trainset`` names, or that the tile options cut (train/extract)."""
    from ..errors import InputError
    from ..trainset import TrainingSet

    if getattr(args, "trainset", None):
        if args.labels or args.project or args.data:
            raise InputError("--trainset cannot be combined with --data/--labels/--project")
        return TrainingSet.load(args.trainset)
    opts = dict(box=args.box, target_apix=args.target_apix, n_tiles=args.tiles,
                positive_fraction=args.positive_fraction, augment=not args.no_augment,
                normalisation=args.normalisation, seed=args.seed, rotate=args.rotate, noise=args.noise,
                contrast=args.contrast, clamp=args.clamp or None, lowpass=args.lowpass, highpass=args.highpass)
    if args.project:
        if args.labels:
            raise InputError("give either --project or --labels, not both")
        if not args.feature:
            raise InputError("--project needs --feature NAME (the feature to train)")
        from ..tiles import training_set_from_project

        return training_set_from_project(args.project, args.feature, apix=args.apix, progress=progress, **opts)
    if not (args.data and args.labels and args.slices):
        raise InputError("give --data TOMO --labels LABELS --slices Z,Z,... (or --trainset SET, or --project P)")
    from ..tiles import training_set_from_files

    data = args.data[0] if len(args.data) == 1 else None
    if data is None:
        raise InputError("training from --labels takes one --data tomogram")
    return training_set_from_files(data, args.labels, args.slices, feature=args.feature or "Membrane",
                                   apix=args.apix, progress=progress, **{k: (64 if k == "box" and v is None else v)
                                                                        for k, v in opts.items()})


def parse_range(text: str) -> tuple[int, int]:
    """'10:90' -> (10, 90): START inclusive, STOP exclusive."""
    try:
        a, b = str(text).split(":")
        return int(a), int(b)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected START:STOP (e.g. 10:90), got {text!r}") from None


def for_each_volume(specs, out, *, quiet: bool, desc: str, work) -> None:
    """Run ``work(path, out, progress) -> line`` for every volume of ``specs`` (files, folders,
    globs), printing one line each, with a bar over the volumes when there are several. ``out``
    (a file or folder, or None) is created as a folder when there are several volumes."""
    from pathlib import Path

    from ..errors import InputError
    from ..progress import Bar
    from ..volume import find_volumes

    paths = find_volumes(list(specs))
    if not paths:
        raise InputError(f"{specs[0]}: no volumes found")
    out = Path(out) if out else None
    many = len(paths) > 1
    if out is not None and many and not out.is_dir():
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"{out}: cannot create the output folder ({exc.strerror or exc})") from None
    overall = Bar(len(paths), desc=desc, unit="volume", quiet=quiet or not many)
    try:
        for i, path in enumerate(paths):
            with Bar(1, desc=path.name, unit="slice", quiet=quiet or many) as bar:
                line = work(path, out, bar)
            print(line, flush=True)
            overall(i + 1, len(paths))
    finally:
        overall.close()
