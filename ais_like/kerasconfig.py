"""Building a Keras 3 model from a stored model configuration (Keras 2's or Keras 3's).

Ais writes its models with ``tf.keras`` 2.x (TensorFlow 2.8-2.15); Keras 3 cannot load many of
those files itself (Keras 2 stores ``groups`` on ``Conv2DTranspose``, BatchNormalization axes as
lists, ``batch_input_shape``, its own node layout). So ais_like reads the configuration and
builds the graph itself, one layer at a time:

- every layer class must be one of :data:`LAYERS` (plain Keras layers; nothing that runs code
  from a file: see :func:`ais_like.modelio.check_model_config`, which runs first);
- each layer's settings are translated to the Keras 3 constructor's: keys Keras 3 renamed
  (``LeakyReLU`` ``alpha``), settings at a neutral value that Keras 3 no longer takes (``groups``
  1 on a transposed convolution, ``output_padding`` None, ...) are dropped, as are initialisers,
  regularisers and constraints the Keras 3 class has no place for (Keras 2's SeparableConv2D
  stores a ``kernel_initializer`` it never uses); a setting that changes
  the layer's function and has no Keras 3 equivalent is an :class:`InputError` naming the layer;
- initialisers, regularisers and constraints are made from Keras's own classes by name;
- connections are read from either node layout (Keras 2's ``[[layer, node, tensor, {}]]``,
  Keras 3's ``{"args": [...]}``); the input shape is freed (any batch, height and width).

Weights are then set by layer name from the file's HDF5 groups (:func:`set_weights_by_name`),
so the order in which a program lists its layers does not matter.

:func:`signature` reduces a configuration (or a built model) to what defines the network:
layer classes, the settings that change the function, and the connections. Two networks with
equal signatures compute the same function from the same weights; this is how a file is
recognised as holding a plugin's network.
"""

from __future__ import annotations

import inspect

from .errors import InputError
from .h5read import SAFE_LAYERS

# Keras layer classes a model file may use: the safety check's own list (h5read.SAFE_LAYERS, checked first)
LAYERS = SAFE_LAYERS
RENAMED = {("LeakyReLU", "alpha"): "negative_slope", ("ELU", "alpha"): "alpha"}
# settings Keras 2 stores that Keras 3 drops, and the value at which dropping them changes nothing
NEUTRAL = {"groups": (1,), "output_padding": (None,), "dilation_rate": ((1, 1), (1, 1, 1), 1),
           "ragged": (False,), "sparse": (False,), "synchronized": (False,), "renorm": (False,),
           "renorm_clipping": (None,), "renorm_momentum": (0.99,), "fused": (None, True, False),
           "virtual_batch_size": (None,), "adjustment": (None,), "lora_rank": (None,),
           "noise_shape": (None,), "seed": (None,)}
IGNORED = {"name", "trainable", "dtype", "batch_input_shape", "batch_shape", "input_shape", "build_config",
           "module", "registered_name"}
OBJECT_KINDS = {"_initializer": "initializers", "_regularizer": "regularizers", "_constraint": "constraints"}
# What defines a layer's function, by class (kernel and pool sizes, strides, padding, activation)
_FUNCTION_KEYS = ("filters", "kernel_size", "strides", "padding", "activation", "use_bias", "dilation_rate",
                  "depth_multiplier", "pool_size", "size", "interpolation", "axis", "momentum", "epsilon",
                  "center", "scale", "rate", "negative_slope", "alpha", "max_value", "threshold", "cropping",
                  "groups", "output_padding", "data_format")


def _layers_of(config: dict) -> tuple[str, list]:
    kind = config.get("class_name")
    inner = config.get("config")
    layers = inner.get("layers") if isinstance(inner, dict) else inner
    if kind not in ("Functional", "Model", "Sequential") or not isinstance(layers, list):
        raise InputError("the model configuration is not a Keras functional or sequential model")
    return kind, layers


