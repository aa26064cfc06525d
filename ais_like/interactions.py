"""Model interactions: combine the predictions of several models (competition, colocalize, avoid).

A prediction is an array (y, x) or (z, y, x) whose values mean a probability:

- ``uint8`` / ``uint16`` (Ais) / other unsigned or signed integers: 0..255, 255 = probability 1;
- ``int8`` (an MRC mode 0 file without IMOD's "unsigned" stamp): read as unsigned bytes 0..255;
- ``float16`` / ``float32`` / ``float64``: 0..1;
- ``bool``: 0/1.

Every threshold is on the 0..1 scale whatever the dtype (``value > threshold * 255`` for
integers, strictly greater, as in Ais). Interactions only ever set voxels to 0, so the dtype of
each prediction is kept.

The order is fixed:

1. **Competition.** Models may *emit* and/or *absorb*. A voxel of an absorbing model is set to 0
   where any *other* emitting model predicts a strictly higher value (all comparisons use the
   predictions as they were before competition, so the result does not depend on model order).
2. **Interactions**, in the user's order, each on the result of the previous ones. The child
   (``parent`` in Ais's files) is multiplied by its partner's mask ``partner > threshold``
   dilated by ``radius_nm`` (*colocalize*: keep the child only near the partner) or by the
   complement of that dilated mask (*avoid*: keep it only away from the partner).

Dilation: a voxel is within the radius when the Euclidean distance between voxel centres is at
most ``radius_nm * 10 / apix`` pixels. ``mode="2d"`` (default, as in Ais) dilates each slice
with a disk; ``mode="3d"`` with a ball. (Ais rounds the radius down to whole pixels and uses a
strict ``<``; ours keeps the fractional radius and includes the rim.)

:func:`apply_interactions` is the single pure implementation, used for one slice (live
preview), a whole array, and by :func:`interact_volumes`, which streams memory-mapped volumes
in blocks of slices (with the z-halo that 3d mode needs), so all give identical results.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping

import numpy as np

from .errors import InputError
from .progress import ProgressFn, null_progress

KINDS = ("colocalize", "avoid")
MODES = ("2d", "3d")
# Ais's ``type`` numbers in ``<group>_interactions.json``.
AIS_TYPES = {0: "colocalize", 1: "avoid"}
_EPS = 1e-6  # slack on the radius so that e.g. 3.0000000001 px still includes a voxel at 3 px


# ---------------------------------------------------------------------------------------------
# Values: what the numbers in a prediction mean


def value_max(dtype, name: str = "prediction") -> float:
    """The stored value that means probability 1 for arrays of ``dtype``.

    255 for integer dtypes (uint8 as ais_like writes, uint16 as Ais writes, int8 read as
    unsigned bytes), 1 for floats and bool. Other dtypes (complex, strings, objects) raise
    :class:`InputError`.
    """
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return 1.0
    if dtype.kind in "ui":
        return 255.0
    if dtype.kind == "f":
        return 1.0
    raise InputError(f"{name}: a prediction of dtype {dtype} is not supported "
                     "(expected uint8/uint16 0..255 or float 0..1)")


def as_prediction(a, name: str = "prediction") -> np.ndarray:
    """``a`` as an ndarray whose dtype :func:`value_max` understands (int8 viewed as uint8)."""
    a = np.asarray(a)
    if a.dtype == np.int8:
        a = a.view(np.uint8)
    value_max(a.dtype, name)
    return a


def check_values(a: np.ndarray, name: str = "prediction", scale: float | None = None) -> None:
    """Raise :class:`InputError` when ``a`` holds NaNs or values outside 0..``scale``.

    ``scale`` defaults to :func:`value_max` of the dtype. Costs one pass over ``a``.
    """
    scale = value_max(a.dtype, name) if scale is None else float(scale)
    if a.size == 0 or a.dtype == np.bool_:
        return
    if a.dtype.kind == "f":
        lo, hi = float(np.min(a)), float(np.max(a))
        if math.isnan(lo) or math.isnan(hi):
            raise InputError(f"{name}: the prediction contains NaN values")
        if lo < -1e-3 * scale or hi > scale * (1 + 1e-3):
            raise InputError(f"{name}: float values must lie in 0..{scale:g} (found {lo:.4g}..{hi:.4g}); "
                             "is this a prediction volume?")
        return
    lo, hi = int(np.min(a)), int(np.max(a))
    if lo < 0 or hi > scale:
        raise InputError(f"{name}: integer values must lie in 0..{scale:g} (found {lo}..{hi}); "
                         "is this a prediction volume?")


def threshold_raw(threshold: float, dtype, scale: float | None = None, name: str = "threshold") -> float:
    """The stored-value threshold for a 0..1 ``threshold``: ``value > threshold_raw`` is the mask."""
    check_threshold(threshold, name)
    scale = value_max(dtype) if scale is None else float(scale)
    return float(threshold) * scale


def check_threshold(threshold, name: str = "threshold") -> float:
    try:
        t = float(threshold)
    except (TypeError, ValueError):
        raise InputError(f"{name}: expected a number between 0 and 1, got {threshold!r}") from None
    if not (0.0 <= t <= 1.0) or math.isnan(t):
        raise InputError(f"{name}: must lie between 0 and 1 (the probability scale), got {threshold}")
    return t


# ---------------------------------------------------------------------------------------------
# The specification


@dataclass(frozen=True)
class Interaction:
    """One interaction: ``parent`` (the child model, Ais's name) is kept near / away from ``partner``.

    kind: "colocalize" or "avoid"; radius_nm: dilation radius in nm (>= 0);
    threshold: the partner's mask is ``partner > threshold`` (0..1 scale).
    """

    parent: str
    partner: str
    kind: str = "colocalize"
    radius_nm: float = 10.0
    threshold: float = 0.5

    def __post_init__(self):
        where = f"interaction {self.parent!r} -> {self.partner!r}"
        if not isinstance(self.parent, str) or not isinstance(self.partner, str) or not self.parent or not self.partner:
            raise InputError(f"{where}: parent and partner must be model titles (non-empty text)")
        if self.parent == self.partner:
            raise InputError(f"{where}: a model cannot interact with itself")
        if self.kind not in KINDS:
            raise InputError(f"{where}: kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        r = _number(self.radius_nm, f"{where}: radius_nm")
        if not math.isfinite(r) or r < 0:
            raise InputError(f"{where}: radius_nm must be a number of nm >= 0, got {self.radius_nm!r}")
        object.__setattr__(self, "radius_nm", r)
        object.__setattr__(self, "threshold", check_threshold(self.threshold, f"{where}: threshold"))

    def radius_px(self, apix: float) -> float:
        """The radius in pixels at ``apix`` Å per pixel."""
        return self.radius_nm * 10.0 / float(apix)

    def to_dict(self) -> dict:
        return {"parent": self.parent, "partner": self.partner, "kind": self.kind,
                "radius_nm": self.radius_nm, "threshold": self.threshold}

    def to_ais(self) -> dict:
        """Ais's form: ``{parent_title, partner_title, type (0 colocalize, 1 avoid), radius (nm), threshold}``."""
        return {"parent_title": self.parent, "partner_title": self.partner,
                "type": KINDS.index(self.kind), "radius": self.radius_nm, "threshold": self.threshold}


@dataclass(frozen=True)
class InteractionSet:
    """Competition flags per model title and an ordered list of interactions.

    emit, absorb: titles of the models that emit / absorb in competition.
    interactions: applied in this order, after competition.
    mode: "2d" (per slice, as in Ais) or "3d" (a ball).
    """

    emit: frozenset = field(default_factory=frozenset)
    absorb: frozenset = field(default_factory=frozenset)
    interactions: tuple = ()
    mode: str = "2d"

    def __post_init__(self):
        object.__setattr__(self, "emit", frozenset(_titles(self.emit, "emit")))
        object.__setattr__(self, "absorb", frozenset(_titles(self.absorb, "absorb")))
        items = tuple(self.interactions)
        for it in items:
            if not isinstance(it, Interaction):
                raise InputError(f"interactions: expected Interaction objects, got {type(it).__name__}")
        object.__setattr__(self, "interactions", items)
        mode = str(self.mode).lower()
        if mode not in MODES:
            raise InputError(f"interactions: mode must be '2d' or '3d', got {self.mode!r}")
        object.__setattr__(self, "mode", mode)

    @property
    def empty(self) -> bool:
        """True when applying the set changes nothing (no competition pair, no interaction)."""
        return not self.interactions and not self._competition_pairs(self.emit | self.absorb)

    def titles(self) -> set[str]:
        """Every model title the set refers to."""
        out = set(self.emit) | set(self.absorb)
        for it in self.interactions:
            out |= {it.parent, it.partner}
        return out

    def changed_titles(self) -> set[str]:
        """Titles whose predictions applying the set may change (absorbers and children)."""
        return set(self.absorb) | {it.parent for it in self.interactions}

    def halo_px(self, apix: float | None) -> int:
        """Slices of context above and below a block that make blockwise 3d results exact.

        0 in 2d mode. In 3d mode the sum of every interaction's radius (each interaction may
        read a partner that an earlier interaction changed), rounded up.
        """
        if self.mode != "3d" or not self.interactions:
            return 0
        apix = _require_apix(apix)
        return int(sum(math.ceil(it.radius_px(apix) + _EPS) for it in self.interactions))

    def _competition_pairs(self, available) -> list[tuple[str, list[str]]]:
        pairs = []
        for a in sorted(self.absorb):
            if a not in available:
                continue
            others = sorted(e for e in self.emit if e != a and e in available)
            if others:
                pairs.append((a, others))
        return pairs

    def to_dict(self) -> dict:
        """The documented file format (JSON/YAML-ready)."""
        return {"mode": self.mode,
                "competition": {"emit": sorted(self.emit), "absorb": sorted(self.absorb)},
                "interactions": [it.to_dict() for it in self.interactions]}

    def to_ais(self) -> list[dict]:
        """The list Ais stores as ``<group>_interactions.json`` (emit/absorb go in each model's metadata)."""
        return [it.to_ais() for it in self.interactions]

    def save(self, path: str | os.PathLike) -> Path:
        """Write :meth:`to_dict` as JSON (or YAML when the name ends in .yaml/.yml), atomically."""
        path = Path(path)
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            text = yaml.safe_dump(self.to_dict(), sort_keys=False)
        else:
            text = json.dumps(self.to_dict(), indent=1)
        from .coords import write_text_atomic

        write_text_atomic(path, text)
        return path


def _number(value, where: str) -> float:
    if isinstance(value, bool):
        raise InputError(f"{where}: expected a number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InputError(f"{where}: expected a number, got {value!r}") from None


def _titles(values, where: str) -> list[str]:
    if isinstance(values, str):
        values = [values]
    out = []
    for v in values or ():
        if not isinstance(v, str) or not v:
            raise InputError(f"interactions: {where} must list model titles, got {v!r}")
        out.append(v)
    return out


def _require_apix(apix) -> float:
    if apix is None or not (isinstance(apix, (int, float)) and math.isfinite(apix) and apix > 0):
        raise InputError("interactions: the voxel size is unknown, so radii in nm cannot be converted "
                         "to pixels; pass --apix (Å per pixel)")
    return float(apix)


# ---------------------------------------------------------------------------------------------
# Reading specifications

_TOP_KEYS = {"mode", "competition", "interactions", "emit", "absorb", "format", "version"}
_ITEM_KEYS = {"parent", "child", "partner", "kind", "type", "radius_nm", "radius", "threshold",
              "parent_title", "partner_title"}


def interaction_from_dict(d: Mapping, where: str = "interaction") -> Interaction:
    """One interaction from our keys (``parent``/``child``, ``partner``, ``kind``, ``radius_nm``,
    ``threshold``) or Ais's (``parent_title``, ``partner_title``, ``type`` 0/1, ``radius`` nm)."""
    if not isinstance(d, Mapping):
        raise InputError(f"{where}: expected a mapping of keys, got {type(d).__name__}")
    unknown = set(d) - _ITEM_KEYS
    if unknown:
        raise InputError(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))} "
                         f"(expected parent, partner, kind, radius_nm, threshold)")
    parent = d.get("parent", d.get("child", d.get("parent_title")))
    partner = d.get("partner", d.get("partner_title"))
    if parent is None or partner is None:
        raise InputError(f"{where}: needs a parent (child) and a partner model title")
    kind = d.get("kind")
    if kind is None and "type" in d:
        t = d["type"]
        if isinstance(t, str):
            kind = t.lower()
        elif isinstance(t, int) and not isinstance(t, bool) and t in AIS_TYPES:
            kind = AIS_TYPES[t]
        else:
            raise InputError(f"{where}: type must be 0 (colocalize) or 1 (avoid), got {t!r}")
    kind = str(kind or "colocalize").lower()
    radius = d.get("radius_nm", d.get("radius", 10.0))
    return Interaction(parent=parent, partner=partner, kind=kind,
                       radius_nm=_number(radius, f"{where}: radius_nm"),
                       threshold=d.get("threshold", 0.5))


