"""Model archives: ``.scnm`` (one model) and ``.scnmgroup`` (several, with their interactions),
laid out as Ais writes them so that each program opens the other's files.

``.scnm``
    An uncompressed tar of ``<name>_weights.h5`` (the whole Keras model; written in Keras 2's
    HDF5 layout, which Ais's ``tf.keras`` and our Keras 3 both read, see
    :mod:`ais_like.modelio`), ``<name>_metadata.json`` (Ais's fields, plus ours under
    ``"ais_like"``) and optionally ``<name>_slice.tiff`` (a validation slice, float32) and
    ``<name>_preview.png`` (512 x 512 RGB: that slice with the model's output overlaid).
    Older Ais wrote the metadata JSON itself as ``X.scnm`` with the weights beside it in
    ``X.scnm_weights.h5``; that layout is read too.
``.scnmgroup``
    An uncompressed tar of several ``.scnm`` (``<group>_model_<i>.scnm``) and
    ``<group>_interactions.json``: a list of ``{parent_title, partner_title, type (0 colocalize,
    1 avoid), radius (nm), threshold}``, resolved by model title. Emit/absorb live in each
    model's metadata.

Archives come from strangers. Members are read into memory, never extracted by name; absolute
or ``..`` paths, links, devices, FIFOs, sparse and duplicate members, members over a size
limit, too many members and truncated archives are refused; every metadata field Ais or we
use is checked for type and range (:func:`validate_metadata`, the message names the field);
the model is loaded in safe mode (no ``Lambda`` layers, no code, no pickle anywhere).
"""

from __future__ import annotations

import io
import json
import math
import os
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .errors import InputError
from .training import FAILED_VERDICTS

FORMAT_VERSION = 2

# Limits for files from strangers (generous for real models: Ais's largest are ~100 MB).
MAX_MEMBER_BYTES = 1024**3
MAX_ARCHIVE_BYTES = 4 * 1024**3
MAX_METADATA_BYTES = 1024**2
MAX_SLICE_BYTES = 256 * 1024**2
MAX_PREVIEW_BYTES = 16 * 1024**2
MAX_MEMBERS = 16
MAX_GROUP_MODELS = 64
MAX_PNG_SIDE = 4096
PREVIEW_SIZE = 512

# Ais's order of architectures for files that name theirs only by ``model_enum``
# (Ais-cryoET 1.2.x, ``SEModel.LEGACY_MODEL_ENUM``); newer files store the title as ``arch``.
AIS_LEGACY_MODEL_ENUM = ("ezm-2d-dice", "ezm-2d-bxe", "ezm-3d", "ezm-3d-bxe", "ezm-3d-filament", "Eman2",
                         "InceptionNet", "Pix2pix", "cryoPom-bxe", "cryoPom-comb", "cryoPom-dice", "ResNet",
                         "UNet L", "UNet S", "VGGNet L", "VGGNet M", "VGGNet S", "VGGNet X")

# Ais's metadata fields and their defaults (Ais 1.2.x). Ais's loader reads every one of the
# first 23 by key, so every archive we write has them all; unknown keys are kept and ignored.
AIS_DEFAULTS = {
    "title": "Unnamed model",
    "colour": [0.26, 0.84, 0.64],
    "apix": -1.0,
    "compiled": True,
    "box_size": 64,
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
    "model_depth": 1,
    "normalization": None,  # Ais: None = per-slice mean/std, "global_mad" = whole-volume statistics
    "z_jitter": 0,
    "tta": 1,
}


@dataclass
class LoadedModel:
    """A model and its metadata, as read from an archive.

    ``preview_png`` holds the archive's preview image (PNG bytes, checked by
    :func:`read_png` when decoded) and ``validation_slice`` its validation slice (float32 (y, x)),
    each None when absent; ``source`` is the file it came from.
    """

    model: object  # a Keras model or an ais_like.custom_model object
    metadata: dict = field(default_factory=dict)
    source: str | None = None
    preview_png: bytes | None = None
    validation_slice: object = None

    @property
    def title(self) -> str:
        return str(self.metadata.get("title", "model"))

    @property
    def apix(self) -> float | None:
        a = self.metadata.get("apix")
        return float(a) if isinstance(a, (int, float)) and not isinstance(a, bool) and a > 0 else None

    @property
    def architecture(self) -> str:
        ours = self.metadata.get("ais_like") if isinstance(self.metadata.get("ais_like"), dict) else {}
        return str(ours.get("architecture") or self.metadata.get("arch") or "unknown")


# ---------------------------------------------------------------------------------------------
# Metadata: what Ais's fields mean for us, validation
# ---------------------------------------------------------------------------------------------
def preprocess_settings(metadata: dict) -> dict:
    """How a model's input slices must be prepared, from its metadata.

    Returns a dict with ``normalisation`` ("slice", "global" or "none", see
    :func:`ais_like.preprocess.normalise`), ``clamp`` (sigmas, or None), ``lowpass`` and
    ``highpass`` (Å, or None), ``apix`` (the model's Å/px, or None when unknown), ``tta`` (the
    number of rotations/flips the model's author asked to average, 1..8) and ``source``
    ("ais_like" or "ais").

    Models trained by ais_like store their preparation under
    ``metadata["ais_like"]["preprocess"]``. Models trained by Ais carry only its
    ``normalization`` field, mapped to the equivalent here (Ais-cryoET 1.2.40):

    - absent / None (and any other value, e.g. the ``"slice_mad"`` of early ais_like files):
      Ais standardises each box in training and each whole slice at inference on its own
      (mean 0, standard deviation 1) -> ``"slice"`` (median 0, 1.4826 MAD = 1: the same for
      the noise that dominates a tomogram slice, and robust to gold and carbon);
    - ``"global_mad"`` (and ``"global_std"``): one centre and scale for the whole tomogram,
      measured on up to 32 evenly spaced slices at native resolution -> ``"global"``.

    Ais never clamps, band-passes or inverts the data (its models see the tomogram's own
    contrast), so ``clamp``, ``lowpass`` and ``highpass`` are None for its models.
    """
    meta = metadata if isinstance(metadata, dict) else {}
    ours = meta.get("ais_like") if isinstance(meta.get("ais_like"), dict) else {}
    pre = ours.get("preprocess") if isinstance(ours.get("preprocess"), dict) else None
    tta = meta.get("tta", 1)
    tta = int(tta) if isinstance(tta, (int, float)) and not isinstance(tta, bool) and math.isfinite(tta) else 1
    out = {"apix": _positive_or_none(meta.get("apix")), "tta": min(max(tta, 1), 8)}
    if pre is not None and pre.get("normalisation") in ("slice", "global", "none"):
        clamp = pre.get("clamp", 4.0)
        out.update(normalisation=pre["normalisation"], clamp=_positive_or_none(clamp),
                   lowpass=_positive_or_none(pre.get("lowpass")), highpass=_positive_or_none(pre.get("highpass")),
                   source="ais_like")
        return out
    ais = str(meta.get("normalization") or "").lower()
    out.update(normalisation="global" if ais.startswith("global") else "slice", clamp=None, lowpass=None,
               highpass=None, source="ais")
    return out


