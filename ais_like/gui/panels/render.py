"""Render tab: surfaces of segmentations and particle sets in 3D (sidebar), and the mouse over
the 3D canvas (left drag rotates, right or middle drag pans, wheel zooms).

Only draws and records intents; the handlers are in :mod:`ais_like.gui.scene`, the drawing in
``ais_like.renderer.scene_view``.
"""

from __future__ import annotations

from pathlib import Path

FILE_FILTERS = ["Segmentations and coordinates", "*.mrc *.rec *.map *.tif *.tiff *.star *.txt *.tbl"]


def _colour_button(label: str, colour) -> tuple | None:
    from imgui_bundle import imgui

    flags = imgui.ColorEditFlags_.no_inputs | imgui.ColorEditFlags_.no_label
    changed, col = imgui.color_edit3(label, [float(c) for c in colour], flags)
    return tuple(float(c) for c in col) if changed else None


def _surface(state, i: int, s: dict) -> None:
    from imgui_bundle import imgui

    imgui.push_id(f"surface{s['id']}")
    changed, show = imgui.checkbox("##show", s["show"])
    if changed:
        state.request("render_set", i=i, show=show)
    imgui.same_line()
    col = _colour_button("##colour", s["colour"])
    if col is not None:
        state.request("render_set", i=i, colour=col)
    imgui.same_line()
    imgui.text(s["feature"])
    if imgui.is_item_hovered():
        imgui.set_tooltip(f"{s['path']}\n{s['shape'][2]} x {s['shape'][1]} x {s['shape'][0]}, {s['apix']:g} Å/px")
    imgui.same_line()
    imgui.text_disabled(s["tomogram"])
    imgui.same_line(imgui.get_window_width() - 32)
    if imgui.small_button("x"):
        state.request("render_remove", i=i)
    job = s.get("job")
    if job is not None and job.active:
        imgui.progress_bar(job.fraction, (-1, 0), "computing...")
    else:
        (imgui.text_colored((1.0, 0.45, 0.4, 1.0), s["status"]) if s["status"] == "error"
         else imgui.text_disabled(s["status"]))
    imgui.push_item_width(-90)
    changed, v = imgui.slider_float("alpha", s["alpha"], 0.0, 1.0, "%.2f")
    if changed:
        state.request("render_set", i=i, alpha=v)
    for name, widget in (("level", lambda: imgui.slider_float("level", s["level"], 0.01, 0.99, "%.2f")),
                         ("dust", lambda: imgui.drag_float("dust Å³", s["dust"], max(1.0, s["apix"] ** 3 * 5),
                                                           0.0, 1e12, "%.0f")),
                         ("bin", lambda: imgui.slider_int("bin", s["bin"], 1, 4))):
        changed, v = widget()
        if changed:
            state.request("render_set", i=i, **{name: v})
        if imgui.is_item_deactivated_after_edit():
            state.request("render_set", i=i, commit=True)
    imgui.pop_item_width()
    imgui.pop_id()


def _particles(state, i: int, p: dict) -> None:
    from imgui_bundle import imgui

    imgui.push_id(f"particles{p['id']}")
    changed, show = imgui.checkbox("##show", p["show"])
    if changed:
        state.request("render_set", i=i, kind="particles", show=show)
    imgui.same_line()
    col = _colour_button("##colour", p["colour"])
    if col is not None:
        state.request("render_set", i=i, kind="particles", colour=col)
    imgui.same_line()
    imgui.text(f"{p['name']} ({len(p['xyz'])})")
    if imgui.is_item_hovered():
        imgui.set_tooltip(f"{p['path']}\n{len(p['xyz'])} particles of {p['tomogram'] or '?'}, {p['apix']:g} Å/px")
    imgui.same_line(imgui.get_window_width() - 32)
    if imgui.small_button("x"):
        state.request("render_remove", i=i, kind="particles")
    imgui.push_item_width(-90)
    changed, v = imgui.drag_float("radius Å", p["radius"], 1.0, 1.0, 5000.0, "%.0f")
    if changed:
        state.request("render_set", i=i, kind="particles", radius=v)
    imgui.pop_item_width()
    imgui.pop_id()