def _name(layer: dict, i: int) -> str:
    cfg = layer.get("config") if isinstance(layer.get("config"), dict) else {}
    return str(layer.get("name") or cfg.get("name") or f"layer_{i}")


def _as_tuple(v):
    return tuple(_as_tuple(x) for x in v) if isinstance(v, (list, tuple)) else v


def _inbound(layer: dict, where: str) -> list[list[tuple[str, int, int]]]:
    """A layer's calls: per call, the (layer, node, tensor) of each input, in order."""
    calls = []
    for node in layer.get("inbound_nodes") or []:
        if isinstance(node, list):  # Keras 2: [[layer, node_index, tensor_index, kwargs], ...]
            entry = []
            for t in node:
                if not isinstance(t, list) or len(t) < 3:
                    raise InputError(f"{where}: a connection is not [layer, node, tensor]")
                kwargs = t[3] if len(t) > 3 and isinstance(t[3], dict) else {}
                if any(k not in ("training", "mask") and v is not None for k, v in kwargs.items()):
                    raise InputError(f"{where}: it is called with arguments ({', '.join(kwargs)}) that ais_like "
                                     "does not pass on")
                entry.append((str(t[0]), int(t[1]), int(t[2])))
            calls.append(entry)
        elif isinstance(node, dict):  # Keras 3: {"args": [tensor or [tensors]], "kwargs": {}}
            args = node.get("args") or []
            kwargs = {k: v for k, v in (node.get("kwargs") or {}).items() if v is not None and k not in ("training", "mask")}
            if len(args) != 1 or kwargs:
                raise InputError(f"{where}: it is called with arguments that ais_like does not pass on")
            first = args[0]
            tensors = list(first) if isinstance(first, (list, tuple)) else [first]
            entry = []
            for t in tensors:
                hist = (t.get("config") or {}).get("keras_history") if isinstance(t, dict) else None
                if not isinstance(hist, list) or len(hist) != 3:
                    raise InputError(f"{where}: an input is not the output of a layer")
                entry.append((str(hist[0]), int(hist[1]), int(hist[2])))
            calls.append(entry)
        else:
            raise InputError(f"{where}: its connections are neither Keras 2's nor Keras 3's layout")
    return calls


def _io(spec) -> list[tuple[str, int, int]]:
    if spec and isinstance(spec[0], str):
        spec = [spec]
    return [(str(s[0]), int(s[1]), int(s[2])) for s in spec or []]


def _input_shape(cfg: dict) -> tuple | None:
    shape = cfg.get("batch_shape") or cfg.get("batch_input_shape")
    return tuple(shape) if isinstance(shape, (list, tuple)) and len(shape) >= 2 else None


def _constructor_keys(cls) -> set[str]:
    keys: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        try:
            params = inspect.signature(init).parameters
        except (TypeError, ValueError):
            continue
        keys.update(p for p, v in params.items() if v.kind not in (v.VAR_KEYWORD, v.VAR_POSITIONAL) and p != "self")
        if not any(v.kind == v.VAR_KEYWORD for v in params.values()):
            break
    return keys | {"name", "dtype", "trainable"}


def _keras_object(keras, kind: str, value, where: str):
    """An initialiser / regulariser / constraint from its stored form (by Keras class name)."""
    if value is None:
        return None
    module = getattr(keras, kind)
    if isinstance(value, str):
        try:
            return module.get(value)
        except Exception:
            raise InputError(f"{where}: unknown {kind[:-1]} {value!r}") from None
    if not isinstance(value, dict) or not isinstance(value.get("class_name"), str):
        raise InputError(f"{where}: a {kind[:-1]} that is not a Keras object")
    cls = getattr(module, value["class_name"], None)
    if not inspect.isclass(cls):
        raise InputError(f"{where}: {value['class_name']!r} is not one of Keras 3's {kind}")
    cfg = value.get("config") or {}
    allowed = _constructor_keys(cls)
    try:
        return cls(**{k: v for k, v in cfg.items() if k in allowed})
    except Exception as exc:
        raise InputError(f"{where}: cannot make {value['class_name']} ({' '.join(str(exc).split())[:120]})") from None


