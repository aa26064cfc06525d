"""Losses that ignore label 2: masked binary cross-entropy, masked Dice and their sum.

Labels follow ``ais_like.trainset``: 0 = background, 1 = feature, 2 = ignore. Pixels labelled 2
contribute nothing to the loss or its gradient. Each loss is averaged over the counted pixels of
the whole batch (not per tile), so a tile that is mostly "ignore" weighs by what it has.

The classes are registered as Keras serialisables (package ``ais_like``) so that a compiled model
saved with them loads again; they use ``keras.ops`` only and run on every Keras backend.
Importing this module imports Keras (it is imported only where a model is built or loaded).

``get_loss(name)`` maps the names used on the command line and in ``compile_for_training``
("bce", "dice", "bce_dice") to loss objects.
"""

from __future__ import annotations

from .backend import keras as _keras

keras = _keras()
ops = keras.ops

IGNORE = 2
_EPS = 1e-7


def _split(y_true, y_pred):
    """(target 0/1, mask 1 where counted, prediction in [eps, 1-eps]) as float32 tensors."""
    y_true = ops.cast(y_true, "float32")
    y_pred = ops.cast(y_pred, "float32")
    if len(y_true.shape) == len(y_pred.shape) - 1:
        y_true = ops.expand_dims(y_true, -1)
    mask = ops.cast(ops.less(y_true, 1.5), "float32")
    target = y_true * mask
    return target, mask, ops.clip(y_pred, _EPS, 1.0 - _EPS)


def masked_bce(y_true, y_pred):
    """Binary cross-entropy averaged over the pixels whose label is not 2 (a scalar)."""
    t, m, p = _split(y_true, y_pred)
    bce = -(t * ops.log(p) + (1.0 - t) * ops.log(1.0 - p))
    return ops.sum(bce * m) / ops.maximum(ops.sum(m), 1.0)


def masked_dice(y_true, y_pred, smooth: float = 1.0):
    """Soft Dice loss 1 - (2|P.T| + s) / (|P| + |T| + s) over the counted pixels of the batch."""
    t, m, p = _split(y_true, y_pred)
    inter = ops.sum(p * t * m)
    denom = ops.sum(p * m) + ops.sum(t * m)
    return 1.0 - (2.0 * inter + smooth) / (denom + smooth)


@keras.saving.register_keras_serializable(package="ais_like")
class MaskedBinaryCrossentropy(keras.losses.Loss):
    """Binary cross-entropy that ignores pixels labelled 2."""

    def __init__(self, name="masked_bce", reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def call(self, y_true, y_pred):
        return masked_bce(y_true, y_pred)

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction}


@keras.saving.register_keras_serializable(package="ais_like")
class MaskedDice(keras.losses.Loss):
    """Soft Dice loss that ignores pixels labelled 2."""

    def __init__(self, smooth=1.0, name="masked_dice", reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.smooth = float(smooth)

    def call(self, y_true, y_pred):
        return masked_dice(y_true, y_pred, self.smooth)

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction, "smooth": self.smooth}


@keras.saving.register_keras_serializable(package="ais_like")
class MaskedBCEDice(keras.losses.Loss):
    """``bce_weight * masked BCE + dice_weight * masked Dice``, both ignoring label 2."""

    def __init__(self, bce_weight=1.0, dice_weight=1.0, smooth=1.0, name="masked_bce_dice",
                 reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.bce_weight = float(bce_weight)
        self.dice_weight = float(dice_weight)
        self.smooth = float(smooth)

    def call(self, y_true, y_pred):
        return (self.bce_weight * masked_bce(y_true, y_pred)
                + self.dice_weight * masked_dice(y_true, y_pred, self.smooth))

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction, "bce_weight": self.bce_weight,
                "dice_weight": self.dice_weight, "smooth": self.smooth}


LOSSES = {"bce": MaskedBinaryCrossentropy, "dice": MaskedDice, "bce_dice": MaskedBCEDice}


def get_loss(name: str = "bce_dice") -> keras.losses.Loss:
    """A fresh loss object for ``name`` ("bce", "dice" or "bce_dice")."""
    try:
        return LOSSES[str(name).lower().replace("+", "_").replace("-", "_")]()
    except KeyError:
        from .errors import InputError

        raise InputError(f"unknown loss {name!r}; choose one of {', '.join(LOSSES)}") from None
