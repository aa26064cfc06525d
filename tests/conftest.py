"""Shared fixtures. Area-specific helpers live in their own tests/_<area>_helpers.py modules."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data" / "real"


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data/real`` (read-only real data); skips the test where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data/real is not present")
    return SHARED_DATA


@pytest.fixture
def repo_root() -> Path:
    return ROOT


def run_cli_subprocess(*args: str, env: dict | None = None, timeout: float = 600, cwd=None) -> subprocess.CompletedProcess:
    """Run ``python -m ais_like ARGS`` in a fresh process from the repository root."""
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = str(ROOT) + os.pathsep + full_env.get("PYTHONPATH", "")
    if env:
        full_env.update(env)
    return subprocess.run([sys.executable, "-m", "ais_like", *map(str, args)], cwd=cwd or ROOT,
                          env=full_env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def run_cli():
    return run_cli_subprocess


@pytest.fixture
def small_volume(tmp_path) -> Path:
    """A small float32 MRC (20, 48, 64) at 12.5 Å/px with origin (10, 20, 30) Å."""
    from ais_like.volume import Header, write_volume

    rng = np.random.default_rng(0)
    data = rng.normal(size=(20, 48, 64)).astype(np.float32)
    path = tmp_path / "small.mrc"
    write_volume(path, data, Header(apix=12.5, origin=(10.0, 20.0, 30.0)))
    return path
