"""The tile extractor: tiles are cut from slices prepared as the segmenter sees them, with
labels that follow the image through every augmentation."""

from __future__ import annotations

import numpy as np
import pytest

from ais_like.errors import InputError
from ais_like.tiles import _SYMMETRIES, tiles_from_labels
from ais_like.trainset import TrainingSet


def coded_volume(nz=6, ny=50, nx=70):
    """A volume whose value at (z, y, x) is 1 + y * nx + x: a tile's pixel tells where it came from."""
    yy, xx = np.mgrid[:ny, :nx]
    plane = (1 + yy * nx + xx).astype(np.float32)
    return np.repeat(plane[None], nz, axis=0)


def disk_labels(nz, ny, nx, cy, cx, r):
    yy, xx = np.mgrid[:ny, :nx]
    disk = ((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r).astype(np.uint8)
    return np.repeat(disk[None], nz, axis=0)


def decode(tile, nx):
    """Source (y, x) of every pixel of a coded tile; -1 where the tile is outside the volume."""
    v = np.rint(tile).astype(np.int64) - 1
    y, x = np.divmod(np.maximum(v, 0), nx)
    y[v < 0] = -1
    x[v < 0] = -1
    return y, x


def test_shapes_dtypes_and_summary():
    vol = np.random.default_rng(0).normal(size=(8, 80, 90)).astype(np.float32)
    lab = disk_labels(8, 80, 90, 40, 45, 12)
    for box in (32, 64, 128):
        ts = tiles_from_labels(vol, lab, [2, 5], box=box, n_tiles=40, seed=1, feature="Membrane")
        assert isinstance(ts, TrainingSet)
        assert ts.images.shape == ts.labels.shape == (40, box, box)
        assert ts.images.dtype == np.float32 and ts.labels.dtype == np.uint8
        assert set(np.unique(ts.labels)) <= {0, 1, 2}
        assert ts.feature == "Membrane"
        assert ts.meta["slices"] == [2, 5]


def test_outside_the_volume_is_ignored_and_labels_follow_images():
    nz, ny, nx = 4, 50, 70
    vol = coded_volume(nz, ny, nx)
    lab = disk_labels(nz, ny, nx, 20, 30, 9)
    ts = tiles_from_labels(vol, lab, [1, 3], box=64, n_tiles=60, augment=True, normalisation="none", seed=3)
    seen = set()
    for img, tl in zip(ts.images, ts.labels):
        y, x = decode(img, nx)
        outside = y < 0
        assert outside.any()  # a 64 box on a 50 x 70 slice always sticks out
        assert np.all(tl[outside] == 2)
        assert np.all(tl[~outside] == lab[0][y[~outside], x[~outside]])
        # the tile is one of the 8 symmetries of an axis-aligned window of the slice
        inside = np.argwhere(~outside)
        i0 = inside[0]
        found = None
        d = inside - i0  # tile offsets
        for k, m in enumerate(_SYMMETRIES):
            src = np.stack([y[~outside] - y[tuple(i0)], x[~outside] - x[tuple(i0)]], 1)
            if np.array_equal(src, d @ m.T):
                found = k
                break
        assert found is not None
        seen.add(found)
    assert len(seen) >= 6  # augmentation really applies rotations and flips


def test_no_augment_gives_axis_aligned_windows():
    nz, ny, nx = 3, 90, 100
    vol = coded_volume(nz, ny, nx)
    lab = disk_labels(nz, ny, nx, 45, 50, 10)
    ts = tiles_from_labels(vol, lab, [0], box=32, n_tiles=20, augment=False, normalisation="none")
    for img in ts.images:
        y, x = decode(img, nx)
        ok = y >= 0
        ys, xs = np.nonzero(ok)
        assert np.all(y[ok] - ys == y[ok][0] - ys[0])
        assert np.all(x[ok] - xs == x[ok][0] - xs[0])


@pytest.mark.parametrize("fraction", [0.0, 0.25, 0.8])
def test_positive_fraction_is_honoured(fraction):
    vol = np.random.default_rng(1).normal(size=(4, 200, 200)).astype(np.float32)
    lab = disk_labels(4, 200, 200, 60, 60, 15)
    ts = tiles_from_labels(vol, lab, [0, 2], box=32, n_tiles=200, positive_fraction=fraction, seed=0)
    has_fg = (ts.labels == 1).reshape(len(ts), -1).any(axis=1)
    assert has_fg.sum() == round(200 * fraction)
    assert ts.summary()["positive tiles"] == round(200 * fraction)


def test_deterministic_by_seed():
    vol = np.random.default_rng(2).normal(size=(5, 64, 64)).astype(np.float32)
    lab = disk_labels(5, 64, 64, 30, 30, 10)
    a = tiles_from_labels(vol, lab, [1, 3], box=32, n_tiles=30, seed=7, rotate=True, noise=0.1, contrast=0.1)
    b = tiles_from_labels(vol, lab, [1, 3], box=32, n_tiles=30, seed=7, rotate=True, noise=0.1, contrast=0.1)
    c = tiles_from_labels(vol, lab, [1, 3], box=32, n_tiles=30, seed=8, rotate=True, noise=0.1, contrast=0.1)
    assert np.array_equal(a.images, b.images) and np.array_equal(a.labels, b.labels)
    assert not np.array_equal(a.images, c.images)


def test_inputs_not_modified():
    vol = np.random.default_rng(3).normal(size=(3, 40, 40)).astype(np.float32)
    lab = disk_labels(3, 40, 40, 20, 20, 8)
    v0, l0 = vol.copy(), lab.copy()
    tiles_from_labels(vol, lab, [1], box=32, n_tiles=10, noise=0.5, contrast=0.5)
    assert np.array_equal(vol, v0) and np.array_equal(lab, l0)


def test_resampled_to_target_apix():
    # a disk of radius 20 px at 10 Å/px is a disk of radius 10 px at 20 Å/px
    nz, ny, nx = 2, 64, 64
    lab = disk_labels(nz, ny, nx, 31.5, 31.5, 20)
    vol = lab.astype(np.float32) * 5.0
    ts = tiles_from_labels(vol, lab, [0], box=64, n_tiles=4, augment=False, normalisation="none",
                           apix=10.0, target_apix=20.0)
    assert ts.apix == 20.0 and ts.meta["data_apix"] == 10.0
    for img, tl in zip(ts.images, ts.labels):
        inside = tl != 2
        assert inside.sum() == 32 * 32  # the slice is 32 x 32 at 20 Å/px
        assert abs(int((tl == 1).sum()) - np.pi * 10 ** 2) < 0.08 * np.pi * 10 ** 2
        # the image is resampled the same way: bright where the label is the feature
        assert img[tl == 1].mean() > 4.0 and img[tl == 0].mean() < 1.0


def test_tiles_are_the_prepared_slice(shared_data):
    """Real slice + mask (CZ portal 10006): every tile pixel is the normalised slice's pixel."""
    import tifffile

    from ais_like.preprocess import prepare_slice

    folder = shared_data / "czportal10006_TS001_slice133"
    image = tifffile.imread(folder / "TS_001.133.tif").astype(np.float32)
    mask = (tifffile.imread(folder / "TS_001.133_ground_truth.tif") > 0).astype(np.uint8)
    ny, nx = image.shape
    real = tiles_from_labels(image[None], mask[None], [0], box=64, n_tiles=50, seed=4)
    coded = tiles_from_labels(coded_volume(1, ny, nx), mask[None], [0], box=64, n_tiles=50, seed=4,
                              normalisation="none")
    prepared = prepare_slice(image, None, None)
    assert np.array_equal(real.labels, coded.labels)
    for t_real, t_coded, tl in zip(real.images, coded.images, real.labels):
        y, x = decode(t_coded, nx)
        ok = y >= 0
        np.testing.assert_allclose(t_real[ok], prepared[y[ok], x[ok]], rtol=0, atol=1e-6)
        assert np.array_equal(tl[ok], mask[y[ok], x[ok]])
        assert np.all(t_real[~ok] == 0) and np.all(tl[~ok] == 2)
    assert real.summary()["positive tiles"] == 25


def test_accepts_opened_volumes(tmp_path):
    from ais_like.volume import Header, open_volume, write_volume

    vol = np.random.default_rng(5).normal(size=(6, 48, 48)).astype(np.float32)
    lab = disk_labels(6, 48, 48, 24, 24, 10)
    write_volume(tmp_path / "t.mrc", vol, Header(apix=8.0))
    write_volume(tmp_path / "l.mrc", lab, Header(apix=8.0))
    with open_volume(tmp_path / "t.mrc") as v, open_volume(tmp_path / "l.mrc") as lv:
        ts = tiles_from_labels(v, lv, [2, 4], box=32, n_tiles=16, target_apix=12.0)
    assert ts.apix == 12.0
    direct = tiles_from_labels(vol, lab, [2, 4], box=32, n_tiles=16, apix=8.0, target_apix=12.0)
    assert np.allclose(ts.images, direct.images) and np.array_equal(ts.labels, direct.labels)


def test_bad_input():
    vol = np.zeros((4, 32, 32), np.float32)
    lab = np.zeros((4, 32, 32), np.uint8)
    with pytest.raises(InputError, match="outside"):
        tiles_from_labels(vol, lab, [4])
    with pytest.raises(InputError, match="same shape"):
        tiles_from_labels(vol, lab[:, :10], [0])
    with pytest.raises(InputError, match="apix"):
        tiles_from_labels(vol, lab, [0], target_apix=10.0)
    with pytest.raises(InputError, match="positive fraction"):
        tiles_from_labels(vol, lab, [0], positive_fraction=1.5)


def test_save_load_round_trip(tmp_path):
    vol = np.random.default_rng(6).normal(size=(3, 40, 40)).astype(np.float32)
    lab = disk_labels(3, 40, 40, 20, 20, 8)
    ts = tiles_from_labels(vol, lab, [1], box=32, n_tiles=12, feature="Vesicle")
    back = TrainingSet.load(ts.save(tmp_path / "set.npz"))
    assert np.array_equal(back.images, ts.images) and np.array_equal(back.labels, ts.labels)
    assert back.feature == "Vesicle" and back.meta["slices"] == [1]
