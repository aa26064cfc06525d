"""Segmentation and picking quality on synthetic tomograms nobody tuned on.

    .venv/bin/python benchmarks/bench_quality.py [--presets mixed,proteasome] [--seed 11]
        [--arch "VGGNet M"] [--epochs 20] [--features membrane,particle] [--json OUT.json]

Per preset (``ais_like.synthetic.preset_tomogram``, 160 x 512 x 512 at 10 Å/px unless
``--shape``) and feature: 3 fully annotated slices (``synthetic.demo_slices``), tiles with the
CLI's defaults, ``ais_like.training.train_feature_model`` with the CLI's defaults (10 %
validation, the architecture's own learning rate and loss), the whole volume segmented
(``ais_like.segment.segment_volume``, the CLI's path, 1 TTA transform), then scored on the
slices it never saw:

- tolerant Dice (``bench_robustness.tolerant_dice``: a pixel within 2 px in its slice counts),
  against the label (for the membrane: the part the missing wedge leaves visible, which is how
  the generator labels it) and, for the membrane, against the whole bilayer (caps included);
- for particles (ribosome or proteasome, membrane_protein, gold): picks by
  ``ais_like.picking.pick_particles`` with the spacing and minimum size that
  ``picking.size_defaults`` derives from the particle size measured on the annotated slices
  (as ``ais-like pick --model`` does), matched one-to-one (``picking.match_points``) within
  half that diameter to every true centre, particles cut by the volume's border included;
  picks and true centres within 3 slices of an annotated slice are left out of both lists.

"particle" in ``--features`` means the preset's main particle. Prints one row per feature with
the seconds of training and of segmentation.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_robustness import tolerant_dice, tolerant_scores  # noqa: E402

PARTICLES = ("ribosome", "proteasome", "membrane_protein", "gold")


def unseen(nz: int, train: list[int], guard: int = 0) -> np.ndarray:
    keep = np.ones(nz, bool)
    for z in train:
        keep[max(0, z - guard):z + guard + 1] = False
    return keep


def score_picks(prob: np.ndarray, centres: np.ndarray, train: list[int], diameter_px: float, apix: float) -> dict:
    from ais_like import picking

    sizes = picking.size_defaults(diameter_px * apix)
    t0 = time.perf_counter()
    picks = picking.pick_particles(prob, apix, threshold=0.5, **sizes)
    seconds = time.perf_counter() - t0
    keep_z = unseen(prob.shape[0], train, guard=3)
    pred = picks.zyx[keep_z[np.clip(np.round(picks.zyx[:, 0]).astype(int), 0, prob.shape[0] - 1)]]
    truth = centres[keep_z[np.clip(np.round(centres[:, 0]).astype(int), 0, prob.shape[0] - 1)]]
    pairs = picking.match_points(pred, truth, radius=0.5 * diameter_px)
    tp = len(pairs)
    fp, fn = len(pred) - tp, len(truth) - tp
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    missed = np.setdiff1d(np.arange(len(truth)), pairs[:, 1]) if len(truth) else np.zeros(0, int)
    border = [float(min(truth[i, 1], truth[i, 2], prob.shape[1] - 1 - truth[i, 1], prob.shape[2] - 1 - truth[i, 2]))
              for i in missed]
    return {"picks": int(len(pred)), "true": int(len(truth)), "precision": round(precision, 3),
            "recall": round(recall, 3), "f1": round(f1, 3), "min_spacing_A": sizes["min_spacing"],
            "min_volume_A3": sizes["min_volume"], "missed_within_14px_of_xy_border": int(sum(b < 14 for b in border)),
            "pick_seconds": round(seconds, 1)}


def run_feature(tomo, feature: str, arch: str, epochs: int, seed: int, folder: Path) -> dict:
    from ais_like import archive, segment, synthetic, tiles, training
    from ais_like.volume import Header, open_volume, write_volume

    truth = tomo.labels[feature].astype(np.uint8)
    train = synthetic.demo_slices(truth, 3)
    ts = tiles.tiles_from_labels(tomo.volume, truth, train, box=64, positive_fraction=0.5, augment=True, seed=seed,
                                 apix=tomo.apix, feature=feature)
    t0 = time.perf_counter()
    tm = training.train_feature_model(ts, arch, title=feature, epochs=epochs, validation_split=0.1, seed=seed)
    train_s = time.perf_counter() - t0
    model_path = archive.save_scnm(folder / f"{feature}.scnm", tm.model, tm.metadata)
    tomo_path = folder / "tomo.mrc"
    if not tomo_path.exists():
        write_volume(tomo_path, tomo.volume, Header(apix=tomo.apix))
    t1 = time.perf_counter()
    with open_volume(tomo_path) as vol:
        (seg_path,) = segment.segment_volume([archive.load_scnm(model_path)], vol, folder, tta=1)
    seg_s = time.perf_counter() - t1
    with open_volume(seg_path) as s:
        prob = s.read().astype(np.float32) / 255.0
    keep = unseen(truth.shape[0], train)
    row = {"feature": feature, "arch": arch, "train_slices": train, "tiles": len(ts),
           "check": tm.health.verdict if tm.health else None,
           **dict(zip(("tolerant_dice", "tolerant_precision", "tolerant_recall"),
                      (round(v, 4) for v in tolerant_scores(prob[keep] >= 0.5, truth[keep])))),
           "train_seconds": round(train_s, 1), "segment_seconds": round(seg_s, 1),
           "epochs": tm.result.epochs_run}
    if feature == "membrane" and tomo.membrane_all is not None:
        row["tolerant_dice_all_membrane"] = round(tolerant_dice(prob[keep] >= 0.5, tomo.membrane_all[keep]), 4)
    if feature in PARTICLES:
        d = ts.meta["feature_size"]["diameter_px"]
        row["diameter_px"] = d
        row.update(score_picks(prob, tomo.picks[feature], train, d, tomo.apix) if d else {"f1": None})
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", default="mixed")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--shape", default=None, help="z,y,x (default: the presets' 160,512,512)")
    ap.add_argument("--arch", default="VGGNet M")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--features", default="membrane,particle")
    ap.add_argument("--json", default=None)
    ap.add_argument("--keep", default=None, metavar="DIR", help="keep the tomogram, models and segmentations here")
    args = ap.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from ais_like import synthetic

    shape = tuple(int(v) for v in args.shape.split(",")) if args.shape else None
    rows = []
    for preset in [p.strip() for p in args.presets.split(",") if p.strip()]:
        t0 = time.perf_counter()
        tomo = synthetic.preset_tomogram(preset, seed=args.seed, shape=shape)
        gen_s = time.perf_counter() - t0
        wanted = []
        for f in args.features.split(","):
            f = f.strip()
            f = tomo.meta.get("particle", "ribosome") if f == "particle" else f
            if f in tomo.labels:
                wanted.append(f)
        with tempfile.TemporaryDirectory() as tmp:
            if args.keep:
                tmp = Path(args.keep) / preset
                tmp.mkdir(parents=True, exist_ok=True)
            for feature in wanted:
                row = {"preset": preset, "seed": args.seed, "shape": list(tomo.volume.shape),
                       "generate_seconds": round(gen_s, 1), **run_feature(tomo, feature, args.arch, args.epochs,
                                                                           args.seed, Path(tmp))}
                rows.append(row)
                print(json.dumps(row), flush=True)
                if args.json:
                    Path(args.json).write_text(json.dumps(rows, indent=1))
    print("\n| preset | feature | network | tolerant Dice (2 px), unseen slices | all membrane | pick P / R / F1 "
          "| missed near XY border | check | train s | segment s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        picks = f"{r['precision']:.3f} / {r['recall']:.3f} / {r['f1']:.3f} ({r['picks']} picks, {r['true']} true)" \
            if r.get("f1") is not None else "-"
        print(f"| {r['preset']} | {r['feature']} | {r['arch']} | {r['tolerant_dice']:.3f} | "
              f"{r.get('tolerant_dice_all_membrane', '-')} | {picks} | {r.get('missed_within_14px_of_xy_border', '-')} | "
              f"{r['check']} | {r['train_seconds']:.0f} | {r['segment_seconds']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
