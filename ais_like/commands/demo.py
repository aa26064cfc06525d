"""Run the whole pipeline on bundled synthetic data: generate a cryo-ET-like tomogram with ground
truth (vesicle membranes, filaments, ribosome-sized particles, noise, missing wedge), train a
membrane model from a few annotated slices, segment the volume, and score the segmentation
(Dice) on the slices the model never saw. Everything is written to the output folder.
"""

import sys

from ._common import add_quiet


def add_arguments(parser):
    from ..demo import DEFAULTS

    parser.add_argument("--out", default="ais_like_demo", metavar="DIR", help="output folder (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the synthetic tomogram (default: 0)")
    parser.add_argument("--model", default=DEFAULTS["architecture"], metavar="ARCH",
                        help="architecture title (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=DEFAULTS["epochs"], help="training epochs (default: %(default)s)")
    parser.add_argument("--tiles", type=int, default=DEFAULTS["tiles"], help="training tiles (default: %(default)s)")
    parser.add_argument("--slices", type=int, default=DEFAULTS["n_slices"],
                        help="number of annotated training slices (default: %(default)s)")
    parser.add_argument("--tta", type=int, default=DEFAULTS["tta"],
                        help="test-time augmentation transforms when segmenting (default: %(default)s)")
    add_quiet(parser)


def run(args) -> int:
    from ..demo import run_demo
    from ..progress import Bar
    from ..training import FAILED_VERDICTS

    bar = None

    def progress(done, total, message=""):
        nonlocal bar
        if args.quiet:
            return
        if bar is None or bar._bar.total != total or done == 0:
            if bar is not None:
                bar.close()
            bar = Bar(total, unit="step")
        bar(done, total, message)

    try:
        res = run_demo(args.out, seed=args.seed, architecture=args.model, epochs=args.epochs,
                       n_slices=args.slices, tiles=args.tiles, tta=args.tta, progress=progress,
                       log=(lambda *a: None) if args.quiet else (lambda msg: print(msg, flush=True)))
    finally:
        if bar is not None:
            bar.close()
    print(f"demo finished in {res.seconds['total']:.0f} s (train {res.seconds['train']:.0f} s, "
          f"segment {res.seconds['segment']:.0f} s)")
    print(f"  tomogram      {res.tomogram}")
    print(f"  model         {res.model}  ({res.architecture}, trained on slices {res.train_slices})")
    print(f"  segmentation  {res.segmentation}")
    print(f"  membrane Dice on {res.test_slices} unseen slices: {res.dice_unseen:.3f} "
          f"(precision {res.precision_unseen:.3f}, recall {res.recall_unseen:.3f})")
    failed = res.check.get("verdict") in FAILED_VERDICTS
    if failed or res.dice_unseen < 0.5:
        why = res.check.get("message") if failed else f"the membrane Dice on unseen slices is only {res.dice_unseen:.3f}"
        print(f"demo FAILED: {why}", file=sys.stderr)
        return 3
    return 0
