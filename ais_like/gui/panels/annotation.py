"""Annotation tab: features (colour, name, show, outline, opacity, box size), painting tools,
undo/redo, the annotated slices to jump to; and the left-button tools on the canvas.

Tools and keys (when no text field has the keyboard): B brush, E eraser, G flood fill (F fits
the view), X positive box, C negative box, [ and ] brush size, I paint "ignore", Ctrl+Z undo,
Ctrl+Y or Ctrl+Shift+Z redo. Brush and eraser paint while the left button is held; flood and
boxes act on a click. With a box tool, a right click (or Shift + left click) removes the
box under the cursor.

Everything here draws and records intents; :mod:`ais_like.gui.annotate` carries them out.
"""

from __future__ import annotations

TOOL_BUTTONS = (("brush", "Brush", "B"), ("eraser", "Eraser", "E"), ("flood", "Flood", "G"),
                ("box+", "Box+", "X"), ("box-", "Box-", "C"))
CLICK_SLOP_SQR = 16.0  # a right press-release moving less than 4 px is a click, not a pan


# ------------------------------------------------------------------------------------------
# Sidebar


def draw(state) -> None:
    from imgui_bundle import imgui

    _features(state, imgui)
    _tools(state, imgui)
    _slices(state, imgui)


def _features(state, imgui) -> None:
    from ..annotate import BOX_SIZES, active_feature, feature_counts

    ui = state.annotation
    proj = state.project
    imgui.separator_text("Features")
    if imgui.button("Add feature"):
        state.request("add_feature")
    if not proj.features:
        imgui.text_wrapped("No features yet: add one (membrane, ribosome, ...) and paint it on a few slices.")
        return
    counts = feature_counts(state)
    flags = (imgui.TableFlags_.row_bg | imgui.TableFlags_.borders_inner_h | imgui.TableFlags_.sizing_fixed_fit)
    if imgui.begin_table("##features", 4, flags):
        imgui.table_setup_column("", imgui.TableColumnFlags_.width_fixed)
        imgui.table_setup_column("feature", imgui.TableColumnFlags_.width_stretch)
        imgui.table_setup_column("show", imgui.TableColumnFlags_.width_fixed)
        imgui.table_setup_column("outline", imgui.TableColumnFlags_.width_fixed)
        imgui.table_headers_row()
        for name, f in list(proj.features.items()):
            imgui.push_id(f"feat_{name}")
            imgui.table_next_row()
            imgui.table_next_column()
            changed, col = imgui.color_edit3("##colour", list(f.colour),
                                             imgui.ColorEditFlags_.no_inputs | imgui.ColorEditFlags_.no_label)
            if changed:
                state.request("set_feature", name=name, colour=tuple(col))
            imgui.table_next_column()
            px, nsl, nbox = counts.get(name, (0, 0, 0))
            if imgui.selectable(f"{name}##sel", name == ui.feature)[0] and name != ui.feature:
                state.request("select_feature", name=name)
            imgui.set_item_tooltip(f"{px} px painted on {nsl} slice(s), {nbox} box(es)")
            imgui.table_next_column()
            changed, vis = imgui.checkbox("##show", f.visible)
            if changed:
                state.request("set_feature", name=name, visible=vis)
            imgui.set_item_tooltip("show")
            imgui.table_next_column()
            changed, outl = imgui.checkbox("##outline", f.outline)
            if changed:
                state.request("set_feature", name=name, outline=outl)
            imgui.set_item_tooltip("outline only")
            imgui.pop_id()
        imgui.end_table()

    name = active_feature(state)
    if name is None:
        return
    f = proj.features[name]
    imgui.push_id(f"active_{name}")
    imgui.set_next_item_width(200)
    changed, new = imgui.input_text("name", name, imgui.InputTextFlags_.enter_returns_true)
    if changed and new.strip() and new != name:
        state.request("rename_feature", old=name, new=new)
    imgui.set_next_item_width(200)
    changed, alpha = imgui.slider_float("opacity", float(f.alpha), 0.0, 1.0, "%.2f")
    if changed:
        state.request("set_feature", name=name, alpha=alpha)
    sizes = list(BOX_SIZES) if f.box_size in BOX_SIZES else sorted(set(BOX_SIZES) | {f.box_size})
    imgui.set_next_item_width(200)
    changed, idx = imgui.combo("box size (px)", sizes.index(f.box_size), [str(s) for s in sizes])
    if changed:
        state.request("set_feature", name=name, box_size=sizes[idx])
    px, nsl, nbox = counts.get(name, (0, 0, 0))
    imgui.text_disabled(f"{px} px on {nsl} slice(s), {nbox} box(es) here")
    if imgui.button("Remove feature"):
        imgui.open_popup("remove_feature")
    if imgui.begin_popup("remove_feature"):
        imgui.text(f"Remove {name!r} and all its annotations?")
        if imgui.button("Remove"):
            state.request("remove_feature", name=name)
            imgui.close_current_popup()
        imgui.same_line()
        if imgui.button("Cancel"):
            imgui.close_current_popup()
        imgui.end_popup()
    imgui.pop_id()


