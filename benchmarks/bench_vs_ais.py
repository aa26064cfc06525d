"""Inference on the same network and the same model file: ais_like against Keras 2.15 (Ais's stack).

    .venv/bin/python benchmarks/bench_vs_ais.py --keras2-python /path/to/k2venv/bin/python
        [--titles "VGGNet M,UNet S"] [--repeats 7]

For each title, ``tests/keras2/make_ais_files.py`` (run by the Keras 2 Python) writes one model
file the way Ais 1.2.40 saves it (Ais's network, seeded weights). Then, each in a fresh process,
one 512 x 512 slice is predicted ``repeats`` times after a warm-up:

- **Keras 2.15**: the file loaded with ``tf.keras.models.load_model``, ``model.predict`` on the
  (1, 512, 512, 1) slice (the network alone: Ais's own slice preparation would add to it);
- **ais_like**: the same file opened with ``ais_like.archive.load_scnm``, the slice through
  ``ais_like.segment.Predictor`` (normalisation, padding, network, crop), float32 and bfloat16.

Also timed: the network alone on the (1, 512, 512, 1) slice as Keras 2 is given it
(``predict_on_batch``; in bfloat16 through ``segment.bfloat16_model``), like for like with
Keras 2's figure. Prints the median ms per slice, the ratio to Keras 2.15, the largest probability difference
between the network alone (float32, opened by ais_like) and Keras 2.15 on that slice (the
timed ais_like path also normalises and clamps the slice, so its output differs by that), and the FLOPs per slice (2 x multiply-adds
of every convolution). Run it on a quiet machine; compare figures of one run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARCH = ROOT.parent / "shared" / "data" / "real" / "ais_architectures"

KERAS2_TIMER = r"""
import json, os, sys, tarfile, time, io
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, tensorflow as tf
path, repeats = sys.argv[1], int(sys.argv[2])
with tarfile.open(path) as tar:
    name = next(n for n in tar.getnames() if n.endswith("_weights.h5"))
    open(path + ".h5", "wb").write(tar.extractfile(name).read())
model = tf.keras.models.load_model(path + ".h5", compile=False)
x = np.load(path + ".slice.npy")[None, :, :, None]
model.predict(x, verbose=0)
times = []
for _ in range(repeats):
    t = time.perf_counter(); y = model.predict(x, verbose=0); times.append(time.perf_counter() - t)
np.save(path + ".k2.npy", y[0, :, :, 0])
print("RESULT", json.dumps({"ms": 1000 * float(np.median(times)), "tf": tf.__version__}))
"""

OURS_TIMER = r"""
import json, sys, time, warnings
warnings.simplefilter("ignore")
import numpy as np
from ais_like import archive, segment
path, repeats, bf16 = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
loaded = archive.load_scnm(path)
loaded.metadata.pop("normalization", None)  # the raw slice, as Keras 2 is given it
x = np.load(path + ".slice.npy")
net = loaded.model
p = segment.Predictor(loaded, apix=10.0, bf16=bf16)
p.predict(x)
times = []
for _ in range(repeats):
    t = time.perf_counter(); y = p.predict(x); times.append(time.perf_counter() - t)
ref = np.load(path + ".k2.npy")
alone = np.asarray(net.predict(x[None, :, :, None], verbose=0))[0, :, :, 0]  # the network alone, as Keras 2 ran it
run = segment.bfloat16_model(net) if bf16 else net
x4 = x[None, :, :, None]
run.predict_on_batch(x4)
net_times = []
for _ in range(repeats):
    t = time.perf_counter(); run.predict_on_batch(x4); net_times.append(time.perf_counter() - t)
print("RESULT", json.dumps({"ms": 1000 * float(np.median(times)), "max_diff": float(np.abs(alone - ref).max()),
                            "net_ms": 1000 * float(np.median(net_times)),
                            "params": int(net.count_params())}))
"""


def _result(cmd, env=None):
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("RESULT")), None)
    if line is None:
        raise SystemExit(f"{cmd[:3]} failed: {out.stderr[-1500:]}")
    return json.loads(line[6:])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keras2-python", required=True)
    ap.add_argument("--titles", default="VGGNet M,UNet S")
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    import numpy as np

    from benchmarks.bench_models import conv_flops  # noqa: E402

    titles = [t.strip() for t in args.titles.split(",") if t.strip()]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([args.keras2_python, str(ROOT / "tests" / "keras2" / "make_ais_files.py"), str(ARCH), tmp,
                        *titles], check=True, capture_output=True, timeout=900)
        x = np.random.default_rng(0).normal(size=(512, 512)).astype(np.float32)
        for title in titles:
            path = str(Path(tmp) / (title.lower().replace(" ", "_") + ".scnm"))
            np.save(path + ".slice.npy", x)
            k2 = _result([args.keras2_python, "-c", KERAS2_TIMER, path, str(args.repeats)])
            f32 = _result([sys.executable, "-c", OURS_TIMER, path, str(args.repeats), "0"], env)
            b16 = _result([sys.executable, "-c", OURS_TIMER, path, str(args.repeats), "1"], env)
            gflop = conv_flops(title, 512, 512) / 1e9
            rows.append((title, f32["params"], gflop, k2, f32, b16))
            print(json.dumps({"title": title, "gflop": gflop, "keras2": k2, "ours_f32": f32, "ours_bf16": b16}),
                  flush=True)
    print(f"\n| network (Ais's) | params | GFLOP / 512^2 slice | Keras {rows[0][3]['tf']} ms | ais_like float32 ms "
          "(ratio) | ais_like bfloat16 ms (ratio) | network alone at 512^2, float32 / bfloat16 ms | "
          "max prob diff f32 vs Keras 2 |")
    print("|---|---|---|---|---|---|---|---|")
    for title, params, gflop, k2, f32, b16 in rows:
        print(f"| {title} | {params:,} | {gflop:.0f} | {k2['ms']:.0f} | {f32['ms']:.0f} ({k2['ms'] / f32['ms']:.2f}x) | "
              f"{b16['ms']:.0f} ({k2['ms'] / b16['ms']:.2f}x) | {f32['net_ms']:.0f} / {b16['net_ms']:.0f} | "
              f"{f32['max_diff']:.1e} |")


if __name__ == "__main__":
    main()
