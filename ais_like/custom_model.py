"""Models that are not one Keras model: the contract they follow, and the Pix2pix GAN.

The contract (what ``ais_like.training``, ``ais_like.modelio`` and the segmenter rely on)
-------------------------------------------------------------------------------------------
A custom model is an object with

- ``predict(x, batch_size=32, verbose=0) -> ndarray``: x float32 (n, height, width, 1), height
  and width multiples of the plugin's ``divisor``; returns probabilities (n, height, width, 1)
  in 0..1. Also ``predict_on_batch(x)`` and ``__call__(x)`` (same result, one batch).
- ``train_on_batch(x, y) -> float``: one optimisation step on x (n, box, box, 1) and labels y
  (n, box, box, 1) with values 0, 1, 2 (2 = ignore); returns that batch's loss.
- ``evaluate(x, y, batch_size=32, verbose=0) -> float``: the loss on held-out data.
- ``fit(x, y, epochs=1, batch_size=32, callbacks=None, validation_split=0.0, ...)``: runs
  ``ais_like.training.train`` on arrays; ``callbacks`` are ``ais_like.training.TrainingCallback``s.
- ``get_weights() / set_weights(list)``: all weights as NumPy arrays (used to keep the best epoch).
- ``learning_rate`` (read/write property): the learning rate that training honours.
- ``count_params() -> int``.
- ``save_h5(path)`` and the classmethod ``load_h5(path, compile=False)``: one HDF5 file whose root
  attribute ``ais_like_custom_model`` names the class in ``CUSTOM_MODELS``; networks are rebuilt
  from hyper-parameters stored as JSON and weights are read as plain arrays (no code, no pickle).

Only Keras 3 public APIs are used (``keras.layers``, ``keras.ops``, ``train_on_batch``), so these
run on every Keras backend.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from .errors import InputError

FORMAT_VERSION = 1


def _keras():
    from .backend import keras

    return keras()


def _generator(input_shape, base: int, depth: int):
    """UNet generator: stride-2 4x4 convolutions (LeakyReLU) down, transposed convolutions up
    with skip concatenations, sigmoid output. Height and width must be multiples of 2**depth."""
    k = _keras()
    L = k.layers
    inp = k.Input(shape=tuple(input_shape), name="image")
    x = L.Conv2D(base, 3, padding="same", kernel_initializer="he_normal")(inp)
    x = L.LeakyReLU(0.2)(x)
    skips = [x]
    for level in range(1, depth + 1):
        w = base * 2 ** min(level, 3)
        x = L.Conv2D(w, 4, strides=2, padding="same", kernel_initializer="he_normal")(x)
        x = L.LeakyReLU(0.2)(x)
        skips.append(x)
    skips.pop()
    for level in reversed(range(depth)):
        w = base * 2 ** min(level, 3)
        x = L.Conv2DTranspose(w, 4, strides=2, padding="same", activation="relu", kernel_initializer="he_normal")(x)
        x = L.Concatenate()([x, skips[level]])
    x = L.Conv2D(base, 3, padding="same", activation="relu", kernel_initializer="he_normal")(x)
    out = L.Conv2D(1, 1, activation="sigmoid", name="probability")(x)
    return k.Model(inp, out, name="pix2pix_generator")


def _discriminator(input_shape, base: int):
    """PatchGAN: (image, probability map) -> a map of real/fake probabilities, one per patch."""
    k = _keras()
    L = k.layers
    h, w, c = input_shape
    inp = k.Input(shape=(h, w, c + 1), name="image_and_map")
    x = inp
    for i, f in enumerate((base, base * 2, base * 4)):
        x = L.Conv2D(f, 4, strides=2, padding="same", kernel_initializer="he_normal")(x)
        x = L.LeakyReLU(0.2)(x)
    x = L.Conv2D(base * 4, 3, padding="same", kernel_initializer="he_normal")(x)
    x = L.LeakyReLU(0.2)(x)
    out = L.Conv2D(1, 3, padding="same", activation="sigmoid")(x)
    return k.Model(inp, out, name="pix2pix_discriminator")


class Pix2Pix:
    """A conditional GAN for segmentation (Isola et al. 2017): UNet generator + PatchGAN critic.

    The generator maps an image to a probability map; the discriminator sees (image, map) pairs
    and tells annotated maps from generated ones, patch by patch. Training alternates one
    discriminator step (real and generated maps; ignored pixels of the real map are filled with
    the generator's own prediction so they carry no information) and one generator step on
    ``masked BCE + Dice (label 2 ignored) + adversarial_weight * adversarial BCE``.

    The loss reported by ``train_on_batch`` / ``evaluate`` is the generator's segmentation loss
    (masked BCE + Dice), so it compares with the other architectures' losses.
    """

    kind = "pix2pix"

    def __init__(self, input_shape=(None, None, 1), *, base: int = 16, depth: int = 4, disc_base: int = 32,
                 adversarial_weight: float = 0.05, learning_rate: float = 2e-4, disc_learning_rate: float = 2e-4):
        self.config = {"input_shape": list(input_shape), "base": int(base), "depth": int(depth),
                       "disc_base": int(disc_base), "adversarial_weight": float(adversarial_weight),
                       "learning_rate": float(learning_rate), "disc_learning_rate": float(disc_learning_rate)}
        k = _keras()
        from .losses import get_loss

        in_shape = tuple(None if v is None else int(v) for v in input_shape)
        self.generator = _generator(in_shape, base, depth)
        self.discriminator = _discriminator(in_shape, disc_base)
        self.discriminator.compile(optimizer=k.optimizers.Adam(disc_learning_rate, beta_1=0.5),
                                   loss="binary_crossentropy")
        # the combined model trains the generator through a frozen discriminator
        self.discriminator.trainable = False
        inp = k.Input(shape=in_shape, name="image")
        fake = self.generator(inp)
        verdict = self.discriminator(k.layers.Concatenate()([inp, fake]))
        self.combined = k.Model(inp, [fake, verdict], name="pix2pix")
        self.combined.compile(optimizer=k.optimizers.Adam(learning_rate, beta_1=0.5),
                              loss=[get_loss("bce_dice"), "binary_crossentropy"],
                              loss_weights=[1.0, adversarial_weight])
        self.discriminator.trainable = True

    # ---- inference -------------------------------------------------------------------------
    def predict(self, x, batch_size: int = 32, verbose=0):
        return self.generator.predict(np.asarray(x, np.float32), batch_size=batch_size, verbose=verbose)

    def predict_on_batch(self, x):
        return np.asarray(self.generator.predict_on_batch(np.asarray(x, np.float32)))

    def __call__(self, x, training=False):
        return self.generator(x, training=training)

    @property
    def input_shape(self):
        return self.generator.input_shape

    @property
    def output_shape(self):
        return self.generator.output_shape

    # ---- training --------------------------------------------------------------------------
    @property
    def learning_rate(self) -> float:
        return float(np.asarray(self.combined.optimizer.learning_rate))

    @learning_rate.setter
    def learning_rate(self, value: float) -> None:
        self.combined.optimizer.learning_rate = float(value)
        self.config["learning_rate"] = float(value)

    def _patch(self, n, h, w, value):
        shape = self.discriminator.compute_output_shape((n, h, w, 2))
        return np.full((n,) + tuple(int(s) for s in shape[1:]), value, np.float32)

    def train_on_batch(self, x, y) -> float:
        x = np.asarray(x, np.float32)
        y = np.asarray(y, np.float32)
        if y.ndim == x.ndim - 1:
            y = y[..., None]
        n, h, w = x.shape[:3]
        fake = self.predict_on_batch(x)
        real = np.where(y > 1.5, fake, y).astype(np.float32)
        pairs = np.concatenate([np.concatenate([x, real], -1), np.concatenate([x, fake], -1)])
        verdict = np.concatenate([self._patch(n, h, w, 1.0), self._patch(n, h, w, 0.0)])
        self.discriminator.trainable = True
        self.discriminator.train_on_batch(pairs, verdict)
        self.discriminator.trainable = False
        out = self.combined.train_on_batch(x, [y, self._patch(n, h, w, 1.0)], return_dict=True)
        self.discriminator.trainable = True
        return float(_segmentation_loss(out))

    def evaluate(self, x, y, batch_size: int = 32, verbose=0) -> float:
        from .losses import masked_bce, masked_dice

        x = np.asarray(x, np.float32)
        y = np.asarray(y, np.float32)
        total, count = 0.0, 0
        for i in range(0, len(x), batch_size):
            p = self.predict_on_batch(x[i:i + batch_size])
            t = y[i:i + batch_size]
            loss = float(np.asarray(masked_bce(t, p))) + float(np.asarray(masked_dice(t, p)))
            total += loss * len(p)
            count += len(p)
        return total / max(count, 1)

    def fit(self, x, y, epochs: int = 1, batch_size: int = 32, callbacks=None, validation_split: float = 0.0,
            early_stopping: int | None = None, seed: int = 0, verbose=0):
        """Train on arrays with ``ais_like.training.train``; returns its ``TrainResult``."""
        from .trainset import TrainingSet
        from .training import train

        x = np.asarray(x, np.float32)
        y = np.asarray(y)
        ts = TrainingSet(images=x[..., 0] if x.ndim == 4 else x, labels=y[..., 0] if y.ndim == 4 else y)
        cb = callbacks[0] if isinstance(callbacks, (list, tuple)) and len(callbacks) == 1 else callbacks
        return train(self, ts, epochs=epochs, batch_size=batch_size, validation_split=validation_split,
                     early_stopping=early_stopping, callback=cb, seed=seed)

    def get_weights(self) -> list:
        return [np.array(w) for w in self.generator.get_weights()] + \
               [np.array(w) for w in self.discriminator.get_weights()]

    def set_weights(self, weights) -> None:
        n = len(self.generator.weights)
        self.generator.set_weights(list(weights[:n]))
        self.discriminator.set_weights(list(weights[n:]))

    def count_params(self) -> int:
        return int(self.generator.count_params() + self.discriminator.count_params())

    # ---- files -----------------------------------------------------------------------------
    def save_h5(self, path: str | os.PathLike) -> Path:
        import h5py

        path = Path(path)
        with h5py.File(path, "w") as f:
            f.attrs["ais_like_custom_model"] = self.kind
            f.attrs["format_version"] = FORMAT_VERSION
            f.attrs["config"] = json.dumps(self.config)
            for name, net in (("generator", self.generator), ("discriminator", self.discriminator)):
                g = f.create_group(name)
                for i, w in enumerate(net.get_weights()):
                    g.create_dataset(f"w{i:04d}", data=np.asarray(w))
                g.attrs["count"] = len(net.weights)
        return path

    @classmethod
    def load_h5(cls, path: str | os.PathLike, compile: bool = False) -> "Pix2Pix":
        import h5py

        with h5py.File(path, "r") as f:
            version = int(f.attrs.get("format_version", 0))
            if version > FORMAT_VERSION:
                raise InputError(f"{path}: Pix2pix file version {version} is newer than supported ({FORMAT_VERSION})")
            config = json.loads(f.attrs["config"])
            if not isinstance(config, dict):
                raise InputError(f"{path}: Pix2pix config is not a JSON object")
            weights = {}
            for name in ("generator", "discriminator"):
                g = f[name]
                weights[name] = [np.asarray(g[f"w{i:04d}"]) for i in range(int(g.attrs["count"]))]
        allowed = {"input_shape", "base", "depth", "disc_base", "adversarial_weight", "learning_rate",
                   "disc_learning_rate"}
        kwargs = {k: v for k, v in config.items() if k in allowed}
        input_shape = kwargs.pop("input_shape", (None, None, 1))
        model = cls(tuple(input_shape), **kwargs)
        for name, net in (("generator", model.generator), ("discriminator", model.discriminator)):
            expected = [tuple(w.shape) for w in net.weights]
            got = [tuple(w.shape) for w in weights[name]]
            if expected != got:
                raise InputError(f"{path}: Pix2pix {name} weights do not match its configuration")
            net.set_weights(weights[name])
        return model


def _segmentation_loss(out: dict) -> float:
    """The generator's segmentation term from ``combined.train_on_batch(..., return_dict=True)``."""
    for key, value in out.items():
        if "masked_bce_dice" in key or key.endswith("generator_loss") or key == "pix2pix_generator_loss":
            return float(value)
    # Keras names output losses after the output layers; fall back to the first non-total entry
    keys = [k for k in out if k != "loss"]
    return float(out[keys[0]] if keys else out["loss"])


CUSTOM_MODELS = {Pix2Pix.kind: Pix2Pix}
