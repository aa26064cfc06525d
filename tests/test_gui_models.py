"""Models tab: the model worker process, the live preview's cache and interactions, the model
handlers (new/train/stop/load/save, copy prediction to annotation) and one window test."""

from __future__ import annotations

import io
import queue
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest

from ais_like.errors import AisLikeError
from ais_like.gui import actions, modelling
from ais_like.gui.preview import interaction_set
from ais_like.gui.state import AppState
from ais_like.gui.worker import ModelWorker, _Server
from ais_like.interactions import apply_interactions
from ais_like.trainset import TrainingSet
from ais_like.volume import Header, write_volume

from _gui_helpers import run_gui


def _tomo(path, shape=(6, 40, 48), apix=10.0):
    rng = np.random.default_rng(5)
    return write_volume(path, rng.normal(size=shape).astype(np.float32), Header(apix=apix))


class FakeWorker:
    """Stands in for ModelWorker: records commands, answers what the test queues."""

    def __init__(self, folder):
        self.sent: list[dict] = []
        self.inbox: list[dict] = []
        self.session_dir = Path(folder)
        self.started = True

    def send(self, op, **kw):
        self.sent.append(dict(kw, op=op))
        return len(self.sent)

    def poll(self, max_messages=64):
        out, self.inbox = self.inbox[:max_messages], self.inbox[max_messages:]
        return out

    def predicts(self):
        return [c for c in self.sent if c["op"] == "predict"]

    def answer(self, cmd, value=None):
        shape = cmd["image"].shape
        p = np.full(shape, 200, np.uint8) if value is None else np.asarray(value, np.uint8)
        self.inbox.append({"event": "prediction", "key": cmd["key"], "request_id": cmd["request_id"],
                           "version": cmd["version"], "probability": p})

    def close(self):
        pass


@pytest.fixture
def st(tmp_path):
    s = AppState(sync_jobs=True)
    actions.apply(s, "add_dataset", path=_tomo(tmp_path / "tomo.mrc"))
    s.project.add_feature("membrane")
    s.annotation.feature = "membrane"
    s.worker = FakeWorker(tmp_path / "session")
    return s


def _loaded(s, title="membrane", feature="membrane"):
    k = actions.apply(s, "new_model", feature=feature, architecture="Eman2", title=title)
    e = s.model(k)
    e.status, e.version = "loaded", 1
    return e


# ------------------------------------------------------------------------------------------
# Preview: cache, stale requests, versions (fake worker)


def test_preview_requests_once_drops_stale_answers_and_caches_per_slice(st):
    e = _loaded(st)
    w = st.worker
    st.preview.update(st)
    st.preview.update(st)
    assert len(w.predicts()) == 1  # in flight: not asked twice
    first = w.predicts()[0]
    assert first["image"].shape == (40, 48) and first["apix"] == 10.0
    actions.apply(st, "set_z", z=st.z + 1)
    st.preview.update(st)
    assert len(w.predicts()) == 2  # the new slice replaces the old request
    w.answer(first)  # the late answer to the replaced request
    st.preview.update(st)
    assert st.preview.dropped == 1 and not st.preview.cache
    assert st.preview.layers(st) == []
    w.answer(w.predicts()[1], np.full((40, 48), 99))
    st.preview.update(st)
    (layer,) = st.preview.layers(st)
    assert layer.key == e.key and layer.exact and int(layer.probability[0, 0]) == 99
    # cached: going back and forth asks only for the slice never predicted
    actions.apply(st, "set_z", z=st.z - 1)
    st.preview.update(st)
    assert len(w.predicts()) == 3
    actions.apply(st, "set_z", z=st.z + 1)
    st.preview.update(st)
    assert len(w.predicts()) == 3 and st.preview.layers(st)[0].exact