def _positive_or_none(value):
    return float(value) if _is_number(value) and math.isfinite(value) and value > 0 else None


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def archive_name(title: str) -> str:
    """A file-system-safe member prefix for a model title."""
    safe = "".join(c if (c.isalnum() or c in "-_ ") else "_" for c in str(title)).strip()
    return safe or "model"


def ais_model_enum(architecture: str) -> int:
    """The ``model_enum`` Ais 1.2.x resolves to ``architecture`` (0 when it has none)."""
    low = str(architecture).lower()
    for i, t in enumerate(AIS_LEGACY_MODEL_ENUM):
        if t.lower() == low:
            return i
    return 0


def ais_normalization(normalisation: str | None):
    """Ais's ``normalization`` value for one of ours (None = Ais's per-slice standardisation)."""
    return "global_mad" if normalisation == "global" else None


def make_metadata(title: str, architecture: str, **fields) -> dict:
    """Ais-compatible metadata with our own fields under ``"ais_like"``.

    ``fields`` override Ais's defaults (:data:`AIS_DEFAULTS`); ``ais_like={...}`` adds ours
    (``preprocess``, ``trainset``, ``training``, ``divisor`` ...). ``arch`` and ``model_enum``
    are set so that Ais finds the architecture, and ``normalization`` from our preprocessing.
    """
    ours = dict(fields.pop("ais_like", None) or {})
    meta = dict(AIS_DEFAULTS)
    meta.update(title=title, arch=architecture, model_enum=ais_model_enum(architecture))
    pre = ours.get("preprocess") if isinstance(ours.get("preprocess"), dict) else {}
    meta["normalization"] = ais_normalization(pre.get("normalisation", "slice"))
    meta.update(fields)
    meta["ais_like"] = {"format_version": FORMAT_VERSION, "architecture": architecture, **ours}
    return meta


class _Fields:
    """Validation of metadata values; each check returns the (possibly cleaned) value."""

    def __init__(self, source):
        self.source = source

    def fail(self, key, problem):
        raise InputError(f"{self.source}: metadata field {key!r} {problem}")

    def integer(self, key, v, lo, hi):
        if _is_number(v) and math.isfinite(v) and float(v).is_integer():
            if not lo <= v <= hi:
                self.fail(key, f"is {v}, outside {lo}..{hi}")
            return int(v)
        self.fail(key, f"must be an integer, got {type(v).__name__} {v!r:.60}")

    def number(self, key, v, lo=-math.inf, hi=math.inf, nan=False):
        if not _is_number(v):
            self.fail(key, f"must be a number, got {type(v).__name__} {v!r:.60}")
        if math.isnan(v):
            if nan:
                return float(v)
            self.fail(key, "is NaN")
        if not lo <= v <= hi:
            self.fail(key, f"is {v}, outside {lo}..{hi}")
        return v

    def boolean(self, key, v):
        if not isinstance(v, bool):
            self.fail(key, f"must be true or false, got {type(v).__name__} {v!r:.60}")
        return v

    def text(self, key, v, hi, none=False, lo=0):
        if v is None and none:
            return v
        if not isinstance(v, str):
            self.fail(key, f"must be a string, got {type(v).__name__}")
        if not lo <= len(v) <= hi:
            self.fail(key, f"has {len(v)} characters (allowed {lo}..{hi})")
        if any(ord(c) < 32 and c not in "\t\n" for c in v):
            self.fail(key, "contains control characters")
        return v


def validate_metadata(meta, source: str | os.PathLike = "metadata") -> dict:
    """Check the type and range of every metadata field Ais or ais_like uses.

    Returns a cleaned copy (colour clipped to 0..1, integral numbers as int); unknown fields are
    kept unchanged. Raises :class:`InputError` naming the field and the problem.
    """
    src = str(source)
    if not isinstance(meta, dict):
        raise InputError(f"{src}: the metadata must be a JSON object, got {type(meta).__name__}")
    if len(meta) > 1000:
        raise InputError(f"{src}: the metadata has {len(meta)} fields (limit 1000)")
    v = _Fields(src)
    out = dict(meta)
    checks = {
        "title": lambda k, x: v.text(k, x, 200, lo=1),
        "apix": lambda k, x: v.number(k, x, -1.0, 1e5),
        "box_size": lambda k, x: v.integer(k, x, -1, 65536),
        "model_depth": lambda k, x: v.integer(k, x, 1, 4096),
        "model_enum": lambda k, x: v.integer(k, x, -1, 100000),
        "epochs": lambda k, x: v.integer(k, x, 0, 10**8),
        "batch_size": lambda k, x: v.integer(k, x, 0, 10**7),
        "n_parameters": lambda k, x: v.integer(k, x, 0, 10**12),
        "n_copies": lambda k, x: v.integer(k, x, 0, 10**7),
        "active_tab": lambda k, x: v.integer(k, x, -10**6, 10**6),
        "tta": lambda k, x: v.integer(k, x, 1, 16),
        "excess_negative": lambda k, x: v.number(k, x, -100, 1e9),
        "alpha": lambda k, x: v.number(k, x, 0, 1),
        "threshold": lambda k, x: v.number(k, x, 0, 1),
        "overlap": lambda k, x: v.number(k, x, 0, 1),
        "z_jitter": lambda k, x: v.number(k, x, 0, 1e6),
        "loss": lambda k, x: None if x is None else v.number(k, x, nan=True),
        "filament_diameter": lambda k, x: None if x is None else v.number(k, x, 0, 1e6),
        "info": lambda k, x: v.text(k, x, 10000),
        "info_short": lambda k, x: v.text(k, x, 10000),
        "arch": lambda k, x: v.text(k, x, 200, none=True),
        "normalization": lambda k, x: v.text(k, x, 100, none=True),
        **{b: (lambda k, x: v.boolean(k, x)) for b in ("compiled", "active", "blend", "show", "emit", "absorb")},
    }
    for key, check in checks.items():
        if key in out:
            out[key] = check(key, out[key])
    if "colour" in out:
        c = out["colour"]
        if not isinstance(c, (list, tuple)) or len(c) not in (3, 4) or not all(_is_number(x) and math.isfinite(x) for x in c):
            v.fail("colour", f"must be a list of 3 numbers (r, g, b in 0..1), got {json.dumps(c, default=str)[:60]}")
        out["colour"] = [min(max(float(x), 0.0), 1.0) for x in c[:3]]
    if "ais_like" in out:
        out["ais_like"] = _validate_ours(out["ais_like"], v)
    return out


