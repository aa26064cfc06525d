"""The slice bar under the canvas: slice slider, position readout, view reset."""

from __future__ import annotations


def draw(state) -> None:
    from imgui_bundle import imgui

    shape = state.shape
    if shape is None:
        return
    from ..app import SLICEBAR_HEIGHT

    x, y, w, h = state.canvas_rect
    imgui.set_next_window_pos((x, y + h))
    imgui.set_next_window_size((w, SLICEBAR_HEIGHT))
    flags = (imgui.WindowFlags_.no_title_bar | imgui.WindowFlags_.no_resize | imgui.WindowFlags_.no_move
             | imgui.WindowFlags_.no_saved_settings | imgui.WindowFlags_.no_scrollbar)
    imgui.begin("##slicebar", None, flags)
    imgui.set_next_item_width(max(100.0, w - 360))
    changed, z = imgui.slider_int("##slice", state.z, 0, shape[0] - 1, f"slice %d / {shape[0] - 1}")
    a, b = imgui.get_item_rect_min(), imgui.get_item_rect_max()
    state.extra["slider_rect"] = (a.x, a.y, b.x, b.y)  # where the slider is (tests drag it)
    if changed:
        state.request("set_z", z=z)
    imgui.same_line()
    if imgui.button("fit"):
        state.request("fit_view")
    imgui.same_line()
    cursor = state.extra.get("cursor")
    apix = state.apix
    if cursor is not None:
        cx, cy = cursor
        txt = f"x {cx:.0f}  y {cy:.0f}  z {state.z}"
        if apix:
            txt += f"  ({apix:.2f} Å/px)"
        imgui.text(txt)
    else:
        imgui.text(f"zoom {state.view.zoom:.2f}x")
    imgui.end()
