"""Particle picking from prediction volumes (the watershed picker of Ais, done by components).

The algorithm (Last et al. 2024): threshold the prediction, Euclidean distance transform of the
mask, markers at its local maxima, watershed, drop groups smaller than a minimum volume, weight
each group by the sum of its prediction values, and among groups closer than a minimum spacing
keep the heavier one; output group centres.

Here the distance transform and the watershed run inside the bounding box of each connected
component of the mask (26-connected), never on the whole volume, and components too small to
hold a group of the minimum volume are dropped before any of that work. Components are found
slab by slab (:func:`iter_components`), so a volume is never held in memory whole: memory is
bounded by the slab (``block`` slices) plus the z-extent of the largest connected component.

Coordinates: (z, y, x) in voxels of the input volume (unbinned), voxel centres at integers, the
first voxel at 0. With ``bin=b`` the picker works on the b-binned volume and maps binned voxel
``i`` back to ``b * i + (b - 1) / 2``, the centre of the voxels it averages.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from .errors import InputError
from .interactions import as_prediction, check_threshold, check_values
from .interactions import value_max as dtype_value_max
from .progress import ProgressFn, null_progress

POSITIONS = ("centroid", "maximum")
FULL_CONNECTIVITY = np.ones((3, 3, 3), bool)


# ---------------------------------------------------------------------------------------------
# Connected components, slab by slab


@dataclass
class Component:
    """One connected component of ``value > threshold``, cropped with a margin of one voxel.

    offset : (z, y, x) of the crop's first voxel in the volume (may be -1 at a volume face).
    values : float32 crop on the 0..1 scale; voxels of *other* components are 0, beyond the
        volume faces 0.
    mask : bool crop, True on this component's voxels.
    n_voxels : voxels in the component.
    """

    offset: tuple
    values: np.ndarray
    mask: np.ndarray
    n_voxels: int


def iter_components(data, *, threshold: float, scale: float | None = None, block: int = 64,
                    min_voxels: int = 1, check: bool = True, stats: dict | None = None,
                    name: str = "prediction", progress: ProgressFn | None = None) -> Iterator[Component]:
    """Yield every connected component of ``data > threshold * scale``, each exactly once.

    Parameters
    ----------
    data : array-like (z, y, x) (an ndarray or a memory-mapped volume); read in slabs.
    threshold : 0..1.
    scale : the stored value of probability 1 (default: from the dtype, see
        :func:`ais_like.interactions.value_max`).
    block : slices per slab. A component that reaches the end of a slab is carried into the
        next slab, which then starts at its first slice: components are never cut.
    min_voxels : smaller components are skipped (no crop is made for them).
    check : refuse NaNs and values outside 0..scale (:class:`InputError`).
    stats : if given, receives ``max`` (the largest stored value seen).
    """
    from scipy import ndimage

    progress = progress or null_progress
    shape = tuple(int(n) for n in data.shape)
    if len(shape) != 3:
        raise InputError(f"{name}: expected a (z, y, x) volume, got shape {shape}")
    nz = shape[0]
    block = max(2, int(block))
    zs, ze, done_to = 0, min(nz, block), 0
    seen_max = -math.inf
    progress(0, nz, "components")
    while zs < nz:
        lo, hi = max(0, zs - 1), min(nz, ze + 1)
        raw = as_prediction(np.asarray(data[lo:hi]), name)
        sc = dtype_value_max(raw.dtype, name) if scale is None else float(scale)
        if check:
            check_values(raw, name, sc)
        if raw.size:
            seen_max = max(seen_max, float(raw.max()))
        t_raw = check_threshold(threshold) * sc
        off = zs - lo
        labels, n = ndimage.label(raw[off:off + ze - zs] > t_raw, structure=FULL_CONNECTIVITY)
        deferred = None
        if n:
            for k, sl in enumerate(ndimage.find_objects(labels), 1):
                if sl is None:
                    continue
                zmin, zmax = sl[0].start + zs, sl[0].stop - 1 + zs
                if zmax < done_to - 1:
                    continue  # lies wholly in slices finished before; was handled there
                if ze < nz and zmax == ze - 1:
                    deferred = zmin if deferred is None else min(deferred, zmin)
                    continue  # may go on in the next slices
                if min_voxels > 1:
                    extent = [x.stop - x.start for x in sl]
                    if extent[0] * extent[1] * extent[2] < min_voxels:
                        continue
                    core = labels[sl] == k
                    if int(core.sum()) < min_voxels:
                        continue
                else:
                    core = None
                yield _crop(raw, labels, k, sl, off, lo, shape, sc, t_raw, core)
        del labels
        done_to = ze
        progress(done_to, nz, "components")
        zs = ze if deferred is None else deferred
        ze = min(nz, max(zs + block, done_to + max(1, block // 2)))
    if stats is not None:
        stats["max"] = seen_max


def _crop(raw, labels, k, sl, off, lo, shape, scale, t_raw, core=None) -> Component:
    """Component ``k`` of ``labels`` (core of the slab ``raw``) with a one-voxel margin."""
    nz, ny, nx = shape
    # Crop bounds in volume coordinates, margin included, clipped to the volume.
    z0v, z1v = sl[0].start + off + lo - 1, sl[0].stop + off + lo + 1
    y0v, y1v = sl[1].start - 1, sl[1].stop + 1
    x0v, x1v = sl[2].start - 1, sl[2].stop + 1
    cz0, cz1 = max(0, z0v), min(nz, z1v)
    cy0, cy1 = max(0, y0v), min(ny, y1v)
    cx0, cx1 = max(0, x0v), min(nx, x1v)
    vals = raw[cz0 - lo:cz1 - lo, cy0:cy1, cx0:cx1].astype(np.float32) / np.float32(scale)
    mask = np.zeros(vals.shape, bool)
    if core is None:
        core = labels[sl] == k
    mask[sl[0].start + off + lo - cz0:sl[0].stop + off + lo - cz0,
         sl[1].start - cy0:sl[1].stop - cy0, sl[2].start - cx0:sl[2].stop - cx0] = core
    above = raw[cz0 - lo:cz1 - lo, cy0:cy1, cx0:cx1] > t_raw
    vals[above & ~mask] = 0.0  # other components inside the box
    pad = ((cz0 - z0v, z1v - cz1), (cy0 - y0v, y1v - cy1), (cx0 - x0v, x1v - cx1))
    if any(p for pair in pad for p in pair):
        vals = np.pad(vals, pad)
        mask = np.pad(mask, pad)
    return Component(offset=(z0v, y0v, x0v), values=vals, mask=mask, n_voxels=int(core.sum()))


def binned(data, factor: int, *, block: int = 64, name: str = "prediction", check: bool = True,
           stats: dict | None = None) -> np.ndarray:
    """``data`` (z, y, x) averaged over ``factor``^3 blocks, read slab by slab.

    Returns float32 on the stored-value scale (edges that do not fill a block are dropped, as
    in :func:`ais_like.preprocess.bin_volume`).
    """
    from .preprocess import bin_volume

    b = int(factor)
    nz, ny, nx = (int(n) for n in data.shape)
    out = np.zeros((nz // b, ny // b, nx // b), np.float32)
    step = max(1, block // b) * b
    seen = -math.inf
    for z0 in range(0, (nz // b) * b, step):
        z1 = min((nz // b) * b, z0 + step)
        raw = as_prediction(np.asarray(data[z0:z1]), name)
        if check:
            check_values(raw, name)
        if raw.size:
            seen = max(seen, float(raw.max()))
        out[z0 // b:z1 // b] = bin_volume(raw, b)
    if stats is not None:
        stats["max"] = seen
    return out


# ---------------------------------------------------------------------------------------------
# Picking


@dataclass
class Picks:
    """Picked particles, heaviest first.

    zyx : float64 (n, 3) positions in voxels of the input volume (unbinned), voxel centres at
        integers (x = column, y = row, z = slice).
    weights : float64 (n,) the sum of the group's prediction values (0..1), counted in
        unbinned voxels (a binned voxel counts ``bin**3``).
    volumes_px : int64 (n,) the group's size in unbinned voxels.
    shape : (z, y, x) of the input volume. apix : Å per voxel (None when unknown).
    """

    zyx: np.ndarray
    weights: np.ndarray
    volumes_px: np.ndarray
    shape: tuple
    apix: float | None = None
    params: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.zyx.shape[0])

    @property
    def xyz(self) -> np.ndarray:
        """(n, 3) positions as x, y, z (the order of coordinate files)."""
        return self.zyx[:, ::-1].copy()

    def to_coordinates(self, tomogram: str = ""):
        """These picks as :class:`ais_like.coords.Coordinates` (pixel frame)."""
        from .coords import Coordinates

        return Coordinates(zyx=self.zyx.copy(), tomograms=np.array([tomogram] * len(self), dtype=object),
                           weights=self.weights.copy(), apix=self.apix, shape=tuple(self.shape))


def to_pixels(value_a: float | None, value_px: float | None, apix: float | None, power: int, what: str) -> float:
    """A length (power 1) or volume (power 3) given in Å or in pixels, as pixels (0 when neither)."""
    if value_a is not None and value_px is not None:
        raise InputError(f"{what}: give it in Å or in pixels, not both")
    if value_px is not None:
        v = float(value_px)
        if not math.isfinite(v) or v < 0:
            raise InputError(f"{what}: must be a number >= 0, got {value_px}")
        return v
    if value_a is None:
        return 0.0
    v = float(value_a)
    if not math.isfinite(v) or v < 0:
        raise InputError(f"{what}: must be a number >= 0, got {value_a}")
    if v == 0:
        return 0.0
    if apix is None:
        raise InputError(f"{what}: the voxel size is unknown, so Å cannot be converted to pixels; "
                         "pass --apix or give the value in pixels")
    return v / float(apix) ** power


SPACING_OF_DIAMETER = 0.6  # picks closer than this many particle diameters are one particle
VOLUME_OF_SPHERE = 0.1  # groups smaller than this fraction of the particle's sphere are noise


def size_defaults(diameter: float) -> dict:
    """``min_spacing`` (Å) and ``min_volume`` (Å^3) for particles ``diameter`` Å across, as
    :func:`pick_particles` takes them: 0.6 diameters apart, a tenth of the sphere's volume."""
    d = float(diameter)
    if not (math.isfinite(d) and d > 0):
        raise InputError(f"particle diameter must be a positive number of Å, got {diameter}")
    return {"min_spacing": round(SPACING_OF_DIAMETER * d, 2),
            "min_volume": round(VOLUME_OF_SPHERE * math.pi / 6.0 * d ** 3, 1)}


