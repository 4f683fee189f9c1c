"""The shape rules on literal masks: what is a fragment, a pin-hole, a tiny class, and what is let off."""

from __future__ import annotations

import numpy as np
import pytest

from animeparse.qa import QAConfig

from . import literal_store, run

PIXELS = dict(skip=("layout", "duplicates", "label_order"))


def _base() -> np.ndarray:
    """48x48: background, a hair block, a skin block with lips and mouth."""
    m = np.zeros((48, 48), np.uint8)
    m[4:24, 4:44] = 17
    m[24:44, 10:38] = 1
    m[34:38, 18:30] = 12  # u_lip
    m[38:42, 18:30] = 13  # l_lip
    return m


def _variant(name: str) -> np.ndarray:
    m = _base()
    if name == "hair_speck_in_background":
        m[44:47, 42:45] = 17  # 9 px of hair alone in the background
    elif name == "cloth_island_in_hair":
        m[40:44, 40:46] = 16
        m[10:12, 8:10] = 16  # a cloth piece showing between hair strands: hair (40) is in front of cloth (14)
    elif name == "speck_touching_two_classes":
        m[42:45, 36:39] = 17  # hair on the skin's lower edge: touches skin and background, so not a stray speck
    elif name == "pinhole_4px":
        m[30:32, 14:16] = 0
    elif name == "pinhole_1px":
        m[30, 14] = 0
    elif name == "hole_between_classes":
        m[22:26, 20:22] = 0  # touches hair and skin
    elif name == "tiny_hat_in_background":
        m[44:46, 2:4] = 18
    elif name == "mouth_between_lips":
        m[37:39, 22:24] = 11  # 4 px of mouth, mostly bordered by the lips (priority 24 > 22)
    return m


CASES = [
    ("clean", set()),
    ("hair_speck_in_background", {"fragment"}),
    ("cloth_island_in_hair", set()),
    ("speck_touching_two_classes", set()),
    ("pinhole_4px", {"pinhole"}),
    ("pinhole_1px", set()),
    ("hole_between_classes", set()),
    ("tiny_hat_in_background", {"tiny_class"}),
    ("mouth_between_lips", set()),
]


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes") / "ds"
    ids = literal_store(root, [_variant(name) for name, _ in CASES])
    return root, dict(zip([n for n, _ in CASES], ids))


@pytest.mark.parametrize("name,codes", CASES, ids=[n for n, _ in CASES])
def test_shape_rules(shapes, name, codes):
    root, ids = shapes
    report = run(root, **PIXELS)
    assert report.codes_of(ids[name]) == codes, [f.message for f in report.by_sample(ids[name])]


def test_fragment_message_names_class_place_and_surroundings(shapes):
    root, ids = shapes
    (f,) = run(root, **PIXELS).by_sample(ids["hair_speck_in_background"])
    assert f.message.startswith(f"mask masks/gt/{ids['hair_speck_in_background']}.png has a detached 9 px piece of "
                                "hair at (42, 44) inside background")
    assert f.data == {"class": "hair", "id": 17, "pixels": 9, "xywh": [42, 44, 3, 3], "inside": "background"}


def test_thresholds_move_the_line(tmp_path):
    holes = _base()
    holes[26:36, 12:16] = 0  # a 40 px hole in the skin
    speck = _base()
    speck[44:47, 42:45] = 17
    ids = literal_store(tmp_path / "ds", [holes, speck])
    assert run(tmp_path / "ds", **PIXELS).codes_of(ids[0]) == {"pinhole"}
    assert run(tmp_path / "ds", **PIXELS, max_pinhole_px=40).codes_of(ids[0]) == set()
    assert run(tmp_path / "ds", **PIXELS, min_fragment_px=9).codes_of(ids[1]) == set()
    assert run(tmp_path / "ds", **PIXELS, min_fragment_px=0).codes_of(ids[1]) == set()
    assert QAConfig(min_fragment_px=0).min_fragment_px == 0
