"""Saving and loading one model as HDF5 (the ``<name>_weights.h5`` inside a ``.scnm``).

Writing
-------
Ais runs Keras 2 (``tf.keras``, TensorFlow 2.8-2.15), which cannot read the HDF5 files Keras 3
writes (Keras 3 names the input shape ``batch_shape``, stores dtype policies and nodes in a new
layout). So Keras models are written in **Keras 2's HDF5 layout**, by this module with h5py:
``model_config`` in Keras 2's JSON layout (``Functional``, ``batch_input_shape``, nodes as
``[[layer, node, tensor, {}]]``, initialisers as ``{"class_name", "config"}``) and the weights
under ``model_weights/<layer>/<layer>/<weight>:0`` with ``layer_names``/``weight_names``
attributes, exactly as ``tf.keras`` 2.x saves them. Keras 3 reads that layout too, so one file
serves both. Every layer of the built-in architectures maps one to one (see
:data:`KERAS2_LAYERS`); a model with a layer outside that table is written with Keras 3's own
HDF5 writer instead and :func:`keras2_compatible` says why. No training configuration is stored
(Ais's own files have none either: it saves its models for inference); ``load_h5(...,
compile=True)`` compiles with ais_like's masked loss.

Non-Keras models (the Pix2pix GAN) follow ``ais_like.custom_model``: their file carries the HDF5
root attribute ``ais_like_custom_model`` naming the class; Ais cannot open those.

Reading (files from strangers)
------------------------------
The model configuration is parsed as JSON and checked before Keras sees it
(:func:`check_model_config`): only the layer classes in :data:`SAFE_LAYERS` and Keras's own
initialisers, regularisers, constraints and activations are accepted; ``Lambda`` (Python
byte code), ``TFOpLambda`` and anything naming a module outside Keras are refused with the
layer's name. The training configuration is removed (it is never deserialised), the input shape
is made free (``(None, None, None, channels)``: whole slices of any size, any batch) and Keras
loads the rest in safe mode. Where Keras 3 cannot read a file written by Keras 2, the
architecture is rebuilt from the ais_like plugin of the same title and the weights are copied
layer by layer (in order, shapes checked) from the HDF5 weight groups read with h5py. Nothing is
unpickled or evaluated.

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

CUSTOM_ATTR = "ais_like_custom_model"
WRITER_ATTR = "ais_like_writer"
KERAS2_VERSION = "2.15.0"  # the Keras 2 release whose HDF5 layout we write (read by 2.8-2.15)
MAX_CONFIG_BYTES = 16 * 1024 * 1024
MAX_LAYERS = 5000

# ---------------------------------------------------------------------------------------------
# What may be loaded from a stranger's file
# ---------------------------------------------------------------------------------------------
SAFE_LAYERS = frozenset({
    "InputLayer", "Conv1D", "Conv2D", "Conv3D", "Conv2DTranspose", "Conv3DTranspose", "SeparableConv2D",
    "DepthwiseConv2D", "MaxPooling2D", "MaxPooling3D", "AveragePooling2D", "AveragePooling3D",
    "UpSampling2D", "UpSampling3D", "Concatenate", "Add", "Subtract", "Multiply", "Average", "Maximum",
    "Minimum", "Activation", "ReLU", "LeakyReLU", "ELU", "PReLU", "Softmax", "Dropout", "SpatialDropout2D",
    "SpatialDropout3D", "GaussianNoise", "GaussianDropout", "BatchNormalization", "LayerNormalization",
    "GroupNormalization", "ZeroPadding2D", "ZeroPadding3D", "Cropping2D", "Cropping3D",
})
CODE_LAYERS = {
    "Lambda": "a Lambda layer carries Python code, which ais_like never runs from a file",
    "TFOpLambda": "a TFOpLambda layer (a TensorFlow function called on a Keras tensor) names code to run",
    "SlicingOpLambda": "a SlicingOpLambda layer names code to run",
}
SAFE_OBJECTS = frozenset({
    # initialisers
    "GlorotUniform", "GlorotNormal", "HeNormal", "HeUniform", "LecunNormal", "LecunUniform", "VarianceScaling",
    "RandomNormal", "RandomUniform", "TruncatedNormal", "Zeros", "Ones", "Constant", "Orthogonal", "Identity",
    "glorot_uniform", "glorot_normal", "he_normal", "he_uniform", "lecun_normal", "lecun_uniform", "zeros", "ones",
    # regularisers and constraints
    "L1", "L2", "L1L2", "l1", "l2", "l1_l2", "OrthogonalRegularizer", "MaxNorm", "MinMaxNorm", "NonNeg", "UnitNorm",
    # dtype policies and the tensor placeholders of Keras 3's node layout
    "DTypePolicy", "Policy", "FloatDTypePolicy", "__keras_tensor__", "__tuple__",
})
SAFE_ACTIVATIONS = frozenset({
    "linear", "relu", "relu6", "sigmoid", "hard_sigmoid", "softmax", "softplus", "softsign", "tanh", "elu",
    "selu", "swish", "silu", "gelu", "exponential", "leaky_relu", "mish", "log_softmax", None,
})
CODE_KEYS = frozenset({"function", "function_type", "output_shape_type", "module_name_of_function"})

# ---------------------------------------------------------------------------------------------
# Keras 3 -> Keras 2 layer configs: the keys Keras 2's constructor accepts, per class
# ---------------------------------------------------------------------------------------------
_INIT_REG = ("kernel_initializer", "bias_initializer", "kernel_regularizer", "bias_regularizer",
             "activity_regularizer", "kernel_constraint", "bias_constraint")
KERAS2_LAYERS: dict[str, tuple[str, ...]] = {
    "Conv2D": ("filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate", "groups",
               "activation", "use_bias") + _INIT_REG,
    "Conv2DTranspose": ("filters", "kernel_size", "strides", "padding", "output_padding", "data_format",
                        "dilation_rate", "activation", "use_bias") + _INIT_REG,
    "MaxPooling2D": ("pool_size", "padding", "strides", "data_format"),
    "AveragePooling2D": ("pool_size", "padding", "strides", "data_format"),
    "UpSampling2D": ("size", "data_format", "interpolation"),
    "Concatenate": ("axis",),
    "Add": (), "Subtract": (), "Multiply": (), "Average": (), "Maximum": (), "Minimum": (),
    "Activation": ("activation",),
    "ReLU": ("max_value", "negative_slope", "threshold"),
    "LeakyReLU": ("alpha",),
    "Dropout": ("rate", "noise_shape", "seed"),
    "BatchNormalization": ("axis", "momentum", "epsilon", "center", "scale", "beta_initializer",
                           "gamma_initializer", "moving_mean_initializer", "moving_variance_initializer",
                           "beta_regularizer", "gamma_regularizer", "beta_constraint", "gamma_constraint"),
    "ZeroPadding2D": ("padding", "data_format"),
    "Cropping2D": ("cropping", "data_format"),
}
_KERAS2_RENAMED = {("LeakyReLU", "negative_slope"): "alpha"}
_KERAS2_OBJECT_KEYS = {
    "GlorotUniform": ("seed",), "GlorotNormal": ("seed",), "HeNormal": ("seed",), "HeUniform": ("seed",),
    "LecunNormal": ("seed",), "LecunUniform": ("seed",), "VarianceScaling": ("scale", "mode", "distribution", "seed"),
    "RandomNormal": ("mean", "stddev", "seed"), "TruncatedNormal": ("mean", "stddev", "seed"),
    "RandomUniform": ("minval", "maxval", "seed"), "Zeros": (), "Ones": (), "Constant": ("value",),
    "Orthogonal": ("gain", "seed"), "Identity": ("gain",),
    "L1": ("l1",), "L2": ("l2",), "L1L2": ("l1", "l2"),
    "MaxNorm": ("max_value", "axis"), "MinMaxNorm": ("min_value", "max_value", "rate", "axis"),
    "NonNeg": (), "UnitNorm": ("axis",),
}
KERAS2_ACTIVATIONS = frozenset({"linear", "relu", "sigmoid", "hard_sigmoid", "softmax", "softplus", "softsign",
                                "tanh", "elu", "selu", "swish", "gelu", "exponential"})


class NotKeras2Compatible(Exception):
    """A model (or one of its layers) has no one-to-one Keras 2 equivalent."""


def _one_line(exc: BaseException, limit: int = 300) -> str:
    return " ".join(str(exc).split())[:limit] or type(exc).__name__


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


def keras2_compatible(model) -> tuple[bool, str]:
    """Whether ``model`` can be written in Keras 2's HDF5 layout (so that Ais can load it).

    Returns ``(True, "")`` or ``(False, reason)``.
    """
    if hasattr(model, "save_h5"):
        return False, f"{type(model).__name__} is not a Keras model (ais_like's own HDF5 layout)"
    try:
        keras2_model_config(model)
    except NotKeras2Compatible as exc:
        return False, str(exc)
    return True, ""


def _dtype_name(value) -> str:
    if isinstance(value, str):
        name = value
    elif isinstance(value, dict):
        name = (value.get("config") or {}).get("name") or value.get("name")
    else:
        name = None
    if name not in ("float32", None):
        raise NotKeras2Compatible(f"dtype policy {name!r} (only float32 is written in Keras 2's layout)")
    return "float32"


def _keras2_object(value, what: str):
    """A Keras 3 serialised initialiser / regulariser / constraint as Keras 2 writes it."""
    if value is None or isinstance(value, str):
        return value
    if not isinstance(value, dict) or "class_name" not in value:
        raise NotKeras2Compatible(f"{what} {value!r} is not a Keras object")
    cls = value["class_name"]
    keys = _KERAS2_OBJECT_KEYS.get(cls)
    if keys is None:
        raise NotKeras2Compatible(f"{what} {cls} has no Keras 2 equivalent")
    cfg = value.get("config") or {}
    return {"class_name": cls, "config": {k: cfg[k] for k in keys if k in cfg}}


def _keras2_layer_config(cls: str, name: str, cfg: dict) -> dict:
    if cls == "InputLayer":
        shape = cfg.get("batch_shape") or cfg.get("batch_input_shape")
        if shape is None:
            raise NotKeras2Compatible(f"input layer {name!r} has no shape")
        if cfg.get("sparse") or cfg.get("ragged"):
            raise NotKeras2Compatible(f"input layer {name!r} is sparse or ragged")
        return {"batch_input_shape": list(shape), "dtype": _dtype_name(cfg.get("dtype", "float32")),
                "sparse": False, "ragged": False, "name": name}
    keys = KERAS2_LAYERS.get(cls)
    if keys is None:
        raise NotKeras2Compatible(f"layer {name!r} ({cls}) has no one-to-one Keras 2 equivalent")
    out = {"name": name, "trainable": bool(cfg.get("trainable", True)), "dtype": _dtype_name(cfg.get("dtype"))}
    for key, value in cfg.items():
        if key in ("name", "trainable", "dtype"):
            continue
        k2 = _KERAS2_RENAMED.get((cls, key), key)
        if k2 not in keys:
            if value in (None, False, 0, {}, []):
                continue  # a Keras 3 option left at its neutral value (lora_rank, synchronized, ...)
            raise NotKeras2Compatible(f"layer {name!r} ({cls}) sets {key}={value!r}, which Keras 2 does not have")
        if k2 == "activation":
            if value not in KERAS2_ACTIVATIONS:
                raise NotKeras2Compatible(f"layer {name!r} uses activation {value!r}, unknown to Keras 2")
        elif k2.endswith(("_initializer", "_regularizer", "_constraint")):
            value = _keras2_object(value, f"layer {name!r} {k2}")
        elif cls == "Conv2DTranspose" and k2 == "dilation_rate" and list(value) != [1, 1]:
            raise NotKeras2Compatible(f"layer {name!r}: dilated transposed convolution")
        out[k2] = value
    if cls == "Conv2D" and int(out.get("groups", 1)) != 1:
        raise NotKeras2Compatible(f"layer {name!r}: grouped convolution")
    return out


def _keras2_nodes(layer_name: str, nodes) -> list:
    """Keras 3 nodes ({"args", "kwargs"} with ``__keras_tensor__`` entries) in Keras 2's layout."""
    out = []
    for node in nodes or []:
        if isinstance(node, list):  # already Keras 2's layout
            out.append(node)
            continue
        args = node.get("args") or []
        # ``training`` is decided by the caller at run time in both Keras versions
        kwargs = {k: v for k, v in (node.get("kwargs") or {}).items() if v is not None and k != "training"}
        if len(args) != 1 or kwargs:
            raise NotKeras2Compatible(f"layer {layer_name!r} is called with arguments Keras 2's layout cannot hold")
        first = args[0]
        tensors = list(first) if isinstance(first, (list, tuple)) else [first]
        entry = []
        for t in tensors:
            hist = (t.get("config") or {}).get("keras_history") if isinstance(t, dict) else None
            if t.get("class_name") != "__keras_tensor__" or not hist or len(hist) != 3:
                raise NotKeras2Compatible(f"layer {layer_name!r} has an input that is not a layer output")
            entry.append([hist[0], int(hist[1]), int(hist[2]), {}])
        out.append(entry)
    return out


