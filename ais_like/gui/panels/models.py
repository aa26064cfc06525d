"""Models tab: one model per feature (new, load, save), its display settings (threshold, colour,
alpha, show/active), training (settings, Train/Stop, progress, live loss plot), competition and
interactions, and model-assisted annotation (copy the thresholded prediction into the feature).

Draws and records intents only (see :mod:`ais_like.gui.modelling` for the handlers). The screen
rectangles of the main buttons are kept in ``state.extra["models_rects"]`` for tests.
"""

from __future__ import annotations

import numpy as np

from ...training import FAILED_VERDICTS

STATUS_COLOURS = {"training": (0.95, 0.75, 0.3, 1.0), "error": (0.95, 0.4, 0.35, 1.0),
                  "trained": (0.5, 0.85, 0.5, 1.0), "loaded": (0.5, 0.85, 0.5, 1.0)}


def _architectures(state) -> list[str]:
    cached = state.extra.get("models_architectures")
    if cached is None:
        from ...registry import list_architectures  # reads plugin files; never imports Keras

        try:
            cached = [a.title for a in list_architectures()]
        except Exception:  # a broken user plugin folder must not break the tab
            cached = []
        state.extra["models_architectures"] = cached
    return cached


def _remember(state, name: str) -> None:
    from imgui_bundle import imgui

    r0, r1 = imgui.get_item_rect_min(), imgui.get_item_rect_max()
    state.extra.setdefault("models_rects", {})[name] = (r0.x, r0.y, r1.x, r1.y)


def draw(state) -> None:
    from imgui_bundle import imgui

    from .. import filedialog

    m = state.models
    if imgui.button("Load model..."):
        filedialog.ask(state, "load_model", "Load model", kind="open", filters=["Models", "*.scnm *.scnmgroup"])
    _remember(state, "load")

    imgui.separator_text("New model")
    archs = _architectures(state)
    if archs:
        idx = archs.index(m.new_architecture) if m.new_architecture in archs else 0
        imgui.set_next_item_width(200)
        ch, idx = imgui.combo("architecture", idx, archs)
        if ch or m.new_architecture not in archs:
            m.new_architecture = archs[idx]  # a UI choice, not project data
    features = list(state.project.features)
    feature = m.new_feature if m.new_feature in features else state.annotation.feature
    if features:
        fidx = features.index(feature) if feature in features else 0
        imgui.set_next_item_width(200)
        ch, fidx = imgui.combo("feature##new", fidx, features)
        if ch:
            m.new_feature = features[fidx]
        feature = features[fidx]
    else:
        imgui.text_disabled("no features yet (add one in the Annotation tab)")
    if imgui.button("Create model"):
        state.request("new_model", feature=feature, architecture=m.new_architecture)
    _remember(state, "create")

    imgui.separator_text("Models")
    if not m.entries:
        imgui.text_wrapped("No models. Create one for a feature, or load a .scnm.")
    for e in m.entries:
        imgui.push_id(e.key)
        r, g, b = e.colour
        imgui.color_button("##swatch", imgui.ImVec4(r, g, b, 1.0), imgui.ColorEditFlags_.no_tooltip, (14, 14))
        imgui.same_line()
        label = f"{e.title}  ({e.feature or 'no feature'}, {e.architecture})"
        if imgui.selectable(label, m.selected == e.key, 0, (230, 0))[0]:
            state.request("select_model", key=e.key)
        imgui.same_line()
        col = STATUS_COLOURS.get(e.status)
        if col:
            imgui.text_colored(imgui.ImVec4(*col), e.status)
        else:
            imgui.text_disabled(e.status)
        if e.check in FAILED_VERDICTS:
            imgui.same_line()
            imgui.text_colored(imgui.ImVec4(*STATUS_COLOURS["error"]), "failed")
        imgui.pop_id()

    e = state.model(m.selected) if m.selected else None
    if e is not None:
        imgui.push_id(f"sel_{e.key}")
        _draw_model(state, e, features)
        imgui.pop_id()

    _draw_interactions(state)


