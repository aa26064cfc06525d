"""Pure functions that turn annotations into what the canvas overlays (numpy only, no GL).

:func:`annotation_rgba` composes a whole slice. While the user paints, every stroke step
changes the annotations, so the renderer keeps an :class:`OverlayCache`: the painting actions
call :func:`note_change` with the box each step touched, and the cache recomposes (and the
renderer re-uploads) only that box. Anything the cache was not told about (undo, import, a
feature's colour) recomposes the whole slice, so a missed note costs time, never correctness.
"""

from __future__ import annotations

import weakref

import numpy as np

from ..annotations import FEATURE, IGNORE

IGNORE_RGB = (128, 128, 128)


def outline(mask: np.ndarray) -> np.ndarray:
    """The boundary pixels of a boolean mask (4-connected inner edge)."""
    m = np.asarray(mask, bool)
    inner = m.copy()
    inner[1:, :] &= m[:-1, :]
    inner[:-1, :] &= m[1:, :]
    inner[:, 1:] &= m[:, :-1]
    inner[:, :-1] &= m[:, 1:]
    return m & ~inner


def _compose(annotations, z: int, box) -> np.ndarray:
    """RGBA8 of the half-open (y0, y1, x0, x1) ``box`` of slice z (see annotation_rgba)."""
    y0, y1, x0, x1 = box
    ny, nx = annotations.shape[1:]
    # one pixel of context on each side, so outlines at the box's edge are those of the slice
    ey0, ey1, ex0, ex1 = max(0, y0 - 1), min(ny, y1 + 1), max(0, x0 - 1), min(nx, x1 + 1)
    inner = (slice(y0 - ey0, y1 - ey0), slice(x0 - ex0, x1 - ex0))
    out = np.zeros((y1 - y0, x1 - x0, 4), np.uint8)
    for f in annotations.features.values():
        if not f.visible:
            continue
        m = annotations.mask(f.name, z)
        if m is None:
            continue
        crop = m[ey0:ey1, ex0:ex1]
        if not crop.any():
            continue
        feat = crop == FEATURE
        ign = crop == IGNORE
        if f.outline:
            feat = outline(feat)
            ign = outline(ign)
        feat, ign = feat[inner], ign[inner]
        a = int(round(255 * float(np.clip(f.alpha, 0.0, 1.0))))
        if feat.any():
            out[feat] = (*(int(round(255 * c)) for c in f.colour), a)
        if ign.any():
            out[ign] = (*IGNORE_RGB, a)
    return out


def annotation_rgba(annotations, z: int) -> np.ndarray:
    """RGBA8 (y, x, 4) of the painted pixels of every visible feature on slice ``z``:
    the feature's colour at its alpha (outline only when the feature's outline mode is on);
    "ignore" pixels in grey. Later features draw over earlier ones."""
    ny, nx = annotations.shape[1:]
    return _compose(annotations, z, (0, ny, 0, nx))


# ------------------------------------------------------------------------------------------
# Where the painting changed (told by the painting actions)

_notes: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_MAX_NOTES = 256


def note_change(annotations, feature: str, z: int, bbox, rev_before: int) -> None:
    """Record that the painting of (feature, z) changed only inside ``bbox`` = (y0, y1, x0, x1)
    between slice revision ``rev_before`` and the current one."""
    rev_after = annotations.slice_revision(feature, z)
    if rev_after == rev_before:
        return
    notes = _notes.setdefault(annotations, {}).setdefault((feature, int(z)), {})
    for rev in range(int(rev_before) + 1, int(rev_after) + 1):
        notes[rev] = tuple(int(v) for v in bbox)
    while len(notes) > _MAX_NOTES:
        notes.pop(next(iter(notes)))


def _changed_region(annotations, feature: str, z: int, rev_from: int, rev_to: int):
    """Union box of the noted changes rev_from+1..rev_to, or None when one is unknown."""
    notes = _notes.get(annotations, {}).get((feature, int(z)), {})
    y0 = x0 = 1 << 30
    y1 = x1 = -1
    for rev in range(rev_from + 1, rev_to + 1):
        b = notes.get(rev)
        if b is None:
            return None
        if b[1] > b[0] and b[3] > b[2]:
            y0, y1, x0, x1 = min(y0, b[0]), max(y1, b[1]), min(x0, b[2]), max(x1, b[3])
    return (y0, y1, x0, x1) if y1 > y0 else (0, 0, 0, 0)


class OverlayCache:
    """The annotation overlay of the shown slice, updated incrementally.

    :meth:`get` returns ``(rgba, region)``: the slice's RGBA8 image and the (y0, y1, x0, x1)
    part that changed since the previous call (None: everything, e.g. another slice; an empty
    box: nothing). One cache feeds one texture, so the region is what that texture must
    re-upload.
    """

    def __init__(self):
        self.rgba: np.ndarray | None = None
        self._ann = None
        self._key = None
        self._revs: dict[str, int] = {}
        self.full_updates = 0
        self.partial_updates = 0

    def get(self, annotations, z: int):
        z = int(z)
        style = tuple((f.name, f.visible, f.outline, f.alpha, f.colour) for f in annotations.features.values())
        key = (z, tuple(annotations.shape), style)
        revs = {name: annotations.slice_revision(name, z) for name in annotations.features}
        same = (self._ann is not None and self._ann() is annotations and self._key == key
                and self.rgba is not None)
        region = None
        if same:
            ny, nx = annotations.shape[1:]
            y0 = x0 = 1 << 30
            y1 = x1 = -1
            for name, rev in revs.items():
                old = self._revs.get(name)
                if old == rev:
                    continue
                b = None if old is None or rev < old else _changed_region(annotations, name, z, old, rev)
                if b is None:
                    region = None
                    break
                if b[1] > b[0] and b[3] > b[2]:
                    y0, y1, x0, x1 = min(y0, b[0]), max(y1, b[1]), min(x0, b[2]), max(x1, b[3])
            else:
                region = (max(0, y0), min(ny, y1), max(0, x0), min(nx, x1)) if y1 > y0 else (0, 0, 0, 0)
        if region is None:
            self.rgba = annotation_rgba(annotations, z)
            self.full_updates += 1
        elif region[1] > region[0] and region[3] > region[2]:
            y0, y1, x0, x1 = region
            self.rgba[y0:y1, x0:x1] = _compose(annotations, z, region)
            self.partial_updates += 1
        self._ann = weakref.ref(annotations)
        self._key = key
        self._revs = revs
        return self.rgba, region
