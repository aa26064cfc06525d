"""The Annotation tab: feature and painting actions without a window (fast, in-process), and
the real window driven by injected mouse and keyboard input (in a fresh process, under Xvfb),
checked on the project's annotations and on pixels read back from the framebuffer."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from ais_like import project as project_mod
from ais_like.annotations import FEATURE, IGNORE
from ais_like.gui import actions
from ais_like.gui.overlays import OverlayCache, annotation_rgba
from ais_like.gui.state import AppState
from ais_like.volume import Header, write_volume

from _gui_helpers import PRELUDE, ROOT, gui_env, run_gui


def _tomo(path, shape=(10, 48, 64), apix=10.0):
    rng = np.random.default_rng(3)
    data = rng.normal(size=shape).astype(np.float32)
    data[:, 10:20, 30:44] = 10.0  # a flat bright rectangle for the flood fill
    return write_volume(path, data, Header(apix=apix))


@pytest.fixture
def st(tmp_path):
    s = AppState(sync_jobs=True)
    actions.apply(s, "add_dataset", path=_tomo(tmp_path / "tomo.mrc"))
    return s


def _mask(s, feature=None, z=None):
    ann = s.dataset.annotations
    return ann.label_slice(feature or s.annotation.feature, s.z if z is None else z)


def test_features_get_unique_default_names_become_active_and_can_be_edited(st):
    a = actions.apply(st, "add_feature")
    b = actions.apply(st, "add_feature")
    assert (a, b) == ("Feature 1", "Feature 2")
    assert st.annotation.feature == "Feature 2"
    actions.apply(st, "rename_feature", old="Feature 1", new="  Membrane ")
    assert list(st.project.features) == ["Membrane", "Feature 2"]
    actions.apply(st, "set_feature", name="Membrane", colour=(1.0, 0.0, 0.5), box_size=128, visible=False,
                  outline=True, alpha=2.0)
    f = st.project.features["Membrane"]
    assert (f.colour, f.box_size, f.visible, f.outline, f.alpha) == ((1.0, 0.0, 0.5), 128, False, True, 1.0)
    with pytest.raises(Exception, match="already exists"):
        actions.apply(st, "rename_feature", old="Membrane", new="Feature 2")
    actions.apply(st, "select_feature", name="Membrane")
    actions.apply(st, "remove_feature", name="Membrane")
    assert list(st.project.features) == ["Feature 2"] and st.annotation.feature == "Feature 2"
    assert actions.apply(st, "add_feature") == "Feature 1"  # the freed name is reused


def test_painting_without_a_feature_or_a_dataset_notifies_and_changes_nothing(st, tmp_path):
    assert actions.apply(st, "stroke_begin", y=10, x=10) is False
    actions.apply(st, "stroke_to", y=20, x=20)
    actions.apply(st, "stroke_end")
    actions.apply(st, "flood", y=12, x=35)
    actions.apply(st, "box", y=12, x=35, positive=True)
    assert [n.level for n in st.notifications[1:]] == ["warning"] * 3  # one per press, none per move
    assert "feature" in st.notifications[-1].text
    assert not st.annotation.undo.can_undo
    empty = AppState(sync_jobs=True)
    actions.apply(empty, "add_feature")
    actions.apply(empty, "stroke_begin", y=1, x=1)
    assert "tomogram" in empty.notifications[-1].text


def test_a_fast_stroke_paints_without_gaps_and_undo_redo_revert_the_whole_stroke(st):
    actions.apply(st, "add_feature")
    actions.apply(st, "set_brush", radius_px=2)
    actions.apply(st, "stroke_begin", y=30.0, x=2.0)
    actions.apply(st, "stroke_to", y=30.0, x=60.0)  # one big jump of the mouse
    actions.apply(st, "stroke_to", y=40.0, x=60.0)
    actions.apply(st, "stroke_end")
    m = _mask(st)
    assert (m[30, 2:61] == FEATURE).all() and (m[30:41, 60] == FEATURE).all()
    assert m[27, 30] == 0 and m[33, 30] == 0  # radius 2: rows 28..32 only
    assert int((m == FEATURE).sum()) == st.dataset.annotations.painted_pixels(st.annotation.feature)
    actions.apply(st, "undo")
    assert not _mask(st).any()
    assert st.dataset.annotations.annotated_slices(st.annotation.feature) == []
    actions.apply(st, "redo")
    assert np.array_equal(_mask(st), m)
    # eraser: one stroke, its own undo step
    actions.apply(st, "set_tool", tool="eraser")
    actions.apply(st, "stroke_begin", y=30.0, x=20.0)
    actions.apply(st, "stroke_to", y=30.0, x=40.0)
    actions.apply(st, "stroke_end")
    assert not _mask(st)[30, 20:41].any() and _mask(st)[30, 10] == FEATURE
    actions.apply(st, "undo")
    assert np.array_equal(_mask(st), m)
    actions.apply(st, "undo")
    actions.apply(st, "undo")
    assert st.notifications[-1].text == "nothing to undo"


def test_ignore_paint_and_brush_size_in_nm(st):
    actions.apply(st, "add_feature")
    actions.apply(st, "set_brush", radius_nm=3.0)  # 10 Å/px: 3 nm = 3 px
    assert st.annotation.brush_radius == pytest.approx(3.0)
    st.close_volume(st.current)
    actions.apply(st, "set_apix", name=st.current, apix=5.0)
    actions.apply(st, "set_brush", radius_nm=3.0)  # 5 Å/px: 6 px
    assert st.annotation.brush_radius == pytest.approx(6.0)
    actions.apply(st, "scale_brush", factor=0.5)
    assert st.annotation.brush_radius == pytest.approx(3.0)
    actions.apply(st, "set_annotation_option", ignore=True)
    actions.apply(st, "stroke_begin", y=24, x=32)
    actions.apply(st, "stroke_end")
    m = _mask(st)
    assert m[24, 32] == IGNORE and m[24, 35] == IGNORE and m[24, 36] == 0 and not (m == FEATURE).any()


def test_flood_fill_stays_in_the_region_and_in_the_brush_when_asked(st):
    actions.apply(st, "add_feature")
    actions.apply(st, "set_tool", tool="flood")
    actions.apply(st, "set_annotation_option", flood_in_brush=False, flood_tolerance=0.5)
    actions.apply(st, "flood", y=15, x=37)
    m = _mask(st)
    expected = np.zeros_like(m)
    expected[10:20, 30:44] = FEATURE
    assert np.array_equal(m, expected)
    actions.apply(st, "undo")
    actions.apply(st, "set_annotation_option", flood_in_brush=True)
    actions.apply(st, "set_brush", radius_px=3)
    actions.apply(st, "flood", y=15, x=37)
    m = _mask(st)
    assert m[15, 37] == FEATURE and m[15, 40] == FEATURE and m[15, 41] == 0 and m.sum() < 40


def test_boxes_are_placed_removed_and_undone(st):
    actions.apply(st, "add_feature")
    ann, f = st.dataset.annotations, st.annotation.feature
    actions.apply(st, "box", y=20.4, x=30.6, positive=True)
    actions.apply(st, "box", y=40, x=10, positive=False)
    assert ann.boxes(f, st.z, True) == [(20, 31)] and ann.boxes(f, st.z, False) == [(40, 10)]
    assert actions.apply(st, "remove_box", y=25, x=40) is True  # inside the 64 px box
    assert ann.boxes(f, st.z, True) == []
    actions.apply(st, "undo")
    assert ann.boxes(f, st.z, True) == [(20, 31)]
    assert ann.boxed_slices(f) == [st.z]


def test_jump_to_an_annotated_slice_and_import_a_label_volume(st, tmp_path):
    actions.apply(st, "add_feature", name="Membrane")
    labels = np.zeros(st.shape, np.uint8)
    labels[2, 5:9, 5:9] = 1
    labels[7, 0:3, :] = 3
    path = write_volume(tmp_path / "labels.mrc", labels, Header(apix=10.0))
    actions.apply(st, "import_mask", path=str(path), feature="Membrane")
    ann = st.dataset.annotations
    assert ann.annotated_slices("Membrane") == [2, 7]
    assert ann.painted_pixels("Membrane") == 16 + 3 * 64
    actions.apply(st, "jump_to_slice", z=7)
    assert st.z == 7 and st.project.view["datasets"][st.current]["z"] == 7
    actions.apply(st, "undo")  # the whole import is one step
    assert ann.annotated_slices("Membrane") == []
    with pytest.raises(Exception, match="does not match"):
        bad = write_volume(tmp_path / "bad.mrc", np.zeros((2, 4, 4), np.uint8), Header(apix=10.0))
        actions.apply(st, "import_mask", path=str(bad))


def test_the_overlay_recomposes_only_the_changed_box_and_equals_the_full_image(st):
    actions.apply(st, "add_feature")
    actions.apply(st, "add_feature")
    f1, f2 = st.project.features
    actions.apply(st, "set_feature", name=f1, outline=True)
    ann = st.dataset.annotations
    cache = OverlayCache()
    rgba, region = cache.get(ann, st.z)
    assert region is None and not rgba.any()
    rng = np.random.default_rng(0)
    for i in range(12):
        actions.apply(st, "select_feature", name=(f1, f2)[i % 2])
        actions.apply(st, "set_tool", tool="eraser" if i % 5 == 4 else "brush")
        actions.apply(st, "set_brush", radius_px=float(rng.uniform(1, 6)))
        y, x = rng.uniform(0, 48), rng.uniform(0, 64)
        actions.apply(st, "stroke_begin", y=y, x=x)
        actions.apply(st, "stroke_to", y=y + rng.uniform(-9, 9), x=x + rng.uniform(-9, 9))
        rgba, region = cache.get(ann, st.z)
        assert region is not None and (region[1] - region[0]) * (region[3] - region[2]) < 48 * 64
        assert np.array_equal(rgba, annotation_rgba(ann, st.z))
        actions.apply(st, "stroke_end")
    assert np.array_equal(cache.get(ann, st.z)[0], annotation_rgba(ann, st.z))
    assert cache.get(ann, st.z)[1] == (0, 0, 0, 0)  # nothing changed: nothing to upload
    actions.apply(st, "undo")  # not noted: recomposed in full
    rgba, region = cache.get(ann, st.z)
    assert region is None and np.array_equal(rgba, annotation_rgba(ann, st.z))
    assert cache.partial_updates >= 12


def test_save_reopen_and_continue(st, tmp_path):
    actions.apply(st, "add_feature", name="Membrane", colour=(0.1, 0.2, 0.3))
    actions.apply(st, "set_feature", name="Membrane", box_size=32)
    actions.apply(st, "jump_to_slice", z=6)
    actions.apply(st, "stroke_begin", y=10, x=10)
    actions.apply(st, "stroke_end")
    actions.apply(st, "box", y=30, x=30)
    actions.apply(st, "save_project", path=str(tmp_path / "p.aisproj"))
    painted = _mask(st).copy()
    s2 = AppState(sync_jobs=True)
    actions.apply(s2, "open_project", path=str(tmp_path / "p.aisproj"))
    assert s2.z == 6 and s2.annotation.feature == "Membrane"
    f = s2.project.features["Membrane"]
    assert f.colour == (0.1, 0.2, 0.3) and f.box_size == 32
    assert np.array_equal(_mask(s2), painted)
    assert s2.dataset.annotations.boxes("Membrane", 6, True) == [(30, 30)]
    actions.apply(s2, "stroke_begin", y=40, x=50)  # continue painting on the reopened project
    actions.apply(s2, "stroke_end")
    assert actions.autosave(s2, force=True)
    again = project_mod.load(tmp_path / "p.aisproj")
    m = again.dataset(s2.current).annotations.label_slice("Membrane", 6)
    assert m[10, 10] == FEATURE and m[40, 50] == FEATURE


# ------------------------------------------------------------------------------------------
# The real window (fresh process, Xvfb): injected mouse and keyboard input


def _saved_project(tmp_path, shape=(16, 128, 128)):
    """A saved project with one tomogram and one feature, painted nowhere yet."""
    s = AppState(sync_jobs=True)
    actions.apply(s, "add_dataset", path=_tomo(tmp_path / "tomo.mrc", shape=shape))
    actions.apply(s, "add_feature", name="Membrane", colour=(1.0, 0.0, 0.0))
    actions.apply(s, "set_feature", name="Membrane", alpha=1.0)
    actions.apply(s, "save_project", path=str(tmp_path / "p.aisproj"))
    s.close()
    return tmp_path / "p.aisproj"


GUI_OPEN = """
import numpy as np
from ais_like.gui.testing import Harness
from ais_like.gui.state import AppState
from ais_like.gui import actions
s = AppState()
actions.apply(s, "open_project", path={proj!r})
s.autosave_interval = 3600.0
h = Harness(s)
s.extra["select_tab"] = "Annotation"
h.step(2)
ann, f = s.dataset.annotations, s.annotation.feature
def px(x, y, img):
    sx, sy = h.image_to_screen(x, y)
    return [int(v) for v in img[int(sy), int(sx)]]
