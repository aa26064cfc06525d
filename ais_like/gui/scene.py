"""Actions of the Render tab: surfaces of segmentations, particle sets, the camera, export.

A *surface* is a segmentation volume ``<tomogram>__<feature>.mrc`` (values 0..255) meshed by
:func:`ais_like.mesh.mesh_volume` in a background job at its level (0..1), dust (Å³) and bin;
changing those re-meshes (debounced: at once when a slider is released, else after
:data:`DEBOUNCE_S` without change), changing colour or alpha only changes what the renderer
draws with. A *particle set* is a coordinate file (.star/.txt/.tbl) drawn as spheres.

Both live in ``state.render`` as plain dicts (see :func:`new_surface`, :func:`new_particles`);
vertices are x, y, z in Å with the origin at the centre of voxel (0, 0, 0), the frame of
``ais-like mesh --frame voxel``. Nothing here imports OpenGL or imgui.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from ..errors import AisLikeError, InputError
from ..mesh import material_name, obj_rows
from .actions import handler

DEBOUNCE_S = 0.3
MESH_FIELDS = ("level", "dust", "bin", "smooth")
SURFACE_FIELDS = MESH_FIELDS + ("colour", "alpha", "show")
PARTICLE_FIELDS = ("colour", "radius", "show")
# particle sets take these in turn: cool colours that stand out against the (mostly warm)
# feature colours of the surfaces
PARTICLE_COLOURS = [(0.3, 0.85, 1.0), (0.85, 0.4, 1.0), (0.4, 1.0, 0.55), (1.0, 0.45, 0.45)]
SEGMENTATION_SUFFIXES = (".mrc", ".rec", ".map", ".tif", ".tiff")
COORDINATE_SUFFIXES = (".star", ".txt", ".tbl", ".tsv", ".csv", ".coords")
DEFAULT_RADIUS_A = 80.0
BIG_VOLUME = 32 * 1024 * 1024  # voxels; larger segmentations start at bin 2


# ------------------------------------------------------------------------------------------
# Scene items


def feature_colour(state, feature: str) -> tuple:
    """The colour of a feature: a session model of that title or feature, else the project's
    feature of that name, else the mesh default for the name."""
    from ..mesh import feature_colour as default_colour

    for m in state.models.entries:
        if feature in (m.title, m.feature):
            return tuple(float(c) for c in m.colour)
    f = state.project.features.get(feature) if hasattr(state.project, "features") else None
    if f is not None:
        return tuple(float(c) for c in f.colour)
    return tuple(float(c) for c in default_colour(feature))


def _next_id(state) -> int:
    state.render.next_id += 1
    return state.render.next_id


def _known_apix(state, tomogram: str | None) -> float | None:
    """The voxel size of a tomogram known to the session (a surface or a dataset of that name)."""
    for s in state.render.surfaces:
        if tomogram and s["tomogram"] == tomogram and s.get("apix"):
            return s["apix"]
    if tomogram and tomogram in state.project.datasets:
        ds = state.project.datasets[tomogram]
        if getattr(ds, "apix", None):
            return float(ds.apix)
    return None


def _known_shape(state, tomogram: str | None):
    for s in state.render.surfaces:
        if tomogram and s["tomogram"] == tomogram:
            return s["shape"]
    if tomogram and tomogram in state.project.datasets:
        return state.project.datasets[tomogram].shape
    return None


def new_surface(state, path) -> dict:
    """A surface for a segmentation file (its header is read here; the mesh comes later)."""
    from ..interactions import split_segmentation_name
    from ..volume import open_volume, tomogram_name

    path = Path(path)
    parts = split_segmentation_name(path)
    tomogram, feature = parts if parts else (tomogram_name(path), tomogram_name(path))
    with open_volume(path) as vol:
        shape = tuple(int(n) for n in vol.shape)
        apix = vol.apix
    if apix is None:
        apix = _known_apix(state, tomogram)
        if apix is None:
            raise InputError(f"{path}: the header has no usable voxel size, and no open tomogram "
                             f"named {tomogram!r} gives one")
        state.notify(f"{path.name}: no voxel size in the header; using {apix:g} Å/px of {tomogram}", "warning")
    n = shape[0] * shape[1] * shape[2]
    return {"id": _next_id(state), "path": str(path), "tomogram": tomogram, "feature": feature,
            "shape": shape, "apix": float(apix), "level": 0.5, "dust": 0.0,
            "bin": 2 if n > BIG_VOLUME else 1, "smooth": 0, "colour": feature_colour(state, feature),
            "alpha": 1.0, "show": True, "status": "queued", "mesh": None, "version": 0,
            "arrays": None, "bounds": None, "gen": 0, "job": None, "timer": None, "dirty_at": None, "n_faces": 0}


def new_particles(state, path) -> dict:
    """A particle set from a coordinate file, positions in Å (x, y, z)."""
    from ..coords import read_coordinates

    path = Path(path)
    coords = read_coordinates(path)
    names = sorted({str(t) for t in coords.tomograms if t})
    tomogram = None
    if len(names) > 1:
        known = [n for n in names if n in {s["tomogram"] for s in state.render.surfaces} or n in state.project.datasets]
        if state.current in known:
            known = [state.current]
        if known:
            tomogram = known[0]
            coords = coords.for_tomogram(tomogram)
            if len(known) > 1 or len(names) > 1:
                state.notify(f"{path.name}: {len(names)} tomograms listed; showing {tomogram}'s particles")
        else:
            state.notify(f"{path.name}: {len(names)} tomograms listed, none open; showing all particles", "warning")
    elif names:
        tomogram = names[0]
    if tomogram is None:
        from ..interactions import split_segmentation_name

        parts = split_segmentation_name(path.with_name(path.name.replace("_coords", "")))
        tomogram = parts[0] if parts else state.current
    apix = coords.apix or _known_apix(state, tomogram) or _known_apix(state, state.current)
    if not apix:  # a plain x y z list: the voxel size of the scene, when it has only one
        sizes = {s["apix"] for s in state.render.surfaces}
        apix = sizes.pop() if len(sizes) == 1 else None
    if coords.frame != "pixel":
        coords = coords.to_pixels(apix, _known_shape(state, tomogram))
    if not apix:
        raise InputError(f"{path}: the voxel size of these coordinates is unknown: open their tomogram "
                         "(or a segmentation of it) first")
    xyz = np.asarray(coords.xyz, np.float64) * float(apix)
    return {"id": _next_id(state), "path": str(path), "name": path.stem, "tomogram": tomogram,
            "xyz": xyz.astype(np.float32), "apix": float(apix),
            "colour": PARTICLE_COLOURS[len(state.render.particles) % len(PARTICLE_COLOURS)],
            "radius": DEFAULT_RADIUS_A, "show": True, "version": 1}


def surface_by_id(state, sid: int) -> dict | None:
    for s in state.render.surfaces:
        if s["id"] == sid:
            return s
    return None


def _item(state, i: int, kind: str) -> dict:
    items = state.render.surfaces if kind == "surface" else state.render.particles
    if kind not in ("surface", "particles"):
        raise AisLikeError(f"unknown scene item kind {kind!r}")
    if not 0 <= int(i) < len(items):
        raise AisLikeError(f"no {kind} #{i} in the scene")
    return items[int(i)]


# ------------------------------------------------------------------------------------------
# Meshing jobs


def _mesh_job(job, path: str, apix: float, params: dict):
    from ..mesh import mesh_volume
    from ..volume import open_volume

    with open_volume(path, apix=apix) as vol:
        mesh = mesh_volume(vol.data, apix, threshold=params["level"], bin=params["bin"],
                           dust=params["dust"] or None, smooth=params["smooth"],
                           progress=job.progress, name=Path(path).name)
    return mesh, mesh.combined()  # the renderer's arrays, joined here rather than in a frame


def mesh_bounds(mesh) -> tuple | None:
    if mesh is None or not mesh.pieces:
        return None
    lo = np.min([p.vertices.min(axis=0) for p in mesh.pieces], axis=0)
    hi = np.max([p.vertices.max(axis=0) for p in mesh.pieces], axis=0)
    return tuple(float(v) for v in lo), tuple(float(v) for v in hi)


def start_mesh(state, surface: dict) -> None:
    """(Re)mesh a surface in a background job; a running job for it is cancelled, and only
    the newest job's result is kept."""
    old = surface.get("job")
    if old is not None and old.active:
        old.cancel()
    surface["gen"] += 1
    surface["dirty_at"] = None
    surface["status"] = "computing..."
    sid, gen = surface["id"], surface["gen"]
    params = {"level": float(surface["level"]), "bin": int(surface["bin"]), "dust": float(surface["dust"]),
              "smooth": int(surface["smooth"])}

    def done(result):
        mesh, arrays = result
        s = surface_by_id(state, sid)
        if s is None or s["gen"] != gen:
            return
        s["mesh"] = mesh
        s["arrays"] = arrays
        s["version"] += 1
        s["bounds"] = mesh_bounds(mesh)
        s["n_faces"] = mesh.n_faces
        s["status"] = f"{len(mesh.pieces)} pieces, {mesh.n_faces} faces" if mesh.pieces else "empty at this level"
        s["job"] = None

    def failed(exc, tb=""):
        s = surface_by_id(state, sid)
        if s is None or s["gen"] != gen:
            return
        msg = str(exc) if isinstance(exc, AisLikeError) else f"{type(exc).__name__}: {exc}"
        s["status"] = "error"
        s["job"] = None
        state.error(f"mesh of {Path(s['path']).name}: {msg}", tb)

    job = state.jobs.submit(f"mesh {surface['feature']}", _mesh_job, surface["path"], surface["apix"], params,
                            kind="mesh", on_done=done, on_error=failed)
    s = surface_by_id(state, sid)
    if s is not None and s["gen"] == gen and job.active:
        s["job"] = job


