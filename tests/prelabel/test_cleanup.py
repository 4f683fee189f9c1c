"""The clean-up stage's invariants: no piece under the minimum, at most max_parts per face, l/r on the convention's
side, holes filled only under higher-priority classes, ignore where unsure; on literal masks and on noise."""

import cv2
import numpy as np
import pytest

from animeparse import load_labelmap
from animeparse.prelabel.cleanup import CleanupConfig, clean_label, count_pieces

LM = load_labelmap("danbooru-parsing")
ID = {c.name: c.id for c in LM.classes}


def _face(h: int = 200, w: int = 200) -> np.ndarray:
    """Background, a skin disc with two eyes (l_eye on the image right: subject convention), hair on top."""
    m = np.zeros((h, w), np.uint8)
    cv2.circle(m, (100, 110), 60, ID["skin"], -1)
    cv2.rectangle(m, (40, 20), (160, 60), ID["hair"], -1)
    cv2.ellipse(m, (125, 105), (12, 8), 0, 0, 360, ID["l_eye"], -1)
    cv2.ellipse(m, (75, 105), (12, 8), 0, 0, 360, ID["r_eye"], -1)
    cv2.rectangle(m, (95, 140), (105, 146), ID["mouth"], -1)
    return m


def _pieces_by_class(label: np.ndarray) -> dict[int, list[int]]:
    out = {}
    for c in np.unique(label):
        n, _, st, _ = cv2.connectedComponentsWithStats((label == c).astype(np.uint8), connectivity=8)
        out[int(c)] = sorted(int(a) for a in st[1:, cv2.CC_STAT_AREA])
    return out


def test_a_clean_face_is_left_as_it_is():
    face = _face()
    result = clean_label(face, None, LM)
    assert np.array_equal(result.label_hw, face)
    assert result.stats["pieces_before"] == result.stats["pieces_after"] == 6


def test_specks_go_to_their_surroundings_not_background():
    face = _face()
    noisy = face.copy()
    noisy[110:113, 100:103] = ID["cloth"]  # a speck of cloth inside the skin
    noisy[30:32, 60:62] = ID["hat"]  # inside the hair
    noisy[5:7, 5:7] = ID["skin"]  # skin speck in the background
    result = clean_label(noisy, None, LM, config=CleanupConfig(min_area=0.001))
    assert np.array_equal(result.label_hw, face)
    assert result.stats["dropped_px"] == 9 + 4 + 4 and result.stats["pieces_after"] == 6


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_no_piece_under_the_minimum_and_parts_capped_on_noise(seed):
    rng = np.random.default_rng(seed)
    label = _face()
    # 300 random blobs of random classes: what a parser on unfamiliar art gives
    for _ in range(300):
        x, y, r = rng.integers(0, 200), rng.integers(0, 200), rng.integers(1, 6)
        cv2.circle(label, (int(x), int(y)), int(r), int(rng.integers(0, 19)), -1)
    config = CleanupConfig(min_area=0.002)
    result = clean_label(label, None, LM, config=config)
    min_px = round(config.min_area * label.size)
    n_faces = 1  # one skin piece over 2 % of the image at most... count them as the cleanup does
    skin_n, _, st, _ = cv2.connectedComponentsWithStats((result.label_hw == ID["skin"]).astype(np.uint8),
                                                        connectivity=8)
    n_faces = max(1, int((st[1:, cv2.CC_STAT_AREA] >= 0.02 * label.size).sum()))
    assert result.stats["pieces_before"] > 3 * result.stats["pieces_after"]
    for c, areas in _pieces_by_class(result.label_hw).items():
        limit = LM[c].max_parts
        if limit:
            # parts, not pieces: pieces within 1 % of the side are one part (a glasses frame, a split eye)
            reach = max(1, round(0.01 * 200))
            kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1))
            grown = cv2.dilate((result.label_hw == c).astype(np.uint8), kernel)
            parts = cv2.connectedComponents(grown, connectivity=8)[0] - 1
            assert parts <= limit * n_faces, (LM[c].name, areas)
        elif len(areas) > 1 or c == 0:
            assert min(areas) >= min_px, (LM[c].name, areas)
    assert count_pieces(result.label_hw) == result.stats["pieces_after"]


