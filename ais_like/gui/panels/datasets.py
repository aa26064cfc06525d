"""Datasets tab: the open tomograms (with Å/px), contrast with histogram and auto-contrast,
inversion and display filters (display only: models never see them)."""

from __future__ import annotations

import numpy as np

from ..state import FILTERS


def histogram(state, bins: int = 128) -> tuple[np.ndarray, float, float] | None:
    """Histogram of the shown slice (sampled), cached per (dataset, slice, filter)."""
    from ..actions import cached, display_key, display_sample

    if state.dataset is None:
        return None

    def compute():
        sample = display_sample(state)
        if sample.size == 0:
            return None
        lo, hi = np.percentile(sample, [0.1, 99.9])
        if not hi > lo:
            hi = lo + 1.0
        counts, _ = np.histogram(sample, bins=bins, range=(lo, hi))
        return counts.astype(np.float32), float(lo), float(hi)

    return cached(state, "histogram", display_key(state), compute)


def draw(state) -> None:
    from imgui_bundle import imgui

    from .. import filedialog

    if imgui.button("Open tomograms..."):
        filedialog.ask(state, "open_files", "Open tomograms", kind="open_many",
                       filters=["Tomograms", "*.mrc *.rec *.map *.st *.mrcs *.ali *.tif *.tiff"])
    imgui.same_line()
    if imgui.button("Open project..."):
        filedialog.ask(state, "open_project", "Open project", kind="folder")
    imgui.separator_text("Tomograms")
    if not state.project.datasets:
        imgui.text_wrapped("No tomograms yet. Open .mrc / .rec / .st / .tif files, or drop them on the window.")
    if imgui.begin_table("##datasets", 3, imgui.TableFlags_.row_bg | imgui.TableFlags_.borders_inner_h):
        imgui.table_setup_column("name", imgui.TableColumnFlags_.width_stretch)
        imgui.table_setup_column("size", imgui.TableColumnFlags_.width_fixed)
        imgui.table_setup_column("Å/px", imgui.TableColumnFlags_.width_fixed)
        for name, ds in state.project.datasets.items():
            imgui.table_next_row()
            imgui.table_next_column()
            if imgui.selectable(name, name == state.current)[0] and name != state.current:
                state.request("select_dataset", name=name)
            if imgui.begin_popup_context_item(f"##ctx{name}"):
                if imgui.menu_item_simple("Remove from project"):
                    state.request("remove_dataset", name=name)
                imgui.end_popup()
            imgui.table_next_column()
            z, y, x = ds.shape
            imgui.text(f"{x}x{y}x{z}")
            imgui.table_next_column()
            apix = ds.apix or ds.meta.get("apix")
            if apix is None and name == state.current:
                apix = state.apix
            imgui.text(f"{apix:.2f}" if apix else "?")
        imgui.end_table()

    if state.dataset is None:
        return
    imgui.separator_text("Voxel size")
    cur = float(state.apix or 0.0)
    imgui.set_next_item_width(120)
    changed, val = imgui.input_float("Å/px##apix", cur, 0.0, 0.0, "%.3f", imgui.InputTextFlags_.enter_returns_true)
    if changed and val != cur:
        state.request("set_apix", name=state.current, apix=val)

    imgui.separator_text("Contrast")
    d = state.display
    h = histogram(state)
    if h is not None:
        counts, lo, hi = h
        imgui.plot_histogram("##hist", counts, graph_size=(imgui.get_content_region_avail().x, 60))
    lo_v, hi_v = d.contrast
    span = max(hi_v - lo_v, 1e-6)
    rng = (h[1] - span, h[2] + span) if h is not None else (lo_v - span, hi_v + span)
    imgui.set_next_item_width(-60)
    c1, lo_new = imgui.slider_float("min", lo_v, rng[0], rng[1], "%.4g")
    imgui.set_next_item_width(-60)
    c2, hi_new = imgui.slider_float("max", hi_v, rng[0], rng[1], "%.4g")
    if c1 or c2:
        state.request("set_contrast", lo=lo_new, hi=hi_new)
    if imgui.button("Auto contrast"):
        state.request("auto_contrast")
    imgui.same_line()
    imgui.set_next_item_width(80)
    _, d.auto_saturation = imgui.slider_float("% clip", d.auto_saturation, 0.0, 5.0, "%.1f")
    _, d.invert = imgui.checkbox("Invert", d.invert)

    imgui.separator_text("Display filter (view only)")
    for f in FILTERS:
        if imgui.radio_button(f, d.filter == f):
            state.request("set_filter", filter=f)
        imgui.same_line()
    imgui.new_line()
    if d.filter == "gaussian":
        ch, v = imgui.slider_float("sigma (px)", d.gaussian_sigma, 0.3, 10.0, "%.1f")
        if ch:
            state.request("set_filter", filter="gaussian", gaussian_sigma=v)
    elif d.filter == "bandpass":
        ch1, lp = imgui.slider_float("low-pass (Å)", d.lowpass_a, 2.0, 200.0, "%.0f")
        ch2, hp = imgui.slider_float("high-pass (Å)", d.highpass_a, 50.0, 4000.0, "%.0f")
        if ch1 or ch2:
            state.request("set_filter", filter="bandpass", lowpass_a=lp, highpass_a=hp)
    imgui.separator_text("Navigation")
    imgui.text_wrapped("Wheel: zoom at the cursor. Shift+wheel, Up/Down, PgUp/PgDn: slices. "
                       "Right or middle drag: pan. F: fit.")
