"""Same title, same network: each Ais 1.2.40 title builds Ais's network layer for layer.

Checked against ``shared/data/real/ais_architectures`` (Ais's networks as Keras 2 describes them,
``model.to_json()`` at 64 x 64 x 1, with their parameter counts in its README): the plugin has
Ais's parameter count, its graph has Ais's signature, its layers with weights come in Ais's order
with Ais's weight shapes (so a weights file copies layer by layer with no reshaping), and a Keras 3
model built from Ais's own description with the plugin's weights predicts what the plugin predicts.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest

from ais_like import kerasconfig, registry

FOLDER = "ais_architectures"
PIX2PIX_PARAMS = 16_661_121  # Ais's Pix2pix.count_params (its generator), from that README's table


def _table(folder):
    """Ais title -> (parameters, description file), read from the folder's README table."""
    rows = {}
    for line in (folder / "README.md").read_text(encoding="utf-8").splitlines():
        m = re.match(r"\|\s*([^|]+?)\s*\|\s*(\d+)\s*\|\s*(\w+\.json)\s*\|", line)
        if m and not m.group(1).startswith("ezm-3d"):
            rows[m.group(1)] = (int(m.group(2)), m.group(3))
    return rows


@pytest.fixture(scope="module")
def ais_folder():
    from tests.conftest import SHARED_DATA

    folder = SHARED_DATA / FOLDER
    if not (folder / "README.md").is_file():
        pytest.skip("the Ais architecture descriptions are not present")
    return folder


AIS_TITLES = ["Eman2", "VGGNet S", "VGGNet M", "VGGNet L", "VGGNet X", "UNet S", "UNet M", "UNet L", "ResNet",
              "InceptionNet", "ezm-2d", "ezm-2d-bxe", "ezm-2d-dice"]


def test_the_table_names_every_title(ais_folder):
    assert set(_table(ais_folder)) == set(AIS_TITLES)


def _weighted(layers):
    return [layer for layer in layers if layer["class_name"] not in ("InputLayer",)]


@pytest.mark.parametrize("title", AIS_TITLES)
def test_the_title_builds_ais_network(title, ais_folder):
    warnings.simplefilter("ignore")
    params, file = _table(ais_folder)[title]
    description = json.loads((ais_folder / file).read_text(encoding="utf-8"))
    plugin = registry.get_architecture(title).create((64, 64, 1))
    assert plugin.count_params() == params
    assert kerasconfig.model_signature(plugin) == kerasconfig.signature(description)

    ais = kerasconfig.build_model(description, file)  # Keras 3, from Ais's own description
    ours_w = [layer for layer in plugin.layers if layer.weights]
    ais_w = [layer for layer in ais.layers if layer.weights]
    # Ais's order, Ais's classes, Ais's weight shapes: a file copies across layer by layer
    assert [type(a).__name__ for a in ais_w] == [type(o).__name__ for o in ours_w]
    assert [[tuple(w.shape) for w in a.weights] for a in ais_w] == [[tuple(w.shape) for w in o.weights] for o in ours_w]
    rng = np.random.default_rng(0)
    for a, o in zip(ais_w, ours_w):
        arrays = [rng.normal(0, 0.05, tuple(w.shape)).astype(np.float32) for w in o.weights]
        if type(o).__name__ == "BatchNormalization":  # a positive moving variance
            arrays[-1] = np.abs(arrays[-1]) + 0.5
        o.set_weights(arrays)
        a.set_weights(arrays)
    x = rng.normal(size=(1, 64, 64, 1)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(plugin(x)), np.asarray(ais(x)), atol=1e-5)


def _swap_first_concat(description):
    d = copy.deepcopy(description)
    for layer in d["config"]["layers"]:
        if layer["class_name"] == "Concatenate":
            node = layer["inbound_nodes"][0]
            node[0], node[1] = node[1], node[0]
            return d
    raise AssertionError("no Concatenate layer")


def test_the_signature_tells_networks_apart(ais_folder):
    """A negative control: the same layers with the two inputs of one concatenation swapped (a
    different function of the same weights) is not UNet S; nor is ais_like 0.1's UNet S."""
    description = json.loads((ais_folder / "unet_s.json").read_text(encoding="utf-8"))
    swapped = _swap_first_concat(description)
    assert kerasconfig.signature(swapped) != kerasconfig.signature(description)
    legacy = registry.get_architecture("UNet S (ais_like 0.1)").create((64, 64, 1))
    assert kerasconfig.model_signature(legacy) != kerasconfig.signature(description)
    # and the lookup of a file's network goes by the graph, not by the title it claims
    assert registry.network_title(kerasconfig.signature(swapped), ["UNet S"]) is None
    assert registry.network_title(kerasconfig.signature(description), ["UNet S"]) == "UNet S"


def test_pix2pix_is_ais_generator():
    warnings.simplefilter("ignore")
    model = registry.get_architecture("Pix2pix").create((64, 64, 1))
    assert model.count_params() == PIX2PIX_PARAMS  # Ais's Pix2pix.count_params (the generator)
    assert registry.network_title(registry.network_digest(model), ["Pix2pix"]) == "Pix2pix"


def test_the_network_table_matches_the_plugins():
    """``models/networks.json`` (how a file's network is recognised without building every
    plugin) is what the plugins build now."""
    warnings.simplefilter("ignore")
    stored = json.loads((registry.builtin_folder() / registry.SIGNATURES_FILE).read_text(encoding="utf-8"))
    assert stored == registry.signature_table()


def test_old_networks_keep_titles_of_their_own():
    titles = {a.title for a in registry.list_architectures(all=True)}
    for t in ("VGGNet S", "VGGNet M", "VGGNet L", "UNet S", "UNet L", "ResNet", "InceptionNet", "Pix2pix"):
        legacy = registry.get_architecture(f"{t} (ais_like 0.1)")
        assert not legacy.include  # not offered for new models, still opens old files
        assert legacy.title in titles
    nets = registry.known_networks()
    assert all(len(v) == 1 or set(v) == {"ezm-2d", "ezm-2d-bxe", "ezm-2d-dice"} for v in nets.values())


def test_the_signatures_are_the_same_on_the_torch_backend(repo_root):
    pytest.importorskip("torch")
    titles = ["UNet S", "InceptionNet", "VGGNet M", "ResNet"]
    code = ("import sys, json, warnings; warnings.simplefilter('ignore'); import keras;"
            "from ais_like import registry;"
            "print('RESULT', json.dumps({'backend': keras.backend.backend(),"
            " 'digests': {t: registry.plugin_digest(t) for t in sys.argv[1:]}}))")
    env = dict(os.environ, KERAS_BACKEND="torch", PYTHONPATH=str(repo_root))
    out = subprocess.run([sys.executable, "-c", code, *titles], cwd=repo_root, env=env, capture_output=True,
                         text=True, timeout=300)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("RESULT")), None)
    assert line, out.stdout[-2000:] + out.stderr[-2000:]
    res = json.loads(line[6:])
    assert res["backend"] == "torch"
    assert res["digests"] == {t: registry.plugin_digest(t) for t in titles}