def test_threshold_colour_alpha_changes_do_not_ask_again_but_a_new_version_does(st):
    e = _loaded(st)
    w = st.worker
    st.preview.update(st)
    w.answer(w.predicts()[0], np.full((40, 48), 150))
    st.preview.update(st)
    v0 = st.preview.layers(st)[0].version
    actions.apply(st, "set_model", key=e.key, threshold=0.9, colour=(1, 0, 1), alpha=0.3)
    st.preview.update(st)
    assert len(w.predicts()) == 1
    layer = st.preview.layers(st)[0]
    assert (layer.threshold, layer.colour, layer.alpha, layer.version) == (0.9, (1.0, 0.0, 1.0), 0.3, v0)
    # new weights (training finished / intermediate batch): asked again; the older one shows meanwhile
    e.version += 1
    st.preview.update(st)
    assert len(w.predicts()) == 2 and w.predicts()[1]["version"] == (2, 0)
    old = st.preview.layers(st)[0]
    assert not old.exact and int(old.probability[0, 0]) == 150
    w.answer(w.predicts()[1], np.full((40, 48), 30))
    st.preview.update(st)
    new = st.preview.layers(st)[0]
    assert new.exact and new.version != v0 and int(new.probability[0, 0]) == 30
    assert len(st.preview.cache) == 1  # the older version of this slice was replaced
    # hidden or inactive models are not drawn; untrained ones are never asked
    actions.apply(st, "set_model", key=e.key, show=False)
    assert st.preview.layers(st) == []
    _u = actions.apply(st, "new_model", feature="membrane", architecture="Eman2")
    st.preview.update(st)
    assert all(c["key"] != _u for c in w.predicts())


def test_training_progress_refreshes_the_preview_by_batch(st):
    e = _loaded(st)
    w = st.worker
    e.status, e.live = "training", 0
    st.preview.update(st)
    assert w.predicts() == []  # no weights in the worker before the first batch
    st.models.preview_interval = 0.0
    w.inbox.append({"event": "batch", "key": e.key, "epoch": 0, "batch": 0, "loss": 0.7, "n_batches": 4,
                    "epochs": 2, "batches": 1})
    st.preview.update(st)
    assert e.losses == [0.7] and e.progress == pytest.approx(1 / 8)
    assert [c["version"] for c in w.predicts()] == [(1, 1)]
    w.inbox.append({"event": "batch", "key": e.key, "epoch": 0, "batch": 1, "loss": 0.6, "n_batches": 4,
                    "epochs": 2, "batches": 2})
    st.preview.update(st)
    assert e.live == 2 and len(w.predicts()) == 1  # the answer for batch 1 is awaited, not replaced
    w.answer(w.predicts()[0], np.full((40, 48), 77))
    st.preview.update(st)
    assert [c["version"] for c in w.predicts()] == [(1, 1), (1, 2)]  # used; then the newest asked
    layer = st.preview.layers(st)[0]
    assert int(layer.probability[0, 0]) == 77 and not layer.exact
    w.inbox.append({"event": "trained", "key": e.key, "path": "/x/m.scnm", "metadata": {"title": "membrane"},
                    "stopped": "user", "epochs_run": 1, "seconds": 1.0})
    st.preview.update(st)
    assert e.status == "trained" and e.version == 2 and e.live == 0 and e.file == Path("/x/m.scnm")
    assert w.predicts()[-1]["version"] == (2, 0)


def test_worker_keeps_only_the_newest_prediction_per_model():
    cmd, res = queue.Queue(), queue.Queue()
    srv = _Server(cmd, res)
    for i, key in enumerate(["a", "b", "a", "a", "b"]):
        cmd.put({"op": "predict", "key": key, "id": i + 1})
    cmd.put({"op": "save", "key": "a", "id": 9})
    srv.fetch(block=False)
    assert [(c["op"], c["id"]) for c in srv.pending] == [("predict", 4), ("predict", 5), ("save", 9)]


# ------------------------------------------------------------------------------------------
# Interactions and model-assisted annotation


def _answer_all(st, values: dict):
    w = st.worker
    st.preview.update(st)
    for c in w.predicts():
        w.answer(c, values[st.model(c["key"]).title])
    st.preview.update(st)


