"""VGGNet L, large: four pooling blocks (64 to 384 filters), about 13 M parameters.

VGG-style 3x3 convolution blocks with 2x2 max-pools, then transposed convolutions back to full
size and a sigmoid head (see models/_vgg.py).


ais_like 0.1's own network titled "VGGNet L" (not Ais's network of that title, which
models/vggnet_l.py builds): models saved under the old title hold this one.
"""

title = "VGGNet L (ais_like 0.1)"
include = False  # kept so that models trained with it still open, retrain and say what they hold
divisor = 16
# No normalisation layers, 21 convolutions deep: Adam at 1e-3 blew the activations up (sigmoid
# saturated, loss flat at ~1.54) from 4 of 4 random initialisations on the demo data, at 3e-4
# from 1 of 4; at 1e-4 all 4 trained (benchmarks/RESULTS.md, "Default learning rates").
learning_rate = 1e-4


def create(input_shape=(None, None, 1)):
    from ais_like.models._legacy_vgg import build

    return build(input_shape, widths=[64, 128, 256, 384], convs=[2, 2, 3, 3], bottleneck=384, decoder_convs=2, name="vggnet_l",
                 learning_rate=learning_rate)