def meshing(state) -> bool:
    """Whether any surface is waiting for or computing its mesh."""
    return any(s["dirty_at"] is not None or (s["job"] is not None and s["job"].active)
               for s in state.render.surfaces)


# ------------------------------------------------------------------------------------------
# Camera and bounds


def camera(state):
    """The scene's camera (created, aimed at the scene, on first use)."""
    from .camera import Camera

    if state.render.camera is None:
        state.render.camera = Camera()
        b = scene_bounds(state)
        if b is not None:
            state.render.camera.fit(b, _aspect(state))
    return state.render.camera


def _aspect(state) -> float:
    r = state.canvas_rect
    return float(r[2]) / max(float(r[3]), 1.0)


def slice_placement(state) -> tuple[float, tuple] | None:
    """(apix, (z, y, x) shape) of the shown tomogram for the slice in place, or None."""
    ds = state.dataset
    if ds is None or ds.shape is None:
        return None
    apix = getattr(ds, "apix", None) or _known_apix(state, state.current)
    if not apix:
        try:
            apix = state.apix
        except Exception:  # a missing file: no slice in place
            apix = None
    return float(apix or 1.0), tuple(int(n) for n in ds.shape)


def _box(shape, apix) -> tuple:
    nz, ny, nx = shape
    h = 0.5 * apix
    return (-h, -h, -h), ((nx - 0.5) * apix, (ny - 0.5) * apix, (nz - 0.5) * apix)