def _validate_ours(ours, v: _Fields) -> dict:
    if not isinstance(ours, dict):
        v.fail("ais_like", f"must be an object, got {type(ours).__name__}")
    ours = dict(ours)
    if "format_version" in ours:
        ours["format_version"] = v.integer("ais_like.format_version", ours["format_version"], 1, 10**6)
    if "architecture" in ours:
        v.text("ais_like.architecture", ours["architecture"], 200, lo=1)
    if "divisor" in ours:
        ours["divisor"] = v.integer("ais_like.divisor", ours["divisor"], 1, 4096)
    for key in ("trainset", "training"):
        if key in ours and not isinstance(ours[key], dict):
            v.fail(f"ais_like.{key}", f"must be an object, got {type(ours[key]).__name__}")
    if "preprocess" in ours:
        pre = ours["preprocess"]
        if not isinstance(pre, dict):
            v.fail("ais_like.preprocess", f"must be an object, got {type(pre).__name__}")
        if "normalisation" in pre and pre["normalisation"] not in ("slice", "global", "none"):
            v.fail("ais_like.preprocess.normalisation", f"must be 'slice', 'global' or 'none', got {pre['normalisation']!r:.40}")
        for key in ("clamp", "lowpass", "highpass"):
            if pre.get(key) is not None:
                v.number(f"ais_like.preprocess.{key}", pre[key], 0, 1e9)
    return ours


# ---------------------------------------------------------------------------------------------
# Reading tar archives safely
# ---------------------------------------------------------------------------------------------
def _member_limit(base: str) -> int:
    if base.endswith((".json",)):
        return MAX_METADATA_BYTES
    if base.endswith("_preview.png"):
        return MAX_PREVIEW_BYTES
    if base.endswith(("_slice.tiff", "_slice.tif")):
        return MAX_SLICE_BYTES
    return MAX_MEMBER_BYTES


def _safe_base(source: str, name: str) -> str:
    if not name or "\x00" in name or any(ord(c) < 32 for c in name):
        raise InputError(f"{source}: refused: member {name!r} has an unsafe name")
    if name.startswith(("/", "\\")) or "\\" in name or (len(name) > 1 and name[1] == ":"):
        raise InputError(f"{source}: refused: member {name!r} has an absolute or Windows path")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise InputError(f"{source}: refused: member {name!r} has a '..' path (it would leave the folder)")
    return parts[-1] if parts else ""


def _read_tar(fileobj, source: str, *, want=None, max_members: int = MAX_MEMBERS,
              max_bytes: int | None = None) -> dict[str, bytes]:
    """Regular-file members of a tar stream after safety checks: ``{basename: bytes}``.

    ``want(basename) -> bool`` selects the members whose data is read (the others are skipped
    without reading, but still checked). ``max_bytes`` caps every member (default: by kind).
    """
    out: dict[str, bytes] = {}
    seen: set[str] = set()
    total = 0
    try:
        with tarfile.open(fileobj=fileobj, mode="r:") as tar:
            count = 0
            for m in tar:
                count += 1
                if count > max_members:
                    raise InputError(f"{source}: refused: more than {max_members} members")
                base = _safe_base(source, m.name)
                if m.isdir():
                    continue
                if m.issym() or m.islnk():
                    raise InputError(f"{source}: refused: member {m.name!r} is a link (to {m.linkname!r})")
                if m.ischr() or m.isblk():
                    raise InputError(f"{source}: refused: member {m.name!r} is a device")
                if m.isfifo():
                    raise InputError(f"{source}: refused: member {m.name!r} is a FIFO")
                if m.issparse():
                    raise InputError(f"{source}: refused: member {m.name!r} is a sparse file")
                if not m.isreg():
                    raise InputError(f"{source}: refused: member {m.name!r} is not a regular file")
                if not base:
                    raise InputError(f"{source}: refused: member {m.name!r} has no file name")
                if base in seen:
                    raise InputError(f"{source}: refused: duplicate member {base!r}")
                seen.add(base)
                limit = max_bytes if max_bytes is not None else _member_limit(base)
                if m.size < 0 or m.size > limit:
                    raise InputError(f"{source}: refused: member {base!r} is {m.size} bytes (limit {limit})")
                total += m.size
                if total > MAX_ARCHIVE_BYTES:
                    raise InputError(f"{source}: refused: the members add up to more than {MAX_ARCHIVE_BYTES} bytes")
                if want is not None and not want(base):
                    continue
                f = tar.extractfile(m)
                data = f.read(m.size + 1) if f else b""
                if len(data) != m.size:
                    raise InputError(f"{source}: the archive is truncated (member {base!r} has {len(data)} of "
                                     f"{m.size} bytes)")
                out[base] = data
    except tarfile.TarError as exc:
        raise InputError(f"{source}: not a readable archive, or truncated ({' '.join(str(exc).split())})") from None
    except EOFError:
        raise InputError(f"{source}: the archive is truncated") from None
    return out


def read_members(path: str | os.PathLike, max_bytes: int = MAX_MEMBER_BYTES, *, want=None,
                 max_members: int = MAX_MEMBERS) -> dict[str, bytes]:
    """The regular-file members of a tar archive, read into memory after safety checks.

    Parameters
    ----------
    path : the archive.
    max_bytes : the largest member accepted (metadata, previews and slices have smaller limits).
    want : optional ``want(basename) -> bool``; only those members' data is read.
    max_members : the most members accepted.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such model file")
    with open(path, "rb") as f:
        members = _read_tar(f, str(path), want=want, max_members=max_members)
    for base, data in members.items():
        if len(data) > max_bytes:
            raise InputError(f"{path}: refused: member {base!r} is {len(data)} bytes (limit {max_bytes})")
    return members


def _parse_json(data: bytes, what: str):
    if len(data) > MAX_METADATA_BYTES:
        raise InputError(f"{what}: refused: {len(data)} bytes of JSON (limit {MAX_METADATA_BYTES})")
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise InputError(f"{what}: not valid JSON ({' '.join(str(exc).split())[:120]})") from None


def _metadata_from(path, members: dict[str, bytes]) -> dict:
    metas = [k for k in members if k.endswith("_metadata.json")]
    if len(metas) != 1:
        raise InputError(f"{path}: expected one *_metadata.json in the archive, found {len(metas)}")
    return validate_metadata(_parse_json(members[metas[0]], f"{path}: {metas[0]}"), path)


def _is_tar(path: Path) -> bool:
    try:
        return tarfile.is_tarfile(path)
    except OSError:
        return False


def _legacy_weights(path: Path) -> Path | None:
    """The weights file beside an older Ais JSON ``.scnm`` (``X.scnm_weights.h5`` or ``X_weights.h5``)."""
    for cand in (path.with_name(path.name + "_weights.h5"), path.with_name(path.stem + "_weights.h5")):
        if cand.is_file():
            return cand
    return None


def _read_legacy_json(path: Path) -> dict:
    size = path.stat().st_size
    if size > MAX_METADATA_BYTES:
        raise InputError(f"{path}: neither a tar archive nor a metadata JSON of at most {MAX_METADATA_BYTES} bytes")
    with open(path, "rb") as f:
        head = f.read(MAX_METADATA_BYTES + 1)
    if not head.lstrip()[:1] == b"{":
        raise InputError(f"{path}: not a model archive (neither a tar archive nor Ais's older JSON layout)")
    return validate_metadata(_parse_json(head, str(path)), path)


def read_metadata(path: str | os.PathLike) -> dict:
    """A model archive's metadata (validated), reading only the metadata member.

    Accepts Ais's older layout (the ``.scnm`` is the metadata JSON) too.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such model file")
    if not _is_tar(path):
        return _read_legacy_json(path)
    members = read_members(path, want=lambda b: b.endswith("_metadata.json"))
    return _metadata_from(path, members)


