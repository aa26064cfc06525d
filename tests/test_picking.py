"""The watershed picker: known particles found, sizes/spacing/margin/cap/bin/position options,
slab-by-slab equals one slab, bad input, evaluation, and the ``pick`` / ``evaluate-picks`` commands."""

import json
import os

import numpy as np
import pytest

from ais_like.cli import main
from ais_like.coords import Coordinates, read_coordinates
from ais_like.errors import InputError
from ais_like.picking import evaluate_picks, iter_components, match_points, pick_particles
from ais_like.volume import Header, write_volume

APIX = 10.0


def blobs(shape, centres, radius=5.0, peak=255):
    """Soft balls (value falls linearly to 0 at 1.6 * radius) as uint8."""
    zz, yy, xx = np.indices(shape)
    out = np.zeros(shape, np.float32)
    for c in centres:
        d = np.sqrt((zz - c[0]) ** 2 + (yy - c[1]) ** 2 + (xx - c[2]) ** 2)
        out = np.maximum(out, np.clip(1 - d / (1.6 * radius), 0, 1))
    return (out * peak).astype(np.uint8)


CENTRES = [(8, 12, 14), (20, 40, 50), (28, 14, 66), (10, 44, 20), (30, 30, 30)]
SHAPE = (40, 56, 80)


def test_finds_known_particles_and_weights():
    vol = blobs(SHAPE, CENTRES)
    picks = pick_particles(vol, APIX, threshold=0.5, min_spacing=80)
    assert len(picks) == len(CENTRES)
    got = sorted(map(tuple, np.round(picks.zyx).astype(int)))
    assert got == sorted(CENTRES)
    assert np.allclose(picks.weights, picks.weights[0]) and np.all(np.diff(picks.weights) <= 0)
    assert np.array_equal(picks.xyz, picks.zyx[:, ::-1])
    # float 0..1 and uint16 give the same picks
    for other in (vol.astype(np.float32) / 255, vol.astype(np.uint16)):
        p2 = pick_particles(other, APIX, threshold=0.5, min_spacing=80)
        assert np.allclose(np.sort(p2.zyx, axis=0), np.sort(picks.zyx, axis=0), atol=1e-4)


def test_touching_particles_are_split_and_spacing_keeps_heavier():
    big, small = (20, 28, 30), (20, 28, 44)  # 14 px apart, touching masks
    vol = np.maximum(blobs(SHAPE, [big], radius=6), blobs(SHAPE, [small], radius=4))
    picks = pick_particles(vol, APIX, threshold=0.3, min_spacing_px=8)
    assert len(picks) == 2
    assert np.allclose(picks.zyx[0], big, atol=1.0) and np.allclose(picks.zyx[1], small, atol=1.0)
    assert picks.weights[0] > picks.weights[1]
    picks = pick_particles(vol, APIX, threshold=0.3, min_spacing_px=20)  # closer than 20: keep the heavier
    assert len(picks) == 1 and np.allclose(picks.zyx[0], big, atol=1.0)


def test_min_volume_margin_cap_position():
    vol = blobs(SHAPE, CENTRES)
    vol[5, 50, 75] = 255  # one-voxel speck
    assert len(pick_particles(vol, APIX, threshold=0.5)) == 6
    assert len(pick_particles(vol, APIX, threshold=0.5, min_volume=10 * APIX ** 3)) == 5
    assert len(pick_particles(vol, APIX, threshold=0.5, min_volume_px=10)) == 5
    edge = pick_particles(vol, APIX, threshold=0.5, min_volume_px=10, margin_px=9)
    assert sorted(map(tuple, np.round(edge.zyx).astype(int))) == sorted(c for c in CENTRES if c != (8, 12, 14))
    assert len(pick_particles(vol, APIX, threshold=0.5, min_volume_px=10, margin=90.0)) == 4
    assert len(pick_particles(vol, APIX, threshold=0.5, min_volume_px=10, max_particles=2)) == 2
    mx = pick_particles(vol, APIX, threshold=0.5, min_volume_px=10, position="maximum")
    assert sorted(map(tuple, mx.zyx.astype(int))) == sorted(CENTRES)