def scene_bounds(state) -> tuple | None:
    """((x0, y0, z0), (x1, y1, z1)) Å around what is shown: each surface's tomogram box, each
    particle set (with its radius) and the tomogram of the slice in place."""
    boxes = []
    for s in state.render.surfaces:
        if s["show"]:
            boxes.append(_box(s["shape"], s["apix"]))
    for p in state.render.particles:
        if p["show"] and len(p["xyz"]):
            r = float(p["radius"])
            boxes.append((p["xyz"].min(axis=0) - r, p["xyz"].max(axis=0) + r))
    if state.render.show_slice or not boxes:
        sp = slice_placement(state)
        if sp is not None:
            boxes.append(_box(sp[1], sp[0]))
    if not boxes:
        return None
    lo = np.min([np.asarray(b[0], np.float64) for b in boxes], axis=0)
    hi = np.max([np.asarray(b[1], np.float64) for b in boxes], axis=0)
    return tuple(lo), tuple(hi)


def _refit(state) -> None:
    b = scene_bounds(state)
    cam = camera(state)
    if b is not None and state.render.auto_fit:
        cam.fit(b, _aspect(state))


# ------------------------------------------------------------------------------------------
# Handlers


@handler("render_add_files")
def render_add_files(state, paths) -> None:
    """Add segmentations (.mrc ...) as surfaces and coordinate files as particle sets."""
    added = 0
    for p in paths:
        p = Path(p)
        suffix = p.suffix.lower()
        try:
            if not p.exists():
                raise InputError(f"{p}: no such file")
            if suffix in COORDINATE_SUFFIXES:
                state.render.particles.append(new_particles(state, p))
                added += 1
            elif suffix in SEGMENTATION_SUFFIXES:
                s = new_surface(state, p)
                state.render.surfaces.append(s)
                start_mesh(state, s)
                added += 1
            else:
                raise InputError(f"{p}: not a segmentation (.mrc) or coordinate file (.star/.txt/.tbl)")
        except AisLikeError as exc:
            state.error(str(exc))
    if added:
        _refit(state)