def read_preview(path: str | os.PathLike) -> bytes | None:
    """The PNG bytes of a model archive's preview (None when it has none); checked by :func:`read_png`."""
    path = Path(path)
    if not path.is_file() or not _is_tar(path):
        return None
    members = read_members(path, want=lambda b: b.endswith("_preview.png"))
    data = next((v for k, v in members.items() if k.endswith("_preview.png")), None)
    if data is not None:
        read_png(data, f"{path}: preview")  # refuse a broken or hostile image here, not in the GUI
    return data


# ---------------------------------------------------------------------------------------------
# Loading and saving one model
# ---------------------------------------------------------------------------------------------
def load_scnm(path: str | os.PathLike) -> LoadedModel:
    """Open a ``.scnm`` model (ours, Ais's, or older Ais's JSON + ``_weights.h5`` layout).

    The model is loaded in safe mode with a free input shape (whole slices of any size that is
    a multiple of the network's divisor); ``metadata["ais_like"]["architecture"]`` names the
    ais_like plugin when the stored network is recognisably one of ours (same title, same
    weight shapes). The preview and validation slice, when present, are attached (checked).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such model file")
    if not _is_tar(path):
        meta = _read_legacy_json(path)
        weights = _legacy_weights(path)
        if weights is None:
            raise InputError(f"{path}: an older Ais model (JSON) without its weights file "
                             f"{path.name}_weights.h5 beside it")
        return _load_model_bytes(str(path), meta, weights.read_bytes(), {})
    members = read_members(path)
    return _loaded_from_members(str(path), members)


def _loaded_from_members(source: str, members: dict[str, bytes]) -> LoadedModel:
    known = ("_weights.h5", "_metadata.json", "_slice.tiff", "_slice.tif", "_preview.png")
    for base in members:
        if not base.endswith(known):
            raise InputError(f"{source}: refused: unexpected member {base!r} (a .scnm holds *_weights.h5, "
                             "*_metadata.json, *_slice.tiff and *_preview.png)")
    meta = _metadata_from(source, members)
    weights = [k for k in members if k.endswith("_weights.h5")]
    if len(weights) != 1:
        raise InputError(f"{source}: expected one *_weights.h5 in the archive, found {len(weights)}")
    return _load_model_bytes(source, meta, members[weights[0]], members)


def _load_model_bytes(source: str, meta: dict, h5: bytes, members: dict) -> LoadedModel:
    from .modelio import load_h5

    arch_title = _architecture_candidate(meta)
    tmp = tempfile.mkdtemp(prefix="ais_like_scnm_")  # private (0700), removed below
    try:
        h5_path = Path(tmp) / "model.h5"
        h5_path.write_bytes(h5)
        model = load_h5(h5_path, source=source, architecture=arch_title)
    finally:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    meta = dict(meta)
    meta["ais_like"] = identify_network(model, meta, arch_title)
    preview = next((v for k, v in members.items() if k.endswith("_preview.png")), None)
    if preview is not None:
        read_png(preview, f"{source}: preview")
    slice_bytes = next((v for k, v in members.items() if k.endswith(("_slice.tiff", "_slice.tif"))), None)
    vslice = read_slice_tiff(slice_bytes, f"{source}: validation slice") if slice_bytes is not None else None
    return LoadedModel(model=model, metadata=meta, source=source, preview_png=preview, validation_slice=vslice)


def _architecture_candidate(meta: dict) -> str | None:
    """The ais_like plugin title a metadata names (ours, Ais's ``arch``, its ``info`` or ``model_enum``)."""
    from . import registry

    titles = {a.title.lower(): a.title for a in registry.list_architectures(all=True)}
    ours = meta.get("ais_like") if isinstance(meta.get("ais_like"), dict) else {}
    candidates = [ours.get("architecture"), meta.get("arch")]
    info = meta.get("info")
    if isinstance(info, str) and " (" in info:
        candidates.append(info.split(" (", 1)[0])
    enum = meta.get("model_enum")
    if isinstance(enum, int) and not isinstance(enum, bool) and 0 <= enum < len(AIS_LEGACY_MODEL_ENUM) \
            and not meta.get("arch"):
        candidates.append(AIS_LEGACY_MODEL_ENUM[enum])
    for c in candidates:
        if isinstance(c, str) and c.strip().lower() in titles:
            return titles[c.strip().lower()]
    return None


def _legacy_twin(title: str | None) -> str | None:
    """The ais_like 0.1 network that was saved under ``title`` (e.g. "VGGNet M (ais_like 0.1)")."""
    from . import registry

    if not title:
        return None
    try:
        return registry.get_architecture(f"{title} (ais_like 0.1)").title
    except InputError:
        return None


def network_note(held: str | None, named: str | None) -> str:
    """What the workbench and ``ais-like info`` say about the network a file holds."""
    if held is None:
        from . import registry

        try:
            claimed = registry.get_architecture(named or "").title if named else None
        except InputError:
            claimed = None
        return (f"a network of its own, not ais_like's {claimed!r}" if claimed else "a network of its own") + \
            " (opened from its stored configuration)"
    if held.endswith(" (ais_like 0.1)"):
        return f"ais_like 0.1's own {held[:-len(' (ais_like 0.1)')]} network (not Ais's), now titled {held!r}"
    return f"{held}, layer for layer Ais's network of that title"


def identify_network(model, meta: dict, candidate: str | None = None) -> dict:
    """The ``ais_like`` metadata of a loaded model, with ``architecture`` set to the plugin whose
    network the model holds (compared by ``ais_like.kerasconfig.signature``, not by the title the
    file claims) and ``network`` saying what that is."""
    from . import registry

    ours = dict(meta.get("ais_like") or {}) if isinstance(meta.get("ais_like"), dict) else {}
    named = ours.get("architecture") or meta.get("arch") or candidate
    named = str(named) if named else None
    shape = getattr(getattr(model, "generator", model), "input_shape", None) or (1,)
    channels = int(shape[-1]) if isinstance(shape[-1], int) else 1
    candidates = [c for c in (candidate, _legacy_twin(candidate)) if c]
    held = registry.network_title(registry.network_digest(model), candidates, channels)
    if held is not None:
        ours["architecture"] = held
    else:
        try:
            registry.get_architecture(named or "")
            ours["architecture"] = f"{named} (own network)"  # not the plugin's network: do not claim it
        except InputError:
            ours["architecture"] = named or "unknown"
    ours["network"] = network_note(held, named)
    return ours


def _complete_metadata(model, metadata: dict, source: str) -> dict:
    """Metadata as written: validated, with every field Ais reads and ours filled in."""
    from .modelio import keras2_compatible

    meta = validate_metadata(metadata, source)
    base = dict(AIS_DEFAULTS)
    base.update(meta)
    meta = base
    ours = dict(meta.get("ais_like") or {})
    arch = str(ours.get("architecture") or meta.get("arch") or "unknown")
    ours.setdefault("architecture", arch)
    ours["format_version"] = FORMAT_VERSION
    ok, why = keras2_compatible(model)
    ours["ais_compatible"] = ok
    if not ok:
        ours["ais_incompatible_reason"] = why
    else:
        ours.pop("ais_incompatible_reason", None)
    from . import __version__

    ours["writer"] = f"ais_like {__version__}"
    meta["ais_like"] = ours
    meta["arch"] = arch
    meta["model_enum"] = ais_model_enum(arch)
    meta["compiled"] = True
    try:
        meta["n_parameters"] = int(model.count_params())
    except Exception:
        pass
    if not meta.get("info"):
        loss = meta.get("loss")
        loss = float(loss) if _is_number(loss) else float("nan")
        spec = f"{meta['n_parameters'] / 1e6:.1f} Mp, {meta['box_size']}-{meta.get('model_depth', 1)}, " \
               f"{float(meta['apix']):.1f}, {loss:.4f}"
        meta["info"] = f"{arch} ({spec})"
        meta["info_short"] = f"({arch}, {meta['box_size']}-{meta.get('model_depth', 1)}, {float(meta['apix']):.1f}, {loss:.4f})"
    return meta


def _json_default(o):
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


def _scnm_members(model, metadata: dict, prefix: str, source: str, validation_slice=None,
                  slice_apix: float | None = None) -> tuple[list[tuple[str, bytes]], dict]:
    """The members of a ``.scnm`` as (name, bytes), and the metadata written."""
    from .modelio import save_h5

    meta = _complete_metadata(model, metadata, source)
    tmp = tempfile.mkdtemp(prefix="ais_like_scnm_")
    try:
        h5 = Path(tmp) / f"{prefix}_weights.h5"
        save_h5(model, h5)
        members = [(h5.name, h5.read_bytes())]
    finally:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    members.append((f"{prefix}_metadata.json",
                    json.dumps(meta, indent=1, default=_json_default).encode("utf-8")))
    if validation_slice is not None:
        import numpy as np

        image = np.asarray(validation_slice, dtype=np.float32)
        if image.ndim != 2 or min(image.shape) < 8:
            raise InputError(f"{source}: the validation slice must be a 2D (y, x) image of at least 8 x 8 px, "
                             f"got shape {image.shape}")
        members.append((f"{prefix}_slice.tiff", slice_tiff_bytes(image)))
        prob = _predict_for_preview(model, meta, image, slice_apix)
        rgb = make_preview(image, prob, meta.get("colour", AIS_DEFAULTS["colour"]), float(meta.get("threshold", 0.5)),
                           float(meta.get("alpha", 0.75)))
        members.append((f"{prefix}_preview.png", png_bytes(rgb)))
    return members, meta


def _tar_bytes(members: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    now = int(time.time())
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = now
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _atomic_write(path: Path, data: bytes) -> Path:
    if not path.parent.is_dir():
        raise InputError(f"{path}: the folder {path.parent} does not exist")
    try:
        fd, part = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    except OSError as exc:
        raise InputError(f"{path}: cannot write in {path.parent} ({exc.strerror})") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(part, 0o644)
        os.replace(part, path)
    except BaseException:
        Path(part).unlink(missing_ok=True)
        raise
    return path


def save_scnm(path: str | os.PathLike, model, metadata: dict, *, validation_slice=None,
              slice_apix: float | None = None) -> Path:
    """Write ``model`` and ``metadata`` to a ``.scnm`` archive atomically.

    Parameters
    ----------
    path : the ``.scnm`` to write (its folder must exist).
    model : a Keras model (written in Keras 2's HDF5 layout when its layers allow, so that Ais
        opens it) or an ``ais_like.custom_model`` object.
    metadata : see :func:`make_metadata`; validated, and completed with every field Ais reads.
    validation_slice : optional raw (y, x) slice; stored as ``<name>_slice.tiff`` with a
        512 x 512 ``<name>_preview.png`` of the model's output on it.
    slice_apix : the slice's Å/px (resampled to the model's for the preview; None: as is).
    """
    path = Path(path)
    prefix = archive_name(path.stem)
    members, _ = _scnm_members(model, metadata, prefix, str(path), validation_slice, slice_apix)
    return _atomic_write(path, _tar_bytes(members))


def _predict_for_preview(model, meta: dict, image, slice_apix):
    """The model's probabilities on one raw slice, prepared as its metadata says."""
    from .modelio import predict_probabilities
    from .preprocess import prepare_slice

    s = preprocess_settings(meta)
    prepared = prepare_slice(image, slice_apix, s["apix"], normalisation=s["normalisation"], clamp=s["clamp"],
                             lowpass=s["lowpass"], highpass=s["highpass"])
    prob = predict_probabilities(model, prepared, _divisor(model, meta))
    if prob.shape != image.shape:  # the model ran at its own Å/px: back to the slice's grid
        from .preprocess import resample_xy

        prob = resample_xy(prob, shape=image.shape)
    return prob


def _divisor(model, meta: dict) -> int:
    ours = meta.get("ais_like") if isinstance(meta.get("ais_like"), dict) else {}
    if isinstance(ours.get("divisor"), int):
        return ours["divisor"]
    from . import registry

    try:
        return int(getattr(registry.get_architecture(ours.get("architecture") or meta.get("arch")), "divisor", 32))
    except InputError:
        return 32


# ---------------------------------------------------------------------------------------------
# Validation slice (TIFF) and preview (PNG)
# ---------------------------------------------------------------------------------------------
def slice_tiff_bytes(image) -> bytes:
    """A (y, x) float32 slice as TIFF bytes (what Ais stores as ``<name>_slice.tiff``)."""
    import numpy as np
    import tifffile

    buf = io.BytesIO()
    tifffile.imwrite(buf, np.asarray(image, dtype=np.float32))
    return buf.getvalue()


def read_slice_tiff(data: bytes, what: str = "validation slice"):
    """A TIFF from an archive as a float32 (y, x) array, refused when odd or huge."""
    import numpy as np
    import tifffile

    try:
        with tifffile.TiffFile(io.BytesIO(data)) as tif:
            if len(tif.pages) < 1:
                raise InputError(f"{what}: the TIFF has no image")
            page = tif.pages[0]
            shape = tuple(int(s) for s in page.shape)
            if len(shape) not in (2, 3) or any(s < 1 for s in shape) or math.prod(shape) > 64 * 1024**2:
                raise InputError(f"{what}: refused: image of shape {shape}")
            arr = page.asarray()
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"{what}: not a readable TIFF ({' '.join(str(exc).split())[:120]})") from None
    arr = np.asarray(arr)
    if arr.dtype.kind not in "fiub":
        raise InputError(f"{what}: refused: TIFF of dtype {arr.dtype}")
    arr = arr.astype(np.float32)
    while arr.ndim > 2:
        arr = arr[arr.shape[0] // 2] if arr.shape[0] > 4 or arr.ndim > 3 else arr.mean(axis=0)
    return arr


def make_preview(image, probability, colour=(0.26, 0.84, 0.64), threshold: float = 0.5,
                 alpha: float = 0.75, size: int = PREVIEW_SIZE):
    """A ``size`` x ``size`` RGB uint8 preview: the slice (1-99 % contrast) with the model's
    output above ``threshold`` overlaid in ``colour`` (blended by ``alpha``).

    ``image`` and ``probability`` are (y, x) of one shape; the centred square is shown.
    """
    import numpy as np
    from skimage.transform import resize

    img = np.asarray(image, np.float32)
    prob = np.asarray(probability, np.float32)
    if img.shape != prob.shape or img.ndim != 2:
        raise InputError(f"preview: slice {img.shape} and probabilities {prob.shape} must be one (y, x) shape")
    s = min(img.shape)
    y0, x0 = (img.shape[0] - s) // 2, (img.shape[1] - s) // 2
    img, prob = img[y0:y0 + s, x0:x0 + s], prob[y0:y0 + s, x0:x0 + s]
    img = resize(img, (size, size), order=1, anti_aliasing=s > size, preserve_range=True)
    prob = resize(prob, (size, size), order=1, anti_aliasing=False, preserve_range=True)
    finite = img[np.isfinite(img)]
    lo, hi = (np.percentile(finite, [1, 99]) if finite.size else (0.0, 1.0))
    grey = np.clip((np.nan_to_num(img, nan=lo) - lo) / max(hi - lo, 1e-12), 0, 1)
    rgb = np.repeat(grey[..., None], 3, axis=2)
    mask = prob > threshold
    c = np.clip(np.asarray(colour, np.float32)[:3], 0, 1)
    rgb[mask] = (1 - alpha) * rgb[mask] + alpha * c
    return np.clip(np.rint(rgb * 255), 0, 255).astype(np.uint8)


def png_bytes(rgb) -> bytes:
    """Encode an (h, w, 3) or (h, w) uint8 image as PNG (8-bit, no filtering, zlib level 6)."""
    import struct
    import zlib

    import numpy as np

    a = np.asarray(rgb)
    if a.dtype != np.uint8 or a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)):
        raise InputError(f"png: expected uint8 (h, w), (h, w, 3) or (h, w, 4), got {a.dtype} {a.shape}")
    h, w = a.shape[:2]
    colour_type = 0 if a.ndim == 2 else (2 if a.shape[2] == 3 else 6)
    rows = a.reshape(h, -1)
    raw = np.concatenate([np.zeros((h, 1), np.uint8), rows], axis=1).tobytes()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 8, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")


