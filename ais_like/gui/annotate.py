"""Actions of the Annotation tab: features, painting tools, boxes, undo, slice jumps, imports.

Points are (y, x) floats in pixels of the shown slice with pixel centres on integers, as in
:mod:`ais_like.painting` (the canvas converts from its continuous image coordinates, where
pixel i spans [i, i + 1), by subtracting 0.5). Painting changes the current dataset's
annotations in place with the core's ``*_inplace`` functions and one undo step per stroke,
and tells :mod:`ais_like.gui.overlays` which box changed so that the canvas re-uploads only
that part of its overlay.

Painting needs a dataset and an active feature; without them the user gets a notification
(once per mouse press), never an exception.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import painting
from ..annotations import FEATURE, IGNORE
from ..errors import AisLikeError
from . import overlays
from .actions import _remember_view, display_slice, handler
from .state import TOOLS

BOX_SIZES = (32, 64, 128, 256)
FEATURE_FIELDS = ("colour", "box_size", "visible", "outline", "alpha")
MIN_RADIUS, MAX_RADIUS = 0.5, 256.0
IMPORT_IN_JOB_BYTES = 16 * 2 ** 20  # label volumes larger than this are read in a background job


# ------------------------------------------------------------------------------------------
# Helpers


def active_feature(state) -> str | None:
    """The active feature's name when it exists in the project, else None."""
    name = state.annotation.feature
    return name if name is not None and name in state.project.features else None


def _can_paint(state) -> bool:
    """True when there is a dataset and an active feature; otherwise tell the user why not."""
    if state.dataset is None:
        state.notify("Open a tomogram first (Datasets tab)", "warning")
        return False
    if active_feature(state) is None:
        state.notify("Add or select a feature first (Annotation tab > Add feature)", "warning")
        return False
    return True


def _paint_value(state) -> int:
    return IGNORE if state.annotation.ignore else FEATURE


def _segment(state, p0, p1, erase: bool) -> None:
    ann = state.dataset.annotations
    feature, z = state.annotation.feature, state.z
    rev = ann.slice_revision(feature, z)
    r = state.annotation.brush_radius
    undo = state.annotation.undo
    if erase:
        bbox = painting.erase_stroke_inplace(ann, feature, z, p0, p1, radius=r, undo=undo)
    else:
        bbox = painting.paint_stroke_inplace(ann, feature, z, p0, p1, radius=r, value=_paint_value(state),
                                             undo=undo)
    overlays.note_change(ann, feature, z, bbox, rev)


def default_feature_name(project) -> str:
    """"Feature N" with the smallest N not yet used."""
    used = set(project.features)
    n = 1
    while f"Feature {n}" in used:
        n += 1
    return f"Feature {n}"


# ------------------------------------------------------------------------------------------
# Features


@handler("add_feature")
def add_feature(state, name: str | None = None, colour=None) -> str:
    name = default_feature_name(state.project) if name is None else " ".join(str(name).split())
    if not name:
        raise AisLikeError("a feature needs a name")
    if name in state.project.features:
        raise AisLikeError(f"a feature named {name!r} already exists")
    kwargs = {} if colour is None else {"colour": tuple(float(c) for c in colour)}
    state.project.add_feature(name, **kwargs)
    for ds in state.project.datasets.values():
        ds.annotations.dirty.add(name)
    state.annotation.feature = name
    return name


@handler("remove_feature")
def remove_feature(state, name: str) -> None:
    _end_open_stroke(state)
    state.project.remove_feature(name)
    if state.annotation.feature == name or active_feature(state) is None:
        state.annotation.feature = next(iter(state.project.features), None)
    state.notify(f"removed feature {name!r}")


@handler("rename_feature")
def rename_feature(state, old: str, new: str) -> None:
    new = " ".join(str(new).split())
    if new == old:
        return
    if not new:
        raise AisLikeError("a feature needs a non-empty name")
    if new in state.project.features:
        raise AisLikeError(f"a feature named {new!r} already exists")
    _end_open_stroke(state)
    state.project.rename_feature(old, new)
    state.annotation.undo.rename_feature(old, new)
    if state.annotation.feature == old:
        state.annotation.feature = new
    for m in state.models.entries:
        if m.feature == old:
            m.feature = new


@handler("set_feature")
def set_feature(state, name: str, **fields) -> None:
    """Change a feature's colour, box_size, visible, outline or alpha."""
    f = state.project.features.get(name)
    if f is None:
        raise AisLikeError(f"no feature named {name!r}")
    unknown = set(fields) - set(FEATURE_FIELDS)
    if unknown:
        raise AisLikeError(f"unknown feature setting(s): {', '.join(sorted(unknown))}")
    if "colour" in fields:
        col = tuple(float(np.clip(c, 0.0, 1.0)) for c in fields["colour"])
        if len(col) != 3:
            raise AisLikeError(f"a colour is (r, g, b), got {fields['colour']!r}")
        f.colour = col
    if "box_size" in fields:
        size = int(fields["box_size"])
        if size < 8:
            raise AisLikeError(f"box size must be at least 8 pixels, got {size}")
        f.box_size = size
    if "visible" in fields:
        f.visible = bool(fields["visible"])
    if "outline" in fields:
        f.outline = bool(fields["outline"])
    if "alpha" in fields:
        f.alpha = float(np.clip(float(fields["alpha"]), 0.0, 1.0))


