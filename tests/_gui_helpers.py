"""Run GUI code in a fresh process under the test session's X display.

The pytest process may have imported TensorFlow, which crashes beside Mesa, so every test that
opens a window runs a small script in a new Python (no TensorFlow, KERAS_BACKEND unset). The
script prints ``RESULT <json>`` as its last such line; :func:`run_gui` returns that object.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

PRELUDE = """
import json, sys
def result(obj):
    print("RESULT " + json.dumps(obj), flush=True)
"""


def gui_env(extra: dict | None = None) -> dict:
    env = dict(os.environ)
    env.pop("KERAS_BACKEND", None)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["XDG_CONFIG_HOME"] = env.get("AIS_LIKE_TEST_CONFIG", "/tmp/ais_like_test_config")
    env["XDG_DATA_HOME"] = env.get("AIS_LIKE_TEST_DATA", "/tmp/ais_like_test_data")  # recovery autosaves
    if extra:
        env.update(extra)
    return env


# The demo project in a real window: ``s`` (AppState), ``h`` (Harness), ``actions``, ``np``.
DEMO_WINDOW = """
import numpy as np
from ais_like.commands.gui import demo_project
from ais_like.gui import actions
from ais_like.gui.state import AppState
from ais_like.gui.testing import Harness
s = AppState()
actions.apply(s, "open_project", path=demo_project({folder!r}))
h = Harness(s)
"""


def run_gui(code: str, *, timeout: float = 300, cwd=None, env: dict | None = None, demo_in=None) -> dict:
    """Run ``code`` (after PRELUDE) in a new Python; return the object it passed to result().
    ``demo_in``: a folder for the demo project, opened in a window (:data:`DEMO_WINDOW`) first."""
    if not os.environ.get("DISPLAY"):
        pytest.skip("no X display (run under Xvfb: pytest-xvfb starts one)")
    demo = DEMO_WINDOW.format(folder=str(demo_in)) if demo_in is not None else ""
    script = PRELUDE + demo + textwrap.dedent(code)
    proc = subprocess.run([sys.executable, "-c", script], cwd=cwd or ROOT, env=gui_env(env),
                          capture_output=True, text=True, timeout=timeout)
    lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, (
        f"GUI script failed (exit {proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}")
    return json.loads(lines[-1][len("RESULT "):])
