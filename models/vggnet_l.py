"""VGGNet L: Ais's large VGG encoder-decoder with batch normalisation (128 to 1024 filters, four pools, 38.2 M parameters).

Per block two 3x3 convolutions, each followed by batch normalisation, and a 2x2 max-pool;
dropout 0.25; per pool a 2x2 stride-2 transposed convolution, a 3x3 convolution and batch
normalisation; a 1x1 sigmoid head. Layer for layer Ais 1.2.40's "VGGNet L".
"""

title = "VGGNet L"
include = True
divisor = 16


def create(input_shape=(None, None, 1)):
    from ais_like.models._layers import L, conv_bn, image_input, model, pool, sigmoid_head, up

    inp = image_input(input_shape)
    x = inp
    for f in (128, 256, 512, 1024):
        x = pool(conv_bn(conv_bn(x, f), f))
    x = L.Dropout(0.25)(x)
    for f in (1024, 512, 256, 128):
        x = conv_bn(up(x, f), f)
    return model(inp, sigmoid_head(x), "vggnet_l")
