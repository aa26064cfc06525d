"""Segmentation of slices and volumes: shapes, headers, Z range and crop, tiling, resampling,
test-time augmentation, bounded reading, and the single-slice path matching the volume path."""

import mrcfile
import numpy as np
import pytest

from ais_like import segment
from ais_like.errors import InputError
from ais_like.volume import Header, open_volume, write_volume

from _model_helpers import tiny_loaded


@pytest.fixture
def tomo(tmp_path):
    rng = np.random.default_rng(3)
    data = rng.normal(size=(12, 40, 56)).astype(np.float32)
    data[:, 10:20, 20:30] += 3.0
    return write_volume(tmp_path / "TS_01.rec", data, Header(apix=10.0, origin=(5.0, 6.0, 7.0), nstart=(1, 2, 3)))


def test_volume_output_name_shape_header_and_values(tomo, tmp_path):
    loaded = tiny_loaded(apix=10.0)
    with open_volume(tomo) as vol:
        (out,) = segment.segment_volume([loaded], vol, tmp_path)
        assert out.name == "TS_01__Tiny.mrc"
        with open_volume(out) as seg:
            assert seg.shape == vol.shape and seg.dtype == np.uint8
            assert seg.header == vol.header  # voxel size, origin, nstart kept
            # the single-slice path gives the same bytes as the volume path
            z = 7
            one = segment.to_uint8(segment.predict_slice(loaded, vol.slice(z), vol.apix))
            assert np.array_equal(one, np.asarray(seg.data[z]))
    assert mrcfile.validate(str(out))


def test_z_range_and_crop_are_zero_outside(tomo, tmp_path):
    loaded = tiny_loaded(apix=10.0)
    with open_volume(tomo) as vol:
        (out,) = segment.segment_volume([loaded], vol, tmp_path, z_range=(3, 9), crop=(5, 30, 10, 50))
    seg = open_volume(out).read()
    inside = seg[3:9, 5:30, 10:50]
    assert inside.max() > 0
    mask = np.ones(seg.shape, bool)
    mask[3:9, 5:30, 10:50] = False
    assert seg[mask].max() == 0
    assert mrcfile.validate(str(out))


def test_bad_range_or_crop_or_folder(tomo, tmp_path):
    loaded = tiny_loaded()
    with open_volume(tomo) as vol:
        with pytest.raises(InputError, match="Z range"):
            segment.segment_volume([loaded], vol, tmp_path, z_range=(5, 40))
        with pytest.raises(InputError, match="crop"):
            segment.segment_volume([loaded], vol, tmp_path, crop=(0, 41, 0, 10))
        with pytest.raises(InputError, match="does not exist"):
            segment.segment_volume([loaded], vol, tmp_path / "nope")
        with pytest.raises(InputError, match="titled"):
            segment.segment_volume([loaded, tiny_loaded(seed=2)], vol, tmp_path)


def test_tiled_prediction_equals_whole_slice():
    rng = np.random.default_rng(0)
    image = rng.normal(size=(150, 170)).astype(np.float32)
    loaded = tiny_loaded(kernel=5)
    whole = segment.Predictor(loaded).predict(image)
    tiled = segment.Predictor(loaded, pixel_budget=64 * 64).predict(image)  # 64 px tiles, 16 px overlap
    assert np.allclose(whole, tiled, atol=1e-6)


def test_padding_to_the_divisor_and_cropping_back():
    loaded = tiny_loaded(divisor=16)
    p = segment.Predictor(loaded)
    assert p.divisor == 16
    out = p.predict(np.random.default_rng(1).normal(size=(3, 45, 70)).astype(np.float32))
    assert out.shape == (3, 45, 70) and out.min() >= 0 and out.max() <= 1


