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
  from hyper-parameters or a checked model configuration stored as JSON and weights are read as
  plain arrays (no code, no pickle).

Pix2pix files
-------------
Ais 1.2.40 saves a Pix2pix model as its generator alone, a plain Keras 2 model file. ais_like's
Pix2pix (format 2) writes the same file: the generator (Ais's network, layer for layer) in Keras
2's HDF5 layout, which Ais opens as its own, plus the discriminator's weights in a group of
their own (``ais_like_discriminator``) that Keras ignores. An Ais Pix2pix file opens here as
a Pix2pix with a fresh discriminator (:meth:`Pix2Pix.from_generator`). Files of format 1 hold
ais_like 0.1's smaller generator ("Pix2pix (ais_like 0.1)") and still open.

Only Keras 3 public APIs are used (``keras.layers``, ``keras.ops``, ``train_on_batch``), so these
run on every Keras backend.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from .errors import InputError
from .h5read import check_model_config, read_h5_weights, read_model_config
from .keras2h5 import write_keras2_h5
from .kerasconfig import build_model, set_weights_by_name

FORMAT_VERSION = 2  # 1: ais_like 0.1's own networks; 2: Ais's generator in Keras 2's layout
DISCRIMINATOR_GROUP = "ais_like_discriminator"


def _keras():
    from .backend import keras

    return keras()


def _legacy_generator(input_shape, base: int, depth: int):
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


def _legacy_discriminator(input_shape, base: int):
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


def ais_generator(input_shape):
    """Ais 1.2.40's Pix2pix generator (16.66 M parameters), layer for layer: five 4x4 stride-2
    convolutions (64, 128, 256, 512, 512; LeakyReLU 0.2, batch normalisation with momentum 0.8
    after all but the first), then four times 2x upsampling, a 4x4 ReLU convolution, batch
    normalisation and concatenation with the encoder's features, a last upsampling and a 4x4
    sigmoid convolution. Height and width must be multiples of 32."""
    k = _keras()
    L = k.layers

    def down(x, filters, bn=True):
        x = L.LeakyReLU(negative_slope=0.2)(L.Conv2D(filters, 4, strides=2, padding="same")(x))
        return L.BatchNormalization(momentum=0.8)(x) if bn else x

    def upc(x, skip, filters):
        x = L.Conv2D(filters, 4, strides=1, padding="same", activation="relu")(L.UpSampling2D(size=2)(x))
        return L.Concatenate(axis=-1)([L.BatchNormalization(momentum=0.8)(x), skip])

    d0 = k.Input(shape=tuple(input_shape))
    d1 = down(d0, 64, bn=False)
    d2 = down(d1, 128)
    d3 = down(d2, 256)
    d4 = down(d3, 512)
    d5 = down(d4, 512)
    u = upc(upc(upc(upc(d5, d4, 512), d3, 256), d2, 128), d1, 64)
    out = L.Conv2D(1, 4, strides=1, padding="same", activation="sigmoid")(L.UpSampling2D(size=2)(u))
    return k.Model(d0, out, name="pix2pix_generator")


def ais_discriminator(input_shape):
    """A PatchGAN of Ais's widths on (image, probability map) pairs: four 4x4 stride-2
    convolutions (64 to 512, LeakyReLU 0.2, batch normalisation after all but the first) and a
    4x4 sigmoid convolution, one real/fake probability per patch. (Ais never saves its
    discriminator; ours is stored beside the generator so that training can resume.)"""
    k = _keras()
    L = k.layers
    h, w, c = input_shape
    inp = k.Input(shape=(h, w, c + 1), name="image_and_map")
    x = inp
    for i, f in enumerate((64, 128, 256, 512)):
        x = L.LeakyReLU(negative_slope=0.2)(L.Conv2D(f, 4, strides=2, padding="same")(x))
        if i:
            x = L.BatchNormalization(momentum=0.8)(x)
    out = L.Conv2D(1, 4, padding="same", activation="sigmoid")(x)
    return k.Model(inp, out, name="pix2pix_discriminator")


class Pix2Pix:
    """A conditional GAN for segmentation (Isola et al. 2017): UNet generator + PatchGAN critic.

    The generator maps an image to a probability map; the discriminator sees (image, map) pairs
    and tells annotated maps from generated ones, patch by patch. Training alternates one
    discriminator step (real and generated maps; ignored pixels of the real map are filled with
    the generator's own prediction so they carry no information) and one generator step on
    ``masked BCE + Dice (label 2 ignored) + adversarial_weight * adversarial BCE``.

    ``network="ais"`` (the default) is Ais 1.2.40's generator (:func:`ais_generator`);
    ``network="ais_like-0.1"`` is the smaller generator of ais_like 0.1 (``base``, ``depth``,
    ``disc_base``), kept for its files. The loss reported by ``train_on_batch`` / ``evaluate`` is
    the generator's segmentation loss (masked BCE + Dice), so it compares with the other
    architectures' losses. ``count_params`` counts the generator, as Ais does.
    """

    kind = "pix2pix"

    def __init__(self, input_shape=(None, None, 1), *, network: str = "ais", generator=None, base: int = 16,
                 depth: int = 4, disc_base: int = 32, adversarial_weight: float = 0.05,
                 learning_rate: float = 2e-4, disc_learning_rate: float = 2e-4):
        if network not in ("ais", "ais_like-0.1"):
            raise InputError(f"unknown Pix2pix network {network!r}")
        self.config = {"network": network, "input_shape": list(input_shape),
                       "adversarial_weight": float(adversarial_weight),
                       "learning_rate": float(learning_rate), "disc_learning_rate": float(disc_learning_rate)}
        if network == "ais_like-0.1":
            self.config.update(base=int(base), depth=int(depth), disc_base=int(disc_base))
        k = _keras()
        from .losses import get_loss

        in_shape = tuple(None if v is None else int(v) for v in input_shape)
        if network == "ais":
            self.generator = generator if generator is not None else ais_generator(in_shape)
            self.discriminator = ais_discriminator(in_shape)
        else:
            self.generator = _legacy_generator(in_shape, base, depth)
            self.discriminator = _legacy_discriminator(in_shape, disc_base)
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

    @classmethod
    def from_generator(cls, generator) -> "Pix2Pix":
        """A Pix2pix around a loaded generator (Ais's file holds nothing else), with a fresh discriminator."""
        return cls((None, None, int(generator.input_shape[-1])), generator=generator)

    @property
    def ais_loadable(self) -> bool:
        """Whether Ais opens this model's file (its generator is Ais's network)."""
        return self.config["network"] == "ais"

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
        """The generator's parameters (what segments; Ais counts the same)."""
        return int(self.generator.count_params())

    # ---- files -----------------------------------------------------------------------------
    def save_h5(self, path: str | os.PathLike) -> Path:
        import h5py

        path = Path(path)
        if self.config["network"] == "ais":
            write_keras2_h5(self.generator, path)  # what Ais writes and loads: the generator
            mode = "a"
        else:
            mode = "w"
        with h5py.File(path, mode) as f:
            f.attrs["ais_like_custom_model"] = self.kind
            f.attrs["format_version"] = FORMAT_VERSION if self.config["network"] == "ais" else 1
            f.attrs["config"] = json.dumps(self.config)
            nets = [(DISCRIMINATOR_GROUP, self.discriminator)]
            if self.config["network"] != "ais":
                nets = [("generator", self.generator), ("discriminator", self.discriminator)]
            for name, net in nets:
                g = f.create_group(name)
                for i, w in enumerate(net.get_weights()):
                    g.create_dataset(f"w{i:04d}", data=np.asarray(w))
                g.attrs["count"] = len(net.weights)
        return path

    @classmethod
    def load_h5(cls, path: str | os.PathLike, source: str | None = None) -> "Pix2Pix":
        import h5py

        name = source or str(path)
        with h5py.File(path, "r") as f:
            version = int(f.attrs.get("format_version", 0))
            if version > FORMAT_VERSION:
                raise InputError(f"{name}: Pix2pix file version {version} is newer than supported ({FORMAT_VERSION})")
            try:
                config = json.loads(f.attrs["config"])
            except (KeyError, ValueError, TypeError, RecursionError):
                raise InputError(f"{name}: the Pix2pix configuration is missing or not JSON") from None
            if not isinstance(config, dict):
                raise InputError(f"{name}: Pix2pix config is not a JSON object")
            groups = ("generator", "discriminator") if version <= 1 else (DISCRIMINATOR_GROUP,)
            weights = {}
            for group in groups:
                if group not in f or "count" not in f[group].attrs:
                    raise InputError(f"{name}: the Pix2pix file has no {group} weights")
                g = f[group]
                weights[group] = [np.asarray(g[f"w{i:04d}"]) for i in range(int(g.attrs["count"]))]
        allowed = {"input_shape", "base", "depth", "disc_base", "adversarial_weight", "learning_rate",
                   "disc_learning_rate"}
        kwargs = {k: v for k, v in config.items() if k in allowed}
        input_shape = kwargs.pop("input_shape", (None, None, 1))
        if version <= 1:
            model = cls(tuple(input_shape), network="ais_like-0.1", **kwargs)
            nets = (("generator", model.generator), ("discriminator", model.discriminator))
        else:
            gconfig = read_model_config(path, name)
            if gconfig is None:
                raise InputError(f"{name}: the Pix2pix file has no generator configuration")
            check_model_config(gconfig, name)
            generator = build_model(gconfig, name)
            set_weights_by_name(generator, read_h5_weights(path, name), name)
            for key in ("base", "depth", "disc_base"):
                kwargs.pop(key, None)
            model = cls(tuple(input_shape), generator=generator, **kwargs)
            nets = ((DISCRIMINATOR_GROUP, model.discriminator),)
        for group, net in nets:
            expected = [tuple(w.shape) for w in net.weights]
            got = [tuple(w.shape) for w in weights[group]]
            if expected != got:
                raise InputError(f"{name}: Pix2pix {group} weights do not match its configuration")
            net.set_weights(weights[group])
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
