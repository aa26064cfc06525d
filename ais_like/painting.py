"""Painting operations on annotation masks, for the GUI and for scripts.

Two kinds of functions:

- **pure** functions take a (y, x) mask (uint8: 0 unpainted, 1 feature, 2 ignore) and return a
  new one; their inputs are never modified (:func:`paint_stroke`, :func:`erase_stroke`,
  :func:`flood_fill`, :func:`import_labels`);
- **in-place** functions, named ``*_inplace``, change an :class:`~ais_like.annotations.Annotations`
  object directly, for speed: they touch only the bounding box of the brush (or of the filled
  region), mark the slice changed, and record what they overwrite in an :class:`UndoStack` when
  one is given. The GUI paints with these at frame rate on 2048 x 2048 slices.

Coordinates are (y, x) floats in pixels of the slice; pixel centres sit on integers. A round
brush of ``radius`` r paints every pixel whose centre lies within r of the stroke segment (at
least the pixel under the cursor). A *stroke* is everything between mouse-down and mouse-up:
the GUI calls :meth:`UndoStack.begin`, then one ``*_inplace`` call per mouse move with the
previous and the current position (so a fast mouse leaves no gaps), then :meth:`UndoStack.end`;
:meth:`UndoStack.undo` reverts the whole stroke.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field

import numpy as np

from .annotations import FEATURE, IGNORE, UNPAINTED, Annotations
from .errors import InputError

# --------------------------------------------------------------------------------------------
# Geometry


def stroke_bbox(shape, p0, p1=None, *, radius: float) -> tuple[int, int, int, int]:
    """Half-open (y0, y1, x0, x1) box of the pixels a brush of ``radius`` moving from p0 to p1
    can touch, clipped to ``shape`` (may be empty when the stroke is outside the slice)."""
    p1 = p0 if p1 is None else p1
    r = max(float(radius), 0.5)
    ys, xs = (float(p0[0]), float(p1[0])), (float(p0[1]), float(p1[1]))
    y0 = max(0, int(math.ceil(min(ys) - r)))
    y1 = min(int(shape[0]), int(math.floor(max(ys) + r)) + 1)
    x0 = max(0, int(math.ceil(min(xs) - r)))
    x1 = min(int(shape[1]), int(math.floor(max(xs) + r)) + 1)
    return y0, max(y0, y1), x0, max(x0, x1)


def stroke_footprint(shape, p0, p1=None, *, radius: float):
    """``(bbox, hit)``: the stroke's bounding box and a bool array of that box's size marking the
    pixels whose centres lie within ``radius`` of the segment p0-p1 (a capsule)."""
    p1 = p0 if p1 is None else p1
    bbox = stroke_bbox(shape, p0, p1, radius=radius)
    y0, y1, x0, x1 = bbox
    if y1 <= y0 or x1 <= x0:
        return bbox, np.zeros((max(0, y1 - y0), max(0, x1 - x0)), bool)
    r = max(float(radius), 0.5)
    ay, ax = float(p0[0]), float(p0[1])
    dy, dx = float(p1[0]) - ay, float(p1[1]) - ax
    yy = (np.arange(y0, y1, dtype=np.float64) - ay)[:, None]
    xx = (np.arange(x0, x1, dtype=np.float64) - ax)[None, :]
    len2 = dy * dy + dx * dx
    if len2 > 0:
        t = np.clip((yy * dy + xx * dx) / len2, 0.0, 1.0)
        ey, ex = yy - t * dy, xx - t * dx
    else:
        ey, ex = yy, xx
    return bbox, (ey * ey + ex * ex) <= r * r + 1e-9


# --------------------------------------------------------------------------------------------
# Pure functions on masks


def _check_mask(mask) -> np.ndarray:
    m = np.asarray(mask)
    if m.ndim != 2:
        raise InputError(f"a slice mask must be 2D (y, x), got shape {m.shape}")
    return m


def paint_stroke(mask: np.ndarray, p0, p1=None, *, radius: float, value: int = FEATURE) -> np.ndarray:
    """A copy of ``mask`` (y, x) with a round brush stroke from p0 to p1 painted as ``value``
    (1 feature, 2 ignore, 0 erases). ``mask`` is not modified."""
    out = _check_mask(mask).astype(np.uint8, copy=True)
    (y0, y1, x0, x1), hit = stroke_footprint(out.shape, p0, p1, radius=radius)
    out[y0:y1, x0:x1][hit] = value
    return out


def erase_stroke(mask: np.ndarray, p0, p1=None, *, radius: float) -> np.ndarray:
    """A copy of ``mask`` with the stroke's pixels set back to unpainted (0)."""
    return paint_stroke(mask, p0, p1, radius=radius, value=UNPAINTED)