def test_resampling_to_the_model_apix_and_back(tmp_path):
    """A model trained at 10 Å/px applied to 14 Å/px data: the output keeps the data's grid."""
    rng = np.random.default_rng(0)
    data = rng.normal(size=(4, 70, 84)).astype(np.float32)
    data[:, 30:40, 30:40] += 4.0
    path = write_volume(tmp_path / "t.mrc", data, Header(apix=14.0))
    loaded = tiny_loaded(apix=10.0)
    pred = segment.Predictor(loaded, apix=14.0)
    assert pred.resample
    with open_volume(path) as vol:
        (out,) = segment.segment_volume([loaded], vol, tmp_path)
    seg = open_volume(out).read().astype(float)
    assert seg.shape == data.shape
    # the bright square is found where it is in the data's own grid
    inside, outside = seg[:, 31:39, 31:39].mean(), seg[:, :20, :20].mean()
    assert abs(inside - outside) > 20
    same = segment.Predictor(loaded, apix=10.0)
    assert not same.resample


def test_test_time_augmentation_of_an_equivariant_model_changes_nothing():
    from ais_like.backend import keras

    loaded = tiny_loaded()
    w = loaded.model.get_weights()
    k = np.zeros_like(w[0])
    k[1, 1] = 1.0  # identity kernel: rotations/flips commute with it
    loaded.model.set_weights([k, w[1]])
    img = np.random.default_rng(2).normal(size=(33, 47)).astype(np.float32)
    a = segment.Predictor(loaded, tta=1).predict(img)
    b = segment.Predictor(loaded, tta=8).predict(img)
    assert np.allclose(a, b, atol=1e-6)
    with pytest.raises(InputError, match="test-time"):
        segment.Predictor(loaded, tta=9)
    assert keras is not None


class _Spy:
    """Array-like that records how many slices each read asked for."""

    def __init__(self, data):
        self._d, self.shape, self.dtype, self.ndim, self.reads = data, data.shape, data.dtype, 3, []

    def __getitem__(self, key):
        zs = key[0] if isinstance(key, tuple) else key
        self.reads.append(len(range(*zs.indices(self.shape[0]))) if isinstance(zs, slice) else 1)
        return self._d[key]


def test_volume_is_streamed_in_blocks(tomo, tmp_path, monkeypatch):
    monkeypatch.setattr(segment, "BLOCK_BYTES", 3 * 40 * 56 * 4)  # three slices per block
    with open_volume(tomo) as vol:
        vol.data = _Spy(np.asarray(vol.data))
        segment.segment_volume([tiny_loaded()], vol, tmp_path)
        assert max(vol.data.reads) == 3 and sum(vol.data.reads) == 12


def test_skip_existing(tomo, tmp_path):
    loaded = tiny_loaded()
    with open_volume(tomo) as vol:
        (out,) = segment.segment_volume([loaded], vol, tmp_path)
        out.write_bytes(b"keep me")
        segment.segment_volume([loaded], vol, tmp_path, skip_existing=True)
        assert out.read_bytes() == b"keep me"
        segment.segment_volume([loaded], vol, tmp_path)
        assert open_volume(out).shape == vol.shape


