"""VGG-style encoder-decoder shared by the VGGNet S / M / L plugins (not a plugin itself).

Encoder: blocks of 3x3 convolutions (ReLU) each followed by a 2x2 max-pool; a bottleneck of
3x3 convolutions; decoder: per pool one 2x2 stride-2 transposed convolution and
``decoder_convs`` 3x3 convolutions; 1x1 sigmoid head. No skip connections (that is what
distinguishes it from UNet).
"""

from __future__ import annotations


def build(input_shape, widths, convs, bottleneck, decoder_convs, name, learning_rate=None):
    """widths[i] filters and convs[i] convolutions in encoder block i (one pool per block);
    compiled with Adam(``learning_rate``) (the project default when None)."""
    from ais_like.models._legacy_blocks import conv_stack, head, inputs, keras, up
    from ais_like.training import compile_for_training

    inp = inputs(input_shape)
    x = inp
    for w, n in zip(widths, convs):
        x = conv_stack(x, w, n)
        x = keras.layers.MaxPooling2D(2)(x)
    x = conv_stack(x, bottleneck, 2)
    for w in reversed(widths):
        x = up(x, w)
        x = conv_stack(x, w, decoder_convs)
    return compile_for_training(keras.Model(inp, head(x), name=name), learning_rate)
