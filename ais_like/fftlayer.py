"""A Keras layer that computes a "same" 2D convolution through the FFT, for training.

:func:`ais_like.training.training_copy` swaps it in for large-kernel ``Conv2D`` layers (EMAN2's
15 x 15 kernels) in the copy of a model that it trains: the same weights (``kernel`` of shape
(kh, kw, in, out), ``bias``), the same function up to float rounding, and far fewer
multiply-adds than a direct convolution (one complex multiply-add per frequency and channel
pair instead of kh x kw real ones per pixel and channel pair). Gradients come from automatic
differentiation through the transforms. Saved models never contain this layer: the trained
weights are copied back into the original ``Conv2D`` model.

How: the (h, w) input is zero-padded at its end to an FFT-friendly (n, m) with
n >= h + kh // 2 (so the circular correlation never wraps image onto image); the kernel is
zero-padded to (n, m) and rolled by minus half its size, so that the circular
cross-correlation of the two equals Keras's "same" convolution on the first (h, w) pixels.
Real transform along x, complex along y; channels are summed by one real matrix product per
frequency on stacked real and imaginary parts. Only ``keras.ops`` are used (any backend).
Importing this module imports Keras.
"""

from __future__ import annotations

from .backend import keras as _keras

keras = _keras()
ops = keras.ops

# Smallest kernel side for which a training copy uses this layer (3 x 3 stays direct).
MIN_KERNEL = 7
# Largest kernel spectra (float32 bytes, real and imaginary parts stacked) for which a call
# convolves through the FFT; bigger inputs (whole slices, e.g. a live preview) convolve directly.
KERNEL_BYTES = 128 * 1024 * 1024


def fft_size(n: int) -> int:
    """The smallest integer >= n whose prime factors are 2, 3 and 5."""
    m = max(int(n), 1)
    while True:
        r = m
        for p in (2, 3, 5):
            while r % p == 0:
                r //= p
        if r == 1:
            return m
        m += 1


def convertible(layer) -> bool:
    """True when ``layer`` is a Conv2D that :class:`FFTConv2D` reproduces and that is worth it."""
    if type(layer).__name__ != "Conv2D":
        return False
    cfg = layer.get_config()
    k = tuple(cfg.get("kernel_size", ()))
    return (len(k) == 2 and min(k) >= MIN_KERNEL and k[0] % 2 == 1 and k[1] % 2 == 1
            and str(cfg.get("padding")).lower() == "same" and tuple(cfg.get("strides", (1, 1))) == (1, 1)
            and tuple(cfg.get("dilation_rate", (1, 1))) == (1, 1) and int(cfg.get("groups", 1)) == 1
            and cfg.get("data_format", "channels_last") in (None, "channels_last")
            and cfg.get("kernel_constraint") is None and cfg.get("bias_constraint") is None)


def _rfft2(t):
    """2D transform of real (..., n, m): real along m, complex along n; returns (re, im) of
    shape (..., m // 2 + 1, n) (frequency layout: x frequency, then y frequency)."""
    re, im = ops.rfft(t)
    nd = len(re.shape)
    perm = list(range(nd - 2)) + [nd - 1, nd - 2]
    return ops.fft((ops.transpose(re, perm), ops.transpose(im, perm)))


def _irfft2(re, im, n: int, m: int):
    """Inverse of :func:`_rfft2`: (re, im) of shape (..., m // 2 + 1, n) -> real (..., n, m)."""
    re, im = ops.fft((re, -im))  # inverse along y: conj(fft(conj(z))) / n
    re, im = re / n, -im / n
    nd = len(re.shape)
    perm = list(range(nd - 2)) + [nd - 1, nd - 2]
    return ops.irfft((ops.transpose(re, perm), ops.transpose(im, perm)), fft_length=m)


