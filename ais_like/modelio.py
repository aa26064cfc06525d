"""Saving and loading one model as HDF5 (the ``<name>_weights.h5`` inside a ``.scnm``).

Keras models are written with Keras's HDF5 saving (architecture + weights + compile config) and
read in safe mode (no Lambda layers, no code from the file runs). Non-Keras models (the Pix2pix
GAN) follow ``ais_like.custom_model``: their file carries the HDF5 root attribute
``ais_like_custom_model`` naming the class, and ``load_h5`` hands such files to that class,
which rebuilds the networks from stored hyper-parameters and loads the weights (no code or
pickles are read from the file either).

Every file is written atomically (a temporary name in the same folder, then a rename).
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

from .errors import InputError

CUSTOM_ATTR = "ais_like_custom_model"


def save_h5(model, path: str | os.PathLike) -> Path:
    """Write ``model`` (Keras model or ``custom_model`` object) to ``path`` (HDF5) atomically."""
    path = Path(path)
    fd, part = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".part.h5", dir=path.parent or ".")
    os.close(fd)
    os.unlink(part)
    try:
        if hasattr(model, "save_h5"):  # custom (non-Keras) model contract
            model.save_h5(part)
        else:
            with warnings.catch_warnings():
                # Keras calls HDF5 "legacy"; we keep it for compatibility with Ais's archives.
                warnings.simplefilter("ignore")
                model.save(part)  # Keras's HDF5 format, chosen by the .h5 suffix
        os.replace(part, path)
    except BaseException:
        Path(part).unlink(missing_ok=True)
        raise
    return path


def custom_model_kind(path: str | os.PathLike) -> str | None:
    """The ``ais_like_custom_model`` attribute of an HDF5 file, or None (a plain Keras file)."""
    import h5py

    with h5py.File(path, "r") as f:
        kind = f.attrs.get(CUSTOM_ATTR)
    if isinstance(kind, bytes):
        kind = kind.decode("utf-8")
    return str(kind) if kind is not None else None


def load_h5(path: str | os.PathLike, compile: bool = False, source: str | None = None):
    """Load a model from HDF5 in safe mode.

    Parameters
    ----------
    path : path of the ``.h5`` file.
    compile : bool
        Restore the training configuration (optimizer, loss) too; False is enough for inference.
    source : str, optional
        The name used in error messages (e.g. the ``.scnm`` the file came from).

    Returns
    -------
    A Keras model, or an ``ais_like.custom_model`` object for files written by one.
    """
    from . import backend

    name = source or str(path)
    try:
        kind = custom_model_kind(path)
    except OSError as exc:
        raise InputError(f"{name}: not a readable HDF5 model file ({' '.join(str(exc).split())[:200]})") from None
    if kind is not None:
        from .custom_model import CUSTOM_MODELS

        cls = CUSTOM_MODELS.get(kind)
        if cls is None:
            raise InputError(f"{name}: unknown custom model kind {kind!r} (known: {', '.join(CUSTOM_MODELS)})")
        try:
            return cls.load_h5(path, compile=compile)
        except InputError:
            raise
        except Exception as exc:
            raise InputError(f"{name}: cannot load the {kind} model ({' '.join(str(exc).split())[:300]})") from None

    keras = backend.keras()
    from . import losses  # noqa: F401  (registers our serialisable losses)

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return keras.saving.load_model(str(path), compile=compile, safe_mode=True)
    except Exception as exc:
        raise InputError(f"{name}: cannot load the model ({' '.join(str(exc).split())[:300]})") from None
