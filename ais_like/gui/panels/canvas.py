"""Input on the slice canvas (the area right of the sidebar) and its ImGui overlays.

Navigation, on every tab but Render:
- mouse wheel: zoom toward the cursor; Shift + wheel (or Ctrl + wheel): previous / next slice;
- right or middle drag (or Space + left drag): pan;
- Up / Down or W / S: next / previous slice; Page Up / Page Down: 10 slices; F or Home: fit.
Left-button tools (brush, eraser, flood, boxes) belong to the Annotation tab: its panel's
``canvas_input`` and ``canvas_overlay`` are called here.
"""

from __future__ import annotations


def over_canvas(state, mx: float, my: float) -> bool:
    x, y, w, h = state.canvas_rect
    return x <= mx < x + w and y <= my < y + h


def draw(state) -> None:
    from imgui_bundle import imgui

    from . import panel

    io = imgui.get_io()
    mx, my = io.mouse_pos.x, io.mouse_pos.y
    inside = over_canvas(state, mx, my) and not io.want_capture_mouse
    if state.dataset is not None and inside:
        ix, iy = state.view.to_image(state.canvas_rect, mx, my)
        state.extra["cursor"] = (ix, iy)
    else:
        state.extra.pop("cursor", None)
    if state.dataset is None:
        _empty_hint(state)
        return
    if inside:
        wheel = io.mouse_wheel
        if wheel:
            if io.key_shift or io.key_ctrl:
                state.request("step_z", dz=1 if wheel > 0 else -1)
            else:
                state.request("zoom_at", sx=mx, sy=my, factor=1.15 ** wheel)
        panning = imgui.is_mouse_dragging(1) or imgui.is_mouse_dragging(2) or (
            imgui.is_key_down(imgui.Key.space) and imgui.is_mouse_dragging(0))
        if panning:
            d = io.mouse_delta
            if d.x or d.y:
                state.request("pan", dx=d.x, dy=d.y)
    if not io.want_capture_keyboard:
        if imgui.is_key_pressed(imgui.Key.up_arrow) or imgui.is_key_pressed(imgui.Key.w):
            state.request("step_z", dz=1)
        if imgui.is_key_pressed(imgui.Key.down_arrow) or imgui.is_key_pressed(imgui.Key.s) and not io.key_ctrl:
            state.request("step_z", dz=-1)
        if imgui.is_key_pressed(imgui.Key.page_up):
            state.request("step_z", dz=10)
        if imgui.is_key_pressed(imgui.Key.page_down):
            state.request("step_z", dz=-10)
        if imgui.is_key_pressed(imgui.Key.f, False) or imgui.is_key_pressed(imgui.Key.home, False):
            state.request("fit_view")
    if state.tab == "Annotation":
        ann_panel = panel("annotation")
        if not imgui.is_key_down(imgui.Key.space):
            ann_panel.canvas_input(state, inside)
        ann_panel.canvas_overlay(state, imgui.get_background_draw_list())


def _empty_hint(state) -> None:
    from imgui_bundle import imgui

    x, y, w, h = state.canvas_rect
    dl = imgui.get_background_draw_list()
    text = "Open a tomogram (File > Open, or drop .mrc/.tif files here)"
    size = imgui.calc_text_size(text)
    dl.add_text((x + (w - size.x) / 2, y + h / 2), imgui.get_color_u32((0.7, 0.7, 0.7, 1.0)), text)
