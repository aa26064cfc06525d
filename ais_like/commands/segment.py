"""Segment tomograms with trained models; writes DIR/<tomogram>__<feature>.mrc per model.

  ais-like segment --model A.scnm [--model B.scnm ...] --data TOMO.mrc|FOLDER|'GLOB' --out DIR
  ais-like segment --model GROUP.scnmgroup --data FOLDER --out DIR       (the group's interactions)
  ais-like segment --model A.scnm --model B.scnm --interactions I.yaml --data TOMO.mrc --out DIR

Outputs are uint8 0..255 volumes (255 = probability 1) of the input's shape, voxel size and
origin. Slices are resampled to each model's Å/px and back, so a model trained at 10 Å/px
applies to data at 14 Å/px.
"""

from __future__ import annotations

from ._common import add_apix, add_data, add_quiet, parse_range


def add_arguments(parser):
    parser.add_argument("--model", action="append", required=True, metavar="MODEL.scnm|GROUP.scnmgroup",
                        help="a trained model, or a group of models with their interactions (repeatable)")
    add_data(parser)
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (created if needed)")
    add_segment_options(parser)
    parser.add_argument("--skip-existing", action="store_true", help="keep outputs that exist already")
    add_apix(parser)
    add_quiet(parser)


def add_segment_options(parser) -> None:
    """How volumes are segmented (also the options of ``ais-like batch``)."""
    parser.add_argument("--z-range", type=parse_range, default=None, metavar="START:STOP",
                        help="segment slices START..STOP-1 only (others are 0)")
    parser.add_argument("--crop-x", type=parse_range, default=None, metavar="X0:X1", help="segment columns X0..X1-1 only")
    parser.add_argument("--crop-y", type=parse_range, default=None, metavar="Y0:Y1", help="segment rows Y0..Y1-1 only")
    parser.add_argument("--tta", type=int, default=1, metavar="N",
                        help="test-time augmentation: average N of the 8 rotations/flips (default: 1, none)")
    parser.add_argument("--batch-size", type=int, default=None, metavar="N", help="slices per model call (default: automatic)")
    parser.add_argument("--interactions", metavar="FILE.json|.yaml", default=None,
                        help="model interactions (competition, colocalize, avoid) applied to the predictions; "
                             "replaces a group's own")
    parser.add_argument("--interaction-mode", choices=("2d", "3d"), default=None,
                        help="colocalize/avoid per slice (2d, as Ais) or in 3D (a ball); default: the file's")


def crop_of(args, shape):
    from ..segment import crop_box

    return crop_box(shape, args.crop_x, args.crop_y)


def run(args) -> int:
    from ..errors import InputError
    from ..progress import Bar
    from ..segment import load_models, output_folder, segment_volume
    from ..volume import find_volumes, open_volume

    volumes = find_volumes(args.data)
    if not volumes:
        raise InputError(f"{', '.join(args.data)}: no volume files found")
    out = output_folder(args.out)
    models, spec = load_models(args.model, args.interactions, args.interaction_mode)
    for i, path in enumerate(volumes, 1):
        with open_volume(path, apix=args.apix) as vol:
            with Bar(1, desc=f"[{i}/{len(volumes)}] {vol.name}", unit="block", quiet=args.quiet) as bar:
                outputs = segment_volume(models, vol, out, z_range=args.z_range, crop=crop_of(args, vol.shape),
                                         tta=args.tta, batch_size=args.batch_size,
                                         interactions=spec, skip_existing=args.skip_existing, progress=bar)
        for m, o in zip(models, outputs):
            print(f"{path}: {m.title} -> {o}")
    return 0