def from_ais(interactions_list, metadata_by_title: Mapping[str, Mapping] | None = None,
             mode: str = "2d") -> InteractionSet:
    """An :class:`InteractionSet` from Ais's ``<group>_interactions.json`` list and model metadata.

    Parameters
    ----------
    interactions_list : list of ``{parent_title, partner_title, type, radius, threshold}``.
    metadata_by_title : model title -> metadata dict; its ``emit`` / ``absorb`` booleans give the
        competition flags (Ais keeps them with each model, not in the group file).
    mode : "2d" (Ais's behaviour) or "3d".
    """
    if not isinstance(interactions_list, (list, tuple)):
        raise InputError(f"interactions: expected a list of interactions, got {type(interactions_list).__name__}")
    items = tuple(interaction_from_dict(d, f"interaction {i + 1}") for i, d in enumerate(interactions_list))
    emit, absorb = [], []
    for title, meta in (metadata_by_title or {}).items():
        if not isinstance(meta, Mapping):
            continue
        if meta.get("emit") is True:
            emit.append(title)
        if meta.get("absorb") is True:
            absorb.append(title)
    return InteractionSet(emit=frozenset(emit), absorb=frozenset(absorb), interactions=items, mode=mode)


def interactions_from_data(data, metadata_by_title: Mapping[str, Mapping] | None = None,
                           where: str = "interactions") -> InteractionSet:
    """Parse the already-decoded JSON/YAML content of an interactions file (see :func:`load_interactions`)."""
    if isinstance(data, list):
        return from_ais(data, metadata_by_title)
    if not isinstance(data, Mapping):
        raise InputError(f"{where}: expected a mapping (mode, competition, interactions) or Ais's list")
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise InputError(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))} "
                         "(expected mode, competition, interactions)")
    comp = data.get("competition") or {}
    if not isinstance(comp, Mapping) or set(comp) - {"emit", "absorb"}:
        raise InputError(f"{where}: competition must be a mapping with 'emit' and/or 'absorb' lists of titles")
    emit = list(_titles(comp.get("emit", ()), "emit")) + list(_titles(data.get("emit", ()), "emit"))
    absorb = list(_titles(comp.get("absorb", ()), "absorb")) + list(_titles(data.get("absorb", ()), "absorb"))
    for title, meta in (metadata_by_title or {}).items():
        if isinstance(meta, Mapping):
            if meta.get("emit") is True:
                emit.append(title)
            if meta.get("absorb") is True:
                absorb.append(title)
    raw = data.get("interactions") or []
    if not isinstance(raw, list):
        raise InputError(f"{where}: 'interactions' must be a list")
    items = tuple(interaction_from_dict(d, f"{where}: interaction {i + 1}") for i, d in enumerate(raw))
    return InteractionSet(emit=frozenset(emit), absorb=frozenset(absorb), interactions=items,
                          mode=data.get("mode", "2d"))


