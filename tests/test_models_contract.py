"""Every registered architecture: create, train a step, predict a non-square slice whose sides
are not multiples of 32 (same shape out, values in 0..1), save, load, identical predictions -
on TensorFlow here, and on the PyTorch backend in a subprocess."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from ais_like.registry import list_architectures

from _model_helpers import check_contract, contract

TITLES = [a.title for a in list_architectures(all=True)]


def test_the_library_has_the_published_architectures():
    expected = {"Eman2", "VGGNet S", "VGGNet M", "VGGNet L", "UNet S", "UNet L", "ResNet", "InceptionNet", "Pix2pix"}
    assert expected <= set(TITLES)


@pytest.mark.parametrize("title", TITLES)
def test_model_contract_tensorflow(title, tmp_path):
    check_contract(contract(title, tmp_path), title)


def test_model_contract_torch_backend(tmp_path, repo_root):
    pytest.importorskip("torch")
    code = textwrap.dedent(f"""
        import json, sys, tempfile
        sys.path.insert(0, {str(repo_root / 'tests')!r})
        from _model_helpers import contract
        from ais_like.registry import list_architectures
        import keras
        assert keras.backend.backend() == "torch", keras.backend.backend()
        out = {{}}
        for a in list_architectures(all=True):
            with tempfile.TemporaryDirectory() as d:
                out[a.title] = contract(a.title, d)
        print("RESULT" + json.dumps(out))
    """)
    env = dict(os.environ, KERAS_BACKEND="torch", PYTHONPATH=str(repo_root))
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=900,
                         cwd=repo_root)
    line = [ln for ln in res.stdout.splitlines() if ln.startswith("RESULT")]
    assert line, res.stdout[-2000:] + res.stderr[-4000:]
    results = json.loads(line[0][len("RESULT"):])
    assert set(results) == set(TITLES)
    for title, r in results.items():
        check_contract(r, title)
