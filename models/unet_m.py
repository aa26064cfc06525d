"""UNet M: Ais's medium UNet with batch normalisation (32 to 512 filters, four pools, 7.77 M parameters).

Per level two 3x3 convolutions, each followed by batch normalisation, and a 2x2 max-pool;
a 512-filter bottom with dropout 0.25; up: a 2x2 stride-2 transposed convolution,
concatenation with the encoder's features, two convolutions with batch normalisation; a 1x1
sigmoid head. Layer for layer Ais 1.2.40's "UNet M".
"""

title = "UNet M"
include = True
divisor = 16


def create(input_shape=(None, None, 1)):
    from ais_like.models._layers import L, conv_bn, image_input, model, pool, sigmoid_head, up

    inp = image_input(input_shape)
    x, skips = inp, []
    for f in (32, 64, 128, 256):
        x = conv_bn(conv_bn(x, f), f)
        skips.append(x)
        x = pool(x)
    x = L.Dropout(0.25)(conv_bn(conv_bn(x, 512), 512))
    for f, skip in zip((256, 128, 64, 32), reversed(skips)):
        x = L.Concatenate()([up(x, f), skip])
        x = conv_bn(conv_bn(x, f), f)
    return model(inp, sigmoid_head(x), "unet_m")