def layer_kwargs(keras, cls_name: str, cfg: dict, where: str) -> dict:
    """The Keras 3 constructor arguments for a stored layer configuration (Keras 2 or 3)."""
    cls = getattr(keras.layers, cls_name)
    accepted = _constructor_keys(cls)
    out = {}
    for key, value in cfg.items():
        if key in IGNORED:
            continue
        key3 = RENAMED.get((cls_name, key), key)
        if key3 not in accepted:
            if key in NEUTRAL and _as_tuple(value) in NEUTRAL[key]:
                continue
            if any(key.endswith(sfx) for sfx in OBJECT_KINDS):
                continue  # e.g. Keras 2's SeparableConv2D kernel_initializer, unused there too
            raise InputError(f"{where} ({cls_name}) sets {key}={value!r}, which Keras 3's {cls_name} does not have")
        if any(key3.endswith(sfx) for sfx in OBJECT_KINDS):
            kind = next(v for s, v in OBJECT_KINDS.items() if key3.endswith(s))
            value = _keras_object(keras, kind, value, f"{where} {key3}")
        elif key3 == "activation" and isinstance(value, dict):
            value = value.get("config", {}).get("name") or value.get("class_name")
        elif cls_name in ("BatchNormalization", "LayerNormalization") and key3 == "axis" and isinstance(value, list):
            value = value[0] if len(value) == 1 else value
        out[key3] = value
    return out


def build_model(config: dict, source: str, free_input: bool = True):
    """A Keras 3 model built from ``config`` (Keras 2's or Keras 3's ``model_config``).

    The input's batch, height and width are made free (``None``) when ``free_input``. Raises
    :class:`InputError` naming ``source`` and the layer for anything that cannot be built.
    Weights are not set (see :func:`set_weights_by_name`).
    """
    from .backend import keras as _keras

    keras = _keras()
    try:
        kind, layers = _layers_of(config)
    except InputError as exc:
        raise InputError(f"{source}: {exc}") from None
    made: dict[str, object] = {}
    specs = []
    for i, layer in enumerate(layers):
        if not isinstance(layer, dict):
            raise InputError(f"{source}: layer {i} of the model configuration is not a layer object")
        cls_name = layer.get("class_name")
        name = _name(layer, i)
        where = f"{source}: layer {name!r}"
        if cls_name not in LAYERS:
            raise InputError(f"{where} is of class {cls_name!r}, which has no Keras 3 equivalent that ais_like loads")
        cfg = layer.get("config") if isinstance(layer.get("config"), dict) else {}
        specs.append((name, cls_name, cfg, layer))

    tensors: dict[tuple[str, int, int], object] = {}
    inputs = []
    if kind == "Sequential":
        return _build_sequential(keras, specs, source, free_input)
    for name, cls_name, cfg, _ in specs:
        if cls_name != "InputLayer":
            continue
        shape = _input_shape(cfg)
        if shape is None:
            raise InputError(f"{source}: input layer {name!r} has no shape")
        body = (None,) * (len(shape) - 2) + (shape[-1],) if free_input else tuple(shape[1:])
        t = keras.Input(shape=body, name=name)
        tensors[(name, 0, 0)] = t
        made[name] = t
    pending = [s for s in specs if s[1] != "InputLayer"]
    objects = {}
    for name, cls_name, cfg, _ in pending:
        try:
            objects[name] = getattr(keras.layers, cls_name)(name=name, **layer_kwargs(keras, cls_name, cfg, f"{source}: layer {name!r}"))
        except InputError:
            raise
        except Exception as exc:
            raise InputError(f"{source}: layer {name!r} ({cls_name}) cannot be made in Keras 3 "
                             f"({' '.join(str(exc).split())[:160]})") from None
        if cfg.get("trainable") is False:
            objects[name].trainable = False
    calls = {name: _inbound(layer, f"{source}: layer {name!r}") for name, _, _, layer in pending}
    done = {name: 0 for name in calls}
    progress = True
    while progress:
        progress = False
        for name, cls_name, cfg, _ in pending:
            while done[name] < len(calls[name]):
                wanted = calls[name][done[name]]
                if not all(w in tensors for w in wanted):
                    break
                args = [tensors[w] for w in wanted]
                try:
                    out = objects[name](args[0] if len(args) == 1 else args)
                except Exception as exc:
                    raise InputError(f"{source}: layer {name!r} ({cls_name}) does not fit its inputs "
                                     f"({' '.join(str(exc).split())[:160]})") from None
                outs = out if isinstance(out, (list, tuple)) else [out]
                for j, o in enumerate(outs):
                    tensors[(name, done[name], j)] = o
                done[name] += 1
                progress = True
    stuck = [n for n in calls if done[n] < len(calls[n])]
    if stuck:
        raise InputError(f"{source}: layer {stuck[0]!r} is connected to a layer the configuration does not define")
    inner = config.get("config") or {}
    try:
        inputs = [tensors[k] for k in _io(inner.get("input_layers"))]
        outputs = [tensors[k] for k in _io(inner.get("output_layers"))]
    except KeyError as exc:
        raise InputError(f"{source}: the model's inputs or outputs name a missing layer ({exc})") from None
    if not inputs or not outputs:
        raise InputError(f"{source}: the model configuration names no inputs or outputs")
    return keras.Model(inputs[0] if len(inputs) == 1 else inputs, outputs[0] if len(outputs) == 1 else outputs,
                       name=str(inner.get("name") or "model"))


