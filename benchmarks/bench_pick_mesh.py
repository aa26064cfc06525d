"""Time and peak memory of particle picking and meshing on a 200 x 512 x 512 prediction volume.

The volumes are synthetic and made here (deterministic), uint8 0..255 MRC files as ``ais-like
segment`` writes them, read memory-mapped:

- ``particles``: a particle model's prediction: 200 soft particles (radius 5-8 voxels), 3000
  one-voxel specks, and the six membranes below at probability 0.3 (a particle model's weak
  response to membranes, under the 0.5 threshold);
- ``membranes``: a membrane model's prediction: six vesicles (shells ~4 voxels thick, radius
  40-80 voxels);
- ``both``: particles and membranes at full strength in one volume: the worst case for the picker
  (every vesicle is one large component that it must split).

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


def make_volumes(shape=SHAPE, seed=0, n_particles=200, n_vesicles=6):
    """uint8 (z, y, x) predictions; returns ({"particles", "membranes", "both"}, centres zyx)."""
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
    specks = rng.integers(0, np.array(shape), size=(3000, 3))
    vol[specks[:, 0], specks[:, 1], specks[:, 2]] = 200
    particles_only = vol
    vol = np.zeros(shape, np.uint8)
    for _ in range(n_vesicles):
        r = rng.uniform(0.08, 0.16) * nx
        c = np.array([rng.uniform(0.3 * nz, 0.7 * nz), rng.uniform(r, ny - r), rng.uniform(r, nx - r)])
        lo = np.maximum(np.floor(c - r - 4).astype(int), 0)
        hi = np.minimum(np.ceil(c + r + 5).astype(int), shape)
        zz, yy, xx = np.ogrid[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
        d = np.abs(np.sqrt((zz - c[0]) ** 2 + (yy - c[1]) ** 2 + (xx - c[2]) ** 2) - r)
        p = (np.clip(1.0 - d / 4.0, 0, 1) * 255).astype(np.uint8)
        sub = vol[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
        np.maximum(sub, p, out=sub)
    membranes = vol
    particles = np.maximum(particles_only, (membranes.astype(np.uint16) * 3 // 10).astype(np.uint8))
    both = np.maximum(particles_only, membranes)
    return {"particles": particles, "membranes": membranes, "both": both}, np.array([c for c, _ in centres])


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
    result["seconds"] = round(time.perf_counter() - t0, 2)
    result["peak_rss_MiB"] = _peak_rss_mib()
    print("RESULT " + json.dumps(result))


def _peak_rss_mib() -> float:
    """VmHWM of this process (ru_maxrss would include the parent's memory at fork)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def measure(task: str, path: Path, args: dict) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent) + os.pathsep + env.get("PYTHONPATH", "")
    code = f"import sys; sys.path.insert(0, {str(Path(__file__).resolve().parent)!r}); " \
           f"import bench_pick_mesh as b; b._child({task!r}, {str(path)!r}, {args!r})"
    base = subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, %r); import bench_pick_mesh as b, "
                           "numpy, scipy.ndimage, scipy.spatial, skimage.measure, skimage.segmentation, "
                           "ais_like.picking, ais_like.mesh; print(b._peak_rss_mib())" % str(Path(__file__).resolve().parent)],
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
    vols, centres = make_volumes(shape, n_particles=n, n_vesicles=2 if a.quick else 6)
    made = time.perf_counter() - t0
    results = {"machine": machine(), "shape_zyx": list(shape), "apix": APIX, "n_true_particles": int(len(centres)),
               "volume_MiB": round(vols["particles"].nbytes / 2 ** 20, 1), "make_seconds": round(made, 1), "runs": {}}
    pick_args = dict(threshold=0.5, min_volume=50 * APIX ** 3, min_spacing=100.0)
    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for key, vol in vols.items():
            paths[key] = Path(tmp) / f"bench__{key}.mrc"
            write_volume(paths[key], vol, Header(apix=APIX))
        del vols, vol
        runs = {
            "pick particles": ("pick", "particles", pick_args),
            "pick particles, bin 2": ("pick", "particles", dict(pick_args, bin=2)),
            "pick particles + full membranes (worst case)": ("pick", "both", pick_args),
            "pick particles + full membranes, bin 2": ("pick", "both", dict(pick_args, bin=2)),
            "mesh membranes": ("mesh", "membranes", dict(threshold=0.5, dust=50 * APIX ** 3)),
            "mesh membranes, bin 2, smooth 10, decimate 200k": ("mesh", "membranes", dict(
                threshold=0.5, bin=2, dust=50 * APIX ** 3, smooth=10, decimate=200_000)),
            "mesh particles + membranes": ("mesh", "both", dict(threshold=0.5, dust=50 * APIX ** 3)),
            "mesh particles + membranes, smooth 10, decimate 200k": ("mesh", "both", dict(
                threshold=0.5, dust=50 * APIX ** 3, smooth=10, decimate=200_000)),
        }
        for label, (task, key, args) in runs.items():
            r = results["runs"][label] = measure(task, paths[key], args)
            print(f"{label:55s} {r['seconds']:6.2f} s   peak RSS {r['peak_rss_MiB']:7.1f} MiB "
                  f"(after imports {r['imports_rss_MiB']:.0f} MiB)   "
                  + ", ".join(f"{k} {v}" for k, v in r.items() if k.startswith("n_")), flush=True)
    if a.out:
        Path(a.out).write_text(json.dumps(results, indent=1))
    print(json.dumps(results["machine"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
