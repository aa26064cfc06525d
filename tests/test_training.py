"""The training loop: learning rate honoured, per-batch/per-epoch reports, stop requests, early
stopping, validation split and best-weights restore; the .scnm metadata of a trained model."""

import numpy as np
import pytest

from ais_like.errors import InputError
from ais_like.trainset import TrainingSet
from ais_like.training import TrainingCallback, train, train_feature_model

from _model_helpers import tiny_model


def _set(n=48, box=16, seed=0):
    rng = np.random.default_rng(seed)
    img = rng.normal(size=(n, box, box)).astype(np.float32)
    lab = (img > 0.3).astype(np.uint8)
    lab[:, :2] = 2  # ignored rows
    return TrainingSet(img, lab, apix=10.0, feature="Blob")


class Recorder(TrainingCallback):
    def __init__(self, stop_after=None):
        self.batches, self.epochs, self.stop_after = [], [], stop_after

    def on_batch(self, epoch, batch, loss):
        self.batches.append((epoch, batch, loss))

    def on_epoch(self, epoch, logs):
        self.epochs.append(dict(logs))

    def should_stop(self):
        return self.stop_after is not None and len(self.batches) >= self.stop_after


def test_reports_every_batch_and_epoch_and_learns():
    model = tiny_model()
    rec = Recorder()
    res = train(model, _set(), epochs=6, batch_size=8, learning_rate=0.05, callback=rec)
    assert len(rec.batches) == 6 * 6 and [b[:2] for b in rec.batches[:7]] == [(0, i) for i in range(6)] + [(1, 0)]
    assert len(rec.epochs) == 6 and res.epochs_run == 6 and res.stopped == "completed"
    assert res.history["loss"][-1] < res.history["loss"][0]
    # the epoch loss is the mean of that epoch's batch losses (not Keras's running mean)
    assert res.history["loss"][0] == pytest.approx(np.mean([b[2] for b in rec.batches[:6]]))


def test_learning_rate_is_honoured():
    model = tiny_model()
    train(model, _set(n=8), epochs=1, batch_size=8, learning_rate=0.0123)
    assert float(np.asarray(model.optimizer.learning_rate)) == pytest.approx(0.0123)
    # a learning rate of ~0 changes nothing
    model = tiny_model(seed=1)
    before = [w.copy() for w in model.get_weights()]
    train(model, _set(n=8), epochs=1, batch_size=8, learning_rate=1e-12, keep_best=False)
    assert all(np.allclose(a, b, atol=1e-8) for a, b in zip(before, model.get_weights()))


def test_stop_request_ends_training_and_keeps_best_weights():
    model = tiny_model()
    rec = Recorder(stop_after=14)  # during the third epoch
    res = train(model, _set(), epochs=50, batch_size=8, learning_rate=0.05, callback=rec)
    assert res.stopped == "user" and len(rec.batches) == 14 and res.epochs_run == 3
    assert res.best_epoch == 1  # the interrupted epoch never counts as best


def test_early_stopping_and_best_weights_restored():
    ts = _set()
    model = tiny_model()
    # a huge learning rate makes the loss jump around; training must stop and restore the best epoch
    res = train(model, ts, epochs=40, batch_size=8, learning_rate=3.0, validation_split=0.25, early_stopping=2)
    assert "val_loss" in res.history and len(res.history["val_loss"]) == res.epochs_run
    assert res.best_loss == pytest.approx(min(res.history["val_loss"]))
    if res.stopped == "early_stopping":
        assert res.epochs_run - 1 - res.best_epoch == 2
    # the model now holds the best epoch's weights: its validation loss is the best one
    from ais_like.training import _split, _evaluate

    rng = np.random.default_rng(0)
    _, val_idx = _split(len(ts), 0.25, rng)
    x, y = ts.images[val_idx][..., None], ts.labels[val_idx][..., None].astype(np.float32)
    assert _evaluate(model, x, y, 8) == pytest.approx(res.best_loss, rel=1e-4, abs=1e-5)


@pytest.mark.parametrize("kwargs, message", [
    ({"epochs": 0}, "epochs"), ({"batch_size": 0}, "batch size"), ({"validation_split": 1.0}, "validation"),
    ({"learning_rate": -1.0}, "learning rate")])
def test_bad_parameters_are_refused(kwargs, message):
    with pytest.raises(InputError, match=message):
        train(tiny_model(), _set(n=8), **{"epochs": 1, **kwargs})


