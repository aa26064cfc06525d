"""A training set: normalised image tiles and their labels, savable without pickle.

Labels: 0 = background, 1 = feature, 2 = ignore (does not count in the loss; used for unpainted
pixels of boxes and for tile parts outside the volume).

File format (``.npz``, documented in the README): a NumPy zip archive with
- ``images``: float32 (n, box, box), already normalised as the model will see them;
- ``labels``: uint8 (n, box, box), values 0/1/2;
- ``meta``: a 0-d unicode array holding a JSON object with at least ``format`` ("ais_like.trainset"),
  ``version`` (1), ``apix`` (Å/px of the tiles), ``box``, ``feature``, ``normalisation``,
  ``n_positive``, ``n_negative`` and ``sources``.
Loaded with ``allow_pickle=False``; written atomically.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import InputError

FORMAT = "ais_like.trainset"
VERSION = 1
IGNORE = 2


@dataclass
class TrainingSet:
    images: np.ndarray  # float32 (n, box, box)
    labels: np.ndarray  # uint8 (n, box, box) in {0, 1, 2}
    apix: float | None = None
    feature: str = "feature"
    normalisation: str = "slice"
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        self.images = np.asarray(self.images, dtype=np.float32)
        self.labels = np.asarray(self.labels, dtype=np.uint8)
        if self.images.ndim != 3 or self.images.shape != self.labels.shape:
            raise InputError(
                f"training set images {self.images.shape} and labels {self.labels.shape} must both be (n, box, box)"
            )
        if self.images.shape[1] != self.images.shape[2]:
            raise InputError(f"training tiles must be square, got {self.images.shape[1:]}")
        if self.labels.size and self.labels.max() > IGNORE:
            raise InputError(f"training labels must be 0, 1 or 2 (ignore), found {int(self.labels.max())}")

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def box(self) -> int:
        return int(self.images.shape[1])

    def summary(self) -> dict:
        lab = self.labels
        n = len(self)
        has_fg = (lab == 1).reshape(n, -1).any(axis=1) if n else np.zeros(0, bool)
        counted = lab != IGNORE
        return {
            "feature": self.feature,
            "tiles": n,
            "box": self.box,
            "apix": self.apix,
            "positive tiles": int(has_fg.sum()),
            "negative tiles": int(n - has_fg.sum()),
            "foreground fraction": round(float((lab == 1).sum() / max(counted.sum(), 1)), 4),
            "ignored fraction": round(float((~counted).sum() / max(lab.size, 1)), 4),
            "normalisation": self.normalisation,
            **({"feature diameter px": self.meta["feature_size"]["diameter_px"]}
               if (self.meta.get("feature_size") or {}).get("diameter_px") else {}),
        }

    @classmethod
    def concatenate(cls, sets: list["TrainingSet"]) -> "TrainingSet":
        """One training set from several (e.g. one per tomogram) of the same box, Å/px and feature."""
        sets = list(sets)
        if not sets:
            raise InputError("no training sets to combine")
        first = sets[0]
        for other in sets[1:]:
            if other.box != first.box:
                raise InputError(f"cannot combine training sets of box {first.box} and {other.box}")
            if (other.apix or 0) and (first.apix or 0) and abs(other.apix - first.apix) > 1e-3 * first.apix:
                raise InputError(f"cannot combine training sets at {first.apix} and {other.apix} Å/px; "
                                 "extract them at one target Å/px")
            if other.normalisation != first.normalisation:
                raise InputError("cannot combine training sets normalised differently "
                                 f"({first.normalisation!r} and {other.normalisation!r})")
        if len(sets) == 1:
            return first
        meta = dict(first.meta)
        meta["sources"] = [src for t in sets for src in (t.meta.get("sources") or [])]
        meta["parts"] = [{k: t.meta.get(k) for k in ("source", "slices", "data_apix")} for t in sets]
        return cls(images=np.concatenate([t.images for t in sets]), labels=np.concatenate([t.labels for t in sets]),
                   apix=first.apix, feature=first.feature, normalisation=first.normalisation, meta=meta)

    def save(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        meta = dict(self.meta)
        meta.update(format=FORMAT, version=VERSION, apix=self.apix, box=self.box, feature=self.feature,
                    normalisation=self.normalisation)
        s = self.summary()
        meta.setdefault("n_positive", s["positive tiles"])
        meta.setdefault("n_negative", s["negative tiles"])
        meta.setdefault("sources", [])
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part.npz", dir=path.parent or ".")
        os.close(fd)
        try:
            np.savez(tmp, images=self.images, labels=self.labels, meta=np.array(json.dumps(meta)))
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "TrainingSet":
        path = Path(path)
        if not path.is_file():
            raise InputError(f"{path}: no such training set file")
        try:
            with np.load(path, allow_pickle=False) as z:
                images, labels, meta = z["images"], z["labels"], json.loads(str(z["meta"]))
        except (KeyError, ValueError, OSError, json.JSONDecodeError) as exc:
            raise InputError(f"{path}: not an ais_like training set ({' '.join(str(exc).split())})") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise InputError(f"{path}: not an ais_like training set (format {meta.get('format') if isinstance(meta, dict) else meta!r})")
        if int(meta.get("version", 0)) > VERSION:
            raise InputError(f"{path}: training set version {meta.get('version')} is newer than this ais_like supports ({VERSION})")
        return cls(images=images, labels=labels, apix=meta.get("apix"), feature=meta.get("feature", "feature"),
                   normalisation=meta.get("normalisation", "slice"), meta=meta)