def _io_list(spec) -> list:
    if spec and isinstance(spec[0], str):
        spec = [spec]
    return [[s[0], int(s[1]), int(s[2])] for s in spec]


def keras2_model_config(model) -> dict:
    """``model``'s architecture as Keras 2 (``tf.keras`` 2.8-2.15) writes ``model_config``.

    Raises :class:`NotKeras2Compatible` naming the first layer without a one-to-one equivalent.
    """
    if type(model).__name__ not in ("Functional", "Model"):
        raise NotKeras2Compatible(f"{type(model).__name__} models are not written in Keras 2's layout (functional only)")
    config = model.get_config()
    if not isinstance(config, dict) or "layers" not in config:
        raise NotKeras2Compatible("the model is not a functional graph of layers")
    layers = []
    for entry in config["layers"]:
        cls, name = entry["class_name"], entry.get("name") or entry["config"]["name"]
        layers.append({"class_name": cls, "config": _keras2_layer_config(cls, name, entry["config"]),
                       "name": name, "inbound_nodes": _keras2_nodes(name, entry.get("inbound_nodes"))})
    return {"class_name": "Functional",
            "config": {"name": config.get("name", "model"), "trainable": bool(config.get("trainable", True)),
                       "layers": layers, "input_layers": _io_list(config["input_layers"]),
                       "output_layers": _io_list(config["output_layers"])}}


