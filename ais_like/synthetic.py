"""Synthetic cryo-ET-like tomograms with ground truth, for the demo, tests and benchmarks.

A tomogram is built as protein/lipid density on an empty (z, y, x) grid:

- vesicles: hollow ellipsoids whose wall is a lipid bilayer (two leaflets ~4 nm apart, so the
  membrane is ~4-5 nm thick);
- filaments: microtubule-like hollow tubes (25 nm across, 5 nm wall) and actin-like solid tubes
  (7 nm across), mostly lying in the XY plane;
- ribosome-sized particles: lumpy ~25 nm blobs made of a large and a small subunit;
- unlabelled "crowding": many small proteins at low contrast, so the background has texture;
- optionally a carbon edge (a dense slab on one side of the field).

The density is then imaged like a real tomogram: strong noise is added, the result is
low-passed (the microscope's and reconstruction's resolution limit) and the **missing wedge**
of a tilt series limited to ``±tilt_range`` degrees (tilt axis along Y) is removed in 3D Fourier
space, which smears every object along Z. The sign is flipped at the end, so density is dark on
a lighter background, as in real tomograms, and the volume is scaled to mean 0, standard
deviation 1.

Ground truth labels are uint8 masks (1 = feature). The membrane label is the bilayer where it
is *visible* after the missing wedge: caps of vesicles whose wall lies almost parallel to the
XY plane vanish in real tomograms and are not labelled here either; the label is never wider
than the density (|distance to the mid-plane| <= 2.25 nm).

Everything is deterministic by ``seed``.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

FEATURES = ("membrane", "filament", "ribosome")

# Sizes in nm.
BILAYER_LEAFLET_OFFSET = 2.0     # each leaflet's head groups sit ±2 nm from the mid-plane
BILAYER_LEAFLET_SIGMA = 0.7
MEMBRANE_HALF_WIDTH = 2.25       # label: |distance to the mid-plane| <= this
VESICLE_RADIUS = (14.0, 38.0)
MICROTUBULE_RADII = (7.5, 12.5)  # inner, outer
ACTIN_RADIUS = 3.5
RIBOSOME_RADIUS = 12.5
BARREL_RADIUS, BARREL_HALF_LENGTH = 5.5, 7.5  # a 20S-proteasome-like barrel
BARREL_REACH = math.hypot(BARREL_RADIUS, BARREL_HALF_LENGTH)
GOLD_RADIUS = 5.0


@dataclass
class SyntheticTomogram:
    """A synthetic tomogram and its ground truth.

    volume : float32 (z, y, x), dark density on a light background, mean 0, std 1.
    labels : {"membrane", "filament", "ribosome" (and "carbon" when made)} -> uint8 (z, y, x) 0/1.
    particles : float (n, 3) centres (z, y, x) in voxels of the main particle (``meta["particle"]``:
        "ribosome", or "proteasome" with ``particle_shape="barrel"``).
    apix : voxel size in Å.
    meta : the settings used (JSON-friendly).
    """

    volume: np.ndarray
    labels: dict
    particles: np.ndarray
    apix: float
    meta: dict = field(default_factory=dict)
    picks: dict = field(default_factory=dict)  # feature -> (n, 3) centres (z, y, x) of each particle kind
    membrane_all: np.ndarray | None = None  # uint8: the whole bilayer, caps the missing wedge hides included


def make_tomogram(shape: tuple[int, int, int] = (96, 256, 256), apix: float = 10.0, seed: int = 0, *,
                  n_vesicles: int | None = None, n_filaments: int | None = None,
                  n_ribosomes: int | None = None, carbon: bool = False, snr: float = 0.5,
                  tilt_range: float | None = 60.0, resolution: float = 30.0,
                  crowding: float = 1.0, bilayer_offset: float = BILAYER_LEAFLET_OFFSET,
                  particle_shape: str = "ribosome", membrane_proteins: int = 0,
                  gold: int = 0) -> SyntheticTomogram:
    """Make a synthetic tomogram with ground truth.

    Parameters
    ----------
    shape : (z, y, x) size in voxels.
    apix : voxel size in Å; object sizes are physical (nm), so they scale with it.
    seed : everything is determined by the seed.
    n_vesicles, n_filaments, n_ribosomes : counts; None picks a density typical of a cytoplasm
        (scaled with the field of view).
    carbon : add a carbon edge (a dense slab on the +x side; labelled "carbon").
    snr : variance of the imaged density over the variance of the imaged noise (after the same
        low-pass and missing wedge). Real tomograms are around 0.1-1 per voxel.
    tilt_range : maximum tilt in degrees (the tilt axis is Y); frequencies outside
        ``±tilt_range`` are removed. None: no missing wedge.
    resolution : Å; a Gaussian low-pass with half gain at this resolution (0/None: none).
    crowding : density of unlabelled small proteins relative to the default (0: none).
    bilayer_offset : nm from the bilayer's mid-plane to each leaflet's head groups (2.0; 1.5 is a
        thinner membrane); the membrane label is ±(offset + 0.25) nm.
    particle_shape : "ribosome" (two lumpy subunits, ~25 nm) or "barrel" (a proteasome-like
        stack of four rings, 11 nm across, 15 nm long, hollow axis); labelled "ribosome" or
        "proteasome".
    membrane_proteins : antibody-like Y-shaped particles (a 7 nm stem on the membrane's outer
        face and two 7 nm arms, 3 nm thick) on the vesicles; labelled "membrane_protein".
    gold : gold beads (10 nm across, ~5x the density of protein); labelled "gold".

    Objects added by the last three options come from their own random stream: without them,
    a seed gives the same tomogram as before they existed.

    Returns
    -------
    SyntheticTomogram
    """
    from scipy import fft

    shape = tuple(int(n) for n in shape)
    if len(shape) != 3 or min(shape) < 8:
        raise ValueError(f"shape must be (z, y, x) with every side >= 8, got {shape}")
    apix = float(apix)
    rng = np.random.default_rng(seed)
    nm = 10.0 / apix  # voxels per nm
    nz, ny, nx = shape
    area_nm2 = (ny / nm) * (nx / nm)
    vol_nm3 = area_nm2 * (nz / nm)
    if n_vesicles is None:
        n_vesicles = max(1, int(round(area_nm2 / 12000.0)))
    if n_filaments is None:
        n_filaments = max(1, int(round(area_nm2 / 30000.0)))
    if n_ribosomes is None:
        n_ribosomes = int(round(vol_nm3 / 200000.0))
    if particle_shape not in ("ribosome", "barrel"):
        raise ValueError(f"particle_shape must be 'ribosome' or 'barrel', got {particle_shape!r}")
    extra_rng = np.random.default_rng([int(seed), 7])  # the optional objects' own stream

    density = np.zeros(shape, np.float32)
    membrane_density = np.zeros(shape, np.float32)
    shell = np.zeros(shape, bool)
    filament = np.zeros(shape, np.uint8)
    ribosome = np.zeros(shape, np.uint8)
    carbon_mask = np.zeros(shape, np.uint8)
    occupied: list[tuple[np.ndarray, float]] = []  # spheres (centre zyx, radius) kept free

    vesicles = _place_vesicles(rng, shape, nm, n_vesicles, occupied)
    for centre, axes, rot in vesicles:
        _draw_vesicle(membrane_density, shell, centre, axes, rot, nm, bilayer_offset)
    density += membrane_density

    filaments = []
    for i in range(n_filaments):
        kind = "microtubule" if i % 3 == 0 else "actin"
        fil = _place_filament(rng, shape, nm, kind, occupied)
        if fil is not None:
            _draw_filament(density, filament, *fil, kind=kind, nm=nm)
            filaments.append(kind)

    picks: dict[str, np.ndarray] = {}
    if membrane_proteins and vesicles:
        mp_label = np.zeros(shape, np.uint8)
        centres = _draw_membrane_proteins(density, mp_label, extra_rng, vesicles, int(membrane_proteins), nm,
                                          bilayer_offset, occupied)
        picks["membrane_protein"] = centres

    particle = "ribosome" if particle_shape == "ribosome" else "proteasome"
    reach = RIBOSOME_RADIUS if particle_shape == "ribosome" else BARREL_REACH
    particles = _place_ribosomes(rng, shape, nm, n_ribosomes, occupied, carbon, radius_nm=reach)
    for c in particles:
        if particle_shape == "ribosome":
            _draw_ribosome(density, ribosome, c, rng, nm)
        else:
            _draw_barrel(density, ribosome, c, rng, nm)
    picks[particle] = np.asarray(particles, float).reshape(-1, 3)

    if gold:
        gold_label = np.zeros(shape, np.uint8)
        picks["gold"] = _draw_gold(density, gold_label, extra_rng, shape, nm, int(gold), occupied, carbon)

    if carbon:
        _draw_carbon(density, carbon_mask, rng, nm)

    if crowding > 0:
        density += _crowding(rng, shape, nm, crowding)

    # Imaging: noise, low-pass, missing wedge, all as one linear filter in Fourier space.
    transfer = _transfer(shape, apix, tilt_range, resolution)
    signal_f = fft.rfftn(density, workers=-1)
    imaged = fft.irfftn(signal_f * transfer, s=shape, workers=-1).astype(np.float32)
    signal_var = float(imaged.var())
    noise = rng.standard_normal(shape, dtype=np.float32)
    noise_f = fft.rfftn(noise, workers=-1) * transfer
    noise_img = fft.irfftn(noise_f, s=shape, workers=-1).astype(np.float32)
    noise_var = float(noise_img.var())
    if snr and snr > 0 and noise_var > 0:
        imaged += noise_img * np.float32(math.sqrt(signal_var / (snr * noise_var)))
    del noise, noise_f, noise_img, signal_f

    # The membrane label: the bilayer where it survives the missing wedge and low-pass.
    if shell.any():
        mem_img = fft.irfftn(fft.rfftn(membrane_density, workers=-1) * transfer, s=shape, workers=-1)
        peak = float(np.percentile(mem_img[shell], 95)) if shell.sum() > 20 else float(mem_img.max())
        membrane = (shell & (mem_img >= 0.4 * peak)).astype(np.uint8)
    else:
        membrane = shell.astype(np.uint8)

    volume = -imaged  # dark density on a light background
    volume -= volume.mean()
    sd = float(volume.std())
    if sd > 0:
        volume /= np.float32(sd)

    labels = {"membrane": membrane, "filament": filament, particle: ribosome}
    if carbon:
        labels["carbon"] = carbon_mask
    if "membrane_protein" in picks:
        labels["membrane_protein"] = mp_label
    if gold:
        labels["gold"] = gold_label
    meta = {"shape": list(shape), "apix": apix, "seed": int(seed), "n_vesicles": len(vesicles),
            "filaments": filaments, "n_ribosomes": int(len(particles)), "carbon": bool(carbon),
            "snr": snr, "tilt_range": tilt_range, "resolution": resolution, "crowding": crowding}
    if (bilayer_offset, particle_shape, membrane_proteins, gold) != (BILAYER_LEAFLET_OFFSET, "ribosome", 0, 0):
        meta.update(bilayer_offset=float(bilayer_offset), particle=particle,
                    n_membrane_proteins=len(picks.get("membrane_protein", [])), n_gold=len(picks.get("gold", [])))
    return SyntheticTomogram(volume=volume.astype(np.float32, copy=False), labels=labels,
                             particles=picks[particle], apix=apix, meta=meta, picks=picks,
                             membrane_all=shell.astype(np.uint8))


# ------------------------------------------------------------------------------------------
# Imaging


# ------------------------------------------------------------------------------------------
# Presets: tomograms unlike the demo's, for measuring quality on data nobody tuned on

BENCHMARK_SHAPE = (160, 512, 512)
PRESETS = {
    # the demo's settings (what the demo and most tests use), at the benchmark size
    "standard": {},
    "low_snr": {"snr": 0.2},  # noisier than the demo (0.5)
    "thin_bilayer": {"bilayer_offset": 1.5},  # ~3 nm between the leaflets instead of 4
    "crowded": {"crowding": 2.5, "density": 1.6},  # more background protein and more particles
    "proteasome": {"particle_shape": "barrel"},  # another particle shape (and size)
    "membrane_proteins": {"membrane_proteins": 60},  # antibody-like particles on the membranes
    "carbon_gold": {"carbon": True, "gold": 15},  # a carbon edge and gold beads
    # all of it at once: the hardest
    "mixed": {"snr": 0.3, "bilayer_offset": 1.6, "crowding": 2.0, "membrane_proteins": 40, "carbon": True,
              "gold": 10},
}


def preset_tomogram(name: str, seed: int = 1, shape=None, apix: float = 10.0) -> SyntheticTomogram:
    """A tomogram of the named :data:`PRESETS` entry (default size :data:`BENCHMARK_SHAPE`).
    ``density`` scales the default particle count; every other key is a :func:`make_tomogram`
    setting."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; presets: {', '.join(PRESETS)}")
    kw = dict(PRESETS[name])
    shape = tuple(BENCHMARK_SHAPE if shape is None else shape)
    scale = kw.pop("density", 1.0)
    if scale != 1.0:
        nm = 10.0 / apix
        kw["n_ribosomes"] = int(round(scale * np.prod(shape) / nm ** 3 / 200000.0))
    tomo = make_tomogram(shape=shape, apix=apix, seed=seed, **kw)
    tomo.meta["preset"] = name
    return tomo


