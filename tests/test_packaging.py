"""An installed wheel carries the whole program: the core, the design card's top-level models/,
renderer/ and shaders/ folders mapped into the package, and the GLSL files."""

import subprocess
import sys
import zipfile

import pytest


def test_wheel_contains_every_module_and_shader(repo_root, tmp_path):
    pytest.importorskip("setuptools")
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                          str(repo_root), "-w", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    (wheel,) = tmp_path.glob("ais_like-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = set()
    for folder, prefix in (("ais_like", "ais_like"), ("models", "ais_like/models"),
                           ("renderer", "ais_like/renderer"), ("shaders", "ais_like/shaders")):
        for path in (repo_root / folder).rglob("*"):
            if path.suffix in (".py", ".glsl", ".vert", ".frag") and "__pycache__" not in path.parts:
                expected.add(prefix + "/" + path.relative_to(repo_root / folder).as_posix())
    missing = sorted(expected - names)
    assert not missing, missing
    assert "ais_like/models/eman2.py" in names and any(n.startswith("ais_like/shaders/") for n in names)
