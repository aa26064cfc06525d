"""The real workbench window under Xvfb: it opens, shows the slice and the painted annotations,
answers keyboard, wheel and drag input, opens dropped files, and never loads TensorFlow."""

from __future__ import annotations

import pytest

from _gui_helpers import run_gui

pytestmark = pytest.mark.gui


def test_demo_window_shows_slice_and_annotations_and_navigates(tmp_path):
    res = run_gui(demo_in=tmp_path / "demo", code=f"""
        import sys
        ann = s.dataset.annotations
        z = ann.annotated_slices("membrane")[0]
        actions.apply(s, "set_z", z=z)
        img = h.screenshot({str(tmp_path / 'shot.png')!r})
        ys, xs = np.nonzero(ann.mask("membrane", z) == 1)
        painted = [img[int(round(sy)), int(round(sx))].tolist()
                   for sx, sy in (h.image_to_screen(x, y) for x, y in zip(xs[::97], ys[::97]))]
        ys0, xs0 = np.nonzero(ann.mask("membrane", z) == 0)
        unpainted = [img[int(round(sy)), int(round(sx))].tolist()
                     for sx, sy in (h.image_to_screen(x, y) for x, y in zip(xs0[::997], ys0[::997]))]
        z0 = s.z
        h.key("up_arrow")
        z_up = s.z
        h.key("page_down")
        z_pgdn = s.z
        cx, cy = h.image_to_screen(100, 60)
        zoom0 = s.view.zoom
        h.wheel(3, cx, cy)
        still = h.image_to_screen(100, 60)
        zoom1 = s.view.zoom
        h.io.add_key_event(h.imgui.Key.mod_shift, True)
        h.wheel(1, cx, cy)
        h.io.add_key_event(h.imgui.Key.mod_shift, False)
        z_shift = s.z
        centre0 = s.view.centre
        h.move(cx, cy); h.press(1); h.move(cx + 40, cy + 10); h.move(cx + 80, cy + 20); h.release(1)
        centre1 = s.view.centre
        h.key("f")
        result(dict(painted=painted, unpainted=unpainted, z0=z0, z_up=z_up, z_pgdn=z_pgdn, zoom0=zoom0,
                    zoom1=zoom1, still=list(still), cursor=[cx, cy], z_shift=z_shift, centre0=list(centre0),
                    centre1=list(centre1), zoom_fit=s.view.zoom, tf="tensorflow" in sys.modules,
                    keras="keras" in sys.modules, errors=[n.text for n in s.notifications if n.level == "error"]))
        h.close()
    """)
    assert not res["errors"]
    # painted membrane pixels carry the feature's colour (0.95, 0.75, 0.2) at alpha 0.5 over grey:
    # red clearly above blue; unpainted pixels are grey (r == g == b)
    assert all(p[0] - p[2] > 60 for p in res["painted"]), res["painted"][:5]
    assert all(p[0] == p[1] == p[2] for p in res["unpainted"]), res["unpainted"][:5]
    assert res["z_up"] == res["z0"] + 1 and res["z_pgdn"] == res["z_up"] - 10
    assert res["zoom1"] > res["zoom0"] * 1.4
    assert res["still"] == pytest.approx(res["cursor"], abs=1.0)  # zoomed toward the cursor
    assert res["z_shift"] == res["z_pgdn"] + 1  # shift + wheel = next slice
    dx = res["centre1"][0] - res["centre0"][0]
    assert dx < -10  # dragging right moves the image right: the centre moves left in the image
    assert res["zoom_fit"] == pytest.approx(res["zoom0"])  # F fits again
    assert not res["tf"] and not res["keras"]  # the GUI process never loads TensorFlow


