"""Coordinate files: a particle drawn at a known (x, y, z) comes back at that (x, y, z) in every
format; RELION 5 centring; real STAR files and their quirks; text and Dynamo tables."""

import numpy as np
import pytest

from ais_like.coords import Coordinates, read_coordinates, read_star, write_coordinates
from ais_like.errors import InputError
from ais_like.picking import pick_file
from ais_like.volume import Header, write_volume

APIX = 7.84
SHAPE = (30, 50, 70)  # z, y, x: every axis different, so a swap cannot pass


@pytest.mark.parametrize("fmt", ["star", "star5", "txt"])
def test_drawn_particle_comes_back_at_its_xyz(tmp_path, fmt):
    x, y, z = 52, 17, 9  # column, row, slice
    zz, yy, xx = np.indices(SHAPE)
    vol = (np.clip(1 - np.sqrt((zz - z) ** 2 + (yy - y) ** 2 + (xx - x) ** 2) / 6, 0, 1) * 255).astype(np.uint8)
    assert vol[z, y, x] == 255 and vol[z, y, x + 1] < 255
    seg = tmp_path / "TS_7__Ribosome.mrc"
    write_volume(seg, vol, Header(apix=APIX))
    res = pick_file(seg, fmt=fmt, threshold=0.3)
    assert res.n == 1 and res.out.name == "TS_7__Ribosome_coords" + (".txt" if fmt == "txt" else ".star")
    back = read_coordinates(res.out, apix=APIX, shape=SHAPE)
    assert back.frame == "pixel"
    assert np.allclose(back.xyz[0], (x, y, z), atol=1e-3)
    text = res.out.read_text()
    if fmt == "txt":
        assert text == f"{x}\t{y}\t{z}\n"  # Ais's format exactly
    elif fmt == "star":
        blocks, _ = read_star(res.out)
        cols = blocks[0].columns
        assert float(cols["rlnCoordinateX"][0]) == x and float(cols["rlnCoordinateY"][0]) == y
        assert float(cols["rlnCoordinateZ"][0]) == z and cols["rlnTomoName"] == ["TS_7"]
    else:
        blocks, _ = read_star(res.out)
        cols = blocks[0].columns
        # RELION 5: Å from the centre, centred = (pixel - size / 2) * apix
        assert float(cols["rlnCenteredCoordinateXAngst"][0]) == pytest.approx((x - 70 / 2) * APIX, abs=1e-3)
        assert float(cols["rlnCenteredCoordinateYAngst"][0]) == pytest.approx((y - 50 / 2) * APIX, abs=1e-3)
        assert float(cols["rlnCenteredCoordinateZAngst"][0]) == pytest.approx((z - 30 / 2) * APIX, abs=1e-3)
        # Without the size the file's own ais_like comment supplies it; without both it stays in Å.
        assert np.allclose(read_coordinates(res.out).xyz[0], (x, y, z), atol=1e-3)


def test_relion5_without_size_stays_in_angstrom(tmp_path):
    p = tmp_path / "r5.star"
    p.write_text("data_particles\nloop_\n_rlnTomoName\n_rlnCenteredCoordinateXAngst\n_rlnCenteredCoordinateYAngst\n"
                 "_rlnCenteredCoordinateZAngst\n_rlnOriginXAngst\n_rlnOriginYAngst\n_rlnOriginZAngst\n"
                 "TS_1 100.0 -20.0 5.0 10.0 0.0 0.0\n")
    c = read_coordinates(p)
    assert c.frame == "centred_angstrom" and np.allclose(c.xyz[0], (90.0, -20.0, 5.0))  # origin subtracted
    px = read_coordinates(p, apix=10.0, shape=(20, 40, 60))
    assert np.allclose(px.xyz[0], (9.0 + 30, -2.0 + 20, 0.5 + 10))
    with pytest.raises(InputError, match="voxel size"):
        c.to_pixels()


def test_real_chlamy_star_files(shared_data):
    folder = shared_data / "chlamy_empiar11830_star"
    c = read_coordinates(folder / "clathrin.star")
    assert len(c) == 5999 and len(set(c.tomograms)) == 81
    assert np.allclose(c.xyz[0], (1491.999, 3336.0, 1400.001))
    nuc = read_coordinates(folder / "nucleosome.star")  # TomoMdocName before TomoName: by label
    assert len(nuc) == 23878 and nuc.tomograms[0] == "tomo_0003"
    assert len(set(nuc.tomograms)) == 126
    assert len(read_coordinates(folder / "ads8738" / "respirasome.star")) == 14393
    with pytest.raises(InputError, match="no particle coordinates"):
        read_coordinates(folder / "tomolist_num_dir.star")


