"""UNet encoder-decoder with skip connections, shared by UNet S and UNet L (not a plugin itself).

Per level: two 3x3 convolutions (ReLU), 2x2 max-pool; bottleneck; per level back up: 2x2
stride-2 transposed convolution, concatenation with the encoder's features at that level, two
3x3 convolutions; 1x1 sigmoid head. Input height and width must be multiples of 2**depth.
"""

from __future__ import annotations


def build(input_shape, base: int, depth: int, name: str, dropout: float = 0.0, learning_rate=None):
    """``depth`` levels from ``base`` filters; compiled with Adam(``learning_rate``) (the project
    default when None)."""
    from ais_like.models._legacy_blocks import conv_stack, head, inputs, keras, up
    from ais_like.training import compile_for_training

    L = keras.layers
    inp = inputs(input_shape)
    x = inp
    skips = []
    for level in range(depth):
        x = conv_stack(x, base * 2**level, 2)
        skips.append(x)
        x = L.MaxPooling2D(2)(x)
    x = conv_stack(x, base * 2**depth, 2)
    if dropout:
        x = L.Dropout(dropout)(x)
    for level in reversed(range(depth)):
        w = base * 2**level
        x = up(x, w)
        x = L.Concatenate()([x, skips[level]])
        x = conv_stack(x, w, 2)
    return compile_for_training(keras.Model(inp, head(x), name=name), learning_rate)
