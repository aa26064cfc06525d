"""What bfloat16 inference changes in the segmentation of a trained model.

    .venv/bin/python benchmarks/bench_bf16_accuracy.py [--archs "VGGNet M,UNet S"] [--epochs 8]
        [--tiles 800] [--seed 0] [--json OUT.json]

Trains each architecture with ``ais_like.training.train_feature_model`` (its defaults on this
machine) on the demo's data: the synthetic 80 x 256 x 256 tomogram (``ais_like.synthetic``,
``--seed``), tiles of 64 x 64 from three slices annotated from the membrane ground truth (as
``ais-like demo`` does). Then segments every slice the model never saw through
``ais_like.segment.Predictor`` (no test-time augmentation), once in float32 and once with
``bf16=True``, and reports: the largest and mean absolute probability difference, the
fraction of pixels whose side of 0.5 differs, and the membrane Dice (probability > 0.5) of
each against the ground truth, with their difference. Speed is not measured here.
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


def dice(pred: np.ndarray, truth: np.ndarray) -> float:
    from ais_like.demo import dice_scores

    return dice_scores(pred, truth)[0]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--archs", default="VGGNet M,UNet S")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--tiles", type=int, default=800)
    ap.add_argument("--seed", type=int, default=0, help="the synthetic tomogram's and the tiles' seed")
    ap.add_argument("--train-seed", type=int, default=None,
                    help="weight initialisation and shuffling (default: --seed); VGGNet M, which has no "
                         "normalisation layers, can die at the start of training (all outputs 0) for some seeds")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)

    from ais_like import synthetic, tiles, training
    from ais_like.archive import LoadedModel
    from ais_like.demo import DEMO_APIX, DEMO_FEATURE, DEMO_SHAPE
    from ais_like.segment import Predictor

    print(f"{time.strftime('%Y-%m-%d %H:%M')}, load average {os.getloadavg()}, "
          f"CPU bf16: {training.cpu_has_bf16()}", flush=True)
    tomo = synthetic.make_tomogram(shape=DEMO_SHAPE, apix=DEMO_APIX, seed=args.seed)
    truth = tomo.labels["membrane"].astype(bool)
    vol = tomo.volume.astype(np.float32)
    train_slices = synthetic.demo_slices(truth, 3)
    ts = tiles.tiles_from_labels(vol, truth.astype(np.uint8), train_slices, box=64, n_tiles=args.tiles,
                                 positive_fraction=0.5, augment=True, seed=args.seed, apix=DEMO_APIX,
                                 feature=DEMO_FEATURE)
    unseen = np.setdiff1d(np.arange(len(vol)), train_slices)
    rows = []
    for title in [a.strip() for a in args.archs.split(",") if a.strip()]:
        t0 = time.perf_counter()
        train_seed = args.seed if args.train_seed is None else args.train_seed
        tm = training.train_feature_model(ts, title, epochs=args.epochs, seed=train_seed)
        t_train = time.perf_counter() - t0
        loaded = LoadedModel(tm.model, tm.metadata)
        probs = {}
        for name, bf16 in (("fp32", False), ("bf16", True)):
            pred = Predictor(loaded, bf16=bf16, apix=DEMO_APIX)
            probs[name] = np.concatenate([pred.predict(vol[z0:z0 + 8]) for z0 in range(0, len(vol), 8)])[unseen]
        a, b = probs["fp32"], probs["bf16"]
        diff = np.abs(a - b)
        row = {"arch": title, "epochs": args.epochs, "tiles": len(ts), "train_seed": train_seed,
               "train_s": round(t_train, 1), "loss_history": tm.metadata["ais_like"]["training"]["history"]["loss"],
               "speedups": tm.metadata["ais_like"]["training"].get("speedups"),
               "final_loss": round(float(tm.metadata["loss"]), 4),
               "slices": int(len(unseen)), "max_abs_diff": float(diff.max()), "mean_abs_diff": float(diff.mean()),
               "side_changed": float(np.mean((a > 0.5) != (b > 0.5))),
               "dice_fp32": dice(a > 0.5, truth[unseen]), "dice_bf16": dice(b > 0.5, truth[unseen])}
        row["dice_diff"] = row["dice_bf16"] - row["dice_fp32"]
        rows.append(row)
        print(json.dumps(row), flush=True)
    print("\n| architecture | epochs | final loss | max abs diff | mean abs diff | pixels changing side of 0.5 | "
          "Dice fp32 | Dice bf16 | bf16 - fp32 |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['arch']} | {r['epochs']} | {r['final_loss']} | {r['max_abs_diff']:.1e} | {r['mean_abs_diff']:.1e} | "
              f"{100 * r['side_changed']:.3f} % | {r['dice_fp32']:.4f} | {r['dice_bf16']:.4f} | {r['dice_diff']:+.4f} |")
    print(f"load average at end {os.getloadavg()}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