def test_format_fixture_quirks(shared_data):
    folder = shared_data / "format_fixtures" / "relion_star"
    blocks, _ = read_star(folder / "loop_single_quote.star")
    cols = blocks[0].columns
    assert cols["quote_string"] == ["quote string"] * 2 and cols["whitespace_string"] == [" "] * 2
    assert cols["empty_string"] == ["", ""] and cols["empty_string_and_normal_string"] == ["", "test"]
    blocks, _ = read_star(folder / "basic_double_quote.star")
    assert not blocks[0].loop and blocks[0].columns["empty_string"] == [""]
    multi = read_coordinates(folder / "rln3.1_data_style.star")  # optics-like block first
    assert len(multi) == 2 and np.allclose(multi.xyz[1], (685.0, 1268.0, -51.5227))
    single = read_coordinates(folder / "single_line_middle_of_multiblock.star")
    assert len(single) == 1
    one = read_coordinates(folder / "one_loop.star")
    assert len(one) == 16 and one.tomograms[0] == "tomo_ts01.mrc_15.00Apx"
    assert len(read_coordinates(folder / "empty_loop.star")) == 0
    pipeline, _ = read_star(folder / "default_pipeline.star")
    assert [b.name for b in pipeline][:2] == ["pipeline_general", "pipeline_processes"]
    assert pipeline[1].n_rows == 31


def test_text_formats(tmp_path):
    (tmp_path / "a.txt").write_text("# x y z\n1 2 3\n4.5,5,6\n\n7\t8\t9\t0.3\n")
    c = read_coordinates(tmp_path / "a.txt")
    assert c.xyz.tolist() == [[1, 2, 3], [4.5, 5, 6], [7, 8, 9]]
    (tmp_path / "h.csv").write_text("score,z,y,x\n0.9,3,2,1\n")
    assert read_coordinates(tmp_path / "h.csv").xyz.tolist() == [[1, 2, 3]]
    row = [0.0] * 35
    row[3:6] = [0.5, -1.0, 2.0]  # dx dy dz
    row[19] = 4  # tomogram
    row[23:26] = [100, 200, 50]  # x y z
    (tmp_path / "d.tbl").write_text(" ".join(str(v) for v in row) + "\n")
    d = read_coordinates(tmp_path / "d.tbl")
    assert d.xyz.tolist() == [[100.5, 199.0, 52.0]] and d.tomograms[0] == "4"
    (tmp_path / "bad.txt").write_text("1 2\n")
    with pytest.raises(InputError, match="at least 3"):
        read_coordinates(tmp_path / "bad.txt")
    (tmp_path / "bad2.txt").write_text("1 2 3\n1 2 x\n")
    with pytest.raises(InputError, match="line 2"):
        read_coordinates(tmp_path / "bad2.txt")


def test_bad_star_files(tmp_path):
    p = tmp_path / "bad.star"
    p.write_text("data_\nloop_\n_rlnCoordinateX\n_rlnCoordinateY\n_rlnCoordinateZ\n1 2 3\n4 5\n")
    with pytest.raises(InputError, match="expected 3"):
        read_coordinates(p)
    p.write_text("data_\nloop_\n_rlnCoordinateX\n_rlnCoordinateY\n_rlnCoordinateZ\n1 2 nan\n")
    with pytest.raises(InputError, match="NaN"):
        read_coordinates(p)
    p.write_text("data_\nloop_\n_rlnCoordinateX\n_rlnCoordinateY\n1 2\n")
    with pytest.raises(InputError, match="2D"):
        read_coordinates(p)
    with pytest.raises(InputError, match="unknown coordinate format"):
        write_coordinates(tmp_path / "x.star", Coordinates(zyx=[[1, 2, 3]]), fmt="csv")
    with pytest.raises(InputError, match="does not exist"):
        write_coordinates(tmp_path / "no" / "x.star", Coordinates(zyx=[[1, 2, 3]]))


def test_star_round_trip_keeps_names_and_weights(tmp_path):
    c = Coordinates(zyx=[[1.25, 2.5, 3.75], [4, 5, 6]], tomograms=["my tomo", "b"], weights=[3.5, 1.0])
    p = write_coordinates(tmp_path / "c.star", c, apix=5.0, shape=(10, 20, 30))
    back = read_coordinates(p)
    assert np.allclose(back.zyx, c.zyx) and back.tomograms.tolist() == ["my tomo", "b"]
    assert back.weights.tolist() == [3.5, 1.0] and back.apix == 5.0 and back.shape == (10, 20, 30)
