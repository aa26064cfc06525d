"""Meshes: Å frame and orientation, one object per piece (hollow shells stay one piece), dust,
Taubin keeps the volume, decimation hits the face budget, slabs equal one slab, .obj/.mtl files,
and the ``mesh`` command."""

import numpy as np
import pytest

from ais_like.cli import main
from ais_like.errors import InputError
from ais_like.mesh import (decimate_pieces, mesh_volume, parse_colour, read_obj, signed_volume,
                           taubin_smooth)
from ais_like.volume import Header, write_volume

APIX = 10.0
SHAPE = (40, 48, 64)


def soft_ball(shape, centre, r):
    zz, yy, xx = np.indices(shape)
    d = np.sqrt((zz - centre[0]) ** 2 + (yy - centre[1]) ** 2 + (xx - centre[2]) ** 2)
    return (np.clip(0.5 + (r - d) / 4, 0, 1) * 255).astype(np.uint8)  # 0.5 exactly at radius r


def test_ball_in_angstrom_frame_outward():
    centre, r = (12, 20, 40), 8.0
    mesh = mesh_volume(soft_ball(SHAPE, centre, r), APIX, threshold=0.5)
    assert len(mesh.pieces) == 1
    p = mesh.pieces[0]
    c = p.vertices.mean(axis=0)
    assert np.allclose(c, (40 * APIX, 20 * APIX, 12 * APIX), atol=0.5)  # x, y, z in Å
    radii = np.linalg.norm(p.vertices - c, axis=1)
    assert abs(radii.mean() - r * APIX) < 0.03 * r * APIX
    vol = signed_volume(p.vertices, p.faces)
    assert vol == pytest.approx(4 / 3 * np.pi * (r * APIX) ** 3, rel=0.05)  # positive: outward
    assert np.all(np.einsum("ij,ij->i", p.normals, p.vertices - c) > 0)
    shifted = mesh_volume(soft_ball(SHAPE, centre, r), APIX, origin=(100.0, -50.0, 7.0))
    assert np.allclose(shifted.pieces[0].vertices - p.vertices, (100.0, -50.0, 7.0), atol=1e-3)


def test_pieces_dust_and_shells():
    vol = np.maximum(soft_ball(SHAPE, (20, 24, 20), 9), soft_ball(SHAPE, (20, 24, 50), 3))
    zz, yy, xx = np.indices(SHAPE)
    mesh = mesh_volume(vol, APIX, threshold=0.5)
    assert len(mesh.pieces) == 2 and mesh.pieces[0].volume_A3 > mesh.pieces[1].volume_A3
    small = (vol > 127)[:, :, 40:].sum() * APIX ** 3
    assert len(mesh_volume(vol, APIX, dust=small + 1).pieces) == 1
    assert len(mesh_volume(vol, APIX, dust_px=small / APIX ** 3 - 1).pieces) == 2
    # A hollow shell is one piece (outer and inner surface in one object), enclosing the shell only.
    d = np.sqrt((zz - 20) ** 2 + (yy - 24) ** 2 + (xx - 32) ** 2)
    shell = (np.clip(0.5 + (2.5 - np.abs(d - 12)) / 2, 0, 1) * 255).astype(np.uint8)
    m = mesh_volume(shell, APIX)
    assert len(m.pieces) == 1
    v = signed_volume(m.pieces[0].vertices, m.pieces[0].faces)
    assert v == pytest.approx(4 / 3 * np.pi * ((14.5 * APIX) ** 3 - (9.5 * APIX) ** 3), rel=0.06)


def test_slabs_equal_one_slab_and_binning():
    vol = np.maximum(soft_ball(SHAPE, (20, 24, 20), 9), soft_ball(SHAPE, (8, 10, 50), 4))
    a = mesh_volume(vol, APIX, block=1000)
    b = mesh_volume(vol, APIX, block=3)
    for p, q in zip(a.pieces, b.pieces):
        assert np.array_equal(p.vertices, q.vertices) and np.array_equal(p.faces, q.faces)
    binned = mesh_volume(vol, APIX, bin=2)
    assert len(binned.pieces) == 2 and binned.n_faces < a.n_faces / 2
    assert np.allclose(binned.pieces[0].vertices.mean(0), a.pieces[0].vertices.mean(0), atol=APIX)


