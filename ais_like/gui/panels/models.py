"""models tab (in progress)."""


def draw(state) -> None:
    from imgui_bundle import imgui

    imgui.text("models")
