"""Bundled label-map colours: distinct for normal and red-green colour-blind vision where the project owns them, the
seed datasets' own colours kept where a seed defines them, and the ΔE arithmetic checked on known values."""

from __future__ import annotations

import pytest

from animeparse import load_labelmap
from animeparse.colours import close_pairs, delta_e, ignore_colour, min_delta_e, simulate, text_colour
from animeparse.labelmap import builtin_labelmaps

# Maps whose colours a seed defines; they stay as the seed has them (docs/view.md, "Colours").
# danbooru-parsing / celebamask-hq: face-parsing.PyTorch's CelebAMask-HQ part colours (hair, cloth and hat are
# three near-identical yellows there); anime-character-parsing-*: the author's get_class_colors.
SEEDED = {"danbooru-parsing", "celebamask-hq", "anime-character-parsing-13", "anime-character-parsing-16"}
OWNED = sorted(set(builtin_labelmaps()) - SEEDED)

# the face-parsing convention (zllrunning/face-parsing.PyTorch part_colors), in face-parsing id order
FACE_PARSING = [(255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 0, 85), (255, 0, 170), (0, 255, 0), (85, 255, 0),
                (170, 255, 0), (0, 255, 85), (0, 255, 170), (0, 0, 255), (85, 0, 255), (170, 0, 255), (0, 85, 255),
                (0, 170, 255), (255, 255, 0), (255, 255, 85), (255, 255, 170)]


def test_every_bundled_map_is_owned_or_seeded():
    assert OWNED == ["character-parsing", "manga-page"]
    assert set(builtin_labelmaps()) >= SEEDED


@pytest.mark.parametrize("name", OWNED)
def test_owned_maps_are_distinct_for_colour_blind_vision(name):
    lm = load_labelmap(name)
    named = {c.name: c.color for c in lm.classes if c.id != 0}
    assert close_pairs(named, threshold=11.0) == []
    ignore = ignore_colour([c.color for c in lm.classes])
    assert ignore != (255, 255, 255)
    assert min(delta_e(ignore, c, vision=v) for c in named.values() for v in ("normal", "protan", "deutan")) >= 10


def test_danbooru_parsing_keeps_the_face_parsing_colours():
    lm = load_labelmap("danbooru-parsing")
    assert [c.color for c in lm.classes if c.id != 0] == FACE_PARSING
    # and that is why the review tools add names and outlines: the seed's yellows are too close to tell apart
    assert delta_e(lm["hair"].color, lm["cloth"].color) < 5
    assert {("cloth", "hair"), ("hair", "hat")} <= {tuple(sorted((p.a, p.b))) for p in close_pairs(
        {c.name: c.color for c in lm.classes if c.id}, threshold=11.0, visions=["normal"])}


def test_delta_e_known_values():
    assert delta_e((0, 0, 0), (255, 255, 255)) == pytest.approx(100.0, abs=0.01)  # L* 0 -> 100
    assert delta_e((255, 0, 0), (0, 255, 0)) > 50
    assert delta_e((128, 128, 128), (129, 128, 128)) < 1
    # red and green collapse for protanopes and deuteranopes; blue vs yellow does not
    assert delta_e((200, 60, 40), (90, 130, 40), vision="deutan") < delta_e((200, 60, 40), (90, 130, 40)) / 3
    assert delta_e((0, 0, 255), (255, 255, 0), vision="protan") > 50
    assert simulate([(10, 20, 30)], "normal").tolist() == [[10.0, 20.0, 30.0]]
    assert min_delta_e([(0, 0, 0)]) == float("inf")


def test_text_colour_reads_on_the_chip():
    assert text_colour((255, 255, 0)) == (0, 0, 0)
    assert text_colour((0, 0, 128)) == (255, 255, 255)
