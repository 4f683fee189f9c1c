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


# the tables (the author's get_class_names / get_class_colors): id -> (readable name, colour, alias)
ACP13 = {0: ("background", (0, 0, 0), "unlabeled"), 1: ("hair", (255, 0, 0), None), 2: ("face", (255, 255, 0), None),
         3: ("eyes", (255, 97, 0), None), 4: ("accessories", (245, 222, 179), "assesories"),
         5: ("ears", (218, 165, 105), None), 6: ("torso", (127, 255, 0), None),
         7: ("torso_wearing", (0, 255, 0), None), 8: ("arms", (8, 46, 84), None), 9: ("hands", (64, 224, 208), None),
         10: ("legs", (176, 226, 255), None), 11: ("feet", (0, 139, 139), None),
         12: ("legs_wearing", (144, 238, 144), "legs_wearing/decoration")}
ACP16 = {0: ("background", (0, 0, 0), "unlabeled"), 1: ("hair", (255, 0, 0), None),
         2: ("hair_decoration", (255, 0, 255), None), 3: ("face", (255, 255, 0), None), 4: ("eyes", (225, 97, 0), None),
         5: ("mouth", (255, 153, 18), None), 6: ("face_wearing", (245, 222, 179), "face_wearing/decoration"),
         7: ("ears", (218, 165, 105), None), 8: ("torso", (127, 255, 0), None),
         9: ("torso_wearing", (0, 255, 0), None), 10: ("arms", (8, 46, 84), None), 11: ("hands", (64, 224, 208), None),
         12: ("legs", (176, 226, 255), None), 13: ("feet", (0, 139, 139), None),
         14: ("legs_wearing", (144, 238, 144), "legs_wearing/decoration"), 15: ("stockings", (139, 101, 8), None),
         16: ("shoes", (74, 112, 139), None)}


@pytest.mark.parametrize("name,table", [("anime-character-parsing-13", ACP13), ("anime-character-parsing-16", ACP16)],
                         ids=["13", "16"])
def test_anime_character_parsing_maps_keep_the_authors_ids_colours_and_spelling(name, table):
    m = load_labelmap(name)
    assert m.ids == sorted(table)
    for i, (cname, colour, alias) in table.items():
        assert m[i].name == cname and m[i].color == colour and m[i].flip is None
        if alias:
            assert alias in m[i].aliases and m.id_of(alias) == i
    assert m["face"].max_parts == 1 and m["eyes"].max_parts == 2 and m["hands"].max_parts == 2
    # arms and legs break into pieces under sleeves, bands and socks; ears may be human and animal: no limit
    assert m["arms"].max_parts is None and m["legs"].max_parts is None and m["ears"].max_parts is None
    assert m["accessories" if "accessories" in m.names else "face_wearing"].priority > m["hair"].priority


def test_remap_16_to_13_by_meaning_on_a_literal_mask():
    remap = load_remap("anime-character-parsing-16", "anime-character-parsing-13")
    # hair, hair_decoration, face, eyes / mouth, face_wearing, stockings, shoes / legs, feet, ignore, background
    mask = np.array([[1, 2, 3, 4], [5, 6, 15, 16], [12, 13, 255, 0]], np.uint8)
    assert remap.apply(mask).tolist() == [[1, 4, 2, 3], [2, 4, 12, 11], [10, 11, 255, 0]]
    src, dst = load_labelmap("anime-character-parsing-16"), load_labelmap("anime-character-parsing-13")
    lut = remap.lut()
    merged = {"hair_decoration": "accessories", "face_wearing": "accessories", "mouth": "face",
              "stockings": "legs_wearing", "shoes": "feet"}
    for c in src.classes:
        assert dst.name_of(int(lut[c.id])) == merged.get(c.name, c.name)


def test_aliases_resolve_in_lookups_and_hash_only_when_present():
    m = load_labelmap("anime-character-parsing-13")
    assert m["assesories"] is m["accessories"] and "unlabeled" in m and m.names[4] == "accessories"
    assert m.to_json()["classes"][4]["aliases"] == ["assesories"]
    assert "aliases" not in load_labelmap("danbooru-parsing").to_json()["classes"][1]
    again = LabelMap.from_json(m.to_json())
    assert again.sha256 == m.sha256 and again["assesories"].id == 4


def test_alias_that_is_another_class_name_is_refused():
    data = load_labelmap("anime-character-parsing-13").to_json()
    data["classes"][4]["aliases"] = ["hair"]
    with pytest.raises(LabelMapError, match="alias 'hair' of class 'accessories'"):
        LabelMap.from_json(data)
