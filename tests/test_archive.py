"""Model archives: save/load identity, Keras 2 layout, fixed-shape and unreadable configs,
older Ais layout, groups, previews, the local library, `ais-like models` and `ais-like info`.

Small models and tiny inputs only (Eman2 and UNet S); the lead's contract test covers every
architecture.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tarfile
import warnings

import numpy as np
import pytest

from ais_like import archive, library
from ais_like.cli import main
from ais_like.errors import InputError
from tests._archive_helpers import ais_metadata

AIS_REQUIRED = ("title", "colour", "apix", "compiled", "box_size", "model_enum", "epochs", "batch_size", "active",
                "blend", "show", "alpha", "threshold", "overlap", "active_tab", "n_parameters", "n_copies", "info",
                "info_short", "excess_negative", "emit", "absorb", "loss")


def _model(title="Eman2", seed=0):
    from ais_like.registry import get_architecture

    warnings.simplefilter("ignore")
    m = get_architecture(title).create((None, None, 1))
    rng = np.random.default_rng(seed)
    m.set_weights([rng.normal(0, 0.05, w.shape).astype(np.float32) for w in m.get_weights()])
    return m


@pytest.fixture(scope="module")
def eman2():
    return _model("Eman2")


def _x(shape=(2, 32, 48), seed=3):
    return np.random.default_rng(seed).normal(size=shape + (1,)).astype(np.float32)


def _meta(title="Particle", arch="Eman2", **kw):
    return archive.make_metadata(title, arch, apix=10.0, box_size=32, epochs=3, loss=0.1,
                                 ais_like={"preprocess": {"normalisation": "global", "clamp": 4.0}}, **kw)


# ---------------------------------------------------------------------------------------------
def test_preprocess_settings_map_ais_values():
    s = archive.preprocess_settings(ais_metadata(normalization=None, tta=4))
    assert (s["normalisation"], s["clamp"], s["lowpass"], s["highpass"], s["apix"], s["tta"], s["source"]) == \
        ("slice", None, None, None, 10.0, 4, "ais")
    assert archive.preprocess_settings(ais_metadata(normalization="global_mad"))["normalisation"] == "global"
    assert archive.preprocess_settings(ais_metadata(normalization="global_std"))["normalisation"] == "global"
    assert archive.preprocess_settings(ais_metadata(normalization="slice_mad"))["normalisation"] == "slice"
    m = ais_metadata(apix=-1.0)
    m.pop("normalization")
    assert archive.preprocess_settings(m)["apix"] is None and archive.preprocess_settings(m)["normalisation"] == "slice"
    ours = archive.make_metadata("M", "UNet S", apix=8.0, ais_like={"preprocess": {
        "normalisation": "global", "clamp": 3.0, "lowpass": 20.0, "highpass": None}})
    s = archive.preprocess_settings(ours)
    assert (s["normalisation"], s["clamp"], s["lowpass"], s["source"]) == ("global", 3.0, 20.0, "ais_like")
    # what Ais will make of ours
    assert ours["normalization"] == "global_mad" and ours["model_enum"] == 13 and ours["arch"] == "UNet S"
    assert archive.make_metadata("M", "Eman2")["normalization"] is None


def test_eman2_round_trip_is_identical_and_in_keras2_layout(tmp_path, eman2):
    import h5py

    image = np.random.default_rng(5).normal(size=(40, 56)).astype(np.float32)
    path = archive.save_scnm(tmp_path / "particle.scnm", eman2, _meta(), validation_slice=image, slice_apix=10.0)
    with tarfile.open(path) as tar:
        names = sorted(tar.getnames())
        h5 = tar.extractfile("particle_weights.h5").read()
        meta_written = json.loads(tar.extractfile("particle_metadata.json").read())
    assert names == ["particle_metadata.json", "particle_preview.png", "particle_slice.tiff", "particle_weights.h5"]
    for key in AIS_REQUIRED:  # Ais reads each of these by key
        assert key in meta_written, key
    assert meta_written["n_parameters"] == 378081 and meta_written["arch"] == "Eman2"
    assert meta_written["ais_like"]["ais_compatible"] is True
    (tmp_path / "w.h5").write_bytes(h5)
    with h5py.File(tmp_path / "w.h5") as f:
        cfg = json.loads(f.attrs["model_config"])
        assert f.attrs["keras_version"] == "2.15.0"
        assert cfg["class_name"] == "Functional"
        assert cfg["config"]["layers"][0]["config"]["batch_input_shape"] == [None, None, None, 1]
        assert cfg["config"]["layers"][1]["inbound_nodes"] == [[["image", 0, 0, {}]]]
        assert "training_config" not in f.attrs
    loaded = archive.load_scnm(path)
    x = _x()
    np.testing.assert_array_equal(loaded.model.predict(x, verbose=0), eman2.predict(x, verbose=0))
    assert loaded.model.input_shape == (None, None, None, 1)
    assert loaded.title == "Particle" and loaded.architecture == "Eman2" and loaded.apix == 10.0
    np.testing.assert_array_equal(loaded.validation_slice, image)
    rgb = archive.read_png(loaded.preview_png)
    assert rgb.shape == (512, 512, 3) and rgb.dtype == np.uint8
    assert archive.read_preview(path) == loaded.preview_png
    assert archive.read_metadata(path)["title"] == "Particle"


def test_unet_round_trip_accepts_any_multiple_of_its_divisor(tmp_path):
    m = _model("UNet S", seed=1)
    path = archive.save_scnm(tmp_path / "u.scnm", m, _meta("Membrane", "UNet S"))
    loaded = archive.load_scnm(path)
    for shape in ((1, 16, 24), (2, 40, 32)):
        x = _x(shape)
        np.testing.assert_allclose(loaded.model.predict(x, verbose=0), m.predict(x, verbose=0), atol=1e-6)


def test_fixed_input_shape_is_rebuilt_free(tmp_path):
    from ais_like.backend import keras
    from ais_like.modelio import load_h5, save_h5

    k = keras()
    inp = k.Input(batch_shape=(1, 32, 32, 1))
    out = k.layers.Conv2D(1, 3, padding="same", activation="sigmoid")(k.layers.Conv2D(4, 3, padding="same")(inp))
    fixed = k.Model(inp, out)
    for layout in ("keras2", "keras3"):
        p = save_h5(fixed, tmp_path / f"fixed_{layout}.h5", layout=layout)
        m = load_h5(p)
        assert m.input_shape == (None, None, None, 1), layout
        x = _x((3, 48, 40))
        ref = np.concatenate([fixed.predict(x[i:i + 1, :32, :32], verbose=0) for i in range(3)])
        got = m.predict(x, verbose=0)
        assert got.shape == (3, 48, 40, 1)
        np.testing.assert_allclose(got[:, 2:30, 2:30], ref[:, 2:30, 2:30], atol=1e-5)  # away from the edges


def test_unreadable_config_is_rebuilt_from_the_plugin(tmp_path, eman2):
    import h5py

    from ais_like.modelio import load_h5, save_h5

    p = save_h5(eman2, tmp_path / "odd.h5")
    with h5py.File(p, "r+") as f:  # a setting Keras 3's Conv2D does not know (as newer/older Keras write)
        cfg = json.loads(f.attrs["model_config"])
        odd = cfg["config"]["layers"][1]["config"]
        odd["future_option"] = 3
        f.attrs["model_config"] = json.dumps(cfg)
    m = load_h5(p, architecture="Eman2")
    x = _x()
    np.testing.assert_allclose(m.predict(x, verbose=0), eman2.predict(x, verbose=0), atol=1e-6)
    # the layer's name is Keras's session counter ('conv2d', 'conv2d_650', ...): the message names that layer
    expected = f"odd.h5: layer '{odd['name']}' (Conv2D) sets future_option=3, which Keras 3's Conv2D does not have"
    with pytest.raises(InputError, match=re.escape(expected)):
        load_h5(p)
    with pytest.raises(InputError, match="UNet S failed"):
        load_h5(p, architecture="UNet S")


def test_layers_without_keras2_equivalent_fall_back_and_say_why(tmp_path):
    from ais_like.backend import keras
    from ais_like.modelio import keras2_compatible, load_h5, save_h5

    k = keras()
    inp = k.Input((None, None, 1))
    out = k.layers.Conv2D(1, 1, activation="sigmoid")(k.layers.LayerNormalization()(k.layers.Conv2D(4, 3, padding="same")(inp)))
    m = k.Model(inp, out)
    ok, why = keras2_compatible(m)
    assert not ok and "LayerNormalization" in why
    with pytest.raises(InputError, match="LayerNormalization"):
        save_h5(m, tmp_path / "x.h5", layout="keras2")
    path = archive.save_scnm(tmp_path / "ln.scnm", m, archive.make_metadata("LN", "custom"))
    meta = archive.read_metadata(path)
    assert meta["ais_like"]["ais_compatible"] is False and "LayerNormalization" in meta["ais_like"]["ais_incompatible_reason"]
    x = _x((1, 16, 16))
    np.testing.assert_allclose(archive.load_scnm(path).model.predict(x, verbose=0), m.predict(x, verbose=0), atol=1e-6)
    assert load_h5(save_h5(m, tmp_path / "y.h5")).input_shape == (None, None, None, 1)


def test_older_ais_layout_json_next_to_weights(tmp_path, eman2):
    from ais_like.modelio import save_h5

    meta = ais_metadata(title="Old", info="Eman2 (378081, 64, 10.000, 0.0210)", model_enum=3)
    for k_ in ("arch", "normalization", "tta", "z_jitter", "model_depth"):
        meta.pop(k_)
    (tmp_path / "old.scnm").write_text(json.dumps(meta))
    save_h5(eman2, tmp_path / "old.scnm_weights.h5")
    loaded = archive.load_scnm(tmp_path / "old.scnm")
    assert loaded.title == "Old" and loaded.architecture == "Eman2"  # from its info string
    x = _x()
    np.testing.assert_array_equal(loaded.model.predict(x, verbose=0), eman2.predict(x, verbose=0))
    assert archive.describe_model(tmp_path / "old.scnm")["format"].startswith("older Ais")
    (tmp_path / "lonely.scnm").write_text(json.dumps(meta))
    with pytest.raises(InputError, match="without its weights"):
        archive.load_scnm(tmp_path / "lonely.scnm")


def test_group_round_trip(tmp_path, eman2):
    other = _model("Eman2", seed=7)
    inter = [{"parent_title": "Ribosome", "partner_title": "Membrane", "type": 1, "radius": 12.5, "threshold": 0.4}]
    path = archive.save_group(tmp_path / "cell.scnmgroup", [(eman2, _meta("Ribosome", emit=False, absorb=True)),
                                                            archive.LoadedModel(other, _meta("Membrane", emit=True))],
                              inter)
    with tarfile.open(path) as tar:
        assert sorted(tar.getnames()) == ["cell_interactions.json", "cell_model_0.scnm", "cell_model_1.scnm"]
    models, got = archive.load_group(path)
    assert [m.title for m in models] == ["Ribosome", "Membrane"]
    assert got == inter and models[1].metadata["emit"] is True and models[0].metadata["absorb"] is True
    x = _x()
    np.testing.assert_array_equal(models[1].model.predict(x, verbose=0), other.predict(x, verbose=0))
    metas, got2 = archive.read_group_metadata(path)
    assert [m["title"] for m in metas] == ["Ribosome", "Membrane"] and got2 == inter
    (tmp_path / "unpacked").mkdir()
    files, got3 = archive.unpack_group(path, tmp_path / "unpacked")
    assert [f.name for f, _ in files] == ["cell_model_0.scnm", "cell_model_1.scnm"] and got3 == inter
    assert [m["title"] for _, m in files] == ["Ribosome", "Membrane"]
    assert [archive.read_metadata(f)["title"] for f, _ in files] == ["Ribosome", "Membrane"]
    np.testing.assert_array_equal(archive.load_scnm(files[1][0]).model.predict(x, verbose=0), other.predict(x, verbose=0))
    d = archive.describe_model(path)
    assert "Ribosome avoid Membrane within 12.5 nm" in d["interactions"] and "Membrane (Eman2" in d["models"]
    with pytest.raises(InputError, match="titles must differ"):
        archive.save_group(tmp_path / "dup.scnmgroup", [(eman2, _meta("A")), (other, _meta("A"))], [])
    with pytest.raises(InputError, match="'Nobody'"):
        archive.save_group(tmp_path / "bad.scnmgroup", [(eman2, _meta("A"))],
                           [{"parent_title": "A", "partner_title": "Nobody", "type": 0, "radius": 1, "threshold": 0.5}])
    assert not (tmp_path / "dup.scnmgroup").exists() and not (tmp_path / "bad.scnmgroup").exists()


def test_library_install_list_preview(tmp_path, eman2, monkeypatch):
    monkeypatch.setenv("AIS_LIKE_MODELS", str(tmp_path / "lib"))
    assert library.default_folder() == tmp_path / "lib" and library.list_models() == []
    monkeypatch.delenv("AIS_LIKE_MODELS")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert library.default_folder() == tmp_path / "xdg" / "ais_like" / "models"
    monkeypatch.setenv("AIS_LIKE_MODELS", str(tmp_path / "lib"))

    src = archive.save_scnm(tmp_path / "p.scnm", eman2, _meta(), validation_slice=np.ones((24, 24), np.float32) * np.arange(24))
    dest = library.install(src)
    assert dest == tmp_path / "lib" / "Particle.scnm" and dest.read_bytes() == src.read_bytes()
    [m] = library.list_models()
    assert (m.title, m.architecture, m.apix, m.metadata["n_parameters"]) == ("Particle", "Eman2", 10.0, 378081)
    assert archive.read_png(m.preview_png()).shape == (512, 512, 3)
    with pytest.raises(InputError, match="already installed"):
        library.install(src)
    library.install(src, overwrite=True)
    bad = tmp_path / "bad.scnm"
    bad.write_bytes(src.read_bytes()[:3000])
    with pytest.raises(InputError, match="truncated"):
        library.install(bad)
    assert sorted(p.name for p in (tmp_path / "lib").iterdir()) == ["Particle.scnm"]  # no partial files
    assert library.find("particle").path == dest
    (tmp_path / "lib" / "junk.scnm").write_bytes(b"junk")
    listed = library.list_models()
    assert len(listed) == 2 and any(x.error for x in listed)
    assert library.remove("Particle") == dest and not dest.exists()


def test_models_command(tmp_path, eman2, monkeypatch, capsys):
    assert main(["models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    eman = next(r for r in rows if r["title"] == "Eman2")
    assert eman["include"] is True and eman["source"] == "built-in" and "15x15" in eman["description"]
    monkeypatch.setenv("AIS_LIKE_MODELS", str(tmp_path / "lib"))
    src = archive.save_scnm(tmp_path / "p.scnm", eman2, _meta())
    assert main(["models", "--install", str(src)]) == 0
    capsys.readouterr()
    assert main(["models", "--installed", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["models"][0]["title"] == "Particle" and out["models"][0]["architecture"] == "Eman2"
    assert main(["models", "--installed"]) == 0
    assert "Particle" in capsys.readouterr().out
    (tmp_path / "x.scnm").write_bytes(b"nope")
    assert main(["models", "--install", str(tmp_path / "x.scnm")]) == 2
    assert "x.scnm" in capsys.readouterr().err


def test_models_listing_imports_no_keras(repo_root):
    code = ("import sys; from ais_like.cli import main; main(['models']); "
            "print('HEAVY', [m for m in ('tensorflow', 'keras', 'torch') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], cwd=repo_root, capture_output=True, text=True, timeout=60)
    assert "HEAVY []" in out.stdout and "Eman2" in out.stdout, out.stdout + out.stderr


def test_info_describes_a_model_without_keras(repo_root, tmp_path, eman2):
    path = archive.save_scnm(tmp_path / "p.scnm", eman2, _meta())
    code = ("import sys, json; from ais_like.cli import main; main(['info', sys.argv[1], '--json']); "
            "print('HEAVY', [m for m in ('tensorflow', 'keras') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code, str(path)], cwd=repo_root, capture_output=True, text=True,
                         timeout=60)
    assert "HEAVY []" in out.stdout, out.stdout + out.stderr
    info = json.loads(out.stdout.split("HEAVY")[0])[0]
    assert (info["title"], info["architecture"], info["parameters"], info["apix"], info["box size"]) == \
        ("Particle", "Eman2", 378081, 10.0, 32)
    assert info["loss"] == 0.1 and "3 epochs" in info["training"]