def read_png(data: bytes, what: str = "preview"):
    """Decode a PNG from an archive without trusting it: the signature, every chunk's length and
    CRC and the header (8-bit grey/RGB/RGBA, at most 4096 px a side, no interlace) are checked
    and the pixel data's decompressed size is bounded before Pillow decodes it.

    Returns an (h, w, 3) uint8 array.
    """
    import struct
    import zlib

    import numpy as np

    if not isinstance(data, (bytes, bytearray)) or len(data) > MAX_PREVIEW_BYTES:
        raise InputError(f"{what}: refused: not PNG bytes of at most {MAX_PREVIEW_BYTES} bytes")
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise InputError(f"{what}: not a PNG image")
    pos, header, idat, ended = 8, None, [], False
    while pos < len(data):
        if pos + 8 > len(data):
            raise InputError(f"{what}: the PNG is truncated")
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        crc = data[pos + 8 + length:pos + 12 + length]
        if len(body) != length or len(crc) != 4:
            raise InputError(f"{what}: the PNG is truncated")
        if struct.unpack(">I", crc)[0] != zlib.crc32(kind + body) & 0xFFFFFFFF:
            raise InputError(f"{what}: the PNG's {kind!r} chunk is corrupt (CRC)")
        if kind == b"IHDR":
            if length != 13:
                raise InputError(f"{what}: the PNG header is malformed")
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            ended = True
            break
        pos += 12 + length
    if header is None or not ended or not idat:
        raise InputError(f"{what}: the PNG is incomplete")
    w, h, depth, ctype, _, _, interlace = header
    channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(ctype)
    if not (1 <= w <= MAX_PNG_SIDE and 1 <= h <= MAX_PNG_SIDE) or depth != 8 or channels is None or interlace:
        raise InputError(f"{what}: refused: PNG of {w} x {h} px, bit depth {depth}, colour type {ctype} "
                         f"(expected 8-bit grey/RGB/RGBA up to {MAX_PNG_SIDE} px, not interlaced)")
    expected = h * (1 + w * channels)
    d = zlib.decompressobj()
    try:
        raw = d.decompress(b"".join(idat), expected + 1)
    except zlib.error:
        raise InputError(f"{what}: the PNG's pixel data is corrupt") from None
    if len(raw) != expected:
        raise InputError(f"{what}: the PNG's pixel data has {len(raw)} bytes, expected {expected}")
    from PIL import Image

    try:
        with Image.open(io.BytesIO(bytes(data))) as im:
            im.load()
            arr = np.asarray(im.convert("RGB"))
    except Exception as exc:
        raise InputError(f"{what}: cannot decode the PNG ({' '.join(str(exc).split())[:100]})") from None
    return arr


