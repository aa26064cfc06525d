"""Speed of every architecture: slice inference, volume throughput and memory, training, FLOPs.

    .venv/bin/python benchmarks/bench_models.py [--archs "Eman2,VGGNet M"] [--quick]
        [--volume-slices 200] [--volume-archs ...] [--json OUT.json]

Records the machine (CPU model, cores, load, library versions, numpy's float32 matrix-multiply
rate on 2048^3) and, per architecture (random weights: speed does not depend on them):

- ms per slice through ``ais_like.segment.Predictor`` (normalisation, context padding, network,
  crop) on a 512 x 512 and a 720 x 511 slice, at batch 1 and the best of the batches tried;
  Eman2 both with the FFT path (default on the CPU) and with Keras, VGGNet M also in bfloat16
  (with the largest probability difference to float32);
- FLOPs per slice: 2 x multiply-adds of every convolution at its resolution, for the input the
  network actually sees; achieved GFLOP/s and its fraction of the matrix-multiply rate;
- slices/s segmenting a synthetic float32 MRC (N x 512 x 512) with ``segment_volume``, and the
  process's peak memory (VmHWM) and the memory after loading (fresh process per run);
- seconds per training epoch (16 batches of 32 tiles of 64 x 64, ``ais_like.training.train``):
  the first epoch (with graph tracing) and the mean of the next ones, and the final loss, for
  the model as compiled ("plain") and for the faster copy ``train_feature_model`` trains
  (``training_speedups``; benchmarks/bench_training.py compares them interleaved).

Every measurement runs in a fresh subprocess. The machine may be shared: compare figures of the
same run, and look at the load average printed with them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SLICES = {"512x512": (512, 512), "720x511": (720, 511)}


# ---------------------------------------------------------------------------------------------
# Machine


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_flags() -> set:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def sgemm_gflops(n: int = 2048, repeats: int = 5) -> float:
    rng = np.random.default_rng(0)
    a = rng.random((n, n), np.float32)
    b = rng.random((n, n), np.float32)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * n ** 3 / best / 1e9


def machine() -> dict:
    import scipy

    flags = cpu_flags()
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count()
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 ** 2:.1f} GiB"
    except OSError:
        pass
    versions = _child({"task": "versions"})
    return {"date": time.strftime("%Y-%m-%d %H:%M"), "cpu": cpu_model(), "cores": cores, "memory": mem,
            "simd": " ".join(sorted(f for f in flags if f.startswith(("avx512f", "avx512_bf16", "amx")) or f == "avx2")),
            "python": platform.python_version(), "numpy": np.__version__, "scipy": scipy.__version__,
            **versions, "sgemm_gflops": round(sgemm_gflops(), 1), "load": os.getloadavg()}


# ---------------------------------------------------------------------------------------------
# Children (each in a fresh process)


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _vm(field: str) -> float:
    """A /proc/self/status field in MiB (VmHWM: peak resident memory, VmRSS: now)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _loaded(title: str):
    from ais_like.archive import LoadedModel, make_metadata
    from ais_like.backend import keras
    from ais_like.registry import get_architecture

    keras().utils.set_random_seed(0)
    arch = get_architecture(title)
    model = arch.create((None, None, 1))
    meta = make_metadata(title, arch.title, apix=10.0,
                         ais_like={"divisor": arch.divisor, "preprocess": {"normalisation": "slice", "clamp": 4.0}})
    return LoadedModel(model, meta), arch


def conv_flops(title: str, h: int, w: int) -> int:
    """2 x multiply-adds of the convolution / dense layers of ``title`` built for an (h, w) input."""
    from ais_like.registry import get_architecture

    model = get_architecture(title).create((h, w, 1))
    model = getattr(model, "generator", model)
    total = 0
    for layer in model.layers:
        kind = type(layer).__name__
        if kind not in ("Conv2D", "Conv2DTranspose", "DepthwiseConv2D", "SeparableConv2D", "Dense"):
            continue
        cin = int(layer.input.shape[-1])
        out = layer.output.shape
        if kind == "Dense":
            total += 2 * int(np.prod(out[1:-1])) * cin * int(out[-1])
            continue
        kh, kw = layer.kernel_size
        if kind == "Conv2DTranspose":  # every input pixel scatters a kernel
            ih, iw = int(layer.input.shape[1]), int(layer.input.shape[2])
            total += 2 * ih * iw * kh * kw * cin * int(out[-1])
            continue
        oh, ow, cout = int(out[1]), int(out[2]), int(out[3])
        groups = int(getattr(layer, "groups", 1) or 1)
        if kind == "DepthwiseConv2D":
            total += 2 * oh * ow * kh * kw * cout
        elif kind == "SeparableConv2D":
            mid = cin * int(layer.depth_multiplier)
            total += 2 * oh * ow * (kh * kw * mid + mid * cout)
        else:
            total += 2 * oh * ow * kh * kw * cin // groups * cout
    return total


