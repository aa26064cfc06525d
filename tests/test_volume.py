"""Volume I/O: every format and mode opens lazily, headers survive, bad files give one clear error."""

from __future__ import annotations

import warnings

import mrcfile
import numpy as np
import pytest

from ais_like.errors import InputError
from ais_like.volume import (Header, VolumeWarning, VolumeWriter, find_volumes, open_volume, tomogram_name,
                             write_volume)


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16, np.uint16, np.float32, np.float16])
def test_round_trip_every_mode_keeps_values_and_header(tmp_path, dtype):
    rng = np.random.default_rng(1)
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    if info:
        data = rng.integers(info.min, info.max, size=(4, 9, 11), endpoint=True).astype(dtype)
    else:
        data = rng.normal(size=(4, 9, 11)).astype(dtype)
    path = tmp_path / "v.mrc"
    write_volume(path, data, Header(apix=7.5, origin=(100.0, -20.0, 3.0), nstart=(1, 2, 3)))
    assert mrcfile.validate(str(path), print_file=open("/dev/null", "w"))
    with open_volume(path) as vol:
        assert vol.dtype == np.dtype(dtype)
        assert vol.shape == (4, 9, 11)
        np.testing.assert_array_equal(np.asarray(vol.data), data)
        assert vol.apix == pytest.approx(7.5)
        assert vol.header.origin == pytest.approx((100.0, -20.0, 3.0))
        assert vol.header.nstart == (1, 2, 3)


def test_uint8_is_one_byte_per_voxel_and_flagged_unsigned(tmp_path):
    data = np.arange(256, dtype=np.uint8).reshape(1, 16, 16)
    path = write_volume(tmp_path / "seg.mrc", data, Header(apix=10.0))
    with mrcfile.open(path, permissive=True) as m:
        assert int(m.header.mode) == 0
        assert path.stat().st_size == 1024 + 256
    assert open_volume(path).slice(0).max() == 255


def test_slice_reads_do_not_load_whole_volume(tmp_path):
    data = np.zeros((50, 32, 32), np.float32)
    data[17] = 5
    path = write_volume(tmp_path / "v.mrc", data, Header(apix=10.0))
    vol = open_volume(path)
    assert isinstance(vol.data, np.memmap)
    s = vol.slice(17)
    assert s.dtype == np.float32 and s.shape == (32, 32) and s.max() == 5
    s[:] = 1  # a copy: the file is not modified
    assert open_volume(path).slice(17).max() == 5


@pytest.mark.parametrize("bad_apix", [0.0, 1.0, 1e6])
def test_unset_voxel_size_warns_and_can_be_overridden(tmp_path, bad_apix):
    path = tmp_path / "v.mrc"
    with mrcfile.new(path) as m:
        m.set_data(np.zeros((2, 4, 4), np.float32))
        m.voxel_size = bad_apix
    with pytest.warns(VolumeWarning, match="--apix"):
        vol = open_volume(path)
    assert vol.apix is None and vol.apix_source == "missing"
    with pytest.raises(InputError, match=r"v\.mrc.*--apix"):
        vol.require_apix()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        vol = open_volume(path, apix=13.2)
    assert vol.apix == 13.2 and vol.apix_source == "override"


