"""ResNet: residual blocks in a two-level encoder-decoder (32 to 128 filters, about 1.1 M parameters).

A 5x5 stem, residual blocks (two 3x3 convolutions plus an identity or 1x1 shortcut) at full,
half and quarter resolution (stride-2 convolutions down), transposed convolutions back up with
the encoder's features added (additive skips), 1x1 sigmoid head.


ais_like 0.1's own network titled "ResNet" (not Ais's network of that title, which
models/resnet.py builds): models saved under the old title hold this one.
"""

title = "ResNet (ais_like 0.1)"
include = False  # kept so that models trained with it still open, retrain and say what they hold
divisor = 4


def _block(x, filters, strides=1):
    from ais_like.models._legacy_blocks import keras

    L = keras.layers
    shortcut = x
    y = L.Conv2D(filters, 3, strides=strides, padding="same", activation="relu", kernel_initializer="he_normal")(x)
    # zero-initialised last convolution: each block starts as its shortcut (keeps activations
    # bounded without batch normalisation, which would behave differently on whole slices)
    y = L.Conv2D(filters, 3, padding="same", kernel_initializer="zeros")(y)
    if strides != 1 or x.shape[-1] != filters:
        shortcut = L.Conv2D(filters, 1, strides=strides, padding="same", kernel_initializer="he_normal")(x)
    return L.Activation("relu")(L.Add()([y, shortcut]))


def create(input_shape=(None, None, 1)):
    from ais_like.models._legacy_blocks import conv, head, inputs, keras, up
    from ais_like.training import compile_for_training

    L = keras.layers
    inp = inputs(input_shape)
    x = conv(inp, 32, 5)
    s1 = x = _block(_block(x, 32), 32)
    s2 = x = _block(_block(x, 64, strides=2), 64)
    x = _block(_block(x, 128, strides=2), 128)
    x = _block(x, 128)
    x = L.Add()([up(x, 64), s2])
    x = _block(x, 64)
    x = L.Add()([up(x, 32), s1])
    x = _block(x, 32)
    return compile_for_training(keras.Model(inp, head(x), name="resnet"))