def test_taubin_does_not_shrink_and_decimation_meets_budget():
    mesh = mesh_volume(soft_ball(SHAPE, (20, 24, 32), 12), APIX)
    p = mesh.pieces[0]
    v0 = signed_volume(p.vertices, p.faces)
    sm = taubin_smooth(p.vertices, p.faces, 20)
    assert signed_volume(sm, p.faces) == pytest.approx(v0, rel=0.03)
    lap = taubin_smooth(p.vertices, p.faces, 20, lam=0.5, mu=0.0)  # plain Laplacian shrinks
    assert signed_volume(lap, p.faces) < 0.95 * v0
    (dv, df), = decimate_pieces([(p.vertices, p.faces)], 500)
    assert 250 <= len(df) <= 500 < len(p.faces)
    assert signed_volume(dv, df) == pytest.approx(v0, rel=0.08)
    m = mesh_volume(soft_ball(SHAPE, (20, 24, 32), 12), APIX, smooth=5, decimate=800)
    assert m.n_faces <= 800 and np.allclose(np.linalg.norm(m.pieces[0].normals, axis=1), 1, atol=1e-5)


def test_empty_and_bad_input():
    assert mesh_volume(np.zeros((5, 6, 7), np.uint8), APIX).pieces == []
    with pytest.raises(InputError, match="between 0 and 1"):
        mesh_volume(np.zeros((5, 6, 7), np.uint8), APIX, threshold=3)
    with pytest.raises(InputError, match="--apix"):
        mesh_volume(np.zeros((5, 6, 7), np.uint8), None)
    nan = np.zeros((5, 6, 7), np.float32)
    nan[2, 2, 2] = np.nan
    with pytest.raises(InputError, match="NaN"):
        mesh_volume(nan, APIX)
    with pytest.raises(InputError, match="decimate"):
        mesh_volume(np.zeros((5, 6, 7), np.uint8), APIX, decimate=0)
    assert parse_colour("#ff8000") == (1.0, 128 / 255, 0.0)
    assert parse_colour("255,0,0") == (1.0, 0.0, 0.0) and parse_colour("0.1 0.2 0.3") == (0.1, 0.2, 0.3)
    with pytest.raises(InputError, match="colour"):
        parse_colour("red")


def test_mesh_command(tmp_path, capsys):
    seg = tmp_path / "seg"
    seg.mkdir()
    vol = np.maximum(soft_ball(SHAPE, (20, 24, 20), 9), soft_ball(SHAPE, (20, 24, 50), 5))
    write_volume(seg / "TS_1__Vesicle.mrc", vol, Header(apix=APIX, origin=(1000.0, 2000.0, 3000.0)))
    write_volume(seg / "TS_2__Vesicle.mrc", np.zeros(SHAPE, np.uint8), Header(apix=APIX))
    assert main(["mesh", str(seg / "TS_1__Vesicle.mrc"), "--threshold", "0.5", "--smooth", "3",
                 "--colour", "#ff0000", "-q"]) == 0
    obj = seg / "TS_1__Vesicle.obj"
    assert "2 pieces" in capsys.readouterr().out and obj.is_file()
    text = obj.read_text()
    assert "mtllib TS_1__Vesicle.mtl" in text and text.count("\no Vesicle_") == 2 and "usemtl Vesicle" in text
    assert "Kd 1.0000 0.0000 0.0000" in (seg / "TS_1__Vesicle.mtl").read_text()
    pieces = read_obj(obj)
    direct = mesh_volume(vol, APIX, smooth=3)
    assert len(pieces) == 2 and np.allclose(pieces[0].vertices, direct.pieces[0].vertices, atol=0.01)
    assert np.array_equal(pieces[0].faces, direct.pieces[0].faces)
    out = tmp_path / "meshes"
    assert main(["mesh", str(seg), "--out", str(out), "--bin", "2", "--dust", "1e6", "--decimate", "300",
                 "--frame", "header"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and "TS_2__Vesicle.mrc: 0 pieces" in lines[1]
    p = read_obj(out / "TS_1__Vesicle.obj")
    assert len(p) == 1 and len(p[0].faces) <= 300
    assert np.allclose(p[0].vertices.mean(0), (1000 + 200, 2000 + 240, 3000 + 200), atol=15)
    assert main(["mesh", str(seg / "TS_1__Vesicle.mrc"), "--out", str(tmp_path / "x.ply")]) == 2
    assert ".obj" in capsys.readouterr().err
