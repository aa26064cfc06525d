"""Throughput of ``ais-like batch`` (tomograms per minute) with 1 and 2 local Dask workers.

A batch of synthetic float32 tomograms (noise, 10 Å/px) is segmented by one model of a built-in
architecture (random weights: the speed of a network does not depend on its weights), through
:func:`ais_like.batch.run_batch` on a local cluster started by :func:`ais_like.batch.connect`,
exactly as the ``batch`` command runs it. For each number of workers:

- ``cold``: a fresh cluster and output folder; includes each worker importing TensorFlow and
  loading the model (what a user waits for), but not the cluster's start-up;
- ``warm``: a second batch of new tomograms on the same cluster (models already loaded): the
  steady rate of a long overnight run.

Each worker count is measured ``--repeat`` times, interleaved (1, 2, 1, 2, ...), and the medians
are reported with every run and the load average after it: the development machine is shared.

With ``--pick --mesh`` every segmentation is also picked and meshed.

Run:  PYTHONPATH=. python benchmarks/bench_batch.py [--n 8] [--shape 64,256,256] [--model "UNet S"]
                                                     [--workers 1,2] [--repeat 3] [--pick --mesh]
                                                     [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def make_model(folder: Path, architecture: str) -> Path:
    from ais_like.archive import make_metadata, save_scnm
    from ais_like.registry import get_architecture

    arch = get_architecture(architecture)
    model = arch.create((None, None, 1))
    meta = make_metadata("Membrane", arch.title, apix=10.0, ais_like={"divisor": arch.divisor})
    return save_scnm(folder / "membrane.scnm", model, meta)


def make_tomograms(folder: Path, n: int, shape, seed: int) -> Path:
    from ais_like.volume import Header, write_volume

    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        write_volume(folder / f"TS_{seed}_{i:03d}.mrc", rng.normal(size=shape).astype(np.float32), Header(apix=10.0))
    return folder


def measure(workers: int, model: Path, root: Path, n: int, shape, pick: bool, mesh: bool, tag: str) -> dict:
    from ais_like.batch import connect, plan_batch, run_batch

    opts = dict(pick=dict(min_volume_px=50, min_spacing_px=5, fmt="star") if pick else None,
                mesh=dict(bin=2) if mesh else None)
    t0 = time.perf_counter()
    with connect(workers=workers, gpus=0, dashboard=None) as conn:
        startup = time.perf_counter() - t0
        rows = {}
        for phase, seed in (("cold", 1), ("warm", 2)):
            data = make_tomograms(root / f"data-{tag}-{phase}", n, shape, seed)
            plan = plan_batch(str(data), [str(model)], root / f"out-{tag}-{phase}", **opts)
            t = time.perf_counter()
            summary = run_batch(plan, client=conn)
            seconds = time.perf_counter() - t
            assert summary.ok and len(summary.done) == n, summary.lines()
            shutil.rmtree(data)
            shutil.rmtree(plan.settings.out_dir)
            rows[phase] = {"seconds": round(seconds, 2), "tomograms_per_minute": round(60 * n / seconds, 2)}
    return {"workers": workers, "cluster_startup_s": round(startup, 2), **rows,
            "load_average_1min_after": round(os.getloadavg()[0], 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=8, help="tomograms per batch (default: 8)")
    ap.add_argument("--shape", default="64,256,256", help="z,y,x of each tomogram (default: 64,256,256)")
    ap.add_argument("--model", default="UNet S", help="architecture (default: UNet S)")
    ap.add_argument("--workers", default="1,2", help="worker counts to compare (default: 1,2)")
    ap.add_argument("--repeat", type=int, default=3,
                    help="measure each worker count this many times, interleaved (default: 3)")
    ap.add_argument("--pick", action="store_true")
    ap.add_argument("--mesh", action="store_true")
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    args = ap.parse_args()
    shape = tuple(int(s) for s in args.shape.split(","))
    with tempfile.TemporaryDirectory(prefix="bench_batch_") as tmp:
        root = Path(tmp)
        model = make_model(root, args.model)
        counts = [int(w) for w in args.workers.split(",")]
        runs = [measure(w, model, root, args.n, shape, args.pick, args.mesh, f"{w}-{r}")
                for r in range(args.repeat) for w in counts]
    results = []
    for w in counts:
        mine = [r for r in runs if r["workers"] == w]
        results.append({"workers": w, "runs": mine, **{
            f"{phase}_tomograms_per_minute_median": round(float(np.median([r[phase]["tomograms_per_minute"]
                                                                           for r in mine])), 2)
            for phase in ("cold", "warm")}})
    report = {"machine": {"cpus": len(os.sched_getaffinity(0)), "python": platform.python_version(),
                          "platform": platform.platform()},
              "batch": {"n": args.n, "shape_zyx": list(shape), "model": args.model, "pick": args.pick, "mesh": args.mesh},
              "results": results}
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
