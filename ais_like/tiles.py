"""The tile extractor: training tiles cut from annotated slices, as the segmenter will see them.

Every slice a tile comes from is first prepared exactly as segmentation prepares it
(:func:`ais_like.preprocess.prepare_slice`: resampled to the model's Å/px when ``target_apix``
is given, then normalised), and only then are ``box x box`` tiles cut from it. Tile parts that
fall outside the slice get image value 0 (the normalised median) and label 2 (ignore).

Labels in the tiles: 0 = background, 1 = feature, 2 = ignore (does not count in the loss).

Two sources:

- :func:`tiles_from_labels`: a label volume plus the indices of fully annotated slices (every
  pixel of those slices is either feature (label > 0) or background);
- :func:`tiles_from_annotations`: an :class:`ais_like.annotations.Annotations` object: its
  positive and negative boxes (EMAN2/Ais convention: inside a positive box the painted pixels
  are the feature and everything unpainted is background; a negative box is all background),
  and its painted slices that have no boxes, which count as fully annotated.

Positive tiles contain feature pixels, negative tiles contain none; ``positive_fraction`` sets
their ratio. Augmentation applies one of the 8 rotations/flips of the square (optionally an
arbitrary rotation, noise and contrast jitter) to image and label together. Everything is
deterministic by ``seed``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import InputError
from .trainset import IGNORE, TrainingSet

BOX_SIZES = (32, 64, 128, 256)

# The 8 symmetries of the square as 2x2 integer matrices acting on (dy, dx) offsets.
_SYMMETRIES = np.array([
    [[1, 0], [0, 1]], [[0, -1], [1, 0]], [[-1, 0], [0, -1]], [[0, 1], [-1, 0]],   # rotations
    [[1, 0], [0, -1]], [[0, 1], [1, 0]], [[-1, 0], [0, 1]], [[0, -1], [-1, 0]],   # flips
], dtype=np.int64)


@dataclass
class _Plane:
    """One prepared slice: image (normalised, at the target Å/px) and labels 0/1/2."""

    z: int
    image: np.ndarray   # float32 (y, x)
    label: np.ndarray   # uint8 (y, x)


MIN_DEFAULT_TILES = 768  # fewer left a network too few steps (24 batches of 32 per epoch)


def default_n_tiles(n_pixels: int, box: int) -> int:
    """The default number of tiles: about 4 tiles' worth of area per box of annotated area
    (every pixel appears in ~4 tiles), between :data:`MIN_DEFAULT_TILES` and 4096.

    The floor is for small annotations: 3 slices of 256 x 256 gave 192 tiles, 6 batches an
    epoch, and Ais's VGGNet S reached a membrane Dice of 0.40 on unseen slices in 20 epochs; with
    768 tiles 0.75 (tolerant Dice 0.74 -> 0.94; seed 3 of a 64 x 256 x 256 synthetic tomogram,
    benchmarks/bench_robustness.py). Augmentation makes the extra tiles differ."""
    return int(min(4096, max(MIN_DEFAULT_TILES, round(4 * n_pixels / float(box * box)))))


def tiles_from_labels(volume, labels, slices, *, box: int = 64, target_apix: float | None = None,
                      n_tiles: int | None = None, positive_fraction: float = 0.5, augment: bool = True,
                      normalisation: str = "slice", seed: int = 0, feature: str = "feature",
                      apix: float | None = None, rotate: bool = False, noise: float = 0.0,
                      contrast: float = 0.0, clamp: float | None = 4.0, lowpass: float | None = None,
                      highpass: float | None = None, progress=None) -> TrainingSet:
    """Cut a training set from fully annotated slices of a label volume.

    Parameters
    ----------
    volume : ais_like.volume.Volume or array (z, y, x). The tomogram.
    labels : Volume or array (z, y, x) of the same shape. On the listed slices, label > 0 is the
        feature and everything else background; other slices are not read.
    slices : z indices of the fully annotated slices.
    box : tile side in pixels at the target Å/px (32, 64, 128 or 256 are usual).
    target_apix : Å/px the model works at; the slices are resampled to it before cutting.
        None: the data's own Å/px.
    n_tiles : number of tiles; None: :func:`default_n_tiles` of the annotated area.
    positive_fraction : fraction of tiles that contain the feature (0..1). When a slice has no
        place without the feature, "negative" tiles are drawn anywhere.
    augment : apply a random one of the 8 rotations/flips to each tile (image and label alike).
    normalisation : "slice" or "global" (see :func:`ais_like.preprocess.normalise`), as the model
        will be applied.
    seed : random seed; the result is a function of the inputs and the seed.
    feature : the feature's name, stored in the training set.
    apix : Å/px of ``volume`` when it is an array or its header is wrong.
    rotate : arbitrary rotations (bilinear for images, nearest for labels) instead of the 8
        symmetries (needs ``augment``).
    noise, contrast : standard deviation of added Gaussian noise (in normalised units) and of a
        multiplicative contrast factor around 1, drawn per tile (need ``augment``).
    clamp : sigmas to clamp at in normalisation.
    lowpass, highpass : optional band-pass in Å applied to each slice before resampling and
        normalisation (see :func:`ais_like.preprocess.bandpass`); segmentation applies the same.
    progress : optional ``(done, total, message)`` callback.

    Returns
    -------
    TrainingSet with images float32 (n_tiles, box, box) and labels uint8 (n_tiles, box, box).
    """
    box, slices = _check_common(box, positive_fraction, slices)
    data, vol_apix = _data_and_apix(volume, apix)
    lab_data, _ = _data_and_apix(labels, None)
    if tuple(lab_data.shape) != tuple(data.shape):
        raise InputError(f"labels {tuple(lab_data.shape)} and tomogram {tuple(data.shape)} must have the same shape")
    nz = data.shape[0]
    for z in slices:
        if not 0 <= z < nz:
            raise InputError(f"slice {z} is outside the volume (0..{nz - 1})")
    stats = _global_stats(volume, normalisation, vol_apix, lowpass, highpass)
    planes = []
    for i, z in enumerate(slices):
        image = _prepare(data[z], vol_apix, target_apix, normalisation, clamp, stats, lowpass, highpass)
        feat = np.asarray(lab_data[z]) > 0
        label = _resample_mask(feat, image.shape).astype(np.uint8)
        planes.append(_Plane(z, image, label))
        if progress:
            progress(i + 1, len(slices), "preparing slices")
    n_pixels = sum(p.image.size for p in planes)
    n = default_n_tiles(n_pixels, box) if n_tiles is None else int(n_tiles)
    rng = np.random.default_rng(seed)
    zi, cy, cx, is_pos = _sample_centres(planes, box, n, positive_fraction, rng)
    images, labs = _cut_tiles(planes, zi, cy, cx, box, rng, augment=augment, rotate=rotate)
    if augment:
        images = _jitter(images, rng, noise, contrast)
    meta = _meta(planes, is_pos, vol_apix, target_apix, box, seed, augment, rotate, noise, contrast,
                 positive_fraction, stats, source="labels",
                 preprocess=_preprocess(normalisation, clamp, lowpass, highpass))
    return TrainingSet(images=images, labels=labs, apix=target_apix or vol_apix, feature=feature,
                       normalisation=normalisation, meta=meta)


def tiles_from_annotations(volume, annotations, feature: str, *, box: int | None = None,
                           target_apix: float | None = None, n_tiles: int | None = None,
                           positive_fraction: float = 0.5, augment: bool = True,
                           normalisation: str = "slice", seed: int = 0, apix: float | None = None,
                           mode: str = "auto", rotate: bool = False, noise: float = 0.0,
                           contrast: float = 0.0, clamp: float | None = 4.0, lowpass: float | None = None,
                           highpass: float | None = None, progress=None) -> TrainingSet:
    """Cut a training set from one feature's annotations (boxes and/or painted slices).

    Parameters
    ----------
    volume : Volume or array (z, y, x).
    annotations : ais_like.annotations.Annotations of this tomogram.
    feature : the feature's name.
    box : tile side at the target Å/px; None: the feature's box size.
    mode : which annotations make tiles:

        - "boxes": only the positive/negative boxes. Each box gives tiles centred on it; inside
          a positive box painted pixels are the feature (1), pixels painted "ignore" are 2 and
          everything else is background (0) - the EMAN2/Ais convention that a positive box is
          fully annotated. Negative boxes are background except their ignore paint.
        - "slices": every painted slice is taken as fully annotated (as in
          :func:`tiles_from_labels`), boxes are not used.
        - "auto" (default): boxes on slices that have boxes, whole slices for painted slices
          that have none.

    Other parameters are those of :func:`tiles_from_labels`. With boxes and ``n_tiles=None``
    there are 8 tiles per box (1 without ``augment``), drawn from the positive and negative
    boxes in the ratio ``positive_fraction``, plus :func:`default_n_tiles` for whole slices;
    a given ``n_tiles`` is shared between box slices and whole slices by their numbers.
    """
    from .annotations import IGNORE as ANN_IGNORE

    if mode not in ("auto", "boxes", "slices"):
        raise InputError(f"unknown tile mode {mode!r} (expected 'auto', 'boxes' or 'slices')")
    feat = annotations.feature(feature)
    box = int(feat.box_size if box is None else box)
    box, _ = _check_common(box, positive_fraction, [])
    data, vol_apix = _data_and_apix(volume, apix)
    if tuple(annotations.shape) != tuple(data.shape):
        raise InputError(f"annotations of shape {tuple(annotations.shape)} do not match the tomogram {tuple(data.shape)}")
    stats = _global_stats(volume, normalisation, vol_apix, lowpass, highpass)
    box_slices = sorted(annotations.boxed_slices(feature)) if mode != "slices" else []
    painted = sorted(annotations.annotated_slices(feature))
    whole = [z for z in painted if z not in box_slices] if mode != "boxes" else []
    if not box_slices and not whole:
        raise InputError(f"feature {feature!r} has no annotations to train from"
                         + (" (no boxes)" if mode == "boxes" else ""))
    scale = (vol_apix / target_apix) if (target_apix and vol_apix) else 1.0
    if target_apix and not vol_apix:
        raise InputError("resampling to the target Å/px needs the tomogram's voxel size; pass --apix")
    rng = np.random.default_rng(seed)
    planes_whole, planes_box = [], []
    for z in whole + box_slices:
        image = _prepare(data[z], vol_apix, target_apix, normalisation, clamp, stats, lowpass, highpass)
        raw = annotations.label_slice(feature, z)  # 0 unpainted, 1 feature, 2 ignore
        fg = _resample_mask(raw == 1, image.shape)
        ign = _resample_mask(raw == ANN_IGNORE, image.shape)
        label = np.where(ign, IGNORE, fg).astype(np.uint8)
        (planes_box if z in box_slices else planes_whole).append(_Plane(z, image, label))
    # Tiles from boxes
    parts = []
    pos_flags = []
    if planes_box:
        index = {p.z: i for i, p in enumerate(planes_box)}
        bz, by, bx, bpos = [], [], [], []
        for p in planes_box:
            for (y, x) in annotations.boxes(feature, p.z, positive=True):
                bz.append(index[p.z]); by.append(y); bx.append(x); bpos.append(True)
            for (y, x) in annotations.boxes(feature, p.z, positive=False):
                bz.append(index[p.z]); by.append(y); bx.append(x); bpos.append(False)
        bz, bpos = np.array(bz, np.int64), np.array(bpos, bool)
        # box centres at the target Å/px (pixel centres map onto pixel centres)
        by = np.floor((np.array(by, float) + 0.5) * scale).astype(np.int64)
        bx = np.floor((np.array(bx, float) + 0.5) * scale).astype(np.int64)
        # labels inside negative boxes: background except ignore paint
        if (~bpos).any():
            planes_box = [_Plane(p.z, p.image, p.label.copy()) for p in planes_box]
            for k in np.flatnonzero(~bpos):
                p = planes_box[bz[k]]
                sl = _box_slices(by[k], bx[k], box, p.label.shape)
                region = p.label[sl]
                region[region == 1] = 0
        if n_tiles is None:
            n_box = 8 * len(bz) if augment else len(bz)
        elif whole:
            n_box = int(round(int(n_tiles) * len(box_slices) / (len(box_slices) + len(whole))))
        else:
            n_box = int(n_tiles)
        pick = _balanced_pick(bpos, n_box, positive_fraction, rng)
        # only the box itself is annotated: what an arbitrary rotation brings in is ignored
        imgs, labs = _cut_tiles(planes_box, bz[pick], by[pick], bx[pick], box, rng, augment=augment,
                                rotate=rotate, inside_only=True)
        parts.append((imgs, labs))
        pos_flags.append(bpos[pick])
    if planes_whole:
        n_pixels = sum(p.image.size for p in planes_whole)
        if n_tiles is None:
            n_whole = default_n_tiles(n_pixels, box)
        else:
            n_whole = int(n_tiles) - sum(len(a) for a, _ in parts)
        if n_whole > 0:
            zi, cy, cx, is_pos = _sample_centres(planes_whole, box, n_whole, positive_fraction, rng)
            parts.append(_cut_tiles(planes_whole, zi, cy, cx, box, rng, augment=augment, rotate=rotate))
            pos_flags.append(is_pos)
    images = np.concatenate([a for a, _ in parts]) if parts else np.zeros((0, box, box), np.float32)
    labels = np.concatenate([b for _, b in parts]) if parts else np.zeros((0, box, box), np.uint8)
    if augment:
        images = _jitter(images, rng, noise, contrast)
    is_pos = np.concatenate(pos_flags) if pos_flags else np.zeros(0, bool)
    meta = _meta(planes_whole + planes_box, is_pos, vol_apix, target_apix, box, seed, augment, rotate, noise,
                 contrast, positive_fraction, stats, source="annotations",
                 preprocess=_preprocess(normalisation, clamp, lowpass, highpass))
    meta["mode"] = mode
    meta["box_slices"] = [int(z) for z in box_slices]
    meta["whole_slices"] = [int(z) for z in whole]
    return TrainingSet(images=images, labels=labels, apix=target_apix or vol_apix, feature=feature,
                       normalisation=normalisation, meta=meta)


# ------------------------------------------------------------------------------------------
# Helpers


def _check_common(box, positive_fraction, slices):
    box = int(box)
    if box < 8:
        raise InputError(f"box size must be at least 8 pixels, got {box}")
    if not 0.0 <= float(positive_fraction) <= 1.0:
        raise InputError(f"positive fraction must be between 0 and 1, got {positive_fraction}")
    slices = [int(z) for z in slices]
    if len(set(slices)) != len(slices):
        slices = sorted(set(slices))
    return box, slices


def _data_and_apix(volume, apix):
    if hasattr(volume, "data") and hasattr(volume, "header"):
        data = volume.data
        vol_apix = apix if apix is not None else volume.apix
    else:
        data = np.asarray(volume)
        vol_apix = apix
    if data.ndim != 3:
        raise InputError(f"expected a (z, y, x) volume, got shape {tuple(data.shape)}")
    return data, (float(vol_apix) if vol_apix else None)


def _global_stats(volume, normalisation, apix=None, lowpass=None, highpass=None):
    if normalisation != "global":
        return None
    from .preprocess import volume_stats

    return volume_stats(volume, apix=apix, lowpass=lowpass, highpass=highpass)


def _prepare(image, apix, target_apix, normalisation, clamp, stats, lowpass=None, highpass=None):
    from .preprocess import prepare_slice

    if target_apix and not apix:
        raise InputError("resampling to the target Å/px needs the tomogram's voxel size; pass --apix")
    return prepare_slice(np.asarray(image, np.float32), apix, target_apix, normalisation=normalisation,
                         clamp=clamp, stats=stats, lowpass=lowpass, highpass=highpass)


def _resample_mask(mask: np.ndarray, shape) -> np.ndarray:
    """A boolean (y, x) mask resampled to ``shape`` like the image (linear, then >= 0.5)."""
    mask = np.asarray(mask, bool)
    if tuple(mask.shape) == tuple(shape):
        return mask.copy()
    from .preprocess import resample_xy

    return resample_xy(mask.astype(np.float32), shape=tuple(shape), order=1) >= 0.5


def _box_slices(cy, cx, box, shape):
    y0, x0 = int(cy) - box // 2, int(cx) - box // 2
    return (slice(max(0, y0), max(0, min(shape[0], y0 + box))), slice(max(0, x0), max(0, min(shape[1], x0 + box))))


def _window_counts(mask: np.ndarray, box: int) -> np.ndarray:
    """For every pixel (y, x) of ``mask``: how many True pixels the box x box tile centred there
    (rows cy - box//2 .. cy - box//2 + box - 1) contains (parts outside count as False)."""
    h = box // 2
    pad = np.pad(mask.astype(np.int32), ((h + 1, box - h), (h + 1, box - h)))
    sat = pad.cumsum(0).cumsum(1)
    ny, nx = mask.shape
    y0 = np.arange(ny)[:, None]  # padded index of the tile's first row is cy - h + h + 1 = cy + 1
    x0 = np.arange(nx)[None, :]
    return sat[y0 + box, x0 + box] - sat[y0, x0 + box] - sat[y0 + box, x0] + sat[y0, x0]


def _sample_centres(planes, box, n, positive_fraction, rng):
    """Tile centres (plane index, cy, cx) and whether each was drawn as a positive."""
    n = int(n)
    if n <= 0:
        return (np.zeros(0, np.int64),) * 3 + (np.zeros(0, bool),)
    pos_pool, neg_pool, any_pool = [], [], []
    for i, p in enumerate(planes):
        fg = p.label == 1
        flat = np.flatnonzero(fg)
        if flat.size:
            pos_pool.append(np.stack([np.full(flat.size, i), flat], 1))
        counted = p.label != IGNORE
        counts = _window_counts(fg, box)
        free = np.flatnonzero((counts == 0) & counted)
        if free.size:
            neg_pool.append(np.stack([np.full(free.size, i), free], 1))
        allc = np.flatnonzero(counted) if counted.any() else np.arange(p.label.size)
        any_pool.append(np.stack([np.full(allc.size, i), allc], 1))
    pos_pool = np.concatenate(pos_pool) if pos_pool else np.zeros((0, 2), np.int64)
    neg_pool = np.concatenate(neg_pool) if neg_pool else np.zeros((0, 2), np.int64)
    any_pool = np.concatenate(any_pool)
    n_pos = int(round(n * positive_fraction)) if len(pos_pool) else 0
    n_neg = n - n_pos
    chosen, flags = [], []
    if n_pos:
        pick = pos_pool[rng.integers(0, len(pos_pool), n_pos)]
        chosen.append(pick)
        flags.append(np.ones(n_pos, bool))
    if n_neg:
        pool = neg_pool if len(neg_pool) else any_pool
        chosen.append(pool[rng.integers(0, len(pool), n_neg)])
        flags.append(np.zeros(n_neg, bool))
    chosen = np.concatenate(chosen)
    flags = np.concatenate(flags)
    zi = chosen[:, 0].astype(np.int64)
    nx = np.array([p.label.shape[1] for p in planes])
    cy, cx = np.divmod(chosen[:, 1], nx[zi])
    if n_pos:
        # Positive tiles: a feature pixel, not always at the tile's centre.
        j = max(1, box // 4)
        cy[:n_pos] += rng.integers(-j, j + 1, n_pos)
        cx[:n_pos] += rng.integers(-j, j + 1, n_pos)
        ny_ = np.array([p.label.shape[0] for p in planes])[zi[:n_pos]]
        cy[:n_pos] = np.clip(cy[:n_pos], 0, ny_ - 1)
        cx[:n_pos] = np.clip(cx[:n_pos], 0, nx[zi[:n_pos]] - 1)
    order = rng.permutation(len(zi))
    return zi[order], cy[order].astype(np.int64), cx[order].astype(np.int64), flags[order]


def _balanced_pick(is_pos, n, positive_fraction, rng):
    """Indices into boxes: ``n`` picks, ``positive_fraction`` of them from the positive boxes
    (all from the kind there is when only one kind exists)."""
    idx = np.arange(len(is_pos))
    pos, neg = idx[is_pos], idx[~is_pos]
    if not len(pos) or not len(neg):
        return idx[rng.integers(0, len(idx), n)] if n > 0 else idx[:0]
    n_pos = int(round(n * positive_fraction))
    return rng.permutation(np.concatenate([pos[rng.integers(0, len(pos), n_pos)],
                                           neg[rng.integers(0, len(neg), n - n_pos)]]))


def _cut_tiles(planes, zi, cy, cx, box, rng, *, augment, rotate, inside_only=False):
    """Cut tiles centred at (cy, cx) of planes[zi], transformed when ``augment``.

    The tile centred at (cy, cx) covers rows cy - box//2 .. cy - box//2 + box - 1 (same for x);
    rotations and flips are about that square's centre, so the 8 symmetries map pixels onto
    pixels exactly. Images and labels are transformed together.
    """
    n = len(zi)
    if n == 0:
        return np.zeros((0, box, box), np.float32), np.zeros((0, box, box), np.uint8)
    shapes = {p.image.shape for p in planes}
    h = box // 2
    if len(shapes) == 1:
        img_stack = np.stack([p.image for p in planes])
        lab_stack = np.stack([p.label for p in planes])
    else:  # slices of different sizes: pad to a common one (the padding is outside: ignore)
        my = max(s[0] for s in shapes)
        mx = max(s[1] for s in shapes)
        img_stack = np.zeros((len(planes), my, mx), np.float32)
        lab_stack = np.full((len(planes), my, mx), IGNORE, np.uint8)
        for i, p in enumerate(planes):
            img_stack[i, :p.image.shape[0], :p.image.shape[1]] = p.image
            lab_stack[i, :p.label.shape[0], :p.label.shape[1]] = p.label
    m = int(math.ceil(box * 0.75)) + 2  # margin: any rotation of a tile stays inside the padding
    img_p = np.pad(img_stack, ((0, 0), (m, m), (m, m)), constant_values=0.0)
    lab_p = np.pad(lab_stack, ((0, 0), (m, m), (m, m)), constant_values=IGNORE)
    rel = np.arange(box, dtype=np.float64) - (box - 1) / 2.0  # offsets from the square's centre
    centre_y = cy + m - h + (box - 1) / 2.0
    centre_x = cx + m - h + (box - 1) / 2.0
    ry, rx = np.meshgrid(rel, rel, indexing="ij")  # (box, box)
    if augment and rotate:
        ang = rng.uniform(0, 2 * math.pi, n)
        flip = rng.integers(0, 2, n).astype(bool)
        c, s = np.cos(ang)[:, None, None], np.sin(ang)[:, None, None]
        rxf = np.where(flip[:, None, None], -rx[None], rx[None])
        yy = centre_y[:, None, None] + c * ry[None] - s * rxf
        xx = centre_x[:, None, None] + s * ry[None] + c * rxf
        zz = np.broadcast_to(zi[:, None, None], yy.shape).astype(np.float64)
        from scipy import ndimage

        coords = np.stack([zz, yy, xx])
        images = ndimage.map_coordinates(img_p, coords, order=1, mode="constant", cval=0.0).astype(np.float32)
        inside = (yy > -0.5) & (yy < lab_p.shape[1] - 0.5) & (xx > -0.5) & (xx < lab_p.shape[2] - 0.5)
        labels = lab_p[zi[:, None, None], np.clip(np.rint(yy), 0, lab_p.shape[1] - 1).astype(np.int64),
                       np.clip(np.rint(xx), 0, lab_p.shape[2] - 1).astype(np.int64)]
        labels = np.where(inside, labels, IGNORE).astype(np.uint8)
        if inside_only:
            lim = box / 2.0
            outside = (np.abs(yy - centre_y[:, None, None]) > lim) | (np.abs(xx - centre_x[:, None, None]) > lim)
            labels[outside] = IGNORE
        return images, labels
    if augment:
        k = rng.integers(0, 8, n)
        mat = _SYMMETRIES[k].astype(np.float64)  # (n, 2, 2)
        yy = centre_y[:, None, None] + mat[:, 0, 0, None, None] * ry[None] + mat[:, 0, 1, None, None] * rx[None]
        xx = centre_x[:, None, None] + mat[:, 1, 0, None, None] * ry[None] + mat[:, 1, 1, None, None] * rx[None]
    else:
        yy = centre_y[:, None, None] + ry[None]
        xx = centre_x[:, None, None] + rx[None]
    iy = np.rint(yy).astype(np.int64)
    ix = np.rint(xx).astype(np.int64)
    zz = zi[:, None, None]
    return img_p[zz, iy, ix], lab_p[zz, iy, ix]


def _jitter(images, rng, noise, contrast):
    if not noise and not contrast:
        return images
    n = len(images)
    out = images.copy()
    if contrast:
        out *= (1.0 + contrast * rng.standard_normal(n)).astype(np.float32)[:, None, None]
    if noise:
        out += (noise * rng.standard_normal(out.shape)).astype(np.float32)
    return out


def _preprocess(normalisation, clamp, lowpass, highpass) -> dict:
    """How the tiles' slices were prepared; stored with the model so segmentation does the same."""
    return {"normalisation": normalisation, "clamp": clamp, "lowpass": lowpass, "highpass": highpass}


def feature_size(masks) -> dict:
    """How big the annotated objects are: 2D connected components of each mask (y, x) bool
    that do not touch its edge; ``diameter_px`` is the 90th percentile of their equivalent
    diameters (a slice cuts most particles off their centre, so the larger cross-sections tell
    the particle's size), None when there are none."""
    from scipy import ndimage

    diameters = []
    for m in masks:
        lab, n = ndimage.label(np.asarray(m, bool))
        if not n:
            continue
        edge = np.unique(np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]]))
        areas = np.bincount(lab.ravel(), minlength=n + 1).astype(float)
        keep = np.setdiff1d(np.arange(1, n + 1), edge)
        diameters.extend(2.0 * np.sqrt(areas[keep] / math.pi))
    if not diameters:
        return {"diameter_px": None, "components": 0}
    return {"diameter_px": round(float(np.percentile(diameters, 90)), 2), "components": len(diameters)}


