"""InceptionNet: Ais's three inception modules at full resolution (four 64-filter branches each, 0.55 M parameters).

Each module concatenates a 1x1 convolution, 1x1 -> 3x3, 1x1 -> 5x5 and 3x3 max-pool (stride 1)
-> 1x1, all ReLU; no pooling between modules. A 1x1 sigmoid head ('same' padding, as Ais has
it). Layer for layer Ais 1.2.40's "InceptionNet".
"""

title = "InceptionNet"
include = True
divisor = 1


def _module(x):
    from ais_like.models._layers import L, conv

    b1 = conv(x, 64, 1)
    b2 = conv(conv(x, 64, 1), 64, 3)
    b3 = conv(conv(x, 64, 1), 64, 5)
    b4 = conv(L.MaxPooling2D((3, 3), strides=(1, 1), padding="same")(x), 64, 1)
    return L.Concatenate()([b1, b2, b3, b4])


def create(input_shape=(None, None, 1)):
    from ais_like.models._layers import image_input, model, sigmoid_head

    inp = image_input(input_shape)
    x = _module(_module(_module(inp)))
    return model(inp, sigmoid_head(x, padding="same"), "inceptionnet")