def test_interactions_in_the_preview_equal_apply_interactions(st):
    rng = np.random.default_rng(1)
    a, b, c = _loaded(st, "ribosome"), _loaded(st, "membrane"), _loaded(st, "carbon")
    preds = {"ribosome": rng.integers(0, 256, (40, 48)).astype(np.uint8),
             "membrane": np.zeros((40, 48), np.uint8),
             "carbon": rng.integers(0, 256, (40, 48)).astype(np.uint8)}
    preds["membrane"][3:8, 4:9] = 230
    actions.apply(st, "add_interaction", parent="ribosome", partner="membrane", kind="colocalize",
                  radius_nm=5, threshold=0.5)
    actions.apply(st, "set_model", key=b.key, emit=True)
    actions.apply(st, "set_model", key=c.key, absorb=True)
    with pytest.raises(AisLikeError):
        actions.apply(st, "add_interaction", parent="ribosome", partner="ribosome")
    _answer_all(st, preds)
    layers = {l.title: l.probability for l in st.preview.layers(st)}
    spec = interaction_set(st)
    expected = apply_interactions(preds, spec, 10.0)
    assert spec.interactions and spec.emit == {"membrane"} and spec.absorb == {"carbon"}
    for t in preds:
        np.testing.assert_array_equal(layers[t], expected[t])
    assert not np.array_equal(layers["ribosome"], preds["ribosome"])  # the interaction changed something
    assert not np.array_equal(layers["carbon"], preds["carbon"])
    # editing the interaction recomputes from the cached predictions (no new request)
    n = len(st.worker.predicts())
    actions.apply(st, "set_interaction", index=0, kind="avoid")
    layers = {l.title: l.probability for l in st.preview.layers(st)}
    np.testing.assert_array_equal(layers["ribosome"], apply_interactions(preds, interaction_set(st), 10.0)["ribosome"])
    assert len(st.worker.predicts()) == n
    # renaming a model keeps its interactions; removing one leaves the others untouched
    actions.apply(st, "set_model", key=b.key, title="mem")
    assert st.models.interactions[0]["partner"] == "mem"
    actions.apply(st, "remove_interaction", index=0)
    layers = {l.title: l.probability for l in st.preview.layers(st)}
    np.testing.assert_array_equal(layers["ribosome"], preds["ribosome"])


def test_copy_prediction_to_annotation_and_undo(st):
    e = _loaded(st)
    with pytest.raises(AisLikeError, match="no prediction"):
        actions.apply(st, "copy_prediction_to_annotation", key=e.key)
    p = np.zeros((40, 48), np.uint8)
    p[5:15, 10:30] = 200
    p[20:25, 0:5] = 100  # below the threshold
    _answer_all(st, {"membrane": p})
    actions.apply(st, "set_model", key=e.key, threshold=0.5)
    ann = st.dataset.annotations
    before = ann.label_slice("membrane", st.z).copy()
    n = actions.apply(st, "copy_prediction_to_annotation", key=e.key)
    assert n == 200
    after = ann.label_slice("membrane", st.z)
    np.testing.assert_array_equal(after, (p > 127).astype(np.uint8))
    assert st.annotation.undo.can_undo
    st.annotation.undo.undo()
    np.testing.assert_array_equal(ann.label_slice("membrane", st.z), before)


def test_a_model_group_opens_as_one_model_each_with_its_interactions(st, tmp_path):
    from ais_like import archive
    from _model_helpers import tiny_loaded

    a, b = tiny_loaded(seed=1), tiny_loaded(seed=2)
    a.metadata["title"], b.metadata["title"] = "Ribosome", "Membrane"
    group = archive.save_group(tmp_path / "cell.scnmgroup", [a, b], [
        {"parent_title": "Ribosome", "partner_title": "Membrane", "type": 1, "radius": 12.5, "threshold": 0.4}])
    keys = actions.apply(st, "load_model", path=str(group))
    entries = [st.model(k) for k in keys]
    assert [e.title for e in entries] == ["Ribosome", "Membrane"]
    assert all(e.file.is_file() and e.file.parent.parent == st.worker.session_dir and e.path is None
               for e in entries)  # each member its own .scnm in the session folder, not yet the user's
    assert [archive.read_metadata(e.file)["title"] for e in entries] == ["Ribosome", "Membrane"]
    assert [(c["op"], c["key"], c["path"]) for c in st.worker.sent] == [("load", e.key, str(e.file)) for e in entries]
    (it,) = st.models.interactions
    assert (it["parent"], it["partner"], it["kind"], it["radius_nm"]) == ("Ribosome", "Membrane", "avoid", 12.5)
    bad = tmp_path / "bad.scnmgroup"
    bad.write_bytes(group.read_bytes()[:700])
    with pytest.raises(Exception, match="bad.scnmgroup"):
        actions.apply(st, "load_model", path=str(bad))
    assert len(st.models.entries) == 2  # nothing half-added


