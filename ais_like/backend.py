"""Keras backend selection and device report. Importing this module imports nothing heavy."""

from __future__ import annotations

import os
import sys

DEFAULT_BACKEND = "tensorflow"


def keras():
    """Import and return ``keras``, with TensorFlow as the default backend.

    ``KERAS_BACKEND=torch`` or ``jax`` in the environment selects another backend.
    """
    os.environ.setdefault("KERAS_BACKEND", DEFAULT_BACKEND)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    first = "keras" not in sys.modules
    if first and os.environ["KERAS_BACKEND"] == "tensorflow" and "tensorflow" not in sys.modules:
        with _stderr_muted():  # TensorFlow's C++ start-up notices ignore TF_CPP_MIN_LOG_LEVEL
            import tensorflow  # noqa: F401
    import keras as _keras

    if first:
        _quiet_backend_logs()
    return _keras


class _stderr_muted:
    """Send file descriptor 2 to /dev/null for a ``with`` block (not when AIS_LIKE_DEBUG is set)."""

    def __enter__(self):
        self._saved = None
        if os.environ.get("AIS_LIKE_DEBUG"):
            return self
        try:
            sys.stderr.flush()
            self._saved = os.dup(2)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 2)
            os.close(devnull)
        except OSError:
            self._saved = None
        return self

    def __exit__(self, *exc):
        if self._saved is not None:
            os.dup2(self._saved, 2)
            os.close(self._saved)
        return False


def _quiet_backend_logs() -> None:
    """TensorFlow's retracing notices and Keras's "HDF5 is legacy" note are not for our users."""
    import logging

    for name in ("tensorflow", "absl", "h5py"):
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        import absl.logging

        absl.logging.set_verbosity(absl.logging.ERROR)
    except ImportError:
        pass


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


_GPU: bool | None = None


def has_gpu() -> bool:
    """True when the Keras backend in use has a GPU (Keras then runs networks there). Asked
    once per process; False when the backend cannot report."""
    global _GPU
    if _GPU is None:
        try:
            _GPU = bool(device_report().get("gpu"))
        except Exception:  # noqa: BLE001 - no backend report: assume the CPU
            _GPU = False
    return _GPU


def env_flag(name: str) -> bool | None:
    """True / False when the environment variable ``name`` is set to yes / no ("0", "false",
    "no", "off" are no); None when it is unset, empty or "auto"."""
    v = os.environ.get(name, "").strip().lower()
    if v in ("", "auto"):
        return None
    return v not in ("0", "false", "no", "off")
