"""Actions: what the user asked for, carried out on the state after the frame's widgets drew.

Panels record ``state.request("name", **kwargs)``; :func:`apply_pending` calls the handler
registered under that name. Handlers are plain functions ``fn(state, **kwargs)`` in the
modules listed in :data:`HANDLER_MODULES` (this one holds the dataset, view and project
actions). A handler that fails on bad input becomes a notification in the window, never a
traceback in a hidden terminal and never a lost project.
"""

from __future__ import annotations

import importlib
import traceback
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import AisLikeError

HANDLERS: dict[str, Callable] = {}
HANDLER_MODULES = ("ais_like.gui.annotate", "ais_like.gui.modelling", "ais_like.gui.exporting",
                   "ais_like.gui.scene")
_loaded = False


def handler(name: str):
    def register(fn):
        HANDLERS[name] = fn
        return fn
    return register


def _load_handlers() -> None:
    global _loaded
    if not _loaded:
        for mod in HANDLER_MODULES:
            importlib.import_module(mod)
        _loaded = True


def apply(state, name: str, /, **kwargs):
    """Carry out one action now (tests use this; the frame loop goes through apply_pending)."""
    _load_handlers()
    fn = HANDLERS.get(name)
    if fn is None:
        raise KeyError(f"no action named {name!r}")
    return fn(state, **kwargs)


def apply_pending(state) -> int:
    """Carry out the recorded actions in order; errors become notifications."""
    _load_handlers()
    n = 0
    while state.pending:
        name, kwargs = state.pending.pop(0)
        try:
            apply(state, name, **kwargs)
        except AisLikeError as exc:
            state.error(str(exc))
        except Exception as exc:  # a bug: tell the user, keep the session (and the project) alive
            state.error(f"{name}: {type(exc).__name__}: {exc}", traceback.format_exc())
        n += 1
    return n


# ------------------------------------------------------------------------------------------
# Datasets and display


@handler("open_files")
def open_files(state, paths, apix: float | None = None) -> None:
    """Open tomograms (.mrc/.rec/.map/.st/.tif..., folders or globs of them; ``apix`` for those
    without a voxel size), project folders, or .scnm / .scnmgroup models (loaded in the worker)."""
    from ..volume import find_volumes

    for p in paths:
        p = Path(p)
        if p.suffix == ".aisproj" or (p / "project.json").is_file() or p.name == "project.json":
            open_project(state, path=p)
        elif p.suffix in (".scnm", ".scnmgroup"):
            state.request("load_model", path=str(p))
        else:
            for vol in find_volumes(str(p)):
                add_dataset(state, path=vol, apix=apix)


@handler("add_dataset")
def add_dataset(state, path, apix: float | None = None) -> None:
    from ..volume import open_volume

    with open_volume(path, apix=apix) as vol:  # reads the header only; errors name the file
        shape = vol.shape
        if vol.apix is None:
            state.notify(f"{Path(path).name}: no voxel size in the header; set it in the Datasets tab", "warning")
    ds = state.project.add_dataset(path, apix=apix, shape=shape)
    select_dataset(state, name=ds.name)
    state.notify(f"opened {Path(path).name} ({shape[2]} x {shape[1]} x {shape[0]})")


@handler("remove_dataset")
def remove_dataset(state, name: str) -> None:
    state.close_volume(name)
    state.project.remove_dataset(name)
    if state.current == name:
        state.current = next(iter(state.project.datasets), None)
        state.view_fitted = False
        if state.current is not None:
            select_dataset(state, name=state.current)


