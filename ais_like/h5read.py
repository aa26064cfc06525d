"""Reading model files from strangers: the configuration and the weights of a Keras HDF5 file,
checked before anything is built from them.

:func:`check_model_config` accepts only the layer classes in :data:`SAFE_LAYERS` and Keras's own
initialisers, regularisers, constraints and activations; ``Lambda`` (Python byte code),
``TFOpLambda`` and anything naming a module outside Keras are refused with the layer's name.
:func:`read_h5_weights` reads weight arrays with h5py (numbers only). Nothing here imports Keras.
"""

from __future__ import annotations

import json
import os

import h5py
import numpy as np

from .errors import InputError

CUSTOM_ATTR = "ais_like_custom_model"
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

def _one_line(exc: BaseException, limit: int = 300) -> str:
    return " ".join(str(exc).split())[:limit] or type(exc).__name__


def custom_model_kind(path: str | os.PathLike) -> str | None:
    """The ``ais_like_custom_model`` attribute of an HDF5 file, or None (a plain Keras file)."""
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
