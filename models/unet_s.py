"""UNet S: Ais's small UNet (one 3x3 convolution per level, 64 to 256 filters, two pools, 0.92 M parameters).

Down: a 3x3 convolution and a 2x2 max-pool per level; bottom: 256 filters; up: nearest-neighbour
2x upsampling, concatenation with the encoder's features of that level, one 3x3 convolution;
a 1x1 sigmoid head. Layer for layer Ais 1.2.40's "UNet S".
"""

title = "UNet S"
include = True
divisor = 4


def create(input_shape=(None, None, 1)):
    from ais_like.models._layers import L, conv, image_input, model, pool, sigmoid_head

    inp = image_input(input_shape)
    s1 = conv(inp, 64)
    s2 = conv(pool(s1), 128)
    x = conv(pool(s2), 256)
    x = conv(L.Concatenate()([L.UpSampling2D((2, 2))(x), s2]), 128)
    x = conv(L.Concatenate()([L.UpSampling2D((2, 2))(x), s1]), 64)
    return model(inp, sigmoid_head(x), "unet_s")
