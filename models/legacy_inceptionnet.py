"""InceptionNet: inception modules in a two-level encoder-decoder (about 0.15 M parameters).

Each inception module runs four branches in parallel and concatenates them: a 1x1 convolution,
1x1 -> 3x3, 1x1 -> 3x3 -> 3x3 (a 5x5 receptive field) and 3x3 max-pool -> 1x1. Two 2x2
max-pools down, transposed convolutions back up with skip concatenations, 1x1 sigmoid head.


ais_like 0.1's own network titled "InceptionNet" (not Ais's network of that title, which
models/inceptionnet.py builds): models saved under the old title hold this one.
"""

title = "InceptionNet (ais_like 0.1)"
include = False  # kept so that models trained with it still open, retrain and say what they hold
divisor = 4


def _inception(x, f):
    """Four branches of ``f`` output channels each (4 * f channels out)."""
    from ais_like.models._legacy_blocks import conv, keras

    L = keras.layers
    b1 = conv(x, f, 1)
    b2 = conv(conv(x, f, 1), f, 3)
    b3 = conv(conv(conv(x, f // 2, 1), f, 3), f, 3)
    b4 = conv(L.MaxPooling2D(3, strides=1, padding="same")(x), f, 1)
    return L.Concatenate()([b1, b2, b3, b4])


def create(input_shape=(None, None, 1)):
    from ais_like.models._legacy_blocks import conv, head, inputs, keras, up
    from ais_like.training import compile_for_training

    L = keras.layers
    inp = inputs(input_shape)
    x = conv(inp, 32, 3)
    s1 = x = _inception(x, 8)  # 32 channels
    x = L.MaxPooling2D(2)(x)
    s2 = x = _inception(_inception(x, 16), 16)  # 64
    x = L.MaxPooling2D(2)(x)
    x = _inception(_inception(x, 32), 32)  # 128
    x = L.Concatenate()([up(x, 64), s2])
    x = _inception(x, 16)
    x = L.Concatenate()([up(x, 32), s1])
    x = _inception(x, 8)
    return compile_for_training(keras.Model(inp, head(x), name="inceptionnet"))