def flood_region(image: np.ndarray, seed, *, tolerance: float, radius: float | None = None,
                 connectivity: int = 1) -> np.ndarray:
    """Bool (y, x) region grown from ``seed`` (y, x) over pixels whose intensity differs from the
    seed pixel's by at most ``tolerance`` (image units; pass e.g. 0.5 * the slice's sigma),
    connected to the seed (``connectivity`` 1: 4-neighbours, 2: 8-neighbours), and when
    ``radius`` is given, within that distance of the seed (the GUI's flood brush)."""
    from scipy import ndimage

    img = np.asarray(image)
    if img.ndim != 2:
        raise InputError(f"flood fill needs a 2D (y, x) image, got shape {img.shape}")
    sy, sx = int(round(seed[0])), int(round(seed[1]))
    out = np.zeros(img.shape, bool)
    if not (0 <= sy < img.shape[0] and 0 <= sx < img.shape[1]):
        return out
    if radius is not None:
        (y0, y1, x0, x1), disk = stroke_footprint(img.shape, (sy, sx), radius=radius)
    else:
        y0, y1, x0, x1 = 0, img.shape[0], 0, img.shape[1]
        disk = None
    crop = img[y0:y1, x0:x1].astype(np.float64)
    ok = np.abs(crop - float(img[sy, sx])) <= float(tolerance)
    if disk is not None:
        ok &= disk
    structure = ndimage.generate_binary_structure(2, 1 if connectivity == 1 else 2)
    lab, _ = ndimage.label(ok, structure=structure)
    out[y0:y1, x0:x1] = lab == lab[sy - y0, sx - x0]
    return out


def flood_fill(mask: np.ndarray, image: np.ndarray, seed, *, tolerance: float, value: int = FEATURE,
               radius: float | None = None, connectivity: int = 1) -> np.ndarray:
    """A copy of ``mask`` with :func:`flood_region` of ``image`` painted as ``value``."""
    out = _check_mask(mask).astype(np.uint8, copy=True)
    if out.shape != np.shape(image):
        raise InputError(f"mask {out.shape} and image {np.shape(image)} must have the same shape")
    out[flood_region(image, seed, tolerance=tolerance, radius=radius, connectivity=connectivity)] = value
    return out


def import_labels(annotations: Annotations, feature: str, labels, *, slices=None, replace: bool = True,
                  ignore_value: int | None = None) -> Annotations:
    """A copy of ``annotations`` with a label volume imported as the feature's painting.

    Parameters
    ----------
    labels : (z, y, x) array or Volume of the tomogram's shape; > 0 is the feature (except
        ``ignore_value``, which becomes 2 = ignore).
    slices : z to import; None: every slice where the label volume has something.
    replace : True: the imported slices become exactly the labels (unpainted elsewhere);
        False: feature pixels are added to the existing painting.

    The feature is created when missing. ``annotations`` is not modified.
    """
    new = annotations.copy()
    import_labels_inplace(new, feature, labels, slices=slices, replace=replace, ignore_value=ignore_value)
    return new


# --------------------------------------------------------------------------------------------
# In-place operations on Annotations (for the GUI), with undo


def paint_stroke_inplace(annotations: Annotations, feature: str, z: int, p0, p1=None, *, radius: float,
                         value: int = FEATURE, undo: "UndoStack | None" = None) -> tuple[int, int, int, int]:
    """Paint a brush stroke segment into the stored mask of (feature, z), **in place**.

    Touches only the stroke's bounding box, which it returns as (y0, y1, x0, x1) (for the GUI
    to re-upload only that part of its texture). Records the overwritten pixels in ``undo``.
    """
    if value not in (UNPAINTED, FEATURE, IGNORE):
        raise InputError(f"paint value must be 0, 1 or 2, got {value}")
    shape = annotations.shape[1:]
    bbox, hit = stroke_footprint(shape, p0, p1, radius=radius)
    y0, y1, x0, x1 = bbox
    if not hit.any():
        return bbox
    m = annotations.mask(feature, z)
    if m is None:
        if value == UNPAINTED:
            return bbox  # erasing an unpainted slice changes nothing
    with _stroke(undo, "paint" if value else "erase"):
        if undo is not None:
            undo.record_region(annotations, feature, z, bbox)
        m = annotations.mask(feature, z, create=True)
        m[y0:y1, x0:x1][hit] = value
        annotations.touch(feature, z)
    return bbox


