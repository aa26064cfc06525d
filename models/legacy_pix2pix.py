"""Pix2pix (ais_like 0.1): ais_like 0.1's own smaller conditional GAN (generator 1.05 M parameters).

ais_like 0.1's network titled "Pix2pix" (not Ais's, which models/pix2pix.py builds): Pix2pix
files of format 1 hold this one. Ais cannot open them.
"""

title = "Pix2pix (ais_like 0.1)"
include = False  # kept so that models trained with it still open, retrain and say what they hold
divisor = 16
learning_rate = 2e-4


def create(input_shape=(None, None, 1)):
    from ais_like.custom_model import Pix2Pix

    return Pix2Pix(input_shape, network="ais_like-0.1", learning_rate=learning_rate)
