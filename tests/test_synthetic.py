"""Synthetic tomograms: deterministic, labels on the density, a real missing wedge."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from ais_like import synthetic

SHAPE = (32, 96, 96)


@pytest.fixture(scope="module")
def tomo():
    return synthetic.make_tomogram(shape=SHAPE, apix=10.0, seed=3, n_vesicles=2, n_ribosomes=6)


def test_shapes_and_types(tomo):
    assert tomo.volume.shape == SHAPE and tomo.volume.dtype == np.float32
    assert set(tomo.labels) == {"membrane", "filament", "ribosome"}
    for lab in tomo.labels.values():
        assert lab.shape == SHAPE and lab.dtype == np.uint8 and set(np.unique(lab)) <= {0, 1}
    assert tomo.labels["membrane"].any() and tomo.labels["ribosome"].any()
    assert tomo.particles.ndim == 2 and tomo.particles.shape[1] == 3 and len(tomo.particles) >= 1
    assert tomo.apix == 10.0
    assert abs(float(tomo.volume.mean())) < 1e-3 and abs(float(tomo.volume.std()) - 1) < 1e-3


def test_deterministic_by_seed(tomo):
    again = synthetic.make_tomogram(shape=SHAPE, apix=10.0, seed=3, n_vesicles=2, n_ribosomes=6)
    assert np.array_equal(again.volume, tomo.volume)
    for k in tomo.labels:
        assert np.array_equal(again.labels[k], tomo.labels[k])
    other = synthetic.make_tomogram(shape=SHAPE, apix=10.0, seed=4, n_vesicles=2, n_ribosomes=6)
    assert not np.array_equal(other.volume, tomo.volume)


def test_labels_sit_on_dark_density():
    # without noise the labelled voxels are the dark (dense) ones, and the label is not wider
    # than the density: the ring just outside the membrane label is much lighter than the label
    t = synthetic.make_tomogram(shape=SHAPE, seed=5, snr=0, n_vesicles=2, n_ribosomes=6, crowding=0)
    v = t.volume
    for name in ("membrane", "ribosome", "filament"):
        lab = t.labels[name].astype(bool)
        if not lab.any():
            continue
        assert v[lab].mean() < v[~lab].mean() - 1.0, name
    mem = t.labels["membrane"].astype(bool)
    ring = ndimage.binary_dilation(mem, iterations=2) & ~mem
    ring &= ~(t.labels["ribosome"].astype(bool) | t.labels["filament"].astype(bool))
    assert v[mem].mean() < v[ring].mean() - 0.5


def test_membrane_visible_in_noisy_volume(tomo):
    lab = tomo.labels["membrane"].astype(bool)
    assert tomo.volume[lab].mean() < tomo.volume[~lab].mean() - 0.3


def test_particles_are_ribosome_centres(tomo):
    lab = tomo.labels["ribosome"]
    for z, y, x in np.rint(tomo.particles).astype(int):
        assert lab[z, y, x] == 1


def test_missing_wedge_in_fourier_space(tomo):
    power = np.abs(np.fft.rfftn(tomo.volume)) ** 2
    nz, ny, nx = SHAPE
    kz = np.abs(np.fft.fftfreq(nz))[:, None, None]
    kx = np.abs(np.fft.rfftfreq(nx))[None, None, :]
    k = np.broadcast_to(np.sqrt(kz ** 2 + kx ** 2), power.shape)
    band = (k > 0.03) & (k < 0.15)
    missing = band & np.broadcast_to(kz > np.tan(np.radians(65)) * kx, power.shape)
    measured = band & np.broadcast_to(kz < np.tan(np.radians(55)) * kx, power.shape)
    assert power[missing].mean() < 1e-3 * power[measured].mean()
    # without the wedge that region has power
    full = synthetic.make_tomogram(shape=SHAPE, seed=3, n_vesicles=2, n_ribosomes=6, tilt_range=None)
    p2 = np.abs(np.fft.rfftn(full.volume)) ** 2
    assert p2[missing].mean() > 0.05 * p2[measured].mean()


def test_wedge_smears_along_z():
    # a small dense particle is longer along Z than across it after the missing wedge
    t = synthetic.make_tomogram(shape=(48, 64, 64), seed=1, snr=0, n_vesicles=0, n_filaments=0,
                                n_ribosomes=1, crowding=0)
    z, y, x = np.rint(t.particles[0]).astype(int)
    v = -t.volume  # density positive
    along_z = v[:, y, x]
    along_x = v[z, y, :]
    w_z = (along_z > 0.5 * along_z.max()).sum()
    w_x = (along_x > 0.5 * along_x.max()).sum()
    assert w_z > 1.3 * w_x


def test_carbon_edge():
    t = synthetic.make_tomogram(shape=(16, 64, 64), seed=2, carbon=True, n_vesicles=1, n_ribosomes=2)
    assert "carbon" in t.labels and 0.05 < t.labels["carbon"].mean() < 0.4
    assert t.volume[t.labels["carbon"] == 1].mean() < t.volume[t.labels["carbon"] == 0].mean()


def test_write_demo_dataset(tmp_path):
    from ais_like import project
    from ais_like.volume import open_volume

    out = synthetic.write_demo_dataset(tmp_path / "demo", seed=1, shape=(24, 64, 64))
    with open_volume(out["tomogram"]) as vol:
        assert vol.shape == (24, 64, 64) and vol.apix == 10.0
        data = vol.read()
    for feat, path in out["labels"].items():
        with open_volume(path) as lv:
            assert lv.dtype == np.uint8 and lv.shape == (24, 64, 64) and lv.apix == 10.0
    mem = open_volume(out["labels"]["membrane"]).read()
    assert 2 <= len(out["annotated_slices"]) <= 3
    proj = project.load(out["project"])
    ds = next(iter(proj.datasets.values()))
    assert ds.path == out["tomogram"].absolute() and ds.exists
    ann = ds.annotations
    assert ann.annotated_slices("membrane") == out["annotated_slices"]
    for z in out["annotated_slices"]:
        assert np.array_equal(ann.label_slice("membrane", z), mem[z].astype(np.uint8))
    again = synthetic.make_tomogram(shape=(24, 64, 64), seed=1)
    assert np.allclose(data, again.volume)
    lines = out["particles"].read_text().split("\n")
    assert len([ln for ln in lines if ln]) == len(again.particles)


def test_presets_add_what_they_name_and_keep_the_demo_unchanged():
    small = (40, 128, 128)
    base = synthetic.make_tomogram(shape=small, seed=2)
    same = synthetic.preset_tomogram("standard", seed=2, shape=small)
    assert np.array_equal(base.volume, same.volume) and same.meta["preset"] == "standard"
    assert set(same.picks) == {"ribosome"} and np.array_equal(same.picks["ribosome"], base.particles)
    # the whole bilayer holds the visible membrane label and more (the caps the missing wedge hides)
    assert np.all(base.membrane_all >= base.labels["membrane"]) and base.membrane_all.sum() > base.labels["membrane"].sum()
    t = synthetic.make_tomogram(shape=small, seed=2, particle_shape="barrel", membrane_proteins=12, gold=4,
                                bilayer_offset=1.5)
    assert {"membrane", "filament", "proteasome", "membrane_protein", "gold"} == set(t.labels)
    assert t.meta["particle"] == "proteasome" and t.picks["proteasome"] is t.particles
    for feature in ("proteasome", "membrane_protein", "gold"):
        centres = t.picks[feature]
        assert len(centres) >= 3, feature
        z, y, x = np.round(centres).astype(int).T
        inside = t.labels[feature][np.clip(z, 0, small[0] - 1), np.clip(y, 0, 127), np.clip(x, 0, 127)]
        assert inside.mean() >= 0.6, feature  # centres sit on their labels (the Y's fork is on an arm)
    # gold is far darker than anything else
    gold = t.labels["gold"].astype(bool)
    assert np.median(t.volume[gold]) < np.percentile(t.volume, 1)
    assert t.meta["bilayer_offset"] == 1.5 and t.meta["n_gold"] == len(t.picks["gold"])
    with pytest.raises(ValueError, match="unknown preset"):
        synthetic.preset_tomogram("nonsense")
    with pytest.raises(ValueError, match="particle_shape"):
        synthetic.make_tomogram(shape=small, particle_shape="cube")
