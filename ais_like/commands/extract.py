"""Cut a training set of tiles from a tomogram and its annotations, and save it (.npz).

  ais-like extract --data TOMO.mrc --labels LABELS.mrc --slices 20,40 --out SET.npz
  ais-like extract --project P.aisproj --feature Membrane --out SET.npz

The file format is documented in the README ("Training-set format"); train on it with
'ais-like train --trainset SET.npz'.
"""

from __future__ import annotations

from ._common import add_apix, add_data, add_quiet, add_tile_options


def add_arguments(parser):
    add_data(parser, required=False, help_="the tomogram the --labels annotate")
    add_tile_options(parser)
    parser.add_argument("--out", required=True, metavar="SET.npz", help="the training set to write")
    add_apix(parser)
    add_quiet(parser)


def run(args) -> int:
    from pathlib import Path

    from ..errors import InputError
    from ._common import trainset_from_args

    out = Path(args.out)
    if out.suffix.lower() != ".npz":
        raise InputError(f"{out}: a training set file must end in .npz")
    if not out.parent.exists():
        raise InputError(f"{out}: the folder {out.parent} does not exist")
    args.trainset = None
    tset = trainset_from_args(args)
    tset.save(out)
    s = tset.summary()
    print(f"{out}: {s['tiles']} tiles of {s['box']} px ({s['positive tiles']} positive, {s['negative tiles']} "
          f"negative) at {s['apix'] or '?'} Å/px, feature {s['feature']!r}")
    return 0