def _draw_model(state, e, features) -> None:
    from imgui_bundle import imgui

    from .. import filedialog

    k = e.key
    imgui.separator_text(e.title)
    if e.message:
        imgui.text_wrapped(e.message)
    if e.check in FAILED_VERDICTS and e.check_message:
        imgui.push_style_color(imgui.Col_.text, imgui.ImVec4(*STATUS_COLOURS["error"]))
        imgui.text_wrapped(f"Failed check: {e.check_message}")
        imgui.pop_style_color()
        _remember(state, "check")
    imgui.set_next_item_width(200)
    ch, title = imgui.input_text("title", e.title, imgui.InputTextFlags_.enter_returns_true)
    if ch and title.strip() and title != e.title:
        state.request("set_model", key=k, title=title)
    if features:
        idx = features.index(e.feature) if e.feature in features else -1
        imgui.set_next_item_width(200)
        ch, idx = imgui.combo("feature", idx, features)
        if ch and 0 <= idx < len(features):
            state.request("set_model", key=k, feature=features[idx])

    # display
    ch, v = imgui.checkbox("show", e.show)
    if ch:
        state.request("set_model", key=k, show=v)
    imgui.same_line()
    ch, v = imgui.checkbox("active", e.active)
    if ch:
        state.request("set_model", key=k, active=v)
    imgui.same_line()
    ch, col = imgui.color_edit3("colour", list(e.colour), imgui.ColorEditFlags_.no_inputs)
    if ch:
        state.request("set_model", key=k, colour=tuple(col))
    imgui.set_next_item_width(200)
    ch, v = imgui.slider_float("threshold", float(e.threshold), 0.0, 1.0, "%.2f")
    if ch:
        state.request("set_model", key=k, threshold=v)
    imgui.set_next_item_width(200)
    ch, v = imgui.slider_float("alpha", float(e.alpha), 0.0, 1.0, "%.2f")
    if ch:
        state.request("set_model", key=k, alpha=v)
    ch, v = imgui.checkbox("emit", e.emit)
    if ch:
        state.request("set_model", key=k, emit=v)
    if imgui.is_item_hovered():
        imgui.set_tooltip("competition: where this model is stronger, absorbing models are zeroed")
    imgui.same_line()
    ch, v = imgui.checkbox("absorb", e.absorb)
    if ch:
        state.request("set_model", key=k, absorb=v)
    if imgui.is_item_hovered():
        imgui.set_tooltip("competition: zeroed where an emitting model is stronger")

    # training
    if imgui.tree_node_ex("Training settings", imgui.TreeNodeFlags_.default_open if e.status == "untrained" else 0):
        for name, lo in (("epochs", 1), ("batch_size", 1), ("box_size", 8), ("n_tiles", 1)):
            imgui.set_next_item_width(120)
            ch, v = imgui.input_int(name.replace("_", " "), int(getattr(e, name)), 1, 10)
            if ch and v >= lo:
                state.request("set_model", key=k, **{name: v})
        imgui.set_next_item_width(120)
        ch, v = imgui.input_float("learning rate", float(e.learning_rate), 0.0, 0.0, "%.5f",
                                  imgui.InputTextFlags_.enter_returns_true)
        if ch and v > 0:
            state.request("set_model", key=k, learning_rate=v)
        imgui.set_next_item_width(120)
        ch, v = imgui.slider_float("positive fraction", float(e.positive_fraction), 0.0, 1.0, "%.2f")
        if ch:
            state.request("set_model", key=k, positive_fraction=v)
        imgui.tree_pop()
    training = e.status == "training"
    imgui.begin_disabled(training or e.status == "loading")
    if imgui.button("Train"):
        state.request("train_model", key=k)
    _remember(state, "train")
    imgui.end_disabled()
    imgui.same_line()
    imgui.begin_disabled(not training)
    if imgui.button("Stop"):
        state.request("stop_training", key=k)
    _remember(state, "stop")
    imgui.end_disabled()
    if training or e.progress > 0:
        imgui.same_line()
        imgui.progress_bar(float(e.progress), (-1, 0), f"{100 * e.progress:.0f}%")
    _loss_plot(e)

    imgui.begin_disabled(e.status not in ("trained", "loaded"))
    if imgui.button("Save..."):
        filedialog.ask(state, "save_model", "Save model", kind="save", filters=["Models", "*.scnm"], key=k)
    imgui.same_line()
    if imgui.button("Copy prediction to annotation"):
        state.request("copy_prediction_to_annotation", key=k)
    if imgui.is_item_hovered(imgui.HoveredFlags_.allow_when_disabled):
        imgui.set_tooltip("paint this slice's thresholded prediction into the feature (Ctrl+Z undoes)")
    _remember(state, "copy")
    imgui.end_disabled()
    imgui.same_line()
    if imgui.button("Remove"):
        state.request("remove_model", key=k)
    if e.path:
        imgui.text_disabled(str(e.path))


