"""Time and peak memory of particle picking and meshing on a 200 x 512 x 512 prediction volume.

The volume is synthetic and made here (deterministic): ~200 soft particles (radius 5-8 voxels,
some touching in pairs), 6 vesicle membranes (shells 4 voxels thick) and specks of noise, stored
as uint8 0..255 in an MRC file (as ``ais-like segment`` writes), then read memory-mapped.

Run:  PYTHONPATH=. python benchmarks/bench_pick_mesh.py [--quick] [--out FILE.json]

Each measurement runs in a fresh process so that its peak resident memory (ru_maxrss) is its own.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SHAPE = (200, 512, 512)
APIX = 10.0


def make_volume(shape=SHAPE, seed=0, n_particles=200, n_vesicles=6):
    """uint8 (z, y, x) prediction with particles and membranes; returns (volume, centres zyx)."""
    rng = np.random.default_rng(seed)
    vol = np.zeros(shape, np.uint8)
    nz, ny, nx = shape
    centres = []
    while len(centres) < n_particles:
        r = rng.uniform(5, 8)
        c = np.array([rng.uniform(r + 2, nz - r - 2), rng.uniform(r + 2, ny - r - 2), rng.uniform(r + 2, nx - r - 2)])
        if all(np.linalg.norm(c - q) > 2 * 8 + 1 for q, _ in centres):
            centres.append((c, r))
    for c, r in centres:
        lo = np.maximum(np.floor(c - r - 2).astype(int), 0)
        hi = np.minimum(np.ceil(c + r + 3).astype(int), shape)
        zz, yy, xx = np.ogrid[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
        d = np.sqrt((zz - c[0]) ** 2 + (yy - c[1]) ** 2 + (xx - c[2]) ** 2)
        p = (np.clip(1.0 - d / (r * 1.6), 0, 1) * 255).astype(np.uint8)
        sub = vol[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
        np.maximum(sub, p, out=sub)
    for _ in range(n_vesicles):
        r = rng.uniform(40, 80)
        c = np.array([rng.uniform(60, nz - 60), rng.uniform(r, ny - r), rng.uniform(r, nx - r)])
        lo = np.maximum(np.floor(c - r - 4).astype(int), 0)
        hi = np.minimum(np.ceil(c + r + 5).astype(int), shape)
        zz, yy, xx = np.ogrid[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
        d = np.abs(np.sqrt((zz - c[0]) ** 2 + (yy - c[1]) ** 2 + (xx - c[2]) ** 2) - r)
        p = (np.clip(1.0 - d / 4.0, 0, 1) * 255).astype(np.uint8)
        sub = vol[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
        np.maximum(sub, p, out=sub)
    specks = rng.integers(0, np.array(shape), size=(3000, 3))
    vol[specks[:, 0], specks[:, 1], specks[:, 2]] = 200
    return vol, np.array([c for c, _ in centres])


def machine() -> dict:
    info = {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        mem = Path("/proc/meminfo").read_text().split("\n")[0].split()[1]
        info["ram_GiB"] = round(int(mem) / 1024 ** 2, 1)
    except OSError:
        pass
    import scipy
    import skimage

    info.update(numpy=np.__version__, scipy=scipy.__version__, skimage=skimage.__version__)
    return info


def _child(task: str, path: str, args: dict) -> None:
    """Run one measurement (in its own process) and print a JSON line."""
    from ais_like.volume import open_volume

    t0 = time.perf_counter()
    with open_volume(path) as vol:
        if task == "pick":
            from ais_like.picking import pick_particles

            picks = pick_particles(vol.data, vol.apix, **args)
            result = {"n_particles": len(picks)}
        else:
            from ais_like.mesh import mesh_volume

            mesh = mesh_volume(vol.data, vol.apix, **args)
            result = {"n_pieces": len(mesh.pieces), "n_faces": mesh.n_faces}
    result["seconds"] = time.perf_counter() - t0
    result["peak_rss_MiB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(result))


def measure(task: str, path: Path, args: dict) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent) + os.pathsep + env.get("PYTHONPATH", "")
    code = f"import sys; sys.path.insert(0, {str(Path(__file__).resolve().parent)!r}); " \
           f"import bench_pick_mesh as b; b._child({task!r}, {str(path)!r}, {args!r})"
    base = subprocess.run([sys.executable, "-c", "import resource, numpy, scipy.ndimage, skimage.measure, "
                           "skimage.segmentation; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"],
                          capture_output=True, text=True, env=env, check=True)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(out.stdout + out.stderr)
    res = json.loads(line[7:])
    res["imports_rss_MiB"] = round(float(base.stdout.strip()), 1)
    res["args"] = args
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a 64 x 256 x 256 volume with 50 particles")
    ap.add_argument("--out", default=None, help="also write the results as JSON here")
    a = ap.parse_args()
    from ais_like.volume import Header, write_volume

    shape = (64, 256, 256) if a.quick else SHAPE
    n = 50 if a.quick else 200
    t0 = time.perf_counter()
    vol, centres = make_volume(shape, n_particles=n, n_vesicles=2 if a.quick else 6)
    made = time.perf_counter() - t0
    results = {"machine": machine(), "shape_zyx": list(shape), "apix": APIX, "n_true_particles": int(len(centres)),
               "volume_MiB": round(vol.nbytes / 2 ** 20, 1), "make_seconds": round(made, 1), "runs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench__Particle.mrc"
        write_volume(path, vol, Header(apix=APIX))
        del vol
        runs = {
            "pick": ("pick", dict(threshold=0.5, min_volume=50 * APIX ** 3, min_spacing=100.0)),
            "pick bin 2": ("pick", dict(threshold=0.5, min_volume=50 * APIX ** 3, min_spacing=100.0, bin=2)),
            "mesh": ("mesh", dict(threshold=0.5, dust=50 * APIX ** 3)),
            "mesh bin 2, smooth 10, decimate 200k": ("mesh", dict(threshold=0.5, bin=2, dust=50 * APIX ** 3,
                                                                  smooth=10, decimate=200_000)),
        }
        for label, (task, args) in runs.items():
            results["runs"][label] = measure(task, path, args)
            r = results["runs"][label]
            print(f"{label:40s} {r['seconds']:6.2f} s   peak RSS {r['peak_rss_MiB']:7.1f} MiB "
                  f"(imports alone {r['imports_rss_MiB']:.0f} MiB)   "
                  + ", ".join(f"{k} {v}" for k, v in r.items() if k.startswith("n_")), flush=True)
    if a.out:
        Path(a.out).write_text(json.dumps(results, indent=1))
    print(json.dumps(results["machine"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
