"""Actions of the Models tab: models per feature, training in the worker, loading and saving
``.scnm`` / ``.scnmgroup`` files, display settings, interactions and model-assisted annotation.

Everything Keras does runs in the model worker process (:mod:`ais_like.gui.worker`); this
module sends it commands and applies its answers (:func:`pump`, called once a frame by the
preview) to the session's :class:`ais_like.gui.state.ModelEntry` objects. Training sets are cut
from the project's annotations in a background job, never in the frame.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np

from ..errors import AisLikeError
from ..training import FAILED_VERDICTS
from .actions import handler
from .state import ModelEntry

SETTABLE = {
    "title": str, "feature": None, "colour": None, "alpha": float, "threshold": float, "show": bool,
    "active": bool, "emit": bool, "absorb": bool, "epochs": int, "batch_size": int, "learning_rate": float,
    "box_size": int, "n_tiles": int, "positive_fraction": float, "architecture": str,
}
KINDS = ("colocalize", "avoid")


def worker(state):
    """The session's model worker (created on first use; its process starts on first command)."""
    if state.worker is None:
        from .worker import ModelWorker

        state.worker = ModelWorker()
    return state.worker


def ensure_preview(state):
    if state.preview is None:
        from .preview import Preview

        state.preview = Preview()
    return state.preview


def entry_of(state, key: str) -> ModelEntry:
    e = state.model(key)
    if e is None:
        raise AisLikeError(f"no model {key!r} in this session")
    return e


def _safe_name(title: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(title)).strip("._") or "model"


def _colour(value) -> tuple:
    c = tuple(float(v) for v in value)[:3]
    if len(c) != 3 or not all(np.isfinite(c)):
        raise AisLikeError(f"a colour is three numbers 0..1, got {value!r}")
    return tuple(float(np.clip(v, 0.0, 1.0)) for v in c)


# ------------------------------------------------------------------------------------------
# Models


@handler("new_model")
def new_model(state, feature: str | None = None, architecture: str | None = None, title: str | None = None) -> str:
    """Add an untrained model of ``architecture`` for ``feature``; returns its key."""
    from .. import registry

    architecture = architecture or state.models.new_architecture
    archs = {a.title.lower(): a for a in registry.list_architectures(all=True)}
    arch = archs.get(str(architecture).lower())
    if arch is None:
        have = ", ".join(sorted(a.title for a in archs.values()))
        raise AisLikeError(f"unknown architecture {architecture!r} (have: {have})")
    architecture = arch.title
    feature = feature or state.models.new_feature or state.annotation.feature
    f = state.project.features.get(feature) if feature else None
    if feature and f is None:
        raise AisLikeError(f"no feature {feature!r} in the project")
    key = state.new_model_key()
    entry = ModelEntry(key=key, title=title or feature or architecture, architecture=architecture, feature=feature,
                       learning_rate=arch.learning_rate)
    if f is not None:
        entry.colour = tuple(float(c) for c in f.colour)
        entry.box_size = int(f.box_size)
    state.models.entries.append(entry)
    state.models.selected = key
    ensure_preview(state)
    return key


@handler("remove_model")
def remove_model(state, key: str) -> None:
    e = entry_of(state, key)
    if e.status == "training":
        stop_training(state, key=key)
    if state.worker is not None and state.worker.started:
        state.worker.send("drop", key=key)
    state.models.entries.remove(e)
    if state.preview is not None:
        state.preview.forget(key)
    if state.models.selected == key:
        state.models.selected = state.models.entries[0].key if state.models.entries else None


@handler("select_model")
def select_model(state, key: str | None) -> None:
    state.models.selected = key


@handler("set_model")
def set_model(state, key: str, **fields) -> None:
    """Change display or training settings of a model (threshold, colour, alpha, show, ...)."""
    e = entry_of(state, key)
    for name, value in fields.items():
        if name not in SETTABLE:
            raise AisLikeError(f"a model has no setting {name!r}")
        if name == "colour":
            value = _colour(value)
        elif name == "feature":
            if value is not None and value not in state.project.features:
                raise AisLikeError(f"no feature {value!r} in the project")
        elif name in ("threshold", "alpha", "positive_fraction"):
            value = float(np.clip(float(value), 0.0, 1.0))
        elif name in ("epochs", "batch_size", "box_size", "n_tiles"):
            value = max(1, int(value))
        elif name == "learning_rate":
            value = float(value)
            if not value > 0:
                raise AisLikeError(f"the learning rate must be positive, got {value}")
        elif name == "architecture":
            from .. import registry

            old, new = (registry.get_architecture(t) for t in (e.architecture, value))
            value = new.title
            if e.learning_rate == old.learning_rate:  # the old network's default: take the new one's
                e.learning_rate = new.learning_rate
        elif name == "title":
            value = str(value).strip()
            if not value:
                raise AisLikeError("a model needs a title")
            for d in state.models.interactions:  # interactions refer to models by title
                for side in ("parent", "partner"):
                    if d.get(side) == e.title:
                        d[side] = value
        else:
            value = SETTABLE[name](value)
        setattr(e, name, value)


