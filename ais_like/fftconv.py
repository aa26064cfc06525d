"""FFT-based inference for plain chains of large-kernel convolutions (EMAN2's tomogram network).

EMAN2's network (our ``Eman2`` plugin, and Ais's model of that name) convolves with 15 x 15
kernels: a direct convolution spends 225 multiply-adds per pixel and channel pair, while a
convolution through the Fourier transform spends a few FFTs per channel plus one complex
multiply-add per frequency and channel pair. EMAN2 itself (Chen et al. 2017) convolved in
Fourier space for this reason.

:func:`from_model` reads a loaded Keras model's layers and weights and returns an
:class:`FFTNet` computing the same function with numpy and ``scipy.fft`` when every layer is
one it can reproduce exactly (up to float rounding):

- ``Conv2D``: stride 1, dilation 1, one group, ``padding="same"`` (zeros beyond the edges,
  TensorFlow's split for even kernels), channels last, activation relu / sigmoid / linear;
- ``MaxPooling2D``: pool size equal to strides, ``padding="valid"``;
- ``UpSampling2D``: nearest neighbour;
- ``Activation`` / ``ReLU`` layers with those functions, ``InputLayer``.

Anything else (branches, other layers, a mixed-precision policy) gives None: the caller keeps
Keras. Only networks whose largest kernel is at least :data:`MIN_KERNEL` are taken (for 3 x 3
kernels direct convolution is cheaper).

How a convolution is computed: the layer's input (H, W, Cin) is cut into tiles (one tile when
the kernel spectra for a whole-slice transform fit :data:`KERNEL_BYTES`), each tile with the
kernel's reach of context, zero outside the image; the tiles of every input channel are
transformed once (``rfftn`` over the two image axes), multiplied with the conjugate kernel
spectra and summed over input channels as one small matrix product per frequency
(``numpy.matmul``), transformed back, and the valid part of each tile is kept (overlap-save).
A max-pool that follows a convolution with a monotone activation is applied before bias and
activation (they commute with the maximum), on a quarter of the values.

This module imports numpy and scipy only: no TensorFlow, no Keras.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field

import numpy as np

# Smallest kernel side for which FFT convolution is used at all.
MIN_KERNEL = 7
# Upper bound on the kernel spectra held per layer and tile size (complex64 bytes); larger
# layers are tiled so that their spectra fit (and the per-frequency products stay compute-bound).
KERNEL_BYTES = 80 * 1024 * 1024
# Kernel spectra are cached per layer for this many tile geometries (slice shapes).
CACHE_SHAPES = 2
# Upper bound on the spectra of the tiles transformed at once (complex64 bytes).
CHUNK_BYTES = 128 * 1024 * 1024

_ACTIVATIONS = ("relu", "sigmoid", "linear")


def disabled() -> bool:
    """True when ``AIS_LIKE_NO_FFT`` is set to something other than "", "0" or "false"."""
    v = os.environ.get("AIS_LIKE_NO_FFT", "").strip().lower()
    return v not in ("", "0", "false", "no")


def workers() -> int:
    """Threads for scipy.fft: the CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


# --------------------------------------------------------------------------------------------
# The operations