def draw(state) -> None:
    from imgui_bundle import imgui

    from .. import filedialog

    r = state.render
    if imgui.button("Add segmentation / coordinates..."):
        filedialog.ask(state, "render_add_files", "Add to the scene", kind="open_many", filters=FILE_FILTERS)
    imgui.separator_text("Surfaces")
    if not r.surfaces:
        imgui.text_wrapped("No surfaces. Add <tomogram>__<feature>.mrc segmentations (from Export, or "
                           "ais-like segment).")
    for i, s in enumerate(r.surfaces):
        _surface(state, i, s)
        imgui.spacing()
    imgui.separator_text("Particles")
    if not r.particles:
        imgui.text_disabled("No particles. Add .star / .txt / .tbl coordinates.")
    for i, p in enumerate(r.particles):
        _particles(state, i, p)
    imgui.separator_text("View")
    changed, v = imgui.checkbox("Show slice", r.show_slice)
    if changed:
        state.request("render_set_options", show_slice=v)
    if imgui.is_item_hovered():
        imgui.set_tooltip("The current slice of the shown tomogram, in place (Up / Down on other tabs to move)")
    imgui.same_line()
    changed, v = imgui.checkbox("Outline", r.show_box)
    if changed:
        state.request("render_set_options", show_box=v)
    imgui.same_line()
    if imgui.button("Reset camera"):
        state.request("render_reset_camera")
    imgui.text_disabled("Left drag: rotate; right drag: pan; wheel: zoom")
    imgui.separator_text("Save")
    if imgui.button("Export scene .obj..."):
        filedialog.ask(state, "render_export_obj", "Export the scene as .obj", kind="save",
                       filters=["Wavefront OBJ", "*.obj"])
    imgui.same_line()
    if imgui.button("Screenshot..."):
        filedialog.ask(state, "render_screenshot", "Save a screenshot", kind="save", filters=["PNG", "*.png"])


def canvas(state) -> None:
    """Mouse over the 3D view: drags that start on the canvas (not on a window) move the camera."""
    from imgui_bundle import imgui

    from .canvas import over_canvas

    io = imgui.get_io()
    mx, my = io.mouse_pos.x, io.mouse_pos.y
    inside = over_canvas(state, mx, my) and not io.want_capture_mouse
    drag = state.extra.get("render_drag")
    for button in (0, 1, 2):
        if imgui.is_mouse_clicked(button) and inside:
            drag = state.extra["render_drag"] = button
    if drag is not None and not imgui.is_mouse_down(drag):
        drag = None
        state.extra.pop("render_drag", None)
    d = io.mouse_delta
    if drag is not None and (d.x or d.y):
        if drag == 0 and not io.key_shift:
            state.request("render_rotate", p0=(mx - d.x, my - d.y), p1=(mx, my))
        else:
            state.request("render_pan", dx=d.x, dy=d.y)
    if inside and io.mouse_wheel:
        state.request("render_zoom", factor=1.15 ** io.mouse_wheel)
    if not io.want_capture_keyboard and (imgui.is_key_pressed(imgui.Key.f, False)
                                         or imgui.is_key_pressed(imgui.Key.home, False)):
        state.request("render_reset_camera")
    _overlay(state)


def _overlay(state) -> None:
    from imgui_bundle import imgui

    r = state.render
    x, y, w, h = state.canvas_rect
    dl = imgui.get_background_draw_list()
    grey = imgui.get_color_u32((0.75, 0.75, 0.78, 1.0))
    if not r.surfaces and not r.particles and state.dataset is None:
        text = "Add segmentations (<tomogram>__<feature>.mrc) or particle coordinates in the sidebar"
        size = imgui.calc_text_size(text)
        dl.add_text((x + (w - size.x) / 2, y + h / 2), grey, text)
    busy = [s for s in r.surfaces if s.get("job") is not None and s["job"].active]
    if busy:
        names = ", ".join(s["feature"] for s in busy)
        dl.add_text((x + 12, y + h - 26), grey, f"meshing {names}...")
    if state.dataset is not None and r.show_slice:
        dl.add_text((x + 12, y + 10), grey, f"{Path(str(state.current)).name}  slice {state.z}")
