"""Faster training copies (ais_like.training.training_copy / training_speedups): FFT
convolutions compute what Conv2D computes (values and gradients), bfloat16 keeps the head and
the weights in float32, the model returned by train_feature_model is the plain float32 one, and
per-batch reports and stop requests still work. Speed itself is measured in
benchmarks/bench_training.py, never asserted here."""

import numpy as np
import pytest

from ais_like.trainset import TrainingSet
from ais_like.training import TrainingCallback, train, train_feature_model, training_copy, training_speedups


def _model(seed=0, kernel=7):
    from ais_like.backend import keras
    from ais_like.training import compile_for_training

    k = keras()
    k.utils.set_random_seed(seed)
    L = k.layers
    inp = k.Input(shape=(None, None, 1))
    x = L.Conv2D(6, kernel, padding="same", activation="relu")(inp)
    x = L.MaxPooling2D(2)(x)
    x = L.Conv2D(4, 3, padding="same", activation="relu")(x)
    x = L.Conv2D(1, kernel, padding="same", activation="sigmoid")(x)
    out = L.UpSampling2D(2)(x)
    return compile_for_training(k.Model(inp, out))


def _set(n=32, box=32, seed=0):
    rng = np.random.default_rng(seed)
    img = rng.normal(size=(n, box, box)).astype(np.float32)
    lab = (img > 0.3).astype(np.uint8)
    lab[:, :3] = 2
    return TrainingSet(img, lab, apix=10.0, feature="Blob")


def test_fft_layers_compute_the_convolution_and_its_gradient():
    import keras

    base = _model()
    twin = training_copy(base, fft=True)
    kinds = [type(layer).__name__ for layer in twin.layers]
    assert kinds.count("FFTConv2D") == 2 and kinds.count("Conv2D") == 1  # 3 x 3 stays direct
    rng = np.random.default_rng(1)
    for shape in [(3, 32, 32, 1), (2, 30, 46, 1)]:  # odd halves: 15 x 23 after the pool
        x = rng.normal(size=shape).astype(np.float32)
        a = np.asarray(base(x, training=False))
        b = np.asarray(twin(x, training=False))
        assert np.abs(a - b).max() < 1e-5
    if keras.backend.backend() != "tensorflow":
        return
    import tensorflow as tf

    x = rng.normal(size=(4, 32, 32, 1)).astype(np.float32)
    y = (rng.random(size=x.shape) > 0.6).astype(np.float32)

    def grads(m):
        with tf.GradientTape() as tape:
            loss = m.loss(y, m(x, training=True))
        return [g.numpy() for g in tape.gradient(loss, m.trainable_weights)]

    for g0, g1 in zip(grads(base), grads(twin)):
        assert np.abs(g0 - g1).max() <= 1e-4 * np.abs(g0).max() + 1e-7


def test_fft_training_equals_direct_training():
    ts = _set()
    plain, fast = _model(), _model()
    twin = training_copy(fast, fft=True, jit_compile=True)
    r0 = train(plain, ts, epochs=3, batch_size=8, learning_rate=0.01, keep_best=False)
    r1 = train(twin, ts, epochs=3, batch_size=8, learning_rate=0.01, keep_best=False)
    assert np.allclose(r0.batch_losses, r1.batch_losses, rtol=1e-3, atol=1e-4)
    for w0, w1 in zip(plain.get_weights(), twin.get_weights()):
        assert np.abs(w0 - w1).max() < 1e-3


def test_bf16_copy_keeps_head_and_weights_float32():
    base = _model()
    twin = training_copy(base, bf16=True)
    convs = [layer for layer in twin.layers if "Conv2D" in type(layer).__name__]
    assert [c.dtype_policy.name for c in convs] == ["mixed_bfloat16"] * 3
    # the head convolves in bfloat16 but its sigmoid runs in float32, and so does what follows
    assert type(convs[-1]).__name__ == "Bf16LogitsConv2D"
    assert twin.layers[-1].dtype_policy.name == "float32"  # the upsampling after the sigmoid head
    assert all(w.dtype == np.float32 for w in twin.get_weights())
    x = np.random.default_rng(2).normal(size=(2, 32, 32, 1)).astype(np.float32)
    out = np.asarray(twin(x))
    assert out.dtype == np.float32
    assert np.abs(out - np.asarray(base(x))).max() < 0.05
    # float32 sigmoid: probabilities are not rounded to bfloat16's 8-bit mantissa
    bits = out.view(np.uint32)
    assert np.any(bits & 0xFFFF)
    # the head without bfloat16 elsewhere stays a plain float32 Conv2D
    plain_head = [layer for layer in training_copy(base).layers if "Conv2D" in type(layer).__name__][-1]
    assert type(plain_head).__name__ == "Conv2D" and plain_head.dtype_policy.name == "float32"
    res = train(twin, _set(), epochs=4, batch_size=8, learning_rate=0.01)
    assert res.history["loss"][-1] < res.history["loss"][0]


def test_plain_when_asked_and_for_other_backends(monkeypatch):
    base = _model()
    assert training_speedups(base, fast=False) == {"fft": False, "bf16": False, "jit_compile": False}
    monkeypatch.setenv("AIS_LIKE_TRAIN_PLAIN", "1")
    assert not any(training_speedups(base).values())
    monkeypatch.delenv("AIS_LIKE_TRAIN_PLAIN")
    monkeypatch.setenv("AIS_LIKE_NO_FFT", "1")
    assert training_speedups(base)["fft"] is False
    monkeypatch.setenv("AIS_LIKE_TRAIN_BF16", "0")
    assert training_speedups(base)["bf16"] is False


class _Recorder(TrainingCallback):
    def __init__(self, stop_after=None):
        self.batches, self.stop_after = [], stop_after

    def on_batch(self, epoch, batch, loss):
        self.batches.append((epoch, batch, loss))
        # a listener may run the model being trained between batches (the live preview)
        p = np.asarray(self.model.predict_on_batch(np.zeros((1, 48, 40, 1), np.float32)))
        assert p.shape == (1, 48, 40, 1) and np.isfinite(p).all()

    def should_stop(self):
        return self.stop_after is not None and len(self.batches) >= self.stop_after


@pytest.mark.parametrize("arch", ["Eman2", "VGGNet S"])
def test_train_feature_model_returns_the_float32_model_and_reports_batches(arch):
    ts = _set(n=24, box=32)
    rec = _Recorder(stop_after=4)
    tm = train_feature_model(ts, arch, epochs=5, batch_size=8, callback=rec)
    assert len(rec.batches) == 4 and tm.result.stopped == "user" and tm.result.epochs_run == 2
    model = tm.model
    assert all(type(layer).__name__ != "FFTConv2D" for layer in model.layers)
    assert all(layer.dtype_policy.name == "float32" for layer in model.layers)
    assert rec.model is model  # after training the callback sees the model returned
    speedups = tm.metadata["ais_like"]["training"]["speedups"]
    assert isinstance(speedups, list)
    # the trained weights were copied back into the model returned
    from ais_like.backend import keras
    from ais_like.registry import get_architecture

    keras().utils.set_random_seed(0)
    initial = get_architecture(arch).create((None, None, 1)).get_weights()
    assert any(not np.array_equal(a, b) for a, b in zip(initial, model.get_weights()))
    p = np.asarray(model.predict_on_batch(ts.images[:2, ..., None]))
    assert np.isfinite(p).all() and 0 <= p.min() and p.max() <= 1