# ---------------------------------------------------------------------------------------------
# Groups
# ---------------------------------------------------------------------------------------------
def validate_interactions(interactions, titles, source: str = "interactions") -> list[dict]:
    """Check a ``.scnmgroup``'s interaction list and that every title resolves to a model.

    Each entry: ``parent_title`` and ``partner_title`` (titles of two different models),
    ``type`` 0 (colocalize) or 1 (avoid), ``radius`` (nm, 0..100000), ``threshold`` (0..1).
    Returns a copy; raises :class:`InputError` naming the entry and field.
    """
    if not isinstance(interactions, list):
        raise InputError(f"{source}: the interactions must be a JSON list, got {type(interactions).__name__}")
    if len(interactions) > 10000:
        raise InputError(f"{source}: refused: {len(interactions)} interactions")
    titles = set(titles)
    out = []
    for i, d in enumerate(interactions):
        where = f"{source}: interaction {i}"
        if not isinstance(d, dict):
            raise InputError(f"{where} must be an object, got {type(d).__name__}")
        v = _Fields(where)
        for key in ("parent_title", "partner_title", "type", "radius", "threshold"):
            if key not in d:
                raise InputError(f"{where}: field {key!r} is missing")
        for key in ("parent_title", "partner_title"):
            v.text(key, d[key], 200, lo=1)
            if d[key] not in titles:
                raise InputError(f"{where}: {key} {d[key]!r} is not the title of a model in the group "
                                 f"({', '.join(sorted(map(repr, titles))) or 'none'})")
        if d["parent_title"] == d["partner_title"]:
            raise InputError(f"{where}: a model cannot interact with itself ({d['parent_title']!r})")
        t = v.integer("type", d["type"], 0, 1)
        e = dict(d)
        e.update(type=t, radius=float(v.number("radius", d["radius"], 0, 1e5)),
                 threshold=float(v.number("threshold", d["threshold"], 0, 1)))
        out.append(e)
    return out