def wedge_mask(shape: tuple[int, int, int], tilt_range: float) -> np.ndarray:
    """Boolean rfftn-layout (z, y, x//2+1) mask of the frequencies a ±tilt_range tilt series
    around the Y axis measures: |kz| <= tan(tilt_range) |kx| (and the origin)."""
    nz, ny, nx = shape
    kz = np.abs(np.fft.fftfreq(nz))[:, None, None]
    kx = np.abs(np.fft.rfftfreq(nx))[None, None, :]
    keep = kz <= math.tan(math.radians(tilt_range)) * kx + 1e-12
    return np.broadcast_to(keep, (nz, ny, nx // 2 + 1))


def _transfer(shape, apix, tilt_range, resolution) -> np.ndarray:
    nz, ny, nx = shape
    kz = np.fft.fftfreq(nz).astype(np.float32)[:, None, None]
    ky = np.fft.fftfreq(ny).astype(np.float32)[None, :, None]
    kx = np.fft.rfftfreq(nx).astype(np.float32)[None, None, :]
    h = np.ones((nz, ny, nx // 2 + 1), np.float32)
    if resolution:
        fc = apix / float(resolution)  # cycles per voxel at the resolution limit
        h *= np.exp(-math.log(2.0) * (kz * kz + ky * ky + kx * kx) / (fc * fc)).astype(np.float32)
    if tilt_range is not None and tilt_range < 90:
        h *= wedge_mask(shape, tilt_range)
    h[0, 0, 0] = 1.0
    return h


# ------------------------------------------------------------------------------------------
# Objects


def _random_rotation(rng) -> np.ndarray:
    q = rng.standard_normal(4)
    q /= np.linalg.norm(q)
    a, b, c, d = q
    return np.array([[a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
                     [2 * (b * c + a * d), a * a - b * b + c * c - d * d, 2 * (c * d - a * b)],
                     [2 * (b * d - a * c), 2 * (c * d + a * b), a * a - b * b - c * c + d * d]])


def _box(shape, centre, reach):
    lo = [max(0, int(math.floor(c - reach))) for c in centre]
    hi = [min(n, int(math.ceil(c + reach)) + 1) for c, n in zip(centre, shape)]
    if any(h <= l for l, h in zip(lo, hi)):
        return None
    sl = tuple(slice(l, h) for l, h in zip(lo, hi))
    grids = np.ogrid[sl]
    rel = [(g - c).astype(np.float32) for g, c in zip(grids, centre)]
    return sl, rel


def _free(occupied, centre, radius) -> bool:
    return all(np.linalg.norm(centre - c) >= radius + r for c, r in occupied)


def _place_vesicles(rng, shape, nm, n, occupied):
    nz, ny, nx = shape
    out = []
    for _ in range(n):
        for _try in range(60):
            r = rng.uniform(*VESICLE_RADIUS) * nm
            r = min(r, 0.45 * nz + 3 * nm, 0.4 * min(ny, nx))
            zc = rng.uniform(min(r, nz / 2), max(nz - r, nz / 2))
            centre = np.array([zc, rng.uniform(r * 0.6, ny - r * 0.6), rng.uniform(r * 0.6, nx - r * 0.6)])
            if _free(occupied, centre, r + 4 * nm):
                axes = r * rng.uniform(0.88, 1.12, size=3)
                out.append((centre, axes, _random_rotation(rng)))
                occupied.append((centre, float(axes.max()) + 2 * nm))
                break
    return out


def _draw_vesicle(density, shell, centre, axes, rot, nm, offset_nm=BILAYER_LEAFLET_OFFSET):
    reach = float(axes.max()) + 4 * nm
    got = _box(density.shape, centre, reach)
    if got is None:
        return
    sl, (dz, dy, dx) = got
    # local coordinates u = R^T (p - c)
    u = [rot[0, i] * dz + rot[1, i] * dy + rot[2, i] * dx for i in range(3)]
    a = axes.astype(np.float32)
    rho2 = sum((u[i] / a[i]) ** 2 for i in range(3))
    rho = np.sqrt(rho2) + 1e-6
    grad = np.sqrt(sum((u[i] / (a[i] * a[i])) ** 2 for i in range(3))) / rho + 1e-9
    dist = (rho - 1.0) / grad  # first-order signed distance to the ellipsoid, voxels
    off, sig = offset_nm * nm, max(BILAYER_LEAFLET_SIGMA * nm, 0.5)
    prof = np.exp(-0.5 * ((dist - off) / sig) ** 2) + np.exp(-0.5 * ((dist + off) / sig) ** 2)
    density[sl] += prof.astype(np.float32)
    shell[sl] |= np.abs(dist) <= (MEMBRANE_HALF_WIDTH - BILAYER_LEAFLET_OFFSET + offset_nm) * nm


def _place_filament(rng, shape, nm, kind, occupied):
    nz, ny, nx = shape
    radius = (MICROTUBULE_RADII[1] if kind == "microtubule" else ACTIN_RADIUS) * nm
    for _try in range(60):
        theta = rng.uniform(0, math.pi)
        elev = rng.uniform(-0.25, 0.25)
        direction = np.array([math.sin(elev), math.cos(elev) * math.sin(theta), math.cos(elev) * math.cos(theta)])
        point = np.array([rng.uniform(nz * 0.3, nz * 0.7), rng.uniform(0, ny), rng.uniform(0, nx)])
        # reject filaments that run through a vesicle or another object
        ts = np.linspace(-max(shape), max(shape), 200)
        pts = point[None] + ts[:, None] * direction[None]
        inside = np.all((pts >= 0) & (pts < np.array(shape)), axis=1)
        pts = pts[inside]
        ok = all(np.min(np.linalg.norm(pts - c[None], axis=1)) >= r + radius + 2 * nm for c, r in occupied)
        if ok and len(pts):
            for p in pts[:: max(1, int(6 * nm))]:
                occupied.append((p, radius + 1 * nm))
            return point, direction
    return None


def _draw_filament(density, label, point, direction, *, kind, nm):
    nz, ny, nx = density.shape
    z, y, x = np.ogrid[:nz, :ny, :nx]
    rel = [(z - point[0]).astype(np.float32), (y - point[1]).astype(np.float32), (x - point[2]).astype(np.float32)]
    t = rel[0] * direction[0] + rel[1] * direction[1] + rel[2] * direction[2]
    d2 = rel[0] ** 2 + rel[1] ** 2 + rel[2] ** 2 - t * t
    r = np.sqrt(np.maximum(d2, 0))
    soft = 0.6
    if kind == "microtubule":
        r_in, r_out = MICROTUBULE_RADII[0] * nm, MICROTUBULE_RADII[1] * nm
        dens = _smooth_step(r - r_in, soft) * _smooth_step(r_out - r, soft)
        lab = (r >= r_in) & (r <= r_out)
        # protofilament texture along the tube
        dens = dens * (0.85 + 0.15 * np.cos(2 * math.pi * t / (4.0 * nm)))
    else:
        r_out = ACTIN_RADIUS * nm
        dens = _smooth_step(r_out - r, soft) * (0.85 + 0.15 * np.cos(2 * math.pi * t / (5.5 * nm)))
        lab = r <= r_out
    density += 0.9 * dens.astype(np.float32)
    label[lab] = 1


def _smooth_step(x, width):
    return 1.0 / (1.0 + np.exp(np.clip(-np.asarray(x, np.float32) / np.float32(width), -60, 60)))


def _place_ribosomes(rng, shape, nm, n, occupied, carbon, radius_nm=RIBOSOME_RADIUS):
    r = radius_nm * nm
    out = []
    nz, ny, nx = shape
    x_max = nx * (0.8 if carbon else 1.0)
    for _ in range(n):
        for _try in range(40):
            c = np.array([_uniform(rng, r * 0.8, nz - r * 0.8), _uniform(rng, r * 0.5, ny - r * 0.5),
                          _uniform(rng, r * 0.5, x_max - r * 0.5)])
            if _free(occupied, c, r + 1.5 * nm):
                occupied.append((c, r))
                out.append(c)
                break
    return out


def _uniform(rng, lo, hi):
    """A uniform draw from [lo, hi], or the middle when the range is empty (a thin volume)."""
    return rng.uniform(lo, hi) if hi > lo else 0.5 * (lo + hi)


def _draw_ribosome(density, label, centre, rng, nm):
    r = RIBOSOME_RADIUS * nm
    got = _box(density.shape, centre, r + 3 * nm)
    if got is None:
        return
    sl, (dz, dy, dx) = got
    axis = rng.standard_normal(3)
    axis /= np.linalg.norm(axis)
    # large subunit (~60 %) and small subunit, offset along a random axis, with lumpy texture
    parts = [(-0.25 * r * axis, 0.78 * r, 1.0), (0.55 * r * axis, 0.55 * r, 0.9)]
    for _ in range(6):
        v = rng.standard_normal(3)
        v = v / np.linalg.norm(v) * rng.uniform(0.2, 0.6) * r
        parts.append((v, rng.uniform(0.25, 0.4) * r, 0.5))
    dens = np.zeros([s.stop - s.start for s in sl], np.float32)
    inside = np.zeros(dens.shape, bool)
    for off, rad, amp in parts:
        d = np.sqrt((dz - off[0]) ** 2 + (dy - off[1]) ** 2 + (dx - off[2]) ** 2)
        dens = np.maximum(dens, amp * _smooth_step(rad - d, 0.6 * nm))
        if amp >= 0.9:
            inside |= d <= rad
    density[sl] += 1.1 * dens
    label[sl][inside] = 1


def _draw_barrel(density, label, centre, rng, nm):
    """A proteasome-like barrel: four stacked rings around a hollow axis, in a random orientation."""
    reach = BARREL_REACH * nm + 2 * nm
    got = _box(density.shape, centre, reach)
    if got is None:
        return
    sl, (dz, dy, dx) = got
    axis = rng.standard_normal(3)
    axis /= np.linalg.norm(axis)
    t = dz * axis[0] + dy * axis[1] + dx * axis[2]  # along the axis
    r = np.sqrt(np.maximum(dz ** 2 + dy ** 2 + dx ** 2 - t * t, 0))
    outer, half = BARREL_RADIUS * nm, BARREL_HALF_LENGTH * nm
    body = _smooth_step(outer - r, 0.6 * nm) * _smooth_step(half - np.abs(t), 0.6 * nm)
    channel = _smooth_step(r - 1.5 * nm, 0.5 * nm)
    rings = 0.75 + 0.25 * np.cos(2 * math.pi * t / (half / 2.0))  # four rings along 15 nm
    density[sl] += (1.1 * body * channel * rings).astype(np.float32)
    label[sl][(r <= outer) & (np.abs(t) <= half)] = 1


def _capsule(dz, dy, dx, a, b):
    """Distance of every voxel (offsets dz, dy, dx from the box's centre) to the segment a-b."""
    ab = b - a
    t = ((dz - a[0]) * ab[0] + (dy - a[1]) * ab[1] + (dx - a[2]) * ab[2]) / float(ab @ ab)
    t = np.clip(t, 0.0, 1.0)
    return np.sqrt((dz - a[0] - t * ab[0]) ** 2 + (dy - a[1] - t * ab[1]) ** 2 + (dx - a[2] - t * ab[2]) ** 2)


def _draw_membrane_proteins(density, label, rng, vesicles, n, nm, offset_nm, occupied):
    """Antibody-like Y shapes standing on the outer face of the vesicles; returns their centres
    (the fork of the Y)."""
    centres = []
    for _ in range(n):
        for _try in range(30):
            centre, axes, rot = vesicles[int(rng.integers(len(vesicles)))]
            d = rng.standard_normal(3)
            d /= np.linalg.norm(d)
            p_local = d / math.sqrt(float(np.sum((d / axes) ** 2)))
            normal = rot @ (p_local / axes ** 2)
            normal /= np.linalg.norm(normal)
            base = centre + rot @ p_local + normal * (offset_nm + 0.8) * nm
            fork = base + normal * 7.0 * nm
            if not all(0 <= fork[i] < density.shape[i] for i in range(3)):
                continue
            if not _free([o for o in occupied if o[1] < 0.5 * float(axes.max())], fork, 9.0 * nm):
                continue  # keep clear of other particles (the vesicles themselves are big)
            side = np.cross(normal, rng.standard_normal(3))
            side /= np.linalg.norm(side)
            arms = [fork + 7.0 * nm * (math.cos(math.radians(40)) * normal + s * math.sin(math.radians(40)) * side)
                    for s in (-1.0, 1.0)]
            got = _box(density.shape, fork, 11.0 * nm)
            if got is None:
                continue
            sl, (dz, dy, dx) = got
            rel = [q - fork for q in (base, fork, *arms)]
            dist = np.minimum.reduce([_capsule(dz, dy, dx, rel[0], rel[1]), _capsule(dz, dy, dx, rel[1], rel[2]),
                                      _capsule(dz, dy, dx, rel[1], rel[3])])
            density[sl] += (1.0 * _smooth_step(1.5 * nm - dist, 0.4 * nm)).astype(np.float32)
            label[sl][dist <= 1.5 * nm] = 1
            occupied.append((fork, 8.0 * nm))
            centres.append(fork)
            break
    return np.asarray(centres, float).reshape(-1, 3)


def _draw_gold(density, label, rng, shape, nm, n, occupied, carbon):
    """Gold beads, far denser than protein; returns their centres."""
    r = GOLD_RADIUS * nm
    nz, ny, nx = shape
    x_max = nx * (0.8 if carbon else 1.0)
    centres = []
    for _ in range(n):
        for _try in range(40):
            c = np.array([_uniform(rng, r, nz - r), _uniform(rng, r, ny - r), _uniform(rng, r, x_max - r)])
            if _free(occupied, c, r + 2 * nm):
                got = _box(shape, c, r + 2 * nm)
                if got is None:
                    continue
                sl, (dz, dy, dx) = got
                d = np.sqrt(dz ** 2 + dy ** 2 + dx ** 2)
                density[sl] += (5.0 * _smooth_step(r - d, 0.4 * nm)).astype(np.float32)
                label[sl][d <= r] = 1
                occupied.append((c, r))
                centres.append(c)
                break
    return np.asarray(centres, float).reshape(-1, 3)


def _draw_carbon(density, label, rng, nm):
    nz, ny, nx = density.shape
    y = np.arange(ny, dtype=np.float32)
    edge = nx * 0.82 + 0.05 * nx * np.sin(2 * math.pi * y / ny * rng.uniform(0.5, 1.5) + rng.uniform(0, 6.3))
    x = np.arange(nx, dtype=np.float32)
    prof = _smooth_step(x[None, :] - edge[:, None], 1.0 * nm)  # (y, x)
    texture = 1.0 + 0.2 * rng.standard_normal((ny, nx)).astype(np.float32)
    density += (1.6 * prof * texture)[None]
    label[:] = (x[None, :] >= edge[:, None])[None].astype(np.uint8)


def _crowding(rng, shape, nm, amount):
    from scipy import ndimage

    nz, ny, nx = shape
    n = int(amount * np.prod(shape) / (nm ** 3) / 1500.0)
    deltas = np.zeros(shape, np.float32)
    if n:
        idx = tuple(rng.integers(0, s, n) for s in shape)
        np.add.at(deltas, idx, rng.uniform(0.5, 1.5, n).astype(np.float32))
    sigma = 1.5 * nm
    out = ndimage.gaussian_filter(deltas, sigma)
    peak = 1.0 / ((2 * math.pi) ** 1.5 * sigma ** 3)  # the peak of one unit blob
    return (0.35 / peak) * out


# ------------------------------------------------------------------------------------------
# Demo data on disk


def write_demo_dataset(folder: str | os.PathLike, seed: int = 0, *, shape=(80, 256, 256), apix: float = 10.0,
                       name: str = "demo_tomogram", annotated_slices: int = 3, project: bool = True) -> dict:
    """Write a synthetic tomogram and its ground truth for the CLI demo and the GUI's ``--demo``.

    Writes into ``folder`` (created if needed):

    - ``<name>.mrc``: the tomogram (float32, voxel size in the header);
    - ``<name>_labels_<feature>.mrc``: one uint8 0/1 label volume per feature;
    - ``<name>_particles.txt``: ribosome centres, one ``x y z`` line each (voxels);
    - ``<name>.aisproj/``: a project (see :mod:`ais_like.project`) with the tomogram, a
      "membrane" feature painted from the ground truth on ``annotated_slices`` slices.

    Returns ``{"tomogram": Path, "labels": {feature: Path}, "particles": Path, "project": Path | None,
    "annotated_slices": [z, ...]}``.
    """
    from .volume import Header, write_volume

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tomo = make_tomogram(shape=shape, apix=apix, seed=seed)
    header = Header(apix=apix)
    out: dict = {"tomogram": write_volume(folder / f"{name}.mrc", tomo.volume, header), "labels": {}}
    for feat, lab in tomo.labels.items():
        out["labels"][feat] = write_volume(folder / f"{name}_labels_{feat}.mrc", lab.astype(np.uint8), header)
    lines = [f"{x:.2f} {y:.2f} {z:.2f}" for z, y, x in tomo.particles]
    out["particles"] = _write_text(folder / f"{name}_particles.txt", "\n".join(lines) + ("\n" if lines else ""))
    slices = demo_slices(tomo.labels["membrane"], annotated_slices)
    out["annotated_slices"] = slices
    out["project"] = None
    if project:
        from . import project as project_mod
        from .annotations import Annotations, Feature

        ann = Annotations(shape=tomo.volume.shape)
        ann.add_feature(Feature("membrane", colour=(0.95, 0.75, 0.2), box_size=64))
        for z in slices:
            ann.set_slice("membrane", z, tomo.labels["membrane"][z])
        proj = project_mod.Project()
        proj.add_dataset(out["tomogram"], annotations=ann, name=name)
        out["project"] = project_mod.save(proj, folder / f"{name}.aisproj")
    (folder / f"{name}_meta.json").write_text(json.dumps(tomo.meta, indent=1))
    return out


def demo_slices(labels: np.ndarray, n: int = 3) -> list[int]:
    """``n`` slices that contain the feature, spread evenly over the central half of the volume
    (from its first to its last quarter, both included), so they show the feature both cut
    across (mid-volume) and grazed (towards the top and bottom, smeared by the missing wedge)."""
    nz = labels.shape[0]
    has = np.flatnonzero(np.asarray(labels).reshape(nz, -1).any(axis=1))
    if not len(has):
        return []
    lo, hi = int(nz * 0.25), int(nz * 0.75)
    pool = has[(has >= lo) & (has <= hi)]
    pool = pool if len(pool) >= n else has
    picks = np.linspace(0, len(pool) - 1, n).round().astype(int) if n > 1 else [len(pool) // 2]
    return sorted({int(pool[i]) for i in picks})


def _write_text(path: Path, text: str) -> Path:
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path
