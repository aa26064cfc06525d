"""Train a model for one feature and save it as a .scnm archive.

From a label volume and the indices of its fully annotated slices:
  ais-like train --data TOMO.mrc --labels LABELS.mrc --slices 20,40,60 --model "VGGNet S" \\
                 --epochs 20 --feature Membrane --out membrane.scnm
From a saved training set (ais-like extract):
  ais-like train --trainset SET.npz --model "UNet S" --out m.scnm
From a workbench project (boxes and painted slices of one feature):
  ais-like train --project P.aisproj --feature Membrane --model Eman2 --out membrane.scnm
"""

from __future__ import annotations

import sys

from ._common import add_apix, add_data, add_quiet, add_tile_options


def add_arguments(parser):
    add_data(parser, required=False, help_="the tomogram the --labels annotate")
    parser.add_argument("--trainset", metavar="SET.npz", help="a training set written by 'ais-like extract'")
    add_tile_options(parser)
    g = parser.add_argument_group("model and training")
    g.add_argument("--model", default="VGGNet S", metavar="ARCH",
                   help="architecture title (see 'ais-like models'; default: %(default)s)")
    g.add_argument("--out", required=True, metavar="MODEL.scnm", help="where to save the trained model")
    g.add_argument("--epochs", type=int, default=20, help="training epochs (default: %(default)s)")
    g.add_argument("--batch-size", type=int, default=32, help="tiles per step (default: %(default)s)")
    g.add_argument("--learning-rate", type=float, default=None, metavar="LR",
                   help="Adam's learning rate (default: the architecture's own, as `ais-like models` lists)")
    g.add_argument("--validation-split", type=float, default=0.1, metavar="F",
                   help="fraction of tiles held out to pick the best epoch (default: %(default)s; 0 = none)")
    g.add_argument("--early-stopping", type=int, default=None, metavar="EPOCHS",
                   help="stop after this many epochs without improvement")
    g.add_argument("--loss", choices=("bce", "dice", "bce_dice"), default=None,
                   help="loss (label 2 ignored; default: bce_dice)")
    g.add_argument("--colour", "--color", default=None, metavar="R,G,B", help="display colour, 0..1 each")
    g.add_argument("--threshold", type=float, default=0.5, help="default threshold stored with the model")
    g.add_argument("--restarts", type=int, default=1, metavar="N",
                   help="when the model fails its check, train again from another initialisation up to N times "
                        "(default: %(default)s)")
    g.add_argument("--keep-failed", action="store_true",
                   help="exit 0 even when the model fails its check (predicts only background, everything, or "
                        "the same everywhere on the annotated tiles); without it such a run exits with status 3. "
                        "The model is saved either way")
    add_apix(parser)
    add_quiet(parser)


def _colour(text):
    from ..errors import InputError

    if text is None:
        return None
    try:
        rgb = [float(c) for c in text.split(",")]
    except ValueError:
        rgb = []
    if len(rgb) != 3 or not all(0 <= c <= 1 for c in rgb):
        raise InputError(f"--colour expects three numbers in 0..1 like 0.9,0.7,0.2, got {text!r}")
    return rgb


class _BarCallback:
    """Per-batch progress bar over all epochs, with the loss; one line per epoch."""

    def __init__(self, epochs, n_batches, quiet):
        from ..progress import Bar

        self.epochs, self.n = epochs, n_batches
        self.quiet = quiet
        self.bar = Bar(epochs * n_batches, desc="training", unit="batch", quiet=quiet)

    def on_batch(self, epoch, batch, loss):
        self.bar(epoch * self.n + batch + 1, self.epochs * self.n, f"epoch {epoch + 1}/{self.epochs} loss {loss:.4f}")

    def on_epoch(self, epoch, logs):
        if not self.quiet:
            extra = f", val_loss {logs['val_loss']:.4f}" if "val_loss" in logs else ""
            if logs.get("verdict") not in (None, "unknown"):
                extra += f", recall {logs['recall']:.2f}"
                if logs["verdict"] != "ok":
                    extra += f" ({_VERDICT[logs['verdict']]} so far)"
            self.bar._bar.write(f"epoch {epoch + 1}: loss {logs['loss']:.4f}{extra}{'  (best)' if logs.get('best') else ''}")

    def on_restart(self, attempt, health):
        if not self.quiet:
            self.bar._bar.write(f"the model failed its check ({health.message()}); training again from another "
                                f"initialisation (restart {attempt})")
        self.bar.close()
        self.bar = type(self.bar)(self.epochs * self.n, desc=f"training (restart {attempt})", unit="batch",
                                  quiet=self.quiet)

    def should_stop(self):
        return False


_VERDICT = {"all_background": "only background", "all_foreground": "everything is the feature",
            "flat": "no contrast between feature and background"}


def run(args) -> int:
    import math
    from pathlib import Path

    from ..archive import save_scnm
    from ..errors import InputError
    from ..registry import get_architecture
    from ._common import trainset_from_args

    out = Path(args.out)
    if out.suffix.lower() != ".scnm":
        raise InputError(f"{out}: the model file must end in .scnm")
    if not out.parent.exists():
        raise InputError(f"{out}: the folder {out.parent} does not exist")
    arch = get_architecture(args.model)  # fail early on a wrong title
    colour = _colour(args.colour)
    tset = trainset_from_args(args)
    n_train = len(tset) - int(round(len(tset) * args.validation_split))
    cb = _BarCallback(args.epochs, max(1, math.ceil(n_train / args.batch_size)), args.quiet)
    from ..training import train_feature_model

    try:
        trained = train_feature_model(tset, arch.title, title=args.feature or tset.feature, colour=colour,
                                      epochs=args.epochs, batch_size=args.batch_size,
                                      learning_rate=args.learning_rate, validation_split=args.validation_split,
                                      early_stopping=args.early_stopping, loss=args.loss, threshold=args.threshold,
                                      callback=cb, seed=args.seed, restarts=args.restarts)
    finally:
        cb.bar.close()
    save_scnm(out, trained.model, trained.metadata)
    r = trained.result
    print(f"{out}: {arch.title} model of {trained.metadata['title']!r}, {len(tset)} tiles of {tset.box} px at "
          f"{tset.apix or '?'} Å/px, {r.epochs_run} epochs in {r.seconds:.0f} s, best epoch {r.best_epoch + 1} "
          f"(loss {trained.metadata['loss']:.4f}{', ' + r.stopped if r.stopped != 'completed' else ''})")
    health = trained.health
    if health is None or not health.failed:
        if health is not None:
            print(f"check: {health.message()}")
        return 0
    print(f"{out}: FAILED: {health.message()}", file=sys.stderr)
    if args.keep_failed:
        print(f"{out}: kept as asked (--keep-failed)", file=sys.stderr)
        return 0
    print(f"{out}: the model was saved; exit status 3 (pass --keep-failed to accept it)", file=sys.stderr)
    return 3