def child_versions(_):
    from ais_like.backend import keras

    k = keras()
    out = {"keras": k.__version__, "backend": k.backend.backend()}
    try:
        import tensorflow as tf

        out["tensorflow"] = tf.__version__
    except ImportError:
        pass
    return out


def child_infer(job):
    """ms per slice at each batch size, for each slice size."""
    from ais_like import segment

    title, mode = job["arch"], job["mode"]
    loaded, arch = _loaded(title)
    pred = segment.Predictor(loaded, fft=(mode == "fft"), bf16=(mode == "bf16"))
    rng = np.random.default_rng(0)
    res = {"arch": title, "mode": mode, "params": int(loaded.model.count_params()), "slices": {}}
    ref = segment.Predictor(loaded, fft=False, bf16=False) if mode in ("fft", "bf16") else None
    for name, (h, w) in SLICES.items():
        per = {}
        for bs in job["batches"]:
            x = rng.normal(size=(bs, h, w)).astype(np.float32)
            pred.batch_size = bs
            pred.predict(x)  # warm-up: tracing, kernel spectra
            times = [_timed(lambda: pred.predict(x)) / bs for _ in range(job["repeats"])]
            per[bs] = round(1e3 * min(times), 1)
        c = pred.context
        H, W = h + 2 * c, w + 2 * c
        H, W = H + (-H) % pred.divisor, W + (-W) % pred.divisor
        flops = conv_flops(title, H, W)
        best_bs = min(per, key=per.get)
        entry = {"ms": per, "batch1_ms": per[1] if 1 in per else None, "best_ms": per[best_bs], "best_batch": best_bs,
                 "network_input": [H, W], "gflop": round(flops / 1e9, 2),
                 "gflops_rate": round(flops / 1e9 / (per[best_bs] / 1e3), 1)}
        if ref is not None:
            x = rng.normal(size=(1, h, w)).astype(np.float32)
            x[:, h // 4:h // 2, w // 4:w // 2] += 2.0
            a, b = pred.predict(x), ref.predict(x)
            entry["max_diff_vs_keras_fp32"] = float(np.abs(a - b).max())
            entry["mean_diff_vs_keras_fp32"] = float(np.abs(a - b).mean())
            entry["flipped_at_0.5"] = float(np.mean((a > 0.5) != (b > 0.5)))
        res["slices"][name] = entry
    res["peak_mib"] = round(_vm("VmHWM"))
    return res


def child_volume(job):
    """Segment job['path'] with a random-weight model; time and memory."""
    from ais_like import segment
    from ais_like.volume import open_volume

    loaded, _ = _loaded(job["arch"])
    os.environ["AIS_LIKE_BF16"] = "1" if job["mode"] == "bf16" else "0"  # "keras", "fft": float32
    if job["mode"] == "keras":
        os.environ["AIS_LIKE_NO_FFT"] = "1"
    with open_volume(job["path"]) as vol:
        segment.Predictor(loaded).predict(np.asarray(vol.data[0], np.float32))  # warm-up (tracing)
        after_load = _vm("VmRSS")
        t = _timed(lambda: segment.segment_volume([loaded], vol, job["out"]))
        nz = vol.shape[0]
    return {"arch": job["arch"], "mode": job["mode"], "slices": nz, "seconds": round(t, 2),
            "slices_per_s": round(nz / t, 2), "peak_mib": round(_vm("VmHWM")), "after_load_mib": round(after_load)}


def child_train(job):
    """Seconds per epoch of 16 batches of 32 tiles of 64 x 64."""
    from ais_like.backend import keras
    from ais_like.registry import get_architecture
    from ais_like.training import compile_for_training, train, training_copy, training_speedups
    from ais_like.trainset import TrainingSet

    rng = np.random.default_rng(0)
    n = 16 * 32
    images = rng.normal(size=(n, 64, 64)).astype(np.float32)
    yy, xx = np.mgrid[:64, :64]
    labels = np.zeros((n, 64, 64), np.uint8)
    for i in range(n):  # a bright disc per tile, its pixels labelled
        cy, cx, r = rng.integers(16, 48, 2).tolist() + [int(rng.integers(5, 12))]
        disc = (yy - cy) ** 2 + (xx - cx) ** 2 < r * r
        images[i][disc] += 1.5
        labels[i][disc] = 1
    ts = TrainingSet(images, labels, 10.0, "Disc", "slice", {})
    keras().utils.set_random_seed(0)
    model = get_architecture(job["arch"]).create((None, None, 1))
    if job.get("jit") is not None and hasattr(model, "layers"):
        compile_for_training(model, jit_compile=bool(job["jit"]))
    how = "XLA" if job.get("jit") else "plain"
    if job.get("fast"):  # what train_feature_model trains (benchmarks/bench_training.py compares in detail)
        sp = training_speedups(model)
        how = "+".join(k for k, v in sp.items() if v) or "plain"
        model = training_copy(model, **sp) if any(sp.values()) else model
    r = train(model, ts, epochs=job["epochs"], batch_size=32)
    s = r.seconds_per_epoch
    return {"arch": job["arch"], "jit": job.get("jit"), "how": how, "first_epoch_s": round(s[0], 2),
            "epoch_s": round(float(np.mean(s[1:])) if len(s) > 1 else s[0], 2),
            "losses": [round(v, 4) for v in r.history["loss"]], "peak_mib": round(_vm("VmHWM"))}


CHILDREN = {"versions": child_versions, "infer": child_infer, "volume": child_volume, "train": child_train}


def _child(job: dict, timeout: float = 3600) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    r = subprocess.run([sys.executable, __file__, "--child", json.dumps(job)], env=env, capture_output=True,
                       text=True, timeout=timeout)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    if r.returncode != 0 or not lines:
        return {"error": (r.stderr.strip().splitlines() or ["failed"])[-1], **job}
    return json.loads(lines[-1])


# ---------------------------------------------------------------------------------------------
# Main


def write_volume_file(folder: Path, nz: int) -> Path:
    from ais_like.volume import Header, VolumeWriter

    rng = np.random.default_rng(0)
    path = folder / f"bench_{nz}.mrc"
    w = VolumeWriter(path, (nz, 512, 512), np.float32, Header(apix=10.0))
    for z in range(0, nz, 16):
        k = min(16, nz - z)
        w.write(z, rng.normal(size=(k, 512, 512)).astype(np.float32))
    w.commit()
    return path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--archs", help="comma-separated titles (default: every architecture)")
    p.add_argument("--quick", action="store_true", help="batches 1,4, one timing repeat, 16-slice volume, 2 epochs")
    p.add_argument("--batches", default=None, help="batch sizes to try (default 1,2,4,8; quick 1,4)")
    p.add_argument("--repeats", type=int, default=None, help="timings per figure, the fastest kept (default 3)")
    p.add_argument("--volume-slices", type=int, default=None, help="slices of the 512 x 512 volume (default 200)")
    p.add_argument("--volume-archs", default=None, help="architectures to run the volume on (default: all)")
    p.add_argument("--epochs", type=int, default=None, help="training epochs (default 3; the first is reported apart)")
    p.add_argument("--no-infer", action="store_true")
    p.add_argument("--no-volume", action="store_true")
    p.add_argument("--no-train", action="store_true")
    p.add_argument("--train-jit", action="store_true", help="also train with XLA (jit_compile=True)")
    p.add_argument("--json", help="write all results here")
    p.add_argument("--child", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.child:
        job = json.loads(a.child)
        print(json.dumps(CHILDREN[job["task"]](job)))
        return 0

    from ais_like.registry import list_architectures

    titles = [t.strip() for t in a.archs.split(",")] if a.archs else [x.title for x in list_architectures()]
    batches = [int(b) for b in (a.batches or ("1,4" if a.quick else "1,2,4,8")).split(",")]
    repeats = a.repeats or (1 if a.quick else 3)
    nz = a.volume_slices or (16 if a.quick else 200)
    epochs = a.epochs or (2 if a.quick else 3)
    vol_titles = [t.strip() for t in a.volume_archs.split(",")] if a.volume_archs else titles
    bf16_ok = bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})

    results = {"machine": machine(), "infer": [], "volume": [], "train": []}
    print(json.dumps(results["machine"]), flush=True)

    def modes(title):
        m = ["fft", "keras"] if title == "Eman2" else ["keras"]
        if bf16_ok and title == "VGGNet M":
            m.append("bf16")
        return m

    if not a.no_infer:
        for title in titles:
            for mode in modes(title):
                r = _child({"task": "infer", "arch": title, "mode": mode, "batches": batches, "repeats": repeats})
                r["load"] = os.getloadavg()[0]
                results["infer"].append(r)
                print(json.dumps(r), flush=True)
    if not a.no_volume:
        with tempfile.TemporaryDirectory() as tmp:
            path = write_volume_file(Path(tmp), nz)
            for title in vol_titles:
                for mode in modes(title):
                    out = Path(tmp) / f"out_{len(results['volume'])}"
                    out.mkdir()
                    r = _child({"task": "volume", "arch": title, "mode": mode, "path": str(path), "out": str(out)})
                    r["load"] = os.getloadavg()[0]
                    results["volume"].append(r)
                    print(json.dumps(r), flush=True)
    if not a.no_train:
        for title in titles:
            for extra in [{"jit": None}, {"fast": True}] + ([{"jit": True}] if a.train_jit else []):
                r = _child({"task": "train", "arch": title, "epochs": epochs, **extra})
                r["load"] = os.getloadavg()[0]
                results["train"].append(r)
                print(json.dumps(r), flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=1))
    print()
    print(markdown(results))
    return 0