def test_dropped_files_open_and_bad_ones_are_notified(tmp_path):
    import numpy as np

    from ais_like.volume import Header, write_volume

    good = write_volume(tmp_path / "cell.mrc", np.random.default_rng(0).normal(size=(6, 64, 80)).astype(np.float32),
                        Header(apix=13.0))
    bad = tmp_path / "truncated.mrc"
    bad.write_bytes(good.read_bytes()[:2000])
    res = run_gui(f"""
        from ais_like.gui.testing import Harness
        from ais_like.gui.state import AppState
        h = Harness(AppState())
        h.app._on_drop(h.app.window, [{str(good)!r}, {str(bad)!r}])
        h.step(3)
        img = h.screenshot({str(tmp_path / 'drop.png')!r})
        s = h.state
        result(dict(current=s.current, shape=list(s.shape), apix=s.apix,
                    errors=[n.text for n in s.notifications if n.level == "error"],
                    canvas_pixel=img[450, 900].tolist()))
        h.close()
    """)
    assert res["current"] == "cell" and res["shape"] == [6, 64, 80] and res["apix"] == 13.0
    assert len(res["errors"]) == 1 and "truncated.mrc" in res["errors"][0]
    r, g, b = res["canvas_pixel"]
    assert r == g == b and 10 < r < 250  # the slice is drawn in grey at the canvas centre


def test_gui_command_runs_frames_and_saves_a_screenshot(tmp_path, run_cli):
    import os

    if not os.environ.get("DISPLAY"):
        pytest.skip("no X display")
    shot = tmp_path / "cli.png"
    res = run_cli("gui", "--demo", "--demo-dir", tmp_path / "d", "--frames", "3", "--screenshot", shot,
                  env={"XDG_CONFIG_HOME": str(tmp_path / "cfg")}, timeout=300)
    assert res.returncode == 0, res.stderr
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    res = run_cli("gui", tmp_path / "missing.mrc")
    assert res.returncode == 2 and "missing.mrc" in res.stderr and "Traceback" not in res.stderr


def test_the_loop_knows_when_it_may_sleep(tmp_path):
    """Frames are drawn on demand: idle -> not busy (the loop sleeps, no CPU); queued actions,
    running jobs, awaited predictions, training, a file dialog or a fresh notification -> busy."""
    res = run_gui("""
        import time, threading
        from ais_like.gui.testing import Harness
        from ais_like.gui.state import AppState, ModelEntry
        h = Harness(AppState())
        s, app = h.state, h.app
        out = {"idle": app.busy()}
        s.notify("hello"); out["notification"] = app.busy()
        s.notifications[-1].time -= 3600; out["old_notification"] = app.busy()
        s.request("step_z", dz=1); out["pending"] = app.busy(); h.step()
        ev = threading.Event()
        job = s.jobs.submit("wait", lambda job: ev.wait(10)); out["job"] = app.busy()
        ev.set(); s.jobs.wait(10); out["job_done"] = app.busy()
        s.models.entries.append(ModelEntry(key="m1", title="t", architecture="Eman2", status="training"))
        out["training"] = app.busy()
        s.models.entries[0].status = "trained"; out["trained"] = app.busy()
        events = app.events
        h.app._on_drop(h.app.window, [])
        out["drop_counted"] = app.events == events + 1
        result(out)
        h.close()
    """)
    assert res == {"idle": False, "notification": True, "old_notification": False, "pending": True, "job": True,
                   "job_done": False, "training": True, "trained": False, "drop_counted": True}


def test_unchanged_canvas_is_copied_not_redrawn_and_looks_the_same(tmp_path):
    res = run_gui(demo_in=tmp_path / "demo", code="""
        r = h.app.slice_renderer
        h.step(3)
        a = h.screenshot()
        n0 = r.redraws
        h.move(900, 400); h.move(950, 420)  # the cursor moves over the canvas: nothing it shows changes
        b = h.screenshot()
        n1 = r.redraws
        actions.apply(s, "set_contrast", lo=s.display.contrast[0], hi=s.display.contrast[1] * 3)
        c = h.screenshot()
        n2 = r.redraws
        x0, y0, w, hh = [int(v) for v in s.canvas_rect]
        same = bool(np.array_equal(a[y0:y0 + hh, x0:x0 + w], b[y0:y0 + hh, x0:x0 + w]))
        changed = bool(not np.array_equal(b[y0:y0 + hh, x0:x0 + w], c[y0:y0 + hh, x0:x0 + w]))
        result(dict(copied=n1 - n0, redrawn=n2 - n1, same=same, changed=changed))
        h.close()
    """)
    assert res == {"copied": 0, "redrawn": 1, "same": True, "changed": True}
