import numpy as np
import pytest

from ais_like.errors import InputError
from ais_like.trainset import TrainingSet


def _set(n=6, box=16):
    rng = np.random.default_rng(0)
    labels = np.zeros((n, box, box), np.uint8)
    labels[: n // 2, 4:8, 4:8] = 1
    labels[:, :2] = 2
    return TrainingSet(rng.normal(size=(n, box, box)), labels, apix=10.0, feature="Membrane")


def test_round_trip_without_pickle(tmp_path):
    ts = _set()
    path = ts.save(tmp_path / "set.npz")
    back = TrainingSet.load(path)
    np.testing.assert_array_equal(back.images, ts.images)
    np.testing.assert_array_equal(back.labels, ts.labels)
    assert back.apix == 10.0 and back.feature == "Membrane" and back.box == 16
    assert back.meta["n_positive"] == 3 and back.meta["n_negative"] == 3
    with np.load(path, allow_pickle=False) as z:  # readable with plain numpy, no pickle
        assert set(z.files) == {"images", "labels", "meta"}


def test_summary_counts():
    s = _set().summary()
    assert s["positive tiles"] == 3 and s["negative tiles"] == 3
    assert s["ignored fraction"] == pytest.approx(2 / 16)


def test_bad_inputs(tmp_path):
    with pytest.raises(InputError, match="must both be"):
        TrainingSet(np.zeros((2, 8, 8)), np.zeros((2, 8, 9)))
    with pytest.raises(InputError, match="0, 1 or 2"):
        TrainingSet(np.zeros((1, 8, 8)), np.full((1, 8, 8), 3))
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(InputError, match="bad.npz"):
        TrainingSet.load(bad)
    other = tmp_path / "other.npz"
    np.savez(other, images=np.zeros((1, 8, 8)), labels=np.zeros((1, 8, 8)), meta=np.array('{"format": "x"}'))
    with pytest.raises(InputError, match="not an ais_like training set"):
        TrainingSet.load(other)