# ------------------------------------------------------------------------------------------
# Training


def _jobs(state) -> dict:
    return state.extra.setdefault("models.tile_jobs", {})


@handler("train_model")
def train_model(state, key: str) -> None:
    """Cut a training set from the feature's annotations (a background job), then train in the
    worker; losses stream into ``entry.losses``, intermediate predictions into the preview."""
    from ..tiles import training_set_from_project

    e = entry_of(state, key)
    if e.status in ("training", "loading"):
        raise AisLikeError(f"{e.title}: already {e.status}")
    if not e.feature:
        raise AisLikeError(f"{e.title}: choose the feature this model segments first")
    if e.feature not in state.project.features:
        raise AisLikeError(f"{e.title}: no feature {e.feature!r} in the project")
    w = worker(state)
    ensure_preview(state)
    e.previous_status = e.status  # restored when stopped before the worker started
    e.status, e.message, e.progress = "training", "cutting tiles from the annotations", 0.0
    e.losses, e.epoch_losses, e.epoch_batches, e.live = [], [], [], 0
    project, feature = state.project, e.feature
    options = dict(box=int(e.box_size), n_tiles=int(e.n_tiles), positive_fraction=float(e.positive_fraction))
    folder = w.session_dir
    params = {"title": e.title, "colour": [float(c) for c in e.colour], "epochs": int(e.epochs),
              "batch_size": int(e.batch_size), "learning_rate": float(e.learning_rate),
              "threshold": float(e.threshold)}
    out = folder / f"{key}_v{e.version + 1}" / f"{_safe_name(e.title)}.scnm"

    def cut(job):
        ts = training_set_from_project(project, feature, progress=job.progress, **options)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{key}_trainset.npz"
        ts.save(path)
        return str(path), len(ts)

    def done(result):
        _jobs(state).pop(key, None)
        if state.model(key) is not e or e.status != "training":
            return
        path, n = result
        e.message = f"training on {n} tiles"
        out.parent.mkdir(parents=True, exist_ok=True)
        worker(state).send("train", key=key, trainset=path, architecture=e.architecture, params=params, out=str(out))

    def failed(exc, tb=""):
        _jobs(state).pop(key, None)
        e.status = e.previous_status
        e.message = str(exc)
        state.error(f"{e.title}: cannot train: {exc}", tb)

    job = state.jobs.submit(f"training set for {e.title}", cut, kind="training", on_done=done, on_error=failed)
    if job.active:
        _jobs(state)[key] = job
    elif job.status == "cancelled":
        e.status = e.previous_status


@handler("stop_training")
def stop_training(state, key: str) -> None:
    """Stop a training: before the worker started it, or after its current batch (the best
    weights so far are kept and the model stays usable)."""
    e = entry_of(state, key)
    job = _jobs(state).pop(key, None)
    if job is not None and job.active:
        job.cancel()
        e.status = e.previous_status
        e.message = "stopped"
        return
    if e.status != "training":
        return
    e.message = "stopping after this batch"
    worker(state).send("stop", key=key)


# ------------------------------------------------------------------------------------------
# Loading and saving


def _architecture_of(meta: dict) -> str:
    ours = meta.get("ais_like") if isinstance(meta.get("ais_like"), dict) else {}
    return str(ours.get("architecture") or meta.get("arch") or "unknown")


