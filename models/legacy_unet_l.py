"""UNet L: a larger UNet (4 levels, 32 to 512 filters, about 7.8 M parameters).

Encoder-decoder with skip connections (see ``models/_unet.py``), dropout at the bottleneck.


ais_like 0.1's own network titled "UNet L" (not Ais's network of that title, which
models/unet_l.py builds): models saved under the old title hold this one.
"""

title = "UNet L (ais_like 0.1)"
include = False  # kept so that models trained with it still open, retrain and say what they hold
divisor = 16
# No normalisation layers: Adam at 1e-3 blew the activations up (sigmoid saturated, loss flat
# at ~1.54) from 2 of 4 random initialisations on the demo data; at 3e-4 all 4 trained
# (benchmarks/RESULTS.md, "Default learning rates").
learning_rate = 3e-4


def create(input_shape=(None, None, 1)):
    from ais_like.models._legacy_unet import build

    return build(input_shape, base=32, depth=4, name="unet_l", dropout=0.2, learning_rate=learning_rate)
