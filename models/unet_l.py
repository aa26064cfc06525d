"""UNet L: a larger UNet (4 levels, 32 to 512 filters, about 7.8 M parameters).

Encoder-decoder with skip connections (see ``models/_unet.py``), dropout at the bottleneck.
"""

title = "UNet L"
include = True
divisor = 16
# No normalisation layers: Adam at 1e-3 blew the activations up (sigmoid saturated, loss flat
# at ~1.54) from 2 of 4 random initialisations on the demo data; at 3e-4 all 4 trained
# (benchmarks/RESULTS.md, "Default learning rates").
learning_rate = 3e-4


def create(input_shape=(None, None, 1)):
    from ais_like.models._unet import build

    return build(input_shape, base=32, depth=4, name="unet_l", dropout=0.2, learning_rate=learning_rate)
