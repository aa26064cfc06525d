"""The workbench's state, view arithmetic, jobs and dataset/project actions, without a window."""

from __future__ import annotations

import sys
import threading
import time

import numpy as np
import pytest

from ais_like.errors import Cancelled
from ais_like.gui import actions
from ais_like.gui.jobs import JobManager
from ais_like.gui.state import AppState, View
from ais_like.volume import Header, write_volume


@pytest.fixture
def tomo(tmp_path):
    rng = np.random.default_rng(1)
    data = rng.normal(size=(12, 40, 56)).astype(np.float32)
    data[:, 10:20, 10:30] += 5.0
    return write_volume(tmp_path / "tomo.mrc", data, Header(apix=8.0, origin=(1.0, 2.0, 3.0)))


def test_view_maps_image_and_screen_both_ways_and_zooms_at_the_cursor():
    v = View()
    rect = (380.0, 0.0, 1000.0, 800.0)
    v.fit(rect, (400, 600))
    sx, sy = v.to_screen(rect, 0.0, 0.0)
    assert sx >= rect[0] and sy >= rect[1]  # the whole image is inside the canvas
    ex, ey = v.to_screen(rect, 600.0, 400.0)
    assert ex <= rect[0] + rect[2] and ey <= rect[1] + rect[3]
    x, y = v.to_image(rect, 700.0, 300.0)
    assert np.allclose(v.to_screen(rect, x, y), (700.0, 300.0))
    before = v.to_image(rect, 900.0, 500.0)
    v.zoom_at(rect, 900.0, 500.0, 2.0)
    assert np.allclose(v.to_image(rect, 900.0, 500.0), before)  # the point under the cursor stays
    z = v.zoom
    v.pan(10.0, -20.0)
    assert np.allclose(v.to_image(rect, 910.0, 480.0), before) and v.zoom == z


def test_jobs_run_in_background_report_progress_and_cancel():
    jobs = JobManager()
    seen = []
    started = threading.Event()

    def work(job, n):
        started.set()
        for i in range(n):
            job.progress(i, n, "working")
            time.sleep(0.01)
        return n * 2

    j = jobs.submit("w", work, 5, on_done=seen.append)
    jobs.wait(10)
    assert j.status == "done" and seen == [10]  # the callback ran on this (main) thread in poll

    def forever(job):
        while True:
            job.progress(0, 1)
            time.sleep(0.005)

    j2 = jobs.submit("forever", forever)
    time.sleep(0.05)
    j2.cancel()
    jobs.wait(10)
    assert j2.status == "cancelled"

    errors = []
    j3 = jobs.submit("bad", lambda job: 1 / 0, on_error=lambda exc, tb: errors.append(tb))
    jobs.wait(10)
    assert j3.status == "failed" and "ZeroDivisionError" in j3.error and "Traceback" in errors[0]


def test_sync_jobs_run_inside_submit():
    jobs = JobManager(sync=True)
    out = []
    j = jobs.submit("s", lambda job: job.progress(1, 2) or 7, on_done=out.append)
    assert j.status == "done" and out == [7] and j.fraction == 0.5
    j = jobs.submit("c", lambda job: (job.cancel(), job.progress(0, 1)))
    assert j.status == "cancelled"
    with pytest.raises(Cancelled):
        j.progress(0, 1)


def test_open_a_tomogram_selects_it_with_auto_contrast(tomo):
    s = AppState(sync_jobs=True)
    actions.apply(s, "open_files", paths=[str(tomo)])
    assert s.current == "tomo" and s.shape == (12, 40, 56) and s.z == 6 and s.apix == 8.0
    lo, hi = s.display.contrast
    raw = s.raw_slice()
    assert raw.min() < lo < hi < raw.max()  # a percentile window inside the data range
    actions.apply(s, "step_z", dz=100)
    assert s.z == 11  # clamped
    actions.apply(s, "step_z", dz=-3)
    assert s.z == 8 and s.project.view["datasets"]["tomo"]["z"] == 8


def test_display_filters_change_the_view_only(tomo):
    s = AppState(sync_jobs=True)
    actions.apply(s, "add_dataset", path=tomo)
    raw = s.raw_slice().copy()
    actions.apply(s, "set_filter", filter="gaussian", gaussian_sigma=2.0)
    shown = actions.display_slice(s)
    assert shown.std() < raw.std() * 0.8  # smoothed
    assert np.array_equal(s.raw_slice(), raw)  # what models see is untouched
    actions.apply(s, "set_filter", filter="bandpass", lowpass_a=40.0, highpass_a=400.0)
    assert actions.display_slice(s).shape == raw.shape
    with pytest.raises(Exception):
        actions.apply(s, "set_filter", filter="sharpen")


def test_bad_files_become_one_line_notifications_and_keep_the_session(tmp_path, tomo):
    s = AppState(sync_jobs=True)
    actions.apply(s, "add_dataset", path=tomo)
    bad = tmp_path / "broken.mrc"
    bad.write_bytes(b"not an mrc file at all" * 10)
    s.request("open_files", paths=[str(bad)])
    s.request("open_project", path=str(tmp_path / "nothing.aisproj"))
    actions.apply_pending(s)
    errs = [n for n in s.notifications if n.level == "error"]
    assert len(errs) == 2
    assert "broken.mrc" in errs[0].text and "\n" not in errs[0].text
    assert "nothing.aisproj" in errs[1].text
    assert s.current == "tomo" and list(s.project.datasets) == ["tomo"]  # nothing lost


