"""EMAN2's tomogram CNN: three 15x15 convolutions (40, 40, 1 kernels), one 2x2 max-pool, upsampled back.

The layer order and shapes are exactly those of Ais's / EMAN2's "Eman2" model (378,081
parameters), so the weights of an Ais Eman2 model copy over one for one.
"""

title = "Eman2"
include = True
divisor = 2


def create(input_shape=(None, None, 1)):
    from ais_like.backend import keras
    from ais_like.training import compile_for_training

    k = keras()
    L = k.layers
    inp = k.Input(shape=tuple(input_shape), name="image")
    x = L.Conv2D(40, 15, padding="same", activation="relu")(inp)
    x = L.MaxPooling2D(2)(x)
    x = L.Conv2D(40, 15, padding="same", activation="relu")(x)
    x = L.Conv2D(1, 15, padding="same", activation="sigmoid")(x)
    out = L.UpSampling2D(2, interpolation="nearest")(x)
    return compile_for_training(k.Model(inp, out, name="eman2"))