def test_model_settings_are_checked_and_removal_forgets(st):
    e = _loaded(st)
    with pytest.raises(AisLikeError):
        actions.apply(st, "set_model", key=e.key, feature="nope")
    with pytest.raises(AisLikeError):
        actions.apply(st, "set_model", key=e.key, bogus=1)
    with pytest.raises(AisLikeError):
        actions.apply(st, "new_model", architecture="No Such Net")
    # a new model takes its architecture's default learning rate; changing the architecture
    # changes it too unless the user set another
    k = actions.apply(st, "new_model", feature="membrane", architecture="VGGNet M (ais_like 0.1)")
    assert st.model(k).learning_rate == 3e-4
    actions.apply(st, "set_model", key=k, architecture="unet s")
    assert st.model(k).architecture == "UNet S" and st.model(k).learning_rate == 1e-3
    actions.apply(st, "set_model", key=k, learning_rate=5e-4)
    actions.apply(st, "set_model", key=k, architecture="VGGNet M (ais_like 0.1)")
    assert st.model(k).learning_rate == 5e-4
    with pytest.raises(AisLikeError):
        actions.apply(st, "set_model", key=k, architecture="No Such Net")
    actions.apply(st, "remove_model", key=k)
    actions.apply(st, "set_model", key=e.key, threshold=3.0, epochs=0)
    assert e.threshold == 1.0 and e.epochs == 1
    st.preview.update(st)
    actions.apply(st, "remove_model", key=e.key)
    assert st.model(e.key) is None and e.key not in st.preview.in_flight
    assert st.worker.sent[-1] == {"op": "drop", "key": e.key}


def test_train_cuts_tiles_in_a_job_then_sends_train(st, tmp_path):
    k = actions.apply(st, "new_model", feature="membrane", architecture="Eman2")
    actions.apply(st, "train_model", key=k)  # the job fails: a notification, the model stays untrained
    assert st.model(k).status == "untrained"
    assert "no annotations" in st.notifications[-1].text and st.notifications[-1].level == "error"
    assert not [c for c in st.worker.sent if c["op"] == "train"]
    m = np.zeros((40, 48), np.uint8)
    m[10:20, 10:30] = 1
    st.dataset.annotations.set_slice("membrane", 2, m)
    actions.apply(st, "set_model", key=k, box_size=16, n_tiles=20, epochs=1)
    actions.apply(st, "train_model", key=k)
    (cmd,) = [c for c in st.worker.sent if c["op"] == "train"]
    ts = TrainingSet.load(cmd["trainset"])
    assert len(ts) == 20 and ts.box == 16 and cmd["params"]["epochs"] == 1
    assert st.model(k).status == "training"


# ------------------------------------------------------------------------------------------
# The real worker process (Keras in a spawned process; tiny data)


def _tiny_set(path, n=24, box=32):
    rng = np.random.default_rng(0)
    imgs = rng.normal(size=(n, box, box)).astype(np.float32)
    TrainingSet(imgs, (imgs > 0.8).astype(np.uint8), 10.0, "membrane", "slice", {}).save(path)
    return str(path)


def _pump_until(s, cond, timeout=120.0):
    end = time.time() + timeout
    while time.time() < end:
        s.jobs.poll()
        modelling.pump(s)
        if s.preview is not None:
            s.preview.request(s)
        if cond():
            return True
        time.sleep(0.02)
    return False


