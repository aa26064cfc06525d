"""VGGNet X: Ais's extra-deep VGG encoder-decoder with batch normalisation (64 to 1024 filters, five pools, 38.4 M parameters).

Per block two 3x3 convolutions, each followed by batch normalisation, and a 2x2 max-pool;
dropout 0.25; per pool a 2x2 stride-2 transposed convolution, a 3x3 convolution and batch
normalisation; a 1x1 sigmoid head. Layer for layer Ais 1.2.40's "VGGNet X".
"""

title = "VGGNet X"
include = True
divisor = 32


def create(input_shape=(None, None, 1)):
    from ais_like.models._layers import L, conv_bn, image_input, model, pool, sigmoid_head, up

    inp = image_input(input_shape)
    x = inp
    for f in (64, 128, 256, 512, 1024):
        x = pool(conv_bn(conv_bn(x, f), f))
    x = L.Dropout(0.25)(x)
    for f in (1024, 512, 256, 128, 64):
        x = conv_bn(up(x, f), f)
    return model(inp, sigmoid_head(x), "vggnet_x")
