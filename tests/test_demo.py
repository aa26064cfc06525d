"""The README's first command: `ais-like demo` trains from 3 annotated slices and segments the
synthetic tomogram with a membrane Dice >= 0.8 on the slices it never saw."""

import json

import pytest

from ais_like.cli import main


@pytest.mark.slow
def test_demo_as_shipped_reaches_dice_08(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "demo"), "-q"]) == 0
    out = capsys.readouterr().out
    assert "membrane Dice on 77 unseen slices" in out
    summary = json.loads((tmp_path / "demo" / "demo_summary.json").read_text())
    assert summary["dice_unseen"] >= 0.8, summary
    assert summary["test_slices"] == 77 and len(summary["train_slices"]) == 3
    for key in ("tomogram", "model", "segmentation"):
        assert (tmp_path / "demo" / summary[key].split("/")[-1]).is_file()


def test_demo_small_run_writes_everything(tmp_path):
    from ais_like.demo import run_demo

    res = run_demo(tmp_path, shape=(24, 64, 64), epochs=1, tiles=32, architecture="Eman2", tta=1, log=lambda m: None)
    assert 0.0 <= res.dice_unseen <= 1.0 and res.test_slices == 24 - len(res.train_slices)
    assert res.check["verdict"] in ("ok", "all_background", "all_foreground", "flat") and res.check["message"]
    assert {p.name for p in tmp_path.iterdir()} >= {"demo_tomogram.mrc", "membrane.scnm", "demo_tomogram__Membrane.mrc",
                                                   "demo_summary.json", "demo_tomogram_membrane_truth.mrc"}


def test_a_demo_whose_model_learnt_nothing_says_so_and_exits_3(tmp_path, capsys):
    from ais_like.cli import main

    assert main(["demo", "--out", str(tmp_path / "d"), "--model", "Eman2", "--epochs", "1", "--tiles", "32",
                 "--tta", "1", "-q"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("demo FAILED: ") and err.count("\n") == 1
