"""Training on the same network, from the same initial weights: ais_like against Keras 2.15's
``model.fit`` (the stack and the call Ais 1.2.40 trains with).

    .venv/bin/python benchmarks/bench_vs_ais_training.py --keras2-python /path/to/k2venv/bin/python
        [--titles "VGGNet M,UNet S"] [--epochs 5] [--tiles 512]

Tiles: 64 x 64 from three annotated slices of the demo's synthetic tomogram
(``bench_training.training_sets``: 512 training tiles, 256 held-out tiles from other slices;
the few pixels labelled "ignore" (2) made background, since Keras 2's loss has no such label). Per title, in the Keras 2 Python: the network rebuilt from Ais's
own description (``shared/data/real/ais_architectures``, ``model_from_json``), Keras's seeded
initial weights saved, then ``model.fit(batch_size=32, shuffle=True)`` with Adam(1e-3) and
binary cross-entropy for ``--epochs`` epochs, one epoch per call so each is timed. In ais_like:
the same initial weights opened by ``ais_like.modelio.load_h5``, compiled with Adam(1e-3) and
the same loss ("bce": masked, which with no ignored pixel is Keras's binary cross-entropy), trained by
``ais_like.training.train`` on the copy ``train_feature_model`` would train on this CPU
(``training_speedups``: bfloat16 here), in batches of 32 (each program shuffles its own way,
so the two runs see the tiles in different orders). Reported: the median epoch time of
epochs 2.. (the first includes graph building), the ratio, and the held-out BCE of both final
weights, both evaluated in float32 by ais_like.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
ARCH = ROOT.parent / "shared" / "data" / "real" / "ais_architectures"
sys.path.insert(0, str(ROOT))

KERAS2_TRAINER = r"""
import json, os, sys, time
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, tensorflow as tf
desc, data, out, epochs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
d = np.load(data)
x, y = d["x"][..., None], d["y"][..., None].astype(np.float32)
tf.keras.utils.set_random_seed(0)
model = tf.keras.models.model_from_json(open(desc).read())
model.save(out + ".init.h5", include_optimizer=False)
model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate=1e-3), loss="binary_crossentropy")
times, losses = [], []
for e in range(epochs):
    t = time.perf_counter()
    h = model.fit(x, y, batch_size=32, epochs=1, shuffle=True, verbose=0)
    times.append(time.perf_counter() - t); losses.append(float(h.history["loss"][0]))
model.save(out + ".final.h5", include_optimizer=False)
print("RESULT", json.dumps({"epoch_s": times, "losses": losses, "tf": tf.__version__}))
"""

FILES = {"VGGNet M": "vggnet_m.json", "UNet S": "unet_s.json", "Eman2": "eman2.json", "VGGNet S": "vggnet_s.json"}


def ours(init_h5: str, ts, epochs: int) -> tuple[dict, object]:
    from ais_like.modelio import load_h5
    from ais_like.training import compile_for_training, train, training_copy, training_speedups

    model = load_h5(init_h5)
    compile_for_training(model, 1e-3, "bce")
    sp = training_speedups(model)
    trainee = training_copy(model, **sp) if any(sp.values()) else model
    res = train(trainee, ts, epochs=epochs, batch_size=32, seed=0, keep_best=False, check=False)
    if trainee is not model:
        model.set_weights(trainee.get_weights())
    return {"epoch_s": res.seconds_per_epoch, "losses": res.history["loss"],
            "speedups": [k for k, v in sp.items() if v]}, model


def held_out_bce(model, held) -> float:
    from ais_like.losses import masked_bce

    total = 0.0
    for i in range(0, len(held), 32):
        p = np.asarray(model.predict_on_batch(held.images[i:i + 32, ..., None]), np.float32)
        total += float(masked_bce(held.labels[i:i + 32, ..., None].astype(np.float32), p)) * len(p)
    return total / len(held)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keras2-python", required=True)
    ap.add_argument("--titles", default="VGGNet M,UNet S")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--tiles", type=int, default=512)
    args = ap.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from ais_like.modelio import load_h5
    from benchmarks.bench_training import training_sets

    ts, held, train_slices, held_slices = training_sets(args.tiles, 256)
    for t in (ts, held):  # Keras 2's loss knows no "ignore" (2): those pixels become background for both
        t.labels = (t.labels == 1).astype(np.uint8)
    print(f"{len(ts)} training tiles from slices {train_slices}, {len(held)} held-out from {held_slices}", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "tiles.npz"
        np.savez(data, x=ts.images, y=ts.labels)
        for title in [t.strip() for t in args.titles.split(",") if t.strip()]:
            out = str(Path(tmp) / title.replace(" ", "_"))
            run = subprocess.run([args.keras2_python, "-c", KERAS2_TRAINER, str(ARCH / FILES[title]), str(data), out,
                                  str(args.epochs)], capture_output=True, text=True, timeout=3600)
            line = next((ln for ln in run.stdout.splitlines() if ln.startswith("RESULT")), None)
            if line is None:
                raise SystemExit(f"Keras 2 training of {title} failed: {run.stderr[-1500:]}")
            k2 = json.loads(line[6:])
            mine, model = ours(out + ".init.h5", ts, args.epochs)
            k2_final = load_h5(out + ".final.h5")
            row = {"title": title, "params": int(model.count_params()), "keras2": k2, "ais_like": mine,
                   "k2_median_s": float(np.median(k2["epoch_s"][1:])), "ours_median_s": float(np.median(mine["epoch_s"][1:])),
                   "k2_heldout_bce": held_out_bce(k2_final, held), "ours_heldout_bce": held_out_bce(model, held)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    print(f"\n| network (Ais's) | params | Keras {rows[0]['keras2']['tf']} fit, s/epoch | ais_like s/epoch "
          "(what it trains) | speed-up | last epoch loss, Keras 2 / ais_like | held-out BCE, Keras 2 / ais_like |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['title']} | {r['params']:,} | {r['k2_median_s']:.2f} | {r['ours_median_s']:.2f} "
              f"({'+'.join(r['ais_like']['speedups']) or 'float32'}) | {r['k2_median_s'] / r['ours_median_s']:.2f}x | "
              f"{r['keras2']['losses'][-1]:.4f} / {r['ais_like']['losses'][-1]:.4f} | "
              f"{r['k2_heldout_bce']:.4f} / {r['ours_heldout_bce']:.4f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