def _build_sequential(keras, specs, source: str, free_input: bool):
    if not specs:
        raise InputError(f"{source}: the sequential model has no layers")
    name, cls_name, cfg, _ = specs[0]
    shape = _input_shape(cfg)
    if shape is None:
        raise InputError(f"{source}: the sequential model's first layer {name!r} has no input shape")
    body = (None,) * (len(shape) - 2) + (shape[-1],) if free_input else tuple(shape[1:])
    inp = keras.Input(shape=body, name="input" if cls_name != "InputLayer" else name)
    x = inp
    for name, cls_name, cfg, _ in specs:
        if cls_name == "InputLayer":
            continue
        try:
            x = getattr(keras.layers, cls_name)(name=name, **layer_kwargs(keras, cls_name, cfg, f"{source}: layer {name!r}"))(x)
        except InputError:
            raise
        except Exception as exc:
            raise InputError(f"{source}: layer {name!r} ({cls_name}) cannot be made in Keras 3 "
                             f"({' '.join(str(exc).split())[:160]})") from None
    return keras.Model(inp, x, name="sequential")


def set_weights_by_name(model, weights: list[tuple[str, list]], source: str) -> None:
    """Set each layer's weights from ``weights`` (``modelio.read_h5_weights``: (layer name, arrays)).

    Every layer of ``model`` with weights must have an entry of the same name with as many
    arrays of the same shapes; raises :class:`InputError` naming the first that does not.
    """
    by_name = dict(weights)
    for layer in model.layers:
        if not layer.weights:
            continue
        arrays = by_name.pop(layer.name, None)
        if arrays is None:
            raise InputError(f"{source}: the file has no weights for layer {layer.name!r}")
        need = [tuple(int(s) for s in w.shape) for w in layer.weights]
        got = [tuple(a.shape) for a in arrays]
        if need != got:
            raise InputError(f"{source}: the weights of layer {layer.name!r} have shapes {got}, the layer needs {need}")
        layer.set_weights(arrays)
    if by_name:
        raise InputError(f"{source}: the file has weights for layers the model does not have: {', '.join(sorted(by_name))}")


