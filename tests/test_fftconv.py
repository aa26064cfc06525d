"""FFT convolution inference (ais_like.fftconv) against Keras: the same probabilities within float
tolerance, on whole slices of odd sizes (edges included), tiled layers, other chains; which
networks it takes; the Predictor's automatic choice, opt-out and weight changes."""

import subprocess
import sys

import numpy as np
import pytest

from ais_like import backend, fftconv, segment
from ais_like.archive import LoadedModel, make_metadata


def _keras():
    from ais_like.backend import keras

    return keras()


def _randomise(model, seed=0, bias=0.1):
    """Random weights scaled so that every layer's output varies (no saturated sigmoid)."""
    rng = np.random.default_rng(seed)
    new = []
    for w in model.get_weights():
        if w.ndim == 1:
            new.append(rng.normal(0.0, bias, w.shape).astype(np.float32))
        else:
            fan_in = int(np.prod(w.shape[:-1]))
            new.append(rng.normal(0.0, 1.5 / np.sqrt(fan_in), w.shape).astype(np.float32))
    model.set_weights(new)
    return model


def _eman2(seed=0):
    from ais_like.registry import get_architecture

    return _randomise(get_architecture("Eman2").create((None, None, 1)), seed)


def _loaded(model, title="Eman2"):
    meta = make_metadata("Feature", title, apix=-1.0,
                         ais_like={"divisor": 2, "preprocess": {"normalisation": "slice", "clamp": 4.0}})
    return LoadedModel(model, meta)


def _keras_out(model, x):
    return np.asarray(model.predict_on_batch(x[..., None] if x.ndim == 3 else x), np.float32)


def test_eman2_slice_matches_keras_through_the_predictor():
    model = _eman2()
    loaded = _loaded(model)
    rng = np.random.default_rng(1)
    image = rng.normal(size=(720, 511)).astype(np.float32)
    image[100:300, 50:120] += 2.0
    fast = segment.Predictor(loaded, fft=True)
    slow = segment.Predictor(loaded, fft=False)
    assert fast.fft_net is not None and slow.fft_net is None
    a = fast.predict(image)
    b = slow.predict(image)
    assert a.shape == b.shape == (720, 511)
    assert b.std() > 0.02  # the random network is not flat: the comparison means something
    assert np.abs(a - b).max() < 1e-4
    # edges included: the outermost rows and columns
    for edge in (a[0] - b[0], a[-1] - b[-1], a[:, 0] - b[:, 0], a[:, -1] - b[:, -1]):
        assert np.abs(edge).max() < 1e-4


def test_network_alone_on_odd_shapes_and_batches():
    model = _eman2(seed=2)
    net = fftconv.from_model(model)
    rng = np.random.default_rng(2)
    for shape in [(2, 37, 53), (1, 16, 16), (1, 45, 130)]:
        x = rng.normal(size=shape).astype(np.float32)
        ref = _keras_out(model, x)
        out = net.predict(x)
        assert out.shape == ref.shape
        assert np.abs(out - ref).max() < 1e-4


def test_tiled_layers_match_keras(monkeypatch):
    """Small kernel-spectrum and chunk budgets force tiles (overlap-save) in every layer."""
    model = _eman2(seed=3)
    net = fftconv.from_model(model)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(1, 150, 118)).astype(np.float32)
    monkeypatch.setattr(fftconv, "KERNEL_BYTES", 2 * 1024 * 1024)
    monkeypatch.setattr(fftconv, "CHUNK_BYTES", 64 * 1024)
    conv2 = net.ops[2]
    (ty, sy, ny), (tx, sx, nx) = fftconv.plan_tiles(75, 59, conv2)
    assert ty * tx > 1 and sy * ty >= 75 and sx * tx >= 59
    out = net.predict(x)
    assert np.abs(out - _keras_out(model, x)).max() < 1e-4


def test_other_chain_with_even_kernel_and_activation_layers():
    """TensorFlow's split of an even kernel's 'same' padding, Activation/ReLU layers, pools at odd sizes."""
    k = _keras()
    L = k.layers
    inp = k.Input(shape=(None, None, 2))
    x = L.Conv2D(6, (8, 9), padding="same")(inp)
    x = L.ReLU()(x)
    x = L.MaxPooling2D(2)(x)
    x = L.Conv2D(5, 7, padding="same", activation="linear", use_bias=False)(x)
    x = L.Activation("sigmoid")(x)
    x = L.UpSampling2D((2, 3))(x)
    model = _randomise(k.Model(inp, x), seed=4)
    net = fftconv.from_model(model)
    assert net is not None
    rng = np.random.default_rng(4)
    xin = rng.normal(size=(2, 41, 27, 2)).astype(np.float32)
    ref = _keras_out(model, xin)
    out = net.predict(xin)
    assert out.shape == ref.shape
    assert np.abs(out - ref).max() < 1e-4