class FFTConv2D(keras.layers.Layer):
    """``Conv2D(filters, kernel_size, padding="same")`` (odd kernel, stride 1, channels last)
    computed through the FFT. Takes the weights of that Conv2D; always float32."""

    def __init__(self, filters, kernel_size, activation=None, use_bias=True, **kwargs):
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = tuple(int(k) for k in (kernel_size if isinstance(kernel_size, (tuple, list))
                                                  else (kernel_size, kernel_size)))
        self.activation = keras.activations.get(activation)
        self.use_bias = bool(use_bias)

    @classmethod
    def from_conv_config(cls, cfg: dict) -> FFTConv2D:
        return cls(cfg["filters"], cfg["kernel_size"], activation=cfg.get("activation"),
                   use_bias=cfg.get("use_bias", True), name=cfg.get("name"))

    def build(self, input_shape):
        kh, kw = self.kernel_size
        self.kernel = self.add_weight(shape=(kh, kw, int(input_shape[-1]), self.filters), name="kernel",
                                      initializer="glorot_uniform")
        self.bias = (self.add_weight(shape=(self.filters,), name="bias", initializer="zeros")
                     if self.use_bias else None)

    def call(self, x):
        h, w = x.shape[1], x.shape[2]
        if h is None or w is None or self.spectra_bytes(int(h), int(w), int(x.shape[-1])) > KERNEL_BYTES:
            # no static size to plan the transform for, or a large input: convolve directly
            y = ops.conv(x, self.kernel, strides=1, padding="same")
        else:
            y = self._fft_conv(x, int(h), int(w))
        if self.bias is not None:
            y = y + self.bias
        return self.activation(y)

    def spectra_bytes(self, h: int, w: int, cin: int) -> int:
        """Bytes of the stacked kernel spectra for an (h, w) input."""
        kh, kw = self.kernel_size
        n, m = fft_size(h + kh // 2), fft_size(w + kw // 2)
        return (m // 2 + 1) * n * 4 * cin * self.filters * 4

    def _fft_conv(self, x, h: int, w: int):
        kh, kw = self.kernel_size
        ph, pw = kh // 2, kw // 2
        n, m = fft_size(h + ph), fft_size(w + pw)
        cin, cout = int(x.shape[-1]), self.filters
        # input: (b, h, w, cin) -> (b, cin, n, m), zeros after the image
        xt = ops.pad(ops.transpose(x, (0, 3, 1, 2)), [(0, 0), (0, 0), (0, n - h), (0, m - w)])
        xr, xi = _rfft2(xt)  # (b, cin, mf, n)
        # kernel: (kh, kw, cin, cout) -> (cin, cout, n, m), its centre tap at (0, 0)
        kt = ops.pad(ops.transpose(self.kernel, (2, 3, 0, 1)), [(0, 0), (0, 0), (0, n - kh), (0, m - kw)])
        kt = ops.roll(ops.roll(kt, -ph, axis=2), -pw, axis=3)
        kr, ki = _rfft2(kt)  # (cin, cout, mf, n)
        mf = m // 2 + 1
        f = mf * n
        # per frequency: out = sum_c X_c * conj(K_cd), as one real product on stacked parts:
        # [Xr, Xi] @ [[Kr, -Ki], [Ki, Kr]] = [Xr Kr + Xi Ki, Xi Kr - Xr Ki]
        xs = ops.reshape(ops.transpose(ops.concatenate([xr, xi], axis=1), (2, 3, 0, 1)), (f, -1, 2 * cin))
        top = ops.concatenate([kr, -ki], axis=1)  # (cin, 2 cout, mf, n)
        bottom = ops.concatenate([ki, kr], axis=1)
        ks = ops.reshape(ops.transpose(ops.concatenate([top, bottom], axis=0), (2, 3, 0, 1)),
                         (f, 2 * cin, 2 * cout))
        ys = ops.matmul(xs, ks)  # (f, b, 2 cout)
        ys = ops.transpose(ops.reshape(ys, (mf, n, -1, 2 * cout)), (2, 3, 0, 1))  # (b, 2 cout, mf, n)
        y = _irfft2(ys[:, :cout], ys[:, cout:], n, m)  # (b, cout, n, m)
        return ops.transpose(y[:, :, :h, :w], (0, 2, 3, 1))

    def get_config(self):
        cfg = super().get_config()
        cfg.update(filters=self.filters, kernel_size=self.kernel_size,
                   activation=keras.activations.serialize(self.activation), use_bias=self.use_bias)
        return cfg