# ---------------------------------------------------------------------------------------------
# What defines a network
# ---------------------------------------------------------------------------------------------
def _norm(cls_name: str, key: str, value, rank: int):
    value = _as_tuple(value)
    if key in ("kernel_size", "strides", "pool_size", "size", "dilation_rate") and isinstance(value, int):
        value = (value,) * rank
    if key == "axis":
        if isinstance(value, tuple) and len(value) == 1:
            value = value[0]
        if isinstance(value, int) and value < 0:
            value = rank + 2 + value  # channels-last: -1 is the channel axis of a rank-2 (or 3) image
    if key == "activation" and value in (None, "linear"):
        value = "linear"
    if key == "groups" and value in (None,):
        value = 1
    if isinstance(value, float):
        value = float(f"{value:.6g}")  # a float32 setting written back as a double (0.2 -> 0.20000000298)
    return value


def _layer_rank(cls_name: str) -> int:
    return 3 if cls_name.endswith("3D") else 1 if cls_name.endswith("1D") else 2


def _settings(cls_name: str, cfg: dict) -> tuple:
    rank = _layer_rank(str(cls_name))
    if "pool_size" in cfg and cfg.get("strides") is None:
        cfg = dict(cfg, strides=cfg["pool_size"])  # a pool's stride defaults to its size
    # Keras 2's name of a renamed setting (LeakyReLU alpha) counts as Keras 3's
    cfg = {RENAMED.get((cls_name, k), k): v for k, v in cfg.items()}
    settings = []
    for k in _FUNCTION_KEYS:
        if k not in cfg:
            continue
        v = _norm(cls_name, k, cfg[k], rank)
        if (k in NEUTRAL and v in NEUTRAL[k]) or (k == "data_format" and v == "channels_last"):
            continue
        settings.append((k, v))
    return tuple(sorted(settings, key=lambda kv: kv[0]))


def signature(config: dict) -> str:
    """What defines the network of a model configuration, as a digest: the graph from the inputs
    to the outputs, each layer as its class, the settings that change its function (not its
    name, initialiser or the input's height and width) and its inputs in order. Keras 2 and
    Keras 3 configurations of one network give the same digest, whatever order they list the
    layers in; two configurations with equal digests compute the same function of the same
    weights.
    """
    import hashlib

    _, layers = _layers_of(config)
    by_name = {}
    for i, layer in enumerate(layers):
        by_name[_name(layer, i)] = layer
    memo: dict[str, str] = {}

    def digest(name: str, depth: int = 0) -> str:
        if name in memo:
            return memo[name]
        if depth > len(by_name) + 1 or name not in by_name:
            return "missing"
        layer = by_name[name]
        cls_name = layer.get("class_name")
        cfg = layer.get("config") if isinstance(layer.get("config"), dict) else {}
        if cls_name == "InputLayer":
            shape = _input_shape(cfg) or (None,)
            text = repr(("InputLayer", len(shape), shape[-1]))
        else:
            try:
                calls = _inbound(layer, "layer")
            except InputError:
                calls = []
            ins = tuple(tuple((digest(src, depth + 1), t) for src, _, t in call) for call in calls)
            text = repr((cls_name, _settings(cls_name, cfg), ins))
        memo[name] = hashlib.sha256(text.encode()).hexdigest()[:32]
        return memo[name]

    inner = config.get("config") if isinstance(config.get("config"), dict) else {}
    if config.get("class_name") == "Sequential":
        text = repr(tuple((layer.get("class_name"), _settings(layer.get("class_name"), layer.get("config") or {}))
                          for layer in layers if layer.get("class_name") != "InputLayer"))
    else:
        text = repr(tuple(digest(n) for n, _, _ in _io(inner.get("output_layers"))))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def model_signature(model) -> str:
    """:func:`signature` of a built Keras 3 model."""
    return signature({"class_name": "Functional", "config": model.get_config()})
