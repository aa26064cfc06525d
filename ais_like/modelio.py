"""Saving and loading one model as HDF5 (the ``<name>_weights.h5`` inside a ``.scnm``).

Writing
-------
Keras models are written in Keras 2's HDF5 layout (``ais_like.keras2h5``), which Ais (Keras 2)
and Keras 3 both read; a model with a layer outside that layout's one-to-one table is written
with Keras 3's own HDF5 writer instead (``keras2_compatible`` says why). Non-Keras models (the
Pix2pix GAN) follow ``ais_like.custom_model``: their file carries the HDF5 root attribute
``ais_like_custom_model`` naming the class.

Reading (files from strangers)
------------------------------
The model configuration is parsed as JSON and checked before anything is built
(:func:`check_model_config`): only the layer classes in :data:`SAFE_LAYERS` and Keras's own
initialisers, regularisers, constraints and activations are accepted; ``Lambda`` (Python
byte code), ``TFOpLambda`` and anything naming a module outside Keras are refused with the
layer's name. Then the network is built from that configuration by ``ais_like.kerasconfig``
(Keras 2's layout, as Ais and tf.keras 2.8-2.15 write it, or Keras 3's), layer by layer, with a
free input shape, and the weights are set by layer name from the HDF5 groups read with h5py.
The training configuration is never read. Only where that fails does Keras's own loader get
the file (safe mode), and after it the ais_like plugin named by the metadata is rebuilt and the
weights copied layer by layer in order (shapes checked). Nothing is unpickled or evaluated.

Every file is written atomically (a temporary name in the same folder, then a rename).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import warnings
from pathlib import Path

from .errors import InputError
from .h5read import (CODE_KEYS, CODE_LAYERS, CUSTOM_ATTR, MAX_CONFIG_BYTES, MAX_LAYERS, SAFE_ACTIVATIONS,  # noqa: F401
                     SAFE_LAYERS, SAFE_OBJECTS, _one_line, check_model_config, custom_model_kind, free_input_config,
                     input_channels, read_h5_weights, read_model_config)
from .keras2h5 import KERAS2_VERSION, WRITER_ATTR, NotKeras2Compatible, keras2_compatible, write_keras2_h5  # noqa: F401

# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------
def save_h5(model, path: str | os.PathLike, layout: str = "auto") -> Path:
    """Write ``model`` (Keras model or ``custom_model`` object) to ``path`` (HDF5) atomically.

    Parameters
    ----------
    model : a Keras functional model, or an ``ais_like.custom_model`` object.
    path : the ``.h5`` file to write.
    layout : "auto" (Keras 2's layout, which Ais and Keras 3 both read, whenever every layer
        maps one to one; Keras 3's own otherwise), "keras2" (raise :class:`InputError` when a
        layer does not map) or "keras3" (Keras's own HDF5 writer).

    Returns
    -------
    The path written.
    """
    if layout not in ("auto", "keras2", "keras3"):
        raise InputError(f"unknown HDF5 layout {layout!r} (expected 'auto', 'keras2' or 'keras3')")
    path = Path(path)
    fd, part = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".part.h5", dir=path.parent or ".")
    os.close(fd)
    os.unlink(part)
    try:
        if hasattr(model, "save_h5"):  # custom (non-Keras) model contract
            model.save_h5(part)
        else:
            written = False
            if layout != "keras3":
                try:
                    write_keras2_h5(model, part)
                    written = True
                except NotKeras2Compatible as exc:
                    Path(part).unlink(missing_ok=True)
                    if layout == "keras2":
                        raise InputError(f"{path}: cannot write in Keras 2's layout: {exc}") from None
            if not written:
                with warnings.catch_warnings():
                    # Keras calls HDF5 "legacy"; it is what Ais's archives hold.
                    warnings.simplefilter("ignore")
                    model.save(part)  # Keras's HDF5 format, chosen by the .h5 suffix
        os.replace(part, path)
    except BaseException:
        Path(part).unlink(missing_ok=True)
        raise
    return path


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------
def copy_weights(model, weights: list[tuple[str, list]], source: str) -> None:
    """Set ``model``'s weights from :func:`read_h5_weights` output, layer by layer in order.

    Raises :class:`InputError` naming the first layer whose count or shapes differ.
    """
    targets = [layer for layer in model.layers if layer.weights]
    if len(targets) != len(weights):
        raise InputError(f"{source}: the file has weights for {len(weights)} layers, the architecture has "
                         f"{len(targets)} layers with weights")
    values = []
    for layer, (fname, arrays) in zip(targets, weights):
        shapes = [tuple(int(s) for s in w.shape) for w in layer.weights]
        got = [tuple(a.shape) for a in arrays]
        if shapes != got:
            raise InputError(f"{source}: the weights of layer {fname!r} have shapes {got}, but layer "
                             f"{layer.name!r} of the architecture needs {shapes}")
        values.extend(arrays)
    model.set_weights(values)


def weight_shapes(model) -> list[tuple]:
    """The shapes of ``model``'s weights, in order (to compare architectures)."""
    return [tuple(int(s) for s in w.shape) for w in model.weights]


def has_free_input(model) -> bool:
    """Whether ``model`` accepts any batch size, height and width."""
    shape = getattr(model, "input_shape", None)
    if isinstance(shape, list):
        shape = shape[0]
    return shape is not None and all(s is None for s in tuple(shape)[:-1])


def load_h5(path: str | os.PathLike, source: str | None = None, architecture: str | None = None):
    """Load a model from HDF5 safely, with a free input shape.

    Parameters
    ----------
    path : path of the ``.h5`` file.
    source : str, optional
        The name used in error messages (e.g. the ``.scnm`` the file came from).
    architecture : str, optional
        The ais_like plugin title to rebuild from when the stored configuration cannot be built
        (or the file holds weights only), and the title that says how to wrap a plain generator
        (an Ais Pix2pix file).

    Returns
    -------
    A Keras model (uncompiled) taking (batch, height, width, channels) with only ``channels``
    fixed, or an ``ais_like.custom_model`` object for files written by one.
    """
    from . import backend
    from .kerasconfig import build_model, set_weights_by_name

    name = source or str(path)
    try:
        kind = custom_model_kind(path)
    except OSError as exc:
        raise InputError(f"{name}: not a readable HDF5 model file ({_one_line(exc, 200)})") from None
    if kind is not None:
        return _load_custom(path, kind, name)

    config = read_model_config(path, name)
    if config is not None:
        check_model_config(config, name)
    backend.keras()
    model, why = None, None
    if config is not None:
        try:
            model = build_model(config, name)
            set_weights_by_name(model, read_h5_weights(path, name), name)
        except InputError as exc:
            model, why = None, str(exc)
        if model is None:
            model = _keras_loader(path, config)
    if model is None:
        model = _rebuild(path, name, architecture, config, why)
    if not has_free_input(model):
        raise InputError(f"{name}: the model needs a fixed input size {model.input_shape}; ais_like segments whole "
                         "slices and needs a fully convolutional model")
    if architecture == "Pix2pix":
        from .custom_model import Pix2Pix

        return Pix2Pix.from_generator(model)  # Ais saves a Pix2pix as its generator alone
    return model


def _keras_loader(path, config: dict):
    """Keras's own loader on a private copy (checked configuration, free input, safe mode), or None."""
    from . import backend
    from . import losses  # noqa: F401  (registers our serialisable losses)

    keras = backend.keras()
    tmp = tempfile.mkdtemp(prefix="ais_like_h5_")
    try:
        patched = Path(tmp) / "model.h5"
        shutil.copyfile(path, patched)
        _patch_for_loading(patched, free_input_config(config))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return keras.saving.load_model(str(patched), compile=False, safe_mode=True)
    except Exception:
        return None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _load_custom(path, kind: str, name: str):
    from .custom_model import CUSTOM_MODELS

    cls = CUSTOM_MODELS.get(kind)
    if cls is None:
        raise InputError(f"{name}: unknown custom model kind {kind!r} (known: {', '.join(CUSTOM_MODELS)})")
    try:
        return cls.load_h5(path, source=name)
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"{name}: cannot load the {kind} model ({_one_line(exc)})") from None