def erase_stroke_inplace(annotations: Annotations, feature: str, z: int, p0, p1=None, *, radius: float,
                         undo: "UndoStack | None" = None) -> tuple[int, int, int, int]:
    """Erase (set unpainted) along a brush stroke segment, **in place**; see
    :func:`paint_stroke_inplace`."""
    return paint_stroke_inplace(annotations, feature, z, p0, p1, radius=radius, value=UNPAINTED, undo=undo)


def flood_fill_inplace(annotations: Annotations, feature: str, z: int, image: np.ndarray, seed, *,
                       tolerance: float, value: int = FEATURE, radius: float | None = None,
                       connectivity: int = 1, undo: "UndoStack | None" = None) -> tuple[int, int, int, int]:
    """Flood fill slice z's image from ``seed`` into the feature's mask, **in place**; returns the
    bounding box of the filled region (empty box when nothing was filled)."""
    if np.shape(image) != tuple(annotations.shape[1:]):
        raise InputError(f"image {np.shape(image)} does not match the slice {annotations.shape[1:]}")
    region = flood_region(image, seed, tolerance=tolerance, radius=radius, connectivity=connectivity)
    ys = np.flatnonzero(region.any(axis=1))
    if not ys.size:
        return (0, 0, 0, 0)
    xs = np.flatnonzero(region.any(axis=0))
    bbox = (int(ys[0]), int(ys[-1]) + 1, int(xs[0]), int(xs[-1]) + 1)
    y0, y1, x0, x1 = bbox
    with _stroke(undo, "fill"):
        if undo is not None:
            undo.record_region(annotations, feature, z, bbox)
        m = annotations.mask(feature, z, create=True)
        m[y0:y1, x0:x1][region[y0:y1, x0:x1]] = value
        annotations.touch(feature, z)
    return bbox


def apply_mask_inplace(annotations: Annotations, feature: str, z: int, mask: np.ndarray, *,
                       mode: str = "replace", undo: "UndoStack | None" = None) -> None:
    """Put a whole-slice mask into (feature, z), **in place** (e.g. model-assisted annotation:
    a thresholded prediction copied into the annotation, then edited).

    mode : "replace" (the slice becomes ``mask``), "add" (pixels where mask > 0 take its
        value, others keep theirs) or "erase" (pixels where mask > 0 become unpainted).
    """
    m_new = np.asarray(mask)
    if m_new.shape != tuple(annotations.shape[1:]):
        raise InputError(f"mask {m_new.shape} does not match the slice {annotations.shape[1:]}")
    if m_new.dtype == bool:
        m_new = m_new.astype(np.uint8)
    if m_new.size and int(m_new.max()) > IGNORE:
        raise InputError(f"mask values must be 0, 1 or 2, found {int(m_new.max())}")
    old = annotations.label_slice(feature, z)
    if mode == "replace":
        result = m_new.astype(np.uint8)
    elif mode == "add":
        result = np.where(m_new > 0, m_new, old).astype(np.uint8)
    elif mode == "erase":
        result = np.where(m_new > 0, UNPAINTED, old).astype(np.uint8)
    else:
        raise InputError(f"unknown mode {mode!r} (expected 'replace', 'add' or 'erase')")
    with _stroke(undo, "set slice"):
        if undo is not None:
            undo.record_region(annotations, feature, z, (0, result.shape[0], 0, result.shape[1]))
        annotations.set_slice(feature, z, result)


def import_labels_inplace(annotations: Annotations, feature: str, labels, *, slices=None, replace: bool = True,
                          ignore_value: int | None = None, undo: "UndoStack | None" = None) -> list[int]:
    """:func:`import_labels`, **in place** (one undo step); returns the slices imported."""
    data = labels.data if hasattr(labels, "data") and hasattr(labels, "header") else np.asarray(labels)
    if tuple(data.shape) != tuple(annotations.shape):
        raise InputError(f"label volume {tuple(data.shape)} does not match the tomogram {tuple(annotations.shape)}")
    if feature not in annotations.features:
        annotations.add_feature(feature)
    nz = data.shape[0]
    if slices is None:
        slices = [z for z in range(nz) if np.asarray(data[z]).any()]
    slices = sorted({int(z) for z in slices})
    with _stroke(undo, "import"):
        for z in slices:
            lab = np.asarray(data[z])
            m = (lab > 0).astype(np.uint8)
            if ignore_value is not None:
                m[lab == ignore_value] = IGNORE
            mode = "replace" if replace else "add"
            apply_mask_inplace(annotations, feature, z, m, mode=mode, undo=undo)
    return slices


