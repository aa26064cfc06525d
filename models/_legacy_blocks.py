"""Building blocks shared by the built-in architecture plugins (not a plugin itself).

Everything here is backend-agnostic Keras 3 (``keras.layers``); shapes are channels-last
(batch, height, width, channels). The ais_like 0.1 networks (models/legacy_*.py) import this as ``ais_like.models._legacy_blocks``.
"""

from __future__ import annotations

from ais_like.backend import keras as _keras

keras = _keras()
layers = keras.layers


def conv(x, filters: int, kernel: int = 3, activation="relu", name=None, **kw):
    """A 'same'-padded convolution with He initialisation."""
    return layers.Conv2D(filters, kernel, padding="same", activation=activation,
                         kernel_initializer="he_normal", name=name, **kw)(x)


def conv_stack(x, filters: int, n: int = 2, kernel: int = 3):
    for _ in range(n):
        x = conv(x, filters, kernel)
    return x


def up(x, filters: int):
    """Double height and width with a 2x2 stride-2 transposed convolution."""
    return layers.Conv2DTranspose(filters, 2, strides=2, padding="same", activation="relu",
                                  kernel_initializer="he_normal")(x)


def head(x):
    """The 1x1 sigmoid output layer (probability of the feature per pixel)."""
    return layers.Conv2D(1, 1, padding="same", activation="sigmoid", name="probability")(x)


def inputs(input_shape):
    return keras.Input(shape=tuple(input_shape), name="image")
