"""Writing a Keras 3 model in Keras 2's HDF5 layout, so that Ais (``tf.keras`` 2.8-2.15) opens it.

Ais runs Keras 2, which cannot read the HDF5 files Keras 3 writes (Keras 3 names the input
shape ``batch_shape``, stores dtype policies and nodes in a new layout). So ais_like writes
``model_config`` in Keras 2's JSON layout (``Functional``, ``batch_input_shape``, nodes as
``[[layer, node, tensor, {}]]``, initialisers as ``{"class_name", "config"}``) and the weights
under ``model_weights/<layer>/<layer>/<weight>:0`` with ``layer_names``/``weight_names``
attributes, exactly as ``tf.keras`` 2.x saves them. Keras 3 (and ais_like's reader,
``ais_like.kerasconfig``) reads that layout too, so one file serves both. Every layer of the
built-in architectures maps one to one (:data:`KERAS2_LAYERS`); :func:`keras2_compatible`
says why a model cannot be written so. No training configuration is stored (Ais's own files
have none either: it saves its models for inference).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import h5py
import numpy as np

WRITER_ATTR = "ais_like_writer"
KERAS2_VERSION = "2.15.0"  # the Keras 2 release whose HDF5 layout we write (read by 2.8-2.15)

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



def keras2_compatible(model) -> tuple[bool, str]:
    """Whether ``model`` can be written in Keras 2's HDF5 layout (so that Ais can load it).

    Returns ``(True, "")`` or ``(False, reason)``.
    """
    if hasattr(model, "save_h5") and not getattr(model, "ais_loadable", False):
        return False, f"{type(model).__name__} is not a Keras model (ais_like's own HDF5 layout)"
    if hasattr(model, "save_h5"):
        model = model.generator  # written as Ais writes it: the generator, a plain Keras model
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
            if key in ("renorm_momentum", "renorm_clipping") and not cfg.get("renorm"):
                continue  # only used by batch renormalisation, which is off
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
