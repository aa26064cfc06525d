"""Precision, recall and F1 of picked coordinates against a reference list (e.g. a hand-picked
subset): one-to-one matching within a radius, per tomogram when both files name tomograms.
Prints JSON. Reads .star (RELION 3/4/5), .txt (x y z) and Dynamo .tbl.
"""

from __future__ import annotations

from ._common import add_apix


def add_arguments(parser):
    parser.add_argument("--pred", required=True, metavar="FILE", help="picked coordinates")
    parser.add_argument("--truth", required=True, metavar="FILE", help="reference coordinates")
    g = parser.add_mutually_exclusive_group(required=True)
    g.add_argument("--radius", type=float, metavar="Å", help="matching radius in Å")
    g.add_argument("--radius-px", type=float, metavar="PX", help="matching radius in pixels")
    parser.add_argument("--volume", default=None, metavar="FILE",
                        help="the tomogram (or a segmentation of it): its size and voxel size, for RELION 5 files")
    parser.add_argument("--tomo", default=None, metavar="NAME", help="evaluate only this tomogram")
    parser.add_argument("--out", default=None, metavar="FILE.json", help="also write the JSON here")
    add_apix(parser)


def run(args) -> int:
    import json
    from pathlib import Path

    from ..coords import read_coordinates, write_text_atomic
    from ..picking import evaluate_picks

    apix, shape = args.apix, None
    if args.volume:
        from ..volume import open_volume

        with open_volume(args.volume, apix=args.apix) as vol:
            apix, shape = vol.apix, vol.shape
    pred = read_coordinates(args.pred, apix=apix, shape=shape)
    truth = read_coordinates(args.truth, apix=apix, shape=shape)
    res = evaluate_picks(pred, truth, radius=args.radius, radius_px=args.radius_px, apix=apix, shape=shape,
                         tomogram=args.tomo)
    res = {"pred": str(args.pred), "truth": str(args.truth), **res}
    text = json.dumps(res, indent=1)
    if args.out:
        write_text_atomic(Path(args.out), text + "\n")
    print(text)
    return 0
