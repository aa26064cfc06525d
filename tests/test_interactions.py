"""Model interactions: competition, colocalize/avoid (the paper's case), 2d vs 3d, streaming,
spec files (ours and Ais's), bad input, and the ``interact`` command."""

import json

import numpy as np
import pytest

from ais_like.cli import main
from ais_like.errors import InputError
from ais_like.interactions import (Interaction, InteractionSet, apply_interactions, from_ais,
                                   interact_volumes, load_interactions, within_radius)
from ais_like.volume import Header, open_volume, write_volume

APIX = 10.0  # 1 nm per pixel


def ball(shape, centre, r, value=255):
    zz, yy, xx = np.indices(shape)
    d = np.sqrt((zz - centre[0]) ** 2 + (yy - centre[1]) ** 2 + (xx - centre[2]) ** 2)
    return np.where(d <= r, value, 0).astype(np.uint8)


def paper_scene():
    """A membrane (plane x = 40, 4 px thick), a carbon edge (x >= 110), and particle predictions:
    three truly membrane-bound at 20 nm from the membrane, two on the membrane, two on the carbon
    edge, one floating 60 nm away."""
    shape = (24, 96, 128)
    membrane = np.zeros(shape, np.uint8)
    membrane[:, :, 38:42] = 230
    carbon = np.zeros(shape, np.uint8)
    carbon[:, :, 110:] = 240
    bound = [(12, 20, 60), (12, 48, 60), (12, 76, 20)]  # x = 60 and x = 20: 20 nm from x = 40
    on_membrane = [(12, 30, 40), (12, 64, 40)]
    on_carbon = [(12, 30, 112), (12, 70, 115)]
    floating = [(12, 50, 100)]
    particle = np.zeros(shape, np.uint8)
    for c in bound + on_membrane + on_carbon + floating:
        particle = np.maximum(particle, ball(shape, c, 4, 200))
    return dict(Membrane=membrane, Carbon=carbon, Particle=particle), bound, on_membrane + on_carbon + floating


def paper_spec(mode="2d"):
    return InteractionSet(interactions=(
        Interaction("Particle", "Membrane", "colocalize", radius_nm=30, threshold=0.5),
        Interaction("Particle", "Membrane", "avoid", radius_nm=10, threshold=0.5)), mode=mode)


@pytest.mark.parametrize("mode", ["2d", "3d"])
def test_paper_case_keeps_membrane_bound_particles_only(mode):
    preds, bound, false = paper_scene()
    out = apply_interactions(preds, paper_spec(mode), APIX)
    kept = out["Particle"]
    for c in bound:
        assert kept[c] == 200, f"membrane-bound particle at {c} lost"
    for c in false:
        assert kept[c] == 0, f"false positive at {c} kept"
    # What survives lies between 10 and 30 nm from the membrane (x 38..41).
    xs = np.nonzero(kept)[2]
    dist = np.minimum(np.abs(xs - 38), np.abs(xs - 41))
    assert dist.min() > 10 and dist.max() <= 30
    assert out["Membrane"] is preds["Membrane"] and kept.dtype == np.uint8
    assert preds["Particle"][12, 30, 40] == 200  # inputs never mutated


def test_competition_strictly_higher_and_symmetric():
    a = np.array([[10, 100, 200, 50]], np.uint8)
    b = np.array([[20, 100, 100, 60]], np.uint8)
    spec = InteractionSet(emit={"A", "B"}, absorb={"A", "B"})
    out = apply_interactions({"A": a, "B": b}, spec)
    # A loses where B is strictly higher; a tie (100, 100) keeps both.
    assert out["A"].tolist() == [[0, 100, 200, 0]]
    assert out["B"].tolist() == [[20, 100, 0, 60]]
    # Only emitters beat, only absorbers lose.
    out = apply_interactions({"A": a, "B": b}, InteractionSet(emit={"B"}, absorb={"A"}))
    assert out["A"].tolist() == [[0, 100, 200, 0]] and out["B"] is b
    # Mixed dtypes compare on the 0..1 scale.
    out = apply_interactions({"A": a, "F": np.array([[0.05, 0.5, 0.9, 0.1]], np.float32)},
                             InteractionSet(emit={"F"}, absorb={"A"}))
    assert out["A"].tolist() == [[0, 0, 0, 50]]