"""


@pytest.mark.gui
def test_window_paint_undo_box_slice_list_and_slider(tmp_path):
    proj = _saved_project(tmp_path)
    out = run_gui(GUI_OPEN.format(proj=str(proj)) + """
assert s.tab == "Annotation", s.tab
h.key("b")
s.annotation.brush_radius = 0.5  # one pixel wide: proves the point convention
z0 = s.z
img0 = h.screenshot()
before = [px(x, 40, img0) for x in (20, 35, 50)]
h.drag([h.image_to_screen(20, 40), h.image_to_screen(35, 40), h.image_to_screen(50, 40)])
m = ann.label_slice(f, z0)
rows = {y: np.flatnonzero(m[y]).tolist() for y in range(128) if m[y].any()}
h.move(100, 880)  # over the sidebar: no brush circle on the canvas
img = h.screenshot("/tmp/ais_like_annotation_stroke.png")
after = [px(x, 40, img) for x in (20, 35, 50)]
above, below = px(35, 39, img), px(35, 41, img)
h.key("z", ctrl=True)
undone = int(ann.label_slice(f, z0).sum())
img2 = h.screenshot()
after_undo = px(35, 40, img2)
h.key("z", ctrl=True, shift=True)  # redo
redone = int(ann.label_slice(f, z0).sum())
# a positive box with a click
h.key("x")
h.click(*h.image_to_screen(64, 70))
boxes = ann.boxes(f, z0, True)
h.move(100, 880)
img3 = h.screenshot("/tmp/ais_like_annotation_box.png")
ex, ey = h.image_to_screen(64 - 32, 70)  # the box's left edge (pixel 32 starts there)
edge = img3[int(ey) - 2:int(ey) + 3, int(ex) - 3:int(ex) + 4].reshape(-1, 3)
green = bool(((edge[:, 1] > 180) & (edge[:, 0] < 120)).any())
inside = px(64, 70, img3)
# paint on another slice, come back, then jump there from the list
for _ in range(5):
    h.key("up_arrow")