def _patch_for_loading(path: Path, config: dict) -> None:
    """Replace the configuration in a private copy and drop the training configuration."""
    import h5py

    with h5py.File(path, "r+") as f:
        f.attrs["model_config"] = json.dumps(config)
        if "training_config" in f.attrs:
            del f.attrs["training_config"]


def _rebuild(path, name: str, architecture: str | None, config: dict | None, keras_error: str | None):
    """Rebuild from the ais_like plugin and copy the weights from the HDF5 groups."""
    from . import registry

    if keras_error and not architecture:
        raise InputError(keras_error)  # the configuration's own problem, naming the file and the layer
    why = (f"its configuration cannot be built ({keras_error.split(': ', 1)[-1]})" if keras_error
           else "the file holds weights only")
    if not architecture:
        raise InputError(f"{name}: {why}, and the metadata names no architecture to rebuild it from")
    try:
        arch = registry.get_architecture(architecture)
    except InputError:
        raise InputError(f"{name}: {why}, and ais_like has no architecture {architecture!r} to rebuild it from") from None
    model = arch.create((None, None, input_channels(config)))
    if hasattr(model, "save_h5"):
        raise InputError(f"{name}: {why}; {architecture} is not a Keras model, so its weights cannot be copied")
    try:
        copy_weights(model, read_h5_weights(path, name), name)
    except InputError as exc:
        raise InputError(f"{exc} ({why}; rebuilding it as ais_like's {arch.title} failed)") from None
    return model


def predict_probabilities(model, images, divisor: int = 32):
    """Run ``model`` on normalised (n, y, x) or (y, x) images of any size: reflect-pad to a
    multiple of ``divisor`` (at least 16 px on each side), predict, crop back.

    Returns float32 probabilities of the input's shape.
    """
    import numpy as np

    a = np.asarray(images, np.float32)
    single = a.ndim == 2
    if single:
        a = a[None]
    n, h, w = a.shape
    d = max(int(divisor), 1)

    def pads(size):
        total = int(math.ceil((size + 32) / d) * d) - size
        return total // 2, total - total // 2

    (t, b), (l, r) = pads(h), pads(w)
    padded = np.pad(a, ((0, 0), (t, b), (l, r)), mode="reflect")[..., None]
    out = np.asarray(model.predict(padded, batch_size=4, verbose=0), np.float32)[..., 0]
    out = out[:, t:t + h, l:l + w]
    return out[0] if single else out
