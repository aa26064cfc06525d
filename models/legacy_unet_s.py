"""UNet S: a small UNet (3 levels, 16 to 128 filters, about 0.47 M parameters).

Encoder-decoder with skip connections (see ``models/_unet.py``).


ais_like 0.1's own network titled "UNet S" (not Ais's network of that title, which
models/unet_s.py builds): models saved under the old title hold this one.
"""

title = "UNet S (ais_like 0.1)"
include = False  # kept so that models trained with it still open, retrain and say what they hold
divisor = 8


def create(input_shape=(None, None, 1)):
    from ais_like.models._legacy_unet import build

    return build(input_shape, base=16, depth=3, name="unet_s")
