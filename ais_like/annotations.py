"""Annotations of one tomogram: features, sparse painted slices and training boxes.

A *feature* (membrane, ribosome, ...) is referred to by its **name**, never by an index. For
every feature the annotations hold

- painted slices: ``z -> uint8 (y, x)`` mask with ``0`` = unpainted, ``1`` = feature,
  ``2`` = ignore (excluded from the loss). Only slices that were painted are stored;
- boxes: positive and negative training boxes per slice, each a centre ``(y, x)`` in pixels of
  the tomogram; the box side is the feature's ``box_size``.

Painting happens through :mod:`ais_like.painting` (pure functions on masks, plus in-place
variants for the GUI that call :meth:`Annotations.touch`). Every change bumps a revision
counter and marks the feature dirty, so a project autosave rewrites only what changed and a
GUI cache knows when to refresh.

Pixel coordinates are (y, x) of the tomogram's own grid (not of a resampled one); slices are
z indices. Nothing here depends on the volume's data: only its shape.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields

import numpy as np

from .errors import InputError

UNPAINTED = 0
FEATURE = 1
IGNORE = 2

DEFAULT_COLOURS = [(0.95, 0.75, 0.2), (0.3, 0.75, 0.95), (0.9, 0.35, 0.35), (0.45, 0.85, 0.4),
                   (0.75, 0.45, 0.95), (0.95, 0.55, 0.8), (0.5, 0.9, 0.85), (0.9, 0.9, 0.45)]


@dataclass
class Feature:
    """A feature to annotate and train a model for.

    name : unique within a project; the key everywhere.
    colour : (r, g, b) in 0..1.
    box_size : side of this feature's training boxes / tiles in pixels (64, 128, 256 ...).
    visible, outline, alpha : display settings the GUI keeps with the feature.
    meta : free JSON-compatible dictionary.
    """

    name: str
    colour: tuple = (0.95, 0.75, 0.2)
    box_size: int = 64
    visible: bool = True
    outline: bool = False
    alpha: float = 0.5
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.strip():
            raise InputError(f"a feature needs a non-empty name, got {self.name!r}")
        col = tuple(float(c) for c in self.colour)
        if len(col) != 3 or not all(0.0 <= c <= 1.0 for c in col):
            raise InputError(f"feature {self.name!r}: colour must be (r, g, b) in 0..1, got {self.colour!r}")
        self.colour = col
        self.box_size = int(self.box_size)
        if self.box_size < 8:
            raise InputError(f"feature {self.name!r}: box size must be at least 8 pixels, got {self.box_size}")

    def to_dict(self) -> dict:
        return {"name": self.name, "colour": list(self.colour), "box_size": self.box_size,
                "visible": self.visible, "outline": self.outline, "alpha": self.alpha, "meta": self.meta}

    @classmethod
    def from_dict(cls, d: dict) -> "Feature":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


class Annotations:
    """Sparse annotations of one tomogram of ``shape`` (z, y, x).

    Parameters
    ----------
    shape : (z, y, x) of the tomogram.
    features : optional dict name -> Feature to share (a project passes its own, so that every
        dataset of the project has the same features).
    """

    def __init__(self, shape, features: dict | None = None):
        shape = tuple(int(n) for n in shape)
        if len(shape) != 3 or min(shape) < 1:
            raise InputError(f"annotations need a (z, y, x) shape, got {shape}")
        self.shape = shape
        self.features: dict[str, Feature] = features if features is not None else {}
        self._masks: dict[str, dict[int, np.ndarray]] = {}
        self._boxes: dict[str, dict[int, dict[bool, list[tuple[int, int]]]]] = {}
        self._empty_cache: dict[tuple[str, int], tuple[int, bool]] = {}
        self._slice_rev: dict[tuple[str, int], int] = {}
        self.revision = 0
        self.dirty: set[str] = set()

    # -- features ----------------------------------------------------------------------------

    def add_feature(self, feature: Feature | str, **kwargs) -> Feature:
        """Add a feature (a Feature, or a name plus Feature fields); returns it. An existing
        feature of that name is returned unchanged."""
        if isinstance(feature, str):
            if feature in self.features:
                return self.features[feature]
            kwargs.setdefault("colour", DEFAULT_COLOURS[len(self.features) % len(DEFAULT_COLOURS)])
            feature = Feature(feature, **kwargs)
        if feature.name in self.features and self.features[feature.name] is not feature:
            return self.features[feature.name]
        self.features[feature.name] = feature
        self._changed(feature.name)
        return feature

    def feature(self, name: str) -> Feature:
        """The feature called ``name`` (InputError if there is none)."""
        try:
            return self.features[name]
        except KeyError:
            known = ", ".join(repr(n) for n in self.features) or "none"
            raise InputError(f"no feature named {name!r} (features: {known})") from None

    @property
    def feature_names(self) -> list[str]:
        return list(self.features)

    def remove_feature(self, name: str, missing_ok: bool = False) -> None:
        """Remove a feature and all its annotations.

        With a features dict shared by several Annotations (a project), the feature may already
        be gone from the dict: then only this tomogram's annotations of it are dropped."""
        known = name in self.features or name in self._masks or name in self._boxes
        if not known and missing_ok:
            return
        if not known:
            self.feature(name)  # raises
        self.features.pop(name, None)
        self._masks.pop(name, None)
        self._boxes.pop(name, None)
        self._empty_cache = {k: v for k, v in self._empty_cache.items() if k[0] != name}
        self._changed(name)

    def rename_feature(self, old: str, new: str) -> None:
        """Rename a feature; its annotations follow it (see :meth:`remove_feature` about
        shared feature dicts: a second call on another tomogram only moves its annotations)."""
        if new == old:
            return
        if old in self.features:
            if new in self.features:
                raise InputError(f"a feature named {new!r} already exists")
            if not isinstance(new, str) or not new.strip():
                raise InputError("a feature needs a non-empty name")
            feat = self.features[old]
            _renamed(self.features, old, new)
            feat.name = new
        elif new not in self.features:
            self.feature(old)  # raises: unknown feature
        for d in (self._masks, self._boxes):
            if old in d:
                d[new] = d.pop(old)
        self._empty_cache = {k: v for k, v in self._empty_cache.items() if k[0] != old}
        self._slice_rev = {((new if k[0] == old else k[0]), k[1]): v for k, v in self._slice_rev.items()}
        self._changed(old)
        self._changed(new)

    # -- painted slices ----------------------------------------------------------------------

    def mask(self, name: str, z: int, create: bool = False) -> np.ndarray | None:
        """The stored (y, x) uint8 mask of slice ``z`` (not a copy), or None when unpainted.

        With ``create`` an empty mask is stored and returned. Code that changes the returned
        array in place must call :meth:`touch` afterwards (the painting functions do).
        """
        self.feature(name)
        z = self._check_z(z)
        masks = self._masks.setdefault(name, {})
        m = masks.get(z)
        if m is None and create:
            m = masks[z] = np.zeros(self.shape[1:], np.uint8)
        return m

    def set_slice(self, name: str, z: int, mask: np.ndarray) -> None:
        """Replace slice ``z`` of a feature by a copy of ``mask`` (values 0, 1, 2; bool is
        taken as 0/1). An all-zero mask removes the slice."""
        self.feature(name)
        z = self._check_z(z)
        m = np.asarray(mask)
        if m.shape != self.shape[1:]:
            raise InputError(f"a mask for slice {z} must be {self.shape[1:]}, got {m.shape}")
        m = m.astype(np.uint8, copy=True)
        if m.size and m.max() > IGNORE:
            raise InputError(f"mask values must be 0 (unpainted), 1 (feature) or 2 (ignore), found {int(m.max())}")
        if m.any():
            self._masks.setdefault(name, {})[z] = m
        else:
            self._masks.get(name, {}).pop(z, None)
        self.touch(name, z)

    def clear_slice(self, name: str, z: int) -> None:
        """Remove the painting of slice ``z`` (boxes stay)."""
        self.feature(name)
        self._masks.get(name, {}).pop(self._check_z(z), None)
        self.touch(name, z)

    def touch(self, name: str, z: int | None = None) -> None:
        """Record that a feature (slice ``z``) changed: bumps the revision, marks it dirty."""
        if z is not None:
            key = (name, int(z))
            self._slice_rev[key] = self._slice_rev.get(key, 0) + 1
            self._empty_cache.pop(key, None)
        self._changed(name)

    def slice_revision(self, name: str, z: int) -> int:
        """A counter that changes whenever slice ``z`` of ``name`` changes (for GUI caches)."""
        return self._slice_rev.get((name, int(z)), 0)

    def stored_slices(self, name: str) -> list[int]:
        """Slices with a stored mask (possibly all unpainted after erasing)."""
        self.feature(name)
        return sorted(self._masks.get(name, {}))

    def annotated_slices(self, name: str) -> list[int]:
        """Sorted z of the slices where something is painted (feature or ignore)."""
        self.feature(name)
        out = []
        for z, m in self._masks.get(name, {}).items():
            key = (name, z)
            rev = self._slice_rev.get(key, 0)
            cached = self._empty_cache.get(key)
            if cached is None or cached[0] != rev:
                cached = (rev, bool(m.any()))
                self._empty_cache[key] = cached
            if cached[1]:
                out.append(z)
        return sorted(out)

    def label_slice(self, name: str, z: int) -> np.ndarray:
        """A copy of slice ``z`` as uint8 (y, x): 0 unpainted, 1 feature, 2 ignore."""
        m = self.mask(name, z)
        return np.zeros(self.shape[1:], np.uint8) if m is None else m.copy()

    def to_label_volume(self, name: str, *, slices=None, dtype=np.uint8) -> np.ndarray:
        """The feature's painting as a (z, y, x) volume (0 unpainted, 1 feature, 2 ignore);
        only ``slices`` when given. Memory is that of the whole volume."""
        self.feature(name)
        out = np.zeros(self.shape, dtype)
        keep = None if slices is None else {int(z) for z in slices}
        for z, m in self._masks.get(name, {}).items():
            if keep is None or z in keep:
                out[z] = m
        return out

    def painted_pixels(self, name: str) -> int:
        """Number of pixels painted as the feature (value 1) over all slices."""
        self.feature(name)
        return int(sum(int(np.count_nonzero(m == FEATURE)) for m in self._masks.get(name, {}).values()))

    # -- boxes -------------------------------------------------------------------------------

    def add_box(self, name: str, z: int, y: int, x: int, positive: bool = True) -> None:
        """Add a training box centred at (y, x) of slice z (a duplicate is ignored)."""
        self.feature(name)
        z = self._check_z(z)
        y, x = int(round(y)), int(round(x))
        if not (0 <= y < self.shape[1] and 0 <= x < self.shape[2]):
            raise InputError(f"box centre ({y}, {x}) is outside the slice {self.shape[1:]}")
        lst = self._boxes.setdefault(name, {}).setdefault(z, {True: [], False: []})[bool(positive)]
        if (y, x) not in lst:
            lst.append((y, x))
            self.touch(name)

    def remove_box_near(self, name: str, z: int, y: float, x: float, radius: float | None = None) -> bool:
        """Remove the box whose centre is nearest to (y, x), if within ``radius`` (default:
        half the feature's box size, i.e. the click is inside the box). True if one was removed."""
        feat = self.feature(name)
        radius = feat.box_size / 2.0 if radius is None else float(radius)
        per = self._boxes.get(name, {}).get(int(z))
        if not per:
            return False
        best = None
        for pos, lst in per.items():
            for i, (by, bx) in enumerate(lst):
                d = max(abs(by - y), abs(bx - x))
                if d <= radius and (best is None or d < best[0]):
                    best = (d, pos, i)
        if best is None:
            return False
        del per[best[1]][best[2]]
        if not per[True] and not per[False]:
            del self._boxes[name][int(z)]
        self.touch(name)
        return True

    def boxes(self, name: str, z: int, positive: bool = True) -> list[tuple[int, int]]:
        """Centres (y, x) of the positive (or negative) boxes on slice z (a copy)."""
        self.feature(name)
        return list(self._boxes.get(name, {}).get(int(z), {}).get(bool(positive), []))

    def set_boxes(self, name: str, z: int, positive: list, negative: list) -> None:
        """Replace the boxes of slice z (used by undo and loading)."""
        self.feature(name)
        z = self._check_z(z)
        pos = [(int(y), int(x)) for y, x in positive]
        neg = [(int(y), int(x)) for y, x in negative]
        if pos or neg:
            self._boxes.setdefault(name, {})[z] = {True: pos, False: neg}
        else:
            self._boxes.get(name, {}).pop(z, None)
        self.touch(name)

    def boxed_slices(self, name: str) -> list[int]:
        """Sorted z of the slices that have boxes of this feature."""
        self.feature(name)
        return sorted(z for z, per in self._boxes.get(name, {}).items() if per[True] or per[False])

    def all_boxes(self, name: str) -> np.ndarray:
        """int64 (n, 4) array of (z, y, x, positive 1 / negative 0)."""
        self.feature(name)
        rows = [(z, y, x, int(pos)) for z, per in sorted(self._boxes.get(name, {}).items())
                for pos in (True, False) for (y, x) in per[pos]]
        return np.array(rows, np.int64).reshape(-1, 4)

    # -- whole object ------------------------------------------------------------------------

    def copy(self) -> "Annotations":
        """A deep copy (own masks, boxes and features)."""
        new = Annotations(self.shape, {k: copy.deepcopy(v) for k, v in self.features.items()})
        new._masks = {f: {z: m.copy() for z, m in d.items()} for f, d in self._masks.items()}
        new._boxes = copy.deepcopy(self._boxes)
        new.revision = self.revision
        return new

    def summary(self) -> dict:
        """Per feature: painted slices, painted pixels, positive/negative boxes."""
        out = {}
        for name in self.features:
            b = self.all_boxes(name)
            out[name] = {"slices": self.annotated_slices(name), "pixels": self.painted_pixels(name),
                         "positive boxes": int((b[:, 3] == 1).sum()), "negative boxes": int((b[:, 3] == 0).sum())}
        return out

    def _check_z(self, z) -> int:
        z = int(z)
        if not 0 <= z < self.shape[0]:
            raise InputError(f"slice {z} is outside the volume (0..{self.shape[0] - 1})")
        return z

    def _changed(self, name: str) -> None:
        self.revision += 1
        self.dirty.add(name)


def _renamed(d: dict, old, new) -> dict:
    """``d`` with key ``old`` renamed to ``new`` in place (order kept); returns d."""
    items = [(new if k == old else k, v) for k, v in d.items()]
    d.clear()
    d.update(items)
    return d
