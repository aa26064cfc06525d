"""The annotation data model: features by name, sparse slices, boxes, dirty tracking."""

from __future__ import annotations

import numpy as np
import pytest

from ais_like.annotations import Annotations, Feature
from ais_like.errors import InputError


def make():
    ann = Annotations((10, 20, 30))
    ann.add_feature(Feature("membrane", colour=(1, 0.5, 0), box_size=32))
    ann.add_feature("ribosome")
    return ann


def test_features_by_name():
    ann = make()
    assert ann.feature_names == ["membrane", "ribosome"]
    assert ann.feature("membrane").box_size == 32
    assert ann.feature("ribosome").box_size == 64
    with pytest.raises(InputError, match="no feature named 'actin'"):
        ann.feature("actin")
    with pytest.raises(InputError):
        Feature("x", colour=(2, 0, 0))
    with pytest.raises(InputError):
        Feature("")
    # adding a known name returns the existing feature
    assert ann.add_feature("membrane") is ann.feature("membrane")


def test_sparse_slices_and_label_volume():
    ann = make()
    m = np.zeros((20, 30), np.uint8)
    m[5:8, 4:9] = 1
    m[0, 0] = 2
    ann.set_slice("membrane", 3, m)
    m[5, 5] = 0  # the stored slice is a copy
    assert ann.label_slice("membrane", 3)[5, 5] == 1
    assert ann.annotated_slices("membrane") == [3]
    assert ann.annotated_slices("ribosome") == []
    assert ann.label_slice("membrane", 4).sum() == 0
    vol = ann.to_label_volume("membrane")
    assert vol.shape == (10, 20, 30) and vol.dtype == np.uint8
    assert vol[3, 5:8, 4:9].min() == 1 and vol[3, 0, 0] == 2
    assert vol.sum() == 15 + 2
    assert ann.painted_pixels("membrane") == 15
    ann.set_slice("membrane", 3, np.zeros((20, 30)))  # empty: removed
    assert ann.annotated_slices("membrane") == []
    with pytest.raises(InputError):
        ann.set_slice("membrane", 10, np.zeros((20, 30)))
    with pytest.raises(InputError):
        ann.set_slice("membrane", 1, np.zeros((20, 31)))
    with pytest.raises(InputError):
        ann.set_slice("membrane", 1, np.full((20, 30), 3))


def test_boxes():
    ann = make()
    ann.add_box("membrane", 2, 10, 10, positive=True)
    ann.add_box("membrane", 2, 10, 10, positive=True)  # duplicate ignored
    ann.add_box("membrane", 2, 5, 25, positive=False)
    ann.add_box("membrane", 7, 1, 1)
    assert ann.boxes("membrane", 2) == [(10, 10)]
    assert ann.boxes("membrane", 2, positive=False) == [(5, 25)]
    assert ann.boxed_slices("membrane") == [2, 7]
    assert ann.all_boxes("membrane").tolist() == [[2, 10, 10, 1], [2, 5, 25, 0], [7, 1, 1, 1]]
    assert ann.remove_box_near("membrane", 2, 12, 14)  # inside the 32 px box
    assert not ann.remove_box_near("membrane", 7, 19, 29, radius=3)
    assert ann.boxes("membrane", 2) == []
    with pytest.raises(InputError):
        ann.add_box("membrane", 2, 25, 3)


def test_rename_and_remove_keep_data_consistent():
    ann = make()
    ann.set_slice("membrane", 1, np.ones((20, 30)))
    ann.add_box("membrane", 1, 3, 3)
    ann.rename_feature("membrane", "Membrane")
    assert ann.feature_names == ["Membrane", "ribosome"]
    assert ann.annotated_slices("Membrane") == [1] and ann.boxed_slices("Membrane") == [1]
    with pytest.raises(InputError):
        ann.rename_feature("Membrane", "ribosome")
    ann.remove_feature("Membrane")
    assert ann.feature_names == ["ribosome"]
    with pytest.raises(InputError):
        ann.annotated_slices("Membrane")


def test_shared_features_between_tomograms():
    features = {}
    a, b = Annotations((4, 8, 8), features), Annotations((6, 8, 8), features)
    a.add_feature("membrane")
    assert b.feature_names == ["membrane"]
    b.set_slice("membrane", 5, np.ones((8, 8)))
    a.rename_feature("membrane", "mem")
    b.rename_feature("membrane", "mem")  # the dict is already renamed: only b's data move
    assert b.annotated_slices("mem") == [5]


def test_revision_and_dirty():
    ann = make()
    ann.dirty.clear()
    r0 = ann.revision
    s0 = ann.slice_revision("membrane", 2)
    m = ann.mask("membrane", 2, create=True)
    m[0, 0] = 1
    ann.touch("membrane", 2)
    assert ann.revision > r0 and ann.dirty == {"membrane"}
    assert ann.slice_revision("membrane", 2) > s0
    assert ann.annotated_slices("membrane") == [2]


def test_copy_is_deep():
    ann = make()
    ann.set_slice("membrane", 1, np.ones((20, 30)))
    c = ann.copy()
    c.mask("membrane", 1)[:] = 0
    c.feature("membrane").box_size = 128
    assert ann.label_slice("membrane", 1).all() and ann.feature("membrane").box_size == 32
