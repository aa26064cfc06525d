"""Model archives (``.scnm``): an uncompressed tar of ``<name>_weights.h5`` (the whole Keras
model in HDF5) and ``<name>_metadata.json`` (Ais's metadata fields plus our own under
``"ais_like"``), laid out like the archives Ais writes so that each can open the other's.

Archives come from strangers: members are read into memory (never extracted), links,
absolute or ``..`` paths, duplicate and oversized members are refused.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .errors import InputError

FORMAT_VERSION = 1
MAX_MEMBER_BYTES = 2 * 1024**3  # no sane model file is larger

# Ais's metadata fields and their defaults (Ais 1.2.x); unknown keys are kept and ignored.
AIS_DEFAULTS = {
    "title": "Unnamed model",
    "colour": [0.26, 0.84, 0.64],
    "apix": -1.0,
    "compiled": True,
    "box_size": 64,
    "model_depth": 1,
    "model_enum": 0,
    "epochs": 0,
    "batch_size": 32,
    "active": True,
    "blend": False,
    "show": True,
    "alpha": 0.75,
    "threshold": 0.5,
    "overlap": 0.2,
    "active_tab": 0,
    "n_parameters": 0,
    "n_copies": 4,
    "info": "",
    "info_short": "",
    "excess_negative": 30,
    "emit": False,
    "absorb": False,
    "loss": 0.0,
    "normalization": "slice_mad",
    "z_jitter": 0,
    "tta": 1,
}


@dataclass
class LoadedModel:
    model: object  # a Keras model or an ais_like.custom_model object
    metadata: dict = field(default_factory=dict)

    @property
    def title(self) -> str:
        return str(self.metadata.get("title", "model"))

    @property
    def apix(self) -> float | None:
        a = self.metadata.get("apix")
        return float(a) if isinstance(a, (int, float)) and a > 0 else None

    @property
    def architecture(self) -> str:
        ours = self.metadata.get("ais_like", {})
        return str(ours.get("architecture") or self.metadata.get("arch") or "unknown")


def preprocess_settings(metadata: dict) -> dict:
    """How a model's input slices must be prepared, from its metadata.

    Returns a dict with ``normalisation`` ("slice" or "global", see
    :func:`ais_like.preprocess.normalise`), ``clamp`` (sigmas, or None), ``lowpass`` and
    ``highpass`` (Å, or None) and ``apix`` (the model's Å/px, or None when unknown). Training
    stores these under ``metadata["ais_like"]["preprocess"]``; archives written by Ais carry only
    its ``normalization`` field, mapped here.
    """
    ours = metadata.get("ais_like") if isinstance(metadata.get("ais_like"), dict) else {}
    pre = ours.get("preprocess") if isinstance(ours.get("preprocess"), dict) else {}
    norm = pre.get("normalisation")
    if norm not in ("slice", "global", "none"):
        ais = str(metadata.get("normalization", "slice_mad")).lower()
        norm = "global" if ais.startswith("global") else "slice"
    clamp = pre.get("clamp", 4.0)
    apix = metadata.get("apix")
    return {
        "normalisation": norm,
        "clamp": float(clamp) if isinstance(clamp, (int, float)) and clamp > 0 else None,
        "lowpass": _positive_or_none(pre.get("lowpass")),
        "highpass": _positive_or_none(pre.get("highpass")),
        "apix": _positive_or_none(apix),
    }


def _positive_or_none(value):
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 else None


def archive_name(title: str) -> str:
    """A file-system-safe member prefix for a model title."""
    safe = "".join(c if (c.isalnum() or c in "-_ ") else "_" for c in title).strip()
    return safe or "model"


def make_metadata(title: str, architecture: str, **fields) -> dict:
    """Ais-compatible metadata with our own fields under ``"ais_like"``."""
    ours = fields.pop("ais_like", {})
    meta = dict(AIS_DEFAULTS)
    meta.update(title=title, arch=architecture)
    meta.update(fields)
    meta["ais_like"] = {"format_version": FORMAT_VERSION, "architecture": architecture, **ours}
    return meta


def save_scnm(path: str | os.PathLike, model, metadata: dict) -> Path:
    """Write ``model`` and ``metadata`` to a ``.scnm`` archive atomically."""
    from .modelio import save_h5

    path = Path(path)
    if not path.parent.exists():
        raise InputError(f"{path}: the folder {path.parent} does not exist")
    name = archive_name(str(metadata.get("title", "model")))
    with tempfile.TemporaryDirectory(prefix="ais_like_scnm_") as tmp:
        h5 = Path(tmp) / f"{name}_weights.h5"
        save_h5(model, h5)
        meta_bytes = json.dumps(metadata, indent=1, default=_json_default).encode("utf-8")
        fd, part = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
        os.close(fd)
        try:
            with tarfile.open(part, "w", format=tarfile.GNU_FORMAT) as tar:
                tar.add(h5, arcname=h5.name)
                info = tarfile.TarInfo(f"{name}_metadata.json")
                info.size = len(meta_bytes)
                tar.addfile(info, io.BytesIO(meta_bytes))
            os.replace(part, path)
        except BaseException:
            Path(part).unlink(missing_ok=True)
            raise
    return path


def _json_default(o):
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


def read_members(path: str | os.PathLike, max_bytes: int = MAX_MEMBER_BYTES) -> dict[str, bytes]:
    """The regular-file members of a tar archive, read into memory after safety checks."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such model file")
    out: dict[str, bytes] = {}
    try:
        with tarfile.open(path, "r:") as tar:
            for m in tar:
                name = m.name
                if name.startswith("/") or "\\" in name or any(p == ".." for p in name.split("/")):
                    raise InputError(f"{path}: refused: member {name!r} has an unsafe path")
                if not m.isfile():
                    raise InputError(f"{path}: refused: member {name!r} is a link or special file")
                if m.size > max_bytes:
                    raise InputError(f"{path}: refused: member {name!r} is {m.size} bytes (limit {max_bytes})")
                base = name.rsplit("/", 1)[-1]
                if base in out:
                    raise InputError(f"{path}: refused: duplicate member {base!r}")
                f = tar.extractfile(m)
                data = f.read() if f else b""
                if len(data) != m.size:
                    raise InputError(f"{path}: the archive is truncated (member {name!r})")
                out[base] = data
    except tarfile.TarError as exc:
        raise InputError(f"{path}: not a readable model archive ({' '.join(str(exc).split())})") from None
    return out