def markdown(results: dict) -> str:
    """The results as the tables of benchmarks/RESULTS.md."""
    m = results["machine"]
    lines = [f"{m['date']}, {m['cpu']}, {m['cores']} cores ({m['simd']}), {m['memory']}; Python {m['python']}, "
             f"numpy {m['numpy']}, scipy {m['scipy']}, TensorFlow {m.get('tensorflow', '-')}, Keras {m['keras']}; "
             f"numpy SGEMM 2048^3: {m['sgemm_gflops']} GFLOP/s; load average at start "
             f"{', '.join(f'{x:.2f}' for x in m['load'])}.", ""]
    if results["infer"]:
        lines += ["| architecture | path | params | slice | network input | batch 1 (ms) | best batch (ms) | "
                  "GFLOP/slice | GFLOP/s | of SGEMM | vs Keras fp32 (max abs) | load |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in results["infer"]:
            if "error" in r:
                lines.append(f"| {r['arch']} | {r['mode']} | error: {r['error']} |||||||||||")
                continue
            for name, e in r["slices"].items():
                diff = e.get("max_diff_vs_keras_fp32")
                lines.append(
                    f"| {r['arch']} | {r['mode']} | {r['params'] / 1e6:.2f} M | {name} | {e['network_input'][0]} x "
                    f"{e['network_input'][1]} | {e['batch1_ms']} | {e['best_ms']} (batch {e['best_batch']}) | "
                    f"{e['gflop']} | {e['gflops_rate']} | {e['gflops_rate'] / m['sgemm_gflops']:.0%} | "
                    f"{'-' if diff is None else f'{diff:.1e}'} | {r['load']:.1f} |")
        lines.append("")
    if results["volume"]:
        lines += ["| architecture | path | volume | time (s) | slices/s | peak memory (MiB) | after loading (MiB) | load |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in results["volume"]:
            if "error" in r:
                lines.append(f"| {r['arch']} | {r['mode']} | error: {r['error']} ||||||")
                continue
            lines.append(f"| {r['arch']} | {r['mode']} | {r['slices']} x 512 x 512 | {r['seconds']} | "
                         f"{r['slices_per_s']} | {r['peak_mib']} | {r['after_load_mib']} | {r['load']:.1f} |")
        lines.append("")
    if results["train"]:
        lines += ["| architecture | training | first epoch (s) | later epochs (s/epoch) | loss per epoch | peak memory (MiB) | load |",
                  "|---|---|---|---|---|---|---|"]
        for r in results["train"]:
            if "error" in r:
                lines.append(f"| {r['arch']} | - | error: {r['error']} |||||")
                continue
            lines.append(f"| {r['arch']} | {r.get('how', 'plain')} | {r['first_epoch_s']} | {r['epoch_s']} | "
                         f"{', '.join(map(str, r['losses']))} | {r['peak_mib']} | {r['load']:.1f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
