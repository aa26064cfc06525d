"""The CLI answers --help instantly (no TensorFlow, no GUI stack), errors are one line with exit 2."""

import json
import subprocess
import sys

from ais_like.cli import COMMANDS, main


def test_help_imports_nothing_heavy(repo_root):
    code = ("import sys; from ais_like.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('tensorflow', 'keras', 'torch', 'imgui_bundle', 'glfw', 'OpenGL', 'scipy', 'dask') if m in sys.modules]\n"
            "print('HEAVY', heavy)")
    out = subprocess.run([sys.executable, "-c", code], cwd=repo_root, capture_output=True, text=True, timeout=60)
    assert "HEAVY []" in out.stdout, out.stdout + out.stderr
    for name in ("demo", "train", "segment", "pick", "mesh", "batch"):
        assert name in out.stdout


# Modules whose whole purpose is Keras objects; they are imported only where a model is built.
KERAS_MODULES = {"ais_like.losses", "ais_like.fftlayer"}


def test_core_never_imports_gui_stack_nor_tensorflow_on_import(repo_root):
    code = ("import sys, pkgutil, importlib, ais_like\n"
            "skip = {'ais_like.__main__', 'ais_like.gui', 'ais_like.renderer', 'ais_like.shaders', 'ais_like.commands.gui'}\n"
            f"keras_mods = {sorted(KERAS_MODULES)!r}\n"
            "names = [m.name for m in pkgutil.walk_packages(ais_like.__path__[:1], 'ais_like.')\n"
            "         if not any(m.name == s or m.name.startswith(s + '.') for s in skip)]\n"
            "for n in names:\n"
            "    if n not in keras_mods:\n"
            "        importlib.import_module(n)\n"
            "print('TF', 'tensorflow' in sys.modules or 'keras' in sys.modules)\n"
            "for n in keras_mods:\n"
            "    importlib.import_module(n)\n"
            "print('GUI', sorted(k for k in ('imgui_bundle', 'glfw', 'OpenGL') if k in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=repo_root, capture_output=True, text=True, timeout=120)
    assert "TF False" in out.stdout and "GUI []" in out.stdout, out.stdout + out.stderr


def test_every_command_module_has_help(capsys):
    for name in COMMANDS:
        try:
            main([name, "--help"])
        except SystemExit as exc:
            assert exc.code == 0, name
        assert "usage: ais-like " + name in capsys.readouterr().out


def test_bad_input_is_one_line_exit_2(run_cli, tmp_path):
    res = run_cli("info", tmp_path / "missing.mrc")
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0 and "missing.mrc" in res.stderr and "Traceback" not in res.stderr


def test_info_describes_a_volume(run_cli, small_volume):
    res = run_cli("info", small_volume, "--json")
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)
    assert info[0]["shape (z, y, x)"] == [20, 48, 64] and info[0]["apix (Å)"] == 12.5
