"""Project files: round trip, relative paths, atomic saves, cheap autosave, clear errors."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from ais_like import painting, project
from ais_like.annotations import Feature
from ais_like.errors import InputError
from ais_like.volume import Header, write_volume


@pytest.fixture
def proj_with_data(tmp_path):
    data = tmp_path / "lab" / "data"
    data.mkdir(parents=True)
    write_volume(data / "tomo_a.mrc", np.zeros((8, 40, 50), np.float32), Header(apix=10.0))
    write_volume(data / "tomo_b.mrc", np.zeros((6, 30, 30), np.float32), Header(apix=12.0))
    p = project.Project()
    p.add_feature(Feature("membrane", colour=(1.0, 0.0, 0.0), box_size=32))
    p.add_feature("ribosome", box_size=128)
    a = p.add_dataset(data / "tomo_a.mrc")
    b = p.add_dataset(data / "tomo_b.mrc", apix=11.5)
    rng = np.random.default_rng(0)
    a.annotations.set_slice("membrane", 2, rng.integers(0, 3, (40, 50)))
    painting.paint_stroke_inplace(a.annotations, "ribosome", 5, (10, 10), (20, 30), radius=3)
    a.annotations.add_box("membrane", 2, 20, 25, positive=True)
    a.annotations.add_box("membrane", 4, 5, 5, positive=False)
    b.annotations.set_slice("membrane", 0, np.ones((30, 30)))
    p.add_model(tmp_path / "lab" / "models" / "membrane.scnm", feature="membrane", threshold=0.6, colour=[1, 0, 0])
    p.view = {"dataset": "tomo_a", "slice": 4, "contrast": [0.1, 0.9]}
    return p, tmp_path


def assert_same(p, q):
    assert list(q.features) == list(p.features)
    for name, f in p.features.items():
        assert q.features[name].to_dict() == f.to_dict()
    assert list(q.datasets) == list(p.datasets)
    for name, ds in p.datasets.items():
        dq = q.datasets[name]
        assert dq.path == ds.path and dq.apix == ds.apix and dq.shape == ds.shape
        for f in p.features:
            assert np.array_equal(dq.annotations.to_label_volume(f), ds.annotations.to_label_volume(f))
            assert np.array_equal(dq.annotations.all_boxes(f), ds.annotations.all_boxes(f))
    assert [(m.path, m.feature, m.settings) for m in q.models] == [(m.path, m.feature, m.settings) for m in p.models]
    assert q.view == p.view


def test_round_trip(proj_with_data):
    p, tmp = proj_with_data
    folder = project.save(p, tmp / "lab" / "work.aisproj")
    assert (folder / "project.json").is_file()
    q = project.load(folder)
    assert_same(p, q)
    assert q.datasets["tomo_a"].shape == (8, 40, 50)
    assert not q.dirty
    # features are shared by the datasets of a loaded project
    q.add_feature("actin")
    assert "actin" in q.datasets["tomo_b"].annotations.features
    # the index is plain JSON with relative paths and no pickles
    doc = json.loads((folder / "project.json").read_text())
    assert doc["format"] == "ais_like.project" and doc["version"] == project.VERSION
    assert doc["datasets"][0]["path"] == "../data/tomo_a.mrc"
    assert doc["models"][0]["path"] == "../models/membrane.scnm"
    for f in (folder / "annotations").rglob("*.npz"):
        with np.load(f, allow_pickle=False) as z:
            assert all(z[k].dtype != object for k in z.files)


def test_relative_paths_survive_a_move(proj_with_data):
    p, tmp = proj_with_data
    project.save(p, tmp / "lab" / "work.aisproj")
    shutil.move(tmp / "lab", tmp / "moved")
    q = project.load(tmp / "moved" / "work.aisproj" / "project.json")
    ds = q.datasets["tomo_a"]
    assert ds.path == tmp / "moved" / "data" / "tomo_a.mrc" and ds.exists
    with ds.open() as vol:
        assert vol.shape == (8, 40, 50)
    assert q.datasets["tomo_b"].open().apix == 11.5


def test_autosave_rewrites_only_what_changed(proj_with_data, monkeypatch):
    p, tmp = proj_with_data
    folder = project.save(p, tmp / "lab" / "work.aisproj")
    written = []
    real = project._write_npz
    monkeypatch.setattr(project, "_write_npz", lambda path, ann, f: (written.append((path.name, f)), real(path, ann, f)))
    index_mtime = (folder / "project.json").stat().st_mtime_ns
    project.save(p)  # nothing changed: nothing written
    assert written == [] and (folder / "project.json").stat().st_mtime_ns == index_mtime
    painting.paint_stroke_inplace(p.datasets["tomo_a"].annotations, "ribosome", 1, (3, 3), radius=2)
    assert p.dirty
    project.save(p)
    assert [f for _, f in written] == ["ribosome"]
    assert not p.dirty
    files = sorted(x.relative_to(folder).as_posix() for x in (folder / "annotations").rglob("*.npz"))
    assert len(files) == 3  # old generation of the ribosome file removed
    written.clear()
    p.view["slice"] = 7  # a view change rewrites only the index
    assert p.dirty
    project.save(p)
    assert written == [] and project.load(folder).view["slice"] == 7
    assert_same(p, project.load(folder))


def test_failed_save_leaves_the_old_project_loadable(proj_with_data, monkeypatch):
    p, tmp = proj_with_data
    folder = project.save(p, tmp / "lab" / "work.aisproj")
    before = project.load(folder)
    a = p.datasets["tomo_a"].annotations
    a.set_slice("membrane", 3, np.ones((40, 50)))
    painting.paint_stroke_inplace(a, "ribosome", 6, (0, 0), (39, 49), radius=5)
    calls = []

    def failing(path, ann, f):
        calls.append(f)
        if len(calls) == 2:
            raise OSError("disk full")
        return real(path, ann, f)

    real = project._write_npz
    monkeypatch.setattr(project, "_write_npz", failing)
    with pytest.raises(OSError):
        project.save(p)
    assert_same(before, project.load(folder))
    # also when the index itself cannot be replaced
    monkeypatch.setattr(project, "_write_npz", real)
    monkeypatch.setattr(project, "_write_text_atomic", lambda *a: (_ for _ in ()).throw(OSError("power cut")))
    with pytest.raises(OSError):
        project.save(p)
    assert_same(before, project.load(folder))
    monkeypatch.undo()
    project.save(p)
    assert_same(p, project.load(folder))
    assert not list(folder.rglob("*.part"))


def test_corrupt_missing_and_newer_projects(tmp_path, proj_with_data):
    with pytest.raises(InputError, match="no such project"):
        project.load(tmp_path / "nothing.aisproj")
    empty = tmp_path / "empty.aisproj"
    empty.mkdir()
    with pytest.raises(InputError, match="not an ais_like project"):
        project.load(empty)
    (empty / "project.json").write_text('{"format": "ais_like.project", "version": 1, "datasets": [')
    with pytest.raises(InputError, match="corrupt project file"):
        project.load(empty)
    (empty / "project.json").write_text(json.dumps({"format": "ais_like.project", "version": 99}))
    with pytest.raises(InputError, match="newer"):
        project.load(empty)
    (empty / "project.json").write_text(json.dumps({"format": "something else"}))
    with pytest.raises(InputError, match="not an ais_like project"):
        project.load(empty)
    (empty / "project.json").write_text(json.dumps({"format": "ais_like.project", "version": 1,
                                                    "datasets": [{"name": "x"}]}))
    with pytest.raises(InputError, match="malformed"):
        project.load(empty)
    p, tmp = proj_with_data
    folder = project.save(p, tmp / "lab" / "work.aisproj")
    victim = next((folder / "annotations").rglob("*.npz"))
    victim.write_bytes(b"garbage")
    with pytest.raises(InputError, match="corrupt annotation file"):
        project.load(folder)
    victim.unlink()
    with pytest.raises(InputError, match="missing"):
        project.load(folder)


def test_migration_hook(tmp_path, monkeypatch):
    p = project.Project()
    p.add_dataset(tmp_path / "t.mrc", shape=(2, 4, 4))
    folder = project.save(p, tmp_path / "p.aisproj")
    doc = json.loads((folder / "project.json").read_text())
    # pretend the current format is version 2, which renamed "view" to "display"
    monkeypatch.setattr(project, "VERSION", 2)

    def v1_to_v2(d):
        d = dict(d)
        d["display"] = {"old": True}
        return d

    monkeypatch.setitem(project.MIGRATIONS, 1, v1_to_v2)
    assert project.migrate(doc)["display"] == {"old": True} and project.migrate(doc)["version"] == 2
    assert project.load(folder).path == folder
    monkeypatch.delitem(project.MIGRATIONS, 1)
    with pytest.raises(InputError, match="cannot upgrade"):
        project.load(folder)


def test_rename_and_remove_features(proj_with_data):
    p, tmp = proj_with_data
    folder = project.save(p, tmp / "lab" / "work.aisproj")
    p.rename_feature("membrane", "Membrane")
    assert p.models[0].feature == "Membrane"
    assert p.datasets["tomo_b"].annotations.annotated_slices("Membrane") == [0]
    p.remove_feature("ribosome")
    project.save(p)
    q = project.load(folder)
    assert list(q.features) == ["Membrane"]
    assert q.datasets["tomo_a"].annotations.annotated_slices("Membrane") == [2]
    assert q.datasets["tomo_a"].annotations.boxed_slices("Membrane") == [2, 4]


def test_large_sparse_slices_stay_small(tmp_path):
    p = project.Project()
    ds = p.add_dataset(tmp_path / "big.mrc", shape=(4, 2048, 2048))
    p.add_feature("membrane")
    painting.paint_stroke_inplace(ds.annotations, "membrane", 1, (100, 100), (300, 900), radius=10)
    folder = project.save(p, tmp_path / "big.aisproj")
    size = sum(f.stat().st_size for f in (folder / "annotations").rglob("*.npz"))
    assert size < 100_000
    assert np.array_equal(project.load(folder).datasets["big"].annotations.label_slice("membrane", 1),
                          ds.annotations.label_slice("membrane", 1))
