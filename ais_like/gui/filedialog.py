"""A small ImGui file browser: no dialog of another toolkit inside the frame loop.

``ask(state, action, title, kind=...)`` opens it; when the user confirms, it records
``state.request(action, path=...)`` (or ``paths=[...]`` for ``kind="open_many"``, plus any
``extra`` keyword arguments). The listing is read once per folder change, never per frame.
"""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path

KINDS = ("open", "open_many", "folder", "save")


def ask(state, action: str, title: str, *, kind: str = "open", filters=None, start=None, **extra) -> None:
    if kind not in KINDS:
        raise ValueError(kind)
    folder = Path(start) if start else Path(state.extra.get("dialog_folder") or
                                            (state.project_path.parent if state.project_path else Path.cwd()))
    patterns = filters[1].split() if filters else []
    state.extra["dialog"] = {"action": action, "title": title, "kind": kind, "patterns": patterns,
                             "folder": folder, "name": "", "selected": set(), "listing": None,
                             "extra": extra, "open": False}


def listing(folder: Path, patterns) -> list[tuple[str, bool]]:
    """(name, is_folder) of a folder's entries: folders first, then files matching ``patterns``
    (``*.aisproj`` folders count as files too); hidden entries left out."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    dirs, files = [], []
    for e in entries:
        if e.name.startswith("."):
            continue
        try:
            is_dir = e.is_dir()
        except OSError:
            continue
        matches = not patterns or any(fnmatch.fnmatch(e.name.lower(), p.lower()) for p in patterns)
        if is_dir:
            dirs.append((e.name, True))
            if patterns and matches:
                files.append((e.name, False))
        elif matches:
            files.append((e.name, False))
    return sorted(dirs) + sorted(files)


def confirm(state, dialog, paths: list[Path]) -> None:
    kind = dialog["kind"]
    if not paths:
        return
    if kind == "open_many":
        state.request(dialog["action"], paths=[str(p) for p in paths], **dialog["extra"])
    else:
        state.request(dialog["action"], path=str(paths[0]), **dialog["extra"])
    state.extra["dialog_folder"] = str(dialog["folder"])
    state.extra.pop("dialog", None)


def draw(state) -> None:
    from imgui_bundle import imgui

    d = state.extra.get("dialog")
    if d is None:
        return
    if not d["open"]:
        imgui.open_popup(d["title"])
        d["open"] = True
    imgui.set_next_window_size((640, 460), imgui.Cond_.appearing)
    vp = imgui.get_main_viewport()
    imgui.set_next_window_pos((vp.size.x / 2, vp.size.y / 2), imgui.Cond_.appearing, (0.5, 0.5))
    visible, still_open = imgui.begin_popup_modal(d["title"], True)
    if not visible:
        if not still_open:
            state.extra.pop("dialog", None)
        return
    folder: Path = d["folder"]
    changed, text = imgui.input_text("folder", str(folder), imgui.InputTextFlags_.enter_returns_true)
    if changed and Path(text).is_dir():
        d["folder"], d["listing"] = Path(text), None
    if imgui.button("Up") and folder.parent != folder:
        d["folder"], d["listing"] = folder.parent, None
    imgui.same_line()
    if imgui.button("Home"):
        d["folder"], d["listing"] = Path.home(), None
    if d["listing"] is None:
        d["listing"] = listing(d["folder"], d["patterns"])
    imgui.begin_child("##files", (0, -70), imgui.ChildFlags_.borders)
    for name, is_dir in d["listing"]:
        label = f"[{name}]" if is_dir else name
        sel = name in d["selected"]
        clicked = imgui.selectable(label, sel, imgui.SelectableFlags_.allow_double_click)[0]
        if clicked:
            if is_dir and imgui.is_mouse_double_clicked(0):
                d["folder"], d["listing"], d["selected"] = d["folder"] / name, None, set()
                break
            if d["kind"] == "open_many" and imgui.get_io().key_ctrl:
                d["selected"] ^= {name}
            else:
                d["selected"] = {name}
                d["name"] = name
            if not is_dir and imgui.is_mouse_double_clicked(0):
                confirm(state, d, [d["folder"] / name])
    imgui.end_child()
    _, d["name"] = imgui.input_text("name", d["name"])
    ok_label = {"save": "Save", "folder": "Choose"}.get(d["kind"], "Open")
    if imgui.button(ok_label, (120, 0)):
        if d["kind"] == "open_many" and len(d["selected"]) > 1:
            confirm(state, d, [d["folder"] / n for n in sorted(d["selected"])])
        elif d["name"]:
            confirm(state, d, [d["folder"] / d["name"]])
        elif d["kind"] == "folder":
            confirm(state, d, [d["folder"]])
    imgui.same_line()
    if imgui.button("Cancel", (120, 0)):
        state.extra.pop("dialog", None)
    if "dialog" not in state.extra:
        imgui.close_current_popup()
    imgui.end_popup()
