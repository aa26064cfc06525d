"""UNet S: a small UNet (3 levels, 16 to 128 filters, about 0.47 M parameters).

Encoder-decoder with skip connections (see ``models/_unet.py``).
"""

title = "UNet S"
include = True
divisor = 8


def create(input_shape=(None, None, 1)):
    from ais_like.models._unet import build

    return build(input_shape, base=16, depth=3, name="unet_s")