def _set_string_list_attr(group, name: str, values: list[str]) -> None:
    """Keras 2's ``save_attributes_to_hdf5_group``: split lists that exceed HDF5's 64 kB header."""
    import numpy as np

    data = np.array([v.encode("utf-8") for v in values]) if values else np.array([], dtype=np.float64)
    if data.nbytes <= 64000:
        group.attrs[name] = data
        return
    chunks = 2
    while True:
        parts = np.array_split(data, chunks)
        if all(p.nbytes <= 64000 for p in parts):
            break
        chunks += 1
    for i, part in enumerate(parts):
        group.attrs[f"{name}{i}"] = part


def write_keras2_h5(model, path: str | os.PathLike) -> Path:
    """Write a Keras 3 functional model as ``tf.keras`` 2.x saves ``model.save("x.h5")``.

    Not atomic by itself (see :func:`save_h5`). Raises :class:`NotKeras2Compatible`.
    """
    import h5py
    import numpy as np

    from . import __version__

    config = keras2_model_config(model)
    with h5py.File(path, "w") as f:
        f.attrs["backend"] = "tensorflow"
        f.attrs["keras_version"] = KERAS2_VERSION
        f.attrs["model_config"] = json.dumps(config)
        f.attrs[WRITER_ATTR] = f"ais_like {__version__} (Keras 2 HDF5 layout)"
        g = f.create_group("model_weights")
        g.attrs["backend"] = "tensorflow"
        g.attrs["keras_version"] = KERAS2_VERSION
        names = [layer.name for layer in model.layers]
        _set_string_list_attr(g, "layer_names", names)
        for layer in model.layers:
            lg = g.create_group(layer.name)
            weight_names = []
            for w in layer.weights:
                short = w.path.rsplit("/", 1)[-1] if hasattr(w, "path") else w.name.split("/")[-1].split(":")[0]
                wname = f"{layer.name}/{short}:0"
                weight_names.append(wname)
                lg.create_dataset(wname, data=np.asarray(w.numpy() if hasattr(w, "numpy") else w))
            _set_string_list_attr(lg, "weight_names", weight_names)
        _set_string_list_attr(g.create_group("top_level_model_weights"), "weight_names", [])
    return Path(path)


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------
def custom_model_kind(path: str | os.PathLike) -> str | None:
    """The ``ais_like_custom_model`` attribute of an HDF5 file, or None (a plain Keras file)."""
    import h5py

    with h5py.File(path, "r") as f:
        kind = f.attrs.get(CUSTOM_ATTR)
    if isinstance(kind, bytes):
        kind = kind.decode("utf-8")
    return str(kind) if kind is not None else None


