"""Pix2pix: Ais's conditional GAN, a UNet generator of 4x4 convolutions (16.66 M parameters) and a PatchGAN critic.

Not a plain Keras model: ``create`` returns an ``ais_like.custom_model.Pix2Pix`` object (the
custom-model contract documented there). Its generator is layer for layer Ais 1.2.40's, and its
file is the generator in Keras 2's layout, as Ais saves a Pix2pix (plus our discriminator,
which Ais ignores).
"""

title = "Pix2pix"
include = True
divisor = 32
learning_rate = 2e-4  # the generator's Adam (beta_1 0.5), as in the pix2pix paper and in Ais


def create(input_shape=(None, None, 1)):
    from ais_like.custom_model import Pix2Pix

    return Pix2Pix(input_shape, learning_rate=learning_rate)
