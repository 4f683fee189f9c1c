"""Attributes from the parsing: literal masks over literal colours, the cache keyed by the mask's SHA-256, the
selection and split groupings that read them, and the character and colour tables of ``stats``."""

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

from animeparse import Dataset, LabelMap, MaskInput
from animeparse.cli.main import cli
from animeparse.stats import compute_stats
from animeparse.stats.attributes import PALETTE, colour_name, compute_attributes, rgb_to_lab

H, W = 40, 40


def _face(hair_rgb, eye_rgb, skin_rgb, labelmap, *, eyes=("l_eye", "r_eye")):
    """A literal face: hair over the top 10 rows, skin rows 10..34 cols 8..32, eyes 4x4 at (14, 12) and (14, 24),
    nose at rows 20..22 cols 19..21, mouth rows 26..28 cols 16..24; each region painted in its colour."""
    image = np.full((H, W, 3), 255, np.uint8)
    mask = np.zeros((H, W), np.uint8)

    def paint(name, ys, xs, rgb):
        mask[ys, xs] = labelmap.id_of(name)
        image[ys, xs] = rgb

    paint("hair", slice(0, 10), slice(0, W), hair_rgb)
    paint("skin" if "skin" in labelmap else "face", slice(10, 34), slice(8, 32), skin_rgb)
    paint(eyes[0], slice(14, 18), slice(12, 16), eye_rgb)
    paint(eyes[-1], slice(14, 18), slice(24, 28), eye_rgb)
    if "nose" in labelmap:
        paint("nose", slice(20, 22), slice(19, 21), skin_rgb)
    paint("mouth", slice(26, 28), slice(16, 24), (200, 60, 60))
    return image, mask


@pytest.mark.parametrize("name", sorted(PALETTE))
def test_every_palette_colour_is_named_as_itself(name):
    role = "skin" if name in ("fair", "tan") else "hair"
    assert colour_name(rgb_to_lab(np.array([PALETTE[name]], np.uint8))[0], role=role) == name


@pytest.mark.parametrize("rgb,expected", [((255, 182, 193), "pink"), ((250, 220, 120), "blonde"),
                                          ((235, 235, 240), "silver"), ((15, 15, 15), "black"),
                                          ((95, 60, 35), "brown"), ((40, 60, 220), "blue"), ((120, 40, 160), "purple"),
                                          ((220, 20, 30), "red"), ((250, 130, 20), "orange"), ((30, 140, 60), "green")],
                         ids=lambda v: str(v))
def test_hair_colours_people_would_call_so(rgb, expected):
    assert colour_name(rgb_to_lab(np.array([rgb], np.uint8))[0], role="hair") == expected


def test_skin_names_are_for_skin_only():
    lab = rgb_to_lab(np.array([PALETTE["tan"]], np.uint8))[0]
    assert colour_name(lab, role="skin") == "tan" and colour_name(lab, role="hair") != "tan"


def test_attributes_of_a_literal_danbooru_face(danbooru):
    image, mask = _face((246, 164, 192), (58, 100, 204), (252, 226, 208), danbooru)
    a = compute_attributes(image, mask, danbooru)
    assert a["face_xyxy"] == [8, 10, 32, 34]
    assert a["eye_centers_xy"] == [[13.5, 15.5], [25.5, 15.5]]
    assert a["nose_xy"] == [19.5, 20.5] and a["mouth_xy"] == [19.5, 26.5]
    assert (a["hair_color"], a["eye_color"], a["skin_color"]) == ("pink", "blue", "fair")
    assert a["hair_lab"] == [round(float(v), 1) for v in rgb_to_lab(np.array([(246, 164, 192)], np.uint8))[0]]


def test_attributes_with_animecharacterparsing_names():
    """hair / face / eyes / mouth (one eyes class, no nose): the two eye pieces are found as components."""
    labelmap = LabelMap.from_classes(["hair", "face", "eyes", "mouth"], name="acp-like")
    image, mask = _face((240, 214, 128), (58, 150, 82), (200, 150, 120), labelmap, eyes=("eyes",))
    a = compute_attributes(image, mask, labelmap)
    assert a["eye_centers_xy"] == [[13.5, 15.5], [25.5, 15.5]] and a["nose_xy"] is None
    assert (a["hair_color"], a["eye_color"], a["skin_color"]) == ("blonde", "green", "tan")


