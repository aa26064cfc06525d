"""Interoperability with Ais: the real archive written by Ais 1.2.40 (TensorFlow 2.15, Keras 2)
opens here and segments; our archives open in Keras 2 (run when $AIS_LIKE_KERAS2_PYTHON names a
Python with tensorflow 2.x, e.g. a venv with ``pip install tensorflow-cpu==2.15.1``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import warnings

import numpy as np
import pytest

from ais_like import archive
from tests._archive_helpers import particle_volume

AIS_FILE = "ais_scnm/ais-1.2.40_eman2_Particle.scnm"


@pytest.fixture(scope="module")
def ais_model():
    from tests.conftest import SHARED_DATA

    path = SHARED_DATA / AIS_FILE
    if not path.is_file():
        pytest.skip("the real Ais archive is not present")
    warnings.simplefilter("ignore")
    return archive.load_scnm(path)


def _segmenter():
    """The lead's ``ais_like.segment.predict_slice`` when it is part of this checkout, else None."""
    from pathlib import Path

    if not (Path(archive.__file__).parent / "segment.py").is_file():
        return None
    from ais_like import segment

    return getattr(segment, "predict_slice", None)


def test_the_ais_archive_opens_and_reports_its_architecture(ais_model, shared_data):
    m = ais_model
    assert m.title == "Particle" and m.architecture == "Eman2" and m.apix == 10.0
    assert m.metadata["ais_like"]["architecture"] == "Eman2"  # recognised: same layers as our plugin
    assert m.model.input_shape == (None, None, None, 1)  # Ais stored (1, None, None, 1)
    assert m.model.count_params() == m.metadata["n_parameters"] == 378081
    s = archive.preprocess_settings(m.metadata)
    assert (s["normalisation"], s["clamp"], s["apix"], s["source"]) == ("global", None, 10.0, "ais")
    d = archive.describe_model(shared_data / AIS_FILE)
    assert (d["architecture"], d["parameters"], d["box size"], d["written by"]) == ("Eman2", 378081, 64, "Ais")


def test_the_ais_model_segments_bright_particles(ais_model):
    vol, mask, centres = particle_volume()
    # the whole-volume statistics, as Ais's global_mad normalisation measures them
    from ais_like.preprocess import robust_stats

    med, sig = robust_stats(vol)
    z0, z1 = 3, 9
    predict_slice = _segmenter()
    if predict_slice is not None:
        prob = np.stack([predict_slice(ais_model, s, ais_model.apix) for s in vol[z0:z1]])
    else:  # normalised as Ais's global_mad, padded to the network's divisor, predicted
        from ais_like.modelio import predict_probabilities

        prob = predict_probabilities(ais_model.model, (vol[z0:z1] - med) / sig, 2)
    inside, outside = prob[mask[z0:z1]], prob[~mask[z0:z1]]
    assert inside.mean() > 20 * outside.mean(), (inside.mean(), outside.mean())
    assert (outside > 0.5).mean() < 0.01
    hits = [prob[int(round(c[0])) - z0, int(round(c[1])), int(round(c[2]))] > 0.5
            for c in centres if z0 <= round(c[0]) < z1]
    assert len(hits) >= 5 and np.mean(hits) >= 0.7, hits


def test_whole_slices_of_any_even_size(ais_model):
    for shape in ((1, 64, 64), (2, 50, 86), (1, 128, 30)):
        x = np.random.default_rng(0).normal(size=shape + (1,)).astype(np.float32)
        assert ais_model.model.predict(x, verbose=0).shape == shape + (1,)


def test_the_ais_archive_opens_on_the_torch_backend(ais_model, shared_data, repo_root):
    pytest.importorskip("torch")
    x = np.random.default_rng(2).normal(size=(1, 48, 64, 1)).astype(np.float32)
    ref = ais_model.model.predict(x, verbose=0)
    code = ("import sys, json, numpy as np, warnings; warnings.simplefilter('ignore');"
            "from ais_like.archive import load_scnm; import keras;"
            "m = load_scnm(sys.argv[1]); x = np.random.default_rng(2).normal(size=(1, 48, 64, 1)).astype(np.float32);"
            "print('RESULT', json.dumps({'backend': keras.backend.backend(), 'arch': m.architecture,"
            " 'shape': list(m.model.input_shape), 'y': np.asarray(m.model.predict(x, verbose=0)).ravel()[::97].tolist()}))")
    env = dict(os.environ, KERAS_BACKEND="torch", PYTHONPATH=str(repo_root))
    out = subprocess.run([sys.executable, "-c", code, str(shared_data / AIS_FILE)], cwd=repo_root, env=env,
                         capture_output=True, text=True, timeout=300)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("RESULT")), None)
    assert line, out.stdout[-2000:] + out.stderr[-2000:]
    res = json.loads(line[6:])
    assert res["backend"] == "torch" and res["arch"] == "Eman2" and res["shape"] == [None, None, None, 1]
    np.testing.assert_allclose(res["y"], ref.ravel()[::97], atol=1e-4)