@handler("render_remove")
def render_remove(state, i: int, kind: str = "surface") -> None:
    item = _item(state, i, kind)
    if kind == "surface":
        for k in ("job", "timer"):
            if item.get(k) is not None:
                item[k].cancel()
        state.render.surfaces.remove(item)
    else:
        state.render.particles.remove(item)


@handler("render_set")
def render_set(state, i: int, kind: str = "surface", commit: bool = False, **fields) -> None:
    """Change a surface's (level, dust, bin, smooth, colour, alpha, show) or a particle set's
    (colour, radius, show) settings. Mesh settings re-mesh after :data:`DEBOUNCE_S` without
    change (``render_tick``), or at once with ``commit=True`` (a slider released)."""
    item = _item(state, i, kind)
    allowed = SURFACE_FIELDS if kind == "surface" else PARTICLE_FIELDS
    remesh = False
    for k, v in fields.items():
        if k not in allowed:
            raise AisLikeError(f"{kind} has no setting {k!r}")
        if k == "level":
            v = float(np.clip(float(v), 0.001, 0.999))
        elif k == "bin":
            v = int(np.clip(int(v), 1, 4))
        elif k == "smooth":
            v = int(np.clip(int(v), 0, 100))
        elif k in ("dust", "radius"):
            v = max(0.0, float(v))
        elif k == "alpha":
            v = float(np.clip(float(v), 0.0, 1.0))
        elif k == "colour":
            v = tuple(float(np.clip(float(c), 0.0, 1.0)) for c in v)[:3]
        elif k == "show":
            v = bool(v)
        if k in MESH_FIELDS and item[k] != v:
            remesh = True
        item[k] = v
    if kind == "surface":
        if remesh:
            item["dirty_at"] = time.time()
            item["status"] = "waiting..."
        if commit and (remesh or item["dirty_at"] is not None):
            start_mesh(state, item)
        elif remesh:
            _start_timer(state, item)
    elif "radius" in fields:
        item["version"] += 1


def _start_timer(state, surface: dict) -> None:
    """A background wait until the surface's settings stopped changing for DEBOUNCE_S, then
    ``render_tick`` (a job, so the frame loop keeps drawing while it waits)."""
    timer = surface.get("timer")
    if timer is not None and timer.active:
        return

    def wait(job):
        while True:
            d = surface["dirty_at"]
            if d is None or time.time() >= d + DEBOUNCE_S:
                return
            job.progress(0, 0)  # raises Cancelled when the surface was removed
            time.sleep(0.02)

    surface["timer"] = state.jobs.submit(f"debounce {surface['feature']}", wait, kind="timer",
                                         on_done=lambda _: render_tick(state))


@handler("render_tick")
def render_tick(state, now: float | None = None) -> None:
    """Start the meshes whose settings stopped changing :data:`DEBOUNCE_S` ago."""
    now = time.time() if now is None else now
    for s in state.render.surfaces:
        if s["dirty_at"] is not None:
            if now - s["dirty_at"] >= DEBOUNCE_S:
                start_mesh(state, s)
            else:  # changed again since the timer looked: wait again
                _start_timer(state, s)