def test_worker_trains_predicts_stops_saves_and_reports_bad_files(tmp_path):
    w = ModelWorker(session_dir=tmp_path / "session")
    try:
        ts = _tiny_set(tmp_path / "ts.npz")
        # a long training, stopped after its third batch: the model is kept and usable
        w.send("train", key="a", trainset=ts, architecture="Eman2",
               params={"epochs": 50, "batch_size": 4, "title": "membrane"}, out=str(tmp_path / "a.scnm"))
        batches = []

        def on(m):
            if m["event"] == "batch":
                batches.append(m["loss"])
                if len(batches) == 2:
                    w.send("predict", key="a", version=(0, 2), request_id=7,
                           image=np.zeros((50, 70), np.float32), apix=10.0, stats=None)
                if len(batches) == 3:
                    w.send("stop", key="a")

        seen = w.wait_for(lambda m: m["event"] in ("trained", "error"), 180, on)
        done = seen[-1]
        assert done["event"] == "trained", done
        assert done["stopped"] == "user" and done["epochs_run"] <= 1 and len(batches) < 12
        mid = [m for m in seen if m["event"] == "prediction"]  # served between batches
        assert mid and mid[0]["request_id"] == 7 and mid[0]["probability"].shape == (50, 70)
        assert mid[0]["probability"].dtype == np.uint8
        assert Path(done["path"]).is_file()
        # only the newest of queued predictions is answered
        for rid in (1, 2, 3):
            w.send("predict", key="a", version=1, request_id=rid, image=np.ones((33, 41), np.float32) * rid,
                   apix=10.0, stats=None)
        seen = w.wait_for(lambda m: m.get("request_id") == 3, 60)
        preds = [m for m in seen if m["event"] == "prediction"]
        assert preds[-1]["probability"].shape == (33, 41) and len(preds) <= 2
        assert 0 <= int(preds[-1]["probability"].min()) <= int(preds[-1]["probability"].max()) <= 255
        w.send("save", key="a", path=str(tmp_path / "saved.scnm"), metadata={"threshold": 0.3})
        saved = w.wait_for(lambda m: m["event"] in ("saved", "error"), 60)[-1]
        assert saved["event"] == "saved" and saved["metadata"]["threshold"] == 0.3
        from ais_like.archive import read_metadata

        assert read_metadata(tmp_path / "saved.scnm")["threshold"] == 0.3
        # a model whose weights are corrupt: metadata reads, the worker's load fails, naming the file
        bad = tmp_path / "bad.scnm"
        with tarfile.open(tmp_path / "saved.scnm") as src, tarfile.open(bad, "w") as dst:
            for info in src.getmembers():
                data = src.extractfile(info).read()
                if info.name.endswith(".h5"):
                    data = b"not hdf5" * 10
                info.size = len(data)
                dst.addfile(info, io.BytesIO(data))
        s = AppState(sync_jobs=True)
        s.worker = w
        s.request("load_model", path=str(bad))
        s.request("load_model", path=str(tmp_path / "ts.npz"))  # not a model at all
        actions.apply_pending(s)
        assert any("ts.npz" in n.text for n in s.notifications if n.level == "error")
        assert _pump_until(s, lambda: any("bad.scnm" in n.text for n in s.notifications), 60)
        (e,) = s.models.entries
        assert e.status == "error"
        # a crash is reported, and models with a file are reloaded in a fresh worker
        # as a project reopens it: its settings and the project's interactions come back
        s.project.view["interactions"] = [{"parent": "a", "partner": "b", "kind": "avoid", "radius_nm": 5.0,
                                           "threshold": 0.5}]
        s.request("load_model", path=str(tmp_path / "saved.scnm"),
                  settings={"threshold": 0.2, "alpha": 0.4, "show": False, "colour": [0, 1, 0]}, feature=None)
        actions.apply_pending(s)
        good = s.models.entries[-1]
        assert (good.threshold, good.alpha, good.show, good.colour) == (0.2, 0.4, False, (0.0, 1.0, 0.0))
        assert s.models.interactions[0]["kind"] == "avoid"
        assert _pump_until(s, lambda: good.status == "loaded", 60) and good.version == 1
        actions.apply(s, "set_model", key=good.key, title="renamed")
        actions.apply(s, "save_model", key=good.key, path=str(tmp_path / "again"))
        assert _pump_until(s, lambda: good.path == (tmp_path / "again.scnm").resolve(), 60)
        assert read_metadata(tmp_path / "again.scnm")["title"] == "renamed" and good.file == good.path
        starts = w.starts
        w.kill()
        assert _pump_until(s, lambda: any("stopped unexpectedly" in n.text for n in s.notifications), 30)
        assert _pump_until(s, lambda: good.status == "loaded", 90) and w.starts == starts + 1
    finally:
        w.close()


