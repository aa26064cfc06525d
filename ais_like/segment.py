"""Segmentation: whole slices through a trained (fully convolutional) model, and whole volumes
streamed slice block by slice block into ``<tomogram>__<feature>.mrc``.

What a model sees of a slice is prepared exactly as its training tiles were
(:func:`ais_like.preprocess.prepare_slice` with the settings stored in the model's metadata:
band-pass, resampling to the model's Å/px, normalisation), reflect-padded to a multiple of the
network's divisor, predicted, cropped back and resampled to the slice's own grid. Slices too
large for one pass are cut into overlapping tiles whose centres are stitched (the overlap
covers the network's reach, so the seams do not show).

Memory is bounded by a few slices: volumes are read through memory maps a block of slices at
a time and written through :class:`ais_like.volume.VolumeWriter`.

Outputs are uint8 0..255 (255 = probability 1) with the input's shape and header; slices
outside a Z range and pixels outside an XY crop are 0.
"""

from __future__ import annotations

import hashlib
import math
import threading
import warnings
import weakref
from pathlib import Path

import numpy as np

from .errors import InputError
from .progress import ProgressFn, null_progress

# One model call handles at most this many pixels (slices x height x width); larger slices are
# tiled. 4 M pixels keep the activations of the largest built-in network within ~2 GB.
PIXEL_BUDGET = 4 * 1024 * 1024
# Automatic batches hold at most this many pixels (slices x height x width): on the CPU larger
# batches are not faster per slice, and their activations (VGGNet M: 64 channels) would take
# the memory of segmenting a volume beyond 2 GB. Pass ``batch_size`` to batch more (GPUs).
BATCH_PIXELS = 1024 * 1024
# Overlap of neighbouring tiles on each side (px, at the model's Å/px).
TILE_MARGIN = 64
# Reflected context added around every slice (px at the model's Å/px).
CONTEXT = 16
# Reading budget per block of slices (bytes of float32).
BLOCK_BYTES = 128 * 1024 * 1024

# The 8 symmetries of the square, as (k rotations by 90°, flip left-right first).
_TTA = [(0, False), (1, False), (2, False), (3, False), (0, True), (1, True), (2, True), (3, True)]


def output_name(tomogram: str, feature: str) -> str:
    """``<tomogram>__<feature>.mrc``: the name Ais and its users rely on."""
    safe = "".join(c if (c.isalnum() or c in "-_ .") else "_" for c in str(feature)).strip() or "feature"
    return f"{tomogram}__{safe}.mrc"


def output_folder(path) -> Path:
    """The output folder ``path``, created when missing; InputError when it cannot be written."""
    import os

    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{out}: cannot create the output folder ({exc.strerror or exc})") from None
    if not os.access(out, os.W_OK):
        raise InputError(f"{out}: the output folder is not writable")
    return out


def to_uint8(p: np.ndarray) -> np.ndarray:
    """Probabilities in 0..1 to the 0..255 bytes written to segmentation volumes."""
    return np.clip(np.rint(np.asarray(p, np.float32) * 255.0), 0, 255).astype(np.uint8)


def model_divisor(loaded) -> int:
    """What the input height and width of ``loaded``'s network must be multiples of."""
    meta = getattr(loaded, "metadata", {}) or {}
    ours = meta.get("ais_like") if isinstance(meta.get("ais_like"), dict) else {}
    d = ours.get("divisor")
    if isinstance(d, int) and d > 0:
        return d
    from . import registry

    arch = getattr(loaded, "architecture", None)
    if arch:
        try:
            return registry.get_architecture(arch).divisor
        except InputError:
            pass
    return _infer_divisor(getattr(loaded, "model", loaded))


def _infer_divisor(model) -> int:
    """2 ** (number of stride-2 layers) of a Keras model (an upper bound for branched nets)."""
    layers = getattr(model, "layers", None)
    if not layers:
        return 32
    n = 0
    for layer in layers:
        kind = type(layer).__name__
        if "Transpose" in kind or "Global" in kind:
            continue
        if not (kind.endswith("Pooling2D") or kind in ("Conv2D", "SeparableConv2D", "DepthwiseConv2D")):
            continue
        s = getattr(layer, "strides", 1)
        s = s if isinstance(s, (tuple, list)) else (s, s)
        if int(s[0]) > 1:
            n += 1
    return 2 ** n


