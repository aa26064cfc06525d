"""Annotation tab (in progress)."""


def draw(state) -> None:
    from imgui_bundle import imgui

    imgui.text("Annotation")


def canvas_input(state, inside: bool) -> None:
    pass


def canvas_overlay(state, draw_list) -> None:
    pass