def _attr_text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return str(value)


def read_model_config(path: str | os.PathLike, source: str | None = None) -> dict | None:
    """The ``model_config`` JSON of a Keras HDF5 file (None for a weights-only file)."""
    import h5py

    name = source or str(path)
    try:
        with h5py.File(path, "r") as f:
            raw = f.attrs.get("model_config")
    except OSError as exc:
        raise InputError(f"{name}: not a readable HDF5 model file ({_one_line(exc, 200)})") from None
    if raw is None:
        return None
    try:
        text = _attr_text(raw)
        if len(text) > MAX_CONFIG_BYTES:
            raise InputError(f"{name}: refused: the model configuration is {len(text)} bytes (limit {MAX_CONFIG_BYTES})")
        config = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise InputError(f"{name}: the model configuration is not valid JSON ({_one_line(exc, 120)})") from None
    if not isinstance(config, dict):
        raise InputError(f"{name}: the model configuration is not a JSON object")
    return config


def _model_layers(config: dict, name: str) -> list:
    if config.get("class_name") not in ("Functional", "Model", "Sequential"):
        raise InputError(f"{name}: refused: the file holds a {config.get('class_name')!r}, not a Keras functional "
                         "or sequential model")
    inner = config.get("config")
    layers = inner.get("layers") if isinstance(inner, dict) else inner
    if not isinstance(layers, list):
        raise InputError(f"{name}: the model configuration has no list of layers")
    if len(layers) > MAX_LAYERS:
        raise InputError(f"{name}: refused: {len(layers)} layers (limit {MAX_LAYERS})")
    return layers


