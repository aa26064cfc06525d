"""The workbench window: GLFW + OpenGL 3.3 core + Dear ImGui (imgui-bundle), one frame loop.

:class:`App` owns the window, the ImGui context and the renderers; :meth:`App.step` runs one
frame (inputs, panels, actions, background results, drawing). :func:`run` loops until the
window closes. Tests drive :class:`App` frame by frame (``ais_like.gui.testing``).

The GUI process never imports TensorFlow (it crashes beside Mesa): models run in a spawned
worker process (:mod:`ais_like.gui.worker`).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

SIDEBAR_WIDTH = 380
SLICEBAR_HEIGHT = 36
BUSY_FPS = 60


def _import_stack():
    # One fixed order: imgui_bundle points glfw at its bundled library on import.
    if os.getenv("XDG_SESSION_TYPE") == "wayland" and not os.getenv("PYOPENGL_PLATFORM"):
        os.environ["PYOPENGL_PLATFORM"] = "x11"
    from imgui_bundle import imgui, implot  # noqa: F401
    import glfw  # noqa: F401
    from imgui_bundle.python_backends.glfw_backend import GlfwRenderer  # noqa: F401


class App:
    """One workbench window over an :class:`ais_like.gui.state.AppState`."""

    def __init__(self, state, *, size=(1400, 900), title: str = "ais_like", visible: bool = True,
                 ini: bool = True, vsync: bool = True):
        _import_stack()
        import glfw
        from imgui_bundle import imgui, implot
        from imgui_bundle.python_backends.glfw_backend import GlfwRenderer

        self.state = state
        if not glfw.init():
            raise RuntimeError("cannot initialise GLFW (no display? run under Xvfb for headless use)")
        glfw.window_hint(glfw.CONTEXT_VERSION_MAJOR, 3)
        glfw.window_hint(glfw.CONTEXT_VERSION_MINOR, 3)
        glfw.window_hint(glfw.OPENGL_PROFILE, glfw.OPENGL_CORE_PROFILE)
        glfw.window_hint(glfw.OPENGL_FORWARD_COMPAT, True)
        glfw.window_hint(glfw.VISIBLE, bool(visible))
        self.window = glfw.create_window(int(size[0]), int(size[1]), title, None, None)
        if not self.window:
            glfw.terminate()
            raise RuntimeError("cannot open an OpenGL 3.3 core window")
        glfw.make_context_current(self.window)
        glfw.swap_interval(1 if vsync else 0)
        self.imgui_ctx = imgui.create_context()
        self.implot_ctx = implot.create_context()
        io = imgui.get_io()
        if ini:
            cfg = Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config")) / "ais_like"
            cfg.mkdir(parents=True, exist_ok=True)
            io.set_ini_filename(str(cfg / "imgui.ini"))
        else:
            io.set_ini_filename("")
        self.impl = GlfwRenderer(self.window)
        self.events = 0  # input events seen (frames are drawn on demand, see run())
        self._count_events(glfw)
        glfw.set_drop_callback(self.window, self._on_drop)
        self.style()

        from ais_like.renderer.slice_view import SliceRenderer

        self.slice_renderer = SliceRenderer()
        self.scene_renderer = None  # created when the Render tab is first shown
        self.frame_times: list[float] = []
        self.captures: list = []  # (path, rgb) requested by capture(); filled before the swap
        self._capture_next: list[str | None] = []

    # -- setup -------------------------------------------------------------------------------

    def style(self) -> None:
        from imgui_bundle import imgui

        imgui.style_colors_dark()
        s = imgui.get_style()
        s.window_rounding = 0.0
        s.frame_rounding = 3.0
        s.grab_rounding = 3.0

    def _on_drop(self, window, paths) -> None:
        self.events += 1
        self.state.request("open_files", paths=list(paths))

    def _count_events(self, glfw) -> None:
        """Wrap the backend's input callbacks so that the loop knows when input arrived."""
        impl = self.impl

        def counted(fn):
            def cb(*args):
                self.events += 1
                return fn(*args)
            return cb

        glfw.set_key_callback(self.window, counted(impl.keyboard_callback))
        glfw.set_cursor_pos_callback(self.window, counted(impl.mouse_callback))
        glfw.set_mouse_button_callback(self.window, counted(impl.mouse_button_callback))
        glfw.set_window_size_callback(self.window, counted(impl.resize_callback))
        glfw.set_char_callback(self.window, counted(impl.char_callback))
        glfw.set_scroll_callback(self.window, counted(impl.scroll_callback))
        glfw.set_window_refresh_callback(self.window, counted(lambda *a: None))  # uncovered: redraw

    def busy(self) -> bool:
        """Whether something changes on screen without input: actions queued, background jobs or
        model work running, notifications fading, a file dialog or a training plot open."""
        s = self.state
        if s.pending or s.jobs.active or s.extra.get("dialog"):
            return True
        if s.preview is not None and s.preview.busy():
            return True
        if any(m.status in ("training", "loading") for m in s.models.entries):
            return True
        from .panels.notifications import visible

        return bool(visible(s))

    @property
    def framebuffer_size(self) -> tuple[int, int]:
        import glfw

        return tuple(glfw.get_framebuffer_size(self.window))

    # -- one frame ---------------------------------------------------------------------------

    def step(self) -> None:
        import glfw
        from imgui_bundle import imgui
        from OpenGL import GL

        from . import actions, panels

        t0 = time.perf_counter()
        state = self.state
        glfw.poll_events()
        self.impl.process_inputs()
        imgui.new_frame()
        W, H = self.framebuffer_size
        bar = 0 if state.tab == "Render" else SLICEBAR_HEIGHT  # the slice bar sits under the canvas
        state.canvas_rect = (float(SIDEBAR_WIDTH), 0.0, float(max(1, W - SIDEBAR_WIDTH)), float(max(1, H - bar)))
        if state.dataset is not None and not state.view_fitted:
            actions.fit_view(state)

        if state.extra.get("capture"):  # a screenshot an action asked for (Render tab): this frame
            self._capture_next.append(state.extra.pop("capture"))
        panels.draw_all(state, (W, H))
        actions.apply_pending(state)
        state.jobs.poll()
        if state.preview is not None:
            state.preview.update(state)

        GL.glViewport(0, 0, W, H)
        GL.glDisable(GL.GL_SCISSOR_TEST)
        GL.glClearColor(0.12, 0.12, 0.13, 1.0)
        GL.glClear(GL.GL_COLOR_BUFFER_BIT | GL.GL_DEPTH_BUFFER_BIT)
        if state.tab == "Render":
            if self.scene_renderer is None:
                from ais_like.renderer.scene_view import SceneRenderer

                self.scene_renderer = SceneRenderer()
            self.scene_renderer.draw(state, (W, H))
        else:
            self.slice_renderer.draw(state, (W, H))
        imgui.render()
        self.impl.render(imgui.get_draw_data())
        if self._capture_next:
            from ais_like.renderer.gl import read_pixels

            rgb = read_pixels(W, H)
            for path in self._capture_next:
                if path:
                    save_png(path, rgb)
                self.captures.append((path, rgb))
            self._capture_next = []
        glfw.swap_buffers(self.window)
        actions.autosave(state)
        state.frame += 1
        self.frame_times.append(time.perf_counter() - t0)
        del self.frame_times[:-600]
        if state.quit:
            glfw.set_window_should_close(self.window, True)

    def capture(self, path: str | None = None) -> None:
        """Read the next frame's pixels back (before the swap), saving a PNG if ``path``."""
        self._capture_next.append(path)

    @property
    def should_close(self) -> bool:
        import glfw

        return bool(glfw.window_should_close(self.window))

    def close(self) -> None:
        import glfw
        from imgui_bundle import imgui, implot

        from . import actions

        actions.autosave(self.state, force=True)
        self.state.close()
        self.impl.shutdown()
        implot.destroy_context(self.implot_ctx)
        imgui.destroy_context(self.imgui_ctx)
        glfw.destroy_window(self.window)
        glfw.terminate()