@handler("select_feature")
def select_feature(state, name: str) -> None:
    if name not in state.project.features:
        raise AisLikeError(f"no feature named {name!r}")
    _end_open_stroke(state)
    state.annotation.feature = name


# ------------------------------------------------------------------------------------------
# Tools


@handler("set_tool")
def set_tool(state, tool: str) -> None:
    if tool not in TOOLS:
        raise AisLikeError(f"unknown tool {tool!r} (one of {', '.join(TOOLS)})")
    state.annotation.tool = tool


@handler("set_brush")
def set_brush(state, radius_px: float | None = None, radius_nm: float | None = None) -> None:
    """Brush radius in pixels of the tomogram, or in nm (converted with the dataset's Å/px)."""
    if radius_nm is not None:
        apix = state.apix
        if not apix:
            raise AisLikeError("the tomogram has no voxel size: set it in the Datasets tab to use nm")
        radius_px = float(radius_nm) * 10.0 / float(apix)
    if radius_px is None:
        return
    state.annotation.brush_radius = float(np.clip(float(radius_px), MIN_RADIUS, MAX_RADIUS))


def brush_radius_nm(state) -> float | None:
    apix = state.apix
    return None if not apix else state.annotation.brush_radius * float(apix) / 10.0


@handler("scale_brush")
def scale_brush(state, factor: float) -> None:
    set_brush(state, radius_px=state.annotation.brush_radius * float(factor))


@handler("set_annotation_option")
def set_annotation_option(state, **options) -> None:
    """ignore (paint "ignore" instead of the feature), flood_tolerance (slice sigmas),
    flood_in_brush (limit the flood fill to the brush radius)."""
    ui = state.annotation
    for k, v in options.items():
        if k == "ignore":
            ui.ignore = bool(v)
        elif k == "flood_tolerance":
            ui.flood_tolerance = float(np.clip(float(v), 0.0, 100.0))
        elif k == "flood_in_brush":
            ui.flood_in_brush = bool(v)
        else:
            raise AisLikeError(f"unknown annotation option {k!r}")


# ------------------------------------------------------------------------------------------
# Painting


@handler("stroke_begin")
def stroke_begin(state, y: float, x: float, erase: bool | None = None) -> bool:
    """Mouse down with the brush or eraser: start a stroke (one undo step) and paint a dot."""
    _end_open_stroke(state)
    if not _can_paint(state):
        return False
    ui = state.annotation
    ui.stroke_erase = (ui.tool == "eraser") if erase is None else bool(erase)
    ui.stroke_dataset = state.current
    ui.undo.begin("erase" if ui.stroke_erase else "paint")
    ui.stroke_last = (float(y), float(x))
    _segment(state, ui.stroke_last, None, ui.stroke_erase)
    return True


@handler("stroke_to")
def stroke_to(state, y: float, x: float) -> None:
    """Mouse moved while down: paint the segment from the last point (no gaps when fast)."""
    ui = state.annotation
    if ui.stroke_last is None:
        return
    if ui.stroke_dataset != state.current or active_feature(state) is None:
        _end_open_stroke(state)
        return
    p = (float(y), float(x))
    if p == ui.stroke_last:
        return
    _segment(state, ui.stroke_last, p, ui.stroke_erase)
    ui.stroke_last = p


@handler("stroke_end")
def stroke_end(state) -> None:
    _end_open_stroke(state)


def _end_open_stroke(state) -> None:
    ui = state.annotation
    if ui.undo.in_stroke:
        ui.undo.end()
    ui.stroke_last = None
    ui.stroke_dataset = None


def slice_sigma(state) -> float:
    """Standard deviation of the shown slice (sampled; cached per slice and display filter)."""
    from .actions import cached, display_key, display_sample

    def compute():
        sample = display_sample(state, 512)
        return float(sample.std()) if sample.size else 1.0

    return cached(state, "annotate_sigma", display_key(state), compute)


@handler("flood")
def flood(state, y: float, x: float) -> None:
    """Flood fill from (y, x) over the shown slice (as displayed, filter included): pixels
    within ``flood_tolerance`` slice sigmas of the clicked one, connected to it, and within the
    brush radius when ``flood_in_brush``."""
    _end_open_stroke(state)
    if not _can_paint(state):
        return
    ui = state.annotation
    ann = state.dataset.annotations
    feature, z = ui.feature, state.z
    image = np.asarray(display_slice(state), np.float32)
    rev = ann.slice_revision(feature, z)
    bbox = painting.flood_fill_inplace(ann, feature, z, image, (float(y), float(x)),
                                       tolerance=ui.flood_tolerance * slice_sigma(state),
                                       value=_paint_value(state),
                                       radius=ui.brush_radius if ui.flood_in_brush else None, undo=ui.undo)
    overlays.note_change(ann, feature, z, bbox, rev)


