"""Draws the Render tab's 3D scene into the canvas: segmentation surfaces (Blinn-Phong, two-sided,
the feature's colour and alpha), particles as instanced spheres, the current slice in place and
the tomogram's outline, over a gradient, looking through ``ais_like.gui.scene.camera(state)``.

Geometry is uploaded once per mesh version (surfaces) or per coordinate set and radius
(particles), never per frame; colour, alpha and the camera are uniforms. Opaque surfaces are
drawn first, then transparent ones far to near with depth writes off. Everything is drawn
inside ``state.canvas_rect`` (viewport and scissor) and the GL state is restored afterwards.
"""

from __future__ import annotations

import numpy as np
from OpenGL import GL

from .gl import Program, Texture2D, UnitQuad

_F = 4  # bytes per float32


class _Mesh:
    """A VAO of positions (attribute 0) and normals (attribute 1) with uint32 indices."""

    def __init__(self, vertices, faces, normals):
        v = np.ascontiguousarray(np.c_[np.asarray(vertices, np.float32), np.asarray(normals, np.float32)],
                                 np.float32)
        idx = np.ascontiguousarray(np.asarray(faces, np.uint32).ravel())
        self.count = int(idx.size)
        self.vao = GL.glGenVertexArrays(1)
        self.vbo, self.ebo = GL.glGenBuffers(2)
        self.instances = None
        GL.glBindVertexArray(self.vao)
        GL.glBindBuffer(GL.GL_ARRAY_BUFFER, self.vbo)
        GL.glBufferData(GL.GL_ARRAY_BUFFER, v.nbytes, v, GL.GL_STATIC_DRAW)
        GL.glEnableVertexAttribArray(0)
        GL.glVertexAttribPointer(0, 3, GL.GL_FLOAT, GL.GL_FALSE, 6 * _F, GL.ctypes.c_void_p(0))
        GL.glEnableVertexAttribArray(1)
        GL.glVertexAttribPointer(1, 3, GL.GL_FLOAT, GL.GL_FALSE, 6 * _F, GL.ctypes.c_void_p(3 * _F))
        GL.glBindBuffer(GL.GL_ELEMENT_ARRAY_BUFFER, self.ebo)
        GL.glBufferData(GL.GL_ELEMENT_ARRAY_BUFFER, idx.nbytes, idx, GL.GL_STATIC_DRAW)
        GL.glBindVertexArray(0)

    def set_instances(self, centres) -> None:
        """Per-instance offsets (attribute 2): draw one copy at each centre (x, y, z)."""
        c = np.ascontiguousarray(np.asarray(centres, np.float32).reshape(-1, 3))
        GL.glBindVertexArray(self.vao)
        if self.instances is None:
            self.instances = GL.glGenBuffers(1)
        GL.glBindBuffer(GL.GL_ARRAY_BUFFER, self.instances)
        GL.glBufferData(GL.GL_ARRAY_BUFFER, max(c.nbytes, 12), c if c.size else None, GL.GL_STATIC_DRAW)
        GL.glEnableVertexAttribArray(2)
        GL.glVertexAttribPointer(2, 3, GL.GL_FLOAT, GL.GL_FALSE, 0, None)
        GL.glVertexAttribDivisor(2, 1)
        GL.glBindVertexArray(0)
        self.n_instances = len(c)

    def draw(self) -> None:
        GL.glBindVertexArray(self.vao)
        if self.instances is None:
            GL.glVertexAttrib3f(2, 0.0, 0.0, 0.0)
            GL.glDrawElements(GL.GL_TRIANGLES, self.count, GL.GL_UNSIGNED_INT, None)
        elif self.n_instances:
            GL.glDrawElementsInstanced(GL.GL_TRIANGLES, self.count, GL.GL_UNSIGNED_INT, None, self.n_instances)
        GL.glBindVertexArray(0)

    def delete(self) -> None:
        bufs = [self.vbo, self.ebo] + ([self.instances] if self.instances is not None else [])
        GL.glDeleteBuffers(len(bufs), bufs)
        GL.glDeleteVertexArrays(1, [self.vao])


