"""Generated full-body figures: exact anime-character-parsing-13 masks, recurring characters, the layout on disk,
``demo-data --kind character`` through the CLI and the demo's full-body stage."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from animeparse import Dataset, load_labelmap
from animeparse.cli.main import cli
from animeparse.demo.figures import _mix, characters, figure_size_wh, generate_figure
from animeparse.formats import detect_format

SIZE = 160
LM = load_labelmap("anime-character-parsing-13")


@pytest.fixture(scope="module")
def figures():
    return [generate_figure(0, i, size=SIZE) for i in range(8)]


def test_figures_are_deterministic_and_sized(figures):
    image, mask, who = generate_figure(0, 3, size=SIZE)
    assert np.array_equal(image, figures[3][0]) and np.array_equal(mask, figures[3][1]) and who == figures[3][2]
    w, h = figure_size_wh(SIZE)
    assert image.shape == (h, w, 3) and mask.shape == (h, w) and mask.dtype == np.uint8
    assert not np.array_equal(figures[0][1], figures[4][1])  # same character, another pose


def test_every_class_of_the_map_is_drawn(figures):
    for _, mask, who in figures:
        assert sorted(np.unique(mask).tolist()) == LM.ids, who
        for class_id in LM.ids[1:]:
            assert (mask == class_id).sum() >= 4, (who, LM.name_of(class_id))


def test_pieces_fit_the_maps_max_parts(figures):
    """What the clean-up keeps (max_parts) must not cut generated ground truth: one face, two eyes, hands, feet."""
    for _, mask, who in figures:
        for name in ("face", "eyes", "hands", "feet"):
            n, _ = cv2.connectedComponents((mask == LM.id_of(name)).astype(np.uint8), connectivity=8)
            assert n - 1 == LM[name].max_parts, (who, name, n - 1)


def _dominant(image, region):
    colours, counts = np.unique(image[region].reshape(-1, 3), axis=0, return_counts=True)
    return tuple(int(v) for v in colours[counts.argmax()])


def test_characters_recur_with_their_colours(figures):
    designs = {c.id: c for c in characters(0, 4)}
    assert [who for _, _, who in figures] == ["aki", "ren", "sora", "yui"] * 2
    assert len({d.hair for d in designs.values()}) == 4 and len({d.top for d in designs.values()}) >= 3
    for image, mask, who in figures:
        # the picture is painted from the mask: each region's main colour is the character's
        assert _dominant(image, mask == LM.id_of("face")) == designs[who].skin, who
        assert _dominant(image, mask == LM.id_of("torso_wearing")) == designs[who].top, who
        # the front hair's colour, or the back hair's darker shade of it
        assert _dominant(image, mask == LM.id_of("hair")) in (designs[who].hair,
                                                              _mix(designs[who].hair, (30, 20, 40), 0.35)), who


def test_demo_data_character_through_the_cli_then_ingest(tmp_path):
    out = tmp_path / "figs"
    r = CliRunner().invoke(cli, ["demo-data", str(out), "--kind", "character", "-n", "8", "--size", "128"])
    assert r.exit_code == 0, r.output
    assert "8 figures of 4 characters" in r.output
    assert detect_format(out) == "anime-character-parsing"
    lines = (out / "characters.csv").read_text().splitlines()
    assert lines[0] == "image,character" and lines[1:3] == ["aki_0000.jpg,aki", "ren_0001.jpg,ren"]
    assert (out / "unsuper_train.txt").read_text() == "ren_0001\naki_0004\n"
    assert CliRunner().invoke(cli, ["init", str(tmp_path / "ds"), "--labelmap", "anime-character-parsing-13"]
                              ).exit_code == 0
    r = CliRunner().invoke(cli, ["ingest", str(out), "--into", str(tmp_path / "ds"), "--workers", "0",
                                 "--character-from", f"csv:{out / 'characters.csv'}"])
    assert r.exit_code == 0, r.output  # labelmap.json says the class set: no --source-labelmap needed
    with Dataset.open(tmp_path / "ds") as ds:
        assert len(ds.samples()) == 8 and len(ds.samples(layer="gt")) == 5
        assert {s.split for s in ds.samples()} == {"train", "val", "test"}
        assert all(s.name.startswith(f"{s.character}_") for s in ds.samples()), "characters.csv sets them"
    r = CliRunner().invoke(cli, ["demo-data", str(tmp_path / "x"), "--kind", "character", "--defects"])
    assert r.exit_code == 2 and "--defects makes faces" in r.output


def test_demo_full_body_stage(tmp_path):
    from animeparse.demo.pipeline import FIGURES, _figure_stage

    result = _figure_stage(tmp_path, seed=0, size=512, bar=lambda stage: None)
    assert "0 errors" in result.facts["figures"]
    with Dataset.open(tmp_path / "figures") as ds:
        assert ds.labelmap.name == "anime-character-parsing-13" and len(ds.samples()) == FIGURES
        assert {s.character for s in ds.samples()} == {"aki", "ren", "sora", "yui"}
        assert all(s.name.startswith(s.character + "_") for s in ds.samples())
    exported = tmp_path / "export-anime-character-parsing"
    assert (exported / "train.txt").read_text().split() == ["aki_0000", "ren_0005", "sora_0002", "yui_0003"]
    assert (exported / "unsuper_train.txt").read_text().split() == ["aki_0004", "ren_0001"]
    again = _figure_stage(tmp_path, seed=0, size=512, bar=lambda stage: None)  # resumable: nothing new
    assert "export anime-character-parsing" not in again.facts
