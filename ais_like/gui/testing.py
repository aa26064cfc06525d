"""Drive the real workbench window frame by frame: inject mouse and keyboard input through
ImGui's input queue, step frames, read pixels back. Used by the GUI tests (under Xvfb) and by
``scripts/screenshots.py``.

Input goes through ``io.add_mouse_pos_event`` / ``add_mouse_button_event`` / ``add_key_event``,
exactly where the GLFW callbacks put real input, so widgets and the canvas see it as a user's.
A press and a release queued before one frame still count as a click.
"""

from __future__ import annotations

import time

import numpy as np


class Harness:
    def __init__(self, state=None, *, size=(1400, 900)):
        from .app import App
        from .state import AppState

        self.state = state if state is not None else AppState()
        self.app = App(self.state, size=size, ini=False, vsync=False)
        from imgui_bundle import imgui

        self.imgui = imgui
        self.io = imgui.get_io()
        self.step(2)

    # -- frames ------------------------------------------------------------------------------

    def step(self, n: int = 1) -> None:
        for _ in range(n):
            self.app.step()

    def run_until(self, condition, timeout: float = 60.0, interval: float = 0.0) -> bool:
        """Step frames until ``condition()`` is true (or the timeout passes)."""
        end = time.time() + timeout
        while time.time() < end:
            self.step()
            if condition():
                return True
            if interval:
                time.sleep(interval)
        return bool(condition())

    # -- input -------------------------------------------------------------------------------

    def move(self, x: float, y: float, frames: int = 1) -> None:
        self.io.add_mouse_pos_event(float(x), float(y))
        self.step(frames)

    def press(self, button: int = 0, frames: int = 1) -> None:
        self.io.add_mouse_button_event(button, True)
        self.step(frames)

    def release(self, button: int = 0, frames: int = 1) -> None:
        self.io.add_mouse_button_event(button, False)
        self.step(frames)

    def click(self, x: float, y: float, button: int = 0) -> None:
        self.move(x, y)
        self.press(button)
        self.release(button)

    def drag(self, points, button: int = 0) -> None:
        """Press at the first point, move through the others (one frame each), release."""
        pts = list(points)
        self.move(*pts[0])
        self.press(button)
        for p in pts[1:]:
            self.move(*p)
        self.release(button)

    def wheel(self, dy: float, x: float | None = None, y: float | None = None) -> None:
        if x is not None:
            self.move(x, y)
        self.io.add_mouse_wheel_event(0.0, float(dy))
        self.step()

    def key(self, key, *, ctrl: bool = False, shift: bool = False) -> None:
        """Press and release a key (an ``imgui.Key``, or its name such as "up_arrow")."""
        imgui = self.imgui
        if isinstance(key, str):
            key = getattr(imgui.Key, key)
        mods = []
        if ctrl:
            mods.append(imgui.Key.mod_ctrl)
        if shift:
            mods.append(imgui.Key.mod_shift)
        for m in mods:
            self.io.add_key_event(m, True)
        self.io.add_key_event(key, True)
        self.step()
        self.io.add_key_event(key, False)
        for m in mods:
            self.io.add_key_event(m, False)
        self.step()

    def type_text(self, text: str) -> None:
        for ch in text:
            self.io.add_input_character(ord(ch))
        self.step()

    # -- geometry ----------------------------------------------------------------------------

    def image_to_screen(self, x: float, y: float) -> tuple[float, float]:
        """Screen position of the centre of image pixel (x, y) (column, row) of the shown slice."""
        return self.state.view.to_screen(self.state.canvas_rect, x + 0.5, y + 0.5)

    # -- pixels ------------------------------------------------------------------------------

    def screenshot(self, path=None) -> np.ndarray:
        """Render one more frame and return it as (h, w, 3) uint8 (and save a PNG if ``path``)."""
        self.app.capture(str(path) if path else None)
        self.step()
        return self.app.captures[-1][1]

    def close(self) -> None:
        self.app.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