def box_change_inplace(annotations: Annotations, feature: str, z: int, y: float, x: float, *,
                       positive: bool = True, remove: bool = False, undo: "UndoStack | None" = None) -> bool:
    """Place (or with ``remove``, delete the box under) a training box, **in place**, undoably.
    Returns whether anything changed."""
    with _stroke(undo, "box"):
        if undo is not None:
            undo.record_boxes(annotations, feature, z)
        if remove:
            return annotations.remove_box_near(feature, z, y, x)
        before = len(annotations.boxes(feature, z, positive))
        annotations.add_box(feature, z, y, x, positive=positive)
        return len(annotations.boxes(feature, z, positive)) != before


# --------------------------------------------------------------------------------------------
# Undo


@dataclass
class _RegionDiff:
    feature: str
    z: int
    bbox: tuple
    index: np.ndarray       # flat indices into the bbox of the pixels that changed
    before: np.ndarray      # their values before the stroke
    after: np.ndarray       # and after it
    existed: bool           # whether the slice had a stored mask before the stroke

    @property
    def nbytes(self) -> int:
        return int(self.index.nbytes + self.before.nbytes + self.after.nbytes) + 64


@dataclass
class _BoxDiff:
    feature: str
    z: int
    before: tuple
    after: tuple

    @property
    def nbytes(self) -> int:
        return 64 + 16 * (sum(len(x) for x in self.before) + sum(len(x) for x in self.after))


@dataclass
class Stroke:
    """One undo step: the changes between :meth:`UndoStack.begin` and :meth:`UndoStack.end`."""

    label: str
    annotations: Annotations
    diffs: list = field(default_factory=list)

    @property
    def nbytes(self) -> int:
        return sum(d.nbytes for d in self.diffs)


