"""Peak memory of segmenting a volume of large slices (4096 x 4096), to show that memory is
bounded by a few slices, not by the volume: a 1000 x 4096 x 4096 tomogram (64 GB of float32)
must segment on a 24 GB machine.

Runs `segment_volume` with an untrained Eman2 model (speed and memory do not depend on the
weights) on volumes of N and 2N slices in fresh processes and reports the peak of anonymous
resident memory (RssAnon, sampled every 50 ms: the memory the process itself holds; pages of
the memory-mapped input and output files are page cache the kernel reclaims, so they are
reported apart as the final RssFile), so the difference shows what grows with the slices.

    .venv/bin/python benchmarks/bench_large_slices.py [--side 4096] [--slices 4] [--arch Eman2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def child(side: int, nz: int, arch: str, folder: str) -> dict:
    import numpy as np

    from ais_like.archive import LoadedModel, make_metadata
    from ais_like.registry import get_architecture
    from ais_like.segment import segment_volume
    from ais_like.volume import Header, VolumeWriter, open_volume

    path = Path(folder) / f"big_{nz}.mrc"
    rng = np.random.default_rng(0)
    with VolumeWriter(path, (nz, side, side), np.float32, Header(apix=10.0)) as w:
        for z in range(nz):
            w.write(z, rng.normal(size=(1, side, side)).astype(np.float32))
    a = get_architecture(arch)
    model = LoadedModel(a.create((None, None, 1)), make_metadata("Big", a.title, apix=10.0,
                                                                 ais_like={"divisor": a.divisor}))
    base = _status()["RssAnon"]
    peak = [base]
    done = threading.Event()

    def sample():
        while not done.wait(0.05):
            peak[0] = max(peak[0], _status()["RssAnon"])

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.perf_counter()
    with open_volume(path) as vol:
        segment_volume([model], vol, folder)
    seconds = time.perf_counter() - t0
    done.set()
    sampler.join()
    return {"slices": nz, "side": side, "arch": arch, "seconds": round(seconds, 1),
            "seconds_per_slice": round(seconds / nz, 2), "peak_anon_mb": round(peak[0]),
            "anon_before_mb": round(base), "file_pages_mb": round(_status()["RssFile"]),
            "volume_mb": round(nz * side * side * 4 / 2**20)}


def _status() -> dict:
    """RssAnon / RssFile of this process in MB (Linux /proc)."""
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("RssAnon", "RssFile"):
            out[key] = int(value.split()[0]) / 1024
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--side", type=int, default=4096)
    ap.add_argument("--slices", type=int, default=4)
    ap.add_argument("--arch", default="Eman2")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--folder", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print("RESULT" + json.dumps(child(args.side, args.slices, args.arch, args.folder)))
        return
    results = []
    for nz in (args.slices, 2 * args.slices):
        with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as d:
            out = subprocess.run([sys.executable, __file__, "--child", "--side", str(args.side), "--slices", str(nz),
                                  "--arch", args.arch, "--folder", d], capture_output=True, text=True,
                                 env=dict(os.environ, PYTHONPATH=str(ROOT)), check=True)
            results.append(json.loads([ln for ln in out.stdout.splitlines() if ln.startswith("RESULT")][0][6:]))
            print(json.dumps(results[-1]))
    grow = results[1]["peak_anon_mb"] - results[0]["peak_anon_mb"]
    print(f"doubling the slices ({results[0]['volume_mb']} -> {results[1]['volume_mb']} MB of data) "
          f"changed peak anonymous memory by {grow:+d} MB")


if __name__ == "__main__":
    main()