def test_missing_roles_give_none():
    labelmap = LabelMap.from_classes(["top", "bottom"], name="clothes")
    a = compute_attributes(np.zeros((8, 8, 3), np.uint8), np.ones((8, 8), np.uint8), labelmap)
    assert a["face_xyxy"] is None and a["eye_centers_xy"] == [] and a["hair_color"] is None


def _invoke(*args):
    return CliRunner().invoke(cli, [*[str(a) for a in args]])


@pytest.fixture()
def faces(tmp_path, danbooru):
    """Four faces: pink, pink, black and blonde hair; characters nino, nino, miku, miku."""
    root = tmp_path / "ds"
    hair = [(246, 164, 192), (240, 150, 185), (25, 22, 28), (240, 214, 128)]
    with Dataset.create(root, labelmap=danbooru) as ds:
        for i, rgb in enumerate(hair):
            image, mask = _face(rgb, (58, 100, 204), (252, 226, 208), danbooru)
            image[39, 39] = i  # distinct pixels, distinct samples
            Image.fromarray(image).save(tmp_path / f"f{i}.png")
            ds.add_sample(tmp_path / f"f{i}.png", masks={"gt": MaskInput(mask)}, character=["nino", "miku"][i // 2])
    return root


def test_attributes_are_stored_and_recomputed_when_the_mask_changes(faces, danbooru):
    r = _invoke("attributes", faces)
    assert r.exit_code == 0 and "4 computed, 0 already current" in r.output, r.output
    assert "pink    2" in r.output
    r = _invoke("attributes", faces)
    assert "0 computed, 4 already current" in r.output
    with Dataset.open(faces, write=True) as ds:
        sid = ds.samples_of_character("miku")[0]
        mask = ds.read_mask(sid)
        mask[:10] = 0  # the hair is gone
        ds.put_mask(sid, "gt", MaskInput(mask, origin={"kind": "human"}), replace=True)
        assert sid not in ds.attributes() and sid in ds.attributes(stale=True)
    r = _invoke("attributes", faces)
    assert "1 computed, 3 already current" in r.output
    with Dataset.open(faces) as ds:
        assert ds.attributes()[sid]["hair_color"] is None


def test_only_hair_color_and_split_group_read_the_attributes(faces):
    _invoke("attributes", faces)
    with Dataset.open(faces) as ds:
        pink = {s.id for s in ds.select(["hair_color:pink"])}
        assert len(pink) == 2 and pink == set(ds.samples_of_character("nino"))
        assert len(ds.select(["hair_color:pink", "character:miku"])) == 0
    for group in ("hair_color", "character"):
        r = _invoke("split", faces, "--ratios", "0.5,0.5", "--names", "train,val", "--group", group, "--dry-run")
        assert r.exit_code == 0, r.output
    r = _invoke("split", faces, "--ratios", "0.5,0.5", "--names", "train,val", "--group", "hair_color")
    with Dataset.open(faces) as ds:
        nino = {ds.sample(sid).split for sid in ds.samples_of_character("nino")}
        assert len(nino) == 1  # both pink-haired faces in one split


def test_stats_tables_per_character_and_colour(faces, tmp_path):
    with Dataset.open(faces) as ds:
        stats = compute_stats(ds, workers=0)
    chars = stats.characters.set_index("character")
    assert chars.loc["nino", ["samples", "labelled", "pixels"]].tolist() == [2, 2, 2 * H * W]
    assert chars.loc["nino", "hair"] == pytest.approx(10 * W / (H * W))
    colours = {(r.role, r.color): r.samples for r in stats.colour_counts.itertuples()}
    assert colours[("hair", "pink")] == 2 and colours[("hair", "black")] == 1 and colours[("skin", "fair")] == 4
    r = _invoke("stats", faces, "--out", tmp_path / "st", "--workers", "0")
    assert r.exit_code == 0, r.output
    table = pd.read_csv(tmp_path / "st" / "attributes.csv")
    assert json.loads(table["face_xyxy"][0]) == [8, 10, 32, 34]
    assert (tmp_path / "st" / "characters.png").is_file() and (tmp_path / "st" / "attribute_colours.png").is_file()
