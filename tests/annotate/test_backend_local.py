"""``ls serve``'s pieces without a Label Studio server: prompt parsing, the parser fallback for clicks, the push
order, the interactive config. (The backend against the real server: test_ml_backend.py.)"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from animeparse import Dataset, load_labelmap
from animeparse.annotate.backend import Backend, BackendConfig, BackendError, brush_target
from animeparse.annotate.config import NEGATIVE_LABEL, PROMPT_CONTROLS, config_labels
from animeparse.annotate.prompts import PromptError, parse_prompt
from animeparse.annotate.ranking import order_samples
from animeparse.cli.main import cli
from animeparse.prelabel import TrainConfig, train_parser

from ..conftest import require
from ..prelabel import make_face_store

LABELMAP = load_labelmap("danbooru-parsing")


def point(x: float, y: float, label: str = "hair", **extra) -> dict:
    return {"type": "keypointlabels", "value": {"x": x, "y": y, "width": 1, "keypointlabels": [label]}, **extra}


def test_prompt_reads_percent_marks_as_pixels_with_negative_clicks():
    box = {"type": "rectanglelabels", "value": {"x": 10, "y": 20, "width": 50, "height": 25,
                                                "rectanglelabels": ["hair"]}}
    prompt = parse_prompt({"result": [point(50, 25), point(10, 90, NEGATIVE_LABEL),
                                      point(90, 90, "hair", is_positive=False), box]},
                          LABELMAP, shape_hw=(40, 200))
    assert prompt.class_name == "hair"
    assert prompt.points_xy.tolist() == [[100.0, 10.0], [20.0, 36.0], [180.0, 36.0]]
    assert prompt.labels.tolist() == [1, 0, 0]
    assert prompt.box_xyxy.tolist() == [20.0, 8.0, 120.0, 18.0]
    assert parse_prompt({"result": []}, LABELMAP, shape_hw=(4, 4)) is None
    assert parse_prompt(None, LABELMAP, shape_hw=(4, 4)) is None


@pytest.mark.parametrize("context,words", [
    ({"result": [point(1, 1, "wings")]}, "not in the store's label map"),
    ({"result": [point(1, 1, "hair"), point(2, 2, "skin")]}, "several classes"),
    ({"result": [point(1, 1, NEGATIVE_LABEL)]}, "only negative clicks"),
    ({"result": [{"type": "polygonlabels", "value": {"points": [], "polygonlabels": ["hair"]}}]}, "keypointlabels"),
    ({"result": [point("a", 1)]}, "numeric value.x"),
    ({"result": "hair"}, "list of marks"),
    ([1, 2], "JSON object"),
], ids=["unknown-class", "two-classes", "negative-only", "polygon", "non-numeric", "not-a-list", "not-an-object"])
def test_bad_prompts_are_refused_with_the_reason(context, words):
    with pytest.raises(PromptError, match=words):
        parse_prompt(context, LABELMAP, shape_hw=(10, 10))


def test_brush_target_follows_the_projects_config():
    xml = '<View><Image name="img" value="$image"/><BrushLabels name="paint" toName="img"><Label value="hair"/>' \
          '</BrushLabels></View>'
    assert brush_target(xml) == ("paint", "img")
    assert brush_target(None) == ("label", "image")
    with pytest.raises(BackendError, match="no BrushLabels"):
        brush_target('<View><Image name="img" value="$image"/></View>')


def test_config_interactive_adds_the_negative_keypoint_label():
    result = CliRunner().invoke(cli, ["ls", "config", "--interactive"])
    assert result.exit_code == 0, result.output
    labels = config_labels(result.output)
    assert "label" in labels and NEGATIVE_LABEL not in labels["label"]  # never a class to paint
    assert set(PROMPT_CONTROLS) - set(labels) == {PROMPT_CONTROLS[0]}  # keypoints are not region controls here
    assert f'value="{NEGATIVE_LABEL}"' in result.output.split("<KeyPointLabels")[1].split("</KeyPointLabels>")[0]
    plain = CliRunner().invoke(cli, ["ls", "config", "--sam"]).output
    assert NEGATIVE_LABEL not in plain  # the bundled --sam configs are unchanged


@pytest.fixture(scope="module")
def store(tmp_path_factory, one_torch_thread):
    require("torch", extra="sam")
    ds = make_face_store(tmp_path_factory.mktemp("backend"), n_train=3, n_unlabeled=3, size=64)
    with ds:
        train_parser(ds, TrainConfig(epochs=1, size=32, device="cpu", time_budget=None, unlabeled="none"))
    return ds.root


def test_without_sam_a_click_returns_the_parsers_piece_under_it(store):
    backend = Backend(BackendConfig(dataset=store, sam="none", device="cpu"))
    assert backend.sam is None and backend.model_version == "animeparse-parser"
    with Dataset.open(store) as ds:
        sample = ds.samples()[0]
        image = ds.read_image(sample)
        probs = backend.parser(ds).predict([image])[0].numpy()
        label = backend.parser(ds).class_ids[probs.argmax(0)]
        # the class with the most pieces makes the clicks matter
        pieces = {c: cv2.connectedComponents((label == c).view(np.uint8), connectivity=8) for c in np.unique(label)}
        cid = max(pieces, key=lambda c: pieces[c][0])
        n, comp = pieces[cid]
        assert n >= 3, "the tiny parser's output should have a class in two pieces or more"
        first, second = (np.argwhere(comp == k)[0] for k in (1, 2))  # (y, x) inside pieces 1 and 2
        name = LABELMAP.name_of(int(cid))
        h, w = label.shape

        def ask(*marks):
            reply = backend.interactive(ds, sample, {"result": list(marks)})
            (region,) = reply["result"]
            assert region["value"]["brushlabels"] == [name] and reply["model_version"].startswith("parser-")
            from animeparse.formats.lsrle import rle_to_alpha
            return rle_to_alpha(region["value"]["rle"], shape_hw=(h, w), source="test") >= 128

        at = [(float((x + 0.5) * 100 / w), float((y + 0.5) * 100 / h)) for y, x in (first, second)]
        assert np.array_equal(ask(point(*at[0], name)), comp == 1)
        assert np.array_equal(ask(point(*at[0], name), point(*at[1], name)), (comp == 1) | (comp == 2))
        both_minus_second = ask(point(*at[0], name), point(*at[1], name), point(*at[1], NEGATIVE_LABEL))
        assert np.array_equal(both_minus_second, comp == 1)


def test_push_order_puts_the_least_certain_first(store):
    with Dataset.open(store) as ds:
        samples = ds.samples()
        ranked = order_samples(ds, samples, order="uncertainty", device="cpu")
        from animeparse.annotate.ranking import parser_entropy
        entropy = parser_entropy(ds, samples, device="cpu")
        assert [s.id for s in ranked] == sorted(entropy, key=lambda sid: -entropy[sid])
        assert all(0.0 <= v <= 1.0 for v in entropy.values()) and len(set(entropy.values())) == len(samples)
        assert [s.id for s in order_samples(ds, samples, order="id")] == sorted(s.id for s in samples)


def test_serve_refuses_a_checkpoint_that_is_not_sam_before_listening(store, tmp_path):
    bogus = tmp_path / "not_sam.pth"
    import torch

    torch.save({"weight": torch.zeros(2)}, bogus)
    result = CliRunner().invoke(cli, ["ls", "serve", str(store), "--checkpoint", str(bogus), "--port", "0"])
    assert result.exit_code != 0 and "segment-anything checkpoint" in result.output
    assert str(bogus) in result.output and "Traceback" not in result.output