def test_binning_maps_back_to_unbinned_voxels():
    vol = blobs(SHAPE, CENTRES, radius=6)
    picks = pick_particles(vol, APIX, threshold=0.4, min_spacing=80, bin=2)
    assert len(picks) == len(CENTRES)
    for c in CENTRES:
        assert np.min(np.linalg.norm(picks.zyx - np.asarray(c), axis=1)) < 1.0
    assert picks.volumes_px.min() % 8 == 0


def test_slabs_never_cut_components():
    rng = np.random.default_rng(3)
    vol = (rng.random((37, 30, 30)) > 0.7).astype(np.uint8) * 255
    vol[:, 10:14, 10:14] = 255  # a column through every slab
    ref = sorted(c.n_voxels for c in iter_components(vol, threshold=0.5, block=1000))
    for block in (2, 3, 7):
        got = sorted(c.n_voxels for c in iter_components(vol, threshold=0.5, block=block))
        assert got == ref
    assert sum(ref) == int((vol > 127).sum())
    p1 = pick_particles(blobs(SHAPE, CENTRES), APIX, threshold=0.5, min_spacing=80, block=3)
    p2 = pick_particles(blobs(SHAPE, CENTRES), APIX, threshold=0.5, min_spacing=80, block=1000)
    assert np.array_equal(p1.zyx, p2.zyx) and np.array_equal(p1.weights, p2.weights)


def test_empty_mask_is_zero_particles():
    picks = pick_particles(np.zeros((5, 6, 7), np.uint8), APIX, threshold=0.5)
    assert len(picks) == 0 and picks.zyx.shape == (0, 3)


@pytest.mark.parametrize("kwargs,needle", [
    (dict(threshold=1.5), "between 0 and 1"),
    (dict(threshold=-0.1), "between 0 and 1"),
    (dict(threshold=0.5, bin=0), "bin"),
    (dict(threshold=0.5, position="middle"), "position"),
    (dict(threshold=0.5, min_spacing=-1), "min spacing"),
])
def test_bad_parameters(kwargs, needle):
    with pytest.raises(InputError, match=needle):
        pick_particles(np.zeros((4, 4, 4), np.uint8), APIX, **kwargs)


def test_bad_volumes():
    nan = np.zeros((4, 4, 4), np.float32)
    nan[1, 1, 1] = np.nan
    with pytest.raises(InputError, match="NaN"):
        pick_particles(nan, APIX)
    with pytest.raises(InputError, match="0..1"):
        pick_particles(np.full((4, 4, 4), 3.0, np.float32), APIX)  # a tomogram, not a prediction
    with pytest.raises(InputError, match="0..255"):
        pick_particles(np.full((4, 4, 4), 300, np.uint16), APIX)
    with pytest.raises(InputError, match="not supported"):
        pick_particles(np.zeros((4, 4, 4), np.complex64), APIX)
    with pytest.raises(InputError, match="--apix"):
        pick_particles(np.zeros((4, 4, 4), np.uint8), None, min_spacing=100)


def test_01_masks_need_value_max():
    vol = (blobs(SHAPE, CENTRES) > 127).astype(np.uint8)
    with pytest.warns(UserWarning, match="value_max=1"):
        assert len(pick_particles(vol, APIX, threshold=0.5)) == 0
    assert len(pick_particles(vol, APIX, threshold=0.5, value_max=1)) == len(CENTRES)


def test_match_points_one_to_one_and_optimal():
    truth = np.array([[0, 0, 0], [0, 0, 10.0]])
    pred = np.array([[0, 0, 4.0], [0, 0, 5.5], [0, 0, 30.0]])
    # Greedy nearest would pair pred 0 with truth 0 and pred 1 with truth 1 (4.5): both fit.
    pairs = match_points(pred, truth, 5.0)
    assert pairs.tolist() == [[0, 0], [1, 1]]
    # A chain where greedy gets 1 match but the optimum is 2.
    pred = np.array([[0, 0, 5.0], [0, 0, -4.0]])
    truth = np.array([[0, 0, 0.0], [0, 0, 9.0]])
    assert len(match_points(pred, truth, 4.5)) == 2
    assert len(match_points(pred[:0], truth, 4.5)) == 0


