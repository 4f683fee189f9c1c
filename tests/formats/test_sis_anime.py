"""SIS-anime: export -> ingest through the CLI gives the same masks, splits and characters; class.txt's format, the
--class-line switch, and bad input refused with the file and line named."""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from animeparse import Dataset, MaskInput
from animeparse.cli.main import cli
from animeparse.demo.synth import generate_face


def _invoke(*args):
    return CliRunner().invoke(cli, [*[str(a) for a in args]])


@pytest.fixture()
def source(tmp_path, danbooru):
    """Five faces over train / val / test with three characters (one with a display name)."""
    root = tmp_path / "src-store"
    with Dataset.create(root, labelmap=danbooru) as ds:
        for i in range(5):
            image, mask = generate_face(7, i, size=48)
            if i == 2:
                mask[:3, :3] = 255
            path = tmp_path / f"face_{i}.png"
            Image.fromarray(image).save(path)
            ds.add_sample(path, masks={"gt": MaskInput(mask)}, split=("train", "train", "val", "test", "train")[i],
                          character=("nino", "miku", "nino", "zero_two", "miku")[i])
        ds.name_characters({"zero_two": "Zero Two"})
    return root


def _state(root):
    with Dataset.open(root) as ds:
        return {s.id: (s.split, s.character, ds.read_mask(s.id).tobytes()) for s in ds.samples()}, \
            {c.id: c.name for c in ds.characters()}


def test_export_then_ingest_gives_the_same_masks_splits_and_characters(tmp_path, source):
    out = tmp_path / "sis"
    r = _invoke("export", source, "--format", "sis-anime", "--out", out, "--workers", "0")
    assert r.exit_code == 0, r.output
    assert "class_num    3 (characters; the seed's --class_num)" in r.output
    assert sorted(p.name for p in (out / "images").iterdir()) == ["test", "training", "validation"]
    assert sorted(p.name for p in (out / "annotations" / "training").iterdir()) == ["face_0.png", "face_1.png",
                                                                                   "face_4.png"]
    with Image.open(out / "annotations" / "validation" / "face_2.png") as im:
        assert im.mode == "L"
    lines = (out / "class.txt").read_text().splitlines()
    assert sorted(lines) == ["face_0 1", "face_1 0", "face_2 1", "face_3 2", "face_4 0"]  # miku 0, nino 1, zero_two 2
    card = json.loads((out / "characters.json").read_text())
    assert card["class_num"] == 3 and [c["id"] for c in card["characters"]] == ["miku", "nino", "zero_two"]
    back = tmp_path / "back"
    assert _invoke("init", back).exit_code == 0
    r = _invoke("ingest", out, "--into", back, "--workers", "0")
    assert r.exit_code == 0 and "format: sis-anime" in r.output, r.output
    assert _state(back) == _state(source)


def test_tab_separated_and_file_names_are_read(tmp_path, source):
    out = tmp_path / "sis"
    assert _invoke("export", source, "--format", "sis-anime", "--out", out, "--workers", "0").exit_code == 0
    text = (out / "class.txt").read_text()
    (out / "class.txt").write_text(text.replace(" ", "\t"))
    back = tmp_path / "back"
    _invoke("init", back)
    assert _invoke("ingest", out, "--into", back, "--workers", "0").exit_code == 0
    assert _state(back)[0] == _state(source)[0]


def test_class_line_is_one_switch(tmp_path, source):
    out = tmp_path / "sis"
    r = _invoke("export", source, "--format", "sis-anime", "--out", out, "--workers", "0", "--class-line",
                "{name}\t{index}")
    assert r.exit_code == 0, r.output
    assert "face_3.png\t2" in (out / "class.txt").read_text().splitlines()
    back = tmp_path / "back"  # the reader takes file names and tabs too
    _invoke("init", back)
    assert _invoke("ingest", out, "--into", back, "--workers", "0").exit_code == 0
    assert _state(back)[0] == _state(source)[0]
    r = _invoke("export", source, "--format", "sis-anime", "--out", tmp_path / "bad", "--class-line", "{stem} {idx}")
    assert r.exit_code != 0 and "--class-line" in r.output and "{stem}, {name}, {index} and {character}" in r.output
    r = _invoke("export", source, "--format", "coco", "--out", tmp_path / "coco", "--class-line", "{stem}")
    assert r.exit_code != 0 and "--class-line applies to --format sis-anime" in r.output


def test_a_sample_without_a_character_is_refused(tmp_path, source):
    with Dataset.open(source, write=True) as ds:
        ds.set_character(ds.samples_of_character("miku"), None)
    r = _invoke("export", source, "--format", "sis-anime", "--out", tmp_path / "sis")
    assert r.exit_code != 0 and "2 of 5 samples have no character" in r.output
    assert not (tmp_path / "sis").exists()


@pytest.mark.parametrize("edit,message", [
    (lambda lines: lines + ["ghost 1"], "line 6: no image 'ghost' under images/"),
    (lambda lines: lines + [lines[0]], "line 6: image 'face_"),
    (lambda lines: [lines[0].split()[0] + " two", *lines[1:]], "line 1: character index 'two' is not an integer"),
    (lambda lines: [lines[0] + " extra", *lines[1:]], "line 1: expected '<image stem> <character index>'"),
], ids=["unknown-image", "duplicate", "non-integer", "three-fields"])
def test_bad_class_txt_is_refused_naming_file_and_line(tmp_path, source, edit, message):
    out = tmp_path / "sis"
    assert _invoke("export", source, "--format", "sis-anime", "--out", out, "--workers", "0").exit_code == 0
    lines = (out / "class.txt").read_text().splitlines()
    (out / "class.txt").write_text("\n".join(edit(lines)) + "\n")
    back = tmp_path / "back"
    _invoke("init", back)
    r = _invoke("ingest", out, "--into", back, "--workers", "0")
    assert r.exit_code != 0
    assert str(out / "class.txt") in r.output and message in r.output, r.output
    with Dataset.open(back) as ds:
        assert len(ds) == 0


def test_without_characters_json_the_indices_are_the_ids(tmp_path, source):
    out = tmp_path / "sis"
    assert _invoke("export", source, "--format", "sis-anime", "--out", out, "--workers", "0").exit_code == 0
    (out / "characters.json").unlink()
    back = tmp_path / "back"
    _invoke("init", back)
    assert _invoke("ingest", out, "--into", back, "--workers", "0").exit_code == 0
    with Dataset.open(back) as ds:
        assert sorted(c.id for c in ds.characters()) == ["0", "1", "2"]
        assert np.array_equal(ds.read_mask(ds.samples()[0].id), Dataset.open(source).read_mask(ds.samples()[0].id))