class _Lines:
    def __init__(self):
        self.vao = GL.glGenVertexArrays(1)
        self.vbo = GL.glGenBuffers(1)
        self.key = None
        self.count = 0

    def upload(self, points, key) -> None:
        p = np.ascontiguousarray(np.asarray(points, np.float32).reshape(-1, 3))
        GL.glBindVertexArray(self.vao)
        GL.glBindBuffer(GL.GL_ARRAY_BUFFER, self.vbo)
        GL.glBufferData(GL.GL_ARRAY_BUFFER, p.nbytes, p, GL.GL_STATIC_DRAW)
        GL.glEnableVertexAttribArray(0)
        GL.glVertexAttribPointer(0, 3, GL.GL_FLOAT, GL.GL_FALSE, 0, None)
        GL.glBindVertexArray(0)
        self.count = len(p)
        self.key = key

    def draw(self) -> None:
        GL.glBindVertexArray(self.vao)
        GL.glDrawArrays(GL.GL_LINES, 0, self.count)
        GL.glBindVertexArray(0)


def box_lines(lo, hi) -> np.ndarray:
    """The 12 edges of an axis-aligned box as 24 points."""
    x = (lo[0], hi[0])
    y = (lo[1], hi[1])
    z = (lo[2], hi[2])
    pts = []
    for j in (0, 1):
        for k in (0, 1):
            pts += [(x[0], y[j], z[k]), (x[1], y[j], z[k])]
            pts += [(x[j], y[0], z[k]), (x[j], y[1], z[k])]
            pts += [(x[j], y[k], z[0]), (x[j], y[k], z[1])]
    return np.asarray(pts, np.float32)


def _gl(m) -> np.ndarray:
    """A row-major numpy matrix in OpenGL's column-major order."""
    return np.ascontiguousarray(np.asarray(m, np.float32).T)


