"""ResNet: Ais's residual network at full resolution (four residual blocks of 32 to 256 filters, 1.22 M parameters).

Each block: two linear 3x3 convolutions, added to a linear 1x1 projection of the block's input,
then ReLU. No pooling: every block sees the whole slice at full resolution. A 1x1 sigmoid head.
Layer for layer Ais 1.2.40's "ResNet".
"""

title = "ResNet"
include = True
divisor = 1


def _block(x, filters):
    from ais_like.models._layers import L, conv

    y = conv(conv(x, filters, activation="linear"), filters, activation="linear")
    shortcut = conv(x, filters, 1, activation="linear")
    return L.Activation("relu")(L.Add()([shortcut, y]))


def create(input_shape=(None, None, 1)):
    from ais_like.models._layers import image_input, model, sigmoid_head

    inp = image_input(input_shape)
    x = inp
    for f in (32, 64, 128, 256):
        x = _block(x, f)
    return model(inp, sigmoid_head(x), "resnet")