@handler("render_set_options")
def render_set_options(state, show_slice: bool | None = None, show_box: bool | None = None) -> None:
    if show_slice is not None:
        state.render.show_slice = bool(show_slice)
    if show_box is not None:
        state.render.show_box = bool(show_box)


@handler("render_rotate")
def render_rotate(state, p0, p1) -> None:
    camera(state).rotate_drag(p0, p1, state.canvas_rect)


@handler("render_pan")
def render_pan(state, dx: float, dy: float) -> None:
    camera(state).pan(dx, dy, state.canvas_rect[3])
    state.render.auto_fit = False


@handler("render_zoom")
def render_zoom(state, factor: float) -> None:
    camera(state).zoom(factor)
    state.render.auto_fit = False


@handler("render_reset_camera")
def render_reset_camera(state) -> None:
    state.render.auto_fit = True
    camera(state).reset(scene_bounds(state), _aspect(state))


@handler("render_screenshot")
def render_screenshot(state, path) -> None:
    """Save the next frame as PNG (the window's frame loop honours ``state.extra["capture"]``)."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        path = path.with_name(path.name + ".png")
    if not path.parent.is_dir():
        raise InputError(f"{path}: the folder {path.parent} does not exist")
    state.extra["capture"] = str(path)
    state.notify(f"screenshot: {path}")


@handler("render_export_obj")
def render_export_obj(state, path) -> None:
    """Write the visible scene as one .obj + .mtl (in a background job)."""
    path = Path(path)
    if path.suffix.lower() != ".obj":
        path = path.with_name(path.name + ".obj")
    if not path.parent.is_dir():
        raise InputError(f"{path}: the folder {path.parent} does not exist")
    items = scene_objects(state)
    if not items:
        raise AisLikeError("nothing to export: no visible surface with a mesh, and no visible particles")

    def done(out):
        state.notify(f"exported the scene to {out}")

    def failed(exc, tb=""):
        state.error(f"export to {path.name}: {exc}", tb)

    state.jobs.submit(f"export {path.name}", lambda job: write_scene_obj(path, items), kind="export",
                      on_done=done, on_error=failed)


# ------------------------------------------------------------------------------------------
# Export


def icosphere(subdivisions: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """A unit sphere: (vertices float32 (n, 3), faces int32 (m, 3) counter-clockwise seen from
    outside). 0 -> 12 vertices, 1 -> 42, 2 -> 162."""
    t = (1.0 + math.sqrt(5.0)) / 2.0
    v = [(-1, t, 0), (1, t, 0), (-1, -t, 0), (1, -t, 0), (0, -1, t), (0, 1, t), (0, -1, -t), (0, 1, -t),
         (t, 0, -1), (t, 0, 1), (-t, 0, -1), (-t, 0, 1)]
    f = [(0, 11, 5), (0, 5, 1), (0, 1, 7), (0, 7, 10), (0, 10, 11), (1, 5, 9), (5, 11, 4), (11, 10, 2),
         (10, 7, 6), (7, 1, 8), (3, 9, 4), (3, 4, 2), (3, 2, 6), (3, 6, 8), (3, 8, 9), (4, 9, 5),
         (2, 4, 11), (6, 2, 10), (8, 6, 7), (9, 8, 1)]
    verts = [np.asarray(p, np.float64) / np.linalg.norm(p) for p in v]
    faces = list(f)
    for _ in range(int(subdivisions)):
        mid: dict = {}

        def midpoint(a, b):
            key = (min(a, b), max(a, b))
            if key not in mid:
                m = verts[a] + verts[b]
                verts.append(m / np.linalg.norm(m))
                mid[key] = len(verts) - 1
            return mid[key]

        new = []
        for a, b, c in faces:
            ab, bc, ca = midpoint(a, b), midpoint(b, c), midpoint(c, a)
            new += [(a, ab, ca), (b, bc, ab), (c, ca, bc), (ab, bc, ca)]
        faces = new
    V = np.asarray(verts, np.float64)
    F = np.asarray(faces, np.int64)
    # make every face counter-clockwise seen from outside
    n = np.cross(V[F[:, 1]] - V[F[:, 0]], V[F[:, 2]] - V[F[:, 0]])
    flip = np.einsum("ij,ij->i", n, V[F].mean(axis=1)) < 0
    F[flip] = F[flip][:, ::-1]
    return V.astype(np.float32), F.astype(np.int32)


def particle_geometry(xyz, radius: float, subdivisions: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Spheres of ``radius`` Å at each (x, y, z) Å: (vertices, faces, normals), one mesh."""
    sv, sf = icosphere(subdivisions)
    xyz = np.asarray(xyz, np.float64).reshape(-1, 3)
    n = len(xyz)
    v = (sv[None, :, :] * float(radius) + xyz[:, None, :]).reshape(-1, 3)
    f = (sf[None, :, :] + (np.arange(n) * len(sv))[:, None, None]).reshape(-1, 3)
    nrm = np.broadcast_to(sv, (n,) + sv.shape).reshape(-1, 3)
    return v.astype(np.float32), f.astype(np.int32), np.ascontiguousarray(nrm, np.float32)