class SceneRenderer:
    def __init__(self):
        self.mesh_prog = Program("mesh.vert", "mesh.frag")
        self.slice_prog = Program("slice3d.vert", "slice.frag")
        self.line_prog = Program("line.vert", "line.frag")
        self.bg_prog = Program("background.vert", "background.frag")
        self.quad = UnitQuad()
        self.slice_tex = Texture2D(nearest=False)
        self.box = _Lines()
        self.surfaces: dict[int, tuple[int, _Mesh]] = {}  # surface id -> (version, mesh)
        self.particles: dict[int, tuple[tuple, _Mesh]] = {}  # set id -> (key, instanced sphere)
        self.uploads = 0  # geometry/texture uploads so far (tests check that idle frames upload nothing)

    # -- cached GPU data ---------------------------------------------------------------------

    def _surface(self, s) -> _Mesh | None:
        cached = self.surfaces.get(s["id"])
        if cached is not None and cached[0] == s["version"]:
            return cached[1]
        if cached is not None:
            cached[1].delete()
            del self.surfaces[s["id"]]
        if s["mesh"] is None or not s["mesh"].pieces:
            return None
        v, f, n = s.get("arrays") or s["mesh"].combined()
        m = _Mesh(v, f, n)
        self.uploads += 1
        self.surfaces[s["id"]] = (s["version"], m)
        return m

    def _particles(self, p) -> _Mesh | None:
        from ais_like.gui.scene import icosphere

        key = (p["version"], len(p["xyz"]))
        cached = self.particles.get(p["id"])
        if cached is not None and cached[0] == key:
            return cached[1]
        if cached is not None:
            cached[1].delete()
        sv, sf = icosphere(2)
        m = _Mesh(sv, sf, sv)
        m.set_instances(p["xyz"])
        self.uploads += 1
        self.particles[p["id"]] = (key, m)
        return m

    def _forget(self, state) -> None:
        live = {s["id"] for s in state.render.surfaces}
        for k in [k for k in self.surfaces if k not in live]:
            self.surfaces.pop(k)[1].delete()
        live = {p["id"] for p in state.render.particles}
        for k in [k for k in self.particles if k not in live]:
            self.particles.pop(k)[1].delete()

    # -- drawing -----------------------------------------------------------------------------

    def draw(self, state, fb_size) -> None:
        from ais_like.gui import scene

        W, H = fb_size
        rx, ry, rw, rh = (int(round(v)) for v in state.canvas_rect)
        rw, rh = max(1, rw), max(1, rh)
        vy = H - ry - rh
        GL.glViewport(rx, vy, rw, rh)
        GL.glEnable(GL.GL_SCISSOR_TEST)
        GL.glScissor(rx, vy, rw, rh)
        GL.glClearDepth(1.0)
        GL.glClear(GL.GL_DEPTH_BUFFER_BIT)
        try:
            self._background()
            self._forget(state)
            cam = scene.camera(state)
            view = _gl(cam.view_matrix())
            proj = _gl(cam.projection(rw / rh))
            GL.glEnable(GL.GL_DEPTH_TEST)
            GL.glDepthFunc(GL.GL_LESS)
            GL.glDepthMask(GL.GL_TRUE)
            if state.render.show_box:
                self._box(state, view, proj)
            if state.render.show_slice:
                self._slice(state, view, proj)
            self._geometry(state, cam, view, proj)
        finally:
            GL.glDepthMask(GL.GL_TRUE)
            GL.glDisable(GL.GL_DEPTH_TEST)
            GL.glDisable(GL.GL_BLEND)
            GL.glDisable(GL.GL_CULL_FACE)
            GL.glDisable(GL.GL_SCISSOR_TEST)
            GL.glViewport(0, 0, W, H)
            GL.glBindVertexArray(0)
            GL.glUseProgram(0)

    def _background(self) -> None:
        GL.glDisable(GL.GL_DEPTH_TEST)
        p = self.bg_prog.use()
        p.set("u_top", (0.17, 0.18, 0.21))
        p.set("u_bottom", (0.05, 0.05, 0.06))
        self.quad.draw()

    def _box(self, state, view, proj) -> None:
        from ais_like.gui import scene

        boxes = []
        sp = scene.slice_placement(state)
        if sp is not None:
            boxes.append(scene._box(sp[1], sp[0]))
        for s in state.render.surfaces:
            if s["show"]:
                b = scene._box(s["shape"], s["apix"])
                if b not in boxes:
                    boxes.append(b)
        if not boxes:
            return
        key = tuple(boxes)
        if self.box.key != key:
            self.box.upload(np.concatenate([box_lines(*b) for b in boxes]), key)
        p = self.line_prog.use()
        p.set("u_view", view)
        p.set("u_proj", proj)
        p.set("u_colour", (0.55, 0.58, 0.65, 1.0))
        self.box.draw()

    def _slice(self, state, view, proj) -> None:
        from ais_like.gui import scene
        from ais_like.gui.actions import display_slice

        sp = scene.slice_placement(state)
        if sp is None:
            return
        apix, (nz, ny, nx) = sp
        d = state.display
        key = (state.current, state.z, d.filter, d.gaussian_sigma, d.lowpass_a, d.highpass_a)
        if self.slice_tex.key != key:
            try:
                a = np.asarray(display_slice(state), np.float32)
            except Exception:  # an unreadable tomogram: no slice, the scene still draws
                return
            self.slice_tex.upload(a, key)
            self.uploads += 1
        p = self.slice_prog.use()
        p.set("u_view", view)
        p.set("u_proj", proj)
        p.set("u_origin", (-0.5 * apix, -0.5 * apix, state.z * apix))
        p.set("u_extent", (nx * apix, ny * apix))
        p.set("u_image", 0)
        p.set("u_lo", float(d.contrast[0]))
        p.set("u_hi", float(d.contrast[1]))
        p.set("u_invert", int(d.invert))
        self.slice_tex.bind(0)
        self.quad.draw()

    def _geometry(self, state, cam, view, proj) -> None:
        p = self.mesh_prog.use()
        p.set("u_view", view)
        p.set("u_proj", proj)
        opaque, transparent = [], []
        for s in state.render.surfaces:
            if not s["show"]:
                continue
            m = self._surface(s)
            if m is None or s["alpha"] <= 0.0:
                continue
            item = (m, s["colour"], s["alpha"], 1.0, s["bounds"])
            (opaque if s["alpha"] >= 0.999 else transparent).append(item)
        for ps in state.render.particles:
            if not ps["show"] or not len(ps["xyz"]):
                continue
            m = self._particles(ps)
            opaque.append((m, ps["colour"], 1.0, float(ps["radius"]), None))
        for m, colour, alpha, scale, _ in opaque:
            p.set("u_colour", tuple(colour))
            p.set("u_alpha", 1.0)
            p.set("u_scale", scale)
            m.draw()
        if transparent:
            eye = cam.eye

            def dist(item):
                b = item[4]
                return 0.0 if b is None else -float(np.linalg.norm((np.add(b[0], b[1]) / 2.0) - eye))

            transparent.sort(key=dist)  # far first
            GL.glEnable(GL.GL_BLEND)
            GL.glBlendFunc(GL.GL_SRC_ALPHA, GL.GL_ONE_MINUS_SRC_ALPHA)
            GL.glDepthMask(GL.GL_FALSE)
            for m, colour, alpha, scale, _ in transparent:
                p.set("u_colour", tuple(colour))
                p.set("u_alpha", float(alpha))
                p.set("u_scale", scale)
                m.draw()
            GL.glDepthMask(GL.GL_TRUE)
            GL.glDisable(GL.GL_BLEND)

    def delete(self) -> None:
        for _, m in list(self.surfaces.values()) + list(self.particles.values()):
            m.delete()
        self.surfaces.clear()
        self.particles.clear()