def check_model_config(config: dict, source: str) -> None:
    """Refuse a model configuration that would run code or load anything outside Keras.

    Raises :class:`InputError` naming the layer and the reason: a layer class outside
    :data:`SAFE_LAYERS` (``Lambda`` and friends carry code), a nested object (initialiser,
    activation, ...) that is not one of Keras's own, or keys that hold functions.
    """
    for i, layer in enumerate(_model_layers(config, source)):
        if not isinstance(layer, dict) or not isinstance(layer.get("class_name"), str):
            raise InputError(f"{source}: the model configuration's layer {i} is not a layer object")
        cls = layer["class_name"]
        cfg = layer.get("config") if isinstance(layer.get("config"), dict) else {}
        lname = str(layer.get("name") or cfg.get("name") or f"#{i}")
        if cls in CODE_LAYERS:
            raise InputError(f"{source}: refused: layer {lname!r} is a {cls}: {CODE_LAYERS[cls]}")
        if cls in ("Functional", "Model", "Sequential"):
            raise InputError(f"{source}: refused: layer {lname!r} is a nested model ({cls}), which ais_like does not load")
        if cls not in SAFE_LAYERS:
            raise InputError(f"{source}: refused: layer {lname!r} is of class {cls!r}, which is not one of the Keras "
                             "layers ais_like loads from files (custom classes run code from their module)")
        if layer.get("module") not in (None, "keras", "keras.layers") and not str(layer.get("module")).startswith("keras"):
            raise InputError(f"{source}: refused: layer {lname!r} comes from module {layer.get('module')!r}")
        _check_objects(cfg, f"{source}: refused: layer {lname!r}", depth=0)