def test_flops_of_eman2():
    net = fftconv.from_model(_eman2())
    # 15x15: 1->40 at full size, 40->40 and 40->1 at half size
    expected = 2 * 225 * (64 * 64 * 40 + 32 * 32 * 1600 + 32 * 32 * 40)
    assert net.flops(64, 64) == expected


def test_networks_it_does_not_take():
    from ais_like.registry import get_architecture

    k = _keras()
    L = k.layers
    vgg = get_architecture("VGGNet S").create((None, None, 1))
    assert "Conv2DTranspose" in fftconv.explain(vgg)
    assert fftconv.from_model(vgg) is None
    inp = k.Input(shape=(None, None, 1))
    small = k.Model(inp, L.Conv2D(4, 3, padding="same")(L.Conv2D(4, 3, padding="same")(inp)))
    assert "kernels smaller" in fftconv.explain(small)
    unet = get_architecture("UNet S").create((None, None, 1))
    assert fftconv.explain(unet) is not None  # skip connections, transposed convolutions
    inp = k.Input(shape=(None, None, 1))
    strided = k.Model(inp, L.Conv2D(4, 9, strides=2, padding="same")(inp))
    assert "strides" in fftconv.explain(strided)
    inp = k.Input(shape=(None, None, 1))
    valid = k.Model(inp, L.Conv2D(4, 9, padding="valid")(inp))
    assert "padding" in fftconv.explain(valid)
    inp = k.Input(shape=(None, None, 1))
    tanh = k.Model(inp, L.Conv2D(4, 9, padding="same", activation="tanh")(inp))
    assert "activation" in fftconv.explain(tanh)
    assert fftconv.explain(object()) == "not a Keras model"


def test_predictor_choice_opt_out_and_weight_changes(monkeypatch):
    from _model_helpers import tiny_loaded

    model = _eman2(seed=5)
    loaded = _loaded(model)
    monkeypatch.delenv("AIS_LIKE_NO_FFT", raising=False)
    monkeypatch.setattr(backend, "_GPU", False)
    assert segment.Predictor(loaded).fft_net is not None
    assert segment.Predictor(tiny_loaded()).fft_net is None  # 3x3: Keras
    monkeypatch.setenv("AIS_LIKE_NO_FFT", "1")
    assert segment.Predictor(loaded).fft_net is None
    assert segment.Predictor(loaded, fft=True).fft_net is not None
    monkeypatch.setenv("AIS_LIKE_NO_FFT", "0")
    assert segment.Predictor(loaded).fft_net is not None
    monkeypatch.setattr(backend, "_GPU", True)
    assert segment.Predictor(loaded).fft_net is None  # Keras runs on the GPU
    monkeypatch.setattr(backend, "_GPU", False)
    # weights changed after a first prediction (as while training): the new weights are used
    rng = np.random.default_rng(5)
    image = rng.normal(size=(64, 80)).astype(np.float32)
    first = segment.Predictor(loaded).predict(image)
    _randomise(model, seed=6)
    p = segment.Predictor(loaded)
    second = p.predict(image)
    assert np.abs(second - first).max() > 1e-2
    assert np.abs(second - segment.Predictor(loaded, fft=False).predict(image)).max() < 1e-4


def test_ais_eman2_model_uses_fft_and_matches_keras(shared_data):
    from ais_like.archive import load_scnm

    path = shared_data / "ais_scnm" / "ais-1.2.40_eman2_Particle.scnm"
    if not path.exists():
        pytest.skip("Ais's Eman2 archive is not in the shared data")
    loaded = load_scnm(path)
    assert loaded.architecture == "Eman2"
    rng = np.random.default_rng(7)
    image = rng.normal(size=(200, 173)).astype(np.float32)
    fast = segment.Predictor(loaded, fft=True)
    assert fast.fft_net is not None
    a = fast.predict(image)
    b = segment.Predictor(loaded, fft=False).predict(image)
    assert np.abs(a - b).max() < 1e-4


def test_module_imports_no_tensorflow(repo_root):
    code = ("import sys, ais_like.fftconv; "
            "bad = [m for m in ('tensorflow', 'keras', 'torch') if m in sys.modules]; "
            "sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], cwd=repo_root, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