z1 = s.z
h.key("b")
h.click(*h.image_to_screen(90, 90))
h.key("down_arrow")
h.step(2)
rects = s.extra["annotation_slice_rects"]
listed = sorted(rects)
r = rects[z1]
h.click((r[0] + r[2]) / 2, (r[1] + r[3]) / 2)
h.step()
z_after_list = s.z
# the slice slider: press at its left end, drag right
sx0, sy0, sx1, sy1 = s.extra["slider_rect"]
sy = (sy0 + sy1) / 2
h.drag([(sx0 + 5, sy), (sx0 + 100, sy), (sx0 + 0.6 * (sx1 - sx0), sy)])
z_slider = s.z
# right click on a box (with a box tool) removes it; keys change the brush size
h.key("x")
actions.apply(s, "jump_to_slice", z=z0)
h.step()
h.click(*h.image_to_screen(70, 75), button=1)
boxes_after_right_click = ann.boxes(f, z0, True)
h.key("b")
r0 = s.annotation.brush_radius
h.key("right_bracket")
r1 = s.annotation.brush_radius
# flood fill (G) over the bright rectangle (rows 10..19, columns 30..43 on every slice)
h.key("g")
s.annotation.flood_in_brush = False
h.click(*h.image_to_screen(36, 14))
fm = ann.label_slice(f, s.z)
flood_ok = bool((fm[10:20, 30:44] == 1).all()) and int((fm[0:30, 20:60] == 1).sum()) == 140
h.close()
result(dict(z0=z0, rows=rows, before=before, after=after, above=above, below=below, undone=undone,
            after_undo=after_undo, redone=redone, boxes=boxes, green=green, inside=inside, z1=z1,
            listed=listed, z_after_list=z_after_list, z_slider=z_slider, after_right=boxes_after_right_click,
            r0=r0, r1=r1, flood_ok=flood_ok))