def _tools(state, imgui) -> None:
    from ..annotate import MAX_RADIUS, MIN_RADIUS, brush_radius_nm

    ui = state.annotation
    imgui.separator_text("Tools")
    for i, (tool, label, key) in enumerate(TOOL_BUTTONS):
        if i:
            imgui.same_line()
        active = ui.tool == tool
        if active:
            imgui.push_style_color(imgui.Col_.button, imgui.get_style_color_vec4(imgui.Col_.button_active))
        if imgui.button(f"{label}##tool_{tool}"):
            state.request("set_tool", tool=tool)
        if active:
            imgui.pop_style_color()
        imgui.set_item_tooltip(f"{label} ({key})")
    imgui.set_next_item_width(200)
    changed, r = imgui.slider_float("radius (px)", float(ui.brush_radius), MIN_RADIUS, MAX_RADIUS, "%.1f",
                                    imgui.SliderFlags_.logarithmic)
    if changed:
        state.request("set_brush", radius_px=r)
    nm = brush_radius_nm(state)
    if nm is not None:
        imgui.set_next_item_width(200)
        changed, v = imgui.input_float("radius (nm)", float(nm), 0.0, 0.0, "%.1f",
                                       imgui.InputTextFlags_.enter_returns_true)
        if changed and v > 0:
            state.request("set_brush", radius_nm=v)
    changed, ign = imgui.checkbox("paint \"ignore\" (I)", ui.ignore)
    if changed:
        state.request("set_annotation_option", ignore=ign)
    imgui.set_item_tooltip("pixels painted as ignore are left out of training")
    if ui.tool == "flood":
        imgui.set_next_item_width(200)
        changed, tol = imgui.slider_float("tolerance (sigma)", float(ui.flood_tolerance), 0.0, 3.0, "%.2f")
        if changed:
            state.request("set_annotation_option", flood_tolerance=tol)
        changed, within = imgui.checkbox("within the brush radius", ui.flood_in_brush)
        if changed:
            state.request("set_annotation_option", flood_in_brush=within)
    undo = ui.undo
    for label, action, enabled, keys in (("Undo", "undo", undo.can_undo, "Ctrl+Z"),
                                         ("Redo", "redo", undo.can_redo, "Ctrl+Y / Ctrl+Shift+Z")):
        imgui.begin_disabled(not enabled)
        if imgui.button(label):
            state.request(action)
        imgui.end_disabled()
        imgui.set_item_tooltip(keys)
        imgui.same_line()
    if imgui.button("Clear slice"):
        state.request("clear_slice")
    imgui.set_item_tooltip("erase the active feature's painting on this slice")


def _slices(state, imgui) -> None:
    from ..annotate import active_feature

    from .. import filedialog

    name = active_feature(state)
    ds = state.dataset
    imgui.separator_text("Annotated slices")
    if ds is None or name is None:
        imgui.text_disabled("open a tomogram (Datasets tab)" if ds is None else "add a feature")
        return
    ann = ds.annotations
    painted = set(ann.annotated_slices(name))
    boxed = set(ann.boxed_slices(name))
    slices = sorted(painted | boxed)
    if not slices:
        imgui.text_disabled(f"nothing annotated for {name!r} in this tomogram yet")
    elif imgui.begin_list_box("##slices", (-1, min(8, len(slices)) * imgui.get_text_line_height_with_spacing() + 8)):
        rects = state.extra["annotation_slice_rects"] = {}  # z -> screen rect, for tests and tools
        for z in slices:
            what = ", ".join(w for w, s in (("painted", painted), ("boxes", boxed)) if z in s)
            if imgui.selectable(f"slice {z}  ({what})##z{z}", z == state.z)[0] and z != state.z:
                state.request("jump_to_slice", z=z)
            if imgui.is_item_visible():
                r0, r1 = imgui.get_item_rect_min(), imgui.get_item_rect_max()
                rects[z] = (r0.x, r0.y, r1.x, r1.y)
        imgui.end_list_box()
    if imgui.button("Import labels..."):
        filedialog.ask(state, "import_mask", "Import a label volume as this feature's painting", kind="open",
                       filters=["Volumes", "*.mrc *.rec *.map *.tif *.tiff"], feature=name)
    imgui.set_item_tooltip(f"a volume of this tomogram's shape; > 0 becomes {name!r}")


# ------------------------------------------------------------------------------------------
# Canvas