# ------------------------------------------------------------------------------------------
# The window: create, train, watch the loss plot and the prediction appear


@pytest.mark.gui
@pytest.mark.slow
def test_window_create_train_and_see_the_prediction(tmp_path):
    r = run_gui(demo_in=tmp_path / "demo", code=f"""
        import sys, time
        s.extra["select_tab"] = "Models"
        h.step(3)

        def click(name):
            x0, y0, x1, y1 = s.extra["models_rects"][name]
            h.click((x0 + x1) / 2, (y0 + y1) / 2)
            h.step(2)

        def magenta(img):
            x0, y0, w, hh = (int(v) for v in s.canvas_rect)
            c = img[y0:y0 + hh, x0:x0 + w].astype(int)
            return int(((c[..., 0] - c[..., 1] > 30) & (c[..., 2] - c[..., 1] > 30)).sum())  # grey: r=g=b

        s.models.new_architecture = "Eman2"
        click("create")
        (e,) = s.models.entries
        actions.apply(s, "set_model", key=e.key, epochs=2, n_tiles=48, batch_size=16, colour=(1.0, 0.0, 1.0),
                      threshold=0.0, alpha=0.9, learning_rate=0.001)
        s.models.preview_interval = 0.2
        before = magenta(h.screenshot())
        click("train")
        h.app.frame_times.clear()
        t0 = time.time()
        ok = h.run_until(lambda: len(e.losses) >= 2 and s.preview.layers(s), 240)
        layers = s.preview.layers(s)  # an intermediate prediction (version (0, batches)) is drawn
        live = e.status == "training" and layers[0].version[1][0] == 0 and layers[0].version[1][1] > 0
        h.screenshot({str(tmp_path / 'training.png')!r})
        h.run_until(lambda: e.status != "training", 240)
        frames = list(h.app.frame_times)  # the last 600
        h.step(3)
        after = magenta(h.screenshot({str(tmp_path / 'trained.png')!r}))
        result(dict(ok=ok, status=e.status, losses=len(e.losses), before=before, live=live, after=after,
                    tf="tensorflow" in sys.modules or "keras" in sys.modules,
                    plot="models_rects" in s.extra, errors=[n.text for n in s.notifications if n.level == "error"],
                    check=e.check, check_shown="check" in s.extra["models_rects"],
                    warnings=[n.text for n in s.notifications if n.level == "warning"],
                    frames=len(frames), median_ms=1000 * float(np.median(frames)) if frames else None,
                    p95_ms=1000 * float(np.percentile(frames, 95)) if frames else None,
                    seconds=time.time() - t0))
        h.close()
    """, timeout=600)
    print(f"frames during training: {r['frames']}, median {r['median_ms']:.1f} ms, p95 {r['p95_ms']:.1f} ms, "
          f"{r['seconds']:.0f} s")
    assert r["ok"] and r["errors"] == [], r
    assert r["status"] == "trained" and r["losses"] >= 2
    assert r["live"] and r["before"] == 0 and r["after"] > 500, r
    # at the threshold of 0 the user chose, every background pixel counts as the feature: the
    # training's check says so beside the model and in a warning
    assert r["check"] == "all_foreground" and r["check_shown"], r
    assert len(r["warnings"]) == 1 and "FAILED its check" in r["warnings"][0], r
    assert not r["tf"]  # the GUI process never imported TensorFlow/Keras
