"""VGGNet S, small: two pooling blocks (32, 64 filters), about 0.37 M parameters.

VGG-style 3x3 convolution blocks with 2x2 max-pools, then transposed convolutions back to full
size and a sigmoid head (see models/_vgg.py).


ais_like 0.1's own network titled "VGGNet S" (not Ais's network of that title, which
models/vggnet_s.py builds): models saved under the old title hold this one.
"""

title = "VGGNet S (ais_like 0.1)"
include = False  # kept so that models trained with it still open, retrain and say what they hold
divisor = 4


def create(input_shape=(None, None, 1)):
    from ais_like.models._legacy_vgg import build

    return build(input_shape, widths=[32, 64], convs=[2, 2], bottleneck=128, decoder_convs=1, name="vggnet_s")