def save_group(path: str | os.PathLike, models, interactions: list[dict]) -> Path:
    """Write several models and their interactions to a ``.scnmgroup`` atomically.

    Parameters
    ----------
    path : the ``.scnmgroup`` to write.
    models : list of :class:`LoadedModel` or ``(model, metadata)`` pairs; titles must differ
        (interactions name models by title).
    interactions : see :func:`validate_interactions`.
    """
    path = Path(path)
    pairs = []
    for m in models:
        if isinstance(m, LoadedModel):
            pairs.append((m.model, m.metadata))
        elif isinstance(m, (tuple, list)) and len(m) == 2 and isinstance(m[1], dict):
            pairs.append((m[0], m[1]))
        else:
            raise InputError(f"{path}: each model must be a LoadedModel or a (model, metadata) pair")
    if not pairs:
        raise InputError(f"{path}: a model group needs at least one model")
    if len(pairs) > MAX_GROUP_MODELS:
        raise InputError(f"{path}: at most {MAX_GROUP_MODELS} models in a group")
    titles = [str(meta.get("title", "")) for _, meta in pairs]
    dup = sorted({t for t in titles if titles.count(t) > 1})
    if dup:
        raise InputError(f"{path}: model titles must differ within a group (interactions name models by title): "
                         f"{', '.join(map(repr, dup))}")
    inter = validate_interactions(list(interactions or []), titles, str(path))
    group = archive_name(path.stem)
    members = []
    for i, (model, meta) in enumerate(pairs):
        prefix = f"{group}_model_{i}"
        inner, _ = _scnm_members(model, meta, prefix, f"{path} (model {titles[i]!r})")
        members.append((f"{prefix}.scnm", _tar_bytes(inner)))
    members.append((f"{group}_interactions.json", json.dumps(inter, indent=2).encode("utf-8")))
    return _atomic_write(path, _tar_bytes(members))


def _group_members(path: Path) -> tuple[list[tuple[str, bytes]], list]:
    """The ``.scnm`` members (name, bytes) and the raw interaction list of a group."""
    members = read_members(path, max_members=MAX_GROUP_MODELS + 1)
    inter_names = [k for k in members if k.endswith("_interactions.json")]
    if len(inter_names) > 1:
        raise InputError(f"{path}: refused: {len(inter_names)} *_interactions.json members (one expected)")
    models = []
    for base in sorted(members, key=_natural_key):
        if base in inter_names:
            continue
        if not base.endswith(".scnm"):
            raise InputError(f"{path}: refused: unexpected member {base!r} (a .scnmgroup holds .scnm models and "
                             "one *_interactions.json)")
        models.append((base, members[base]))
    if not models:
        raise InputError(f"{path}: the model group holds no .scnm models")
    raw = _parse_json(members[inter_names[0]], f"{path}: {inter_names[0]}") if inter_names else []
    return models, raw


def _natural_key(name: str):
    import re

    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def _group_contents(path: Path) -> tuple[list[tuple[str, bytes]], list[dict], list[dict]]:
    """A group's ``.scnm`` members (name, bytes), their metadata and the validated interactions."""
    models, raw = _group_members(path)
    metas = []
    for base, data in models:
        src = f"{path}: {base}"
        inner = _read_tar(io.BytesIO(data), src, want=lambda b: b.endswith("_metadata.json"))
        metas.append(_metadata_from(src, inner))
    _check_unique_titles(path, metas)
    return models, metas, validate_interactions(raw, [m.get("title") for m in metas], str(path))


def read_group_metadata(path: str | os.PathLike) -> tuple[list[dict], list[dict]]:
    """The metadata of every model in a ``.scnmgroup`` and its validated interactions (no Keras)."""
    _, metas, interactions = _group_contents(Path(path))
    return metas, interactions


def unpack_group(path: str | os.PathLike, folder: str | os.PathLike) -> tuple[list[tuple[Path, dict]], list[dict]]:
    """Write every model of a ``.scnmgroup`` as a ``.scnm`` of its own into ``folder``
    (atomically; the group is read once and checked as :func:`read_group_metadata` checks it).
    Returns ``[(file, metadata)]`` in the group's order and the validated interactions."""
    path = Path(path)
    models, metas, interactions = _group_contents(path)
    folder = Path(folder)
    files = [_atomic_write(folder / Path(base).name, data) for base, data in models]
    return list(zip(files, metas)), interactions


def _check_unique_titles(path, metas):
    titles = [m.get("title") for m in metas]
    dup = sorted({str(t) for t in titles if titles.count(t) > 1})
    if dup:
        raise InputError(f"{path}: models with the same title in one group ({', '.join(map(repr, dup))}): "
                         "interactions cannot be resolved")