@dataclass
class Conv:
    """A 'same'-padded, stride-1 cross-correlation (Keras ``Conv2D``) with bias and activation."""

    kernel: np.ndarray  # (kh, kw, cin, cout) float32, Keras's layout
    bias: np.ndarray  # (cout,) float32
    activation: str = "linear"
    _spectra: dict = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def size(self) -> tuple[int, int]:
        return int(self.kernel.shape[0]), int(self.kernel.shape[1])

    @property
    def cin(self) -> int:
        return int(self.kernel.shape[2])

    @property
    def cout(self) -> int:
        return int(self.kernel.shape[3])

    def flops(self, h: int, w: int) -> int:
        """Multiply-adds x 2 of the direct convolution on an (h, w) input."""
        kh, kw = self.size
        return 2 * h * w * kh * kw * self.cin * self.cout

    def spectra(self, ny: int, nx: int, groups: int = 1) -> list[np.ndarray]:
        """conj(rfft2(kernel zero-padded to (ny, nx))) as ``groups`` contiguous complex64 arrays
        (ny * (nx // 2 + 1), cin, cout_j), the output channels split into consecutive groups."""
        import scipy.fft as sfft

        key = (ny, nx, groups)
        with self._lock:
            k = self._spectra.get(key)
            if k is not None:
                return k
        kh, kw = self.size
        padded = np.zeros((ny, nx, self.cin, self.cout), np.float32)
        padded[:kh, :kw] = self.kernel
        spec = np.conj(sfft.rfftn(padded, axes=(0, 1), workers=workers()))
        spec = spec.reshape(ny * (nx // 2 + 1), self.cin, self.cout)
        bounds = np.linspace(0, self.cout, groups + 1).astype(int)
        k = [np.ascontiguousarray(spec[:, :, b0:b1], np.complex64) for b0, b1 in zip(bounds[:-1], bounds[1:])]
        with self._lock:
            while len(self._spectra) >= CACHE_SHAPES:
                self._spectra.pop(next(iter(self._spectra)))
            self._spectra[key] = k
        return k


@dataclass
class MaxPool:
    size: tuple[int, int]


@dataclass
class UpSample:
    size: tuple[int, int]


@dataclass
class Act:
    activation: str


# --------------------------------------------------------------------------------------------
# Reading a Keras model


def _pair(v) -> tuple[int, int]:
    if isinstance(v, (list, tuple)):
        return int(v[0]), int(v[-1])
    return int(v), int(v)


def _activation_name(value) -> str | None:
    """relu / sigmoid / linear from a layer config's activation entry; None for anything else."""
    if value is None:
        return "linear"
    if isinstance(value, dict):  # a serialised activation
        value = value.get("config", {}).get("name", value.get("class_name")) if isinstance(value.get("config"), dict) \
            else value.get("class_name")
    name = str(getattr(value, "__name__", value)).lower()
    return name if name in _ACTIVATIONS else None


def _float32_policy(layer) -> bool:
    policy = getattr(layer, "dtype_policy", None)
    name = getattr(policy, "name", None)
    if name is not None:
        return name == "float32"
    return str(getattr(layer, "dtype", "float32")) == "float32"


def _convert(layer):
    """The operation a Keras layer is, or a string saying why it cannot be reproduced."""
    kind = type(layer).__name__
    cfg = layer.get_config()
    if kind == "InputLayer":
        return None
    if not _float32_policy(layer):
        return f"{kind}: not float32"
    if cfg.get("data_format", "channels_last") != "channels_last":
        return f"{kind}: not channels_last"
    if kind == "Conv2D":
        act = _activation_name(cfg.get("activation"))
        if act is None:
            return f"Conv2D activation {cfg.get('activation')!r}"
        if str(cfg.get("padding", "valid")).lower() != "same":
            return "Conv2D padding other than 'same'"
        if _pair(cfg.get("strides", 1)) != (1, 1) or _pair(cfg.get("dilation_rate", 1)) != (1, 1):
            return "Conv2D with strides or dilation"
        if int(cfg.get("groups", 1)) != 1:
            return "grouped Conv2D"
        weights = layer.get_weights()
        kernel = np.asarray(weights[0], np.float32)
        if kernel.ndim != 4:
            return "Conv2D kernel is not 4-D"
        if cfg.get("use_bias", True):
            bias = np.asarray(weights[1], np.float32).reshape(-1)
        else:
            bias = np.zeros(kernel.shape[3], np.float32)
        return Conv(np.ascontiguousarray(kernel), bias, act)
    if kind == "MaxPooling2D":
        pool = _pair(cfg.get("pool_size", 2))
        strides = _pair(cfg.get("strides") or pool)
        if pool != strides or str(cfg.get("padding", "valid")).lower() != "valid":
            return "MaxPooling2D with overlapping windows or 'same' padding"
        return MaxPool(pool)
    if kind == "UpSampling2D":
        if str(cfg.get("interpolation", "nearest")).lower() != "nearest":
            return "UpSampling2D other than nearest"
        return UpSample(_pair(cfg.get("size", 2)))
    if kind == "Activation":
        act = _activation_name(cfg.get("activation"))
        return Act(act) if act else f"Activation {cfg.get('activation')!r}"
    if kind == "ReLU":
        if cfg.get("max_value") is None and not cfg.get("negative_slope") and not cfg.get("threshold"):
            return Act("relu")
        return "ReLU with a cap, slope or threshold"
    return f"layer {kind}"


def _is_chain(model) -> bool:
    """True when every layer's single input is the previous layer's output (no branches)."""
    layers = list(getattr(model, "layers", []))
    if not layers:
        return False
    try:
        if len(model.inputs) != 1 or len(model.outputs) != 1:
            return False
        prev = model.inputs[0]
        for layer in layers:
            if type(layer).__name__ == "InputLayer":
                continue
            if layer.input is not prev:
                return False
            prev = layer.output
        return prev is model.outputs[0]
    except (AttributeError, ValueError, TypeError, IndexError):
        return False


def explain(model) -> str | None:
    """None when :func:`from_model` can run ``model``; else why not (one line)."""
    if not hasattr(model, "layers") or not hasattr(model, "get_weights"):
        return "not a Keras model"
    if not _is_chain(model):
        return "not a single chain of layers"
    ops = []
    for layer in model.layers:
        op = _convert(layer)
        if isinstance(op, str):
            return op
        if op is not None:
            ops.append(op)
    convs = [op for op in ops if isinstance(op, Conv)]
    if not convs:
        return "no convolution"
    if max(max(c.size) for c in convs) < MIN_KERNEL:
        return f"kernels smaller than {MIN_KERNEL} (direct convolution is cheaper)"
    try:
        shape = model.inputs[0].shape
        if shape[-1] is not None and int(shape[-1]) != convs[0].cin:
            return "input channels do not match the first convolution"
    except (AttributeError, IndexError, TypeError):
        pass
    return None


def from_model(model) -> "FFTNet | None":
    """An :class:`FFTNet` reproducing the Keras ``model``, or None when it cannot (see :func:`explain`)."""
    if explain(model) is not None:
        return None
    ops = [op for op in (_convert(layer) for layer in model.layers) if op is not None]
    return FFTNet(ops)


# --------------------------------------------------------------------------------------------
# Running


def _apply(x: np.ndarray, activation: str) -> np.ndarray:
    """Activation in place on a float32 array."""
    if activation == "relu":
        np.maximum(x, 0.0, out=x)
    elif activation == "sigmoid":
        from scipy.special import expit

        expit(x, out=x)
    return x


def _maxpool(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """'valid' max-pool of (H, W, C) with windows = strides = ``size`` (any strides in x)."""
    py, px = size
    h, w = x.shape[0] // py * py, x.shape[1] // px * px
    out = None
    for dy in range(py):
        for dx in range(px):
            part = x[dy:h:py, dx:w:px]
            if out is None:
                out = np.array(part, np.float32)
            else:
                np.maximum(out, part, out=out)
    return out


def _tiling(length: int, k: int, tile: int, multiple: int = 1) -> tuple[int, int, int]:
    """(tiles, stride, fft size) covering ``length`` outputs with tiles of at most about ``tile``;
    the stride is a multiple of ``multiple`` (so that a following pool splits at tile borders)."""
    import scipy.fft as sfft

    n = -(-length // max(1, tile))
    stride = -(-length // n)
    stride = -(-stride // multiple) * multiple
    n = -(-length // stride)
    return n, stride, sfft.next_fast_len(stride + k - 1, real=True)


def plan_tiles(h: int, w: int, conv: Conv, budget: int | None = None, multiple=(1, 1)):
    """((ty, sy, ny), (tx, sx, nx)): tiles, stride and FFT size along y and x for ``conv`` on (h, w),
    the fewest tiles whose kernel spectra fit ``budget`` bytes (default :data:`KERNEL_BYTES`)."""
    budget = KERNEL_BYTES if budget is None else int(budget)
    kh, kw = conv.size
    pairs = conv.cin * conv.cout * 8
    tile = max(h, w)
    while True:
        ty = _tiling(h, kh, tile, multiple[0])
        tx = _tiling(w, kw, tile, multiple[1])
        if pairs * ty[2] * (tx[2] // 2 + 1) <= budget or tile <= max(kh, kw):
            return ty, tx
        tile = max(max(kh, kw), int(tile * 0.85))


class FFTNet:
    """A chain of :class:`Conv`, :class:`MaxPool`, :class:`UpSample`, :class:`Act` on numpy arrays."""

    def __init__(self, ops):
        self.ops = list(ops)

    @property
    def cin(self) -> int:
        return next(op.cin for op in self.ops if isinstance(op, Conv))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.predict(x)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The network on a batch (n, H, W) or (n, H, W, C) -> (n, H', W', C') float32."""
        a = np.asarray(x, np.float32)
        if a.ndim == 3:
            a = a[..., None]
        if a.ndim != 4:
            raise ValueError(f"expected (n, H, W) or (n, H, W, C), got shape {a.shape}")
        return np.stack([self.predict_one(s) for s in a]) if len(a) else np.zeros((0,) + a.shape[1:], np.float32)

    def predict_one(self, x: np.ndarray) -> np.ndarray:
        """The network on one (H, W, C) image."""
        a = np.asarray(x, np.float32)
        ops = self.ops
        i = 0
        while i < len(ops):
            op = ops[i]
            if isinstance(op, Conv):
                pool = ops[i + 1] if i + 1 < len(ops) and isinstance(ops[i + 1], MaxPool) else None
                a = self._conv(a, op, pool.size if pool else None)
                i += 2 if pool else 1
                continue
            if isinstance(op, MaxPool):
                a = _maxpool(a, op.size)
            elif isinstance(op, UpSample):
                a = np.repeat(np.repeat(a, op.size[0], axis=0), op.size[1], axis=1)
            elif isinstance(op, Act):
                a = _apply(np.array(a, np.float32), op.activation)
            i += 1
        return a

    @staticmethod
    def _conv(a: np.ndarray, conv: Conv, pool: tuple[int, int] | None) -> np.ndarray:
        """``conv`` on (H, W, cin); with ``pool``, max-pooled before bias and activation."""
        h, w, cin = a.shape
        if cin != conv.cin:
            raise ValueError(f"the convolution expects {conv.cin} channels, got {cin}")
        (ty, sy, ny), (tx, sx, nx) = plan_tiles(h, w, conv, multiple=pool or (1, 1))
        nw = workers()
        groups = conv.spectra(ny, nx, nw if conv.cout >= 2 * nw else 1)
        # the convolution before bias and activation, max-pooled tile by tile when asked
        py, px = pool or (1, 1)
        raw = np.empty((h // py, w // px, conv.cout), np.float32)
        per_tile = ny * (nx // 2 + 1) * max(cin, conv.cout) * 8
        chunk = max(1, CHUNK_BYTES // per_tile)
        tiles = [(i * sy, j * sx) for i in range(ty) for j in range(tx)]
        for c in range(0, len(tiles), chunk):
            _conv_tiles(a, conv, groups, tiles[c:c + chunk], (sy, sx), (ny, nx), raw, nw, (py, px))
        raw += conv.bias
        return _apply(raw, conv.activation)

    def flops(self, h: int, w: int) -> int:
        """FLOPs (2 x multiply-adds) of the direct convolutions on an (h, w) input."""
        total = 0
        for op in self.ops:
            if isinstance(op, Conv):
                total += op.flops(h, w)
            elif isinstance(op, MaxPool):
                h, w = h // op.size[0], w // op.size[1]
            elif isinstance(op, UpSample):
                h, w = h * op.size[0], w * op.size[1]
        return total


def _conv_tiles(a, conv: Conv, groups, origins, stride, size, raw, nw: int, pool=(1, 1)) -> None:
    """The raw convolution (no bias) of the output tiles at ``origins`` (y, x), written into ``raw``
    (max-pooled by ``pool``: origins and strides are multiples of it).

    Each tile of ``stride`` outputs reads an (ny, nx) block of the input starting the kernel's
    'same' padding before it (zeros outside the image); the circular correlation of that block
    with the kernel is exact on its first ``ny - kh + 1`` x ``nx - kw + 1`` values.
    """
    import scipy.fft as sfft

    h, w, cin = a.shape
    kh, kw = conv.size
    pt, pl = (kh - 1) // 2, (kw - 1) // 2  # TensorFlow's 'same': the smaller half before
    sy, sx = stride
    ny, nx = size
    n = len(origins)
    buf = np.zeros((ny, nx, n, cin), np.float32)
    for t, (oy, ox) in enumerate(origins):
        y0, x0 = oy - pt, ox - pl
        ya, xa = max(0, y0), max(0, x0)
        yb, xb = min(h, y0 + ny), min(w, x0 + nx)
        if yb > ya and xb > xa:
            buf[ya - y0:yb - y0, xa - x0:xb - x0, t] = a[ya:yb, xa:xb]
    spec = sfft.rfftn(buf, axes=(0, 1), workers=nw).reshape(ny * (nx // 2 + 1), n, cin)
    del buf
    rows = min(sy, h)

    def run(j, fft_workers):
        k = groups[j]
        c0 = sum(g.shape[2] for g in groups[:j])
        c1 = c0 + k.shape[2]
        if cin == 1:
            prod = spec * k  # (f, tiles, 1) * (f, 1, c)
        elif k.shape[2] == 1:
            prod = np.einsum("ftc,fc->ft", spec, k[:, :, 0])[..., None]
        else:
            prod = np.matmul(spec, k)
        # inverse along y, keep the rows that hold this tile's output, then along x (scipy's
        # irfftn is markedly slower on large channels-last arrays)
        full = sfft.ifft(prod.reshape(ny, nx // 2 + 1, n, c1 - c0), axis=0, workers=fft_workers, overwrite_x=True)
        del prod
        full = sfft.irfft(full[:rows], n=nx, axis=1, workers=fft_workers, overwrite_x=True)
        py, px = pool
        for t, (oy, ox) in enumerate(origins):
            y1, x1 = min(h, oy + sy), min(w, ox + sx)
            part = full[:y1 - oy, :x1 - ox, t]
            if (py, px) != (1, 1):
                part = _maxpool(part, pool)
            raw[oy // py:oy // py + part.shape[0], ox // px:ox // px + part.shape[1], c0:c1] = part

    if len(groups) == 1:
        run(0, nw)
    else:
        _in_threads(run, len(groups))


def _in_threads(fn, n: int) -> None:
    """``fn(j, 1)`` for j in 0..n-1, each in its own thread (numpy and scipy.fft release the GIL)."""
    errors = []

    def guarded(j):
        try:
            fn(j, 1)
        except BaseException as exc:  # re-raised in the caller
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(j,), daemon=True) for j in range(1, n)]
    for t in threads:
        t.start()
    guarded(0)
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