def _entry_from_metadata(state, meta: dict, path: Path, feature=None, settings=None) -> ModelEntry:
    title = str(meta.get("title") or path.stem)
    e = ModelEntry(key=state.new_model_key(), title=title, architecture=_architecture_of(meta))
    if feature is None and title in state.project.features:
        feature = title
    e.feature = feature
    col = meta.get("colour")
    if isinstance(col, (list, tuple)) and len(col) >= 3:
        try:
            e.colour = _colour(col)
        except AisLikeError:
            pass
    for name in ("threshold",):
        v = meta.get(name)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1:
            e.threshold = float(v)
    e.emit, e.absorb = meta.get("emit") is True, meta.get("absorb") is True
    if isinstance(meta.get("box_size"), int) and meta["box_size"] > 0:
        e.box_size = int(meta["box_size"])
    e.metadata = dict(meta)
    for name, value in (settings or {}).items():
        if name in SETTABLE and name not in ("feature",):
            try:
                setattr(e, name, _colour(value) if name == "colour" else SETTABLE[name](value))
            except (AisLikeError, TypeError, ValueError):
                pass
    e.path = e.file = path
    e.status, e.message = "loading", f"loading {path.name}"
    return e


@handler("load_model")
def load_model(state, path, settings: dict | None = None, feature: str | None = None) -> list[str]:
    """Open a ``.scnm`` (or every model of a ``.scnmgroup``, with its interactions). The metadata
    is read here (cheap, no Keras); the worker loads the network. Returns the new keys."""
    from ..archive import read_metadata, unpack_group

    path = Path(path)
    if path.suffix.lower() == ".scnmgroup":
        folder = worker(state).session_dir / f"group_{_safe_name(path.stem)}_{state.models.next_key}"
        folder.mkdir(parents=True, exist_ok=True)
        members, interactions = unpack_group(path, folder)  # validated; raises naming the file
        keys = []
        for member, meta in members:
            e = _entry_from_metadata(state, meta, member)
            e.path = None  # saved on its own only when the user saves it
            keys.append(_add_loaded(state, e))
        for d in interactions:
            add_interaction(state, parent=d["parent_title"], partner=d["partner_title"],
                            kind=KINDS[int(d["type"])], radius_nm=float(d["radius"]), threshold=float(d["threshold"]))
        state.notify(f"opened {path.name}: {len(keys)} models, {len(interactions)} interactions")
        return keys
    meta = read_metadata(path)  # raises InputError naming the file
    if settings is not None and not state.models.interactions:  # from a project: its interactions too
        saved = state.project.view.get("interactions")
        if isinstance(saved, list):
            state.models.interactions = [dict(d) for d in saved if isinstance(d, dict)]
    e = _entry_from_metadata(state, meta, path.resolve(), feature, settings)
    return [_add_loaded(state, e)]


def _add_loaded(state, e: ModelEntry) -> str:
    state.models.entries.append(e)
    state.models.selected = e.key
    ensure_preview(state)
    worker(state).send("load", key=e.key, path=str(e.file))
    return e.key


@handler("save_model")
def save_model(state, key: str, path) -> None:
    """Write the model (weights and current title/colour/threshold/emit/absorb) to ``path``
    (.scnm, atomically, in the worker); it then becomes the model's file in the project."""
    e = entry_of(state, key)
    if not (e.status in ("trained", "loaded") or (e.status == "training" and e.file is not None)):
        raise AisLikeError(f"{e.title}: nothing to save yet (train or load the model first)")
    path = Path(path)
    if path.suffix.lower() != ".scnm":
        path = path.with_name(path.name + ".scnm")
    if not path.parent.is_dir():
        raise AisLikeError(f"{path.parent}: no such folder")
    updates = {"title": e.title, "colour": [float(c) for c in e.colour], "threshold": float(e.threshold),
               "emit": bool(e.emit), "absorb": bool(e.absorb)}
    e.message = f"saving {path.name}"
    worker(state).send("save", key=key, path=str(path.resolve()), metadata=updates)


# ------------------------------------------------------------------------------------------
# Interactions


def session_interactions(state, chosen: list, titles: list[str]):
    """The session's interactions and emit/absorb flags among the ``chosen`` entries, as the
    core's :class:`ais_like.interactions.InteractionSet` over ``titles`` (one per chosen entry:
    the titles outputs are named by). Interactions name models by title or by key. Returns
    ``(InteractionSet, notes)``; ``notes`` names the interactions left out because one of their
    models is not among the chosen. The live preview and exports both build theirs here, so
    they apply the same interactions."""
    from ..interactions import InteractionSet, interaction_from_dict

    by_name: dict[str, str] = {}
    for entry, title in zip(chosen, titles):
        by_name[entry.key] = title
        by_name.setdefault(entry.title, title)
        by_name.setdefault(title, title)
    items, notes = [], []
    for i, d in enumerate(state.models.interactions):
        parent, partner = by_name.get(str(d.get("parent"))), by_name.get(str(d.get("partner")))
        if parent is None or partner is None:
            notes.append(f"interaction {d.get('parent')} -> {d.get('partner')} left out: "
                         "both models must be exported")
            continue
        item = {k: d[k] for k in ("kind", "radius_nm", "threshold") if k in d}
        items.append(interaction_from_dict({"parent": parent, "partner": partner, **item}, f"interaction {i + 1}"))
    emit = {t for e, t in zip(chosen, titles) if getattr(e, "emit", False)}
    absorb = {t for e, t in zip(chosen, titles) if getattr(e, "absorb", False)}
    return InteractionSet(emit=frozenset(emit), absorb=frozenset(absorb), interactions=tuple(items),
                          mode=state.models.interaction_mode or "2d"), notes


