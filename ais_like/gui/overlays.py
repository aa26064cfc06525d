"""Pure functions that turn annotations into what the canvas overlays (numpy only, no GL)."""

from __future__ import annotations

import numpy as np

from ..annotations import FEATURE, IGNORE


def outline(mask: np.ndarray) -> np.ndarray:
    """The boundary pixels of a boolean mask (4-connected inner edge)."""
    m = np.asarray(mask, bool)
    inner = m.copy()
    inner[1:, :] &= m[:-1, :]
    inner[:-1, :] &= m[1:, :]
    inner[:, 1:] &= m[:, :-1]
    inner[:, :-1] &= m[:, 1:]
    return m & ~inner


def annotation_rgba(annotations, z: int) -> np.ndarray:
    """RGBA8 (y, x, 4) of the painted pixels of every visible feature on slice ``z``:
    the feature's colour at its alpha (outline only when the feature's outline mode is on);
    "ignore" pixels in grey. Later features draw over earlier ones."""
    ny, nx = annotations.shape[1:]
    out = np.zeros((ny, nx, 4), np.uint8)
    for f in annotations.features.values():
        if not f.visible:
            continue
        m = annotations.mask(f.name, z)
        if m is None:
            continue
        feat = m == FEATURE
        ign = m == IGNORE
        if f.outline:
            feat = outline(feat)
            ign = outline(ign)
        a = int(round(255 * float(np.clip(f.alpha, 0.0, 1.0))))
        if feat.any():
            out[feat] = (*(int(round(255 * c)) for c in f.colour), a)
        if ign.any():
            out[ign] = (128, 128, 128, a)
    return out
