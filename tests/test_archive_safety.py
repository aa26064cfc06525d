"""Hostile model archives are refused with a clear message, and nothing is written outside the
temporary folder. Most of these never import Keras: the refusals happen before a model loads."""

from __future__ import annotations

import io
import json
import os
import tarfile
import tempfile

import pytest

from ais_like import archive
from ais_like.errors import InputError
from tests._archive_helpers import (ais_metadata, huge_member_tar, lambda_h5, metadata_member, tar_bytes)


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    """Point every temporary file of the code under test into tmp_path/tmp, and remember what
    exists around tmp_path so that a test can prove nothing was written outside."""
    t = tmp_path / "tmp"
    t.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(t))
    before = set(os.listdir(tmp_path.parent))
    yield t
    assert set(os.listdir(tmp_path.parent)) == before, "something was written beside the test folder"
    assert os.listdir(t) == [], f"temporary files left behind: {os.listdir(t)}"


def _write(tmp_path, name, data: bytes):
    p = tmp_path / name
    p.write_bytes(data)
    return p


def _refused(path, *words, fn=archive.load_scnm):
    with pytest.raises(InputError) as exc:
        fn(path)
    msg = str(exc.value)
    assert str(path) in msg and "\n" not in msg
    for w in words:
        assert w in msg, msg
    return msg


def test_path_traversal_is_refused_and_nothing_lands_outside(tmp_path, private_tmp):
    target = tmp_path / "outside" / "evil.txt"
    for name in ("../outside/evil.txt", "a/../../outside/evil.txt", "/tmp/evil_abs.txt", "C:\\evil.txt"):
        p = _write(tmp_path, "trav.scnm", tar_bytes([metadata_member(ais_metadata()), (name, b"pwned")]))
        msg = _refused(p, "refused")
        assert ("'..'" in msg) or ("absolute" in msg)
        _refused(p, "refused", fn=archive.read_metadata)
    assert not target.exists() and not os.path.exists("/tmp/evil_abs.txt")


def test_links_and_devices_are_refused(tmp_path, private_tmp):
    passwd = open("/etc/passwd", "rb").read() if os.path.exists("/etc/passwd") else None
    sym = tarfile.TarInfo("m_weights.h5")
    sym.type, sym.linkname = tarfile.SYMTYPE, "/etc/passwd"
    p = _write(tmp_path, "sym.scnm", tar_bytes([metadata_member(ais_metadata()), (sym, None)]))
    _refused(p, "link", "/etc/passwd")
    hard = tarfile.TarInfo("m_weights.h5")
    hard.type, hard.linkname = tarfile.LNKTYPE, "m_metadata.json"
    p = _write(tmp_path, "hard.scnm", tar_bytes([metadata_member(ais_metadata()), (hard, None)]))
    _refused(p, "link")
    dev = tarfile.TarInfo("m_weights.h5")
    dev.type, dev.devmajor, dev.devminor = tarfile.CHRTYPE, 1, 3
    p = _write(tmp_path, "dev.scnm", tar_bytes([metadata_member(ais_metadata()), (dev, None)]))
    _refused(p, "device")
    fifo = tarfile.TarInfo("m_weights.h5")
    fifo.type = tarfile.FIFOTYPE
    p = _write(tmp_path, "fifo.scnm", tar_bytes([metadata_member(ais_metadata()), (fifo, None)]))
    _refused(p, "FIFO")
    if passwd is not None:
        assert open("/etc/passwd", "rb").read() == passwd


def test_duplicates_too_many_members_and_strangers_are_refused(tmp_path, private_tmp):
    meta = metadata_member(ais_metadata())
    p = _write(tmp_path, "dup.scnm", tar_bytes([meta, ("x/" + meta[0], meta[1])]))
    _refused(p, "duplicate")
    many = [meta] + [(f"junk{i}.txt", b"x") for i in range(archive.MAX_MEMBERS + 1)]
    p = _write(tmp_path, "many.scnm", tar_bytes(many))
    _refused(p, "more than")
    p = _write(tmp_path, "odd.scnm", tar_bytes([meta, ("m_weights.h5", b"x"), ("run_me.py", b"print(1)")]))
    _refused(p, "unexpected member", "run_me.py")


def test_huge_member_is_refused_without_reading_it(tmp_path, private_tmp):
    p = _write(tmp_path, "huge.scnm", huge_member_tar(50 * 1024**3))
    assert p.stat().st_size <= 10_240  # the header lies; no real gigabytes
    msg = _refused(p, "bytes", "limit")
    assert str(50 * 1024**3) in msg
    big_meta = ("m_metadata.json", b" " * (archive.MAX_METADATA_BYTES + 1))
    p = _write(tmp_path, "bigmeta.scnm", tar_bytes([big_meta]))
    _refused(p, "m_metadata.json", "limit", fn=archive.read_metadata)


def test_truncated_and_garbage_archives_are_refused(tmp_path, private_tmp):
    full = tar_bytes([metadata_member(ais_metadata()), ("m_weights.h5", b"h" * 5000)])
    for cut in (700, 1300, 3000):
        p = _write(tmp_path, f"cut{cut}.scnm", full[:cut])
        _refused(p, "truncated")
    p = _write(tmp_path, "garbage.scnm", b"\x00\x01 definitely not a tar" * 40)
    _refused(p, "not a model archive")
    p = _write(tmp_path, "empty.scnm", b"")
    _refused(p)


