"""Export tab: queued exports on the batch machinery give the outputs of ``ais-like segment`` /
``pick`` / ``mesh`` byte for byte (Z range, crop, TTA, interactions), cancel stops a running
export with no partial files and takes a queued one off, a corrupt tomogram fails alone with
its reason, existing segmentations are picked and meshed as the CLI does, and the tab draws.

The models are made in a subprocess (this process needs no Keras); Dask runs 1 local worker."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from _gui_helpers import run_gui
from ais_like import batch
from ais_like.cli import main
from ais_like.errors import InputError
from ais_like.gui import actions, exporting
from ais_like.gui.state import AppState, ModelEntry

ROOT = Path(__file__).resolve().parent.parent

MAKE_MODELS = """
import sys
sys.path.insert(0, {tests!r})
from _model_helpers import tiny_loaded
from ais_like.archive import save_scnm
for title, seed, kernel in [("Membrane", 1, 3), ("Ribosome", 2, 3), ("Slow", 3, 31)]:
    m = tiny_loaded(apix=10.0, seed=seed, kernel=kernel)
    m.metadata["title"] = title
    save_scnm({folder!r} + f"/{{title}}.scnm", m.model, m.metadata)
"""


@pytest.fixture(scope="session")
def model_files(tmp_path_factory) -> dict[str, Path]:
    """Tiny .scnm models (Membrane, Ribosome; Slow has a 31 px kernel), made in a subprocess."""
    folder = tmp_path_factory.mktemp("export_models")
    code = MAKE_MODELS.format(tests=str(ROOT / "tests"), folder=str(folder))
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {t: folder / f"{t}.scnm" for t in ("Membrane", "Ribosome", "Slow")}


@pytest.fixture(scope="module")
def conn():
    with batch.connect(workers=1, gpus=0, dashboard="127.0.0.1:0") as c:
        yield c


def _tomograms(folder: Path, n: int, shape=(8, 64, 64), seed: int = 0) -> list[Path]:
    from ais_like.volume import Header, write_volume

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    return [write_volume(folder / f"TS_{i:02d}.mrc", rng.normal(size=shape).astype(np.float32),
                         Header(apix=10.0, origin=(5.0, 6.0, 7.0))) for i in range(n)]


def _state(tomos, models: dict, out: Path, conn=None, *, sync: bool = True) -> AppState:
    s = AppState(sync_jobs=sync)
    for t in tomos:
        actions.apply(s, "add_dataset", path=t)
    for i, (title, f) in enumerate(models.items()):
        s.models.entries.append(ModelEntry(key=f"m{i + 1}", title=title, architecture="Tiny", feature=title,
                                           status="loaded", path=f))
    actions.apply(s, "set_export", out_dir=str(out))
    for name in s.project.datasets:
        actions.apply(s, "choose_export", what="datasets", item=name)
    for m in s.models.entries:
        actions.apply(s, "choose_export", what="models", item=m.key)
    if conn is not None:
        p = exporting.pool(s)
        p.conn, p.owned = conn, False
    return s


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(Path(folder).iterdir())}


def _segment_cli(*args) -> None:
    proc = subprocess.run([sys.executable, "-m", "ais_like", "segment", "-q", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]


# ------------------------------------------------------------------------------------------
# Plans (no Dask)


def test_plan_from_the_tab_clamps_ranges_per_tomogram_and_names_what_is_missing(model_files, tmp_path):
    from ais_like.volume import Header, write_volume

    tomos = _tomograms(tmp_path / "data", 1, shape=(8, 64, 64))
    tomos.append(write_volume(tmp_path / "data" / "deep.mrc", np.zeros((20, 40, 64), np.float32), Header(apix=10.0)))
    s = _state(tomos, {"Membrane": model_files["Membrane"]}, tmp_path / "out")
    s.models.entries.append(ModelEntry(key="new", title="Untrained", architecture="UNet S"))
    rows = {m.key: (f, why) for m, f, why in exporting.exportable_models(s)}
    assert rows["m1"][0] == model_files["Membrane"] and rows["new"] == (None, "not saved yet: train it or save it first")
    actions.apply(s, "set_export", z_range=(2, 15), crop_y=(10, 50), tta=20, pick=True, pick_min_spacing=30.0,
                  mesh=True, mesh_decimate=0)
    assert s.export.tta == 8  # kept in range
    plans, notes = exporting.build_plans(s)
    assert len(plans) == 1 and notes == []
    tasks = {t.name: t for t in plans[0].tasks}
    assert tasks["TS_00"].z_range == (2, 8) and tasks["deep"].z_range == (2, 15)
    assert tasks["TS_00"].crop == (10, 50, 0, 64) and tasks["deep"].crop == (10, 40, 0, 64)
    st = plans[0].settings
    assert st.tta == 8 and st.pick["min_spacing"] == 30.0 and st.pick["min_volume"] is None and st.pick["fmt"] == "star"
    assert st.mesh["decimate"] is None and st.mesh["smooth"] == 0 and st.mesh["bin"] == 1
    # a model with no file cannot be exported; neither can nothing
    actions.apply(s, "choose_export", what="models", item="new")
    with pytest.raises(InputError, match="Untrained: not saved yet"):
        exporting.build_plans(s)
    actions.apply(s, "choose_export", what="models", item="new", on=False)
    actions.apply(s, "set_export", z_range=(30, 40))
    with pytest.raises(InputError, match="holds nothing"):
        exporting.build_plans(s)
    actions.apply(s, "set_export", z_range=None, out_dir="")
    with pytest.raises(InputError, match="output folder"):
        exporting.build_plans(s)
    # through the frame loop the error becomes a notification, nothing is queued
    s.request("queue_export")
    actions.apply_pending(s)
    assert s.notifications[-1].level == "error" and "output folder" in s.notifications[-1].text
    assert s.export.queue == []
    with pytest.raises(Exception, match="no export option"):
        actions.apply(s, "set_export", bogus=1)


def test_interactions_of_the_session_become_the_cores_interaction_set(model_files, tmp_path):
    tomos = _tomograms(tmp_path / "data", 1)
    s = _state(tomos, {"Membrane": model_files["Membrane"], "Ribosome": model_files["Ribosome"]}, tmp_path / "out")
    s.models.entries[0].emit = True
    s.models.entries[1].absorb = True
    s.models.interactions = [{"parent": "m2", "partner": "Membrane", "kind": "avoid", "radius_nm": 2.0,
                              "threshold": 0.4}]
    plans, _ = exporting.build_plans(s)
    spec = plans[0].settings.interactions
    assert spec.emit == {"Membrane"} and spec.absorb == {"Ribosome"} and spec.mode == "2d"
    assert [it.to_dict() for it in spec.interactions] == [
        {"parent": "Ribosome", "partner": "Membrane", "kind": "avoid", "radius_nm": 2.0, "threshold": 0.4}]
    assert len(plans[0].tasks) == 1 and plans[0].tasks[0].group.titles == ("Membrane", "Ribosome")
    # exporting one of the two leaves the interaction out, and says so
    actions.apply(s, "choose_export", what="models", item="m1", on=False)
    plans, notes = exporting.build_plans(s)
    assert plans[0].settings.interactions.interactions == () and "left out" in notes[0]


# ------------------------------------------------------------------------------------------
# Exports on Dask


def test_export_equals_segment_pick_and_mesh_on_the_command_line(model_files, conn, tmp_path):
    tomos = _tomograms(tmp_path / "data", 2)
    out, ref = tmp_path / "out", tmp_path / "ref"
    s = _state(tomos, {"Membrane": model_files["Membrane"]}, out, conn)
    actions.apply(s, "set_export", z_range=(1, 7), crop_x=(4, 60), tta=2, pick=True, pick_min_volume=5000.0,
                  pick_min_spacing=30.0, mesh=True, mesh_smooth=2)
    [e] = actions.apply(s, "queue_export")
    assert e.status == "done", (e.message, [r.line() for r in e.results])
    assert [r.status for r in e.results] == ["done", "done"] and e.fraction == 1.0
    _segment_cli("--model", model_files["Membrane"], "--data", tmp_path / "data", "--out", ref,
                 "--z-range", "1:7", "--crop-x", "4:60", "--tta", "2")
    assert main(["pick", str(ref), "-q", "--min-volume", "5000", "--min-spacing", "30"]) == 0
    assert main(["mesh", str(ref), "-q", "--smooth", "2"]) == 0
    got, want = _files(out), _files(ref)
    assert sorted(got) == sorted(f"TS_0{i}__Membrane{x}" for i in (0, 1)
                                 for x in (".mrc", "_coords.star", ".obj", ".mtl"))
    assert got == want
    assert sorted(e.render_files()) == sorted(str(out / n) for n in got if n.endswith((".mrc", ".star")))
    # "show in Render" hands the files on to the Render tab's action
    actions.apply(s, "show_export_in_render", id=e.id)
    assert ("render_add_files", {"paths": e.render_files()}) in s.pending
    assert s.notifications[-1].level == "info" and "2 done" in s.notifications[-1].text
    # queued again: every output exists, so all is skipped and nothing changes
    [e2] = actions.apply(s, "queue_export")
    assert [r.status for r in e2.results] == ["skipped", "skipped"] and _files(out) == want
    assert sorted(map(str, e2.outputs())) == sorted(str(out / n) for n in want)


def test_export_with_interactions_equals_segment_with_an_interactions_file(model_files, conn, tmp_path):
    tomos = _tomograms(tmp_path / "data", 1, seed=3)
    models = {"Membrane": model_files["Membrane"], "Ribosome": model_files["Ribosome"]}
    s = _state(tomos, models, tmp_path / "out", conn)
    s.models.interactions = [{"parent": "Ribosome", "partner": "Membrane", "kind": "avoid", "radius_nm": 2.0,
                              "threshold": 0.5}]
    [e] = actions.apply(s, "queue_export")
    assert e.status == "done" and [r.status for r in e.results] == ["done"]
    inter = tmp_path / "inter.json"
    inter.write_text(json.dumps({"interactions": s.models.interactions}))
    _segment_cli("--model", models["Membrane"], "--model", models["Ribosome"], "--data", tmp_path / "data",
                 "--out", tmp_path / "ref", "--interactions", inter)
    assert _files(tmp_path / "out") == _files(tmp_path / "ref")


def test_a_corrupt_tomogram_fails_alone_with_its_reason(model_files, conn, tmp_path):
    tomos = _tomograms(tmp_path / "data", 2, seed=4)
    s = _state(tomos, {"Membrane": model_files["Membrane"]}, tmp_path / "out", conn)
    tomos[1].write_bytes(b"\x00garbage" * 20)  # broken after it was opened in the project
    [e] = actions.apply(s, "queue_export")
    status = {r.tomogram: r for r in e.results}
    assert status["TS_00"].status == "done" and status["TS_01"].status == "failed"
    assert "TS_01.mrc" in status["TS_01"].reason and "Traceback" not in status["TS_01"].reason
    assert e.status == "done" and "1 failed" in e.message and s.notifications[-1].level == "warning"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["TS_00__Membrane.mrc"]
    assert [Path(p).name for p in s.export.existing] == ["TS_00__Membrane.mrc"]  # ready to pick / mesh


def test_cancel_stops_the_running_export_without_partial_files_and_drops_a_queued_one(model_files, conn, tmp_path):
    big = _tomograms(tmp_path / "data", 1, shape=(256, 256, 256), seed=5)  # seconds of work
    out, out2 = tmp_path / "out", tmp_path / "out2"
    s = _state(big, {"Slow": model_files["Slow"]}, out, conn, sync=False)
    actions.apply(s, "set_export", tta=8)
    [e] = actions.apply(s, "queue_export")
    actions.apply(s, "set_export", out_dir=str(out2))
    [e2] = actions.apply(s, "queue_export")
    assert e.status == "running" and e2.status == "queued"
    actions.apply(s, "cancel_export", id=e2.id)
    assert e2 not in s.export.queue
    deadline = time.time() + 60
    while time.time() < deadline and not any(t.get("stage") == "segment" and t.get("step", 0) >= 1
                                             for t in e.tasks.values()):
        s.jobs.poll(1.0)
        time.sleep(0.02)
    assert e.running_lines() and 0 < e.fraction < 1, (e.status, e.message, e.tasks)
    s.request("cancel_export", id=e.id)
    actions.apply_pending(s)
    s.jobs.wait(60)
    assert e.status == "cancelled" and [r.status for r in e.results] == ["cancelled"], e.message
    assert list(out.iterdir()) == [] and list(out2.iterdir()) == []  # no partial file, claim or temporary
    assert not any(x.active for x in s.export.queue)
    actions.apply(s, "clear_finished_exports")
    assert s.export.queue == []


def test_no_dask_falls_back_to_one_spawned_process_with_the_same_outputs(model_files, conn, tmp_path, monkeypatch):
    tomos = _tomograms(tmp_path / "data", 1, seed=6)
    s = _state(tomos, {"Membrane": model_files["Membrane"]}, tmp_path / "out")

    def no_dask(**kw):
        raise OSError("no sockets here")

    monkeypatch.setattr(batch, "connect", no_dask)
    [e] = actions.apply(s, "queue_export")
    assert e.status == "done" and [r.status for r in e.results] == ["done"], e.message
    monkeypatch.undo()
    _segment_cli("--model", model_files["Membrane"], "--data", tmp_path / "data", "--out", tmp_path / "ref")
    assert _files(tmp_path / "out") == _files(tmp_path / "ref")


# ------------------------------------------------------------------------------------------
# Picking and meshing existing segmentations (no models)


def test_pick_and_mesh_existing_segmentations_as_the_cli_does(tmp_path):
    from ais_like.volume import Header, write_volume

    out = tmp_path / "out"
    out.mkdir()
    zz, yy, xx = np.mgrid[:16, :40, :40]
    seg = np.zeros((16, 40, 40), np.uint8)
    for c in [(8, 10, 10), (8, 28, 30)]:
        seg[(zz - c[0]) ** 2 + (yy - c[1]) ** 2 + (xx - c[2]) ** 2 <= 16] = 255
    write_volume(out / "TS_00__Ribosome.mrc", seg, Header(apix=10.0))
    write_volume(out / "TS_01__Ribosome.mrc", seg[:, ::-1].copy(), Header(apix=10.0))
    (out / "TS_02__Ribosome.mrc").write_bytes(b"not a volume")
    (out / "notes.mrc").write_bytes(b"no feature in the name")
    ref = tmp_path / "ref"
    shutil.copytree(out, ref)
    s = AppState(sync_jobs=True)
    actions.apply(s, "set_export_folder", path=str(out))
    assert [Path(p).name for p in s.export.existing] == [f"TS_0{i}__Ribosome.mrc" for i in range(3)]
    for p in s.export.existing:
        actions.apply(s, "choose_export", what="existing_chosen", item=p)
    actions.apply(s, "set_export", pick_min_spacing=40.0, pick_format="txt", mesh_smooth=3)
    pe = actions.apply(s, "queue_pick_mesh", what="pick")
    me = actions.apply(s, "queue_pick_mesh", what="mesh")
    assert [r.status for r in pe.results] == ["done", "done", "failed"]
    assert [r.status for r in me.results] == ["done", "done", "failed"]
    assert "TS_02__Ribosome.mrc" in pe.results[2].reason and pe.results[0].reason == "2 particles"
    for f in ("TS_00__Ribosome.mrc", "TS_01__Ribosome.mrc"):
        assert main(["pick", str(ref / f), "-q", "--min-spacing", "40", "--format", "txt"]) == 0
        assert main(["mesh", str(ref / f), "-q", "--smooth", "3"]) == 0
    got = _files(out)
    assert "TS_00__Ribosome_coords.txt" in got and "TS_01__Ribosome.obj" in got and "TS_00__Ribosome.mtl" in got
    assert got == _files(ref)
    assert sorted(Path(p).name for p in pe.render_files()) == ["TS_00__Ribosome_coords.txt",
                                                               "TS_01__Ribosome_coords.txt"]


def test_cancelled_pick_job_stops_and_marks_the_rest(tmp_path):
    from ais_like.volume import Header, write_volume

    files = [write_volume(tmp_path / f"T{i}__F.mrc", np.zeros((4, 8, 8), np.uint8), Header(apix=10.0))
             for i in range(3)]
    s = AppState(sync_jobs=True)
    e = exporting.ExportJob(id=999, kind="pick", label="pick", total=3, files=[str(f) for f in files],
                            params=exporting.pick_params(s.export))
    e.cancel.set()  # cancelled before its first file
    s.export.queue.append(e)
    exporting._pump(s)
    assert e.status == "cancelled" and [r.status for r in e.results] == ["cancelled"] * 3
    assert not list(tmp_path.glob("*_coords.star"))


# ------------------------------------------------------------------------------------------
# The tab in the window


@pytest.mark.gui
def test_export_tab_draws_choices_queue_and_failures(model_files, tmp_path):
    from ais_like.volume import Header, write_volume

    tomos = _tomograms(tmp_path / "data", 2)
    out = tmp_path / "out"
    out.mkdir()
    seg = np.zeros((8, 32, 32), np.uint8)
    seg[2:6, 8:20, 8:20] = 255
    write_volume(out / "TS_00__Membrane.mrc", seg, Header(apix=10.0))
    (out / "TS_01__Membrane.mrc").write_bytes(b"broken")
    shot = tmp_path / "export.png"
    res = run_gui(f"""
        import sys
        from pathlib import Path
        import numpy as np
        from ais_like.gui.testing import Harness
        from ais_like.gui.state import AppState, ModelEntry
        from ais_like.gui import actions
        s = AppState()
        for t in {[str(t) for t in tomos]!r}:
            actions.apply(s, "add_dataset", path=t)
        s.models.entries.append(ModelEntry(key="m1", title="Membrane", architecture="Tiny", feature="Membrane",
                                           colour=(0.9, 0.3, 0.2), path=Path({str(model_files['Membrane'])!r})))
        s.models.entries.append(ModelEntry(key="m2", title="Untrained", architecture="UNet S"))
        actions.apply(s, "set_export_folder", path={str(out)!r})
        actions.apply(s, "choose_export", what="datasets", item="TS_00")
        actions.apply(s, "choose_export", what="models", item="m1")
        actions.apply(s, "set_export", pick=True, z_range=(2, 6))
        for p in s.export.existing:
            actions.apply(s, "choose_export", what="existing_chosen", item=p)
        s.extra["select_tab"] = "Export"
        h = Harness(s)
        h.step(3)
        s.request("queue_pick_mesh", what="pick")
        h.run_until(lambda: s.export.queue and not s.export.queue[0].active, 60)
        h.step(3)
        img = h.screenshot({str(shot)!r})
        e = s.export.queue[0]
        side = img[:, :380].astype(int)
        red = int(((side[..., 0] > 200) & (side[..., 1] < 140) & (side[..., 2] < 130)).sum())
        result({{"tab": s.tab, "status": e.status, "results": [r.status for r in e.results],
                "red": red, "tf": "tensorflow" in sys.modules, "errors": [n.text for n in s.notifications
                                                                             if n.level == "error"]}})
        h.close()
    """, timeout=120)
    assert res["tab"] == "Export" and res["status"] == "done" and res["results"] == ["done", "failed"], res
    assert res["red"] > 30 and not res["tf"] and res["errors"] == [], res
    assert shot.is_file()


def test_the_dask_workers_start_in_the_job_thread_stay_warm_and_close(model_files, tmp_path):
    tomos = _tomograms(tmp_path / "data", 1, seed=7)
    s = _state(tomos, {"Membrane": model_files["Membrane"]}, tmp_path / "out", sync=False)
    [e] = actions.apply(s, "queue_export")
    s.jobs.wait(120)
    assert e.status == "done" and [r.status for r in e.results] == ["done"], e.message
    p = exporting.pool(s)
    first = p.conn
    assert first is not None and p.owned and e.dashboard.startswith("http")
    actions.apply(s, "set_export", out_dir=str(tmp_path / "out2"))
    [e2] = actions.apply(s, "queue_export")
    s.jobs.wait(120)
    assert e2.status == "done" and p.conn is first  # the same workers, models still loaded
    assert not any(r.models_loaded for r in e2.results) and all(r.models_loaded for r in e.results)
    assert _files(tmp_path / "out") == _files(tmp_path / "out2")
    for close in s.extra["closers"]:
        close()
    assert p.conn is None
    s.close()