class UndoStack:
    """Undo/redo of whole strokes, storing only the pixels a stroke changed.

    During a stroke, the in-place painting functions call :meth:`record_region` before they
    change a region; the stack keeps the original content of the union of the touched boxes per
    (feature, slice). :meth:`end` reduces that to the changed pixels (indices + old + new
    values). Memory is bounded by ``max_strokes`` and ``max_bytes`` (the oldest go first).
    """

    def __init__(self, max_strokes: int = 200, max_bytes: int = 256 * 2 ** 20):
        self.max_strokes = int(max_strokes)
        self.max_bytes = int(max_bytes)
        self._done: list[Stroke] = []
        self._undone: list[Stroke] = []
        self._open: dict | None = None
        self._open_label = ""
        self._open_ann: Annotations | None = None

    # -- recording ---------------------------------------------------------------------------

    @property
    def in_stroke(self) -> bool:
        return self._open is not None

    def begin(self, label: str = "stroke") -> None:
        """Start a stroke (mouse down). A stroke still open is ended first."""
        if self._open is not None:
            self.end()
        self._open = {}
        self._open_label = label
        self._open_ann = None

    @contextlib.contextmanager
    def stroke(self, label: str = "stroke"):
        """``with undo.stroke("brush"): ...`` = begin / end."""
        self.begin(label)
        try:
            yield self
        finally:
            self.end()

    def record_region(self, annotations: Annotations, feature: str, z: int, bbox) -> None:
        """Remember the current content of ``bbox`` of (feature, z) before it changes."""
        if self._open is None:
            raise RuntimeError("record_region outside a stroke: call begin() first")
        self._bind(annotations)
        y0, y1, x0, x1 = (int(v) for v in bbox)
        if y1 <= y0 or x1 <= x0:
            return
        key = ("mask", feature, int(z))
        m = annotations.mask(feature, z)
        entry = self._open.get(key)
        if entry is None:
            before = np.zeros((y1 - y0, x1 - x0), np.uint8) if m is None else m[y0:y1, x0:x1].copy()
            self._open[key] = {"bbox": (y0, y1, x0, x1), "before": before, "existed": m is not None}
            return
        oy0, oy1, ox0, ox1 = entry["bbox"]
        ny0, ny1, nx0, nx1 = min(oy0, y0), max(oy1, y1), min(ox0, x0), max(ox1, x1)
        if (ny0, ny1, nx0, nx1) == (oy0, oy1, ox0, ox1):
            return
        # grow the union: pixels outside the old box are still original in the current mask
        grown = np.zeros((ny1 - ny0, nx1 - nx0), np.uint8) if m is None else m[ny0:ny1, nx0:nx1].copy()
        grown[oy0 - ny0:oy1 - ny0, ox0 - nx0:ox1 - nx0] = entry["before"]
        entry["bbox"], entry["before"] = (ny0, ny1, nx0, nx1), grown

    def record_boxes(self, annotations: Annotations, feature: str, z: int) -> None:
        """Remember the boxes of (feature, z) before they change."""
        if self._open is None:
            raise RuntimeError("record_boxes outside a stroke: call begin() first")
        self._bind(annotations)
        key = ("boxes", feature, int(z))
        if key not in self._open:
            self._open[key] = {"before": (annotations.boxes(feature, z, True), annotations.boxes(feature, z, False))}

    def end(self) -> Stroke | None:
        """Finish the stroke (mouse up); returns it, or None when it changed nothing."""
        if self._open is None:
            return None
        entries, ann, label = self._open, self._open_ann, self._open_label
        self._open, self._open_ann = None, None
        if ann is None or not entries:
            return None
        stroke = Stroke(label, ann)
        for key, e in entries.items():
            kind, feature, z = key
            if kind == "mask":
                y0, y1, x0, x1 = e["bbox"]
                try:
                    m = ann.mask(feature, z)
                except InputError:  # feature removed during the stroke
                    continue
                after = np.zeros_like(e["before"]) if m is None else m[y0:y1, x0:x1]
                idx = np.flatnonzero(after != e["before"])
                if idx.size:
                    stroke.diffs.append(_RegionDiff(feature, z, e["bbox"], idx.astype(np.int64),
                                                    e["before"].reshape(-1)[idx].copy(),
                                                    np.asarray(after).reshape(-1)[idx].copy(), e["existed"]))
                elif not e["existed"] and m is not None and not m.any():
                    ann.clear_slice(feature, z)  # nothing painted: do not keep an empty slice
            else:
                try:
                    after = (ann.boxes(feature, z, True), ann.boxes(feature, z, False))
                except InputError:
                    continue
                if after != e["before"]:
                    stroke.diffs.append(_BoxDiff(feature, z, e["before"], after))
        if not stroke.diffs:
            return None
        self._done.append(stroke)
        self._undone.clear()
        self._trim()
        return stroke

    # -- undo / redo -------------------------------------------------------------------------

    @property
    def can_undo(self) -> bool:
        return bool(self._done)

    @property
    def can_redo(self) -> bool:
        return bool(self._undone)

    def undo(self) -> str | None:
        """Revert the last stroke; returns its label, or None when there is nothing to undo."""
        if self._open is not None:
            self.end()
        if not self._done:
            return None
        stroke = self._done.pop()
        for d in reversed(stroke.diffs):
            self._apply(stroke.annotations, d, backwards=True)
        self._undone.append(stroke)
        return stroke.label

    def redo(self) -> str | None:
        """Re-apply the last undone stroke; returns its label or None."""
        if not self._undone:
            return None
        stroke = self._undone.pop()
        for d in stroke.diffs:
            self._apply(stroke.annotations, d, backwards=False)
        self._done.append(stroke)
        return stroke.label

    def clear(self) -> None:
        self._done.clear()
        self._undone.clear()
        self._open = None

    def rename_feature(self, old: str, new: str) -> None:
        """Keep the history valid after a feature was renamed."""
        for s in self._done + self._undone:
            for d in s.diffs:
                if d.feature == old:
                    d.feature = new

    @property
    def nbytes(self) -> int:
        return sum(s.nbytes for s in self._done + self._undone)

    def __len__(self) -> int:
        return len(self._done)

    # -- internals ---------------------------------------------------------------------------

    def _bind(self, annotations: Annotations) -> None:
        if self._open_ann is None:
            self._open_ann = annotations
        elif self._open_ann is not annotations:
            raise RuntimeError("one stroke cannot change two different Annotations objects")

    def _apply(self, ann: Annotations, d, backwards: bool) -> None:
        if d.feature not in ann.features:
            return  # the feature was removed since
        if isinstance(d, _BoxDiff):
            pos, neg = d.before if backwards else d.after
            ann.set_boxes(d.feature, d.z, pos, neg)
            return
        y0, y1, x0, x1 = d.bbox
        m = ann.mask(d.feature, d.z, create=True)
        region = m[y0:y1, x0:x1]
        iy, ix = np.unravel_index(d.index, region.shape)
        region[iy, ix] = d.before if backwards else d.after
        if backwards and not d.existed and not m.any():
            ann.clear_slice(d.feature, d.z)
        else:
            ann.touch(d.feature, d.z)

    def _trim(self) -> None:
        while len(self._done) > self.max_strokes:
            self._done.pop(0)
        while len(self._done) > 1 and self.nbytes > self.max_bytes:
            self._done.pop(0)


@contextlib.contextmanager
def _stroke(undo: UndoStack | None, label: str):
    """Inside an open stroke: nothing; otherwise make this one operation its own undo step."""
    if undo is None or undo.in_stroke:
        yield
    else:
        with undo.stroke(label):
            yield
