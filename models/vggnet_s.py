"""VGGNet S: Ais's small VGG encoder-decoder (64 to 256 filters, three pools, 1.49 M parameters).

Two 3x3 convolutions per block, 2x2 max-pools, then per pool a 2x2 stride-2 transposed
convolution (linear) and one 3x3 convolution, the last transposed convolution down to one
channel and a 1x1 sigmoid head. Layer for layer Ais 1.2.40's "VGGNet S".
"""

title = "VGGNet S"
include = True
divisor = 8


def create(input_shape=(None, None, 1)):
    from ais_like.models._layers import conv, image_input, model, pool, sigmoid_head, up

    inp = image_input(input_shape)
    x = inp
    for f in (64, 128, 256):
        x = pool(conv(conv(x, f), f))
    x = conv(up(x, 128), 128)
    x = conv(up(x, 64), 64)
    return model(inp, sigmoid_head(up(x, 1)), "vggnet_s")
