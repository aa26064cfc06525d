"""Preprocessing: robust normalisation, filters in Å, binning, resampling to a model's Å/px and back."""

from __future__ import annotations

import numpy as np
import pytest

from ais_like import preprocess as pp
from ais_like.errors import InputError


def test_normalise_is_robust_to_outliers_and_clamps():
    rng = np.random.default_rng(0)
    img = rng.normal(5.0, 2.0, size=(128, 128)).astype(np.float32)
    img[0, :10] = 1e6  # gold bead / hot pixels must not change the scale
    out = pp.normalise(img, "slice", clamp=3.0)
    assert abs(np.median(out)) < 0.05
    assert 0.9 < np.median(np.abs(out)) * 1.4826 < 1.1
    assert out.max() == pytest.approx(3.0)
    assert img[0, 0] == 1e6  # input untouched


def test_global_normalisation_with_volume_stats_equals_whole_volume():
    rng = np.random.default_rng(1)
    vol = rng.normal(size=(6, 40, 40)).astype(np.float32) * np.arange(1, 7)[:, None, None]
    stats = pp.robust_stats(vol)
    whole = pp.normalise(vol, "global", clamp=None)
    per_slice = np.stack([pp.normalise(s, "global", clamp=None, stats=stats) for s in vol])
    np.testing.assert_allclose(whole, per_slice, rtol=1e-5, atol=1e-6)
    # per-slice mode equalises the drifting contrast, global mode keeps it
    assert np.std(pp.normalise(vol, "slice")[5]) == pytest.approx(np.std(pp.normalise(vol, "slice")[0]), rel=0.2)
    assert np.std(whole[5]) > 3 * np.std(whole[0])


def test_volume_stats_of_an_array_and_of_an_opened_volume_agree(tmp_path):
    """A plain (z, y, x) array works as well as a Volume (a numpy array's own ``.data`` is its
    raw buffer, not the volume)."""
    from ais_like.volume import Header, open_volume, write_volume

    vol = np.random.default_rng(3).normal(2.0, 3.0, size=(5, 30, 40)).astype(np.float32)
    write_volume(tmp_path / "v.mrc", vol, Header(apix=10.0))
    with open_volume(tmp_path / "v.mrc") as opened:
        assert pp.volume_stats(vol) == pytest.approx(pp.volume_stats(opened))
    med, sig = pp.volume_stats(vol)
    assert med == pytest.approx(2.0, abs=0.3) and sig == pytest.approx(3.0, rel=0.15)


def test_normalise_handles_nans_and_constant_images():
    img = np.ones((10, 10), np.float32)
    img[2, 2] = np.nan
    out = pp.normalise(img)
    assert np.isfinite(out).all() and np.all(out == 0)
    with pytest.raises(InputError):
        pp.normalise(img, "bogus")


def test_lowpass_removes_detail_finer_than_cutoff():
    apix = 10.0
    y, x = np.mgrid[:128, :128].astype(np.float32)
    fine = np.sin(2 * np.pi * x / 3.0)  # 30 Å period
    coarse = np.sin(2 * np.pi * x / 32.0)  # 320 Å period
    out = pp.bandpass(fine + coarse, apix, lowpass=100.0, highpass=None)
    core = (slice(20, -20), slice(20, -20))
    assert np.corrcoef(out[core].ravel(), coarse[core].ravel())[0, 1] > 0.98
    assert np.abs(out - coarse)[core].max() < 0.15


def test_highpass_removes_gradients_and_needs_apix():
    y, x = np.mgrid[:128, :128].astype(np.float32)
    ramp = x / 10.0
    out = pp.bandpass(ramp + np.sin(2 * np.pi * x / 4), 10.0, lowpass=None, highpass=200.0)
    assert np.ptp(out[:, 30:-30].mean(axis=0)) < np.ptp(ramp[:, 30:-30].mean(axis=0)) / 3
    with pytest.raises(InputError, match="--apix"):
        pp.bandpass(ramp, None)


def test_binning_averages_blocks():
    a = np.arange(16, dtype=np.float32).reshape(4, 4)
    np.testing.assert_array_equal(pp.bin_xy(a, 2), [[2.5, 4.5], [10.5, 12.5]])
    v = np.ones((5, 6, 7), np.float32)
    assert pp.bin_volume(v, 2).shape == (2, 3, 3)


def test_resample_to_model_apix_and_back_is_aligned():
    # a disc at a known position: 14 Å/px data -> 10 Å/px model grid -> back to 14 Å/px
    yy, xx = np.mgrid[:150, :170].astype(np.float32)
    disc = ((yy - 60) ** 2 + (xx - 100) ** 2 < 20 ** 2).astype(np.float32)
    up = pp.resample_xy(disc, 14.0, 10.0)
    assert up.shape == pp.resampled_shape((150, 170), 14.0, 10.0) == (210, 238)
    cy, cx = np.argwhere(up > 0.5).mean(axis=0)
    assert cy == pytest.approx((60 + 0.5) * 1.4 - 0.5, abs=0.3)
    assert cx == pytest.approx((100 + 0.5) * 1.4 - 0.5, abs=0.3)
    back = pp.resample_xy(up, shape=disc.shape)
    assert back.shape == disc.shape
    assert np.mean((back > 0.5) == (disc > 0.5)) > 0.995


def test_prepare_slice_is_what_models_see():
    rng = np.random.default_rng(2)
    img = rng.normal(100, 10, (100, 120)).astype(np.float32)
    out = pp.prepare_slice(img, apix=14.0, model_apix=10.0)
    assert out.shape == (140, 168)
    assert abs(np.median(out)) < 0.1
    same = pp.prepare_slice(img, apix=10.0, model_apix=10.0)
    assert same.shape == img.shape