@pytest.mark.parametrize("field, value, words", [
    ("title", 42, ["'title'", "string"]),
    ("title", "", ["'title'", "characters"]),
    ("apix", "ten", ["'apix'", "number"]),
    ("apix", float("inf"), ["'apix'", "outside"]),
    ("box_size", 64.5, ["'box_size'", "integer"]),
    ("box_size", True, ["'box_size'", "integer"]),
    ("threshold", 1.5, ["'threshold'", "outside"]),
    ("colour", "green", ["'colour'", "3 numbers"]),
    ("colour", [0.1, "x", 0.2], ["'colour'"]),
    ("emit", "yes", ["'emit'", "true or false"]),
    ("n_copies", -3, ["'n_copies'", "outside"]),
    ("normalization", ["global_mad"], ["'normalization'", "string"]),
    ("tta", 99, ["'tta'", "outside"]),
    ("ais_like", [], ["'ais_like'", "object"]),
    ("ais_like", {"preprocess": {"normalisation": "magic"}}, ["ais_like.preprocess.normalisation"]),
])
def test_metadata_with_wrong_types_is_refused_naming_the_field(tmp_path, private_tmp, field, value, words):
    meta = ais_metadata(**{field: value})
    p = _write(tmp_path, "bad.scnm", tar_bytes([metadata_member(meta), ("m_weights.h5", b"x")]))
    _refused(p, "metadata field", *words, fn=archive.read_metadata)
    _refused(p, *words)


def test_metadata_that_is_not_an_object_or_not_json(tmp_path, private_tmp):
    p = _write(tmp_path, "list.scnm", tar_bytes([("m_metadata.json", b"[1, 2]"), ("m_weights.h5", b"x")]))
    _refused(p, "JSON object", fn=archive.read_metadata)
    p = _write(tmp_path, "bin.scnm", tar_bytes([("m_metadata.json", b"\xff\xfe{"), ("m_weights.h5", b"x")]))
    _refused(p, "not valid JSON", fn=archive.read_metadata)
    p = _write(tmp_path, "deep.scnm", tar_bytes([("m_metadata.json", b"[" * 100000), ("m_weights.h5", b"x")]))
    _refused(p, "not valid JSON", fn=archive.read_metadata)


def test_colour_slightly_out_of_range_is_clipped_not_refused():
    # Ais's own default colour list has 266/255 in one entry
    meta = archive.validate_metadata(ais_metadata(colour=[0.0, 136 / 255, 266 / 255]), "m")
    assert meta["colour"] == [0.0, pytest.approx(136 / 255), 1.0]


def test_lambda_layer_is_refused_before_keras_sees_it(tmp_path, private_tmp, monkeypatch):
    h5 = tmp_path / "evil.h5"
    lambda_h5(h5)
    p = _write(tmp_path, "lambda.scnm", tar_bytes([metadata_member(ais_metadata()), ("m_weights.h5", h5.read_bytes())]))
    import ais_like.backend as backend

    def no_keras():  # the refusal must come first: Keras never gets the file
        raise AssertionError("Keras was imported for a hostile file")

    monkeypatch.setattr(backend, "keras", no_keras)
    msg = _refused(p, "refused", "'evil'", "Lambda", "code")
    assert "never runs" in msg


def test_unknown_layer_classes_and_foreign_modules_are_refused(tmp_path):
    from ais_like.modelio import check_model_config

    def cfg(layer):
        return {"class_name": "Functional", "config": {"layers": [layer], "input_layers": [], "output_layers": []}}

    with pytest.raises(InputError, match="'custom'.*'MyLayer'"):
        check_model_config(cfg({"class_name": "MyLayer", "name": "custom", "config": {}}), "f.h5")
    with pytest.raises(InputError, match="module 'os'"):
        check_model_config(cfg({"class_name": "Conv2D", "name": "c", "config": {
            "kernel_initializer": {"module": "os", "class_name": "GlorotUniform", "config": {}}}}), "f.h5")
    with pytest.raises(InputError, match="registered custom object"):
        check_model_config(cfg({"class_name": "Conv2D", "name": "c", "config": {
            "kernel_initializer": {"module": "keras.initializers", "class_name": "GlorotUniform",
                                   "registered_name": "evil>Init", "config": {}}}}), "f.h5")
    with pytest.raises(InputError, match="activation 'my_act'"):
        check_model_config(cfg({"class_name": "Conv2D", "name": "c", "config": {"activation": "my_act"}}), "f.h5")
    with pytest.raises(InputError, match="TFOpLambda"):
        check_model_config(cfg({"class_name": "TFOpLambda", "name": "tf.concat", "config": {}}), "f.h5")
    with pytest.raises(InputError, match="nested model"):
        check_model_config(cfg({"class_name": "Functional", "name": "inner", "config": {}}), "f.h5")


