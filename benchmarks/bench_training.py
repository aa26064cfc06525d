"""Seconds per training epoch and final loss, per architecture and training variant, interleaved.

    .venv/bin/python benchmarks/bench_training.py [--archs "Eman2,VGGNet M"] [--epochs 8]
        [--variants plain,default,xla,bf16,fft,fft+xla] [--json OUT.json]

One epoch = 16 batches of 32 tiles of 64 x 64 (``--tiles 512``), cut with
``ais_like.tiles.tiles_from_labels`` from three annotated slices of the demo's synthetic
tomogram (``ais_like.synthetic.make_tomogram``, seed 0); 256 held-out tiles come from other
slices. Every variant of an architecture starts from the same initial weights and sees the
same batches in the same order: per round, each variant trains one epoch in turn
(``ais_like.training.train``, the project's own loop, shuffle seed = round), so machine noise
falls on all of them alike. Variants:

- ``plain``: the plugin's compiled model itself, float32, Keras's default compilation (what
  ``train_feature_model`` did before its speed-ups; ``fast=False``);
- ``default``: what ``train_feature_model`` does now on this machine
  (``ais_like.training.training_speedups``), printed with the result;
- ``xla``, ``bf16``, ``fft`` and ``+`` combinations: ``training_copy`` with those options;
- ``fit``: the plain model trained by ``model.fit(steps_per_execution=16)`` (whole epoch in one
  call, no per-batch Python): the per-batch overhead of our loop is ``plain - fit``;
- ``seed1``, ``seed2``, ...: ``plain`` from other initial weights (that Keras seed): how much
  final losses differ between equally good float32 runs, the yardstick for "equal final loss";
  ``seed1+default``, ``seed2+bf16`` etc.: a variant from those weights;
- ``rounded`` (``seed2+rounded``, ...): float32 training from the initial weights rounded once
  to bfloat16: a float32 control for how far a perturbation of bfloat16's size alone moves
  the final loss of this (chaotic) training.

With several seeds, a paired summary follows the table: per variant, the mean over initial
weights (``plain`` is seed 0) of the final losses in float32 and of the epoch time, next to
float32 from the same weights, and the speed-up over Ais 1.2.40's recorded epoch times on this
kind of machine (``AIS_EPOCH_S``, from the issue: 7.3 s Eman2, 16.5 s VGGNet M).

Reported per variant: the first epoch (graph tracing / XLA compilation included), the median of
the later epochs, the speed-up over ``plain`` (median over the later rounds of plain's epoch
time divided by the variant's in the same round), the last epoch's mean training loss and the loss of
the final weights on the training and held-out tiles, evaluated in float32 by the plain model.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def cpu_info() -> tuple[str, str]:
    model, flags = "unknown", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    simd = " ".join(sorted(f for f in flags if f.startswith(("avx512f", "avx512_bf16", "amx")) or f == "avx2"))
    return model, simd


def training_sets(n_tiles: int, n_held: int, seed: int = 0):
    from ais_like import synthetic, tiles

    tomo = synthetic.make_tomogram(shape=(80, 256, 256), apix=10.0, seed=seed)
    truth = tomo.labels["membrane"].astype(np.uint8)
    vol = tomo.volume.astype(np.float32)
    train_slices = synthetic.demo_slices(truth, 3)
    has = [z for z in np.flatnonzero(truth.reshape(len(truth), -1).any(axis=1)) if z not in train_slices]
    held_slices = [int(z) for z in np.array(has)[np.linspace(0, len(has) - 1, 3).round().astype(int)]]
    ts = tiles.tiles_from_labels(vol, truth, train_slices, box=64, n_tiles=n_tiles, positive_fraction=0.5,
                                 augment=True, seed=seed, apix=10.0, feature="Membrane")
    held = tiles.tiles_from_labels(vol, truth, held_slices, box=64, n_tiles=n_held, positive_fraction=0.5,
                                   augment=False, seed=seed + 1, apix=10.0, feature="Membrane")
    return ts, held, train_slices, held_slices


OPTIONS = {"xla": "jit_compile", "bf16": "bf16", "fft": "fft"}


def bf16_rounded(a: np.ndarray) -> np.ndarray:
    """float32 values rounded to the nearest bfloat16 (ties to even), as float32."""
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) & 0xFFFF0000
    return u.astype(np.uint32).view(np.float32).reshape(np.shape(a))


def split_variant(name: str) -> tuple[int, list[str]]:
    """(initial-weights seed, the other parts) of a variant name: "seed2+bf16" -> (2, ["bf16"])."""
    parts = name.split("+")
    seeds = [p for p in parts if re.fullmatch(r"seed\d+", p)]
    return (int(seeds[0][4:]) if seeds else 0), [p for p in parts if p not in seeds[:1]]


def make_variant(name: str, base, arch):
    """(model to train, how it is trained, description)."""
    from ais_like.backend import keras
    from ais_like.training import training_copy, training_speedups

    if name in ("plain", "fit"):
        return base, name, "float32, as compiled"
    seed, parts = split_variant(name)
    other = ""
    if seed:  # other initial weights: seed1, seed2, ...
        keras().utils.set_random_seed(seed)
        base = arch.create((None, None, 1))
        other = f", initial weights from seed{seed}"
    if "rounded" in parts:  # a float32 control: the same start, perturbed as bfloat16 perturbs it
        parts.remove("rounded")
        base.set_weights([bf16_rounded(w) for w in base.get_weights()])
        other += ", initial weights rounded to bfloat16"
    if not parts:
        return base, "plain", "float32, as compiled" + other
    if parts == ["default"]:
        sp = training_speedups(base)
    else:
        sp = {"fft": False, "bf16": False, "jit_compile": False}
        for part in parts:
            sp[OPTIONS[part]] = True
    desc = ("+".join(k for k, v in sp.items() if v) or "float32, as compiled") + other
    return (training_copy(base, **sp) if any(sp.values()) else base), "plain", desc


def one_epoch(model, how: str, ts, seed: int) -> tuple[float, float]:
    """(seconds, mean training loss) of one epoch."""
    from ais_like.training import train

    if how == "fit":  # same batches as train(): its shuffle, drawn the same way
        rng = np.random.default_rng(seed)
        idx = rng.permutation(len(ts))
        order = idx[rng.permutation(len(idx))]
        x = ts.images[order][..., None].astype(np.float32)
        y = ts.labels[order][..., None].astype(np.float32)
        if getattr(model, "_bench_spe", None) is None:
            model.compile(optimizer=model.optimizer, loss=model.loss, steps_per_execution=16)
            model._bench_spe = True
        t0 = time.perf_counter()
        hist = model.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0)
        return time.perf_counter() - t0, float(hist.history["loss"][-1])
    res = train(model, ts, epochs=1, batch_size=32, seed=seed, keep_best=False)
    return res.seconds_per_epoch[0], res.history["loss"][0]


def bench_arch(title: str, variants: list[str], epochs: int, ts, held, log) -> list[dict]:
    from ais_like import registry
    from ais_like.backend import keras
    from ais_like.training import _evaluate

    k = keras()
    arch = registry.get_architecture(title)
    k.utils.set_random_seed(0)
    init = arch.create((None, None, 1))
    weights0 = init.get_weights()
    rows = []
    for name in variants:
        k.utils.set_random_seed(0)
        base = arch.create((None, None, 1))
        base.set_weights(weights0)
        model, how, desc = make_variant(name, base, arch)
        rows.append({"arch": title, "variant": name, "what": desc, "model": model, "how": how,
                     "seconds": [], "losses": []})
    for r in range(epochs):
        for row in rows:
            s, loss = one_epoch(row["model"], row["how"], ts, seed=100 + r)
            row["seconds"].append(s)
            row["losses"].append(loss)
            log(f"{title:10s} {row['variant']:8s} epoch {r + 1}: {s:6.2f} s, loss {loss:.4f}, "
                f"load {os.getloadavg()[0]:.1f}")
    x, y = ts.images[..., None], ts.labels[..., None].astype(np.float32)
    xh, yh = held.images[..., None], held.labels[..., None].astype(np.float32)
    k.utils.set_random_seed(0)
    judge = arch.create((None, None, 1))  # float32, plain: every variant's weights judged alike
    out = []
    for row in rows:
        judge.set_weights(row["model"].get_weights())
        later = row["seconds"][1:] or row["seconds"]
        med = float(np.median(later))
        out.append({"arch": title, "variant": row["variant"], "what": row["what"],
                    "first_epoch_s": round(row["seconds"][0], 2), "median_epoch_s": round(med, 2),
                    "epoch_s": [round(v, 2) for v in row["seconds"]],
                    "final_train_loss": round(row["losses"][-1], 4),
                    "losses": [round(v, 4) for v in row["losses"]],
                    "fp32_loss_train": round(_evaluate(judge, x, y, 32), 4),
                    "fp32_loss_heldout": round(_evaluate(judge, xh, yh, 32), 4)})
    plain = next((r for r in rows if r["variant"] == "plain"), None)
    for o, row in zip(out, rows):
        # per round (the epochs that ran side by side), plain's time over this variant's; median
        pairs = list(zip(plain["seconds"], row["seconds"]))[1:] if plain else []
        o["speedup_vs_plain"] = round(float(np.median([a / b for a, b in pairs])), 2) if pairs else None
    return out


AIS_EPOCH_S = {"Eman2": 7.3, "VGGNet M": 16.5}  # Ais 1.2.40, TensorFlow 2.15, same machine type


def paired_summary(results: list[dict]) -> list[str]:
    """Markdown rows: per architecture and variant (``default``, ``bf16``, ...), the float32
    losses and epoch times averaged over the initial weights run both in float32 and that way."""
    def split(name):
        seed, parts = split_variant(name)
        return f"seed{seed}", "+".join(p for p in parts if p != "plain") or "float32"

    lines = []
    for arch in dict.fromkeys(r["arch"] for r in results):
        rows = {split(r["variant"]): r for r in results if r["arch"] == arch}
        for kind in dict.fromkeys(k for _, k in rows if k != "float32"):
            seeds = sorted(s for s, k in rows if k == kind and (s, "float32") in rows)
            if len(seeds) < 2:
                continue
            pair = [(rows[(s, "float32")], rows[(s, kind)]) for s in seeds]
            def mean(key, i):
                return float(np.mean([p[i][key] for p in pair]))
            ref = AIS_EPOCH_S.get(arch)
            vs_ais = f"{ref / mean('median_epoch_s', 1):.2f}x" if ref else "-"
            lines.append(
                f"| {arch} | {kind} | {len(seeds)} ({', '.join(seeds)}) | {mean('median_epoch_s', 0):.2f} | "
                f"{mean('median_epoch_s', 1):.2f} | {np.median([p[0]['median_epoch_s'] / p[1]['median_epoch_s'] for p in pair]):.2f}x | "
                f"{vs_ais} | {mean('final_train_loss', 0):.4f} / {mean('final_train_loss', 1):.4f} | "
                f"{mean('fp32_loss_train', 0):.4f} / {mean('fp32_loss_train', 1):.4f} | "
                f"{mean('fp32_loss_heldout', 0):.4f} / {mean('fp32_loss_heldout', 1):.4f} |")
    if lines:
        lines = ["| architecture | variant | initial weights | float32 epoch (s) | variant epoch (s) | "
                 "vs float32 | vs Ais 1.2.40 | last epoch loss, fp32 / variant | fp32 loss training, "
                 "fp32 / variant | fp32 loss held-out, fp32 / variant |",
                 "|---|---|---|---|---|---|---|---|---|---|"] + lines
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--archs", default="Eman2,VGGNet M")
    ap.add_argument("--variants", default="plain,default",
                    help="comma-separated: plain, default, fit, seed1, xla, bf16, fft and + combinations "
                         "(e.g. fft+xla, seed1+bf16, seed2+default)")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--tiles", type=int, default=512)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)

    from ais_like.backend import keras

    k = keras()
    cpu, simd = cpu_info()
    import tensorflow as tf

    head = {"date": time.strftime("%Y-%m-%d %H:%M"), "cpu": cpu, "simd": simd,
            "cores": len(os.sched_getaffinity(0)), "python": platform.python_version(),
            "tensorflow": tf.__version__, "keras": k.__version__, "load_start": os.getloadavg()}
    print(json.dumps(head), flush=True)
    ts, held, train_slices, held_slices = training_sets(args.tiles, 256)
    print(f"training tiles {len(ts)} from slices {train_slices}; held-out {len(held)} from {held_slices}", flush=True)
    results = []
    for title in [a.strip() for a in args.archs.split(",") if a.strip()]:
        results += bench_arch(title, [v.strip() for v in args.variants.split(",") if v.strip()], args.epochs, ts,
                              held, lambda m: print(m, flush=True))
    head["load_end"] = os.getloadavg()
    print("\n| architecture | variant | what | first epoch (s) | median later epoch (s) | vs plain | "
          "last epoch loss | fp32 loss, training tiles | fp32 loss, held-out |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['arch']} | {r['variant']} | {r['what']} | {r['first_epoch_s']} | {r['median_epoch_s']} | "
              f"{r['speedup_vs_plain']}x | {r['final_train_loss']} | {r['fp32_loss_train']} | {r['fp32_loss_heldout']} |")
    summary = paired_summary(results)
    if summary:
        print("\nMeans over initial weights (each run in float32 and in the variant):\n")
        print("\n".join(summary))
    print(f"\nload average at start {head['load_start']}, at end {head['load_end']}")
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": head, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
