"""Training a model on a training set (``ais_like.trainset.TrainingSet``).

``compile_for_training`` compiles a Keras model with Adam and a loss that ignores label 2;
architecture plugins call it from ``create``. ``train`` (below) runs the epochs.
"""

from __future__ import annotations

DEFAULT_LEARNING_RATE = 1e-3
DEFAULT_LOSS = "bce_dice"


def compile_for_training(model, learning_rate: float | None = DEFAULT_LEARNING_RATE, loss: str = DEFAULT_LOSS,
                         *, jit_compile="auto", steps_per_execution: int = 1):
    """Compile ``model`` with Adam(``learning_rate``) and a masked loss; returns the model.

    Parameters
    ----------
    model : keras.Model
    learning_rate : float, optional
        Adam's learning rate (``DEFAULT_LEARNING_RATE`` when None).
    loss : str
        "bce", "dice" or "bce_dice" (see ``ais_like.losses``); label 2 is ignored by all.
    jit_compile : bool or "auto"
        XLA compilation of the training step (TensorFlow / JAX backends).
    steps_per_execution : int
        Batches run per call into the backend (fewer Python round trips).
    """
    from .backend import keras
    from .losses import get_loss

    k = keras()
    lr = DEFAULT_LEARNING_RATE if learning_rate is None else float(learning_rate)
    if k.backend.backend() == "torch":
        jit_compile = False  # torch.compile is slower than eager for these small CPU runs
    model.compile(optimizer=k.optimizers.Adam(learning_rate=lr), loss=get_loss(loss),
                  jit_compile=jit_compile, steps_per_execution=steps_per_execution)
    return model
