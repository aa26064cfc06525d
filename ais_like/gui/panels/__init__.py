"""The workbench's panels: one module per panel, one ``draw(state)`` function each.

Draw functions only draw and record what the user asked for (``state.request``); they never
do slow work or change the project themselves. :func:`draw_all` lays out the frame: the
sidebar with the five tabs (Ais's Datasets / Annotation / Models / Export, plus Render), the
canvas's input and overlays, the slice bar and the notifications.
"""

from __future__ import annotations

from importlib import import_module

# tab title -> panel module (in ais_like.gui.panels)
TAB_PANELS = {
    "Datasets": "datasets",
    "Annotation": "annotation",
    "Models": "models",
    "Export": "export",
    "Render": "render",
}


def panel(name: str):
    return import_module(f"ais_like.gui.panels.{name}")


def draw_all(state, fb_size) -> None:
    from imgui_bundle import imgui

    from . import canvas, notifications, slicebar
    from ..app import SIDEBAR_WIDTH

    W, H = fb_size
    imgui.set_next_window_pos((0, 0))
    imgui.set_next_window_size((SIDEBAR_WIDTH, H))
    flags = (imgui.WindowFlags_.no_move | imgui.WindowFlags_.no_resize | imgui.WindowFlags_.no_collapse
             | imgui.WindowFlags_.no_title_bar | imgui.WindowFlags_.menu_bar)
    imgui.begin("##sidebar", None, flags)
    panel("menu").draw(state)
    if imgui.begin_tab_bar("##tabs"):
        wanted = state.extra.pop("select_tab", None)
        for title, module in TAB_PANELS.items():
            tab_flags = imgui.TabItemFlags_.set_selected if wanted == title else 0
            opened, _ = imgui.begin_tab_item(title, None, tab_flags)
            if opened:
                if state.tab != title:
                    state.request("set_tab", tab=title)
                panel(module).draw(state)
                imgui.end_tab_item()
        imgui.end_tab_bar()
    imgui.end()

    if state.tab == "Render":
        panel("render").canvas(state)
    else:
        canvas.draw(state)
        slicebar.draw(state)
    notifications.draw(state, fb_size)
