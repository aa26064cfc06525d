"""Layers as Ais 1.2.40's networks use them (not a plugin itself).

Ais builds its networks from ``tf.keras`` layers at their default settings (Glorot-uniform
kernels, zero biases, batch normalisation with momentum 0.99 and epsilon 1e-3), so the helpers
here set only what Ais sets. Each Ais plugin in this folder is written from the network
description in ``shared/data/real/ais_architectures`` (Keras 2's ``model.to_json()`` of what Ais
builds); ``tests/test_ais_fidelity.py`` compares every layer, setting and connection with it.
Backend-agnostic Keras 3 only (``keras.layers``).
"""

from __future__ import annotations

from ais_like.backend import keras as _keras

keras = _keras()
L = keras.layers


def image_input(input_shape):
    return keras.Input(shape=tuple(input_shape))


def conv(x, filters: int, kernel: int = 3, activation: str = "relu", padding: str = "same", strides: int = 1):
    return L.Conv2D(filters, kernel, strides=strides, padding=padding, activation=activation)(x)


def conv_bn(x, filters: int, kernel: int = 3):
    """A 'same' 3x3 ReLU convolution followed by batch normalisation (Ais's L / X / M blocks)."""
    return L.BatchNormalization()(conv(x, filters, kernel))


def pool(x):
    return L.MaxPooling2D((2, 2))(x)


def up(x, filters: int):
    """Ais's 2x2 stride-2 transposed convolution, linear."""
    return L.Conv2DTranspose(filters, (2, 2), strides=(2, 2), padding="same")(x)


def sigmoid_head(x, padding: str = "valid"):
    """The 1x1 sigmoid output convolution (Ais leaves its padding at 'valid', except InceptionNet)."""
    return conv(x, 1, 1, activation="sigmoid", padding=padding)


def model(inputs, outputs, name: str, learning_rate: float | None = None, loss: str | None = None):
    """The functional model, compiled for training with ais_like's masked loss."""
    from ais_like.training import compile_for_training

    m = keras.Model(inputs, outputs, name=name)
    if loss is None:
        return compile_for_training(m, learning_rate)
    return compile_for_training(m, learning_rate, loss=loss)