def save_png(path, rgb) -> None:
    """Write an (h, w, 3) uint8 image as PNG (atomically)."""
    from ..archive import png_bytes
    from ..volume import _tmp_name

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_name(path)
    tmp.write_bytes(png_bytes(rgb))
    os.replace(tmp, path)


def run(state, *, frames: int | None = None, screenshot: str | None = None) -> int:
    """Open the window and loop until it closes (or for ``frames`` frames).

    Frames are drawn on demand: after input, while something is busy (jobs, model work,
    notifications), and for a few frames after either (ImGui settles its layout), otherwise the
    loop sleeps in ``glfw.wait_events_timeout``: an idle workbench costs no CPU, which leaves the
    cores to training and inference. A busy one is drawn at most ``BUSY_FPS`` times a second.
    """
    import glfw

    app = App(state)
    try:
        n = 0
        settle = 3  # frames still to draw after the last input or busy frame
        last = 0.0
        while not app.should_close:
            if frames is None:
                events = app.events
                if app.busy():
                    settle = 3
                    wait = last + 1.0 / BUSY_FPS - time.perf_counter()
                    if wait > 0:
                        glfw.wait_events_timeout(wait)
                elif settle <= 0:
                    glfw.wait_events_timeout(0.25)
                    if app.events == events and not app.busy():
                        from . import actions

                        actions.autosave(state)  # the last change is saved even when idle
                        continue
                    settle = 3
                if app.events != events:
                    settle = 3
                settle -= 1
                last = time.perf_counter()
            if screenshot and frames is not None and n == frames - 1:
                app.capture(screenshot)
            app.step()
            n += 1
            if frames is not None and n >= frames:
                break
    finally:
        app.close()
    return 0
