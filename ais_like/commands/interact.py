"""Apply model interactions (competition, colocalize, avoid) to existing segmentation volumes
``<tomogram>__<feature>.mrc`` (feature = model title) and write the adjusted volumes, with the
same names and headers, into --out. See the README for the interactions file format.
"""

from __future__ import annotations

from ._common import add_apix, add_quiet


def add_arguments(parser):
    parser.add_argument("segmentations", nargs="+", metavar="SEG_FOLDER|FILE",
                        help="a folder of <tomogram>__<feature>.mrc files, or such files")
    parser.add_argument("--interactions", required=True, metavar="FILE",
                        help="interactions: our JSON/YAML format or Ais's <group>_interactions.json")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (created if missing)")
    parser.add_argument("--mode", choices=("2d", "3d"), default=None,
                        help="override the file's mode: per slice (2d, as Ais) or a ball (3d)")
    parser.add_argument("--block", type=int, default=16, metavar="N", help="slices per block (default: 16)")
    add_apix(parser)
    add_quiet(parser)


def run(args) -> int:
    from dataclasses import replace
    from pathlib import Path

    from ..errors import InputError
    from ..interactions import group_segmentations, interact_files, load_interactions
    from ..progress import Bar
    from ..volume import find_volumes

    spec = load_interactions(args.interactions)
    if args.mode:
        spec = replace(spec, mode=args.mode)
    paths = find_volumes(list(args.segmentations))
    groups = group_segmentations(paths)
    if not groups:
        raise InputError(f"{args.segmentations[0]}: no <tomogram>__<feature> segmentation volumes found")
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{out}: cannot create the output folder ({exc.strerror or exc})") from None
    for tomo, files in sorted(groups.items()):
        with Bar(1, desc=tomo, unit="slice", quiet=args.quiet) as bar:
            res = interact_files(files, spec, out, tomogram=tomo, apix=args.apix, block=args.block, progress=bar)
        changed = ", ".join(res.changed) or "nothing"
        print(f"{tomo}: {len(res.outputs)} volumes written to {out} (changed: {changed})", flush=True)
    return 0
