import json

import numpy as np
import pytest

from animeparse import LabelMap, LabelMapError, builtin_labelmaps, load_labelmap, load_remap

DANBOORU = ["background", "skin", "l_brow", "r_brow", "l_eye", "r_eye", "eye_g", "l_ear", "r_ear", "ear_r", "nose",
            "mouth", "u_lip", "l_lip", "neck", "neck_l", "cloth", "hair", "hat"]
CELEBA = ["background", "skin", "nose", "eye_g", "l_eye", "r_eye", "l_brow", "r_brow", "l_ear", "r_ear", "mouth",
          "u_lip", "l_lip", "hair", "hat", "ear_r", "neck_l", "neck", "cloth"]


def test_bundled_maps_load_and_validate():
    names = builtin_labelmaps()
    assert {"danbooru-parsing", "celebamask-hq", "manga-page", "character-parsing"} <= set(names)
    for name in names:
        m = load_labelmap(name)
        assert m.name == name and len(m) >= 2


@pytest.mark.parametrize("name,order", [("danbooru-parsing", DANBOORU), ("celebamask-hq", CELEBA)],
                         ids=["danbooru", "celebamask"])
def test_face_maps_have_the_datasets_own_order(name, order):
    m = load_labelmap(name)
    assert m.names == order
    assert m.ids == list(range(19))


def test_manga_map_classes():
    assert set(load_labelmap("manga-page").names) == {"background", "frame", "text", "onomatopoeia", "balloon",
                                                       "body", "face"}


def test_celebamask_remap_matches_names():
    src, dst = load_labelmap("celebamask-hq"), load_labelmap("danbooru-parsing")
    remap = load_remap("celebamask-hq", "danbooru-parsing")
    lut = remap.lut()
    for c in src.classes:
        assert dst.name_of(int(lut[c.id])) == c.name
    mask = np.array([[13, 4], [255, 0]], np.uint8)  # hair, l_eye, ignore, background
    assert remap.apply(mask).tolist() == [[17, 4], [255, 0]]
    with pytest.raises(LabelMapError, match=r"ids \[40\]"):
        remap.apply(np.array([[40]], np.uint8))


def test_flip_lut_swaps_left_right_only():
    m = load_labelmap("danbooru-parsing")
    lut = m.flip_lut()
    assert lut[m.id_of("l_eye")] == m.id_of("r_eye") and lut[m.id_of("r_brow")] == m.id_of("l_brow")
    assert lut[m.id_of("hair")] == m.id_of("hair") and lut[255] == 255


def test_palette_and_priority():
    m = load_labelmap("danbooru-parsing")
    assert len(m.palette()) == 768 and m.palette()[3 * 17: 3 * 18] == list(m["hair"].color)
    assert m["l_eye"].priority > m["skin"].priority and m["hair"].priority > m["cloth"].priority
    assert m.by_priority()[0].name == "background"
    assert m.sha256 == load_labelmap("danbooru-parsing").sha256


def test_from_classes():
    m = LabelMap.from_classes(["skin", "hair", "l_eye", "r_eye"])
    assert m.names == ["background", "skin", "hair", "l_eye", "r_eye"]
    assert m["l_eye"].flip == "r_eye" and len({c.color for c in m.classes}) == 5


def _good():
    return json.loads(json.dumps(load_labelmap("danbooru-parsing").to_json()))


def _dup_id(d):
    d["classes"][2]["id"] = 1


def _dup_name(d):
    d["classes"][2]["name"] = "skin"


def _dup_colour(d):
    d["classes"][2]["color"] = d["classes"][1]["color"]


def _one_sided_flip(d):
    d["classes"][2]["flip"] = "hair"


def _missing_partner(d):
    d["classes"][2]["flip"] = "nope"


def _id_255(d):
    d["classes"][18]["id"] = 255


def _no_background(d):
    d["classes"] = d["classes"][1:]


def _no_classes_key(d):
    del d["classes"]


def _colour_out_of_range(d):
    d["classes"][3]["color"] = [0, 300, 0]


BROKEN = [(_dup_id, "duplicate ids"), (_dup_name, "duplicate names"), (_dup_colour, "duplicate colors"),
          (_one_sided_flip, "mutual"), (_missing_partner, "not a class"), (_id_255, "254"),
          (_no_background, "id 0"), (_no_classes_key, "'classes' is a required property"),
          (_colour_out_of_range, "300")]


@pytest.mark.parametrize("breaker,message", BROKEN, ids=[b.__name__ for b, _ in BROKEN])
def test_broken_labelmap_gets_clear_error_naming_file(tmp_path, breaker, message):
    data = _good()
    breaker(data)
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(data))
    with pytest.raises(LabelMapError) as err:
        load_labelmap(path)
    assert message in str(err.value) and "broken.json" in str(err.value)


def test_labelmap_not_json_names_line(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"name": "x",\n "version": }')
    with pytest.raises(LabelMapError, match=r"bad.json.*line 2"):
        load_labelmap(path)


def test_unknown_labelmap_lists_bundled():
    with pytest.raises(LabelMapError, match="danbooru-parsing"):
        load_labelmap("no-such-map")
