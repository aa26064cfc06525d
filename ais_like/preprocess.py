"""Preprocessing: robust normalisation, clamping, band-pass filters in Å, binning, resampling.

All functions are pure: arrays in, new float32 arrays out, inputs never modified. Images are
(y, x) or stacks (z, y, x); filters and resampling act in XY only (each slice on its own),
because tomograms are anisotropic along Z (the missing wedge).

The normalisation every model sees (training tiles and segmentation alike) is
:func:`normalise` with the model's settings, so a model meets the same statistics at training
and inference.
"""

from __future__ import annotations

import math

import numpy as np

from .errors import InputError

# EMAN2's defaults for tomogram annotation: low-pass ~20 Å, high-pass ~4000 Å.
DEFAULT_LOWPASS_A = 20.0
DEFAULT_HIGHPASS_A = 4000.0
MAD_TO_SIGMA = 1.4826  # MAD * 1.4826 estimates the standard deviation of a normal distribution


def robust_stats(a: np.ndarray, sample: int = 1_000_000) -> tuple[float, float]:
    """(median, sigma) with sigma = 1.4826 * MAD, from at most ``sample`` evenly spaced values.

    NaNs are ignored. A constant image gives sigma = 1 (so normalising it gives zeros).
    """
    flat = np.asarray(a).reshape(-1)
    if flat.size > sample:
        flat = flat[:: flat.size // sample]
    flat = flat.astype(np.float32, copy=False)
    if np.isnan(flat).any():
        flat = flat[~np.isnan(flat)]
    if flat.size == 0:
        return 0.0, 1.0
    med = float(np.median(flat))
    mad = float(np.median(np.abs(flat - med))) * MAD_TO_SIGMA
    if not mad > 0:
        std = float(flat.std())
        mad = std if std > 0 else 1.0
    return med, mad


def normalise(a: np.ndarray, mode: str = "slice", clamp: float | None = 4.0,
              stats: tuple[float, float] | None = None) -> np.ndarray:
    """Robust normalisation to median 0 and sigma 1, then clamping at ``±clamp`` sigmas.

    Parameters
    ----------
    a : (y, x) image or (z, y, x) stack.
    mode : "slice" normalises each slice on its own (robust to drifting contrast along Z);
        "global" uses one median/sigma for the whole input, or ``stats`` when given (pass
        the statistics of the whole volume, see :func:`volume_stats`, to normalise slices
        one at a time exactly as the whole volume would be).
    clamp : sigmas to clamp at (None: no clamping).

    NaNs become 0 (the median).
    """
    a = np.asarray(a, dtype=np.float32)
    if a.ndim not in (2, 3):
        raise InputError(f"normalise expects a 2D image or 3D stack, got shape {a.shape}")
    if mode == "slice":
        if a.ndim == 3:
            return np.stack([normalise(s, "slice", clamp) for s in a]) if len(a) else a.copy()
        med, sig = robust_stats(a)
    elif mode == "global":
        med, sig = stats if stats is not None else robust_stats(a)
    elif mode == "none":
        out = a.copy()
        return np.nan_to_num(out, nan=0.0)
    else:
        raise InputError(f"unknown normalisation {mode!r} (expected 'slice', 'global' or 'none')")
    out = (a - np.float32(med)) / np.float32(sig)
    np.nan_to_num(out, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    if clamp is not None:
        np.clip(out, -clamp, clamp, out=out)
    return out


def volume_stats(volume, n_slices: int = 32, *, apix: float | None = None, lowpass: float | None = None,
                 highpass: float | None = None) -> tuple[float, float]:
    """Robust (median, sigma) of a whole volume from up to ``n_slices`` evenly spaced slices.

    ``volume`` is an ``ais_like.volume.Volume`` or a (z, y, x) array; only the sampled slices
    are read (every second pixel of each). With ``lowpass``/``highpass`` (Å) the samples are
    band-passed first, so that the statistics describe the filtered slices a model sees
    (``apix`` defaults to the volume's own).
    """
    # (a numpy array has a .data too: its raw buffer)
    data = volume if isinstance(volume, np.ndarray) else volume.data if hasattr(volume, "data") else np.asarray(volume)
    if apix is None:
        apix = getattr(volume, "apix", None)
    nz = data.shape[0]
    idx = np.unique(np.linspace(0, nz - 1, min(n_slices, nz)).round().astype(int))
    planes = []
    for i in idx:
        plane = np.asarray(data[i], dtype=np.float32)[::2, ::2]
        if lowpass or highpass:
            plane = bandpass(plane, 2.0 * apix if apix else None, lowpass, highpass)
        planes.append(plane)
    return robust_stats(np.stack(planes))


def bandpass(image: np.ndarray, apix: float, lowpass: float | None = DEFAULT_LOWPASS_A,
             highpass: float | None = DEFAULT_HIGHPASS_A) -> np.ndarray:
    """Gaussian band-pass of a (y, x) image or each slice of a (z, y, x) stack.

    ``lowpass`` removes detail finer than that many Å; ``highpass`` removes gradients coarser
    than that many Å. Either may be None. Done in Fourier space with Gaussian fall-offs (the
    filter's value is 1/2 at the cut-off resolution), with reflect padding against edge ringing.
    """
    a = np.asarray(image, dtype=np.float32)
    if a.ndim == 3:
        return np.stack([bandpass(s, apix, lowpass, highpass) for s in a]) if len(a) else a.copy()
    if not (apix and apix > 0):
        raise InputError("band-pass filtering needs the voxel size (Å per pixel); pass --apix")
    if lowpass is None and highpass is None:
        return a.copy()
    from scipy import fft

    ny, nx = a.shape
    pad_y, pad_x = min(ny // 4, 64), min(nx // 4, 64)
    padded = np.pad(a, ((pad_y, pad_y), (pad_x, pad_x)), mode="reflect")
    py, px = padded.shape
    fy = fft.fftfreq(py)[:, None] / apix  # cycles per Å
    fx = fft.rfftfreq(px)[None, :] / apix
    f2 = fy * fy + fx * fx
    gain = np.ones_like(f2, dtype=np.float32)
    ln2 = math.log(2.0)
    if lowpass:
        fc = 1.0 / lowpass
        gain *= np.exp(-ln2 * f2 / (fc * fc)).astype(np.float32)
    if highpass:
        fc = 1.0 / highpass
        gain *= (1.0 - np.exp(-ln2 * f2 / (fc * fc))).astype(np.float32)
        gain[0, 0] = 1.0 if not lowpass else gain[0, 0]  # keep the mean: contrast stays put
    spec = fft.rfft2(padded, workers=-1)
    out = fft.irfft2(spec * gain, s=padded.shape, workers=-1)
    return out[pad_y:pad_y + ny, pad_x:pad_x + nx].astype(np.float32)


def gaussian(image: np.ndarray, sigma_px: float) -> np.ndarray:
    """Gaussian blur in XY (display filter)."""
    from scipy import ndimage

    a = np.asarray(image, dtype=np.float32)
    sig = (0, sigma_px, sigma_px) if a.ndim == 3 else (sigma_px, sigma_px)
    return ndimage.gaussian_filter(a, sig)


def bin_xy(image: np.ndarray, factor: int) -> np.ndarray:
    """Average ``factor x factor`` blocks in XY (edges that do not fill a block are dropped)."""
    factor = int(factor)
    if factor < 1:
        raise InputError(f"binning factor must be >= 1, got {factor}")
    a = np.asarray(image, dtype=np.float32)
    if factor == 1:
        return a.copy()
    *lead, ny, nx = a.shape
    ny2, nx2 = ny // factor, nx // factor
    a = a[..., : ny2 * factor, : nx2 * factor]
    return a.reshape(*lead, ny2, factor, nx2, factor).mean(axis=(-3, -1), dtype=np.float32)


def bin_volume(volume: np.ndarray, factor: int) -> np.ndarray:
    """Average ``factor^3`` blocks (edges that do not fill a block are dropped)."""
    factor = int(factor)
    a = np.asarray(volume, dtype=np.float32)
    if factor == 1:
        return a.copy()
    nz, ny, nx = (n // factor for n in a.shape)
    a = a[: nz * factor, : ny * factor, : nx * factor]
    return a.reshape(nz, factor, ny, factor, nx, factor).mean(axis=(1, 3, 5), dtype=np.float32)


def resampled_shape(shape_yx: tuple[int, int], apix_from: float, apix_to: float) -> tuple[int, int]:
    """The (y, x) size of an image of ``shape_yx`` at ``apix_from`` resampled to ``apix_to``."""
    scale = apix_from / apix_to
    return tuple(max(1, int(round(n * scale))) for n in shape_yx)


def resample_xy(image: np.ndarray, apix_from: float | None = None, apix_to: float | None = None,
                shape: tuple[int, int] | None = None, order: int = 1) -> np.ndarray:
    """Resample a (y, x) image or each slice of a (z, y, x) stack in XY.

    Give either the two voxel sizes (Å) or the target ``shape`` (y, x). Pixel centres map
    onto pixel centres and the field of view is kept, so resampling to another size and back
    returns an image aligned with the original (this is how a model trained at 10 Å/px is
    applied to data at 14 Å/px: resample to 10, segment, resample the prediction back).
    Downsampling by more than 1.5x first smooths with a Gaussian against aliasing.
    """
    from scipy import ndimage

    a = np.asarray(image, dtype=np.float32)
    if shape is None:
        if not (apix_from and apix_to):
            raise InputError("resampling needs both voxel sizes (Å per pixel); pass --apix")
        shape = resampled_shape(a.shape[-2:], apix_from, apix_to)
    shape = tuple(int(n) for n in shape)
    if tuple(a.shape[-2:]) == shape:
        return a.copy()
    if a.ndim == 3:
        return np.stack([resample_xy(s, shape=shape, order=order) for s in a])
    ny, nx = a.shape
    sy, sx = ny / shape[0], nx / shape[1]  # input pixels per output pixel
    if max(sy, sx) > 1.5 and order > 0:
        a = ndimage.gaussian_filter(a, (max(sy / 2.0 - 0.5, 0) * 0.85, max(sx / 2.0 - 0.5, 0) * 0.85))
    yy = (np.arange(shape[0], dtype=np.float32) + 0.5) * sy - 0.5
    xx = (np.arange(shape[1], dtype=np.float32) + 0.5) * sx - 0.5
    coords = np.meshgrid(yy, xx, indexing="ij")
    return ndimage.map_coordinates(a, coords, order=order, mode="nearest").astype(np.float32)


def prepare_slice(image: np.ndarray, apix: float | None, model_apix: float | None,
                  normalisation: str = "slice", clamp: float | None = 4.0,
                  stats: tuple[float, float] | None = None, lowpass: float | None = None,
                  highpass: float | None = None) -> np.ndarray:
    """What a model sees of one slice: optional band-pass, resampling to the model's Å/px,
    normalisation. Used identically for training tiles and for segmentation."""
    a = np.asarray(image, dtype=np.float32)
    if lowpass or highpass:
        a = bandpass(a, apix, lowpass, highpass)
    if model_apix and apix and abs(apix - model_apix) > 1e-3 * model_apix:
        a = resample_xy(a, apix, model_apix)
    return normalise(a, normalisation, clamp, stats)