def read_metadata(path: str | os.PathLike) -> dict:
    members = read_members(path)
    return _metadata_from(path, members)


def _metadata_from(path, members: dict[str, bytes]) -> dict:
    metas = [k for k in members if k.endswith("_metadata.json")]
    if len(metas) != 1:
        raise InputError(f"{path}: expected one *_metadata.json in the archive, found {len(metas)}")
    try:
        meta = json.loads(members[metas[0]].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: metadata is not valid JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise InputError(f"{path}: metadata must be a JSON object")
    return meta


def load_scnm(path: str | os.PathLike, compile: bool = False) -> LoadedModel:
    """Open a ``.scnm`` archive: the model (safe mode: no code runs) and its metadata."""
    from .modelio import load_h5

    members = read_members(path)
    meta = _metadata_from(path, members)
    weights = [k for k in members if k.endswith("_weights.h5")]
    if len(weights) != 1:
        raise InputError(f"{path}: expected one *_weights.h5 in the archive, found {len(weights)}")
    with tempfile.TemporaryDirectory(prefix="ais_like_scnm_") as tmp:
        h5 = Path(tmp) / "model.h5"
        h5.write_bytes(members[weights[0]])
        model = load_h5(h5, compile=compile, source=str(path))
    return LoadedModel(model=model, metadata=meta)
