"""Helpers for the archive tests: hand-made tar archives (hostile ones too) and tiny models."""

from __future__ import annotations

import io
import json
import tarfile

import numpy as np

from ais_like.archive import AIS_DEFAULTS


def ais_metadata(**over) -> dict:
    """Metadata as Ais 1.2.40 writes it (no ``ais_like`` key)."""
    meta = {k: v for k, v in AIS_DEFAULTS.items()}
    meta.update(title="Particle", arch="Eman2", model_enum=5, apix=10.0, normalization="global_mad")
    meta.update(over)
    return meta


def tar_bytes(members, fmt=tarfile.GNU_FORMAT) -> bytes:
    """members: list of (TarInfo or name, bytes or None)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for info, data in members:
            if isinstance(info, str):
                info = tarfile.TarInfo(info)
            if data is not None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return buf.getvalue()


def metadata_member(meta, prefix="m") -> tuple[str, bytes]:
    return f"{prefix}_metadata.json", json.dumps(meta).encode()


def huge_member_tar(size: int = 50 * 1024**3) -> bytes:
    """A tar whose header claims a member of ``size`` bytes while holding a few bytes only."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        info = tarfile.TarInfo("m_weights.h5")
        info.size = 16
        tar.addfile(info, io.BytesIO(b"x" * 16))
    raw = bytearray(buf.getvalue())
    # rewrite the size field (offset 124, 12 bytes) with GNU's base-256 encoding, fix the checksum
    field = bytearray(12)
    field[0] = 0x80
    field[4:] = size.to_bytes(8, "big")
    raw[124:136] = field
    raw[148:156] = b" " * 8
    chk = sum(raw[:512])
    raw[148:156] = f"{chk:06o}\0 ".encode()
    return bytes(raw)


def lambda_h5(path) -> None:
    """A Keras 2 HDF5 model whose second layer is a Lambda carrying (fake) marshalled code."""
    import h5py

    config = {"class_name": "Functional", "config": {"name": "model", "trainable": True, "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, None, None, 1], "dtype": "float32",
                                                "name": "input_1"}, "name": "input_1", "inbound_nodes": []},
        {"class_name": "Lambda", "config": {"name": "evil", "trainable": True, "dtype": "float32",
                                            "function": ["4wEAAAAAAAAAAAAAAAEAAAAE", None, None],
                                            "function_type": "lambda", "module": "builtins"},
         "name": "evil", "inbound_nodes": [[["input_1", 0, 0, {}]]]}],
        "input_layers": [["input_1", 0, 0]], "output_layers": [["evil", 0, 0]]}}
    with h5py.File(path, "w") as f:
        f.attrs["backend"] = "tensorflow"
        f.attrs["keras_version"] = "2.15.0"
        f.attrs["model_config"] = json.dumps(config)
        g = f.create_group("model_weights")
        g.attrs["layer_names"] = np.array([b"input_1", b"evil"])
        for n in ("input_1", "evil"):
            g.create_group(n).attrs["weight_names"] = np.array([], dtype=np.float64)


def particle_volume(shape=(12, 128, 128), n: int = 14, seed: int = 1, sigma_px: float = 2.0,
                    amplitude: float = 3.0, noise: float = 1.0):
    """Bright ~6 px particles on Gaussian noise (dark background), as the Ais model was trained
    on; returns (volume float32, mask of the particles' 3 px radius, centres (z, y, x))."""
    rng = np.random.default_rng(seed)
    z, y, x = np.indices(shape)
    vol = np.zeros(shape, np.float32)
    mask = np.zeros(shape, bool)
    centres = []
    for _ in range(n):
        c = rng.uniform([3, 10, 10], [shape[0] - 3, shape[1] - 10, shape[2] - 10])
        centres.append(c)
        r2 = (z - c[0]) ** 2 + (y - c[1]) ** 2 + (x - c[2]) ** 2
        vol += amplitude * np.exp(-r2 / (2 * sigma_px**2)).astype(np.float32)
        mask |= r2 < 9
    vol += rng.normal(0, noise, shape).astype(np.float32)
    return vol, mask, np.array(centres)
