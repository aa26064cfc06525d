"""Painting: brush strokes, erase, flood fill, import from a volume, undo of whole strokes."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from ais_like import painting
from ais_like.annotations import Annotations
from ais_like.errors import InputError


def brute_capsule(shape, p0, p1, r):
    """Reference: pixels whose centre is within r of the segment p0-p1 (dense sampling)."""
    yy, xx = np.mgrid[:shape[0], :shape[1]].astype(float)
    best = np.full(shape, np.inf)
    for t in np.linspace(0, 1, 2001):
        cy, cx = p0[0] + t * (p1[0] - p0[0]), p0[1] + t * (p1[1] - p0[1])
        best = np.minimum(best, (yy - cy) ** 2 + (xx - cx) ** 2)
    return best <= r * r + 1e-6


def make_ann(shape=(6, 64, 80)):
    ann = Annotations(shape)
    ann.add_feature("membrane")
    ann.add_feature("actin")
    return ann


def test_round_brush_dab_hits_the_disk():
    m = np.zeros((40, 50), np.uint8)
    out = painting.paint_stroke(m, (20.3, 25.6), radius=4.5)
    yy, xx = np.mgrid[:40, :50]
    expected = (yy - 20.3) ** 2 + (xx - 25.6) ** 2 <= 4.5 ** 2 + 1e-9
    assert np.array_equal(out == 1, expected)
    assert m.sum() == 0  # input not modified


def test_tiny_brush_paints_the_pixel_under_the_cursor():
    out = painting.paint_stroke(np.zeros((5, 5), np.uint8), (2, 3), radius=0)
    assert out.sum() == 1 and out[2, 3] == 1


def test_stroke_segment_matches_capsule_and_has_no_gaps():
    shape = (64, 80)
    p0, p1 = (5.0, 3.0), (58.0, 77.0)  # a fast mouse move: far apart
    out = painting.paint_stroke(np.zeros(shape, np.uint8), p0, p1, radius=1.0)
    assert np.array_equal(out == 1, brute_capsule(shape, p0, p1, 1.0))
    lab, n = ndimage.label(out == 1)
    assert n == 1  # one connected line, no gaps


def test_stroke_at_the_border_is_clipped():
    shape = (30, 30)
    out = painting.paint_stroke(np.zeros(shape, np.uint8), (-2.0, -2.0), (1.0, 28.5), radius=3.0)
    assert np.array_equal(out == 1, brute_capsule(shape, (-2.0, -2.0), (1.0, 28.5), 3.0))
    assert out[0, 0] == 1 and out[0, 29] == 1
    outside = painting.paint_stroke(np.zeros(shape, np.uint8), (-10.0, -10.0), (-10.0, 50.0), radius=2.0)
    assert outside.sum() == 0


def test_erase_and_ignore_value():
    m = np.ones((20, 20), np.uint8)
    out = painting.erase_stroke(m, (10, 10), radius=3)
    yy, xx = np.mgrid[:20, :20]
    disk = (yy - 10) ** 2 + (xx - 10) ** 2 <= 9
    assert np.all(out[disk] == 0) and np.all(out[~disk] == 1)
    ign = painting.paint_stroke(m, (0, 0), (19, 19), radius=1, value=2)
    assert set(np.unique(ign)) == {1, 2}
    assert m.min() == 1


def test_inplace_stroke_touches_only_its_bbox_and_matches_pure():
    ann = make_ann()
    base = np.random.default_rng(0).integers(0, 3, (64, 80)).astype(np.uint8)
    ann.set_slice("membrane", 2, base)
    expected = painting.paint_stroke(base, (10, 10), (30, 60), radius=5)
    bbox = painting.paint_stroke_inplace(ann, "membrane", 2, (10, 10), (30, 60), radius=5)
    got = ann.label_slice("membrane", 2)
    assert np.array_equal(got, expected)
    y0, y1, x0, x1 = bbox
    changed = np.argwhere(got != base)
    assert changed[:, 0].min() >= y0 and changed[:, 0].max() < y1
    assert changed[:, 1].min() >= x0 and changed[:, 1].max() < x1
    assert ann.label_slice("actin", 2).sum() == 0


def test_flood_fill_tolerance():
    rng = np.random.default_rng(1)
    img = np.zeros((40, 40), np.float32)
    img[:, 20:] = 10.0
    img += rng.uniform(-1, 1, img.shape).astype(np.float32)
    m = np.zeros((40, 40), np.uint8)
    region = painting.flood_region(img, (10, 5), tolerance=3.0)
    # every left pixel is within 2 of any other: the whole left half, nothing of the right
    assert region[:, :20].all() and not region[:, 20:].any()
    assert painting.flood_region(img, (10, 5), tolerance=12.0).all()
    tight = painting.flood_region(img, (10, 5), tolerance=0.0)
    assert tight[10, 5] and tight.sum() < 40
    out = painting.flood_fill(m, img, (10, 30), tolerance=3.0, value=2)
    assert np.all(out[:, 20:] == 2) and np.all(out[:, :20] == 0) and m.sum() == 0


def test_flood_fill_stays_connected_and_within_radius():
    img = np.zeros((30, 30), np.float32)
    img[:, 14:16] = 5.0  # a wall splits two equal regions
    region = painting.flood_region(img, (5, 5), tolerance=1.0)
    assert region[:, :14].all() and not region[:, 16:].any()
    small = painting.flood_region(img, (5, 5), tolerance=1.0, radius=3)
    yy, xx = np.mgrid[:30, :30]
    assert np.array_equal(small, ((yy - 5) ** 2 + (xx - 5) ** 2 <= 9) & region)


def test_flood_fill_inplace_with_undo():
    ann = make_ann()
    img = np.zeros((64, 80), np.float32)
    img[20:30, 20:40] = 3.0
    undo = painting.UndoStack()
    painting.flood_fill_inplace(ann, "membrane", 1, img, (25, 25), tolerance=0.5, undo=undo)
    assert ann.label_slice("membrane", 1).sum() == 200
    undo.undo()
    assert ann.annotated_slices("membrane") == []


def test_undo_restores_a_whole_stroke_exactly():
    ann = make_ann()
    rng = np.random.default_rng(2)
    ann.set_slice("membrane", 3, rng.integers(0, 3, (64, 80)))
    before = ann.to_label_volume("membrane")
    undo = painting.UndoStack()
    undo.begin("brush")
    pts = rng.uniform(-5, 85, (12, 2))
    for a, b in zip(pts[:-1], pts[1:]):
        painting.paint_stroke_inplace(ann, "membrane", 3, tuple(a), tuple(b), radius=3, undo=undo)
    painting.erase_stroke_inplace(ann, "membrane", 3, (30, 30), (31, 70), radius=6, undo=undo)
    undo.end()
    after = ann.to_label_volume("membrane")
    assert not np.array_equal(before, after)
    assert len(undo) == 1  # one stroke, one undo step
    assert undo.undo() == "brush"
    assert np.array_equal(ann.to_label_volume("membrane"), before)
    assert undo.redo() == "brush"
    assert np.array_equal(ann.to_label_volume("membrane"), after)


def test_undo_several_strokes_and_new_slices():
    ann = make_ann()
    undo = painting.UndoStack()
    states = [ann.to_label_volume("membrane")]
    for i, z in enumerate((1, 1, 4)):
        with undo.stroke():
            painting.paint_stroke_inplace(ann, "membrane", z, (10, 10 + 10 * i), (40, 20), radius=2, undo=undo)
        states.append(ann.to_label_volume("membrane"))
    assert ann.annotated_slices("membrane") == [1, 4]
    for expected in reversed(states[:-1]):
        undo.undo()
        assert np.array_equal(ann.to_label_volume("membrane"), expected)
    assert ann.annotated_slices("membrane") == [] and ann.stored_slices("membrane") == []
    assert undo.undo() is None
    undo.redo()
    assert np.array_equal(ann.to_label_volume("membrane"), states[1])
    # a new stroke after an undo drops the redo history
    with undo.stroke():
        painting.paint_stroke_inplace(ann, "membrane", 2, (5, 5), radius=2, undo=undo)
    assert not undo.can_redo


def test_undo_stores_only_the_changed_pixels():
    ann = Annotations((2, 2048, 2048))
    ann.add_feature("membrane")
    undo = painting.UndoStack()
    with undo.stroke():
        for i in range(50):  # a long stroke across the slice
            painting.paint_stroke_inplace(ann, "membrane", 0, (100 + 30 * i, 100), (130 + 30 * i, 130), radius=4,
                                          undo=undo)
    painted = ann.painted_pixels("membrane")
    assert 0 < undo.nbytes < 20 * painted + 1024  # O(changed pixels), not a slice copy (4 MiB)


def test_a_stroke_that_changes_nothing_is_not_an_undo_step():
    ann = make_ann()
    undo = painting.UndoStack()
    with undo.stroke():
        painting.erase_stroke_inplace(ann, "membrane", 0, (5, 5), radius=3, undo=undo)
    assert not undo.can_undo and ann.stored_slices("membrane") == []


def test_boxes_undo():
    ann = make_ann()
    undo = painting.UndoStack()
    painting.box_change_inplace(ann, "membrane", 2, 10, 10, undo=undo)
    painting.box_change_inplace(ann, "membrane", 2, 40, 40, positive=False, undo=undo)
    painting.box_change_inplace(ann, "membrane", 2, 11, 12, remove=True, undo=undo)
    assert ann.boxes("membrane", 2) == [] and ann.boxes("membrane", 2, False) == [(40, 40)]
    undo.undo()
    assert ann.boxes("membrane", 2) == [(10, 10)]
    undo.undo()
    undo.undo()
    assert ann.boxed_slices("membrane") == []


def test_apply_mask_modes_and_rename_keeps_history():
    ann = make_ann()
    undo = painting.UndoStack()
    pred = np.zeros((64, 80), bool)
    pred[10:20, 10:20] = True
    painting.apply_mask_inplace(ann, "membrane", 0, pred, undo=undo)
    painting.apply_mask_inplace(ann, "membrane", 0, np.roll(pred, 5, axis=1), mode="add", undo=undo)
    assert ann.label_slice("membrane", 0).sum() == 150
    painting.apply_mask_inplace(ann, "membrane", 0, pred, mode="erase", undo=undo)
    assert ann.label_slice("membrane", 0).sum() == 50
    ann.rename_feature("membrane", "Membrane")
    undo.rename_feature("membrane", "Membrane")
    undo.undo()
    assert ann.label_slice("Membrane", 0).sum() == 150
    with pytest.raises(InputError):
        painting.apply_mask_inplace(ann, "Membrane", 0, np.zeros((3, 3)))


def test_import_labels_is_pure_and_round_trips():
    ann = make_ann()
    labels = np.zeros((6, 64, 80), np.uint8)
    labels[1, 5:10, 5:10] = 1
    labels[4, 30:40, 30:40] = 7
    labels[4, 0, 0] = 9
    new = painting.import_labels(ann, "vesicle", labels, ignore_value=9)
    assert "vesicle" not in ann.features or ann.annotated_slices("vesicle") == []
    assert new.annotated_slices("vesicle") == [1, 4]
    vol = new.to_label_volume("vesicle")
    assert np.array_equal(vol == 1, (labels > 0) & (labels != 9))
    assert vol[4, 0, 0] == 2
    only = painting.import_labels(ann, "vesicle", labels, slices=[4])
    assert only.annotated_slices("vesicle") == [4]
    with pytest.raises(InputError):
        painting.import_labels(ann, "vesicle", labels[:, :10])


def test_import_real_membrane_segmentation(shared_data):
    """PySeg's real vesicle segmentation (label 1 = membrane) imported as annotations."""
    from ais_like.volume import open_volume

    with pytest.warns(Warning):  # the header's voxel size is unset
        vol = open_volume(shared_data / "pyseg_tomo22_vesicle_seg" / "tomo22_z50_ves_4_seg.mrc")
    seg = vol.read().astype(np.int16)
    vol.close()
    ann = Annotations(seg.shape)
    undo = painting.UndoStack()
    slices = painting.import_labels_inplace(ann, "membrane", seg == 1, undo=undo)
    assert slices == ann.annotated_slices("membrane") and len(slices) > 10
    assert np.array_equal(ann.to_label_volume("membrane") == 1, seg == 1)
    undo.undo()  # the whole import is one undo step
    assert ann.annotated_slices("membrane") == []
