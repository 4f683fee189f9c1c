"""Left/right conventions, eyes next to skin, hair above the neck: on generated faces (subject convention) whose
masks are changed in known ways."""

from __future__ import annotations

import numpy as np
import pytest

from animeparse import Dataset, load_labelmap
from animeparse.demo.defects import make_face_store
from animeparse.qa import QAConfig
from animeparse.qa.layout import lr_pairs

from . import literal_store, run, session_dir

ONLY_LR = dict(skip=("integrity", "values", "label_order", "shapes", "layout", "files", "duplicates", "layers"))


@pytest.fixture(scope="module")
def mixed():
    """10 faces, card says subject; faces 2 and 7 have their l_/r_ ids swapped (image-left convention)."""
    root = session_dir() / "lr-mixed"
    ids = make_face_store(root, 10, seed=5, size=128, lr_flipped={2, 7}, workers=0)
    return root, ids


def test_minority_convention_is_flagged_with_the_reason(mixed):
    root, ids = mixed
    report = run(root, **ONLY_LR)
    flagged = {f.sample: f for f in report.findings if f.code == "lr_swapped"}
    assert set(flagged) == {ids[2], ids[7]}
    message = flagged[ids[2]].message
    assert "l_eye is left of r_eye in image coordinates" in message
    assert "follows the image-left convention while 8 of 10 samples follow subject-left" in message
    assert flagged[ids[2]].data["follows"] == "image" and flagged[ids[2]].severity == "error"
    assert not [f for f in report.findings if f.code == "lr_convention"]  # the card agrees with the majority
    assert report.stats["lr"] == {"declared": "subject", "subject": 8, "image": 2, "no_vote": 0}


def test_majority_against_the_card_flags_the_card_and_the_minority():
    root = session_dir() / "lr-card"
    ids = make_face_store(root, 5, seed=6, size=128, lr_flipped={0, 1, 2, 3}, workers=0)
    report = run(root, **ONLY_LR)
    card = [f for f in report.findings if f.code == "lr_convention"]
    assert len(card) == 1 and card[0].sample is None and "4 of 5 samples follow image-left" in card[0].message
    assert [f.sample for f in report.findings if f.code == "lr_swapped"] == [ids[4]]


def test_without_a_clear_majority_the_card_is_the_reference():
    root = session_dir() / "lr-split"
    ids = make_face_store(root, 4, seed=7, size=128, lr_flipped={0, 1}, workers=0)
    report = run(root, **ONLY_LR)
    swapped = [f for f in report.findings if f.code == "lr_swapped"]
    assert sorted(f.sample for f in swapped) == sorted(ids[:2])
    assert "the card declares subject-left (votes: 2 subject-left, 2 image-left)" in swapped[0].message
    assert not [f for f in report.findings if f.code == "lr_convention"]


def test_lr_pairs_of_the_face_map_and_none_elsewhere():
    names = [(a, b) for _, _, a, b in lr_pairs(load_labelmap("danbooru-parsing"))]
    assert names == [("l_eye", "r_eye"), ("l_brow", "r_brow"), ("l_ear", "r_ear")]
    assert lr_pairs(load_labelmap("manga-page")) == []


def _face_mask() -> np.ndarray:
    """A 64x64 literal face: hair on top, skin, two eyes and brows inside it (subject convention), neck below."""
    m = np.zeros((64, 64), np.uint8)
    m[2:20, 12:52] = 17  # hair
    m[16:44, 16:48] = 1  # skin
    m[26:30, 36:42], m[26:30, 22:28] = 4, 5  # l_eye on the image right
    m[22:24, 36:42], m[22:24, 22:28] = 2, 3  # brows
    m[44:56, 26:38] = 14  # neck
    return m


def test_eye_outside_skin_and_hair_below_neck(tmp_path):
    good = _face_mask()
    eye_out = good.copy()
    eye_out[26:30, 36:42] = 1
    eye_out[4:8, 56:62] = 4  # l_eye up in the background, still on the image right
    flipped = good[::-1].copy()
    ids = literal_store(tmp_path / "ds", [good, eye_out, flipped])
    report = run(tmp_path / "ds", skip=("shapes", "duplicates"))
    assert not report.by_sample(ids[0])
    assert report.codes_of(ids[1]) == {"part_outside_skin"}
    assert "l_eye at (56, 4, 6x4) is not next to skin" in report.by_sample(ids[1])[0].message
    assert report.codes_of(ids[2]) == {"hair_below_neck"}


def test_layout_rules_need_the_face_classes(tmp_path):
    """A map without skin/hair/neck/l_ r_ pairs: the layout checks have nothing to say."""
    from animeparse import LabelMap

    lm = LabelMap.from_classes(["frame", "text"], name="pages")
    with Dataset.create(tmp_path / "ds", labelmap=lm) as ds:
        src = tmp_path / "a.png"
        from PIL import Image

        Image.fromarray(np.random.default_rng(0).integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(src)
        from animeparse import MaskInput

        mask = np.zeros((16, 16), np.uint8)
        mask[8:, :] = 2
        ds.add_sample(src, masks={"gt": MaskInput(mask)})
    report = run(tmp_path / "ds")
    assert report.findings == [] and report.stats["lr"]["no_vote"] == 1
    assert QAConfig().layer == "gt"
