"""Projects: tomograms, features, their annotations, model references and view settings on disk.

A project is a folder, by convention ``NAME.aisproj/``::

    NAME.aisproj/
      project.json                          # the index: format, version, datasets, features, boxes, models, view
      annotations/<dataset>/<feature>.<generation>.npz   # painted slices of one feature on one tomogram

- ``project.json`` is plain JSON (schema in ``docs/project-format.md``); tomogram and model
  paths in it are **relative to the project folder**, so a project moved or copied together
  with its data keeps working.
- Painted slices are NumPy ``.npz`` files read with ``allow_pickle=False``; nothing is pickled.
- Saving is atomic: changed annotation files are written under new names (a new generation)
  first, each through a temporary file and a rename; ``project.json`` is replaced last, in one
  rename; only then are files no longer referenced removed. A crash or error at any point leaves
  the previous project loadable as it was.
- :func:`save` is cheap enough for autosave every few seconds: it rewrites only annotation files
  of features whose annotations changed (their dirty flags), and skips writing entirely when
  nothing changed.
- Older versions are upgraded on load by the functions in :data:`MIGRATIONS`.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .annotations import Annotations, Feature
from .errors import InputError

FORMAT = "ais_like.project"
VERSION = 1
SUFFIX = ".aisproj"
INDEX = "project.json"

# MIGRATIONS[k] turns a project.json dict of version k into version k + 1 (pure: returns a new
# dict). Loading applies them in turn up to VERSION.
MIGRATIONS: dict[int, Callable[[dict], dict]] = {}


@dataclass
class Dataset:
    """A tomogram in a project. ``path`` is absolute in memory (relative on disk)."""

    name: str
    path: Path
    annotations: Annotations
    apix: float | None = None  # an override of the header's voxel size (--apix)
    meta: dict = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.annotations.shape

    @property
    def exists(self) -> bool:
        return self.path.is_file()

    def open(self):
        """Open the tomogram (ais_like.volume.Volume)."""
        from .volume import open_volume

        return open_volume(self.path, apix=self.apix)


@dataclass
class ModelRef:
    """A model the project uses: a .scnm file (absolute in memory, relative on disk), the feature
    it segments, and GUI settings (threshold, colour, alpha, interactions, ...) kept opaque."""

    path: Path
    feature: str | None = None
    settings: dict = field(default_factory=dict)


class Project:
    """Datasets (tomograms with annotations), the features shared by all of them, model
    references, and an opaque ``view`` dict the GUI persists (contrast, last slice, ...)."""

    def __init__(self):
        self.features: dict[str, Feature] = {}
        self.datasets: dict[str, Dataset] = {}
        self.models: list[ModelRef] = []
        self.view: dict = {}
        self.meta: dict = {}
        self.path: Path | None = None
        self._generation = 0
        self._files: dict[tuple[str, str], str] = {}  # (dataset, feature) -> file, as last saved
        self._saved_index: str | None = None

    # -- datasets ----------------------------------------------------------------------------

    def add_dataset(self, path, *, annotations: Annotations | None = None, name: str | None = None,
                    apix: float | None = None, shape=None, meta: dict | None = None) -> Dataset:
        """Add a tomogram. Its shape comes from ``annotations``, ``shape`` or the file's header
        (read without loading the data). ``name`` defaults to the file name without suffix and
        is made unique."""
        from .volume import tomogram_name

        path = Path(path).absolute()
        if annotations is None:
            if shape is None:
                from .volume import open_volume

                with open_volume(path, apix=apix) as vol:
                    shape = vol.shape
            annotations = Annotations(shape, self.features)
        else:
            for f in annotations.features.values():
                if f.name not in self.features:
                    self.features[f.name] = f
            for f in self.features.values():
                annotations.features.setdefault(f.name, f)
            annotations.features = self.features  # share: every dataset has the same features
        base = name or tomogram_name(path)
        name, i = base, 2
        while name in self.datasets:
            name, i = f"{base}-{i}", i + 1
        ds = Dataset(name=name, path=path, annotations=annotations, apix=apix, meta=dict(meta or {}))
        for f in self.features:
            annotations.dirty.add(f)
        self.datasets[name] = ds
        return ds

    def dataset(self, name: str) -> Dataset:
        try:
            return self.datasets[name]
        except KeyError:
            raise InputError(f"no dataset named {name!r} in the project") from None

    def remove_dataset(self, name: str) -> None:
        self.dataset(name)
        del self.datasets[name]

    # -- features ----------------------------------------------------------------------------

    def add_feature(self, feature: Feature | str, **kwargs) -> Feature:
        """Add a feature to the project (every dataset gets it)."""
        if isinstance(feature, str):
            if feature in self.features:
                return self.features[feature]
            tmp = Annotations((1, 1, 1), self.features)
            return tmp.add_feature(feature, **kwargs)
        self.features.setdefault(feature.name, feature)
        return self.features[feature.name]

    def rename_feature(self, old: str, new: str) -> None:
        if old not in self.features:
            raise InputError(f"no feature named {old!r}")
        anns = [d.annotations for d in self.datasets.values()] or [Annotations((1, 1, 1), self.features)]
        for ann in anns:
            ann.rename_feature(old, new)
        for m in self.models:
            if m.feature == old:
                m.feature = new

    def remove_feature(self, name: str) -> None:
        if name not in self.features:
            raise InputError(f"no feature named {name!r}")
        for d in self.datasets.values():
            d.annotations.remove_feature(name, missing_ok=True)
        self.features.pop(name, None)

    # -- models ------------------------------------------------------------------------------

    def add_model(self, path, feature: str | None = None, **settings) -> ModelRef:
        ref = ModelRef(Path(path).absolute(), feature, dict(settings))
        self.models.append(ref)
        return ref

    # -- state -------------------------------------------------------------------------------

    @property
    def dirty(self) -> bool:
        """True when something changed since the last save or load."""
        if any(d.annotations.dirty for d in self.datasets.values()):
            return True
        return self.path is None or _index_text(self, self.path, self._files, self._generation) != self._saved_index


# ------------------------------------------------------------------------------------------
# Saving


def save(project: Project, path=None) -> Path:
    """Save ``project`` to the folder ``path`` (default: where it was last saved or loaded).

    Only annotation files of changed features are rewritten (all of them when saving to a new
    place); nothing is written when nothing changed. Atomic: see the module docstring.
    Returns the project folder.
    """
    if path is None:
        if project.path is None:
            raise InputError("the project has never been saved: give a path")
        path = project.path
    folder = Path(path).absolute()
    if folder.name == INDEX:
        folder = folder.parent
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{folder}: exists and is not a folder")
    same_place = project.path is not None and Path(project.path).absolute() == folder and (folder / INDEX).is_file()
    if not folder.parent.is_dir():
        raise InputError(f"{folder}: the folder {folder.parent} does not exist")
    if same_place and not project.dirty:
        return folder
    folder.mkdir(exist_ok=True)
    gen = project._generation + 1
    files: dict[tuple[str, str], str] = {}
    for ds in project.datasets.values():
        ann = ds.annotations
        for fname in project.features:
            key = (ds.name, fname)
            slices = ann.stored_slices(fname) if fname in ann.features else []
            old = project._files.get(key)
            unchanged = same_place and fname not in ann.dirty and old is not None and (folder / old).is_file()
            if unchanged:
                files[key] = old
            elif slices and ann.annotated_slices(fname):
                rel = f"annotations/{_slug(ds.name)}/{_slug(fname)}.{gen}.npz"
                _write_npz(folder / rel, ann, fname)
                files[key] = rel
    text = _index_text(project, folder, files, gen)
    _write_text_atomic(folder / INDEX, text)
    # committed: update the in-memory state, then tidy files no longer referenced
    project.path, project._files, project._generation, project._saved_index = folder, files, gen, text
    for ds in project.datasets.values():
        ds.annotations.dirty.clear()
    _remove_unreferenced(folder, set(files.values()))
    return folder


def _index(project: Project, folder: Path, files: dict, gen: int) -> dict:
    from . import __version__

    datasets = []
    for ds in project.datasets.values():
        ann = ds.annotations
        per_feature = {}
        for fname in project.features:
            if fname not in ann.features:
                continue
            b = ann.all_boxes(fname)
            entry = {"file": files.get((ds.name, fname)), "slices": ann.annotated_slices(fname)
                     if files.get((ds.name, fname)) else [],
                     "boxes": {"positive": b[b[:, 3] == 1, :3].tolist(), "negative": b[b[:, 3] == 0, :3].tolist()}}
            if entry["file"] or b.size:
                per_feature[fname] = entry
        datasets.append({"name": ds.name, "path": _relative(ds.path, folder), "apix": ds.apix,
                         "shape": list(ds.shape), "meta": ds.meta, "annotations": per_feature})
    return {
        "format": FORMAT,
        "version": VERSION,
        "saved_by": f"ais_like {__version__}",
        "generation": gen,
        "features": [f.to_dict() for f in project.features.values()],
        "datasets": datasets,
        "models": [{"path": _relative(m.path, folder), "feature": m.feature, "settings": m.settings}
                   for m in project.models],
        "view": project.view,
        "meta": project.meta,
    }


def _index_text(project, folder, files, gen) -> str:
    try:
        return json.dumps(_index(project, Path(folder), files, gen), indent=1, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InputError(f"project settings cannot be saved as JSON ({exc})") from None


def _relative(path: Path, folder: Path) -> str:
    try:
        return Path(os.path.relpath(Path(path).absolute(), folder)).as_posix()
    except ValueError:  # another drive (Windows): keep it absolute
        return Path(path).absolute().as_posix()


def _slug(name: str) -> str:
    s = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "x"
    if s != name:
        s = f"{s[:40]}-{hashlib.sha1(name.encode()).hexdigest()[:8]}"
    return s


def _write_npz(path: Path, ann: Annotations, feature: str) -> None:
    """One feature's painted slices, each cropped to its painted bounding box:
    ``z`` int32 (n,), ``bbox`` int32 (n, 4) as (y0, y1, x0, x1), ``shape`` int64 (3,), and
    ``m<i>`` uint8 (y1 - y0, x1 - x0) for the i-th slice."""
    path.parent.mkdir(parents=True, exist_ok=True)
    zs, boxes, arrays = [], [], {}
    for z in ann.annotated_slices(feature):
        m = ann.mask(feature, z)
        rows = np.flatnonzero(m.any(axis=1))
        cols = np.flatnonzero(m.any(axis=0))
        y0, y1, x0, x1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
        arrays[f"m{len(zs)}"] = np.ascontiguousarray(m[y0:y1, x0:x1])
        zs.append(z)
        boxes.append((y0, y1, x0, x1))
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez_compressed(fh, z=np.array(zs, np.int32), bbox=np.array(boxes, np.int32).reshape(-1, 4),
                                shape=np.array(ann.shape, np.int64), **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_text_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _remove_unreferenced(folder: Path, keep: set[str]) -> None:
    root = folder / "annotations"
    if not root.is_dir():
        return
    for p in root.rglob("*"):
        if p.is_file() and p.relative_to(folder).as_posix() not in keep:
            try:
                p.unlink()
            except OSError:
                pass
    for d in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        try:
            d.rmdir()  # only when empty
        except OSError:
            pass


# ------------------------------------------------------------------------------------------
# Loading


def load(path) -> Project:
    """Open a project folder (or its ``project.json``). Raises InputError naming the file when
    it is missing, corrupt, of another format or newer than this version of ais_like."""
    p = Path(path).absolute()
    folder, index = (p.parent, p) if p.name == INDEX or p.suffix == ".json" else (p, p / INDEX)
    if not folder.exists():
        raise InputError(f"{folder}: no such project")
    if not index.is_file():
        raise InputError(f"{folder}: not an ais_like project (no {INDEX})")
    try:
        doc = json.loads(index.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{index}: corrupt project file ({' '.join(str(exc).split())})") from None
    except OSError as exc:
        raise InputError(f"{index}: cannot read ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise InputError(f"{index}: not an ais_like project (format {doc.get('format') if isinstance(doc, dict) else None!r})")
    doc = migrate(doc, source=index)
    try:
        return _from_index(doc, folder, index)
    except InputError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise InputError(f"{index}: malformed project file ({type(exc).__name__}: {exc})") from None


def migrate(doc: dict, source="project") -> dict:
    """Upgrade a project.json dict to the current :data:`VERSION` (a new dict)."""
    try:
        version = int(doc.get("version", 0))
    except (TypeError, ValueError):
        raise InputError(f"{source}: bad project version {doc.get('version')!r}") from None
    if version > VERSION:
        raise InputError(f"{source}: project version {version} is newer than this ais_like supports ({VERSION}); "
                         "update ais_like")
    doc = copy.deepcopy(doc)
    while version < VERSION:
        step = MIGRATIONS.get(version)
        if step is None:
            raise InputError(f"{source}: cannot upgrade a version {version} project")
        doc = step(doc)
        version += 1
        doc["version"] = version
    return doc


def _from_index(doc: dict, folder: Path, index: Path) -> Project:
    proj = Project()
    for fd in doc.get("features", []):
        f = Feature.from_dict(fd)
        proj.features[f.name] = f
    files = {}
    for dd in doc.get("datasets", []):
        shape = tuple(int(n) for n in dd["shape"])
        ann = Annotations(shape, proj.features)
        for fname, entry in (dd.get("annotations") or {}).items():
            if fname not in proj.features:
                proj.features[fname] = Feature(fname)
            if entry.get("file"):
                _read_npz(folder / entry["file"], ann, fname)
                files[(dd["name"], fname)] = entry["file"]
            boxes = entry.get("boxes") or {}
            for positive, key in ((True, "positive"), (False, "negative")):
                for z, y, x in boxes.get(key, []):
                    ann.add_box(fname, int(z), int(y), int(x), positive=positive)
        ds = Dataset(name=dd["name"], path=_absolute(dd["path"], folder), annotations=ann,
                     apix=dd.get("apix"), meta=dict(dd.get("meta") or {}))
        proj.datasets[ds.name] = ds
    for md in doc.get("models", []):
        proj.models.append(ModelRef(_absolute(md["path"], folder), md.get("feature"), dict(md.get("settings") or {})))
    proj.view = dict(doc.get("view") or {})
    proj.meta = dict(doc.get("meta") or {})
    proj.path = folder
    proj._generation = int(doc.get("generation", 0))
    proj._files = files
    for ds in proj.datasets.values():
        ds.annotations.dirty.clear()
    proj._saved_index = _index_text(proj, folder, files, proj._generation)
    return proj


def _absolute(rel: str, folder: Path) -> Path:
    p = Path(rel)
    return p if p.is_absolute() else Path(os.path.normpath(folder / p))


def _read_npz(path: Path, ann: Annotations, feature: str) -> None:
    if not path.is_file():
        raise InputError(f"{path}: annotation file missing from the project")
    try:
        with np.load(path, allow_pickle=False) as z:
            zs = z["z"]
            bbox = z["bbox"]
            shape = tuple(int(n) for n in z["shape"])
            crops = [z[f"m{i}"] for i in range(len(zs))]
    except (KeyError, ValueError, OSError, EOFError) as exc:
        raise InputError(f"{path}: corrupt annotation file ({' '.join(str(exc).split())})") from None
    if shape != tuple(ann.shape):
        raise InputError(f"{path}: annotations of shape {shape} do not match the dataset {ann.shape}")
    for zi, (y0, y1, x0, x1), crop in zip(zs, bbox, crops):
        if crop.shape != (y1 - y0, x1 - x0) or y0 < 0 or x0 < 0 or y1 > shape[1] or x1 > shape[2]:
            raise InputError(f"{path}: slice {int(zi)} has a bad bounding box")
        m = np.zeros(shape[1:], np.uint8)
        m[y0:y1, x0:x1] = crop
        ann.set_slice(feature, int(zi), m)
