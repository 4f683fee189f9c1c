"""Per-class IoU and mIoU against values computed independently (one boolean mask per class) on literal masks."""

import numpy as np
import pytest

from animeparse.view import class_iou, mean_iou

from .conftest import independent_iou

GT = np.array([[0, 0, 1, 1, 17, 17],
               [0, 0, 1, 1, 17, 17],
               [0, 0, 1, 1, 255, 255]], np.uint8)
PRED = np.array([[0, 1, 1, 1, 17, 4],
                 [0, 0, 1, 17, 17, 17],
                 [255, 0, 1, 1, 0, 0]], np.uint8)


def test_iou_hand_computed():
    ious = class_iou(PRED, GT, class_ids=range(19))
    # by hand: background 4/6 (the 255 pre-label pixel counts as no class; gt-ignore pixels drop out); skin 5/7;
    # hair 3/5; l_eye 0/1
    assert ious == pytest.approx({0: 4 / 6, 1: 5 / 7, 17: 3 / 5, 4: 0.0})
    assert mean_iou(ious) == pytest.approx(np.mean([4 / 6, 5 / 7, 3 / 5, 0.0]))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_iou_matches_independent_computation_on_random_masks(seed):
    rng = np.random.default_rng(seed)
    gt = rng.choice(np.array([0, 1, 4, 17, 255], np.uint8), size=(40, 30))
    pred = rng.choice(np.array([0, 1, 5, 17, 255], np.uint8), size=(40, 30))
    ids = range(19)
    assert class_iou(pred, gt, class_ids=ids) == pytest.approx(independent_iou(pred, gt, ids))


def test_identical_masks_give_one_and_absent_classes_none():
    ious = class_iou(GT, GT, class_ids=[0, 1, 2, 17])
    assert ious == {0: 1.0, 1: 1.0, 17: 1.0}  # class 2 is in neither mask: no IoU
    assert mean_iou({}) is None


def test_shape_mismatch_is_refused():
    with pytest.raises(ValueError, match="6x3"):
        class_iou(PRED[:, :4], GT, class_ids=[0])
