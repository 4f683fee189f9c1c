"""Combining parser probabilities with SAM masks, prompts from regions, and the evaluation metrics (no models)."""

import numpy as np
import pytest

from animeparse import load_labelmap
from animeparse.prelabel.combine import combine_everything, combine_prompted, parser_only, sample_score
from animeparse.prelabel.evaluate import confusion_matrix, scores_from_confusion
from animeparse.prelabel.prompts import PromptConfig, region_prompts, stack_prompts

LM = load_labelmap("danbooru-parsing")
IDS = np.array(LM.ids, np.uint8)
SKIN, L_EYE, HAIR = LM.id_of("skin"), LM.id_of("l_eye"), LM.id_of("hair")


def probs_from(label, conf=0.9):
    """CxHxW probabilities whose argmax is ``label`` with probability ``conf`` (the rest spread evenly)."""
    c = len(IDS)
    p = np.full((c, *label.shape), (1 - conf) / (c - 1), np.float32)
    for k, cid in enumerate(IDS):
        p[k][label == cid] = conf
    return p


def face():
    """20x20: skin square with an eye inside, hair band on top, background around."""
    label = np.zeros((20, 20), np.uint8)
    label[4:16, 4:16] = SKIN
    label[8:11, 6:10] = L_EYE
    label[0:4, 2:18] = HAIR
    return label


def test_parser_only_is_argmax_with_probability_as_confidence():
    label = face()
    out = parser_only(probs_from(label, 0.8), IDS)
    assert np.array_equal(out.label_hw, label) and np.allclose(out.confidence_hw, 0.8)
    assert out.score == pytest.approx(0.8)


def test_agreeing_sam_mask_sharpens_the_boundary():
    label = face()
    sam_skin = label == SKIN
    sam_skin[15, 4:16] = False  # SAM says the bottom row is not skin (IoU 132/144 ~ 0.92)
    out = combine_prompted(probs_from(label), IDS, {SKIN: (sam_skin, 0.95)}, LM, agree_iou=0.6)
    assert out.regions[SKIN]["source"] == "sam"
    assert (out.label_hw[15, 4:16] != SKIN).all()  # the dropped row went to the parser's next best class
    assert (out.label_hw[8:11, 6:10] == L_EYE).all()  # the eye inside is untouched
    assert out.confidence_hw[5, 5] == pytest.approx(0.5 * (0.9 + 0.95))


def test_disagreeing_sam_mask_is_dropped_for_the_parser_region():
    label = face()
    blob = np.zeros_like(label, bool)
    blob[0:20, 0:5] = True  # covers little of the skin: IoU far below the threshold
    out = combine_prompted(probs_from(label), IDS, {SKIN: (blob, 0.99)}, LM, agree_iou=0.6)
    assert out.regions[SKIN]["source"] == "parser" and out.regions[SKIN]["iou"] < 0.6
    assert np.array_equal(out.label_hw, label)


def test_overlaps_follow_label_map_priority():
    label = face()
    big_skin = (label == SKIN) | (label == L_EYE)
    big_skin[3, 4:16] = True  # spills one row into the hair
    out = combine_prompted(probs_from(label), IDS, {SKIN: (big_skin, 0.9)}, LM, agree_iou=0.5)
    # eye (priority 50) and hair (40) both outrank skin (10): SAM's skin mask cannot take them
    assert (out.label_hw[8:11, 6:10] == L_EYE).all() and (out.label_hw[3, 4:16] == HAIR).all()
    grown_hair = (label == HAIR) | big_skin & (np.arange(20)[:, None] < 6)
    out = combine_prompted(probs_from(label), IDS, {HAIR: (grown_hair, 0.9)}, LM, agree_iou=0.5)
    assert (out.label_hw[4:6, 4:16] == HAIR).all()  # hair outranks skin where SAM extends it


def test_everything_mode_assigns_majority_class_and_paints_by_priority():
    label = face()
    seg = np.zeros_like(label, bool)
    seg[3:17, 3:17] = True  # mostly skin; also covers the eye and a hair row
    out = combine_everything(probs_from(label), IDS, [{"segmentation": seg, "predicted_iou": 0.9}], LM)
    assert out.regions[SKIN]["masks"] == 1
    assert (out.label_hw[3:17, 3:17] == SKIN).all() and out.label_hw[0, 10] == HAIR


def test_sample_score_weights_classes_equally():
    label = np.zeros((10, 10), np.uint8)
    label[0, 0] = SKIN
    conf = np.ones((10, 10), np.float32)
    conf[0, 0] = 0.0
    assert sample_score(label, conf) == pytest.approx(0.5)


def test_region_prompts_points_inside_and_negatives_on_neighbours():
    label = face()
    prompts = {p.class_id: p for p in region_prompts(label, config=PromptConfig(min_area=4))}
    assert set(prompts) == {SKIN, L_EYE, HAIR}
    skin = prompts[SKIN]
    assert skin.box_xyxy.tolist() == [4, 4, 16, 16]
    for (x, y), lab in zip(skin.points_xy, skin.labels):
        inside = label[int(y), int(x)] == SKIN
        assert inside == (lab == 1), (x, y, lab)
    neg_classes = {int(label[int(y), int(x)]) for (x, y), lab in zip(skin.points_xy, skin.labels) if lab == 0}
    assert neg_classes <= {0, L_EYE, HAIR} and neg_classes
    ordered = list(prompts.values())
    boxes, points, labels = stack_prompts(ordered)
    assert boxes.shape == (3, 4) and points.shape[:2] == labels.shape
    for row, p in zip(labels, ordered):  # shorter prompts are padded with SAM's "not a point" label
        assert row[: len(p.labels)].tolist() == p.labels.tolist() and (row[len(p.labels):] == -1).all()


def test_small_regions_get_no_prompt():
    label = face()
    assert L_EYE not in {p.class_id for p in region_prompts(label, config=PromptConfig(min_area=50))}


def test_metrics_from_confusion():
    gt = np.array([[0, 0, 1, 1], [0, 0, 1, 255]], np.uint8)
    pred = np.array([[0, 1, 1, 1], [0, 0, 1, 1]], np.uint8)
    cm = confusion_matrix(gt, pred)
    assert cm.sum() == 7  # the ignore pixel is left out
    ious, miou, acc = scores_from_confusion(cm, [0, 1, 2])
    assert ious[0] == pytest.approx(3 / 4) and ious[1] == pytest.approx(3 / 4) and ious[2] is None
    assert miou == pytest.approx(0.75) and acc == pytest.approx(6 / 7)
