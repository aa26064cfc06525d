"""Export tab: segment chosen tomograms with chosen models into a folder (Z range, crop, test-time
augmentation; picking and meshing of the results), queued on the batch machinery with progress
bars and cancel; pick or mesh existing segmentations of the folder with ``ais-like pick`` /
``ais-like mesh``'s options. Draws and records intents only (handlers: ais_like.gui.exporting)."""

from __future__ import annotations

from pathlib import Path

RED = (1.0, 0.42, 0.38, 1.0)
AMBER = (1.0, 0.78, 0.35, 1.0)
GREEN = (0.55, 0.85, 0.55, 1.0)
GREY = (0.6, 0.6, 0.6, 1.0)
STATUS_COLOURS = {"done": GREEN, "skipped": GREY, "failed": RED, "cancelled": AMBER, "busy": AMBER}
FORMATS = ("star", "star5", "txt")
POSITIONS = ("centroid", "maximum")
FRAMES = ("voxel", "header")


def _set(state, **kw) -> None:
    state.request("set_export", **kw)


def _range_row(state, imgui, label: str, field: str, size: int, help_: str) -> None:
    """A checkbox enabling a (start, stop) range with two ints; off means the whole axis."""
    cur = getattr(state.export, field)
    on = cur is not None
    changed, on2 = imgui.checkbox(f"{label}##{field}_on", on)
    imgui.set_item_tooltip(help_)
    if changed:
        _set(state, **{field: (0, size) if on2 else None})
    if on:
        imgui.same_line(110)
        imgui.set_next_item_width(150)
        ch, v = imgui.input_int2(f"##{field}", [int(cur[0]), int(cur[1])])
        if ch:
            _set(state, **{field: (int(v[0]), int(v[1]))})
        imgui.same_line()
        imgui.text_disabled("start:stop")
    else:
        imgui.same_line(110)
        imgui.text_disabled("all")


def _float(state, imgui, label: str, field: str, fmt: str = "%.2f", width: float = 110, tip: str = "") -> None:
    imgui.set_next_item_width(width)
    ch, v = imgui.input_float(f"{label}##{field}", float(getattr(state.export, field)), 0.0, 0.0, fmt)
    if tip:
        imgui.set_item_tooltip(tip)
    if ch:
        _set(state, **{field: v})


def _int(state, imgui, label: str, field: str, width: float = 110, tip: str = "") -> None:
    imgui.set_next_item_width(width)
    ch, v = imgui.input_int(f"{label}##{field}", int(getattr(state.export, field)), 1, 10)
    if tip:
        imgui.set_item_tooltip(tip)
    if ch:
        _set(state, **{field: v})


def _combo(state, imgui, label: str, field: str, items, width: float = 110) -> None:
    imgui.set_next_item_width(width)
    cur = getattr(state.export, field)
    ch, i = imgui.combo(f"{label}##{field}", items.index(cur) if cur in items else 0, list(items))
    if ch:
        _set(state, **{field: items[i]})


def _pick_options(state, imgui) -> None:
    _float(state, imgui, "threshold", "pick_threshold", tip="probability 0..1")
    _combo(state, imgui, "format", "pick_format", FORMATS)
    imgui.set_item_tooltip("star: RELION 3/4 pixels; star5: RELION 5 centred Å; txt: x y z")
    _float(state, imgui, "min volume Å³", "pick_min_volume", "%.0f", tip="drop smaller groups (0: keep all)")
    _float(state, imgui, "min spacing Å", "pick_min_spacing", "%.0f",
           tip="of two particles closer than this keep the heavier (0: off)")
    _int(state, imgui, "bin", "pick_bin", tip="pick on the binned volume")
    _float(state, imgui, "margin Å", "pick_margin", "%.0f", tip="drop picks this close to a face (0: off)")
    _int(state, imgui, "max particles", "pick_max_particles", tip="keep the N heaviest (0: all)")
    _combo(state, imgui, "position", "pick_position", POSITIONS)


