"""ezm-2d-dice: Ais's easymode 2D UNet (batch normalisation, 64 to 1024 filters, 43.6 M parameters), trained with masked Dice.

The network of models/_ezm2d.py, layer for layer Ais 1.2.40's "ezm-2d-dice". A network for GPUs: on
a 2-core CPU one epoch takes minutes, so it is listed with `ais-like models --all`.
"""

title = "ezm-2d-dice"
include = False
divisor = 16
learning_rate = 5e-5  # Ais's
loss = "dice"


def create(input_shape=(None, None, 1)):
    from ais_like.models._ezm2d import build

    return build(input_shape, "ezm_2d_dice", loss, learning_rate)
