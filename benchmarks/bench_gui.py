"""Frame times of the workbench: a 1024 x 1024 slice with three model overlays, idle, while
browsing slices, and while a model trains in the worker process.

    xvfb-run -a -s "-screen 0 1400x900x24" .venv/bin/python benchmarks/bench_gui.py

Runs the real window (Mesa llvmpipe software rendering under Xvfb here), vsync off, frames
paced at most ``BUSY_FPS`` a second as the app's loop paces a busy window; the time of each
frame's work is what is recorded. Prints a table (median / 95th percentile / worst frame, the
share of frames over 33 ms) and the machine's details, for benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


class _Layer:
    def __init__(self, key, prob, colour):
        self.key, self.version, self.probability, self.colour = key, 0, prob, colour
        self.alpha, self.threshold, self.flat = 0.5, 0.5, False


class StaticOverlays:
    """Three fixed prediction layers over the slice, plus whatever a real preview shows."""

    def __init__(self, layers, inner=None):
        self.static, self.inner = layers, inner

    def update(self, state):
        if self.inner is not None:
            self.inner.update(state)

    def layers(self, state):
        return (list(self.inner.layers(state)) if self.inner is not None else []) + self.static

    def __getattr__(self, name):
        return getattr(self.inner, name)


def stats(times) -> dict:
    t = np.asarray(times) * 1000.0
    return {"frames": len(t), "median_ms": float(np.median(t)), "p95_ms": float(np.percentile(t, 95)),
            "max_ms": float(t.max()), "over_33ms_pct": float((t > 33.3).mean() * 100), "fps_median": 1000.0 / float(np.median(t))}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=300, help="frames per idle phase (default: %(default)s)")
    p.add_argument("--size", type=int, default=1024, help="slice side in pixels (default: %(default)s)")
    p.add_argument("--epochs", type=int, default=2, help="epochs of the training phase (default: %(default)s)")
    p.add_argument("--tiles", type=int, default=600, help="training tiles (default: %(default)s)")
    p.add_argument("--architecture", default="UNet S")
    args = p.parse_args(argv)

    from ais_like.gui import actions
    from ais_like.gui.state import AppState
    from ais_like.gui.testing import Harness
    from ais_like.volume import Header, write_volume

    n = args.size
    rng = np.random.default_rng(0)
    tmp = Path(tempfile.mkdtemp(prefix="ais_like_bench_gui_"))
    vol = rng.normal(size=(12, n, n)).astype(np.float32)
    yy, xx = np.mgrid[:n, :n]
    ring = np.abs(np.hypot(yy - n / 2, xx - n / 2) - n / 4) < 4
    vol[:, ring] -= 3.0
    path = write_volume(tmp / "big.mrc", vol, Header(apix=10.0))

    s = AppState()
    actions.apply(s, "add_dataset", path=path)
    feat = s.project.add_feature("membrane")
    for z in (3, 8):
        s.dataset.annotations.set_slice("membrane", z, ring.astype(np.uint8))
    blobs = []
    for i, colour in enumerate([(0.9, 0.3, 0.3), (0.3, 0.9, 0.4), (0.3, 0.5, 0.95)]):
        a = np.zeros((n, n), np.uint8)
        cy, cx = rng.integers(100, n - 100, size=(2, 40))
        for y, x in zip(cy, cx):
            a[max(0, y - 30):y + 30, max(0, x - 30):x + 30] = 200
        blobs.append(_Layer(f"static{i}", a, colour))
    s.preview = StaticOverlays(blobs)
    h = Harness(s)
    h.step(5)
    rows = {}
    from ais_like.gui.app import BUSY_FPS

    times: list[float] = []

    def paced_step():
        """One frame, then sleep out the rest of its 1/BUSY_FPS slot, as ais_like.gui.app.run
        paces a busy window (the other cores' time goes to training, as in real use)."""
        t0 = time.perf_counter()
        h.step()
        times.append(time.perf_counter() - t0)
        rest = 1.0 / BUSY_FPS - times[-1]
        if rest > 0:
            time.sleep(rest)

    times.clear()
    for _ in range(args.frames):
        paced_step()
    rows["1024² slice + 3 overlays, nothing changing"] = stats(times)
    print("idle phase done", flush=True)

    times.clear()
    for i in range(args.frames):
        if i % 5 == 0:
            s.request("step_z", dz=1 if (i // 5) % 20 < 10 else -1)
        paced_step()
    rows["... browsing (new slice every 5 frames)"] = stats(times)

    times.clear()
    for i in range(args.frames):
        s.request("pan", dx=2.0 if (i // 50) % 2 else -2.0, dy=0.0)
        paced_step()
    rows["... panning (the canvas redrawn every frame)"] = stats(times)

    s.preview = None  # the app makes its own live preview with the first model; the three
    s.request("new_model", feature=feat.name, architecture=args.architecture)  # static layers wrap it
    h.step(2)
    training = None
    if s.models.entries:
        entry = s.models.entries[-1]
        entry.epochs, entry.n_tiles = args.epochs, args.tiles
        from ais_like.gui.modelling import ensure_preview

        ensure_preview(s)
        s.preview = StaticOverlays(blobs, inner=s.preview)
        s.request("train_model", key=entry.key)
        h.run_until(lambda: entry.status == "training", timeout=300)
        times.clear()
        r0 = h.app.slice_renderer.redraws
        t0 = time.time()
        last = 0.0
        while entry.status == "training" and time.time() - t0 < 1800:
            paced_step()
            if time.time() - last > 10:
                last = time.time()
                print(f"  {time.time() - t0:5.0f} s: {entry.status} {getattr(entry, 'message', '')} "
                      f"{100 * getattr(entry, 'progress', 0):.0f} %", flush=True)
        training = time.time() - t0
        redraws = h.app.slice_renderer.redraws - r0
        rows[f"... while {args.architecture} trains ({args.epochs} epochs, {args.tiles} tiles)"] = stats(times)
        rows[f"... while {args.architecture} trains ({args.epochs} epochs, {args.tiles} tiles)"]["status"] = entry.status
    errors = [x.text for x in s.notifications if x.level == "error"]
    h.close()

    from OpenGL import GL  # noqa: F401  (the renderer string was read while the window was open)

    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    print(f"# {time.strftime('%Y-%m-%d')}, {cpu}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, "
          f"Python {platform.python_version()}, slice {n} x {n}")
    print("| phase | frames | median ms | p95 ms | worst ms | frames > 33 ms | median fps |")
    print("|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r['frames']} | {r['median_ms']:.1f} | {r['p95_ms']:.1f} | {r['max_ms']:.0f} | "
              f"{r['over_33ms_pct']:.1f} % | {r['fps_median']:.0f} |")
    if training is not None:
        print(f"training took {training:.0f} s of wall time; the canvas was redrawn {redraws} times "
              "(new predictions), copied in the other frames")
    for e in errors:
        print("error:", e)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