@handler("add_interaction")
def add_interaction(state, parent: str, partner: str, kind: str = "colocalize", radius_nm: float = 10.0,
                    threshold: float = 0.5) -> None:
    """Keep ``parent``'s prediction only within (colocalize) or beyond (avoid) ``radius_nm`` of
    ``partner > threshold`` (models by title, as in Ais's .scnmgroup)."""
    from ..interactions import Interaction

    it = Interaction(str(parent), str(partner), str(kind), radius_nm, threshold)  # validates
    state.models.interactions.append(it.to_dict())


@handler("set_interaction")
def set_interaction(state, index: int, **fields) -> None:
    from ..interactions import Interaction

    items = state.models.interactions
    if not 0 <= int(index) < len(items):
        raise AisLikeError(f"no interaction {index}")
    d = dict(items[int(index)])
    d.update(fields)
    items[int(index)] = Interaction(d["parent"], d["partner"], d.get("kind", "colocalize"),
                                    d.get("radius_nm", 10.0), d.get("threshold", 0.5)).to_dict()


@handler("remove_interaction")
def remove_interaction(state, index: int) -> None:
    items = state.models.interactions
    if not 0 <= int(index) < len(items):
        raise AisLikeError(f"no interaction {index}")
    del items[int(index)]


@handler("set_interaction_mode")
def set_interaction_mode(state, mode: str) -> None:
    if mode not in ("2d", "3d"):
        raise AisLikeError(f"interaction mode must be '2d' or '3d', got {mode!r}")
    state.models.interaction_mode = mode


# ------------------------------------------------------------------------------------------
# Model-assisted annotation


@handler("copy_prediction_to_annotation")
def copy_prediction_to_annotation(state, key: str, mode: str = "add") -> int:
    """Paint the model's thresholded prediction of the shown slice (after interactions) into its
    feature's annotation of that slice, as one undoable step; returns the pixels set.

    mode: "add" (painted pixels elsewhere stay) or "replace" (the slice becomes the prediction).
    """
    from ..interactions import threshold_raw
    from ..painting import apply_mask_inplace

    e = entry_of(state, key)
    if not e.feature:
        raise AisLikeError(f"{e.title}: choose the feature to annotate first")
    if state.dataset is None:
        raise AisLikeError("no tomogram is shown")
    layer = None
    if state.preview is not None:
        layer = next((l for l in state.preview.layers(state) if l.key == key and l.exact), None)
        if layer is None and not e.show:  # hidden models: the cached prediction of this slice
            ckey, a, exact = state.preview.raw(state, e)
            if a is not None and exact:
                from .preview import Layer

                layer = Layer(key, ckey, a, e.colour, e.alpha, e.threshold)
    if layer is None:
        raise AisLikeError(f"{e.title}: no prediction of this slice yet (wait for it to appear)")
    ann = state.dataset.annotations
    if e.feature not in ann.feature_names:
        ann.add_feature(state.project.features[e.feature])
    mask = (layer.probability > threshold_raw(e.threshold, np.uint8)).astype(np.uint8)
    apply_mask_inplace(ann, e.feature, int(state.z), mask, mode=mode, undo=state.annotation.undo)
    n = int(mask.sum())
    state.notify(f"{e.title}: {n} px of the prediction copied into {e.feature!r} on slice {state.z}")
    return n


# ------------------------------------------------------------------------------------------
# The worker's answers


def pump(state, max_messages: int = 64) -> int:
    """Apply the worker's messages to the session (called once a frame; never blocks)."""
    w = state.worker
    if w is None:
        return 0
    msgs = w.poll(max_messages)
    for m in msgs:
        try:
            _dispatch(state, m)
        except Exception as exc:  # a bug here must not take the frame loop down
            import traceback

            state.error(f"model worker message {m.get('event')}: {type(exc).__name__}: {exc}", traceback.format_exc())
    return len(msgs)