def scene_objects(state) -> list[dict]:
    """The visible scene as export items: {name, colour, alpha, pieces: [(v, f, n)]}."""
    items, used = [], set()

    def unique(name):
        base, k = material_name(name), 2
        out = base
        while out in used:
            out, k = f"{base}_{k}", k + 1
        used.add(out)
        return out

    for s in state.render.surfaces:
        if s["show"] and s["mesh"] is not None and s["mesh"].pieces:
            items.append({"name": unique(s["feature"]), "colour": s["colour"], "alpha": s["alpha"],
                          "source": Path(s["path"]).name,
                          "pieces": [(p.vertices, p.faces, p.normals) for p in s["mesh"].pieces]})
    for p in state.render.particles:
        if p["show"] and len(p["xyz"]):
            items.append({"name": unique(f"particles_{p['name']}"), "colour": p["colour"], "alpha": 1.0,
                          "source": Path(p["path"]).name, "single": True,
                          "pieces": [particle_geometry(p["xyz"], p["radius"])]})
    return items


def write_scene_obj(path, items) -> Path:
    """Write export items (:func:`scene_objects`) as one .obj with a .mtl, atomically. Each
    surface piece is an object ``<feature>_<i>`` with ``usemtl <feature>`` (the conventions
    of :func:`ais_like.mesh.write_obj`); each particle set one object."""
    from ..coords import write_text_atomic

    path = Path(path)
    mtl = path.with_suffix(".mtl")
    head = [f"# ais_like scene: {len(items)} objects",
            "# x, y, z in Å, origin at the centre of voxel (0, 0, 0) (ais-like mesh --frame voxel); "
            "normals outward; faces counter-clockwise seen from outside"]
    head += [f"# {it['name']}: from {it['source']}, colour {' '.join(f'{c:.4f}' for c in it['colour'])}"
             for it in items]
    parts = ["\n".join(head + [f"mtllib {mtl.name}", ""]) + "\n"]
    mats = []
    base = 1
    for it in items:
        name = it["name"]
        r, g, b = (float(c) for c in it["colour"])
        mats.append(f"newmtl {name}\nKa {r:.4f} {g:.4f} {b:.4f}\nKd {r:.4f} {g:.4f} {b:.4f}\n"
                    f"Ks 0.1 0.1 0.1\nNs 10\nd {float(it['alpha']):.4f}\nillum 2\n")
        for k, (v, f, n) in enumerate(it["pieces"], 1):
            oname = name if it.get("single") else f"{name}_{k}"
            parts.append(f"o {oname}\nusemtl {name}\n")
            parts.append(obj_rows("v", v, "%.2f"))
            parts.append(obj_rows("vn", n, "%.4f"))
            fv = np.repeat(np.asarray(f, np.int64) + base, 2, axis=1)
            parts.append(("f %d//%d %d//%d %d//%d\n" * len(fv)) % tuple(fv.ravel().tolist()) if len(fv) else "")
            base += len(v)
    write_text_atomic(mtl, "# ais_like scene materials\n" + "\n".join(mats))
    write_text_atomic(path, "".join(parts))
    return path
