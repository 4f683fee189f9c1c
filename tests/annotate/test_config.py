"""Labelling configs: generated from the label map (names, colours, order), committed copies match the generator."""

from __future__ import annotations

from xml.etree import ElementTree

import pytest
from click.testing import CliRunner

from animeparse import load_labelmap
from animeparse.annotate import bundled_configs, config_labels, label_config
from animeparse.annotate.config import unknown_config_labels
from animeparse.cli.main import cli
from animeparse.labelmap import LabelMap, builtin_labelmaps

from ..conftest import REPO

CONFIGS = REPO / "annotation_configs"


def test_committed_configs_equal_the_generator():
    expected = bundled_configs()
    committed = {p.name: p.read_text(encoding="utf-8") for p in CONFIGS.glob("*.xml")}
    assert sorted(committed) == sorted(expected), "regenerate: python -c 'from animeparse.annotate import " \
        "write_bundled_configs; from pathlib import Path; write_bundled_configs(Path(\"annotation_configs\"))'"
    for name, xml in expected.items():
        assert committed[name] == xml, f"annotation_configs/{name} differs from the generator; regenerate it"


@pytest.mark.parametrize("name", sorted(builtin_labelmaps()))
def test_brush_labels_follow_the_map(name):
    labelmap = load_labelmap(name)
    root = ElementTree.fromstring(label_config(labelmap))
    (brush,) = root.iter("BrushLabels")
    labels = [(lab.get("value"), lab.get("background")) for lab in brush.iter("Label")]
    expected = [(c.name, "#{:02x}{:02x}{:02x}".format(*c.color)) for c in labelmap.classes if c.id != 0]
    assert labels[:-1] == expected  # map order, map colours, background left out
    assert labels[-1][0] == "ignore"
    assert root.find("Image").get("value") == "$image"
    assert not list(root.iter("KeyPointLabels"))
    # labels above the image: the chips stay in view at a 1000 px high window whatever the image's size
    assert [child.tag for child in root] == ["BrushLabels", "Image"]
    assert labels[-1][1] not in {"#ffffff"}  # a white ignore chip is invisible on Label Studio's white page


def test_sam_prompt_controls_carry_the_same_labels():
    labelmap = load_labelmap("danbooru-parsing")
    xml = label_config(labelmap, sam=True)
    root = ElementTree.fromstring(xml)
    for tag in ("KeyPointLabels", "RectangleLabels"):
        (control,) = root.iter(tag)
        assert control.get("smart") == "true"
        assert [lab.get("value") for lab in control.iter("Label")] == config_labels(xml)["label"]
    assert unknown_config_labels(xml, labelmap) == []


def test_ignore_gets_a_visible_colour_away_from_the_classes():
    labelmap = LabelMap.from_json({"name": "w", "version": 1, "classes": [
        {"id": 0, "name": "background", "color": [0, 0, 0]}, {"id": 1, "name": "paper", "color": [255, 255, 255]}]})
    assert config_labels(label_config(labelmap)) == {"label": ["paper", "ignore"]}
    assert '<Label value="ignore" background="#808080"/>' in label_config(labelmap)
    greys = LabelMap.from_json({"name": "g", "version": 1, "classes": [
        {"id": 0, "name": "background", "color": [0, 0, 0]}, {"id": 1, "name": "steel", "color": [130, 130, 130]}]})
    assert '<Label value="ignore" background="#404040"/>' in label_config(greys)  # mid grey is taken: dark grey


def test_unknown_labels_are_listed():
    xml = '<View><Image name="image" value="$image"/><BrushLabels name="x" toName="image"><Label value="hair"/>' \
          '<Label value="Wings"/></BrushLabels></View>'
    assert unknown_config_labels(xml, load_labelmap("danbooru-parsing")) == ["Wings"]


def test_cli_config_prints_the_generator_output():
    result = CliRunner().invoke(cli, ["ls", "config", "--labelmap", "manga-page", "--sam"])
    assert result.exit_code == 0
    assert result.output == label_config(load_labelmap("manga-page"), sam=True)
    assert result.output == (CONFIGS / "manga-page-sam.xml").read_text(encoding="utf-8")