def _check_objects(value, where: str, depth: int) -> None:
    if depth > 20:
        raise InputError(f"{where}: its configuration is nested too deeply")
    if isinstance(value, dict):
        for key in value:
            if key in CODE_KEYS:
                raise InputError(f"{where}: its configuration holds a function ({key!r})")
        if "class_name" in value:
            cls = value["class_name"]
            module = value.get("module")
            registered = value.get("registered_name")
            if not isinstance(cls, str) or cls not in SAFE_OBJECTS:
                raise InputError(f"{where}: it uses {cls!r}, which is not one of Keras's own objects")
            if module is not None and not (isinstance(module, str) and (module == "keras" or module.startswith("keras."))):
                raise InputError(f"{where}: it names module {module!r}")
            if registered not in (None, cls):
                raise InputError(f"{where}: it uses the registered custom object {registered!r}")
        if "activation" in value and not isinstance(value["activation"], dict):
            act = value["activation"]
            if act not in SAFE_ACTIVATIONS:
                raise InputError(f"{where}: activation {act!r} is not one of Keras's built-in activations")
        for v in value.values():
            _check_objects(v, where, depth + 1)
    elif isinstance(value, list):
        for v in value:
            _check_objects(v, where, depth + 1)


def free_input_config(config: dict) -> dict:
    """A copy of a model configuration whose input layers take any height, width and batch."""
    out = json.loads(json.dumps(config))
    inner = out.get("config")
    layers = inner.get("layers") if isinstance(inner, dict) else inner
    for layer in layers:
        if layer.get("class_name") != "InputLayer":
            continue
        cfg = layer.get("config", {})
        for key in ("batch_input_shape", "batch_shape"):
            shape = cfg.get(key)
            if isinstance(shape, list) and len(shape) >= 3:
                cfg[key] = [None] * (len(shape) - 1) + [shape[-1]]
    if out.get("class_name") == "Sequential" and isinstance(inner, dict):
        for layer in layers[:1]:
            cfg = layer.get("config", {})
            shape = cfg.get("batch_input_shape")
            if isinstance(shape, list) and len(shape) >= 3:
                cfg["batch_input_shape"] = [None] * (len(shape) - 1) + [shape[-1]]
    return out


def input_channels(config: dict | None) -> int:
    """The channel count of a model configuration's first input (1 when unknown)."""
    if not config:
        return 1
    inner = config.get("config")
    layers = inner.get("layers") if isinstance(inner, dict) else inner
    for layer in layers or []:
        cfg = layer.get("config", {}) if isinstance(layer, dict) else {}
        shape = cfg.get("batch_input_shape") or cfg.get("batch_shape")
        if isinstance(shape, list) and shape and isinstance(shape[-1], int):
            return int(shape[-1])
    return 1