def test_evaluate_picks_scores_and_tomograms():
    truth = Coordinates(zyx=[[0, 0, 0], [0, 0, 20], [0, 0, 40], [5, 5, 5]], tomograms=["a", "a", "a", "b"], apix=10.0)
    pred = Coordinates(zyx=[[0, 0, 1], [0, 0, 21], [0, 0, 80], [5, 5, 6]], tomograms=["a", "a", "a", "c"])
    res = evaluate_picks(pred, truth, radius=30.0)
    assert (res["tp"], res["fp"], res["fn"]) == (2, 2, 2)
    assert res["precision"] == res["recall"] == res["f1"] == 0.5 and res["radius_px"] == 3.0
    assert res["per_tomogram"]["a"]["tp"] == 2 and res["per_tomogram"]["b"]["fn"] == 1
    only_a = evaluate_picks(pred, truth, radius_px=3, tomogram="a")
    assert (only_a["tp"], only_a["fp"], only_a["fn"]) == (2, 1, 1)
    with pytest.raises(InputError, match="radius"):
        evaluate_picks(pred, truth)


def _seg(tmp_path, name="TS_01__Ribosome.mrc", vol=None, folder="seg"):
    d = tmp_path / folder
    d.mkdir(exist_ok=True)
    p = d / name
    write_volume(p, blobs(SHAPE, CENTRES) if vol is None else vol, Header(apix=APIX))
    return p


def test_pick_command_file_and_folder(tmp_path, capsys):
    seg = _seg(tmp_path)
    assert main(["pick", str(seg), "--threshold", "0.5", "--min-volume", "20000", "--min-spacing", "80", "-q"]) == 0
    out = tmp_path / "seg" / "TS_01__Ribosome_coords.star"
    assert f"TS_01: 5 particles -> {out}" in capsys.readouterr().out
    c = read_coordinates(out)
    assert len(c) == 5 and set(c.tomograms) == {"TS_01"} and c.apix == APIX and c.shape == SHAPE
    assert sorted(map(tuple, np.round(c.zyx).astype(int))) == sorted(CENTRES)
    _seg(tmp_path, "TS_02__Ribosome.mrc", blobs(SHAPE, CENTRES[:2]))
    _seg(tmp_path, "TS_03__Ribosome.mrc", np.zeros(SHAPE, np.uint8))
    assert main(["pick", str(tmp_path / "seg"), "--format", "txt", "--out", str(tmp_path / "coords"),
                 "--min-spacing-px", "8"]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.strip()]
    assert len(lines) == 3 and lines[1].startswith("TS_02: 2 particles") and lines[2].startswith("TS_03: NO particles found")
    assert (tmp_path / "coords" / "TS_03__Ribosome_coords.txt").read_text() == ""
    assert len(read_coordinates(tmp_path / "coords" / "TS_01__Ribosome_coords.txt")) == 5


def test_pick_command_bad_input(tmp_path, capsys):
    seg = _seg(tmp_path)
    assert main(["pick", str(seg), "--threshold", "2"]) == 2
    assert "between 0 and 1" in capsys.readouterr().err
    assert main(["pick", str(seg), "--out", str(tmp_path / "missing" / "x.star")]) == 2
    assert "does not exist" in capsys.readouterr().err
    locked = tmp_path / "locked"
    locked.mkdir()
    os.chmod(locked, 0o500)
    try:
        if not os.access(locked, os.W_OK):  # root can write anywhere
            assert main(["pick", str(seg), "--out", str(locked)]) == 2
            assert "not writable" in capsys.readouterr().err
    finally:
        os.chmod(locked, 0o700)
    nan = np.zeros(SHAPE, np.float32)
    nan[0, 0, 0] = np.nan
    bad = _seg(tmp_path, "TS_09__X.mrc", nan)
    assert main(["pick", str(bad), "-q"]) == 2
    err = capsys.readouterr().err
    assert "NaN" in err and err.count("\n") == 1 and "Traceback" not in err