def test_hostile_group_members_are_refused(tmp_path, private_tmp):
    inner = tar_bytes([metadata_member(ais_metadata(title="A"), "g_model_0"), ("g_model_0_weights.h5", b"x")])
    inter = ("g_interactions.json", json.dumps([]).encode())
    p = _write(tmp_path, "g1.scnmgroup", tar_bytes([("g_model_0.scnm", inner), ("../g_model_1.scnm", inner), inter]))
    _refused(p, "'..'", fn=archive.load_group)
    bad_inner = tar_bytes([metadata_member(ais_metadata(title="A"), "g_model_0"), ("../x_weights.h5", b"x")])
    p = _write(tmp_path, "g2.scnmgroup", tar_bytes([("g_model_0.scnm", bad_inner), inter]))
    _refused(p, "g_model_0.scnm", "'..'", fn=archive.read_group_metadata)
    p = _write(tmp_path, "g3.scnmgroup", tar_bytes([("g_model_0.scnm", inner), ("setup.sh", b"rm -rf /"), inter]))
    _refused(p, "unexpected member", "setup.sh", fn=archive.read_group_metadata)


@pytest.mark.parametrize("entry, words", [
    ({"parent_title": "A", "partner_title": "Nobody", "type": 1, "radius": 10, "threshold": 0.5}, ["'Nobody'"]),
    ({"parent_title": "A", "partner_title": "B", "type": 2, "radius": 10, "threshold": 0.5}, ["'type'", "outside"]),
    ({"parent_title": "A", "partner_title": "B", "type": True, "radius": 10, "threshold": 0.5}, ["'type'", "integer"]),
    ({"parent_title": "A", "partner_title": "B", "type": 0, "radius": "far", "threshold": 0.5}, ["'radius'", "number"]),
    ({"parent_title": "A", "partner_title": "B", "type": 0, "radius": 10, "threshold": 7}, ["'threshold'"]),
    ({"parent_title": "A", "partner_title": "A", "type": 0, "radius": 10, "threshold": 0.5}, ["itself"]),
    ({"parent_title": "A", "type": 0, "radius": 10, "threshold": 0.5}, ["'partner_title'", "missing"]),
    ("A avoids B", ["interaction 0", "object"]),
])
def test_group_interactions_are_validated(tmp_path, private_tmp, entry, words):
    members = []
    for i, t in enumerate("AB"):
        inner = tar_bytes([metadata_member(ais_metadata(title=t), f"g_model_{i}"), (f"g_model_{i}_weights.h5", b"x")])
        members.append((f"g_model_{i}.scnm", inner))
    members.append(("g_interactions.json", json.dumps([entry]).encode()))
    p = _write(tmp_path, "g.scnmgroup", tar_bytes(members))
    _refused(p, *words, fn=archive.read_group_metadata)
    _refused(p, *words, fn=archive.load_group)


def test_png_reader_refuses_bombs_and_corruption():
    import numpy as np

    good = archive.png_bytes(np.zeros((8, 8, 3), np.uint8))
    assert archive.read_png(good).shape == (8, 8, 3)
    with pytest.raises(InputError, match="CRC"):
        bad = bytearray(good)
        bad[40] ^= 0xFF
        archive.read_png(bytes(bad))
    with pytest.raises(InputError, match="truncated|incomplete"):
        archive.read_png(good[:-20])
    with pytest.raises(InputError, match="not a PNG"):
        archive.read_png(b"GIF89a" + b"\x00" * 50)
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    # a 60000 x 60000 header: refused from the header, before any decompression
    bomb = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 60000, 60000, 8, 2, 0, 0, 0)) + \
        chunk(b"IDAT", zlib.compress(b"\x00" * 1000)) + chunk(b"IEND", b"")
    with pytest.raises(InputError, match="60000 x 60000"):
        archive.read_png(bomb)
    # pixel data that inflates to more than the header allows
    liar = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0)) + \
        chunk(b"IDAT", zlib.compress(b"\x00" * 10_000_000)) + chunk(b"IEND", b"")
    with pytest.raises(InputError, match="expected 52"):
        archive.read_png(liar)


def test_hostile_tiff_slice_is_refused():
    with pytest.raises(InputError, match="TIFF"):
        archive.read_slice_tiff(b"II*\x00garbage" * 10)
    import numpy as np

    arr = archive.read_slice_tiff(archive.slice_tiff_bytes(np.arange(64, dtype=np.float32).reshape(8, 8)))
    assert arr.shape == (8, 8) and arr[1, 0] == 8


def test_reading_uses_no_pickle(tmp_path, private_tmp, monkeypatch):
    import pickle

    def boom(*a, **k):
        raise AssertionError("pickle used")

    monkeypatch.setattr(pickle, "loads", boom)
    monkeypatch.setattr(pickle, "load", boom)
    p = _write(tmp_path, "ok.scnm", tar_bytes([metadata_member(ais_metadata()), ("m_weights.h5", b"x")]))
    assert archive.read_metadata(p)["title"] == "Particle"
    with io.BytesIO(p.read_bytes()) as f:
        assert set(archive._read_tar(f, "ok")) == {"m_metadata.json", "m_weights.h5"}