""")
    # the stroke paints exactly the pixels the mouse went through (row 40, columns 20..50)
    assert out["rows"] == {"40": list(range(20, 51))}
    red = [255, 0, 0]
    assert out["after"] == [red, red, red] and red not in out["before"]
    assert out["above"] != red and out["below"] != red
    assert out["undone"] == 0 and out["after_undo"] != red
    assert out["redone"] == 31
    assert out["boxes"] == [[70, 64]] and out["green"] and out["inside"] != red
    assert out["z1"] == out["z0"] + 5 and out["listed"] == [out["z0"], out["z1"]]
    assert out["z_after_list"] == out["z1"]
    assert out["z_slider"] > 0 and out["z_slider"] != out["z_after_list"]
    assert out["after_right"] == []
    assert out["r1"] == pytest.approx(out["r0"] * 1.25)
    assert out["flood_ok"]


def test_a_stroke_step_on_a_1024_slice_recomposes_only_the_touched_box(tmp_path):
    """Per mouse move while painting: the in-place stroke segment plus the overlay's
    recomposition of the touched box (the renderer then uploads only that box). The time is
    printed, not asserted (speed is measured in benchmarks/)."""
    s = AppState(sync_jobs=True)
    actions.apply(s, "add_dataset", path=_tomo(tmp_path / "big.mrc", shape=(2, 1024, 1024)))
    actions.apply(s, "add_feature")
    actions.apply(s, "set_brush", radius_px=20)
    ann = s.dataset.annotations
    cache = OverlayCache()
    cache.get(ann, s.z)
    actions.apply(s, "stroke_begin", y=100, x=100)
    times, areas = [], []
    for i in range(150):
        t0 = time.perf_counter()
        actions.apply(s, "stroke_to", y=100 + 3 * i, x=100 + 4 * i)
        rgba, region = cache.get(ann, s.z)
        times.append(time.perf_counter() - t0)
        areas.append((region[1] - region[0]) * (region[3] - region[2]))
    actions.apply(s, "stroke_end")
    print(f"median stroke step {1000 * np.median(times):.2f} ms")
    assert max(areas) < 100 * 100  # a brush-sized box, not the 1024 x 1024 slice
    assert cache.full_updates == 1
    assert np.array_equal(rgba, annotation_rgba(ann, s.z))  # and the picture is the whole truth


KILL_SCRIPT = GUI_OPEN + """
import time
s.autosave_interval = 0.5
s.last_autosave = time.time()
h.key("b")
s.annotation.brush_radius = 2.4
h.drag([h.image_to_screen(x, 60) for x in (10, 40, 70, 100)])
t = time.time()
h.run_until(lambda: time.time() - t > 1.5, timeout=30)  # > the autosave interval
print("PAINTED", flush=True)
while True:  # the user goes on working until the process is killed
    h.step()
    time.sleep(0.01)
"""


@pytest.mark.gui
def test_a_killed_session_keeps_the_painting_autosaved_seconds_before(tmp_path):
    if not os.environ.get("DISPLAY"):
        pytest.skip("no X display (run under Xvfb)")
    proj = _saved_project(tmp_path)
    proc = subprocess.Popen([sys.executable, "-c", PRELUDE + textwrap.dedent(KILL_SCRIPT.format(proj=str(proj)))],
                            cwd=ROOT, env=gui_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        end = time.time() + 120
        line = ""
        while time.time() < end and "PAINTED" not in line:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                break
        assert "PAINTED" in line, proc.stderr.read()[-4000:] if proc.poll() is not None else "no PAINTED line"
        time.sleep(0.3)
        assert proc.poll() is None  # still running: it is killed, not closed
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    again = project_mod.load(proj)
    ds = next(iter(again.datasets.values()))
    z = again.view["datasets"][ds.name]["z"]
    m = ds.annotations.label_slice("Membrane", z)
    ys, xs = np.nonzero(m)
    assert (m[58:63, 10:101] == FEATURE).all()  # the stroke, saved by the autosave before the kill
    assert (ys.min(), ys.max(), xs.min(), xs.max()) == (58, 62, 8, 102)