def test_truncated_and_garbage_files_give_one_clear_error(tmp_path, small_volume):
    raw = small_volume.read_bytes()
    trunc = tmp_path / "trunc.mrc"
    trunc.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(InputError, match="trunc.mrc.*truncated"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            open_volume(trunc)
    junk = tmp_path / "junk.rec"
    junk.write_bytes(b"hello" * 10)
    with pytest.raises(InputError, match="junk.rec"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            open_volume(junk)
    with pytest.raises(InputError, match="no such file"):
        open_volume(tmp_path / "missing.mrc")
    with pytest.raises(InputError, match="unknown volume type"):
        (tmp_path / "x.png").write_bytes(b"x")
        open_volume(tmp_path / "x.png")


def test_tiff_stack_and_voxel_size_from_imagej(tmp_path):
    import tifffile

    data = np.arange(3 * 5 * 7, dtype=np.uint16).reshape(3, 5, 7)
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, data, imagej=True, resolution=(1 / 1.052, 1 / 1.052), metadata={"unit": "nm", "spacing": 1.052})
    vol = open_volume(path)
    assert vol.shape == (3, 5, 7)
    np.testing.assert_array_equal(vol.slice(2), data[2])
    assert vol.apix == pytest.approx(10.52, rel=1e-4)


def test_compressed_tiff_is_read_page_by_page(tmp_path):
    import tifffile

    data = np.random.default_rng(0).integers(0, 200, (4, 6, 8)).astype(np.uint8)
    path = tmp_path / "c.tiff"
    tifffile.imwrite(path, data, compression="zlib", photometric="minisblack")
    vol = open_volume(path, apix=5.0)
    assert not isinstance(vol.data, np.ndarray)  # lazily paged
    np.testing.assert_array_equal(vol.read(1, 3), data[1:3].astype(np.float32))
    np.testing.assert_array_equal(vol.slice(3), data[3])


def test_real_data_headers(shared_data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mt = open_volume(shared_data / "cylindra_microtubules" / "13pf_MT.tif")
        assert mt.shape == (36, 206, 94) and mt.apix == pytest.approx(10.52, rel=1e-3)
        mrc = open_volume(shared_data / "cylindra_microtubules" / "13pf_MT_derived.mrc")
        np.testing.assert_array_equal(mrc.slice(5), mt.slice(5))
        # mz = 1 quirk: the x voxel size is used, not cella_z / mz
        te = open_volume(shared_data / "surface_morphometrics_mito_labels" / "TE1_bin4_labels_derived.mrc")
        assert te.apix == pytest.approx(49.76, rel=1e-4)
        # non-zero nstart and zero voxel size
        five = open_volume(shared_data / "tomotwin_sim_subvolume" / "5MRC.mrc")
        assert five.header.nstart == (-13, -13, -10) and five.apix is None
        pyseg = open_volume(shared_data / "pyseg_tomo22_vesicle_seg" / "tomo22_z50_ves_4_seg.mrc")
        assert pyseg.dtype == np.int8 and set(np.unique(pyseg.read()).astype(int)) <= {0, 1, 2, 3}


def test_writer_removes_partial_file_on_error(tmp_path):
    path = tmp_path / "out.mrc"
    with pytest.raises(RuntimeError):
        with VolumeWriter(path, (4, 8, 8), np.uint8, Header(apix=10.0)) as w:
            w.write(0, np.ones((2, 8, 8), np.uint8))
            raise RuntimeError("killed")
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []


def test_writer_refuses_blocks_that_do_not_fit(tmp_path):
    with VolumeWriter(tmp_path / "o.mrc", (4, 8, 8), np.float32) as w:
        with pytest.raises(InputError, match="does not fit"):
            w.write(3, np.ones((2, 8, 8), np.float32))
        w.write(0, np.ones((4, 8, 8), np.float32))
    assert open_volume(tmp_path / "o.mrc", apix=1.5).read().sum() == 4 * 64


def test_unwritable_folder_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        write_volume(tmp_path / "nope" / "x.mrc", np.zeros((1, 2, 2), np.float32))


def test_find_volumes_forms(tmp_path, small_volume):
    other = tmp_path / "b.rec"
    other.write_bytes(small_volume.read_bytes())
    (tmp_path / "notes.txt").write_text("small.mrc\n# comment\nb.rec\n")
    assert find_volumes(tmp_path) == sorted([small_volume, other])
    assert find_volumes(str(tmp_path / "*.rec")) == [other]
    assert [p.name for p in find_volumes(tmp_path / "notes.txt")] == ["small.mrc", "b.rec"]
    with pytest.raises(InputError, match="no volume files match"):
        find_volumes(str(tmp_path / "*.map"))


def test_tomogram_name():
    assert tomogram_name("/a/b/TS_01.rec") == "TS_01"
    assert tomogram_name("x.y.mrc") == "x.y"