def test_evaluate_picks_command(tmp_path, capsys):
    seg = _seg(tmp_path)
    assert main(["pick", str(seg), "--min-spacing", "80", "--format", "star5", "-q"]) == 0
    capsys.readouterr()
    truth = tmp_path / "truth.txt"
    truth.write_text("".join(f"{x}\t{y}\t{z}\n" for z, y, x in CENTRES[:4]) + "70\t5\t35\n")
    out_json = tmp_path / "eval.json"
    assert main(["evaluate-picks", "--pred", str(tmp_path / "seg" / "TS_01__Ribosome_coords.star"),
                 "--truth", str(truth), "--radius", "20", "--out", str(out_json)]) == 0
    res = json.loads(capsys.readouterr().out)
    assert (res["tp"], res["fp"], res["fn"]) == (4, 1, 1) and res["precision"] == 0.8
    assert json.loads(out_json.read_text())["f1"] == pytest.approx(0.8)
    assert res["mean_distance_px"] < 0.5
    assert main(["evaluate-picks", "--pred", str(truth), "--truth", str(tmp_path / "nope.star"), "--radius-px", "2"]) == 2
    assert "no such file" in capsys.readouterr().err


def test_spacing_and_size_come_from_the_particles_the_model_was_trained_on(tmp_path, capsys):
    """The annotated slices' particles give the model's particle size (tiles.feature_size);
    'pick --model' turns it into the minimum spacing and size, so a user tunes nothing."""
    from ais_like.archive import make_metadata, save_scnm
    from ais_like.tiles import feature_size, tiles_from_labels

    from _model_helpers import tiny_model

    truth = (blobs(SHAPE, CENTRES) > 127).astype(np.uint8)  # balls ~8 px across
    size = feature_size([truth[z] for z in (8, 20, 30)])
    assert size["components"] == 5 and 6.5 < size["diameter_px"] <= 9.0  # 8 px at a centre, less off it
    assert feature_size([np.zeros((9, 9), bool)]) == {"diameter_px": None, "components": 0}
    ts = tiles_from_labels(np.zeros(SHAPE, np.float32), truth, [8, 20, 30], box=16, n_tiles=8, apix=APIX)
    assert ts.summary()["feature diameter px"] == size["diameter_px"]
    meta = make_metadata("Ribosome", "Tiny", apix=APIX, ais_like={"trainset": ts.summary()})
    model = save_scnm(tmp_path / "ribo.scnm", tiny_model(), meta)
    vol = blobs(SHAPE, CENTRES)
    for z, y, x in ((2, 2, 40), (36, 50, 76), (20, 4, 76)):  # specks of noise, a voxel or two
        vol[z, y, x:x + 2] = 255
    seg = _seg(tmp_path, "TS_01__Ribosome.mrc", vol)
    assert main(["pick", str(seg), "--min-spacing", "1", "-q"]) == 0
    assert len(read_coordinates(tmp_path / "seg" / "TS_01__Ribosome_coords.star")) == 8
    assert main(["pick", str(seg), "--model", str(model)]) == 0
    out = capsys.readouterr().out
    d = size["diameter_px"] * APIX
    assert f"particles of {d:.0f} Å (from {model}): min spacing {0.6 * d:.0f} Å, min volume" in out
    assert len(read_coordinates(tmp_path / "seg" / "TS_01__Ribosome_coords.star")) == 5
    bare = save_scnm(tmp_path / "bare.scnm", tiny_model(), make_metadata("Ribosome", "Tiny", apix=APIX))
    assert main(["pick", str(seg), "--model", str(bare), "-q"]) == 2
    assert "does not record the size of its particles" in capsys.readouterr().err
