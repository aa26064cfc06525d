"""VGGNet M: Ais's default network, a VGG encoder-decoder (128 to 512 filters, three pools, 5.05 M parameters).

Two 3x3 convolutions per block, 2x2 max-pools, then per pool a 2x2 stride-2 transposed
convolution (linear) and one 3x3 convolution (128, 64), the last transposed convolution down to
one channel and a 1x1 sigmoid head. Layer for layer Ais 1.2.40's "VGGNet M".
"""

title = "VGGNet M"
include = True
divisor = 8


def create(input_shape=(None, None, 1)):
    from ais_like.models._layers import conv, image_input, model, pool, sigmoid_head, up

    inp = image_input(input_shape)
    x = inp
    for f in (128, 256, 512):
        x = pool(conv(conv(x, f), f))
    x = conv(up(x, 128), 128)
    x = conv(up(x, 64), 64)
    return model(inp, sigmoid_head(up(x, 1)), "vggnet_m")