def model_particle_diameter(metadata: dict) -> float | None:
    """The diameter in Å of the particles a model was trained on (measured on its annotated
    slices by :func:`ais_like.tiles.feature_size`), or None when the model does not say."""
    ours = metadata.get("ais_like") or {}
    d_px = (ours.get("trainset") or {}).get("feature diameter px")
    apix = metadata.get("apix")
    if not d_px or not apix or float(apix) <= 0:
        return None
    return float(d_px) * float(apix)


def pick_particles(volume, apix: float | None = None, *, threshold: float = 0.5,
                   min_volume: float | None = None, min_volume_px: float | None = None,
                   min_spacing: float | None = None, min_spacing_px: float | None = None,
                   bin: int = 1, margin: float | None = None, margin_px: float | None = None,
                   max_particles: int | None = None, position: str = "centroid",
                   value_max: float | None = None, block: int | None = None,
                   progress: ProgressFn | None = None, name: str = "prediction") -> Picks:
    """Pick particles from a prediction volume.

    Parameters
    ----------
    volume : array-like (z, y, x): uint8/uint16 0..255 or float 0..1 (see
        :mod:`ais_like.interactions`); read in slabs, never loaded whole.
    apix : voxel size in Å; needed when sizes are given in Å.
    threshold : mask = prediction > threshold (0..1 scale, whatever the dtype).
    min_volume, min_volume_px : drop groups smaller than this (Å^3, or unbinned voxels).
    min_spacing, min_spacing_px : of two groups closer than this (Å, or unbinned voxels), keep
        the heavier. Also the size of the neighbourhood in which distance maxima become markers.
    bin : pick on the volume averaged over ``bin``^3 blocks (faster, coarser).
    margin, margin_px : drop picks closer than this to a face of the volume (Å or voxels).
    max_particles : keep only the heaviest this many.
    position : "centroid" (the prediction-weighted centre of the group) or "maximum" (the
        group's voxel of highest prediction).
    value_max : the stored value of probability 1 (default 255 for integer volumes, 1 for
        float); e.g. 1 for a 0/1 label volume stored as integers.
    block : slices per slab (default: :func:`default_block`, about 64 Mi voxels).
    progress : ``(done, total, message)``.

    Returns
    -------
    Picks : zero particles is a valid result.
    """
    from scipy import ndimage
    from skimage.segmentation import watershed

    progress = progress or null_progress
    threshold = check_threshold(threshold, f"{name}: threshold")
    if position not in POSITIONS:
        raise InputError(f"position must be 'centroid' or 'maximum', got {position!r}")
    b = int(bin)
    if b < 1 or b != bin:
        raise InputError(f"bin must be a whole number >= 1, got {bin}")
    if max_particles is not None and (int(max_particles) != max_particles or max_particles < 0):
        raise InputError(f"max_particles must be a whole number >= 0, got {max_particles}")
    shape = tuple(int(n) for n in volume.shape)
    if len(shape) != 3:
        raise InputError(f"{name}: expected a (z, y, x) volume, got shape {shape}")
    if apix is not None and not (math.isfinite(apix) and apix > 0):
        raise InputError(f"{name}: apix must be a positive number of Å, got {apix}")
    block = default_block(shape) if block is None else int(block)
    vol_px = to_pixels(min_volume, min_volume_px, apix, 3, "min volume")
    spacing_px = to_pixels(min_spacing, min_spacing_px, apix, 1, "min spacing")
    margin_v = to_pixels(margin, margin_px, apix, 1, "margin")
    dtype = as_prediction(np.empty(0, np.dtype(volume.dtype)), name).dtype
    scale = float(value_max) if value_max is not None else dtype_value_max(dtype, name)
    if scale <= 0:
        raise InputError(f"value_max must be > 0, got {value_max}")

    stats: dict = {}
    if b > 1:
        progress(0, 2, "binning")
        data = binned(volume, b, block=block, name=name, stats=stats)
        if value_max is not None:
            check_values(data, name, scale)
        check = False
    else:
        data, check = volume, True
    # A group lies inside one component, so smaller components cannot hold a group to keep.
    min_voxels = max(1, int(math.ceil(vol_px / b ** 3 - 1e-9)))
    spacing_b = spacing_px / b
    size = max(3, int(round(spacing_b)) // 2 * 2 + 1)
    footprint = np.ones((size,) * 3, bool)

    cand_pos, cand_w, cand_n = [], [], []
    for comp in iter_components(data, threshold=threshold, scale=scale, block=block, min_voxels=min_voxels,
                                check=check, stats=None if b > 1 else stats, name=name, progress=progress):
        mask = comp.mask
        dist = ndimage.distance_transform_edt(mask)
        peaks = (dist == ndimage.maximum_filter(dist, footprint=footprint, mode="constant")) & mask
        markers, n_markers = _peak_markers(peaks)
        if n_markers > 1:
            groups = watershed(-dist, markers, mask=mask)
        else:
            groups = mask.astype(np.int32)
            n_markers = 1
        idx = np.nonzero(mask)
        g = groups[idx]
        v = comp.values[idx].astype(np.float64)
        counts = np.bincount(g, minlength=n_markers + 1)[1:]
        weights = np.bincount(g, weights=v, minlength=n_markers + 1)[1:]
        coords = np.stack(idx, axis=1).astype(np.float64)
        if position == "centroid":
            wsum = np.where(weights > 0, weights, 1.0)
            pos = np.stack([np.bincount(g, weights=v * coords[:, a], minlength=n_markers + 1)[1:] / wsum
                            for a in range(3)], axis=1)
        else:
            order = np.lexsort((-v, g))  # by group, highest value first
            first = order[np.r_[True, g[order][1:] != g[order][:-1]]]
            pos = np.zeros((n_markers, 3))
            pos[g[first] - 1] = coords[first]
        keep = (counts * b ** 3 >= vol_px) & (counts > 0)
        cand_pos.append(pos[keep] + np.asarray(comp.offset, np.float64))
        cand_w.append(weights[keep] * b ** 3)
        cand_n.append(counts[keep] * b ** 3)

    if cand_pos:
        pos = np.concatenate(cand_pos)
        w = np.concatenate(cand_w)
        n = np.concatenate(cand_n).astype(np.int64)
    else:
        pos, w, n = np.zeros((0, 3)), np.zeros(0), np.zeros(0, np.int64)
    if b > 1:
        pos = pos * b + (b - 1) / 2.0
    # Heaviest first (ties broken by position, so the result never depends on slab order).
    order = np.lexsort((pos[:, 2], pos[:, 1], pos[:, 0], -w)) if len(w) else np.zeros(0, int)
    pos, w, n = pos[order], w[order], n[order]
    if spacing_px > 0 and len(w) > 1:
        keep = _suppress(pos, spacing_px)
        pos, w, n = pos[keep], w[keep], n[keep]
    if margin_v > 0 and len(w):
        hi = np.asarray(shape, np.float64) - 1 - margin_v
        inside = np.all((pos >= margin_v) & (pos <= hi), axis=1)
        pos, w, n = pos[inside], w[inside], n[inside]
    if max_particles is not None:
        pos, w, n = pos[:int(max_particles)], w[:int(max_particles)], n[:int(max_particles)]
    seen = stats.get("max")
    if not len(w) and value_max is None and dtype.kind in "ui" and seen is not None and 0 < seen <= 1:
        warnings.warn(f"{name}: no particles, and the largest value is {seen:g}: this looks like a 0/1 "
                      "mask, which is read on the 0..255 scale; pass value_max=1 (--value-max 1)",
                      UserWarning, stacklevel=2)
    params = dict(threshold=threshold, min_volume_px=vol_px, min_spacing_px=spacing_px, bin=b,
                  margin_px=margin_v, max_particles=max_particles, position=position, value_max=scale)
    return Picks(zyx=pos, weights=w, volumes_px=n, shape=shape, apix=apix, params=params)


def _peak_markers(peaks: np.ndarray) -> tuple[np.ndarray, int]:
    """Label touching (26-connected) peak voxels as one marker; cheaper than a full labelling
    because peaks are few."""
    idx = np.nonzero(peaks)
    n = len(idx[0])
    markers = np.zeros(peaks.shape, np.int32)
    if n <= 1:
        markers[idx] = 1
        return markers, n
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    pts = np.stack(idx, axis=1)
    pairs = cKDTree(pts).query_pairs(r=1.8, output_type="ndarray")  # sqrt(3) = 26-neighbours
    if len(pairs):
        graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
        n_markers, comp = connected_components(graph, directed=False)
    else:
        n_markers, comp = n, np.arange(n)
    markers[idx] = comp.astype(np.int32) + 1
    return markers, int(n_markers)


def default_block(shape, budget_voxels: int = 1 << 26) -> int:
    """Slices per slab so that a slab holds about ``budget_voxels`` voxels (64 Mi: ~0.4 GB of
    working memory), at least 16."""
    ny, nx = int(shape[-2]), int(shape[-1])
    return max(16, budget_voxels // max(1, ny * nx))


def _suppress(pos: np.ndarray, spacing: float) -> np.ndarray:
    """Indices kept by greedy suppression: in order, a point closer than ``spacing`` to an
    earlier kept point is dropped (``pos`` is sorted heaviest first)."""
    from scipy.spatial import cKDTree

    tree = cKDTree(pos)
    pairs = tree.query_pairs(r=spacing * (1 - 1e-9), output_type="ndarray")
    if not len(pairs):
        return np.arange(len(pos))
    neighbours: dict[int, list[int]] = {}
    for i, j in pairs:  # i < j: j is lighter
        neighbours.setdefault(int(i), []).append(int(j))
    dropped = np.zeros(len(pos), bool)
    for i in range(len(pos)):
        if dropped[i]:
            continue
        for j in neighbours.get(i, ()):
            dropped[j] = True
    return np.nonzero(~dropped)[0]


# ---------------------------------------------------------------------------------------------
# Files

FORMATS = {"star": ".star", "star5": ".star", "txt": ".txt"}


@dataclass
class PickFileResult:
    source: Path
    out: Path
    tomogram: str
    feature: str
    n: int
    seconds: float


def output_path(seg_path: str | os.PathLike, ending: str, out: str | os.PathLike | None = None) -> Path:
    """``<input name without suffix><ending>`` beside the input, inside folder ``out``, or ``out`` itself."""
    from .volume import tomogram_name

    seg_path = Path(seg_path)
    name = f"{tomogram_name(seg_path)}{ending}"
    if out is None:
        return seg_path.parent / name
    out = Path(out)
    return out / name if out.is_dir() else out


def default_output(seg_path: str | os.PathLike, fmt: str = "star", out: str | os.PathLike | None = None) -> Path:
    """``<tomogram>__<feature>_coords.star`` (or ``.txt``) beside the input, or in folder ``out``."""
    return output_path(seg_path, f"_coords{FORMATS[fmt]}", out)


def pick_file(seg_path: str | os.PathLike, out: str | os.PathLike | None = None, *, fmt: str = "star",
              apix: float | None = None, progress: ProgressFn | None = None, **params) -> PickFileResult:
    """Pick one segmentation volume ``<tomogram>__<feature>.mrc`` and write its coordinates.

    ``out``: a file, a folder (the default name inside), or None (beside the input).
    ``params``: keyword arguments of :func:`pick_particles`. The tomogram name written into the
    file is the part of the file name before ``__``.
    """
    from .coords import write_coordinates
    from .interactions import split_segmentation_name
    from .volume import open_volume, tomogram_name

    if fmt not in FORMATS:
        raise InputError(f"unknown coordinate format {fmt!r} (expected star, star5 or txt)")
    seg_path = Path(seg_path)
    target = default_output(seg_path, fmt, out)
    check_folder(target)
    t0 = time.perf_counter()
    with open_volume(seg_path, apix=apix) as vol:
        parts = split_segmentation_name(seg_path)
        tomo, feature = parts if parts else (tomogram_name(seg_path), "")
        picks = pick_particles(vol.data, vol.apix, progress=progress, name=str(seg_path), **params)
        if fmt == "star5" and vol.apix is None:
            raise InputError(f"{seg_path}: RELION 5 coordinates are in Å, but the voxel size is unknown; pass --apix")
        write_coordinates(target, picks.to_coordinates(tomo), fmt=fmt, apix=vol.apix, shape=vol.shape,
                          comment=f"picked from {seg_path.name}" + (f" (feature {feature})" if feature else ""))
    return PickFileResult(source=seg_path, out=target, tomogram=tomo, feature=feature, n=len(picks),
                          seconds=time.perf_counter() - t0)


def check_folder(target: Path) -> None:
    """InputError unless ``target``'s folder exists and is writable."""
    parent = target.parent
    if not parent.is_dir():
        raise InputError(f"{target}: the folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise InputError(f"{target}: the folder {parent} is not writable")


# ---------------------------------------------------------------------------------------------
# Evaluation


def match_points(a: np.ndarray, b: np.ndarray, radius: float) -> np.ndarray:
    """A one-to-one matching of points ``a`` (n, d) to ``b`` (m, d) within ``radius``.

    Maximises the number of matched pairs, then minimises their total distance (exactly, per
    cluster of points linked by distances <= radius). Returns int (k, 2) pairs of indices.
    """
    from scipy.optimize import linear_sum_assignment
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    if not len(a) or not len(b):
        return np.zeros((0, 2), int)
    near = cKDTree(a).sparse_distance_matrix(cKDTree(b), max_distance=float(radius), output_type="ndarray")
    if not len(near):
        return np.zeros((0, 2), int)
    rows, cols, dist = near["i"], near["j"], near["v"]
    n, m = len(a), len(b)
    graph = coo_matrix((np.ones(len(rows)), (rows, cols + n)), shape=(n + m, n + m))
    _, comp = connected_components(graph, directed=False)
    order = np.argsort(comp[rows], kind="stable")
    rows, cols, dist, edge_comp = rows[order], cols[order], dist[order], comp[rows][order]
    bounds = np.r_[0, np.nonzero(np.diff(edge_comp))[0] + 1, len(rows)]
    pairs = []
    for s, e in zip(bounds[:-1], bounds[1:]):
        r, c, d = rows[s:e], cols[s:e], dist[s:e]
        ur, ri = np.unique(r, return_inverse=True)
        uc, ci = np.unique(c, return_inverse=True)
        if len(ur) == 1 or len(uc) == 1:  # a star: the closest pair
            k = int(np.argmin(d))
            pairs.append((int(r[k]), int(c[k])))
            continue
        big = float(d.sum()) + float(radius) * len(d) + 1.0  # one more pair always beats any distances
        cost = np.full((len(ur), len(uc)), big)
        np.minimum.at(cost, (ri, ci), d)
        i, j = linear_sum_assignment(cost)
        ok = cost[i, j] < big
        pairs.extend(zip(ur[i[ok]].tolist(), uc[j[ok]].tolist()))
    return np.asarray(sorted(pairs), int).reshape(-1, 2)


def evaluate_picks(pred, truth, *, radius: float | None = None, radius_px: float | None = None,
                   apix: float | None = None, shape: tuple | None = None,
                   tomogram: str | None = None) -> dict:
    """Precision, recall and F1 of ``pred`` against ``truth`` (both :class:`ais_like.coords.Coordinates`).

    Parameters
    ----------
    radius : a prediction within this many Å of a reference particle can match it.
    radius_px : the same in pixels (instead of ``radius``).
    apix, shape : voxel size (Å) and tomogram shape (z, y, x), used when the lists are in
        different frames (pixels vs RELION 5 centred Å) or to convert the radius; taken from
        the files when they state them.
    tomogram : evaluate only this tomogram (a list that names no tomograms is taken as it).

    Matching is one-to-one (see :func:`match_points`), per tomogram when both lists name
    tomograms (a list without names is taken as one tomogram).

    Returns
    -------
    dict with ``precision``, ``recall``, ``f1``, ``tp``, ``fp``, ``fn``, ``n_pred``,
    ``n_truth``, ``radius_px`` or ``radius_A`` (the unit the matching was done in),
    ``mean_distance_px`` / ``_A`` of matched pairs and ``per_tomogram`` (the scores per
    tomogram name).
    """
    if (radius is None) == (radius_px is None):
        raise InputError("give the matching radius once: in Å (--radius) or in pixels (--radius-px)")
    r_given = float(radius if radius is not None else radius_px)
    if not math.isfinite(r_given) or r_given <= 0:
        raise InputError(f"the matching radius must be > 0, got {r_given}")
    apix = apix or pred.apix or truth.apix
    shape = shape or pred.shape or truth.shape
    if pred.frame == truth.frame == "centred_angstrom":  # compare in Å, no conversion needed
        a_pts, b_pts, unit = pred.zyx, truth.zyx, "A"
        if radius_px is not None and not apix:
            raise InputError("--radius-px needs the voxel size (--apix) for RELION 5 coordinates in Å")
        r = r_given * apix if radius_px is not None else r_given
    else:
        a_pts, b_pts, unit = pred.to_pixels(apix, shape).zyx, truth.to_pixels(apix, shape).zyx, "px"
        if radius is not None and not apix:
            raise InputError("the radius is in Å but the voxel size is unknown; pass --apix or use --radius-px")
        r = r_given / apix if radius is not None else r_given
    a_names, b_names = _names(pred), _names(truth)
    ia_all, ib_all = np.arange(len(a_pts)), np.arange(len(b_pts))
    if tomogram is not None:
        if a_names is not None:
            ia_all = np.nonzero(a_names == tomogram)[0]
        if b_names is not None:
            ib_all = np.nonzero(b_names == tomogram)[0]
    if a_names is not None and b_names is not None and tomogram is None:
        groups = {k: (np.nonzero(a_names == k)[0], np.nonzero(b_names == k)[0])
                  for k in sorted(set(a_names) | set(b_names))}
    else:
        only = tomogram if tomogram is not None else ""
        groups = {only: (ia_all, ib_all)}
    per = {}
    tp_all = fp_all = fn_all = 0
    dsum = 0.0
    for key, (ia, ib) in groups.items():
        pairs = match_points(a_pts[ia], b_pts[ib], r)
        tp = len(pairs)
        if tp:
            dsum += float(np.linalg.norm(a_pts[ia][pairs[:, 0]] - b_pts[ib][pairs[:, 1]], axis=1).sum())
        per[str(key)] = _scores(tp, len(ia) - tp, len(ib) - tp)
        tp_all, fp_all, fn_all = tp_all + tp, fp_all + len(ia) - tp, fn_all + len(ib) - tp
    out = _scores(tp_all, fp_all, fn_all)
    out.update(n_pred=tp_all + fp_all, n_truth=tp_all + fn_all)
    out["radius_" + unit] = r
    if apix:
        out["apix"] = float(apix)
    out["mean_distance_" + unit] = dsum / tp_all if tp_all else None
    out["per_tomogram"] = per
    return out


def _names(c):
    names = np.asarray(c.tomograms, dtype=object) if c.tomograms is not None else None
    if names is None or not len(names) or all(not n for n in names):
        return None
    return names


def _scores(tp: int, fp: int, fn: int) -> dict:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return dict(precision=precision, recall=recall, f1=f1, tp=int(tp), fp=int(fp), fn=int(fn))