KERAS2_PYTHON = os.environ.get("AIS_LIKE_KERAS2_PYTHON")
KERAS2_TITLES = ["Eman2", "VGGNet S", "VGGNet M", "VGGNet L", "VGGNet X", "UNet S", "UNet M", "UNet L", "ResNet",
                 "InceptionNet", "ezm-2d", "ezm-2d-bxe", "ezm-2d-dice", "Pix2pix"]


def _seed_weights(net, rng):
    """Glorot kernels as built, plus random biases and batch-normalisation statistics (a positive
    variance), so that every stored array changes the prediction."""
    for w in net.weights:
        name = w.path if hasattr(w, "path") else w.name
        shape = tuple(w.shape)
        if "moving_variance" in name:
            w.assign(rng.uniform(0.5, 2.0, shape).astype(np.float32))
        elif "gamma" in name:
            w.assign(rng.uniform(0.8, 1.2, shape).astype(np.float32))
        elif any(k in name for k in ("moving_mean", "beta", "bias")):
            w.assign(rng.normal(0, 0.05, shape).astype(np.float32))


@pytest.fixture(scope="module")
def keras2_results(tmp_path_factory):
    """Our .scnm of every Ais title, with seeded weights, read back by Ais's loader in Keras 2
    (tf.keras.models.load_model, then its toggle_inference rebuild): one Keras 2 run for all."""
    from ais_like.registry import get_architecture
    from tests.conftest import ROOT

    import keras

    warnings.simplefilter("ignore")
    keras.utils.set_random_seed(0)
    folder = tmp_path_factory.mktemp("ours_in_keras2")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 64, 96, 1)).astype(np.float32)
    params, paths = {}, []
    for title in KERAS2_TITLES:
        model = get_architecture(title).create((None, None, 1))
        net = getattr(model, "generator", model)
        _seed_weights(net, rng)
        stem = title.lower().replace(" ", "_")
        path = archive.save_scnm(folder / f"{stem}.scnm", model, archive.make_metadata("M", title, apix=10.0))
        with tarfile.open(path) as tar:
            weights = next(n for n in tar.getnames() if n.endswith("_weights.h5"))
            (folder / f"{stem}.h5").write_bytes(tar.extractfile(weights).read())
        path.unlink()
        np.save(folder / f"{stem}.h5.x.npy", x)
        np.save(folder / f"{stem}.h5.y.npy", np.asarray(net.predict(x, verbose=0)))
        params[title] = model.count_params()
        paths.append(str(folder / f"{stem}.h5"))
        del model, net
    out = subprocess.run([KERAS2_PYTHON, str(ROOT / "tests" / "keras2" / "check_our_files.py"), *paths],
                         capture_output=True, text=True, timeout=1200)
    results = {json.loads(ln)["file"]: json.loads(ln) for ln in out.stdout.splitlines() if ln.startswith("{")}
    assert results, out.stdout[-2000:] + out.stderr[-2000:]
    return results, params


@pytest.mark.skipif(not KERAS2_PYTHON, reason="set AIS_LIKE_KERAS2_PYTHON to a Python with tensorflow 2.x (Keras 2)")
@pytest.mark.parametrize("title", KERAS2_TITLES)
def test_our_archives_open_in_keras2(title, keras2_results):
    """Our file of each Ais title opens in Ais's Keras 2 and predicts what Keras 3 predicts."""
    results, params = keras2_results
    res = results.get(title.lower().replace(" ", "_") + ".h5")
    assert res is not None and res["ok"], res
    assert res["tensorflow"].startswith("2.") and res["params"] == params[title]
    assert res["max_abs_diff"] < 1e-4, res
