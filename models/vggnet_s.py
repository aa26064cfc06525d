"""VGGNet S, small: two pooling blocks (32, 64 filters), about 0.37 M parameters.

VGG-style 3x3 convolution blocks with 2x2 max-pools, then transposed convolutions back to full
size and a sigmoid head (see models/_vgg.py).
"""

title = "VGGNet S"
include = True
divisor = 4


def create(input_shape=(None, None, 1)):
    from ais_like.models._vgg import build

    return build(input_shape, widths=[32, 64], convs=[2, 2], bottleneck=128, decoder_convs=1, name="vggnet_s")
