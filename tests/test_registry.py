import subprocess
import sys

import pytest

from ais_like import registry
from ais_like.errors import InputError


def test_plugins_listed_without_importing_keras(repo_root):
    code = ("import sys; from ais_like.registry import list_architectures\n"
            "t = [a.title for a in list_architectures(all=True)]\n"
            "print('TITLES', t); print('KERAS', 'keras' in sys.modules or 'tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=repo_root, capture_output=True, text=True, timeout=60)
    assert "KERAS False" in out.stdout, out.stdout + out.stderr


def test_user_folder_plugins_and_hidden_ones(tmp_path, monkeypatch):
    (tmp_path / "mine.py").write_text('"""My net."""\ntitle = "My Net"\ninclude = False\ndef create(input_shape):\n    return None\n')
    (tmp_path / "not_a_plugin.py").write_text("x = 1\n")
    (tmp_path / "broken.py").write_text("def (:\n")
    monkeypatch.setenv("AIS_LIKE_ARCHITECTURES", str(tmp_path))
    shown = [a.title for a in registry.list_architectures()]
    assert "My Net" not in shown
    arch = registry.get_architecture("my net")
    assert arch.title == "My Net" and not arch.include and arch.description == "My net."
    with pytest.raises(InputError, match="unknown model architecture 'Nope'"):
        registry.get_architecture("Nope")


def test_a_plugin_may_give_its_default_learning_rate(tmp_path, monkeypatch):
    (tmp_path / "slow.py").write_text('title = "Slow Net"\nlearning_rate = 3e-4\ndef create(input_shape):\n    return None\n')
    (tmp_path / "bad.py").write_text('title = "Bad LR"\nlearning_rate = -1\ndef create(input_shape):\n    return None\n')
    monkeypatch.setenv("AIS_LIKE_ARCHITECTURES", str(tmp_path))
    assert registry.get_architecture("Slow Net").learning_rate == 3e-4
    assert registry.get_architecture("Bad LR").learning_rate == 1e-3  # nonsense: the project default
    assert registry.get_architecture("UNet S").learning_rate == 1e-3
    assert registry.get_architecture("VGGNet M (ais_like 0.1)").learning_rate == 3e-4  # its tuned rate
    assert registry.get_architecture("ezm-2d").learning_rate == 5e-5  # Ais's