@handler("box")
def box(state, y: float, x: float, positive: bool = True) -> None:
    """Place a positive (or negative) training box of the feature's box size centred at (y, x)."""
    _end_open_stroke(state)
    if not _can_paint(state):
        return
    ny, nx = state.shape[1:]
    yi, xi = int(round(float(y))), int(round(float(x)))
    if not (0 <= yi < ny and 0 <= xi < nx):
        return
    painting.box_change_inplace(state.dataset.annotations, state.annotation.feature, state.z, yi, xi,
                                positive=bool(positive), undo=state.annotation.undo)


@handler("remove_box")
def remove_box(state, y: float, x: float) -> bool:
    """Remove the active feature's box under (y, x) on the shown slice."""
    _end_open_stroke(state)
    if not _can_paint(state):
        return False
    return painting.box_change_inplace(state.dataset.annotations, state.annotation.feature, state.z,
                                       float(y), float(x), remove=True, undo=state.annotation.undo)


@handler("undo")
def undo(state) -> None:
    _end_open_stroke(state)
    if state.annotation.undo.undo() is None:
        state.notify("nothing to undo")


@handler("redo")
def redo(state) -> None:
    _end_open_stroke(state)
    if state.annotation.undo.redo() is None:
        state.notify("nothing to redo")


@handler("clear_slice")
def clear_slice(state) -> None:
    """Erase the active feature's painting on the shown slice (one undo step; boxes stay)."""
    if not _can_paint(state):
        return
    _end_open_stroke(state)
    ann = state.dataset.annotations
    zeros = np.zeros(ann.shape[1:], np.uint8)
    painting.apply_mask_inplace(ann, state.annotation.feature, state.z, zeros, undo=state.annotation.undo)


@handler("jump_to_slice")
def jump_to_slice(state, z: int) -> None:
    _end_open_stroke(state)
    state.set_z(int(z))
    _remember_view(state)


# ------------------------------------------------------------------------------------------
# Import


@handler("import_mask")
def import_mask(state, path, feature: str | None = None, replace: bool = True) -> None:
    """Import a label volume (> 0 = the feature) of the current tomogram's shape as a feature's
    painting on every slice where it has labels (one undo step). Large files are read in a
    background job; the annotations change on the main thread."""
    from ..volume import open_volume

    if state.dataset is None:
        raise AisLikeError("open a tomogram first (Datasets tab)")
    feature = feature or active_feature(state) or Path(path).stem.split("__")[-1]
    name, shape = state.current, state.shape
    with open_volume(path) as vol:
        if tuple(vol.shape) != tuple(shape):
            raise AisLikeError(f"{path}: label volume {tuple(vol.shape)} does not match the tomogram {tuple(shape)}")
        big = int(np.prod(vol.shape)) * np.dtype(vol.dtype).itemsize > IMPORT_IN_JOB_BYTES

    def read(job, p):
        with open_volume(p) as v:
            nz = v.shape[0]
            out = np.zeros(v.shape, np.uint8)
            for z in range(nz):
                job.progress(z, nz, "reading labels")
                lab = np.asarray(v.slice(z))
                out[z] = np.where(lab > 0, np.minimum(lab, 255), 0).astype(np.uint8)
            return out

    def apply_labels(labels):
        if name not in state.project.datasets:
            return
        if feature not in state.project.features:
            state.project.add_feature(feature)
        ann = state.project.dataset(name).annotations
        _end_open_stroke(state)
        slices = painting.import_labels_inplace(ann, feature, labels, replace=replace, undo=state.annotation.undo)
        state.annotation.feature = feature
        state.notify(f"imported {len(slices)} slice(s) of {Path(path).name} as {feature!r}")

    if big:
        state.jobs.submit(f"import {Path(path).name}", read, str(path), kind="io", on_done=apply_labels,
                          on_error=lambda exc, tb="": state.error(f"import {Path(path).name}: {exc}", tb))
    else:
        apply_labels(read(_NoJob(), str(path)))


class _NoJob:
    def progress(self, *args) -> None:
        pass


# ------------------------------------------------------------------------------------------
# Read-only summaries for the panel (cached by annotation revision)


def feature_counts(state) -> dict:
    """{feature: (painted pixels, annotated slices, boxes)} of the current dataset. Cached by
    annotation revision; during a stroke (the annotations change every frame), recomputed at
    most every 0.3 s."""
    import time

    ds = state.dataset
    if ds is None:
        return {}
    ann = ds.annotations
    key = (state.current, ann.revision, tuple(state.project.features))
    now = time.monotonic()
    cached = state.extra.get("annotate_counts")
    if cached is not None:
        ckey, ctime, counts = cached
        if ckey == key:
            return counts
        painting_now = state.annotation.undo.in_stroke
        if painting_now and ckey[0] == key[0] and ckey[2] == key[2] and now - ctime < 0.3:
            return counts
    counts = {}
    for f in state.project.features:
        if f in ann.features:
            counts[f] = (ann.painted_pixels(f), len(ann.annotated_slices(f)), int(len(ann.all_boxes(f))))
    state.extra["annotate_counts"] = (key, now, counts)
    return counts