def test_max_parts_keeps_the_largest_per_face_and_one_more_face_allows_more():
    face = _face()
    face[125:131, 82:88] = ID["l_eye"]  # a second, smaller l_eye inside the face
    result = clean_label(face, None, LM, config=CleanupConfig(min_area=0.0001))
    (kept,) = _pieces_by_class(result.label_hw)[ID["l_eye"]]
    assert kept > 36 and (result.label_hw[125:131, 82:88] == ID["skin"]).all()
    # without the cap both stay
    loose = clean_label(face, None, LM, config=CleanupConfig(min_area=0.0001, max_parts=False))
    assert len(_pieces_by_class(loose.label_hw)[ID["l_eye"]]) == 2
    # two faces side by side: two of each part are kept
    two = np.concatenate([_face(), _face()], axis=1)
    assert np.array_equal(clean_label(two, None, LM).label_hw, two)


def test_swapped_eyes_are_put_on_the_convention_side():
    face = _face()
    swapped = face.copy()
    swapped[face == ID["l_eye"]] = ID["r_eye"]
    swapped[face == ID["r_eye"]] = ID["l_eye"]
    result = clean_label(swapped, None, LM, lr_convention="subject")
    assert np.array_equal(result.label_hw, face) and result.stats["lr_swapped"] == 2
    # the image convention wants them the other way round: the swapped mask is already right for it
    assert np.array_equal(clean_label(swapped, None, LM, lr_convention="image").label_hw, swapped)
    off = clean_label(swapped, None, LM, config=CleanupConfig(lr_side=False))
    assert np.array_equal(off.label_hw, swapped)


def test_only_background_holes_are_filled():
    face = _face()
    holed = face.copy()
    holed[120:130, 80:90] = ID["background"]  # a 100 px hole in the skin, above the minimum area
    result = clean_label(holed, None, LM, config=CleanupConfig(min_area=0.0001))
    assert np.array_equal(result.label_hw, face) and result.stats["filled_px"] == 100
    kept = clean_label(holed, None, LM, config=CleanupConfig(min_area=0.0001, fill_holes=False))
    assert (kept.label_hw[120:130, 80:90] == 0).all()
    # eyes are holes in the skin too: never filled
    assert (result.label_hw == ID["l_eye"]).sum() == (face == ID["l_eye"]).sum()
    # the rim of glasses encloses skin and an eye: they stay (a priority rule would have painted them eye_g)
    glasses = face.copy()
    cv2.ellipse(glasses, (125, 105), (18, 14), 0, 0, 360, ID["eye_g"], 2)
    assert np.array_equal(clean_label(glasses, None, LM).label_hw, glasses)


@pytest.mark.parametrize("size", [256, 512])
def test_generated_ground_truth_comes_through_almost_unchanged(size):
    """A clean, human-style mask (the generator's exact masks: split brows, two earrings, glasses, hats) is what
    the stage aims at, so it must leave one nearly as it is."""
    from animeparse.demo.synth import generate_face
    from animeparse.prelabel.evaluate import confusion_matrix, scores_from_confusion

    cm = np.zeros((256, 256), np.int64)
    for i in range(12):
        _, gt = generate_face(0, 100 + i, size=size)
        result = clean_label(gt, None, LM)
        assert (result.label_hw != gt).mean() < 0.002
        cm += confusion_matrix(gt, result.label_hw)
    ious, _, _ = scores_from_confusion(cm, LM.ids)
    assert all(v >= 0.97 for v in ious.values() if v is not None), ious


def test_unsure_pixels_become_ignore():
    face = _face()
    conf = np.ones(face.shape, np.float32)
    conf[:10, :20] = 0.3
    result = clean_label(face, conf, LM, config=CleanupConfig(min_confidence=0.5))
    assert (result.label_hw[:10, :20] == 255).all() and result.stats["ignored_px"] == 200
    assert ((result.label_hw == 255) == (conf < 0.5)).all()
    assert count_pieces(result.label_hw) == count_pieces(face)  # ignore is not a piece


def test_disabled_changes_nothing():
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 19, (64, 64)).astype(np.uint8)
    result = clean_label(noise, None, LM, config=CleanupConfig(enabled=False))
    assert np.array_equal(result.label_hw, noise) and result.stats["pieces_before"] == result.stats["pieces_after"]


def test_bad_values_are_refused_by_name():
    assert CleanupConfig(min_area=2.0).check() == ["--min-area must be in [0, 1], got 2.0"]