def load_interactions(path: str | os.PathLike,
                      metadata_by_title: Mapping[str, Mapping] | None = None) -> InteractionSet:
    """Read an interactions file: our JSON/YAML format, or Ais's ``<group>_interactions.json`` list.

    Our format (JSON or YAML; see the README)::

        mode: 2d                     # or 3d
        competition: {emit: [Membrane], absorb: [Ribosome]}
        interactions:                # applied in this order, after competition
          - {parent: Particle, partner: Membrane, kind: colocalize, radius_nm: 30, threshold: 0.5}
          - {parent: Particle, partner: Membrane, kind: avoid, radius_nm: 10, threshold: 0.5}

    For Ais's list form the competition flags come from ``metadata_by_title`` (each model's
    ``emit`` / ``absorb``), which can also add flags to our format.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such interactions file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read ({exc})") from None
    if path.suffix.lower() in (".yaml", ".yml"):
        data = _parse_yaml(text, path)
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            if path.suffix.lower() == ".json":
                raise InputError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
            data = _parse_yaml(text, path)
    try:
        return interactions_from_data(data, metadata_by_title, where=str(path))
    except InputError as exc:
        msg = str(exc)
        raise InputError(msg if msg.startswith(str(path)) else f"{path}: {msg}") from None


def _parse_yaml(text: str, path: Path):
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not valid JSON or YAML ({' '.join(str(exc).split())})") from None


# ---------------------------------------------------------------------------------------------
# Dilation


def within_radius(mask: np.ndarray, radius_px: float, mode: str = "2d") -> np.ndarray:
    """Voxels within ``radius_px`` (Euclidean, voxel centres) of a True voxel of ``mask``.

    Parameters
    ----------
    mask : bool (y, x) or (z, y, x).
    radius_px : radius in pixels (>= 0); a voxel at exactly this distance is included.
    mode : "2d" (each slice on its own, a disk) or "3d" (a ball).

    Returns
    -------
    bool array of ``mask``'s shape (a new array).
    """
    from scipy import ndimage

    mask = np.asarray(mask, dtype=bool)
    r = float(radius_px) + _EPS
    if mask.ndim == 2:
        mask3 = mask[np.newaxis]
    else:
        mask3 = mask
    out = np.zeros(mask3.shape, bool)
    if r < 1.0:  # only the voxels themselves
        out[...] = mask3
        return out.reshape(mask.shape)
    r2 = r * r
    nz = mask3.shape[0]
    # Squared in-plane distance to the nearest mask voxel, per slice (inf where a slice has none).
    d2 = np.full(mask3.shape, np.inf, np.float32) if mode == "3d" else None
    for z in range(nz):
        m = mask3[z]
        if not m.any():
            continue
        # Distance only inside the bounding box of the mask grown by the radius.
        ys, xs = np.nonzero(np.any(m, axis=1))[0], np.nonzero(np.any(m, axis=0))[0]
        grow = int(math.ceil(r))
        y0, y1 = max(0, ys[0] - grow), min(m.shape[0], ys[-1] + grow + 1)
        x0, x1 = max(0, xs[0] - grow), min(m.shape[1], xs[-1] + grow + 1)
        sub = ~m[y0:y1, x0:x1]
        dist2 = ndimage.distance_transform_edt(sub, return_distances=True) ** 2
        if mode == "3d":
            d2[z, y0:y1, x0:x1] = dist2
        else:
            out[z, y0:y1, x0:x1] = dist2 <= r2
    if mode == "3d":
        # d(z)^2 = min over dz of (in-plane d^2 at z + dz) + dz^2: exact by separability.
        reach = min(int(math.floor(r)), nz - 1)
        best = d2.copy()
        for dz in range(1, reach + 1):
            off = np.float32(dz * dz)
            np.minimum(best[dz:], d2[:-dz] + off, out=best[dz:])
            np.minimum(best[:-dz], d2[dz:] + off, out=best[:-dz])
        out = best <= r2
    return out.reshape(mask.shape)


# ---------------------------------------------------------------------------------------------
# Applying


def _require_titles(spec: InteractionSet, available, what: str) -> None:
    for it in spec.interactions:
        for title in (it.parent, it.partner):
            if title not in available:
                raise InputError(f"interactions: no {what} for model {title!r} "
                                 f"(have: {', '.join(sorted(available)) or 'none'})")


def apply_interactions(predictions: Mapping[str, np.ndarray], spec: InteractionSet,
                       apix: float | None = None) -> dict[str, np.ndarray]:
    """Apply competition, then the interactions in order; a pure function.

    Parameters
    ----------
    predictions : model title -> array (y, x) or (z, y, x), all of one shape; uint8 / uint16
        0..255 or float 0..1 (see the module docstring). Not modified.
    spec : the interactions. Titles the spec names that are not in ``predictions`` are an
        error for interactions, and ignored for competition flags.
    apix : voxel size in Å (needed to convert the radii; not needed for competition alone).

    Returns
    -------
    dict title -> array, same keys, shapes and dtypes. Arrays that the spec does not change
    are returned as they are (not copied).
    """
    preds = {t: as_prediction(a, t) for t, a in predictions.items()}
    shapes = {a.shape for a in preds.values()}
    if len(shapes) > 1:
        raise InputError("interactions: the predictions differ in shape: "
                         + ", ".join(f"{t} {a.shape}" for t, a in preds.items()))
    for t, a in preds.items():
        if a.ndim not in (2, 3):
            raise InputError(f"{t}: a prediction must be (y, x) or (z, y, x), got shape {a.shape}")
    _require_titles(spec, preds, "prediction")
    if spec.interactions:
        apix = _require_apix(apix)
    involved = spec.titles() & set(preds)
    for t in involved:
        if preds[t].dtype.kind == "f" and np.isnan(preds[t]).any():
            raise InputError(f"{t}: the prediction contains NaN values")
    out = dict(preds)
    # 1. Competition, on the values before competition.
    pairs = spec._competition_pairs(set(preds))
    if pairs:
        same = len({preds[t].dtype for t in involved}) == 1
        scaled = {}

        def comparable(t):
            if same:
                return preds[t]
            if t not in scaled:
                scaled[t] = preds[t].astype(np.float32) / np.float32(value_max(preds[t].dtype))
            return scaled[t]

        for absorber, emitters in pairs:
            strongest = comparable(emitters[0])
            for e in emitters[1:]:
                strongest = np.maximum(strongest, comparable(e))
            beaten = strongest > comparable(absorber)
            out[absorber] = np.where(beaten, preds[absorber].dtype.type(0), preds[absorber])
    # 2. Interactions, in order, each on the result of the previous ones.
    for it in spec.interactions:
        partner = out[it.partner]
        mask = partner > threshold_raw(it.threshold, partner.dtype)
        near = within_radius(mask, it.radius_px(apix), spec.mode)
        keep = near if it.kind == "colocalize" else ~near
        child = out[it.parent]
        out[it.parent] = np.where(keep, child, child.dtype.type(0))
    return out


def interact_volumes(sources: Mapping[str, object], spec: InteractionSet, apix: float | None,
                     write: Callable[[str, int, np.ndarray], None], *, block: int = 16,
                     progress: ProgressFn | None = None) -> None:
    """Apply ``spec`` to whole volumes block by block, with bounded memory.

    Parameters
    ----------
    sources : title -> array-like (z, y, x) (e.g. a memory-mapped ``Volume.data``), one shape.
    spec, apix : as for :func:`apply_interactions`.
    write : called as ``write(title, z0, block)`` for every title in ``sources`` and every block
        of slices ``z0 .. z0 + len(block)``, in increasing z (the adjusted values, the source's
        dtype; titles the spec does not change are passed through).
    block : slices per block; memory is about ``(block + 2 * halo) * ny * nx`` per model, where
        the halo is :meth:`InteractionSet.halo_px` (0 in 2d mode).
    progress : ``(done_slices, total_slices, message)``.

    The result is identical to :func:`apply_interactions` on the whole volumes.
    """
    progress = progress or null_progress
    titles = list(sources)
    shapes = {tuple(int(n) for n in sources[t].shape) for t in titles}
    if len(shapes) != 1:
        raise InputError("interactions: the volumes differ in shape: "
                         + ", ".join(f"{t} {tuple(sources[t].shape)}" for t in titles))
    shape = next(iter(shapes))
    if len(shape) != 3:
        raise InputError(f"interactions: volumes must be (z, y, x), got {shape}")
    _require_titles(spec, sources, "volume")
    halo = spec.halo_px(apix) if spec.interactions else 0
    if spec.interactions:
        _require_apix(apix)
    # Only the models the spec reads need the halo; the rest are copied through.
    used = spec.titles() & set(titles)
    nz = shape[0]
    block = max(1, int(block))
    progress(0, nz, "interactions")
    for z0 in range(0, nz, block):
        z1 = min(nz, z0 + block)
        lo, hi = max(0, z0 - halo), min(nz, z1 + halo)
        stack = {}
        for t in titles:
            if t in used:
                stack[t] = as_prediction(np.asarray(sources[t][lo:hi]), t)
        result = apply_interactions(stack, spec, apix) if stack else {}
        for t in titles:
            if t in used:
                write(t, z0, result[t][z0 - lo:z1 - lo])
            else:
                write(t, z0, as_prediction(np.asarray(sources[t][z0:z1]), t))
        progress(z1, nz, "interactions")


# ---------------------------------------------------------------------------------------------
# Files: <tomogram>__<feature>.mrc

SEPARATOR = "__"


def split_segmentation_name(path: str | os.PathLike) -> tuple[str, str] | None:
    """``/x/TS_01__Membrane.mrc`` -> ``("TS_01", "Membrane")``; None when the name has no ``__``.

    The tomogram is everything before the last ``__``, the feature (model title) what follows.
    """
    from .volume import tomogram_name

    stem = tomogram_name(path)
    if SEPARATOR not in stem:
        return None
    tomo, feature = stem.rsplit(SEPARATOR, 1)
    if not tomo or not feature:
        return None
    return tomo, feature


def group_segmentations(paths: Iterable[str | os.PathLike]) -> dict[str, dict[str, Path]]:
    """Group ``<tomogram>__<feature>`` files: tomogram -> feature -> path (others are skipped)."""
    groups: dict[str, dict[str, Path]] = {}
    for p in paths:
        parts = split_segmentation_name(p)
        if parts is None:
            continue
        tomo, feature = parts
        groups.setdefault(tomo, {})[feature] = Path(p)
    return groups


@dataclass
class InteractResult:
    tomogram: str
    outputs: dict  # feature -> path written
    changed: list  # features the spec may have changed


def interact_files(files: Mapping[str, str | os.PathLike], spec: InteractionSet, out_dir: str | os.PathLike,
                   *, tomogram: str, apix: float | None = None, block: int = 16,
                   progress: ProgressFn | None = None) -> InteractResult:
    """Apply ``spec`` to one tomogram's segmentation files and write ``out_dir/<tomogram>__<feature>.mrc``.

    ``files``: feature -> segmentation volume. Every output keeps its input's header and dtype.
    Writing over an input file is refused (``out_dir`` must differ from the inputs' folder).
    """
    from .volume import VolumeWriter, open_volume

    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise InputError(f"{out_dir}: the output folder does not exist")
    if not os.access(out_dir, os.W_OK):
        raise InputError(f"{out_dir}: the output folder is not writable")
    vols = {}
    writers = {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a missing voxel size is an error below when radii need it
            for feature, path in files.items():
                vols[feature] = open_volume(path, apix=apix)
        first = next(iter(vols.values()))
        vox = apix if apix is not None else first.apix
        if spec.interactions and vox is None:
            raise InputError(f"{first.path}: the header has no usable voxel size; pass --apix (Å per pixel)")
        for feature, vol in vols.items():
            value_max(as_prediction(np.empty(0, vol.dtype)).dtype, str(vol.path))
            target = out_dir / f"{tomogram}{SEPARATOR}{feature}.mrc"
            if target.resolve() == Path(vol.path).resolve():
                raise InputError(f"{target}: would overwrite its input; choose another --out folder")
            writers[feature] = (target, vol)
        opened = {}

        def write(title, z0, blk):
            if title not in opened:
                target, vol = writers[title]
                dtype = blk.dtype if blk.dtype != np.int8 else np.uint8
                opened[title] = VolumeWriter(target, vol.shape, dtype, vol.header)
            opened[title].write(z0, blk)

        sources = {f: v.data for f, v in vols.items()}
        try:
            interact_volumes(sources, spec, vox, write, block=block, progress=progress)
            for w in opened.values():
                w.commit()
        except BaseException:
            for w in opened.values():
                w.abort()
            raise
        return InteractResult(tomogram=tomogram, outputs={f: writers[f][0] for f in files},
                              changed=sorted(spec.changed_titles() & set(files)))
    finally:
        for v in vols.values():
            v.close()