def test_train_feature_model_metadata():
    ts = _set(n=32, box=32)
    ts.meta["preprocess"] = {"normalisation": "slice", "clamp": 3.0, "lowpass": None, "highpass": None}
    tm = train_feature_model(ts, "Eman2", title="Membrane", colour=(0.1, 0.2, 0.3), epochs=2, batch_size=16,
                             learning_rate=2e-4, validation_split=0.25)
    m = tm.metadata
    assert m["title"] == "Membrane" and m["arch"] == "Eman2" and m["ais_like"]["architecture"] == "Eman2"
    assert m["apix"] == 10.0 and m["box_size"] == 32 and m["epochs"] == 2 and m["colour"] == [0.1, 0.2, 0.3]
    assert m["n_parameters"] == 378081 == tm.model.count_params()
    assert m["ais_like"]["training"]["learning_rate"] == pytest.approx(2e-4)
    assert m["ais_like"]["preprocess"]["clamp"] == 3.0 and m["ais_like"]["divisor"] == 2
    assert m["loss"] == pytest.approx(min(tm.result.history["val_loss"]))
    # the model takes whole slices of any size, not only tiles
    assert tm.model.predict_on_batch(np.zeros((1, 40, 60, 1), np.float32)).shape == (1, 40, 60, 1)


def _membrane_tiles(n=96):
    from ais_like import synthetic, tiles

    tomo = synthetic.make_tomogram(shape=(40, 128, 128), apix=10.0, seed=0)
    truth = tomo.labels["membrane"].astype(np.uint8)
    return tiles.tiles_from_labels(tomo.volume.astype(np.float32), truth, synthetic.demo_slices(truth, 3), box=64,
                                   n_tiles=n, positive_fraction=0.5, augment=True, seed=0, apix=10.0,
                                   feature="Membrane")


@pytest.mark.parametrize("seed", [4, 6])
def test_vggnet_m_at_its_default_learning_rate_does_not_blow_up(seed):
    """From these initial weights Adam at 1e-3 blew VGGNet M's activations up within a few
    batches (sigmoid saturated at 0, loss flat for good); the plugin's default (3e-4) trains."""
    from ais_like import registry
    from ais_like.backend import keras

    keras().utils.set_random_seed(seed)
    model = registry.get_architecture("VGGNet M").create((None, None, 1))
    ts = _membrane_tiles()
    res = train(model, ts, epochs=1, batch_size=32, keep_best=False, seed=100)
    p = np.asarray(model.predict(ts.images[:16, ..., None], verbose=0))
    assert np.isfinite(p).all()
    assert p.max() > 0.05, (p.max(), res.batch_losses)  # not saturated at 0 everywhere


def test_a_plugins_default_learning_rate_is_kept_when_no_rate_is_given(tmp_path):
    """Also when another loss makes train_feature_model recompile the model."""
    (tmp_path / "slow.py").write_text(
        'title = "Slow Tiny"\nlearning_rate = 3e-4\n\n'
        "def create(input_shape):\n"
        "    from ais_like.backend import keras\n"
        "    from ais_like.training import compile_for_training\n"
        "    k = keras()\n"
        "    inp = k.Input(shape=input_shape)\n"
        '    out = k.layers.Conv2D(1, 3, padding="same", activation="sigmoid")(inp)\n'
        "    return compile_for_training(k.Model(inp, out), learning_rate)\n")
    ts = _set(n=16, box=16)
    for loss in (None, "bce"):
        tm = train_feature_model(ts, "Slow Tiny", epochs=1, batch_size=8, loss=loss, folders=[tmp_path])
        assert tm.metadata["ais_like"]["training"]["learning_rate"] == pytest.approx(3e-4), loss
    tm = train_feature_model(ts, "Slow Tiny", epochs=1, batch_size=8, loss="bce", learning_rate=5e-3,
                             folders=[tmp_path])
    assert tm.metadata["ais_like"]["training"]["learning_rate"] == pytest.approx(5e-3)


def _fixed_model(weight: float, bias: float):
    """A 1x1 sigmoid convolution with set weights: p = sigmoid(weight * x + bias)."""
    m = tiny_model(kernel=1)
    m.set_weights([np.full((1, 1, 1, 1), weight, np.float32), np.full((1,), bias, np.float32)])
    return m


@pytest.mark.parametrize("weight, bias, verdict, failed", [
    (0.0, -8.0, "all_background", True),  # the collapse Ais users meet: background everywhere
    (0.0, 8.0, "all_foreground", True),
    (6.0, -2.0, "ok", False),  # bright pixels are the feature, as annotated
])
def test_assess_tells_a_working_model_from_a_collapsed_one(weight, bias, verdict, failed):
    from ais_like.training import assess

    ts = _set(n=16)
    h = assess(_fixed_model(weight, bias), ts.images, ts.labels)
    assert h.verdict == verdict and h.failed == failed
    assert h.n_feature == int((ts.labels == 1).sum()) and h.n_background == int((ts.labels == 0).sum())
    msg = h.message()
    assert "\n" not in msg and f"recall of the annotated feature {h.recall:.2f}" in msg
    assert ("train more epochs" in msg or "annotate background" in msg) == failed