def test_competition_runs_before_interactions_in_user_order():
    shape = (1, 1, 40)
    m = np.zeros(shape, np.uint8)
    m[0, 0, 0] = 255
    child = np.full(shape, 100, np.uint8)
    # Competition wipes the partner where the child is stronger, so colocalize sees less.
    spec = InteractionSet(emit={"C"}, absorb={"M"},
                          interactions=(Interaction("C", "M", "colocalize", radius_nm=2),))
    out = apply_interactions({"M": m, "C": child}, spec, APIX)
    assert out["M"][0, 0, 0] == 255 and out["C"][0, 0, :3].tolist() == [100, 100, 100]
    assert not out["C"][0, 0, 3:].any()
    m2 = m.copy()
    m2[0, 0, 0] = 50  # weaker than the child: absorbed, so nothing to colocalize with
    out = apply_interactions({"M": m2, "C": child}, spec, APIX)
    assert not out["M"].any() and not out["C"].any()


def test_2d_disk_versus_3d_ball():
    mask = np.zeros((9, 21, 21), bool)
    mask[4, 10, 10] = True
    d2 = within_radius(mask, 3.0, "2d")
    d3 = within_radius(mask, 3.0, "3d")
    assert d2[4].sum() == d3[4].sum() == 29  # lattice points in a disk of radius 3
    assert not d2[3].any() and d3[3, 10, 10] and d3[1, 10, 10] and not d3[0].any()
    assert d3.sum() == 123  # lattice points in a ball of radius 3
    zz, yy, xx = np.indices(mask.shape)
    assert np.array_equal(d3, (zz - 4) ** 2 + (yy - 10) ** 2 + (xx - 10) ** 2 <= 9)


def test_threshold_scale_is_0_to_1_for_every_dtype():
    partner8 = np.zeros((1, 1, 30), np.uint8)
    partner8[0, 0, 0] = 128  # 0.502 > 0.5
    child = np.ones((1, 1, 30), np.float32)
    spec = InteractionSet(interactions=(Interaction("C", "P", "colocalize", radius_nm=1, threshold=0.5),))
    for p in (partner8, partner8.astype(np.uint16), partner8.astype(np.float32) / 255):
        out = apply_interactions({"P": p, "C": child}, spec, APIX)
        assert out["C"][0, 0, :2].tolist() == [1, 1] and not out["C"][0, 0, 2:].any()
        assert out["C"].dtype == np.float32
    weak = partner8.copy()
    weak[0, 0, 0] = 127
    assert not apply_interactions({"P": weak, "C": child}, spec, APIX)["C"].any()


@pytest.mark.parametrize("mode,block", [("2d", 3), ("3d", 4), ("3d", 100)])
def test_streaming_equals_whole_volume(mode, block):
    rng = np.random.default_rng(1)
    shape = (23, 30, 31)
    preds = {t: (rng.random(shape) ** 8 * 255).astype(np.uint8) for t in ("A", "B", "C")}
    spec = InteractionSet(emit={"A"}, absorb={"B"}, mode=mode, interactions=(
        Interaction("B", "A", "colocalize", radius_nm=3, threshold=0.6),
        Interaction("C", "B", "avoid", radius_nm=2, threshold=0.4)))
    whole = apply_interactions(preds, spec, APIX)
    got = {t: np.zeros(shape, np.uint8) for t in preds}

    def write(title, z0, blk):
        got[title][z0:z0 + len(blk)] = blk

    interact_volumes(preds, spec, APIX, write, block=block)
    for t in preds:
        assert np.array_equal(got[t], whole[t]), t


def test_spec_files_ours_yaml_json_and_ais(tmp_path):
    yaml_text = """
mode: 3d
competition: {emit: [Membrane], absorb: [Ribosome]}
interactions:
  - {parent: Particle, partner: Membrane, kind: colocalize, radius_nm: 30, threshold: 0.5}
  - {child: Particle, partner: Membrane, kind: avoid, radius_nm: 10}
"""
    (tmp_path / "i.yaml").write_text(yaml_text)
    spec = load_interactions(tmp_path / "i.yaml")
    assert spec.mode == "3d" and spec.emit == {"Membrane"} and spec.absorb == {"Ribosome"}
    assert [(i.kind, i.radius_nm, i.threshold) for i in spec.interactions] == [("colocalize", 30, 0.5), ("avoid", 10, 0.5)]
    spec.save(tmp_path / "i.json")
    assert load_interactions(tmp_path / "i.json") == spec
    ais = [{"parent_title": "Particle", "partner_title": "Membrane", "type": 0, "radius": 30.0, "threshold": 0.5},
           {"parent_title": "Particle", "partner_title": "Membrane", "type": 1, "radius": 10.0, "threshold": 0.5}]
    (tmp_path / "group_interactions.json").write_text(json.dumps(ais))
    meta = {"Membrane": {"emit": True, "absorb": False}, "Particle": {"emit": False, "absorb": True}}
    a = load_interactions(tmp_path / "group_interactions.json", meta)
    assert a == from_ais(ais, meta) and a.emit == {"Membrane"} and a.absorb == {"Particle"} and a.mode == "2d"
    assert a.to_ais() == ais