def load_group(path: str | os.PathLike) -> tuple[list[LoadedModel], list[dict]]:
    """Open a ``.scnmgroup``: its models (each as :func:`load_scnm` would) and interactions.

    The interactions are returned as stored (validated: types, ranges, titles resolve);
    ``ais_like.interactions`` turns them into an interaction spec.
    """
    path = Path(path)
    models, raw = _group_members(path)
    inners, metas = [], []
    for base, data in models:  # metadata and interactions first: refuse a bad group before Keras
        src = f"{path}: {base}"
        inner = _read_tar(io.BytesIO(data), src)
        inners.append((src, inner))
        metas.append(_metadata_from(src, inner))
    _check_unique_titles(path, metas)
    interactions = validate_interactions(raw, [m.get("title") for m in metas], str(path))
    loaded = [_loaded_from_members(src, inner) for src, inner in inners]
    return loaded, interactions


# ---------------------------------------------------------------------------------------------
# Description (ais-like info)
# ---------------------------------------------------------------------------------------------
def _training_summary(meta: dict) -> str:
    ours = meta.get("ais_like") if isinstance(meta.get("ais_like"), dict) else {}
    parts = [f"{meta.get('epochs', '?')} epochs", f"batch {meta.get('batch_size', '?')}"]
    ts = ours.get("trainset") if isinstance(ours.get("trainset"), dict) else {}
    if ts:
        if "tiles" in ts:
            parts.append(f"{ts['tiles']} tiles ({ts.get('positive tiles', '?')} with the feature)")
        if ts.get("normalisation"):
            parts.append(f"{ts['normalisation']} normalisation")
    elif "n_copies" in meta:
        parts.append(f"{meta['n_copies']} copies per positive box")
    tr = ours.get("training") if isinstance(ours.get("training"), dict) else {}
    if tr.get("loss"):
        parts.append(f"loss function {tr['loss']}")
    if isinstance(tr.get("best_epoch"), int):
        parts.append(f"best epoch {tr['best_epoch'] + 1}")
    if _is_number(tr.get("seconds")):
        parts.append(f"{tr['seconds']:.0f} s")
    return ", ".join(parts)


def _describe_one(meta: dict) -> dict:
    ours = meta.get("ais_like") if isinstance(meta.get("ais_like"), dict) else {}
    pre = preprocess_settings(meta)
    apix = meta.get("apix")
    loss = meta.get("loss")
    return {
        "title": meta.get("title"),
        "architecture": ours.get("architecture") or _architecture_candidate(meta) or meta.get("arch") or "unknown",
        "parameters": meta.get("n_parameters"),
        "apix": float(apix) if _is_number(apix) and apix > 0 else "unknown",
        "box size": meta.get("box_size"),
        "loss": round(float(loss), 5) if _is_number(loss) else loss,
        "training": _training_summary(meta),
        "normalisation": pre["normalisation"] + (f" (Ais: {meta.get('normalization')})" if pre["source"] == "ais" else ""),
        "threshold": meta.get("threshold"),
        "written by": ours.get("writer") or ("Ais" if not ours else "ais_like"),
        **_check_summary(ours),
    }


def _check_summary(ours: dict) -> dict:
    """The training's check of the model (``ais_like.training.Health``), when it recorded one."""
    health = (ours.get("training") or {}).get("health") if isinstance(ours.get("training"), dict) else None
    if not isinstance(health, dict) or not health.get("verdict"):
        return {}
    failed = health["verdict"] in FAILED_VERDICTS
    return {"check": ("FAILED: " if failed else "") + str(health.get("message") or health["verdict"])}


def describe_model(path: str | os.PathLike) -> dict:
    """What ``ais-like info`` shows of a ``.scnm`` or ``.scnmgroup`` (reads metadata only, no Keras)."""
    path = Path(path)
    if path.suffix.lower() == ".scnmgroup":
        metas, inter = read_group_metadata(path)
        names = {0: "colocalize with", 1: "avoid"}
        return {
            "file": str(path),
            "format": "Ais model group (.scnmgroup)",
            "models": "; ".join(f"{d['title']} ({d['architecture']}, {d['apix']} Å/px)"
                                for d in map(_describe_one, metas)),
            "interactions": "; ".join(f"{e['parent_title']} {names[e['type']]} {e['partner_title']} within "
                                      f"{e['radius']:g} nm (threshold {e['threshold']:g})" for e in inter) or "none",
            "emit/absorb": "; ".join(f"{m.get('title')}: emit {bool(m.get('emit'))}, absorb {bool(m.get('absorb'))}"
                                     for m in metas),
        }
    meta = read_metadata(path)
    info = {"file": str(path), "format": "Ais model (.scnm)" if _is_tar(path) else "older Ais model (JSON + _weights.h5)"}
    info.update(_describe_one(meta))
    if _is_tar(path):
        with open(path, "rb") as f:
            listed = _list_names(f, str(path))
        info["preview"] = "yes" if any(n.endswith("_preview.png") for n in listed) else "no"
        h5 = next(iter(read_members(path, want=lambda b: b.endswith("_weights.h5")).values()), None)
    else:
        weights = _legacy_weights(path)
        h5 = weights.read_bytes() if weights is not None else None
    info["network"] = _network_from_bytes(h5, meta, str(path))
    return info


def _network_from_bytes(h5: bytes | None, meta: dict, source: str) -> str:
    """:func:`network_note` from a weights file's stored configuration (no Keras import)."""
    import h5py

    from . import registry
    from .kerasconfig import signature

    named = (meta.get("ais_like") or {}).get("architecture") if isinstance(meta.get("ais_like"), dict) else None
    named = named or meta.get("arch")
    if not h5:
        return "unknown (no weights file)"
    try:
        with h5py.File(io.BytesIO(h5), "r") as f:
            raw = f.attrs.get("model_config")
            custom = f.attrs.get("ais_like_custom_model")
        if raw is None and custom is not None:
            return network_note("Pix2pix (ais_like 0.1)", str(named) if named else None)
        if raw is None:
            return "unknown (the weights file stores no network)"
        config = json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else str(raw))
        titles = registry.known_networks().get(signature(config), [])
    except Exception:
        return "unknown (the stored network configuration cannot be read)"
    wanted = str(named or "").lower()
    held = next((t for t in titles if t.lower() == wanted), titles[0] if titles else None)
    return network_note(held, str(named) if named else None)


def _list_names(fileobj, source: str) -> list[str]:
    """Member base names (headers only, after the same safety checks)."""
    names = []
    _read_tar(fileobj, source, want=lambda b: names.append(b) and False)
    return names