@handler("select_dataset")
def select_dataset(state, name: str) -> None:
    state.project.dataset(name)
    state.current = name
    view = state.project.view.get("datasets", {}).get(name, {})
    shape = state.shape
    state.z = int(view.get("z", shape[0] // 2))
    state.set_z(state.z)
    state.view_fitted = False
    if "contrast" in view:
        state.display.contrast = tuple(view["contrast"])
    else:
        auto_contrast(state)


@handler("set_apix")
def set_apix(state, name: str, apix: float) -> None:
    from ..volume import valid_apix

    if not valid_apix(apix):
        raise AisLikeError(f"{apix} Å/px is not a plausible voxel size (0.1-1000)")
    ds = state.project.dataset(name)
    ds.apix = float(apix)
    state.close_volume(name)


@handler("set_z")
def set_z(state, z: int) -> None:
    state.set_z(z)
    _remember_view(state)


@handler("step_z")
def step_z(state, dz: int) -> None:
    state.set_z(state.z + int(dz))
    _remember_view(state)


@handler("auto_contrast")
def auto_contrast(state) -> None:
    """Window the contrast on the shown slice's percentiles (``display.auto_saturation`` % clipped)."""
    if state.dataset is None:
        return
    sample = display_sample(state)
    s = float(state.display.auto_saturation)
    lo, hi = np.percentile(sample, [s, 100.0 - s]) if sample.size else (0.0, 1.0)
    if not hi > lo:
        hi = lo + 1.0
    state.display.contrast = (float(lo), float(hi))
    _remember_view(state)


@handler("set_contrast")
def set_contrast(state, lo: float, hi: float) -> None:
    if hi <= lo:
        hi = lo + 1e-6
    state.display.contrast = (float(lo), float(hi))
    _remember_view(state)


@handler("set_filter")
def set_filter(state, filter: str, **params) -> None:
    from .state import FILTERS

    if filter not in FILTERS:
        raise AisLikeError(f"unknown display filter {filter!r}")
    state.display.filter = filter
    for k, v in params.items():
        setattr(state.display, k, float(v))
    auto_contrast(state)


@handler("fit_view")
def fit_view(state) -> None:
    if state.shape is not None:
        state.view.fit(state.canvas_rect, state.shape[1:])
        state.view_fitted = True


@handler("zoom_at")
def zoom_at(state, sx: float, sy: float, factor: float) -> None:
    state.view.zoom_at(state.canvas_rect, sx, sy, factor)


@handler("pan")
def pan(state, dx: float, dy: float) -> None:
    state.view.pan(dx, dy)


@handler("set_tab")
def set_tab(state, tab: str) -> None:
    state.tab = tab


@handler("dismiss_notifications")
def dismiss_notifications(state) -> None:
    state.notifications.clear()


def display_key(state, z: int | None = None) -> tuple:
    """What the shown slice's pixels depend on: dataset, slice and display filter."""
    d = state.display
    return (state.current, state.z if z is None else int(z), d.filter, d.gaussian_sigma, d.lowpass_a, d.highpass_a)


def cached(state, name: str, key, compute):
    """``compute()``, kept in ``state.extra[name]`` until ``key`` changes."""
    hit = state.extra.get(name)
    if hit is not None and hit[0] == key:
        return hit[1]
    value = compute()
    state.extra[name] = (key, value)
    return value


def display_sample(state, side: int = 256) -> np.ndarray:
    """The finite values of the shown slice on a grid of about ``side`` x ``side`` (for
    contrast, histograms and tolerances: cheap on any slice size)."""
    a = display_slice(state)
    sample = a[:: max(1, a.shape[0] // side), :: max(1, a.shape[1] // side)]
    return sample[np.isfinite(sample)]


def display_slice(state, z: int | None = None) -> np.ndarray:
    """The shown slice: raw, or filtered for display only (models never see this)."""
    from ..preprocess import bandpass, gaussian

    raw = state.raw_slice(z)
    d = state.display
    if d.filter == "none":
        return raw

    def compute():
        if d.filter == "gaussian":
            out = gaussian(raw, d.gaussian_sigma)
        else:
            out = bandpass(raw, state.apix or 10.0, lowpass=d.lowpass_a, highpass=d.highpass_a)
        return np.asarray(out, np.float32)

    return cached(state, "display_slice", display_key(state, z) + (state.apix,), compute)


def _remember_view(state) -> None:
    if state.current is None:
        return
    views = state.project.view.setdefault("datasets", {})
    views[state.current] = {"z": int(state.z), "contrast": [float(c) for c in state.display.contrast]}


# ------------------------------------------------------------------------------------------
# Projects


@handler("new_project")
def new_project(state) -> None:
    from ..project import Project

    autosave(state, force=True)
    for name in list(state._volumes):
        state.close_volume(name)
    state.project = Project()
    state.project_path = None
    state.current = None
    state.annotation.feature = None
    state.annotation.undo.clear()


@handler("open_project")
def open_project(state, path) -> None:
    from .. import project as project_mod

    proj = project_mod.load(path)  # raises InputError naming the file; the open project stays
    autosave(state, force=True)
    for name in list(state._volumes):
        state.close_volume(name)
    state.project = proj
    state.project_path = proj.path
    state.annotation.undo.clear()
    state.annotation.feature = next(iter(proj.features), None)
    state.current = None
    missing = [d.name for d in proj.datasets.values() if not d.exists]
    for n in missing:
        state.notify(f"{proj.dataset(n).path}: tomogram not found (moved?)", "warning")
    first = next((n for n in proj.datasets if n not in missing), None)
    if first is not None:
        select_dataset(state, name=first)
    for ref in proj.models:
        state.request("load_model", path=str(ref.path), settings=dict(ref.settings), feature=ref.feature)
    state.notify(f"opened project {Path(proj.path).name}")


@handler("save_project")
def save_project(state, path=None) -> None:
    from .. import project as project_mod

    if path is None and state.project_path is None:
        raise AisLikeError("choose where to save the project (Save as...)")
    sync_model_refs(state)
    out = project_mod.save(state.project, path or state.project_path)
    state.project_path = out
    recovery = state.extra.pop("recovery_path", None)
    if recovery is not None and Path(recovery).absolute() != Path(out).absolute():
        import shutil

        shutil.rmtree(recovery, ignore_errors=True)  # the work is safe in its own place now
    state.last_autosave = __import__("time").time()
    state.notify(f"saved {out}")


def sync_model_refs(state) -> None:
    """Store the session's saved models (path, feature, display settings) in the project."""
    from ..project import ModelRef

    refs = []
    for m in state.models.entries:
        if m.path is None:
            continue
        refs.append(ModelRef(Path(m.path), m.feature, {
            "title": m.title, "colour": list(m.colour), "alpha": m.alpha, "threshold": m.threshold,
            "show": m.show, "active": m.active, "emit": m.emit, "absorb": m.absorb}))
    state.project.models = refs
    state.project.view["interactions"] = list(state.models.interactions)


def recovery_folder() -> Path:
    """Where projects that were never saved are autosaved:
    ``$XDG_DATA_HOME/ais_like/recovery`` (default ``~/.local/share/ais_like/recovery``)."""
    import os

    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "ais_like" / "recovery"


def recovered_projects() -> list[Path]:
    """Autosaved unsaved projects, newest first."""
    folder = recovery_folder()
    if not folder.is_dir():
        return []
    found = [p for p in folder.glob("*.aisproj") if (p / "project.json").is_file()]
    return sorted(found, key=lambda p: (p / "project.json").stat().st_mtime, reverse=True)


def autosave(state, force: bool = False) -> bool:
    """Save the project if it changed; called every few seconds by the frame loop (cheap: only
    changed annotation files are written, atomically). A project that has a folder is saved
    there; one that was never saved but holds annotations is saved to the recovery folder
    (:func:`recovery_folder`), so a crash or kill never loses more than a few seconds of work."""
    import time

    from .. import project as project_mod

    now = time.time()
    if not force and now - state.last_autosave < state.autosave_interval:
        return False
    state.last_autosave = now
    if state.annotation.undo.in_stroke:
        return False
    target = state.project_path
    try:
        sync_model_refs(state)
        if not state.project.dirty:
            return False
        if target is None:
            if not any(d.annotations.features and any(d.annotations.stored_slices(f) or d.annotations.boxed_slices(f)
                                                        for f in d.annotations.features)
                       for d in state.project.datasets.values()):
                return False  # nothing the user made yet: nothing to lose
            target = state.extra.get("recovery_path")
            if target is None:
                folder = recovery_folder()
                folder.mkdir(parents=True, exist_ok=True)
                target = folder / time.strftime("untitled-%Y%m%d-%H%M%S.aisproj")
                state.extra["recovery_path"] = target
                state.notify(f"unsaved work is autosaved to {target} (File > Save project as... to keep it)")
        project_mod.save(state.project, target)
        return True
    except (AisLikeError, OSError) as exc:
        state.error(f"autosave failed: {exc}")
        return False