def _loss_plot(e) -> None:
    from imgui_bundle import implot

    if not e.losses:
        return
    ys = np.asarray(e.losses, np.float64)
    xs = np.arange(1, len(ys) + 1, dtype=np.float64)
    if implot.begin_plot("##loss", (-1, 150)):
        implot.setup_axes("batch", "loss", implot.AxisFlags_.auto_fit, implot.AxisFlags_.auto_fit)
        implot.plot_line("batch loss", xs, ys)
        if e.epoch_losses and len(e.epoch_batches) == len(e.epoch_losses):
            implot.plot_line("epoch mean", np.asarray(e.epoch_batches, np.float64),
                             np.asarray(e.epoch_losses, np.float64))
        implot.end_plot()


def _draw_interactions(state) -> None:
    from imgui_bundle import imgui

    m = state.models
    imgui.separator_text("Interactions")
    titles = list(dict.fromkeys(e.title for e in m.entries))
    imgui.set_next_item_width(80)
    modes = ["2d", "3d"]
    ch, i = imgui.combo("mode", modes.index(m.interaction_mode) if m.interaction_mode in modes else 0, modes)
    if ch:
        state.request("set_interaction_mode", mode=modes[i])
    flags = imgui.TableFlags_.row_bg | imgui.TableFlags_.borders_inner_h | imgui.TableFlags_.sizing_stretch_prop
    kinds = ["colocalize", "avoid"]
    if m.interactions and imgui.begin_table("##interactions", 6, flags):
        imgui.table_setup_column("model")
        imgui.table_setup_column("kind")
        imgui.table_setup_column("partner")
        imgui.table_setup_column("nm")
        imgui.table_setup_column("thr")
        imgui.table_setup_column("", imgui.TableColumnFlags_.width_fixed, 20)
        imgui.table_headers_row()
        for i, d in enumerate(m.interactions):
            imgui.push_id(f"it{i}")
            imgui.table_next_row()
            imgui.table_next_column()
            imgui.text(str(d.get("parent")))
            imgui.table_next_column()
            imgui.set_next_item_width(-1)
            ch, ki = imgui.combo("##kind", kinds.index(d.get("kind", "colocalize")), kinds)
            if ch:
                state.request("set_interaction", index=i, kind=kinds[ki])
            imgui.table_next_column()
            imgui.text(str(d.get("partner")))
            imgui.table_next_column()
            imgui.set_next_item_width(-1)
            ch, v = imgui.input_float("##r", float(d.get("radius_nm", 10.0)), 0.0, 0.0, "%.0f",
                                      imgui.InputTextFlags_.enter_returns_true)
            if ch and v >= 0:
                state.request("set_interaction", index=i, radius_nm=v)
            imgui.table_next_column()
            imgui.set_next_item_width(-1)
            ch, v = imgui.slider_float("##t", float(d.get("threshold", 0.5)), 0.0, 1.0, "%.2f")
            if ch:
                state.request("set_interaction", index=i, threshold=v)
            imgui.table_next_column()
            if imgui.small_button("x"):
                state.request("remove_interaction", index=i)
            imgui.pop_id()
        imgui.end_table()
    if len(titles) < 2:
        imgui.text_disabled("two models are needed for an interaction")
        return
    draft = state.extra.setdefault("models_new_interaction", {"parent": 0, "partner": 1, "kind": 0,
                                                              "radius_nm": 10.0, "threshold": 0.5})
    for side in ("parent", "partner"):
        draft[side] = min(draft[side], len(titles) - 1)
    imgui.set_next_item_width(110)
    _, draft["parent"] = imgui.combo("##parent", draft["parent"], titles)
    imgui.same_line()
    imgui.set_next_item_width(95)
    _, draft["kind"] = imgui.combo("##newkind", draft["kind"], kinds)
    imgui.same_line()
    imgui.set_next_item_width(110)
    _, draft["partner"] = imgui.combo("##partner", draft["partner"], titles)
    imgui.set_next_item_width(110)
    _, draft["radius_nm"] = imgui.input_float("radius nm", float(draft["radius_nm"]), 0.0, 0.0, "%.0f")
    imgui.same_line()
    imgui.set_next_item_width(90)
    _, draft["threshold"] = imgui.slider_float("thr##new", float(draft["threshold"]), 0.0, 1.0, "%.2f")
    imgui.same_line()
    if imgui.button("Add"):
        state.request("add_interaction", parent=titles[draft["parent"]], partner=titles[draft["partner"]],
                      kind=kinds[draft["kind"]], radius_nm=max(0.0, float(draft["radius_nm"])),
                      threshold=float(draft["threshold"]))