def _mesh_options(state, imgui) -> None:
    _float(state, imgui, "threshold", "mesh_threshold", tip="probability 0..1 of the surface")
    _combo(state, imgui, "frame", "mesh_frame", FRAMES)
    imgui.set_item_tooltip("origin at voxel (0,0,0), or at the header's origin (as ChimeraX)")
    _int(state, imgui, "bin", "mesh_bin", tip="mesh the binned volume")
    _float(state, imgui, "dust Å³", "mesh_dust", "%.0f", tip="drop smaller pieces (0: keep all)")
    _int(state, imgui, "smooth", "mesh_smooth", tip="Taubin smoothing iterations")
    _int(state, imgui, "decimate", "mesh_decimate", tip="at most this many faces in all (0: keep every face)")


def _choices(state, imgui) -> None:
    from ..exporting import exportable_models

    ex = state.export
    imgui.separator_text("Output folder")
    imgui.set_next_item_width(-80)
    ch, text = imgui.input_text("##out_dir", ex.out_dir)
    if ch:
        _set(state, out_dir=text)
    imgui.same_line()
    if imgui.button("Browse##out"):
        from .. import filedialog

        filedialog.ask(state, "set_export_folder", "Output folder", kind="folder",
                       start=ex.out_dir if ex.out_dir and Path(ex.out_dir).is_dir() else None)

    imgui.separator_text("Tomograms")
    if not state.project.datasets:
        imgui.text_disabled("no tomograms open (Datasets tab)")
    for name, ds in state.project.datasets.items():
        z, y, x = ds.shape
        ch, on = imgui.checkbox(f"{name}##ds_{name}", name in ex.datasets)
        if ch:
            state.request("choose_export", what="datasets", item=name, on=on)
        imgui.same_line(250)
        imgui.text_disabled(f"{x}x{y}x{z}")

    imgui.separator_text("Models")
    rows = exportable_models(state)
    if not rows:
        imgui.text_disabled("no models yet (Models tab)")
    for m, f, why in rows:
        c = m.colour
        imgui.color_button(f"##col_{m.key}", (c[0], c[1], c[2], 1.0), 0, (14, 14))
        imgui.same_line()
        if f is None:
            imgui.begin_disabled()
        ch, on = imgui.checkbox(f"{m.title}##mdl_{m.key}", m.key in ex.models and f is not None)
        if f is None:
            imgui.end_disabled()
        if ch:
            state.request("choose_export", what="models", item=m.key, on=on)
        imgui.same_line(250)
        if why:
            imgui.text_colored(AMBER, "cannot export")
            imgui.set_item_tooltip(why)
            imgui.indent(40)
            imgui.text_disabled(why)
            imgui.unindent(40)
        else:
            imgui.text_disabled(m.feature or "")
            imgui.set_item_tooltip(str(f))
    flags = [m.title for m, _, _ in rows if m.key in ex.models and (m.emit or m.absorb)]
    if state.models.interactions or flags:
        imgui.text_disabled(f"interactions ({len(state.models.interactions)}) and competition "
                            "apply as in the preview")

    imgui.separator_text("Region and options")
    nz = max((ds.shape[0] for n, ds in state.project.datasets.items() if n in ex.datasets), default=1)
    ny = max((ds.shape[1] for n, ds in state.project.datasets.items() if n in ex.datasets), default=1)
    nx = max((ds.shape[2] for n, ds in state.project.datasets.items() if n in ex.datasets), default=1)
    _range_row(state, imgui, "Z range", "z_range", nz, "segment only these slices (start inclusive, stop exclusive)")
    _range_row(state, imgui, "Crop X", "crop_x", nx, "segment only these columns")
    _range_row(state, imgui, "Crop Y", "crop_y", ny, "segment only these rows")
    imgui.set_next_item_width(110)
    ch, v = imgui.slider_int("TTA##tta", int(ex.tta), 1, 8)
    imgui.set_item_tooltip("test-time augmentation: average over N rotations / flips")
    if ch:
        _set(state, tta=v)

    for label, flag, options in (("Pick particles##pick_on", "pick", _pick_options),
                                 ("Export meshes (.obj)##mesh_on", "mesh", _mesh_options)):
        ch, on = imgui.checkbox(label, getattr(ex, flag))
        if ch:
            _set(state, **{flag: on})
        if getattr(ex, flag):
            imgui.indent()
            options(state, imgui)
            imgui.unindent()

    ready = bool(ex.out_dir.strip() and ex.datasets and ex.models)
    if not ready:
        imgui.begin_disabled()
    if imgui.button("Queue export", (-1, 0)):
        state.request("queue_export")
    if not ready:
        imgui.end_disabled()
        imgui.text_disabled("choose a folder, tomograms and models")