def _image_point(state, mx: float, my: float) -> tuple[float, float]:
    """(y, x) in the painting convention (pixel centres on integers) under screen (mx, my).

    ImGui floors the mouse position to whole screen pixels: the centre of that screen pixel
    (+ 0.5) is the best estimate of where the cursor is. The view maps continuous image
    coordinates (pixel i spans [i, i + 1)); painting puts pixel centres on integers (- 0.5)."""
    ix, iy = state.view.to_image(state.canvas_rect, mx + 0.5, my + 0.5)
    return iy - 0.5, ix - 0.5


def canvas_input(state, inside: bool) -> None:
    from imgui_bundle import imgui

    io = imgui.get_io()
    if not io.want_capture_keyboard:
        _shortcuts(state, imgui, io)
    if state.dataset is None:
        return
    ui = state.annotation
    y, x = _image_point(state, io.mouse_pos.x, io.mouse_pos.y)
    if ui.stroke_last is not None:  # a stroke is running: follow the mouse until release
        if (y, x) != ui.stroke_last:
            state.request("stroke_to", y=y, x=x)
        if not imgui.is_mouse_down(0):
            state.request("stroke_end")
        return
    if not inside:
        return
    if imgui.is_mouse_clicked(0):
        tool = ui.tool
        if tool in ("brush", "eraser"):
            state.request("stroke_begin", y=y, x=x)
        elif tool == "flood":
            state.request("flood", y=y, x=x)
        elif tool in ("box+", "box-"):
            if io.key_shift:
                state.request("remove_box", y=y, x=x)
            else:
                state.request("box", y=y, x=x, positive=tool == "box+")
    if (ui.tool in ("box+", "box-") and imgui.is_mouse_released(1)
            and float(io.mouse_drag_max_distance_sqr[1]) < CLICK_SLOP_SQR):
        state.request("remove_box", y=y, x=x)


def _shortcuts(state, imgui, io) -> None:
    Key = imgui.Key
    if io.key_ctrl:
        if imgui.is_key_pressed(Key.z):
            state.request("redo" if io.key_shift else "undo")
        elif imgui.is_key_pressed(Key.y):
            state.request("redo")
        return
    for tool, _label, key in TOOL_BUTTONS:
        if imgui.is_key_pressed(getattr(Key, key.lower()), False):
            state.request("set_tool", tool=tool)
    if imgui.is_key_pressed(Key.left_bracket):
        state.request("scale_brush", factor=1 / 1.25)
    if imgui.is_key_pressed(Key.right_bracket):
        state.request("scale_brush", factor=1.25)
    if imgui.is_key_pressed(Key.i, False):
        state.request("set_annotation_option", ignore=not state.annotation.ignore)


def canvas_overlay(state, draw_list) -> None:
    from imgui_bundle import imgui

    from ..annotate import active_feature

    ds = state.dataset
    name = active_feature(state)
    if ds is None:
        return
    rx, ry, rw, rh = state.canvas_rect
    view, rect = state.view, state.canvas_rect
    draw_list.push_clip_rect((rx, ry), (rx + rw, ry + rh), True)
    if name is not None:
        f = state.project.features[name]
        s = int(f.box_size)
        h = s // 2
        ann = ds.annotations
        for positive, colour in ((True, (0.2, 0.9, 0.3, 1.0)), (False, (0.95, 0.25, 0.25, 1.0))):
            col = imgui.get_color_u32(colour)
            for by, bx in ann.boxes(name, state.z, positive):
                # the box covers pixels by - s//2 .. by - s//2 + s - 1 (as tiles are cut)
                p0 = view.to_screen(rect, bx - h, by - h)
                p1 = view.to_screen(rect, bx - h + s, by - h + s)
                draw_list.add_rect(p0, p1, col, 0.0, 2.0)
    cursor = state.extra.get("cursor")
    tool = state.annotation.tool
    if cursor is not None and tool in ("brush", "eraser", "flood"):
        io = imgui.get_io()
        r = (state.annotation.brush_radius + 0.5) * view.zoom
        if tool == "eraser":
            colour = (1.0, 1.0, 1.0, 0.9)
        elif name is not None:
            colour = (*state.project.features[name].colour, 0.9)
        else:
            colour = (0.8, 0.8, 0.8, 0.6)
        centre = (io.mouse_pos.x, io.mouse_pos.y)
        if tool != "flood" or state.annotation.flood_in_brush:
            draw_list.add_circle(centre, max(r, 1.5), imgui.get_color_u32(colour), 0, 1.5)
        if tool == "flood":
            draw_list.add_line((centre[0] - 6, centre[1]), (centre[0] + 6, centre[1]), imgui.get_color_u32(colour))
            draw_list.add_line((centre[0], centre[1] - 6), (centre[0], centre[1] + 6), imgui.get_color_u32(colour))
    draw_list.pop_clip_rect()
