"""UNet L: Ais's large UNet with batch normalisation (64 to 1024 filters, four pools, 38.8 M parameters).

Per level two 3x3 convolutions (64, 128, 256 then 512, 512), each followed by batch
normalisation, and a 2x2 max-pool; a 1024-filter bottom with dropout 0.5; up: a 2x2 stride-2
transposed convolution (512, 512, 128, 64), concatenation with the encoder's features, two
convolutions with batch normalisation; a 1x1 sigmoid head. Layer for layer Ais 1.2.40's "UNet L"
(including its third level, whose convolutions have 256 and 512 filters).
"""

title = "UNet L"
include = True
divisor = 16


def create(input_shape=(None, None, 1)):
    from ais_like.models._layers import L, conv_bn, image_input, model, pool, sigmoid_head, up

    inp = image_input(input_shape)
    x, skips = inp, []
    for f1, f2 in ((64, 64), (128, 128), (256, 512), (512, 512)):
        x = conv_bn(conv_bn(x, f1), f2)
        skips.append(x)
        x = pool(x)
    x = L.Dropout(0.5)(conv_bn(conv_bn(x, 1024), 1024))
    for f, skip in zip((512, 512, 128, 64), reversed(skips)):
        x = L.Concatenate()([up(x, f), skip])
        x = conv_bn(conv_bn(x, f), f)
    return model(inp, sigmoid_head(x), "unet_l")