def _meta(planes, is_pos, vol_apix, target_apix, box, seed, augment, rotate, noise, contrast,
          positive_fraction, stats, source, preprocess):
    return {
        "feature_size": feature_size([p.label == 1 for p in planes]),
        "preprocess": preprocess,
        "source": source,
        "slices": [int(p.z) for p in planes],
        "data_apix": vol_apix,
        "target_apix": target_apix,
        "box": int(box),
        "seed": int(seed),
        "augment": bool(augment),
        "rotate": bool(rotate),
        "noise": float(noise),
        "contrast": float(contrast),
        "positive_fraction": float(positive_fraction),
        "drawn_positive": int(np.sum(is_pos)),
        "drawn_negative": int(len(is_pos) - np.sum(is_pos)),
        "global_stats": list(stats) if stats is not None else None,
    }


# ------------------------------------------------------------------------------------------
# From files (what the CLI, batch jobs and the GUI share)


def training_set_from_files(data, labels, slices, *, feature: str = "feature", apix: float | None = None,
                            box: int = 64, progress=None, **options) -> TrainingSet:
    """:func:`tiles_from_labels` on a tomogram file and a label-volume file of the same shape."""
    from .volume import open_volume

    with open_volume(data, apix=apix) as vol, open_volume(labels) as lab:
        if lab.shape != vol.shape:
            raise InputError(f"{labels}: label volume {lab.shape} does not match the tomogram {data} {vol.shape}")
        ts = tiles_from_labels(vol, lab.data, slices, box=box, feature=feature, progress=progress, **options)
    ts.meta["sources"] = [str(data)]
    return ts


