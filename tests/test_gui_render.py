"""Render tab: arcball camera math, scene actions (surfaces, particles, debounced re-meshing,
.obj export), and the real window (a surface on screen, left drag rotates, screenshot)."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from ais_like.gui import actions
from ais_like.gui.camera import Camera, arc_rotation, ball_point
from ais_like.gui.state import AppState, ModelEntry

APIX = 10.0
CENTRE_ZYX = (16, 24, 24)
RADIUS_PX = 10.5


def write_sphere(path, radius_px=RADIUS_PX, shape=(32, 48, 48), centre=CENTRE_ZYX):
    """A ball of 255 (radius ``radius_px``, edges graded) in a uint8 volume at 10 Å/px."""
    from ais_like.volume import Header, write_volume

    z, y, x = np.indices(shape)
    r = np.sqrt((z - centre[0]) ** 2 + (y - centre[1]) ** 2 + (x - centre[2]) ** 2)
    write_volume(path, np.clip((radius_px - r) * 128 + 128, 0, 255).astype(np.uint8), Header(apix=APIX))
    return path


@pytest.fixture
def sphere(tmp_path):
    return write_sphere(tmp_path / "cell__Sphere.mrc")


def _sphere_fit(vertices):
    """(centre xyz Å, mean radius Å, max |r - mean|) of points on a sphere."""
    c = (vertices.min(axis=0) + vertices.max(axis=0)) / 2.0
    r = np.linalg.norm(vertices - c, axis=1)
    return c, float(r.mean()), float(np.abs(r - r.mean()).max())


# ------------------------------------------------------------------------------------------
# Camera


def test_rotation_keeps_the_distance_to_the_target_and_stays_a_rotation():
    rng = np.random.default_rng(0)
    cam = Camera(target=(100.0, -50.0, 30.0), distance=750.0)
    viewport = (380, 0, 1000, 800)
    for _ in range(50):
        p0, p1 = rng.uniform((380, 0), (1380, 800), size=(2, 2))
        cam.rotate_drag(p0, p1, viewport)
        assert np.linalg.norm(cam.eye - cam.target) == pytest.approx(750.0, rel=1e-9)
        assert np.allclose(cam.rotation @ cam.rotation.T, np.eye(3), atol=1e-9)
        assert np.linalg.det(cam.rotation) == pytest.approx(1.0)
    assert not np.allclose(cam.rotation, Camera().rotation)


def test_a_closed_drag_path_returns_the_camera_to_where_it_started():
    cam = Camera()
    R0 = cam.rotation.copy()
    viewport = (0, 0, 800, 600)
    # a loop around the viewport centre, partly outside the ball (rim points), in small steps
    t = np.linspace(0, 2 * math.pi, 240)
    path = np.c_[400 + 350 * np.cos(t), 300 + 200 * np.sin(2 * t)]
    for p0, p1 in zip(path[:-1], path[1:]):
        cam.rotate_drag(p0, p1, viewport)
    assert np.allclose(cam.rotation, R0, atol=1e-6)


def test_two_drags_from_centre_to_rim_turn_the_scene_a_full_turn():
    cam = Camera()
    R0 = cam.rotation.copy()
    viewport = (0, 0, 800, 600)
    cam.rotate_drag((400, 300), (700, 300), viewport)  # centre to the ball's rim: half a turn
    half = cam.rotation @ R0.T
    assert np.allclose(half, np.diag([-1.0, 1.0, -1.0]), atol=1e-9)  # 180° about the screen's up axis
    cam.rotate_drag((400, 300), (700, 300), viewport)
    assert np.allclose(cam.rotation, R0, atol=1e-9)


def test_arcball_rotation_takes_the_first_ball_point_along_the_arc():
    a = ball_point((400, 300), (0, 0, 800, 600))
    b = ball_point((500, 250), (0, 0, 800, 600))
    assert np.allclose(a, (0, 0, 1)) and np.linalg.norm(b) == pytest.approx(1.0)
    q = arc_rotation(a, b)
    # Shoemake: twice the angle between the points, about their cross product
    angle = math.degrees(math.acos(np.clip((np.trace(q) - 1) / 2, -1, 1)))
    assert angle == pytest.approx(2 * math.degrees(math.acos(np.dot(a, b))), abs=1e-6)
    assert np.allclose(q @ np.cross(a, b), np.cross(a, b))


@pytest.mark.parametrize("aspect", [0.5, 1.0, 1.6, 3.0])
def test_fit_puts_the_whole_box_in_view(aspect):
    rng = np.random.default_rng(int(aspect * 10))
    for _ in range(10):
        cam = Camera()
        for _ in range(3):
            cam.rotate_drag(rng.uniform(0, 600, 2), rng.uniform(0, 600, 2), (0, 0, 600, 600))
        lo = rng.uniform(-1000, 1000, 3)
        hi = lo + rng.uniform(10, 3000, 3)
        cam.fit((lo, hi), aspect)
        corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
        ndc = cam.project(corners, aspect)
        assert np.all(np.abs(ndc[:, :2]) <= 1.0), ndc
        assert np.all((ndc[:, 2] > -1.0) & (ndc[:, 2] < 1.0))  # between the clip planes
        # and not absurdly far: the box's bounding sphere nearly fills the narrower side
        rad = np.linalg.norm(hi - lo) / 2
        rim = cam.project([cam.target + rad * cam.rotation[0], cam.target + rad * cam.rotation[1]], aspect)
        assert max(abs(rim[0, 0]), abs(rim[1, 1])) > 0.8
        assert np.allclose(cam.target, (lo + hi) / 2)


def test_zoom_and_pan():
    cam = Camera(target=(0, 0, 0), distance=1000.0)
    cam.zoom(2.0)
    assert cam.distance == pytest.approx(500.0)
    view_dir = -cam.rotation[2]
    before = cam.project([(0, 0, 0)], 1.0)[0]
    cam.pan(50, 0, 600)  # drag right: the target point moves right on screen
    assert abs(np.dot(cam.target, view_dir)) < 1e-9  # pans in the view plane
    after = cam.project([(0, 0, 0)], 1.0)[0]
    assert after[0] - before[0] == pytest.approx(2 * 50 / 600, rel=1e-6)  # follows the cursor
    assert after[1] == pytest.approx(before[1], abs=1e-9)


# ------------------------------------------------------------------------------------------
# Scene actions (no window)


def test_a_segmentation_becomes_a_surface_where_the_sphere_is(sphere):
    s = AppState(sync_jobs=True)
    actions.apply(s, "render_add_files", paths=[str(sphere)])
    (surf,) = s.render.surfaces
    assert surf["feature"] == "Sphere" and surf["tomogram"] == "cell" and surf["apix"] == APIX
    assert surf["mesh"] is not None and surf["version"] == 1 and "1 pieces" in surf["status"]
    v, f, n = surf["mesh"].combined()
    c, r, dev = _sphere_fit(v)
    assert np.allclose(c, np.array(CENTRE_ZYX[::-1]) * APIX, atol=2.0)
    assert abs(r - RADIUS_PX * APIX) < 0.5 * APIX and dev < 0.5 * APIX
    # the camera was aimed at the tomogram holding it
    assert np.allclose(s.render.camera.target, np.array([47, 47, 31]) / 2 * APIX)


def test_scene_obj_export_matches_the_sphere_and_the_particles(sphere, tmp_path):
    from ais_like.mesh import read_obj, signed_volume

    coords = tmp_path / "cell__Sphere_coords.txt"
    coords.write_text("24\t24\t16\n5\t6\t7\n")
    s = AppState(sync_jobs=True)
    actions.apply(s, "render_add_files", paths=[str(sphere), str(coords)])
    assert not [n for n in s.notifications if n.level == "error"]
    (parts,) = s.render.particles
    assert parts["tomogram"] == "cell" and np.allclose(parts["xyz"], [[240, 240, 160], [50, 60, 70]])
    actions.apply(s, "render_set", i=0, kind="particles", radius=30.0)
    actions.apply(s, "render_set", i=0, colour=(0.2, 0.4, 0.6))
    out = tmp_path / "scene.obj"
    actions.apply(s, "render_export_obj", path=str(out))
    pieces = read_obj(out)
    assert len(pieces) == 2  # the sphere (one piece) and the particle set (one object)
    c, r, dev = _sphere_fit(pieces[0].vertices)
    assert np.allclose(c, (240, 240, 160), atol=2.0) and abs(r - RADIUS_PX * APIX) < 0.5 * APIX
    assert signed_volume(pieces[0].vertices, pieces[0].faces) > 0  # outward, counter-clockwise
    pv = pieces[1].vertices
    for centre in ((240, 240, 160), (50, 60, 70)):
        d = np.linalg.norm(pv - centre, axis=1)
        near = d[d < 60]
        assert len(near) == 42 and np.allclose(near, 30.0, atol=0.02)  # an icosphere of radius 30 Å
    assert signed_volume(pieces[1].vertices, pieces[1].faces) > 0
    text = out.read_text()
    assert "o Sphere_1\nusemtl Sphere\n" in text and "o particles_cell__Sphere_coords\n" in text
    mtl = out.with_suffix(".mtl").read_text()
    assert "newmtl Sphere\n" in mtl and "Kd 0.2000 0.4000 0.6000" in mtl
    # hidden items stay out of the export
    actions.apply(s, "render_set", i=0, kind="particles", show=False)
    actions.apply(s, "render_export_obj", path=str(out))
    assert len(read_obj(out)) == 1


def test_level_changes_remesh_and_colour_changes_do_not(sphere):
    s = AppState(sync_jobs=True)
    actions.apply(s, "render_add_files", paths=[str(sphere)])
    surf = s.render.surfaces[0]
    r0 = _sphere_fit(surf["mesh"].combined()[0])[1]
    actions.apply(s, "render_set", i=0, colour=(1.0, 0.0, 0.0), alpha=0.5)
    assert surf["version"] == 1 and surf["colour"] == (1.0, 0.0, 0.0) and surf["alpha"] == 0.5
    actions.apply(s, "render_set", i=0, level=0.9, commit=True)
    assert surf["version"] == 2
    r1 = _sphere_fit(surf["mesh"].combined()[0])[1]
    assert r1 < r0 - 0.5  # a higher level: a smaller ball (the edge is graded over ~2 px)
    actions.apply(s, "render_set", i=0, bin=2, commit=True)
    assert surf["version"] == 3 and surf["mesh"].params["bin"] == 2
    assert surf["mesh"].n_faces < surf["n_faces"] * 10  # consistent bookkeeping
    # dust larger than the ball removes it
    actions.apply(s, "render_set", i=0, bin=1, dust=(4 / 3 * math.pi * (RADIUS_PX * APIX) ** 3) * 2, commit=True)
    assert not surf["mesh"].pieces and surf["status"] == "empty at this level"
    with pytest.raises(Exception):
        actions.apply(s, "render_set", i=0, nonsense=1)
    actions.apply(s, "render_remove", i=0)
    assert s.render.surfaces == []


def test_slider_moves_remesh_once_after_they_stop(sphere):
    s = AppState()  # background jobs, as in the window
    try:
        actions.apply(s, "render_add_files", paths=[str(sphere)])
        s.jobs.wait(30)
        surf = s.render.surfaces[0]
        assert surf["version"] == 1
        meshes_before = sum(j.kind == "mesh" for j in s.jobs.jobs)
        for level in (0.55, 0.6, 0.65, 0.7):  # a slider dragged over a few frames
            actions.apply(s, "render_set", i=0, level=level)
            time.sleep(0.05)
            s.jobs.poll()
        assert surf["version"] == 1 and sum(j.kind == "mesh" for j in s.jobs.jobs) == meshes_before
        assert surf["status"] == "waiting..."
        s.jobs.wait(30)
        assert sum(j.kind == "mesh" for j in s.jobs.jobs) == meshes_before + 1
        assert surf["version"] == 2 and surf["mesh"].params["threshold"] == pytest.approx(0.7)
    finally:
        s.close()


def test_surface_colour_comes_from_a_model_of_that_name(sphere, tmp_path):
    from ais_like.mesh import feature_colour

    s = AppState(sync_jobs=True)
    s.models.entries.append(ModelEntry(key="m1", title="Sphere", architecture="UNet S", colour=(0.1, 0.2, 0.3)))
    other = write_sphere(tmp_path / "cell__Ribosome.mrc")
    actions.apply(s, "render_add_files", paths=[str(sphere), str(other)])
    assert s.render.surfaces[0]["colour"] == (0.1, 0.2, 0.3)
    assert s.render.surfaces[1]["colour"] == tuple(feature_colour("Ribosome"))


def test_bad_files_become_notifications(tmp_path, sphere):
    s = AppState(sync_jobs=True)
    (tmp_path / "notes.doc").write_text("x")
    actions.apply(s, "render_add_files", paths=[str(tmp_path / "missing.mrc"), str(tmp_path / "notes.doc"),
                                                str(sphere)])
    errors = [n.text for n in s.notifications if n.level == "error"]
    assert len(errors) == 2 and "missing.mrc" in errors[0] and "notes.doc" in errors[1]
    assert len(s.render.surfaces) == 1
    with pytest.raises(Exception, match="nothing to export"):
        actions.apply(AppState(sync_jobs=True), "render_export_obj", path=str(tmp_path / "x.obj"))


def test_screenshot_request_is_left_for_the_frame_loop(tmp_path):
    s = AppState(sync_jobs=True)
    actions.apply(s, "render_screenshot", path=str(tmp_path / "shot"))
    assert s.extra["capture"] == str(tmp_path / "shot.png")


# ------------------------------------------------------------------------------------------
# The window


@pytest.mark.gui
def test_render_tab_draws_the_surface_and_left_drag_rotates(tmp_path, sphere):
    from tests._gui_helpers import run_gui

    shot = tmp_path / "render.png"
    coords = tmp_path / "cell__Sphere_coords.txt"
    coords.write_text("5\t5\t5\n")  # a particle in a corner: rotation moves it on screen
    res = run_gui(f"""
        import sys, os
        import numpy as np
        from ais_like.gui.testing import Harness
        from ais_like.gui.state import AppState
        from ais_like.gui import actions
        s = AppState()
        h = Harness(s)
        actions.apply(s, "set_tab", tab="Render")
        s.extra["select_tab"] = "Render"
        s.request("render_add_files", paths=[{str(sphere)!r}, {str(coords)!r}])
        h.step(2)
        ok = h.run_until(lambda: s.render.surfaces and s.render.surfaces[0]["mesh"] is not None, 30)
        s.request("render_set", i=0, colour=(0.9, 0.1, 0.6))
        img0 = h.screenshot()
        x, y, w, hh = s.canvas_rect
        cx, cy = int(x + w / 2), int(y + hh / 2)
        R0 = s.render.camera.rotation.copy()
        h.drag([(cx, cy), (cx + 60, cy), (cx + 120, cy + 40), (cx + 180, cy + 80)])
        img1 = h.screenshot()
        s.request("render_screenshot", path={str(shot)!r})
        h.step(3)
        patch = img0[cy - 5:cy + 6, cx - 5:cx + 6].reshape(-1, 3).tolist()
        corner = img0[int(y + 5), int(x + w - 5)].tolist()
        result(dict(ok=ok, tab=s.tab, patch=patch, corner=corner,
                    rotated=float(np.abs(s.render.camera.rotation - R0).max()),
                    changed=float(np.abs(img1.astype(int) - img0.astype(int))[:, int(x):].mean()),
                    shot=os.path.exists({str(shot)!r}),
                    uploads=h.app.scene_renderer.uploads,
                    errors=[n.text for n in s.notifications if n.level == "error"]))
        h.close()
    """, timeout=120)
    assert res["ok"] and res["tab"] == "Render" and not res["errors"]
    # the surface, lit, in its colour (magenta: red and blue well above green) at the centre
    for r, g, b in res["patch"]:
        assert r > g + 40 and b > g + 10 and r > 60, res["patch"]
    r, g, b = res["corner"]
    assert max(r, g, b) < 80  # the dark background around it
    assert res["rotated"] > 0.1 and res["changed"] > 0.05  # the drag turned the camera and the picture
    assert res["shot"]
    assert res["uploads"] == 2  # mesh and spheres went to the GPU once: colour and camera are uniforms