def _entry(state, imgui, e) -> None:
    imgui.push_id(f"export{e.id}")
    colour = {"failed": RED, "cancelled": AMBER, "done": GREEN}.get(e.status)
    head = f"#{e.id} {e.label}"
    if colour:
        imgui.text_colored(colour, head)
    else:
        imgui.text_wrapped(head)
    if e.status in ("queued", "running"):
        overlay = f"{e.finished}/{e.total} tasks" if e.status == "running" else "queued"
        imgui.progress_bar(e.fraction, (-70, 0), overlay)
        imgui.same_line()
        if imgui.button("Cancel", (-1, 0)):
            state.request("cancel_export", id=e.id)
        imgui.text_disabled(e.message)
        if e.dashboard:
            imgui.text_disabled(f"Dask dashboard: {e.dashboard}")
        for line in e.running_lines()[:4]:
            imgui.progress_bar(_line_fraction(e, line), (-1, 0), line)
    else:
        imgui.text_colored(colour or GREY, f"{e.status}: {e.message} ({e.seconds:.1f} s)")
        for r in e.results:
            if r.status in ("failed", "cancelled"):
                imgui.text_colored(STATUS_COLOURS[r.status], f"  {r.key}: {r.status}")
                if r.reason:
                    imgui.push_text_wrap_pos(0)
                    imgui.text_colored(STATUS_COLOURS[r.status], f"    {r.reason}")
                    imgui.pop_text_wrap_pos()
            else:
                imgui.text_colored(STATUS_COLOURS.get(r.status, GREY), f"  {r.key}: {r.status}")
                if r.outputs:
                    imgui.set_item_tooltip("\n".join(Path(p).name for p in r.outputs))
        if e.kind == "segment" or e.kind == "pick":
            if e.render_files() and imgui.small_button("Show in Render"):
                state.request("show_export_in_render", id=e.id)
            imgui.same_line()
        if imgui.small_button("Remove"):
            state.request("remove_export", id=e.id)
    imgui.separator()
    imgui.pop_id()


def _line_fraction(e, line: str) -> float:
    key = line.split(": ", 1)[0]
    t = e.tasks.get(key) or {}
    return (t.get("step", 0) / t["steps"]) if t.get("steps") else 0.0


def _queue(state, imgui) -> None:
    q = state.export.queue
    imgui.separator_text(f"Queue ({sum(e.active for e in q)} active)")
    if not q:
        imgui.text_disabled("nothing queued")
        return
    for e in q:
        _entry(state, imgui, e)
    if any(not e.active for e in q) and imgui.small_button("Clear finished"):
        state.request("clear_finished_exports")


def _existing(state, imgui) -> None:
    ex = state.export
    if not imgui.collapsing_header("Pick / mesh existing segmentations"):
        return
    if imgui.small_button("Scan output folder"):
        state.request("scan_export_folder")
    imgui.same_line()
    imgui.text_disabled(f"{len(ex.existing)} found")
    for p in ex.existing:
        ch, on = imgui.checkbox(f"{Path(p).name}##ex_{p}", p in ex.existing_chosen)
        if ch:
            state.request("choose_export", what="existing_chosen", item=p, on=on)
    if not ex.pick:
        imgui.text_disabled("picking options:")
        imgui.indent()
        _pick_options(state, imgui)
        imgui.unindent()
    if not ex.mesh:
        imgui.text_disabled("mesh options:")
        imgui.indent()
        _mesh_options(state, imgui)
        imgui.unindent()
    chosen = bool(ex.existing_chosen)
    if not chosen:
        imgui.begin_disabled()
    if imgui.button("Pick chosen"):
        state.request("queue_pick_mesh", what="pick")
    imgui.same_line()
    if imgui.button("Mesh chosen"):
        state.request("queue_pick_mesh", what="mesh")
    if not chosen:
        imgui.end_disabled()


def draw(state) -> None:
    from imgui_bundle import imgui

    imgui.begin_child("##export_scroll", (0, 0))
    _choices(state, imgui)
    _queue(state, imgui)
    _existing(state, imgui)
    imgui.end_child()