@pytest.mark.parametrize("text,needle", [
    ('{"interactions": [{"parent": "A", "partner": "B", "kind": "near"}]}', "kind"),
    ('{"interactions": [{"parent": "A", "partner": "B", "threshold": 1.5}]}', "between 0 and 1"),
    ('{"interactions": [{"parent": "A", "partner": "B", "radius_nm": -1}]}', "radius"),
    ('{"interactions": [{"parent": "A", "partner": "A"}]}', "itself"),
    ('{"interaction": []}', "unknown key"),
    ('{"mode": "4d"}', "mode"),
    ('[{"parent_title": "A", "partner_title": "B", "type": 7}]', "type"),
    ("{not json", "not valid JSON"),
])
def test_bad_spec_files(tmp_path, text, needle):
    p = tmp_path / "bad.json"
    p.write_text(text)
    with pytest.raises(InputError, match=needle) as exc:
        load_interactions(p)
    assert str(p) in str(exc.value)


def test_bad_predictions():
    spec = InteractionSet(interactions=(Interaction("A", "B", "avoid", radius_nm=1),))
    good = np.zeros((4, 4), np.float32)
    with pytest.raises(InputError, match="NaN"):
        apply_interactions({"A": good, "B": np.full((4, 4), np.nan, np.float32)}, spec, APIX)
    with pytest.raises(InputError, match="dtype complex"):
        apply_interactions({"A": good, "B": np.zeros((4, 4), np.complex64)}, spec, APIX)
    with pytest.raises(InputError, match="differ in shape"):
        apply_interactions({"A": good, "B": np.zeros((4, 5), np.float32)}, spec, APIX)
    with pytest.raises(InputError, match="no prediction for model 'B'"):
        apply_interactions({"A": good}, spec, APIX)
    with pytest.raises(InputError, match="--apix"):
        apply_interactions({"A": good, "B": good}, spec, None)


def _write_segs(folder, preds, header):
    folder.mkdir()
    for t, a in preds.items():
        write_volume(folder / f"TS_01__{t}.mrc", a, header)


def test_interact_command(tmp_path, capsys):
    preds, bound, false = paper_scene()
    header = Header(apix=APIX, origin=(5.0, 6.0, 7.0))
    _write_segs(tmp_path / "seg", preds, header)
    spec_path = paper_spec().save(tmp_path / "spec.yaml")
    assert main(["interact", str(tmp_path / "seg"), "--interactions", str(spec_path), "--out",
                 str(tmp_path / "out"), "-q"]) == 0
    assert "TS_01: 3 volumes written" in capsys.readouterr().out
    with open_volume(tmp_path / "out" / "TS_01__Particle.mrc") as v:
        assert v.dtype == np.uint8 and v.apix == APIX and v.header.origin == (5.0, 6.0, 7.0)
        assert np.array_equal(np.asarray(v.data), apply_interactions(preds, paper_spec(), APIX)["Particle"])
    with open_volume(tmp_path / "out" / "TS_01__Membrane.mrc") as v:
        assert np.array_equal(np.asarray(v.data), preds["Membrane"])
    # Ais's uint16 segmentations: same result, uint16 kept.
    _write_segs(tmp_path / "seg16", {t: a.astype(np.uint16) for t, a in preds.items()}, header)
    assert main(["interact", str(tmp_path / "seg16"), "--interactions", str(spec_path), "--out",
                 str(tmp_path / "out16"), "-q"]) == 0
    with open_volume(tmp_path / "out16" / "TS_01__Particle.mrc") as v:
        assert v.dtype == np.uint16
        assert np.array_equal(np.asarray(v.data), apply_interactions(preds, paper_spec(), APIX)["Particle"])


def test_interact_command_bad_input(tmp_path, capsys):
    preds, _, _ = paper_scene()
    _write_segs(tmp_path / "seg", {"Particle": preds["Particle"]}, Header(apix=APIX))
    spec_path = paper_spec().save(tmp_path / "spec.json")
    assert main(["interact", str(tmp_path / "seg"), "--interactions", str(spec_path), "--out", str(tmp_path / "o")]) == 2
    assert "no volume for model 'Membrane'" in capsys.readouterr().err
    assert main(["interact", str(tmp_path / "seg"), "--interactions", str(spec_path), "--out", str(tmp_path / "seg")]) == 2
    err = capsys.readouterr().err
    assert "ais-like: error:" in err and "would overwrite its input" in err and "Traceback" not in err
    assert not list((tmp_path / "o").glob("*.mrc"))
