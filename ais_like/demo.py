"""The demo: a synthetic tomogram with ground truth, a membrane model trained from a few annotated
slices, the whole volume segmented, and the result scored on slices the model never saw.

The same core functions as ``ais-like train`` / ``segment`` do the work; this module only
chooses the settings and scores the result.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .progress import ProgressFn, null_progress

DEMO_SHAPE = (80, 256, 256)
DEMO_APIX = 10.0
DEMO_FEATURE = "Membrane"
# What the demo trains by default (ais_like 0.1's UNet S, with batch normalisation, on 3 slices,
# 4-fold test-time augmentation): the settings that reach a membrane Dice >= 0.8 on the unseen
# slices in a few CPU minutes. Ais's own UNet S (no normalisation layers) reached 0.787 (24
# epochs) and 0.790 (32 epochs) here, 2026-12-07: making Ais's networks train as well is issue 11.
DEFAULTS = {"architecture": "UNet S (ais_like 0.1)", "epochs": 24, "tiles": 1200, "n_slices": 3, "tta": 4}


@dataclass
class DemoResult:
    folder: str
    tomogram: str
    model: str
    segmentation: str
    architecture: str
    train_slices: list[int]
    test_slices: int
    dice_unseen: float
    precision_unseen: float
    recall_unseen: float
    final_loss: float
    seconds: dict = field(default_factory=dict)
    check: dict = field(default_factory=dict)  # the training's check of the model (training.Health)


def dice_scores(pred: np.ndarray, truth: np.ndarray) -> tuple[float, float, float]:
    """(Dice, precision, recall) of two boolean masks (1.0 each when both are empty)."""
    pred = np.asarray(pred, bool)
    truth = np.asarray(truth, bool)
    tp = float(np.logical_and(pred, truth).sum())
    p, t = float(pred.sum()), float(truth.sum())
    if p + t == 0:
        return 1.0, 1.0, 1.0
    return 2 * tp / (p + t), tp / p if p else 0.0, tp / t if t else 0.0


def run_demo(folder: str | Path, *, seed: int = 0, architecture: str = DEFAULTS["architecture"],
             epochs: int = DEFAULTS["epochs"], n_slices: int = DEFAULTS["n_slices"], tiles: int = DEFAULTS["tiles"],
             batch_size: int = 32, tta: int = DEFAULTS["tta"], shape=DEMO_SHAPE,
             progress: ProgressFn | None = None, log=print) -> DemoResult:
    """Generate, annotate (from ground truth on ``n_slices`` slices), train, segment, score."""
    from . import archive, segment, synthetic, tiles as tiles_mod, training
    from .volume import Header, open_volume, write_volume

    progress = progress or null_progress
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    seconds: dict[str, float] = {}

    log(f"1/4 generating a synthetic tomogram {shape[0]}x{shape[1]}x{shape[2]} at {DEMO_APIX} Å/px (seed {seed})")
    tomo = synthetic.make_tomogram(shape=shape, apix=DEMO_APIX, seed=seed)
    header = Header(apix=DEMO_APIX)
    tomo_path = write_volume(folder / "demo_tomogram.mrc", tomo.volume.astype(np.float32), header)
    truth = tomo.labels["membrane"].astype(bool)
    write_volume(folder / "demo_tomogram_membrane_truth.mrc", truth.astype(np.uint8), header)
    seconds["generate"] = round(time.perf_counter() - t0, 1)

    train_slices = synthetic.demo_slices(truth, n_slices)
    log(f"2/4 training '{architecture}' on {len(train_slices)} annotated slices {train_slices}")
    t1 = time.perf_counter()
    volume = open_volume(tomo_path)
    tset = tiles_mod.tiles_from_labels(volume, truth.astype(np.uint8), train_slices, box=64, n_tiles=tiles,
                                       positive_fraction=0.5, augment=True, seed=seed, feature=DEMO_FEATURE)
    trained = training.train_feature_model(tset, architecture, title=DEMO_FEATURE, colour=[0.95, 0.75, 0.2],
                                           epochs=epochs, batch_size=batch_size, seed=seed,
                                           callback=_EpochProgress(epochs, progress, log))
    final_loss = float(trained.metadata["loss"])
    trained.metadata["ais_like"]["train_slices"] = train_slices
    arch_title = trained.metadata["ais_like"]["architecture"]
    model_path = archive.save_scnm(folder / "membrane.scnm", trained.model, trained.metadata)
    seconds["train"] = round(time.perf_counter() - t1, 1)

    log("3/4 segmenting the whole volume")
    t2 = time.perf_counter()
    loaded = archive.load_scnm(model_path)
    outputs = segment.segment_volume([loaded], volume, folder, tta=tta, progress=progress)
    seg_path = Path(outputs[0])
    seconds["segment"] = round(time.perf_counter() - t2, 1)

    log("4/4 scoring against the ground truth on slices the model did not train on")
    seg = open_volume(seg_path).read() / 255.0
    unseen = np.ones(shape[0], bool)
    unseen[train_slices] = False
    dice, precision, recall = dice_scores(seg[unseen] >= 0.5, truth[unseen])
    volume.close()
    seconds["total"] = round(time.perf_counter() - t0, 1)
    res = DemoResult(folder=str(folder), tomogram=str(tomo_path), model=str(model_path), segmentation=str(seg_path),
                     architecture=arch_title, train_slices=train_slices, test_slices=int(unseen.sum()),
                     dice_unseen=round(dice, 4), precision_unseen=round(precision, 4), recall_unseen=round(recall, 4),
                     final_loss=round(final_loss, 5), seconds=seconds,
                     check=trained.health.as_dict() if trained.health is not None else {})
    (folder / "demo_summary.json").write_text(json.dumps(asdict(res), indent=1))
    return res


class _EpochProgress:
    """Training callback that reports epochs to a progress function and a log line per epoch."""

    def __init__(self, epochs: int, progress: ProgressFn, log):
        self.epochs, self.progress, self.log = epochs, progress, log

    def on_batch(self, epoch, batch, loss):
        pass

    def on_epoch(self, epoch, logs):
        loss = logs.get("loss", float("nan"))
        self.progress(epoch + 1, self.epochs, f"loss {loss:.4f}")

    def should_stop(self) -> bool:
        return False
