"""The ezm-2d network shared by Ais's three "ezm-2d" titles (not a plugin itself).

A 2D UNet with batch normalisation after every convolution: four levels of three 3x3
convolutions (64 to 512 filters) with 2x2 max-pools, a 1024-filter bottom of three with dropout
0.25, then per level a 2x2 stride-2 transposed convolution, concatenation with the encoder's
features and two convolutions; a 1x1 sigmoid head (43.6 M parameters). The three titles differ
only in the loss Ais trains them with.
"""

from __future__ import annotations

def build(input_shape, name: str, loss: str, learning_rate: float):
    from ais_like.models._layers import L, conv_bn, image_input, model, pool, sigmoid_head, up

    inp = image_input(input_shape)
    x, skips = inp, []
    for f in (64, 128, 256, 512):
        x = conv_bn(conv_bn(conv_bn(x, f), f), f)
        skips.append(x)
        x = pool(x)
    x = L.Dropout(0.25)(conv_bn(conv_bn(conv_bn(x, 1024), 1024), 1024))
    for f, skip in zip((512, 256, 128, 64), reversed(skips)):
        x = L.Concatenate()([up(x, f), skip])
        x = conv_bn(conv_bn(x, f), f)
    return model(inp, sigmoid_head(x), name, learning_rate=learning_rate, loss=loss)