def _set_check(e) -> None:
    """The model's training check, from its metadata (``ais_like.training.health``)."""
    h = ((e.metadata.get("ais_like") or {}).get("training") or {}).get("health") or {}
    e.check = str(h.get("verdict") or "")
    e.check_message = str(h.get("message") or "")


def _dispatch(state, m: dict) -> None:
    ev = m.get("event")
    e = state.model(m.get("key")) if m.get("key") is not None else None
    if ev == "prediction" or (ev == "error" and m.get("op") == "predict"):
        if state.preview is not None:
            state.preview.receive(state, m)
        return
    if ev == "crashed":
        _crashed(state, m)
        return
    if e is None:
        return
    if ev == "batch":
        e.losses.append(float(m["loss"]))
        total = max(1, int(m.get("epochs", 1)) * int(m.get("n_batches", 1)))
        e.progress = min(1.0, int(m.get("batches", len(e.losses))) / total)
        e.message = f"epoch {int(m['epoch']) + 1}/{m.get('epochs')}, batch {int(m['batch']) + 1}/{m.get('n_batches')}"
        now = time.time()
        last = state.extra.setdefault("models.live_time", {})
        if e.status == "training" and (e.live == 0 or now - last.get(e.key, 0.0) >= state.models.preview_interval):
            e.live = int(m.get("batches", len(e.losses)))
            last[e.key] = now
    elif ev == "epoch":
        logs = m.get("logs") or {}
        if "loss" in logs:
            e.epoch_losses.append(float(logs["loss"]))
            e.epoch_batches.append(len(e.losses))
    elif ev == "trained":
        e.version += 1
        e.live = 0
        e.file = Path(m["path"])
        e.metadata = dict(m.get("metadata") or {})
        e.status, e.progress = "trained", 1.0
        e.seconds = float(m.get("seconds", 0.0))
        how = " (stopped)" if m.get("stopped") == "user" else ""
        e.message = f"trained{how}: {m.get('epochs_run')} epochs in {e.seconds:.0f} s"
        _set_check(e)
        if e.check in FAILED_VERDICTS:
            state.notify(f"{e.title}: {e.message}, but it FAILED its check: {e.check_message}", "warning")
        else:
            state.notify(f"{e.title}: {e.message}")
    elif ev == "loaded":
        e.version += 1
        e.metadata = dict(m.get("metadata") or e.metadata)
        _set_check(e)
        e.status, e.message = "loaded", f"loaded {Path(m.get('path', '')).name}"
    elif ev == "saved":
        e.path = e.file = Path(m["path"])
        e.metadata = dict(m.get("metadata") or e.metadata)
        e.message = f"saved {e.path.name}"
        state.notify(f"saved {e.path}")
    elif ev == "stopped":
        if e.status == "training" and m.get("removed"):
            e.status, e.message = e.previous_status, "stopped"
    elif ev == "error":
        op = m.get("op")
        msg = m.get("message", "failed")
        if op == "load":
            e.status, e.message = "error", msg
            text = msg if e.file is not None and str(e.file) in msg else f"{e.file}: {msg}"
            state.error(f"cannot open model: {text}", m.get("details", ""))
        elif op == "train":
            e.status = "trained" if e.version > 0 and e.file is not None else "untrained"
            e.live, e.message = 0, msg
            state.error(f"{e.title}: training failed: {msg}", m.get("details", ""))
        elif op == "save":
            e.message = msg
            state.error(f"{e.title}: cannot save: {msg}", m.get("details", ""))
        else:
            state.error(f"{e.title}: {op}: {msg}", m.get("details", ""))


def _crashed(state, m: dict) -> None:
    state.error(m.get("message", "the model worker stopped"), "")
    if state.preview is not None:
        state.preview.reset_in_flight()
    reload = state.models.crash_reloads > 0
    if reload:
        state.models.crash_reloads -= 1
    for e in state.models.entries:
        if e.status == "training":
            e.status = "trained" if e.version > 0 and e.file is not None else "untrained"
            e.live, e.message = 0, "training was interrupted (the model worker stopped)"
        if e.file is not None and e.status in ("trained", "loaded", "loading"):
            if reload:
                e.status, e.message = "loading", "reloading after a worker crash"
                worker(state).send("load", key=e.key, path=str(e.file))
            else:
                e.status, e.message = "error", "the model worker keeps crashing; reopen the model"
