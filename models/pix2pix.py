"""Pix2pix: a conditional GAN (UNet generator + PatchGAN discriminator), about 1.4 M parameters (generator 1.05 M).

Not a plain Keras model: ``create`` returns an ``ais_like.custom_model.Pix2Pix`` object, which
follows the custom-model contract documented there (predict, train_on_batch, save_h5, ...).
"""

title = "Pix2pix"
include = True
divisor = 16
learning_rate = 2e-4  # the generator's Adam (beta_1 0.5), as in the pix2pix paper


def create(input_shape=(None, None, 1)):
    from ais_like.custom_model import Pix2Pix

    return Pix2Pix(input_shape, learning_rate=learning_rate)