def test_interactions_in_segment_equal_interact_afterwards(tomo, tmp_path):
    """`segment --interactions` writes the same bytes as `segment` followed by `interact`."""
    from ais_like.archive import save_scnm
    from ais_like.cli import main

    a, b = tiny_loaded(seed=1), tiny_loaded(seed=2)
    a.metadata["title"], b.metadata["title"] = "Membrane", "Particle"
    save_scnm(tmp_path / "a.scnm", a.model, a.metadata)
    save_scnm(tmp_path / "b.scnm", b.model, b.metadata)
    spec = tmp_path / "i.yaml"
    spec.write_text("competition: {emit: [Membrane], absorb: [Particle]}\n"
                    "interactions:\n  - {parent: Particle, partner: Membrane, kind: colocalize, radius_nm: 30, threshold: 0.4}\n")
    models = ["--model", str(tmp_path / "a.scnm"), "--model", str(tmp_path / "b.scnm")]
    assert main(["segment", *models, "--data", str(tomo), "--out", str(tmp_path / "raw"), "-q"]) == 0
    assert main(["interact", str(tmp_path / "raw"), "--interactions", str(spec), "--out", str(tmp_path / "after")]) == 0
    assert main(["segment", *models, "--data", str(tomo), "--out", str(tmp_path / "with"), "--interactions",
                 str(spec), "-q"]) == 0
    for name in ("TS_01__Membrane.mrc", "TS_01__Particle.mrc"):
        assert (tmp_path / "with" / name).read_bytes() == (tmp_path / "after" / name).read_bytes()
    raw = open_volume(tmp_path / "raw" / "TS_01__Particle.mrc").read()
    adjusted = open_volume(tmp_path / "with" / "TS_01__Particle.mrc").read()
    assert (adjusted <= raw).all() and (adjusted < raw).any()  # the interactions did something
    assert sorted(p.name for p in (tmp_path / "with").iterdir()) == ["TS_01__Membrane.mrc", "TS_01__Particle.mrc"]
    # an interaction naming a model that was not given is refused with one line
    spec.write_text("interactions:\n  - {parent: Ribosome, partner: Membrane, kind: avoid, radius_nm: 5}\n")
    assert main(["segment", *models, "--data", str(tomo), "--out", str(tmp_path / "x"), "--interactions", str(spec)]) == 2


def test_bfloat16_predictor_is_close_to_float32(monkeypatch):
    from ais_like.backend import keras

    k = keras()
    k.utils.set_random_seed(0)
    inp = k.Input(shape=(None, None, 1))
    hidden = k.layers.Conv2D(8, 5, padding="same", activation="relu")(inp)
    loaded = tiny_loaded()
    loaded.model = k.Model(inp, k.layers.Conv2D(1, 3, padding="same", activation="sigmoid")(hidden))
    image = np.random.default_rng(8).normal(size=(40, 52)).astype(np.float32)
    monkeypatch.setenv("AIS_LIKE_BF16", "0")
    assert not segment.Predictor(loaded).bf16
    monkeypatch.delenv("AIS_LIKE_BF16", raising=False)  # default: where the CPU computes bfloat16
    from ais_like.backend import has_gpu
    from ais_like.training import cpu_has_bf16

    assert segment.Predictor(loaded).bf16 == (cpu_has_bf16() and not has_gpu())
    monkeypatch.setenv("AIS_LIKE_BF16", "1")
    p = segment.Predictor(loaded)
    assert p.bf16
    a = p.predict(image)
    b = segment.Predictor(loaded, bf16=False).predict(image)
    assert a.shape == b.shape and np.isfinite(a).all()
    assert 0 < np.abs(a - b).max() < 0.05  # bfloat16 rounding: close, not identical
    assert "bfloat16" in str(p._bf16_model.layers[1].compute_dtype)
    assert str(p._bf16_model.layers[-1].compute_dtype) == "float32"  # the probability head
    # the bfloat16 copy is reused by later predictors and follows the model's weights
    loaded.model.set_weights([w * 0.5 for w in loaded.model.get_weights()])
    p2 = segment.Predictor(loaded)
    c = p2.predict(image)
    assert p2._bf16_model is p._bf16_model
    d = segment.Predictor(loaded, bf16=False).predict(image)
    assert np.abs(c - d).max() < 0.05 and np.abs(c - a).max() > 1e-3


def test_automatic_batches_stay_small():
    loaded = tiny_loaded()
    calls = []
    p = segment.Predictor(loaded)
    real = p._call
    p._call = lambda x: calls.append(x.shape) or real(x)
    p.predict(np.zeros((6, 700, 700), np.float32))
    assert max(c[0] * c[1] * c[2] for c in calls) <= segment.BATCH_PIXELS
    assert sum(c[0] for c in calls) == 6
