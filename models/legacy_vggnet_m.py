"""VGGNet M, medium: three pooling blocks (64, 128, 256 filters), 4.9 M parameters (Ais: 5.05 M).

VGG-style 3x3 convolution blocks with 2x2 max-pools, then transposed convolutions back to full
size and a sigmoid head (see models/_vgg.py).


ais_like 0.1's own network titled "VGGNet M" (not Ais's network of that title, which
models/vggnet_m.py builds): models saved under the old title hold this one.
"""

title = "VGGNet M (ais_like 0.1)"
include = False  # kept so that models trained with it still open, retrain and say what they hold
divisor = 8
# Without normalisation layers, 17 convolutions deep, Adam at 1e-3 blew the activations up
# (to ~1e8, sigmoid saturated, loss flat at ~1.54 for good) within the first few batches from
# 10 of 14 random initialisations on the demo data (benchmarks/RESULTS.md, "Default learning
# rates").
learning_rate = 3e-4


def create(input_shape=(None, None, 1)):
    from ais_like.models._legacy_vgg import build

    return build(input_shape, widths=[64, 128, 256], convs=[2, 2, 3], bottleneck=256, decoder_convs=2, name="vggnet_m",
                 learning_rate=learning_rate)
