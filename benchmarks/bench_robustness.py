"""Does every architecture learn, from 3 annotated slices, on tomograms nobody tuned on?

    .venv/bin/python benchmarks/bench_robustness.py [--archs "VGGNet S,UNet S"]
        [--features membrane,ribosome] [--seeds 1-10] [--shape 64,256,256] [--epochs 20]
        [--json OUT.json] [--set learning_rate=1e-4 ...]

Per run (architecture x feature x seed): ``ais_like.synthetic.make_tomogram(shape, seed)``
(seeds other than the demo's 0; one tomogram per seed, all its features), 3 fully annotated
slices (``synthetic.demo_slices``), tiles by ``ais_like.tiles.tiles_from_labels`` with the
CLI's defaults (64 px box, default tile count, half the tiles with the feature, 8-fold
augmentation), ``ais_like.training.train_feature_model`` with the CLI's defaults (10 %
validation split, the architecture's own learning rate and loss, training seed = the seed: a
new initialisation per run), then ``ais_like.segment.Predictor`` on ``--eval-slices`` unseen
slices that hold the feature, and the Dice at 0.5 against the ground truth there (and a
tolerant Dice: within 2 px in the slice, as the issue scores). The
training's own health check (``Health``) is printed beside it.

Summary per architecture and feature: median and minimum Dice, min / median (the issue asks
for no run below half the median), the runs the check called failed, and the mean seconds.
``--set key=value`` passes extra keyword arguments to ``train_feature_model`` (what a variant
changes, for the diagnosis).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def seeds_of(text: str) -> list[int]:
    from ais_like.commands._common import parse_int_list

    return parse_int_list(text)


def value_of(text: str):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False, "none": None}.get(text.lower(), text)


def eval_slices(truth: np.ndarray, train: list[int], n: int) -> list[int]:
    has = [int(z) for z in np.flatnonzero(truth.reshape(len(truth), -1).any(axis=1)) if z not in train]
    if len(has) <= n:
        return has
    return [has[i] for i in np.linspace(0, len(has) - 1, n).round().astype(int)]


def tolerant_scores(pred: np.ndarray, truth: np.ndarray, radius: int = 2) -> tuple[float, float, float]:
    """(Dice, precision, recall) with a tolerance: a predicted pixel within ``radius`` px (in its
    slice) of the truth counts as right, a true pixel within ``radius`` px of the prediction
    counts as found; the Dice is the harmonic mean of the two (slices (n, y, x))."""
    from scipy import ndimage

    yy, xx = np.mgrid[-radius:radius + 1, -radius:radius + 1]
    disk = (yy ** 2 + xx ** 2 <= radius ** 2)[None]
    pred, truth = np.asarray(pred, bool), np.asarray(truth, bool)
    if not pred.any() and not truth.any():
        return 1.0, 1.0, 1.0
    if not pred.any() or not truth.any():
        return 0.0, float(not pred.any()), float(not truth.any())
    precision = float((pred & ndimage.binary_dilation(truth, disk)).sum() / pred.sum())
    recall = float((truth & ndimage.binary_dilation(pred, disk)).sum() / truth.sum())
    dice = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return dice, precision, recall


def tolerant_dice(pred: np.ndarray, truth: np.ndarray, radius: int = 2) -> float:
    """The Dice of :func:`tolerant_scores`."""
    return tolerant_scores(pred, truth, radius)[0]


def one_run(tomo, feature: str, arch: str, seed: int, epochs: int, n_eval: int, extra: dict,
            n_tiles: int | None = None) -> dict:
    from ais_like import segment, synthetic, tiles, training
    from ais_like.archive import LoadedModel
    from ais_like.demo import dice_scores

    truth = tomo.labels[feature].astype(np.uint8)
    train_slices = synthetic.demo_slices(truth, 3)
    ts = tiles.tiles_from_labels(tomo.volume, truth, train_slices, box=64, positive_fraction=0.5, augment=True,
                                 seed=seed, apix=tomo.apix, feature=feature, n_tiles=n_tiles)
    t0 = time.perf_counter()
    tm = training.train_feature_model(ts, arch, epochs=epochs, validation_split=0.1, seed=seed, **extra)
    seconds = time.perf_counter() - t0
    zs = eval_slices(truth, train_slices, n_eval)
    pred = segment.Predictor(LoadedModel(tm.model, tm.metadata), apix=tomo.apix)
    prob = pred.predict(tomo.volume[zs])
    dice, precision, recall = dice_scores(prob >= 0.5, truth[zs].astype(bool))
    tol = tolerant_dice(prob >= 0.5, truth[zs])
    h = tm.health
    return {"arch": arch, "feature": feature, "seed": seed, "tiles": len(ts), "train_slices": train_slices,
            "eval_slices": zs, "dice": round(dice, 4), "tolerant_dice": round(tol, 4), "precision": round(precision, 4), "recall": round(recall, 4),
            "verdict": h.verdict if h else None, "check_recall": round(h.recall, 3) if h else None,
            "epochs_run": tm.result.epochs_run, "best_epoch": tm.result.best_epoch + 1,
            "restarts": tm.metadata["ais_like"]["training"].get("restarts", 0),
            "seconds": round(seconds, 1), "extra": extra}


def summary(rows: list[dict]) -> list[str]:
    from ais_like.training import FAILED_VERDICTS

    out = ["| architecture | feature | runs | median Dice | min Dice | min / median | below half the median | "
           "median tolerant Dice (2 px) | check failed | mean s per run |", "|---|---|---|---|---|---|---|---|---|---|"]
    for key in dict.fromkeys((r["arch"], r["feature"]) for r in rows):
        rs = [r for r in rows if (r["arch"], r["feature"]) == key]
        d = np.array([r["dice"] for r in rs])
        med = float(np.median(d))
        low = int((d < 0.5 * med).sum())
        failed = sum(r["verdict"] in FAILED_VERDICTS for r in rs)
        out.append(f"| {key[0]} | {key[1]} | {len(rs)} | {med:.3f} | {d.min():.3f} | "
                   f"{d.min() / med if med else 0:.2f} | {low} | {np.median([r['tolerant_dice'] for r in rs]):.3f} | "
                   f"{failed} | {np.mean([r['seconds'] for r in rs]):.0f} |")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archs", default="VGGNet S,UNet S")
    ap.add_argument("--features", default="membrane,ribosome")
    ap.add_argument("--seeds", default="1-10")
    ap.add_argument("--shape", default="64,256,256")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--eval-slices", type=int, default=8)
    ap.add_argument("--tiles", type=int, default=None, help="training tiles (default: the CLI's, by annotated area)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from ais_like import synthetic

    shape = tuple(int(v) for v in args.shape.split(","))
    extra = {k: value_of(v) for k, v in (s.split("=", 1) for s in args.set)}
    archs = [a.strip() for a in args.archs.split(",") if a.strip()]
    features = [f.strip() for f in args.features.split(",") if f.strip()]
    rows = []
    t0 = time.time()
    for seed in seeds_of(args.seeds):
        tomo = synthetic.make_tomogram(shape=shape, apix=10.0, seed=seed)
        for arch in archs:
            for feature in features:
                r = one_run(tomo, feature, arch, seed, args.epochs, args.eval_slices, extra, args.tiles)
                rows.append(r)
                print(json.dumps(r), flush=True)
                if args.json:
                    Path(args.json).write_text(json.dumps({"shape": shape, "epochs": args.epochs, "rows": rows},
                                                          indent=1))
    print(f"\n{len(rows)} runs on {shape} tomograms, {args.epochs} epochs, in {time.time() - t0:.0f} s "
          f"(cpu: {os.cpu_count()} cores); extra settings: {extra or 'none'}\n")
    print("\n".join(summary(rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
