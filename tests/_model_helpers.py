"""Helpers for model tests: a tiny compiled model and the per-architecture contract."""

from __future__ import annotations

import numpy as np


def tiny_model(kernel: int = 3, seed: int = 0):
    """A one-layer fully convolutional model compiled like the plugins (fast to train)."""
    from ais_like.backend import keras
    from ais_like.training import compile_for_training

    k = keras()
    k.utils.set_random_seed(seed)
    inp = k.Input(shape=(None, None, 1))
    out = k.layers.Conv2D(1, kernel, padding="same", activation="sigmoid")(inp)
    return compile_for_training(k.Model(inp, out))


def tiny_loaded(apix=None, seed=0, kernel=3, **ais_like_fields):
    from ais_like.archive import LoadedModel, make_metadata

    meta = make_metadata("Tiny", "Tiny", apix=apix if apix else -1.0,
                         ais_like={"divisor": 1, "preprocess": {"normalisation": "slice", "clamp": 4.0},
                                   **ais_like_fields})
    return LoadedModel(tiny_model(kernel, seed), meta)


def contract(title: str, folder) -> dict:
    """Create, train one step, predict a 45 x 70 slice, save, load, predict again."""
    from pathlib import Path

    from ais_like.archive import LoadedModel, load_scnm, make_metadata, save_scnm
    from ais_like.registry import get_architecture
    from ais_like.segment import predict_slice
    from ais_like.training import learning_rate_of

    rng = np.random.default_rng(0)
    arch = get_architecture(title)
    model = arch.create((None, None, 1))
    x = rng.normal(size=(2, 32, 32, 1)).astype(np.float32)
    y = (x > 0.5).astype(np.float32)
    y[:, :4] = 2.0  # ignored pixels
    loss = model.train_on_batch(x, y)
    loss = float(np.asarray(loss).reshape(-1)[0])
    meta = make_metadata(title, arch.title, apix=10.0, ais_like={"divisor": arch.divisor})
    image = rng.normal(size=(45, 70)).astype(np.float32)
    p1 = predict_slice(LoadedModel(model, meta), image, 10.0)
    path = save_scnm(Path(folder) / "model.scnm", model, meta)
    back = load_scnm(path)
    p2 = predict_slice(back, image, 10.0)
    return {"loss": loss, "shape": list(p1.shape), "min": float(p1.min()), "max": float(p1.max()),
            "finite": bool(np.isfinite(p1).all()), "max_diff": float(np.abs(p1 - p2).max()),
            "params": int(model.count_params()), "loaded_params": int(back.model.count_params()),
            "learning_rate": learning_rate_of(model), "plugin_learning_rate": arch.learning_rate}


def check_contract(result: dict, title: str) -> None:
    assert np.isfinite(result["loss"]), (title, result)
    assert result["shape"] == [45, 70], (title, result)
    assert result["finite"] and 0.0 <= result["min"] and result["max"] <= 1.0, (title, result)
    assert result["max_diff"] < 1e-5, (title, result)
    assert result["params"] == result["loaded_params"] > 0, (title, result)
    # compiled with the learning rate the plugin declares (the default users get)
    assert np.isclose(result["learning_rate"], result["plugin_learning_rate"], rtol=1e-6), (title, result)