def training_set_from_project(project, feature: str, *, apix: float | None = None, box: int | None = None,
                              progress=None, **options) -> TrainingSet:
    """Tiles of ``feature`` from every tomogram of a project that has annotations of it.

    ``project`` is an ``ais_like.project.Project`` or the path of a ``.aisproj`` folder. Each
    tomogram gives :func:`tiles_from_annotations` (its own voxel size, or ``apix``); the sets
    are concatenated. With a ``target_apix`` in ``options`` all are resampled to it; without,
    the tomograms must share one Å/px.
    """
    from . import project as project_mod

    proj = project_mod.load(project) if not hasattr(project, "datasets") else project
    if feature not in proj.features:
        known = ", ".join(repr(f) for f in proj.features) or "none"
        raise InputError(f"{getattr(proj, 'path', project)}: no feature {feature!r} (features: {known})")
    sets = []
    for ds in proj.datasets.values():
        ann = ds.annotations
        if feature not in ann.feature_names or not (ann.annotated_slices(feature) or ann.boxed_slices(feature)):
            continue
        if not ds.exists:
            raise InputError(f"{ds.path}: tomogram of dataset {ds.name!r} not found")
        with ds.open() as vol:
            ts = tiles_from_annotations(vol, ann, feature, box=box, apix=apix or ds.apix, progress=progress,
                                        **options)
        ts.meta["sources"] = [str(ds.path)]
        sets.append(ts)
    if not sets:
        raise InputError(f"{getattr(proj, 'path', project)}: feature {feature!r} has no annotations to train from")
    return TrainingSet.concatenate(sets)
