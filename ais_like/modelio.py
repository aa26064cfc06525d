"""Saving and loading one model as HDF5 (the ``<name>_weights.h5`` inside a ``.scnm``).

Keras models are written with Keras's HDF5 saving (architecture + weights) and read in safe
mode (no Lambda layers, no code from the file runs). Non-Keras models (the Pix2pix GAN)
follow ``ais_like.custom_model`` and save themselves to HDF5.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import InputError


def save_h5(model, path: str | os.PathLike) -> Path:
    path = Path(path)
    if hasattr(model, "save_h5"):  # custom (non-Keras) model contract
        model.save_h5(path)
    else:
        model.save(path)  # Keras's HDF5 format (legacy h5), chosen by the .h5 suffix
    return path


def load_h5(path: str | os.PathLike, compile: bool = False, source: str | None = None):
    """Load a Keras model from HDF5 in safe mode."""
    from . import backend
    from . import losses  # noqa: F401  (registers our serialisable losses)

    keras = backend.keras()
    try:
        return keras.saving.load_model(str(path), compile=compile, safe_mode=True)
    except Exception as exc:
        raise InputError(f"{source or path}: cannot load the model ({' '.join(str(exc).split())[:300]})") from None
