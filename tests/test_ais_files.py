"""Model files written the way Ais 1.2.40 writes them (TensorFlow 2.15, Keras 2) open here from
their own configuration, are recognised by their network (not by the title they claim), predict
what Keras 2 predicted, and segment.

Files: ``tests/keras2/make_ais_files.py`` run by a Keras 2 Python writes one ``.scnm`` per Ais
architecture (and a user's own network, "MyNet") with an input and Keras 2's prediction beside it.
When ``$AIS_LIKE_KERAS2_PYTHON`` names such a Python (``.ci/run`` makes one), every title is
generated for the run; otherwise the small ones committed under ``tests/data/keras2_written``
(InceptionNet, UNet S, MyNet, written by that script) are used and the others skip.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest

from ais_like import archive
from ais_like.errors import InputError

HERE = Path(__file__).resolve().parent
COMMITTED = HERE / "data" / "keras2_written"
KERAS2_PYTHON = os.environ.get("AIS_LIKE_KERAS2_PYTHON")
TITLES = ["Eman2", "VGGNet S", "VGGNet M", "VGGNet L", "VGGNet X", "UNet S", "UNet M", "UNet L", "ResNet",
          "InceptionNet", "ezm-2d", "ezm-2d-bxe", "ezm-2d-dice", "Pix2pix", "MyNet"]


def _stem(title):
    return title.lower().replace(" ", "_")


@pytest.fixture(scope="session")
def ais_files(tmp_path_factory):
    """The folder of Keras 2-written files: generated for this run where a Keras 2 Python is
    given, else the committed ones."""
    from tests.conftest import SHARED_DATA

    folder = SHARED_DATA / "ais_architectures"
    if KERAS2_PYTHON and folder.is_dir():
        out = tmp_path_factory.mktemp("keras2_written")
        run = subprocess.run([KERAS2_PYTHON, str(HERE / "keras2" / "make_ais_files.py"), str(folder), str(out)],
                             capture_output=True, text=True, timeout=900)
        made = [json.loads(ln) for ln in run.stdout.splitlines() if ln.startswith("{")]
        assert run.returncode == 0 and len(made) == len(TITLES), run.stdout[-2000:] + run.stderr[-3000:]
        assert all(m["tensorflow"].startswith("2.") for m in made)
        return out
    return COMMITTED


def _file(ais_files, title):
    path = ais_files / f"{_stem(title)}.scnm"
    if not path.is_file():
        pytest.skip(f"no Keras 2-written {title} file (set AIS_LIKE_KERAS2_PYTHON to generate every title)")
    return path


def _predict(model, x):
    net = getattr(model, "generator", model)
    return np.asarray(net.predict(x, verbose=0))


@pytest.mark.parametrize("title", TITLES)
def test_the_file_opens_is_recognised_and_predicts_as_keras2(title, ais_files):
    warnings.simplefilter("ignore")
    path = _file(ais_files, title)
    loaded = archive.load_scnm(path)
    if title == "MyNet":  # a user's own network: opened from its configuration, not claimed as a plugin's
        assert loaded.architecture == "MyNet"
        assert loaded.metadata["ais_like"]["network"].startswith("a network of its own")
    else:
        assert loaded.architecture == title
        assert loaded.metadata["ais_like"]["network"] == f"{title}, layer for layer Ais's network of that title"
    assert loaded.model.count_params() == loaded.metadata["n_parameters"]
    x = np.load(str(path)[:-5] + ".x.npy")
    y = np.load(str(path)[:-5] + ".y.npy")
    np.testing.assert_allclose(_predict(loaded.model, x), y, atol=1e-4)
    # `ais-like info` says the same without building the model
    d = archive.describe_model(path)
    assert d["network"] == loaded.metadata["ais_like"]["network"] and d["written by"] == "Ais"


@pytest.mark.parametrize("title", TITLES)
def test_the_file_segments_a_volume(title, ais_files):
    """Through the segmentation core (the CLI, batch jobs and the GUI all call it): any slice
    size, Ais's global normalisation, the network's own divisor."""
    from ais_like import segment

    warnings.simplefilter("ignore")
    loaded = archive.load_scnm(_file(ais_files, title))
    vol = np.random.default_rng(5).normal(size=(3, 70, 90)).astype(np.float32)
    stats = segment.volume_stats_for(loaded, vol, 10.0)
    assert stats is not None  # Ais's global_mad
    prob = segment.predict_slice(loaded, vol[1], 10.0, stats=stats)
    assert prob.shape == (70, 90) and prob.dtype == np.float32 and np.isfinite(prob).all()
    assert 0.0 <= prob.min() and prob.max() <= 1.0 and prob.std() > 0


@pytest.mark.parametrize("title", ["UNet S", "MyNet"])
def test_the_cli_segments_with_the_file(title, ais_files, run_cli, tmp_path):
    from ais_like.volume import Header, open_volume, write_volume

    path = _file(ais_files, title)
    vol = np.random.default_rng(1).normal(size=(4, 64, 80)).astype(np.float32)
    write_volume(tmp_path / "t.mrc", vol, Header(apix=10.0, origin=(5.0, 6.0, 7.0)))
    r = run_cli("segment", "--model", path, "--data", tmp_path / "t.mrc", "--out", tmp_path / "out", "-q")
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    outs = sorted((tmp_path / "out").glob("t__*.mrc"))
    assert len(outs) == 1
    seg = open_volume(outs[0])
    assert seg.shape == vol.shape and seg.header.apix == pytest.approx(10.0)
    assert tuple(seg.header.origin) == pytest.approx((5.0, 6.0, 7.0))
    info = run_cli("info", path)
    assert info.returncode == 0 and ("layer for layer" in info.stdout or "network of its own" in info.stdout)


def _with_config(src: Path, dst: Path, edit) -> Path:
    """A copy of the .scnm ``src`` whose weights file has its model configuration edited."""
    with tarfile.open(src) as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]
    work = dst.with_suffix(".h5")
    for m, data in members:
        if m.name.endswith(".h5"):
            work.write_bytes(data)
            with h5py.File(work, "r+") as f:
                config = json.loads(f.attrs["model_config"])
                edit(config)
                f.attrs["model_config"] = json.dumps(config)
    with tarfile.open(dst, "w") as tar:
        for m, data in members:
            if m.name.endswith(".h5"):
                data = work.read_bytes()
            info = tarfile.TarInfo(m.name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return dst


def _layer(config, cls):
    return next(layer for layer in config["config"]["layers"] if layer["class_name"] == cls)


def test_a_layer_with_no_keras3_equivalent_names_the_layer_and_the_file(tmp_path, run_cli):
    src = COMMITTED / "mynet.scnm"

    def grouped(config):  # a transposed convolution in groups: Keras 3 has no such setting
        _layer(config, "Conv2DTranspose")["config"]["groups"] = 2

    def removed(config):  # a Keras 2 layer class that Keras 3 dropped
        layer = _layer(config, "LeakyReLU")
        layer["class_name"] = "ThresholdedReLU"
        layer["config"] = {"name": layer["config"]["name"], "theta": 1.0, "trainable": True, "dtype": "float32"}

    for edit, words in ((grouped, ("conv2d_transpose", "groups")), (removed, ("leaky_re_lu", "ThresholdedReLU"))):
        bad = _with_config(src, tmp_path / f"{edit.__name__}.scnm", edit)
        with pytest.raises(InputError) as e:
            archive.load_scnm(bad)
        msg = str(e.value)
        assert "\n" not in msg and bad.name in msg and all(w in msg for w in words), msg
        r = run_cli("segment", "--model", bad, "--data", bad, "--out", tmp_path / "o")
        assert r.returncode == 2 and "Traceback" not in r.stderr
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and bad.name in lines[0], r.stderr


def test_committed_files_are_what_the_script_writes():
    """The committed fixtures are the generator's output (same names, same layout as Ais's
    archives): an uncompressed tar of ``<title>_weights.h5`` and ``<title>_metadata.json``."""
    for title in ("InceptionNet", "UNet S", "MyNet"):
        with tarfile.open(COMMITTED / f"{_stem(title)}.scnm") as tar:
            names = sorted(tar.getnames())
        assert names == [f"Ais {title}_metadata.json", f"Ais {title}_weights.h5"]
