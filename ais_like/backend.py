"""Keras backend selection and device report. Importing this module imports nothing heavy."""

from __future__ import annotations

import os

DEFAULT_BACKEND = "tensorflow"


def keras():
    """Import and return ``keras``, with TensorFlow as the default backend.

    ``KERAS_BACKEND=torch`` or ``jax`` in the environment selects another backend.
    """
    os.environ.setdefault("KERAS_BACKEND", DEFAULT_BACKEND)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras as _keras

    return _keras


def backend_name() -> str:
    """The backend Keras uses (or will use) in this process, without importing it."""
    import sys

    if "keras" in sys.modules:
        return sys.modules["keras"].backend.backend()
    return os.environ.get("KERAS_BACKEND", DEFAULT_BACKEND)


def device_report() -> dict:
    """Which backend and devices training and inference use (imports the backend)."""
    k = keras()
    name = k.backend.backend()
    report = {"backend": name, "keras": k.__version__, "devices": [], "gpu": False}
    if name == "tensorflow":
        import tensorflow as tf

        report["tensorflow"] = tf.__version__
        report["devices"] = [f"{d.device_type}:{d.name}" for d in tf.config.list_physical_devices()]
        report["gpu"] = bool(tf.config.list_physical_devices("GPU"))
    elif name == "torch":
        import torch

        report["torch"] = torch.__version__
        devs = ["cpu"]
        if torch.cuda.is_available():
            devs += [f"cuda:{i} {torch.cuda.get_device_name(i)}" for i in range(torch.cuda.device_count())]
        report["devices"] = devs
        report["gpu"] = torch.cuda.is_available()
    elif name == "jax":
        import jax

        report["jax"] = jax.__version__
        report["devices"] = [str(d) for d in jax.devices()]
        report["gpu"] = any(d.platform == "gpu" for d in jax.devices())
    return report