def test_a_bug_in_a_handler_is_reported_with_details_not_raised(tomo):
    s = AppState(sync_jobs=True)
    actions.apply(s, "add_dataset", path=tomo)
    s.request("set_z", z="not a number")
    s.request("step_z", dz=1)
    actions.apply_pending(s)
    assert s.z == 7  # later actions still ran
    err = [n for n in s.notifications if n.level == "error"]
    assert len(err) == 1 and "ValueError" in err[0].text and "Traceback" in err[0].details  # to copy


def test_save_open_and_autosave_a_project(tmp_path, tomo):
    s = AppState(sync_jobs=True)
    actions.apply(s, "add_dataset", path=tomo)
    with pytest.raises(Exception):
        actions.apply(s, "save_project")  # no place yet: the user is asked for one
    target = tmp_path / "p.aisproj"
    actions.apply(s, "save_project", path=str(target))
    assert (target / "project.json").is_file() and s.project_path == target.absolute()
    actions.apply(s, "set_z", z=3)
    s.autosave_interval = 0.0
    assert actions.autosave(s)  # the changed view is saved
    assert not actions.autosave(s)  # nothing changed: nothing written

    s2 = AppState(sync_jobs=True)
    actions.apply(s2, "open_project", path=str(target))
    assert s2.current == "tomo" and s2.z == 3 and s2.display.contrast == pytest.approx(s.display.contrast)


def test_set_apix_for_a_tomogram_without_one(tmp_path):
    p = write_volume(tmp_path / "noapix.mrc", np.zeros((4, 16, 16), np.float32), Header(apix=None))
    s = AppState(sync_jobs=True)
    with pytest.warns(Warning):
        actions.apply(s, "add_dataset", path=p)
    assert any("voxel size" in n.text for n in s.notifications)
    actions.apply(s, "set_apix", name="noapix", apix=12.0)
    assert s.apix == 12.0
    with pytest.raises(Exception, match="plausible"):
        actions.apply(s, "set_apix", name="noapix", apix=0.0)


def test_the_gui_state_never_imports_the_gui_stack_or_tensorflow(repo_root):
    import subprocess

    code = ("import sys\nfrom ais_like.gui.state import AppState\nfrom ais_like.gui import actions, jobs, filedialog\n"
            "actions._load_handlers()\ns = AppState()\n"
            "print('LOADED', sorted(m for m in ('tensorflow', 'keras', 'imgui_bundle', 'glfw', 'OpenGL') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=repo_root, capture_output=True, text=True, timeout=120)
    assert "LOADED []" in out.stdout, out.stdout + out.stderr


def test_file_browser_lists_folders_then_matching_files(tmp_path):
    from ais_like.gui import filedialog

    (tmp_path / "sub").mkdir()
    (tmp_path / "b.mrc").write_bytes(b"")
    (tmp_path / "a.txt").write_text("")
    (tmp_path / ".hidden.mrc").write_bytes(b"")
    (tmp_path / "p.aisproj").mkdir()
    names = filedialog.listing(tmp_path, ["*.mrc", "*.aisproj"])
    assert names == [("p.aisproj", True), ("sub", True), ("b.mrc", False), ("p.aisproj", False)]
    s = AppState(sync_jobs=True)
    filedialog.ask(s, "open_files", "Open", kind="open_many", start=tmp_path)
    filedialog.confirm(s, s.extra["dialog"], [tmp_path / "b.mrc"])
    assert s.pending == [("open_files", {"paths": [str(tmp_path / "b.mrc")]})] and "dialog" not in s.extra


def test_unsaved_work_is_autosaved_to_the_recovery_folder_until_saved(tmp_path, tomo, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    from ais_like import project as project_mod
    from ais_like.painting import paint_stroke_inplace

    s = AppState(sync_jobs=True)
    actions.apply(s, "add_dataset", path=tomo)
    s.autosave_interval = 0.0
    assert not actions.autosave(s)  # nothing made yet: nothing written
    assert actions.recovered_projects() == []
    s.project.add_feature("membrane")
    paint_stroke_inplace(s.dataset.annotations, "membrane", 5, (10, 10), (10, 30), radius=3)
    assert actions.autosave(s)
    (rec,) = actions.recovered_projects()
    assert rec.parent == tmp_path / "data" / "ais_like" / "recovery"
    assert any("autosaved to" in n.text for n in s.notifications)
    back = project_mod.load(rec)
    assert back.datasets["tomo"].annotations.annotated_slices("membrane") == [5]
    paint_stroke_inplace(s.dataset.annotations, "membrane", 7, (20, 10), (20, 30), radius=3)
    assert actions.autosave(s)  # the same recovery project, updated
    assert actions.recovered_projects() == [rec]
    assert project_mod.load(rec).datasets["tomo"].annotations.annotated_slices("membrane") == [5, 7]
    actions.apply(s, "save_project", path=str(tmp_path / "kept.aisproj"))
    assert actions.recovered_projects() == [] and not rec.exists()  # saved for real: no copy left
    assert project_mod.load(tmp_path / "kept.aisproj").datasets["tomo"].annotations.annotated_slices("membrane") == [5, 7]