class Predictor:
    """A loaded model bound to one volume's settings, predicting raw slices.

    Parameters
    ----------
    loaded : ais_like.archive.LoadedModel (``.model`` and ``.metadata``).
    apix : Å/px of the slices that will be given (None: unknown; no resampling then).
    stats : (median, sigma) of the whole volume for models trained with global normalisation
        (see :func:`volume_stats_for`); None computes them per slice batch.
    tta : test-time augmentation: average over this many of the 8 rotations/flips (1 = none).
    batch_size : slices per model call (None: as many as fit :data:`BATCH_PIXELS`).
    context : pixels of reflected image added on every side before the network sees a slice,
        so that features at the slice's edges are judged on image rather than on the network's
        zero padding (Ais adds 64 px beyond a multiple of 32; :data:`CONTEXT` is our default).
    fft : run the network with FFT convolutions (:mod:`ais_like.fftconv`) instead of Keras.
        None (default): when the network is a chain of large-kernel convolutions that module
        reproduces (Eman2's), Keras runs on the CPU, and ``AIS_LIKE_NO_FFT`` is not set.
        True: whenever the network allows it; False: never.
    bf16 : run a Keras network in bfloat16 (Keras's "mixed_bfloat16" policy; the probability
        head and what follows it stay float32). About 2x faster on CPUs with AVX-512 BF16 or
        AMX; probabilities differ from float32 by ~1e-4 on average and up to ~0.1 at single
        pixels, which changed the side of 0.5 of about 0.01 % of the pixels and the Dice by
        less than 0.001 on trained models (benchmarks/RESULTS.md, "bf16 accuracy"). None
        (default): ``AIS_LIKE_BF16`` decides ("1" on, "0" off); unset, on when the CPU computes
        bfloat16 natively and Keras runs on the CPU, except for networks that the FFT path can
        run (Eman2's, also when it is turned off: they stay float32). Not used for FFT-run
        networks.
    """

    def __init__(self, loaded, *, apix: float | None = None, stats=None, tta: int = 1,
                 batch_size: int | None = None, pixel_budget: int = PIXEL_BUDGET, context: int | None = None,
                 fft: bool | None = None, bf16: bool | None = None):
        from .archive import preprocess_settings

        self.loaded = loaded
        self.model = loaded.model
        self.settings = preprocess_settings(getattr(loaded, "metadata", {}) or {})
        self.apix = float(apix) if apix else None
        self.stats = stats
        tta = int(tta)
        if not 1 <= tta <= 8:
            raise InputError(f"test-time augmentation must be 1..8 transforms, got {tta}")
        self.tta = tta
        self.batch_size = batch_size
        self.pixel_budget = int(pixel_budget)
        self.divisor = model_divisor(loaded)
        self.context = CONTEXT if context is None else max(0, int(context))
        model_apix = self.settings["apix"]
        self.resample = bool(model_apix and self.apix and abs(self.apix - model_apix) > 1e-3 * model_apix)
        self._fft_wanted = fft
        self._fft_net = None  # built on the first call (the weights read then)
        self._fft_checked = False
        self._bf16 = None if bf16 is None else bool(bf16)
        self._bf16_model = None

    @property
    def bf16(self) -> bool:
        """Whether a Keras-run network computes in bfloat16 (decided on first use: see ``bf16``)."""
        if self._bf16 is None:
            from .backend import env_flag

            self._bf16 = bf16_default()
            if self._bf16 and env_flag("AIS_LIKE_BF16") is None:
                # by default not for networks the FFT path could run (Eman2's: 15 x 15 kernels,
                # bfloat16 accuracy not measured there)
                from . import fftconv

                self._bf16 = fftconv.explain(self.model) is not None
        return self._bf16

    @property
    def title(self) -> str:
        return str(getattr(self.loaded, "title", "model"))

    def prepare(self, image: np.ndarray) -> np.ndarray:
        """What the network sees of one raw (y, x) slice (float32, at the model's Å/px)."""
        from .preprocess import prepare_slice

        s = self.settings
        return prepare_slice(image, self.apix, s["apix"] if self.resample else None,
                             normalisation=s["normalisation"], clamp=s["clamp"], stats=self.stats,
                             lowpass=s["lowpass"], highpass=s["highpass"])

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Probabilities (n, y, x) float32 in 0..1 for raw slices (n, y, x) or one slice (y, x)."""
        from .preprocess import resample_xy

        a = np.asarray(images, np.float32)
        single = a.ndim == 2
        if single:
            a = a[None]
        if a.ndim != 3 or min(a.shape[1:]) < 1:
            raise InputError(f"expected slices (n, y, x), got shape {a.shape}")
        prepared = np.stack([self.prepare(s) for s in a])
        out = self.predict_prepared(prepared)
        if out.shape[1:] != a.shape[1:]:
            out = resample_xy(out, shape=a.shape[1:])
            np.clip(out, 0.0, 1.0, out=out)
        return out[0] if single else out

    def predict_prepared(self, x: np.ndarray) -> np.ndarray:
        """Probabilities for already prepared slices (n, y, x), averaged over the TTA transforms."""
        acc = None
        for k, flip in _TTA[:self.tta]:
            t = x[:, :, ::-1] if flip else x
            t = np.rot90(t, k, axes=(1, 2))
            p = self._predict_any_size(np.ascontiguousarray(t))
            p = np.rot90(p, -k, axes=(1, 2))
            p = p[:, :, ::-1] if flip else p
            acc = p.astype(np.float32) if acc is None else acc + p
        return acc / np.float32(self.tta) if self.tta > 1 else acc

    def _predict_any_size(self, x: np.ndarray) -> np.ndarray:
        n, h, w = x.shape
        d, c = self.divisor, self.context
        H, W = h + 2 * c, w + 2 * c
        H, W = H + (-H) % d, W + (-W) % d
        padded = _reflect_pad(x, H, W, top=c, left=c)
        out = np.empty((n, h, w), np.float32)
        if H * W > self.pixel_budget:
            for i in range(n):
                out[i] = self._tiled(padded[i])[c:c + h, c:c + w]
            return out
        per_call = self.batch_size or max(1, min(self.pixel_budget, BATCH_PIXELS) // (H * W))
        for i in range(0, n, per_call):
            p = self._call(padded[i:i + per_call])
            out[i:i + per_call] = p[:, c:c + h, c:c + w]
        return out

    def _tiled(self, img: np.ndarray) -> np.ndarray:
        """One large (h, w) slice in overlapping tiles; each tile's centre is kept."""
        d = self.divisor
        h, w = img.shape
        side = max(d, int(math.sqrt(self.pixel_budget)) // d * d)
        margin = min(TILE_MARGIN, side // 4) // d * d  # at most a quarter of the tile on each side
        step = side - 2 * margin
        out = np.empty((h, w), np.float32)
        ys = _starts(h, side, step)
        xs = _starts(w, side, step)
        for y0 in ys:
            for x0 in xs:
                tile = img[y0:y0 + side, x0:x0 + side]
                th, tw = tile.shape
                p = self._call(_reflect_pad(tile[None], th + (-th) % d, tw + (-tw) % d))[0, :th, :tw]
                # keep the centre; at the slice's borders keep up to the border
                cy0 = 0 if y0 == 0 else margin
                cx0 = 0 if x0 == 0 else margin
                cy1 = th if y0 + th >= h else th - margin
                cx1 = tw if x0 + tw >= w else tw - margin
                out[y0 + cy0:y0 + cy1, x0 + cx0:x0 + cx1] = p[cy0:cy1, cx0:cx1]
        return out

    @property
    def fft_net(self):
        """The :class:`ais_like.fftconv.FFTNet` this predictor runs the network with, or None (Keras)."""
        if not self._fft_checked:
            self._fft_checked = True
            self._fft_net = _fft_net_for(self.model, self._fft_wanted)
        return self._fft_net

    def _call(self, x: np.ndarray) -> np.ndarray:
        """The network on a batch (n, H, W) with H, W multiples of the divisor -> (n, H, W)."""
        net = self.fft_net
        if net is not None:
            y = net.predict(x)
            return y[..., 0] if y.ndim == 4 else y
        model = self.model
        if hasattr(model, "layers") and self.bf16:
            if self._bf16_model is None:
                self._bf16_model = _bf16_model_for(model)
            model = self._bf16_model
        y = model.predict_on_batch(x[..., None])
        y = np.asarray(y, np.float32)
        if y.ndim == 4:
            y = y[..., 0]
        return y


# FFT networks per Keras model, rebuilt when the weights change (the GUI predicts with a model
# that is being trained); keyed weakly so that a dropped model frees its kernel spectra.
_FFT_NETS = weakref.WeakKeyDictionary()
_FFT_LOCK = threading.Lock()


def _fft_net_for(model, wanted: bool | None):
    """An FFTNet for ``model`` (cached while its weights stay the same), or None for Keras."""
    from . import fftconv
    from .backend import has_gpu

    if wanted is False or (wanted is None and (fftconv.disabled() or has_gpu())):
        return None
    if fftconv.explain(model) is not None:
        return None
    weights = model.get_weights()
    digest = hashlib.blake2b(digest_size=16)
    for w in weights:
        a = np.ascontiguousarray(w)
        digest.update(str(a.shape).encode())
        digest.update(a.tobytes())
    key = digest.hexdigest()
    with _FFT_LOCK:
        try:
            cached = _FFT_NETS.get(model)
        except TypeError:  # not weakly referenceable
            cached = None
        if cached is not None and cached[0] == key:
            return cached[1]
    net = fftconv.from_model(model)
    if net is not None:
        with _FFT_LOCK:
            try:
                _FFT_NETS[model] = (key, net)
            except TypeError:
                pass
    return net


def bf16_default() -> bool:
    """``AIS_LIKE_BF16`` ("1"/"0"); unset or "auto": True when the CPU computes bfloat16 natively
    (AVX-512 BF16 or AMX) and the Keras backend runs on the CPU."""
    from .backend import env_flag, has_gpu
    from .training import cpu_has_bf16

    flag = env_flag("AIS_LIKE_BF16")
    return flag if flag is not None else cpu_has_bf16() and not has_gpu()


# bfloat16 copies per Keras model (weakly keyed), so that a predictor made per request (the
# workbench's preview) does not clone and retrace the network each time; each predictor copies
# the model's current weights into it once.
_BF16_MODELS = weakref.WeakKeyDictionary()


def _bf16_model_for(model):
    with _FFT_LOCK:
        try:
            copy = _BF16_MODELS.get(model)
        except TypeError:  # not weakly referenceable
            copy = None
    if copy is None:
        copy = bfloat16_model(model)
        with _FFT_LOCK:
            try:
                _BF16_MODELS[model] = copy
            except TypeError:
                pass
    else:
        copy.set_weights(model.get_weights())
    return copy


def bfloat16_model(model):
    """A copy of the Keras ``model`` computing in bfloat16 (float32 weights; the probability
    head, i.e. the last layer with a sigmoid or softmax, and the layers after it in float32)."""
    from .training import clone_faster

    return clone_faster(model, bf16=True)


def _starts(n: int, side: int, step: int) -> list[int]:
    """Tile origins along one axis of length ``n``: every ``step``, the last one flush with the end."""
    if n <= side:
        return [0]
    starts = list(range(0, n - side, step))
    starts.append(n - side)
    return starts


def _reflect_pad(x: np.ndarray, H: int, W: int, top: int = 0, left: int = 0) -> np.ndarray:
    """Pad (n, h, w) to (n, H, W) by reflection: ``top``/``left`` rows/columns before, the rest after."""
    n, h, w = x.shape
    if (h, w) == (H, W):
        return x
    mode = "reflect" if h > 1 and w > 1 else "edge"
    return np.pad(x, ((0, 0), (top, H - h - top), (left, W - w - left)), mode=mode)


def volume_stats_for(loaded, volume, apix: float | None = None):
    """The whole-volume (median, sigma) a globally normalised model needs; None for per-slice."""
    from .archive import preprocess_settings
    from .preprocess import volume_stats

    s = preprocess_settings(getattr(loaded, "metadata", {}) or {})
    if s["normalisation"] != "global":
        return None
    return volume_stats(volume, apix=apix or getattr(volume, "apix", None), lowpass=s["lowpass"],
                        highpass=s["highpass"])


def predict_slice(loaded, image: np.ndarray, apix: float | None = None, *, stats=None, tta: int = 1) -> np.ndarray:
    """One model's probabilities (y, x) float32 in 0..1 for one raw slice (y, x).

    ``stats`` are the volume's statistics for globally normalised models (see
    :func:`volume_stats_for`); pass them so a single slice is predicted exactly as it is
    within :func:`segment_volume` (the GUI's live preview does).
    """
    return Predictor(loaded, apix=apix, stats=stats, tta=tta).predict(image)


def _check_range(volume, z_range, crop):
    nz, ny, nx = volume.shape
    z0, z1 = (0, nz) if z_range is None else (int(z_range[0]), int(z_range[1]))
    if not (0 <= z0 < z1 <= nz):
        raise InputError(f"{volume.path}: Z range {z0}..{z1} is not within the volume's 0..{nz}")
    if crop is None:
        y0, y1, x0, x1 = 0, ny, 0, nx
    else:
        y0, y1, x0, x1 = (int(c) for c in crop)
        if not (0 <= y0 < y1 <= ny and 0 <= x0 < x1 <= nx):
            raise InputError(f"{volume.path}: crop y {y0}..{y1}, x {x0}..{x1} is not within the volume "
                             f"(y 0..{ny}, x 0..{nx})")
    return z0, z1, y0, y1, x0, x1


def segment_volume(models, volume, out_dir, *, z_range=None, crop=None, tta: int = 1,
                   batch_size: int | None = None, interactions=None, skip_existing: bool = False,
                   progress: ProgressFn | None = None) -> list[Path]:
    """Segment one volume with one or more models; writes ``out_dir/<tomogram>__<title>.mrc``.

    Parameters
    ----------
    models : list of ais_like.archive.LoadedModel (titles must differ: they name the outputs).
    volume : ais_like.volume.Volume (its ``apix`` decides resampling to each model's Å/px).
    out_dir : folder for the outputs (must exist).
    z_range : (z0, z1) slices to segment, z0 <= z < z1 (others are written as 0).
    crop : (y0, y1, x0, x1) XY region to segment (outside is 0).
    tta : test-time augmentation transforms (1..8).
    batch_size : slices per model call (None: automatic).
    interactions : an ``ais_like.interactions`` spec applied to the predictions of all models
        (competition, colocalize, avoid), exactly as ``ais-like interact`` applies it to saved
        volumes.
    skip_existing : keep outputs that exist already and do not recompute them.
    progress : ``(done, total, message)`` callback, one step per slice block.

    Returns
    -------
    The output paths, one per model, in the order of ``models``.
    """
    from .volume import VolumeWriter

    progress = progress or null_progress
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise InputError(f"{out_dir}: the output folder does not exist")
    if not models:
        raise InputError("no models to segment with")
    titles = [str(m.title) for m in models]
    dupes = sorted({t for t in titles if titles.count(t) > 1})
    if dupes:
        raise InputError(f"several models are titled {dupes[0]!r}; their outputs would overwrite each other")
    paths = [out_dir / output_name(volume.name, t) for t in titles]
    todo = [i for i, p in enumerate(paths) if not (skip_existing and p.exists())]
    if not todo:
        return paths
    if interactions is not None and len(todo) != len(models):
        todo = list(range(len(models)))  # interactions need every model's prediction
    z0, z1, y0, y1, x0, x1 = _check_range(volume, z_range, crop)
    apix = volume.apix
    for i in todo:
        model_apix = Predictor(models[i]).settings["apix"]
        if model_apix and not apix:
            warnings.warn(f"{volume.path}: unknown voxel size; applying model {titles[i]!r} (trained at "
                          f"{model_apix:g} Å/px) without resampling; pass --apix", stacklevel=2)
    predictors = {i: Predictor(models[i], apix=apix, stats=volume_stats_for(models[i], volume, apix),
                               tta=tta, batch_size=batch_size) for i in todo}
    header = volume.header
    nz, ny, nx = volume.shape
    block = max(1, min(16, BLOCK_BYTES // max(1, (y1 - y0) * (x1 - x0) * 4)))
    total = math.ceil((z1 - z0) / block)
    stage_paths = {i: paths[i] if interactions is None else _stage_name(paths[i]) for i in todo}
    writers = {}
    try:
        for i in todo:
            writers[i] = VolumeWriter(stage_paths[i], (nz, ny, nx), np.uint8, header)
        progress(0, total, volume.name)
        for step, (zs, raw) in enumerate(_blocks(volume, z0, z1, block, y0, y1, x0, x1), 1):
            for i in todo:
                pred = to_uint8(predictors[i].predict(raw))
                if (y0, y1, x0, x1) == (0, ny, 0, nx):
                    writers[i].write(zs, pred)
                else:
                    full = np.zeros((len(pred), ny, nx), np.uint8)
                    full[:, y0:y1, x0:x1] = pred
                    writers[i].write(zs, full)
            progress(step, total, volume.name)
        for i in todo:
            writers[i].commit()
    except BaseException:
        for w in writers.values():
            w.abort()
        raise
    if interactions is not None:
        _apply_interactions(interactions, {titles[i]: stage_paths[i] for i in todo},
                            {titles[i]: paths[i] for i in todo}, header, apix)
    return paths


def _stage_name(path: Path) -> Path:
    return path.with_name(f".{path.stem}.raw.mrc")


def _apply_interactions(spec, staged: dict, final: dict, header, apix) -> None:
    """Interactions over the raw predictions staged on disk, into the final outputs."""
    from . import interactions as interactions_mod
    from .volume import VolumeWriter, open_volume

    sources = {}
    writers = {}
    try:
        for title, path in staged.items():
            sources[title] = open_volume(path, apix=apix or None)
        shape = next(iter(sources.values())).shape
        for title, path in final.items():
            writers[title] = VolumeWriter(path, shape, np.uint8, header)
        interactions_mod.interact_volumes({t: v.data for t, v in sources.items()}, spec, apix,
                                          lambda title, z, block: writers[title].write(z, block))
        for w in writers.values():
            w.commit()
    except BaseException:
        for w in writers.values():
            w.abort()
        raise
    finally:
        for v in sources.values():
            v.close()
        for path in staged.values():
            Path(path).unlink(missing_ok=True)


def _blocks(volume, z0, z1, block, y0, y1, x0, x1):
    for zs in range(z0, z1, block):
        ze = min(zs + block, z1)
        yield zs, np.asarray(volume.data[zs:ze, y0:y1, x0:x1], dtype=np.float32)


def load_models(paths, interactions=None, mode: str | None = None):
    """The models and interaction spec that ``--model`` / ``--interactions`` name.

    Parameters
    ----------
    paths : ``.scnm`` model files and/or ``.scnmgroup`` groups (whose stored interactions and
        emit/absorb flags apply).
    interactions : an interactions file (JSON/YAML, or Ais's list; see
        :func:`ais_like.interactions.load_interactions`) or an ``InteractionSet``; it replaces
        the groups' interactions.
        Competition flags stored with the models (``emit`` / ``absorb``) are added to it.
    mode : "2d" or "3d" to override the spec's mode.

    Returns
    -------
    (list of LoadedModel, InteractionSet or None): None when nothing interacts.
    """
    from . import archive

    models, group_lists = [], []
    for p in paths:
        suffix = Path(p).suffix.lower()
        if suffix == ".scnmgroup":
            group_models, raw = archive.load_group(p)
            models.extend(group_models)
            group_lists.extend(raw)
        elif suffix == ".scnm":
            models.append(archive.load_scnm(p))
        else:
            raise InputError(f"{p}: not a model file (.scnm or .scnmgroup)")
    return models, interaction_spec({m.title: m.metadata for m in models}, group_lists, interactions, mode,
                                    source=str(interactions if isinstance(interactions, (str, Path)) else paths[0]))


def interaction_spec(metadata: dict, group_lists=(), interactions=None, mode: str | None = None, *,
                     source: str = "the models"):
    """The interaction spec of models known by their metadata alone (no Keras).

    Parameters
    ----------
    metadata : {title: metadata dict} of every model given.
    group_lists : the interaction lists stored in ``.scnmgroup`` files (Ais's form).
    interactions : an interactions file, or an ``InteractionSet`` (it replaces the groups' lists).
    mode : "2d" or "3d" to override the spec's mode.
    source : what to name in an error message.

    Returns
    -------
    InteractionSet, or None when nothing interacts.
    """
    from . import interactions as interactions_mod

    if isinstance(interactions, interactions_mod.InteractionSet):
        spec = interactions
    elif interactions is not None:
        spec = interactions_mod.load_interactions(interactions, metadata)
    else:
        spec = interactions_mod.from_ais(list(group_lists), metadata)
    if mode is not None:
        spec = interactions_mod.InteractionSet(emit=spec.emit, absorb=spec.absorb,
                                               interactions=spec.interactions, mode=mode)
    titles = set(metadata)
    missing = sorted(spec.titles() - titles)
    if missing:
        raise InputError(f"{source}: the interactions name model(s) "
                         f"{', '.join(map(repr, missing))} that are not among the models given "
                         f"({', '.join(map(repr, sorted(titles)))})")
    return None if spec.empty else spec


def crop_box(shape, crop_x=None, crop_y=None):
    """``(y0, y1, x0, x1)`` from optional column and row ranges (None: no crop) for a (z, y, x) shape."""
    if crop_x is None and crop_y is None:
        return None
    _, ny, nx = shape
    y0, y1 = crop_y or (0, ny)
    x0, x1 = crop_x or (0, nx)
    return y0, y1, x0, x1