def read_h5_weights(path: str | os.PathLike, source: str | None = None) -> list[tuple[str, list]]:
    """The weights of a Keras HDF5 file as ``[(layer name, [arrays])]``, in the file's layer order.

    Reads ``model_weights`` (a whole-model file) or the root group (a weights-only file) with
    h5py; layers without weights are left out.
    """
    import h5py
    import numpy as np

    name = source or str(path)

    def names(group, key):
        if key in group.attrs:
            vals = list(group.attrs[key])
        else:
            vals, i = [], 0
            while f"{key}{i}" in group.attrs:
                vals.extend(group.attrs[f"{key}{i}"])
                i += 1
        return [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in vals]

    out = []
    try:
        with h5py.File(path, "r") as f:
            g = f["model_weights"] if "model_weights" in f else f
            for lname in names(g, "layer_names"):
                if lname not in g:
                    raise InputError(f"{name}: the weights of layer {lname!r} are missing")
                lg = g[lname]
                arrays = []
                for wname in names(lg, "weight_names"):
                    if wname not in lg:
                        raise InputError(f"{name}: weight {wname!r} of layer {lname!r} is missing")
                    ds = lg[wname]
                    if not isinstance(ds, h5py.Dataset) or ds.dtype.kind not in "fiu":
                        raise InputError(f"{name}: weight {wname!r} is not a numeric array")
                    arrays.append(np.asarray(ds, dtype=np.float32))
                if arrays:
                    out.append((lname, arrays))
    except OSError as exc:
        raise InputError(f"{name}: cannot read the weights ({_one_line(exc, 200)})") from None
    return out


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


def load_h5(path: str | os.PathLike, compile: bool = False, source: str | None = None,
            architecture: str | None = None):
    """Load a model from HDF5 in safe mode, with a free input shape.

    Parameters
    ----------
    path : path of the ``.h5`` file.
    compile : bool
        Compile for training with ais_like's masked loss (False is enough for inference).
    source : str, optional
        The name used in error messages (e.g. the ``.scnm`` the file came from).
    architecture : str, optional
        The ais_like plugin title to rebuild from when Keras cannot read the stored
        configuration (or the file holds weights only).

    Returns
    -------
    A Keras model taking (batch, height, width, channels) with only ``channels`` fixed, or an
    ``ais_like.custom_model`` object for files written by one.
    """
    from . import backend

    name = source or str(path)
    try:
        kind = custom_model_kind(path)
    except OSError as exc:
        raise InputError(f"{name}: not a readable HDF5 model file ({_one_line(exc, 200)})") from None
    if kind is not None:
        return _load_custom(path, kind, compile, name)

    config = read_model_config(path, name)
    if config is not None:
        check_model_config(config, name)
    keras = backend.keras()
    from . import losses  # noqa: F401  (registers our serialisable losses)

    model, keras_error = None, None
    if config is not None:
        tmp = tempfile.mkdtemp(prefix="ais_like_h5_")
        try:
            patched = Path(tmp) / "model.h5"
            shutil.copyfile(path, patched)
            _patch_for_loading(patched, free_input_config(config))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = keras.saving.load_model(str(patched), compile=False, safe_mode=True)
        except InputError:
            raise
        except Exception as exc:
            keras_error = _one_line(exc)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    if model is None:
        model = _rebuild(path, name, architecture, config, keras_error)
    if not has_free_input(model):
        raise InputError(f"{name}: the model needs a fixed input size {model.input_shape}; ais_like segments whole "
                         "slices and needs a fully convolutional model")
    if compile:
        from .training import compile_for_training

        compile_for_training(model)
    return model


def _load_custom(path, kind: str, compile: bool, name: str):
    from .custom_model import CUSTOM_MODELS

    cls = CUSTOM_MODELS.get(kind)
    if cls is None:
        raise InputError(f"{name}: unknown custom model kind {kind!r} (known: {', '.join(CUSTOM_MODELS)})")
    try:
        return cls.load_h5(path, compile=compile)
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

    why = (f"Keras cannot read its configuration ({keras_error})" if keras_error
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