def test_assess_flat_and_unknown():
    from ais_like.training import assess

    ts = _set(n=16)
    # p = sigmoid(0.01 x) is ~0.5 everywhere: below that threshold all is the feature, at it nothing separates
    h = assess(_fixed_model(0.01, 0.0), ts.images, ts.labels, threshold=0.4)
    assert h.verdict == "all_foreground"
    h = assess(_fixed_model(0.01, 0.0), ts.images, ts.labels, threshold=0.5)
    assert h.verdict == "flat" and h.failed and h.separation < 0.05 and "same probability" in h.message()
    none = TrainingSet(ts.images, np.zeros_like(ts.labels), apix=10.0, feature="Blob")
    h = assess(_fixed_model(6.0, -2.0), none.images, none.labels)
    assert h.verdict == "unknown" and not h.failed and "not checked" in h.message()


def test_training_reports_the_check_every_epoch_and_stores_it():
    rec = Recorder()
    ts = _set()
    res = train(tiny_model(), ts, epochs=4, batch_size=8, learning_rate=0.05, callback=rec)
    assert all({"recall", "false_positive_rate", "verdict"} <= set(e) for e in rec.epochs)
    assert res.health is not None and res.health.verdict == "ok" and res.health.recall > 0.5
    assert res.history["recall"] == [e["recall"] for e in rec.epochs]
    # a model that cannot learn (rate ~0, starting from all-background) is reported as such
    m = _fixed_model(0.0, -8.0)
    res = train(m, ts, epochs=2, batch_size=8, learning_rate=1e-12, callback=(rec := Recorder()))
    assert [e["verdict"] for e in rec.epochs] == ["all_background"] * 2 and res.health.failed
    assert res.health.where == "the training tiles"
    res = train(m, ts, epochs=1, batch_size=8, learning_rate=1e-12, validation_split=0.25)
    assert res.health.where == "the held-out tiles"


def test_a_failed_model_is_trained_again_from_another_start_and_the_check_stored():
    class Restarts(Recorder):
        def on_restart(self, attempt, health):
            self.restarts = getattr(self, "restarts", []) + [(attempt, health.verdict)]

    ts = _set(n=32, box=32)
    rec = Restarts()
    tm = train_feature_model(ts, "Eman2", epochs=1, batch_size=16, learning_rate=1e-12, callback=rec, restarts=2)
    h = tm.metadata["ais_like"]["training"]
    assert tm.failed and h["health"]["verdict"] == tm.health.verdict and h["health"]["message"] == tm.health.message()
    assert h["restarts"] == 2 and [a for a, _ in rec.restarts] == [1, 2] and len(rec.epochs) == 3
    assert all(v in ("all_background", "all_foreground", "flat") for _, v in rec.restarts)
    assert h["initialisation_seed"] in (0, 1000, 2000) and rec.model is tm.model
    # no restarts asked, none made
    tm = train_feature_model(ts, "Eman2", epochs=1, batch_size=16, learning_rate=1e-12, restarts=0)
    assert tm.metadata["ais_like"]["training"]["restarts"] == 0
    with pytest.raises(InputError, match="restarts"):
        train_feature_model(ts, "Eman2", epochs=1, restarts=-1)


def test_batch_norm_statistics_are_measured_not_left_lagging():
    """Keras's running statistics (momentum 0.99) still hold most of their start after a short
    training, so a network that trained well predicted background everywhere at inference.
    recalibrate_batch_norm sets them to the average batch statistics of the given tiles."""
    from ais_like.backend import keras
    from ais_like.training import batch_norm_layers, recalibrate_batch_norm

    k = keras()
    k.utils.set_random_seed(0)
    inp = k.Input(shape=(None, None, 1))
    conv = k.layers.Conv2D(2, 3, padding="same")
    bn = k.layers.BatchNormalization()
    m = k.Model(inp, k.layers.Conv2D(1, 1, activation="sigmoid")(bn(conv(inp))))
    x = (np.random.default_rng(1).normal(size=(40, 16, 16, 1)) * 3 + 5).astype(np.float32)
    assert batch_norm_layers(m) == [bn] and batch_norm_layers(tiny_model()) == []
    assert recalibrate_batch_norm(m, x, batch_size=16) == 1
    feats = np.asarray(conv(x))
    batches = [feats[i:i + 16] for i in (0, 16, 32)]
    want_mean = np.mean([b.mean(axis=(0, 1, 2)) for b in batches], axis=0)
    want_var = np.mean([b.var(axis=(0, 1, 2)) for b in batches], axis=0)
    np.testing.assert_allclose(np.asarray(bn.moving_mean), want_mean, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.asarray(bn.moving_variance), want_var, rtol=1e-3, atol=1e-3)
    assert bn.momentum == 0.99  # restored
    assert recalibrate_batch_norm(tiny_model(), x) == 0


def test_a_threshold_of_zero_is_named_as_the_cause():
    from ais_like.training import assess

    ts = _set(n=16)
    h = assess(_fixed_model(6.0, -2.0), ts.images, ts.labels, threshold=0.0)
    assert h.verdict == "all_foreground" and "the threshold is 0, so every pixel counts" in h.message()
