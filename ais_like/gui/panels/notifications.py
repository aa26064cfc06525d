"""Notifications in the window: errors and messages, newest first, with details to copy."""

from __future__ import annotations

import time

COLOURS = {"info": (0.75, 0.85, 1.0, 1.0), "warning": (1.0, 0.8, 0.3, 1.0), "error": (1.0, 0.4, 0.4, 1.0)}
SHOW_SECONDS = {"info": 6.0, "warning": 12.0, "error": 1e9}  # errors stay until dismissed


def visible(state, now: float | None = None) -> list:
    now = time.time() if now is None else now
    return [n for n in state.notifications if now - n.time < SHOW_SECONDS.get(n.level, 6.0)][-6:]


def draw(state, fb_size) -> None:
    from imgui_bundle import imgui

    from .. import filedialog

    filedialog.draw(state)
    shown = visible(state)
    if not shown:
        return
    W, _ = fb_size
    imgui.set_next_window_pos((W - 10, 10), imgui.Cond_.always, (1.0, 0.0))
    imgui.set_next_window_size_constraints((300, 0), (560, 600))
    flags = (imgui.WindowFlags_.no_title_bar | imgui.WindowFlags_.always_auto_resize
             | imgui.WindowFlags_.no_focus_on_appearing | imgui.WindowFlags_.no_saved_settings
             | imgui.WindowFlags_.no_move)
    imgui.set_next_window_bg_alpha(0.85)
    imgui.begin("##notifications", None, flags)
    for i, n in enumerate(reversed(shown)):
        imgui.push_id(str(i))
        imgui.push_text_wrap_pos(520)
        imgui.text_colored(COLOURS.get(n.level, COLOURS["info"]), n.text)
        imgui.pop_text_wrap_pos()
        if n.details:
            if imgui.small_button("copy details"):
                imgui.set_clipboard_text(n.text + "\n" + n.details)
            if imgui.is_item_hovered():
                imgui.set_tooltip(n.details[-2000:])
            imgui.same_line()
        imgui.pop_id()
    if imgui.small_button("dismiss all"):
        state.request("dismiss_notifications")
    imgui.end()
