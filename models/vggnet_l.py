"""VGGNet L, large: four pooling blocks (64 to 384 filters), about 13 M parameters.

VGG-style 3x3 convolution blocks with 2x2 max-pools, then transposed convolutions back to full
size and a sigmoid head (see models/_vgg.py).
"""

title = "VGGNet L"
include = True
divisor = 16
# No normalisation layers, 21 convolutions deep: Adam at 1e-3 blew the activations up (sigmoid
# saturated, loss flat at ~1.54) from 4 of 4 random initialisations on the demo data, at 3e-4
# from 1 of 4; at 1e-4 all 4 trained (benchmarks/RESULTS.md, "Default learning rates").
learning_rate = 1e-4


def create(input_shape=(None, None, 1)):
    from ais_like.models._vgg import build

    return build(input_shape, widths=[64, 128, 256, 384], convs=[2, 2, 3, 3], bottleneck=384, decoder_convs=2, name="vggnet_l",
                 learning_rate=learning_rate)
