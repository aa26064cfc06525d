"""The sidebar's menu bar: project open/save, file opening, quit."""

from __future__ import annotations


def draw(state) -> None:
    from imgui_bundle import imgui

    from .. import filedialog

    if imgui.begin_menu_bar():
        if imgui.begin_menu("File"):
            if imgui.menu_item_simple("Open tomogram..."):
                filedialog.ask(state, "open_files", "Open tomograms", kind="open_many",
                               filters=["Tomograms", "*.mrc *.rec *.map *.st *.mrcs *.ali *.tif *.tiff"])
            if imgui.menu_item_simple("Open project..."):
                filedialog.ask(state, "open_project", "Open project", kind="folder")
            if imgui.menu_item_simple("Recover autosaved project..."):
                from ..actions import recovery_folder

                filedialog.ask(state, "open_project", "Recover an autosaved project", kind="folder",
                               start=recovery_folder() if recovery_folder().is_dir() else None)
            imgui.separator()
            if imgui.menu_item_simple("New project"):
                state.request("new_project")
            if imgui.menu_item_simple("Save project", "Ctrl+S", False, state.project_path is not None):
                state.request("save_project")
            if imgui.menu_item_simple("Save project as..."):
                filedialog.ask(state, "save_project", "Save project as (a folder ending .aisproj)", kind="save",
                               filters=["Project", "*.aisproj"])
            imgui.separator()
            if imgui.menu_item_simple("Quit", "Ctrl+Q"):
                state.quit = True
            imgui.end_menu()
        name = state.project_path.name if state.project_path else "unsaved project"
        dirty = "*" if state.project.dirty else ""
        imgui.text_disabled(f"  {name}{dirty}")
        imgui.end_menu_bar()
    io = imgui.get_io()
    if io.key_ctrl and imgui.is_key_pressed(imgui.Key.s, False):
        if state.project_path is not None:
            state.request("save_project")
        else:
            filedialog.ask(state, "save_project", "Save project as", kind="save")
    if io.key_ctrl and imgui.is_key_pressed(imgui.Key.q, False):
        state.quit = True
