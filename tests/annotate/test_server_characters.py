"""Characters against a real Label Studio server: the project's config takes the Choices block, predictions carry
the choice, and an annotator's choice comes back with the pull (one push, one pull: the server is slow to start)."""

from __future__ import annotations

from PIL import Image

from animeparse import Dataset, load_labelmap
from animeparse.annotate import Connection, PullConfig, PushConfig, pull, push
from animeparse.annotate.config import config_choices
from animeparse.demo.synth import generate_face
from animeparse.store import MaskInput

from ..conftest import require
from .test_server_roundtrip import annotation_of

require("label_studio_sdk", extra="labelstudio")


def test_characters_round_trip_through_label_studio(ls_server, tmp_path):
    labelmap = load_labelmap("danbooru-parsing")
    root = tmp_path / "store"
    truth = {}
    with Dataset.create(root, labelmap=labelmap) as ds:
        for i in range(2):
            image, mask = generate_face(13, i, size=48)
            Image.fromarray(image).save(tmp_path / f"c{i}.png")
            sample, _ = ds.add_sample(tmp_path / f"c{i}.png", character="nino")
            ds.put_mask(sample.id, "prelabel/chars", MaskInput(mask, origin={"kind": "machine"}))
            truth[sample.id] = mask
        ds.declare_characters({"nino": None, "miku": None})
        conn = Connection.open(ls_server.url, ls_server.token)
        report = push(ds, conn, PushConfig(project="characters", images="local-files",
                                           document_root=ls_server.files_root))
    assert report.predictions_added == 2
    assert config_choices(conn.project(report.project_id).label_config) == {"character": ["miku", "nino"]}
    sdk = conn._client
    predictions = sdk.predictions.list(project=report.project_id)
    assert all({"type": "choices", "from_name": "character", "value": {"choices": ["nino"]}}.items()
               <= {k: r[k] for k in ("type", "from_name", "value")}.items()
               for p in predictions for r in p.result if r["type"] == "choices")
    tasks = {t.data["sample_id"]: t.id for t in conn.tasks(report.project_id)}
    first, second = sorted(tasks)
    choice = {"id": "ch", "from_name": "character", "to_name": "image", "type": "choices",
              "value": {"choices": ["miku"]}}
    sdk.annotations.create(tasks[first], result=[*annotation_of(truth[first], labelmap), choice],
                           was_cancelled=False)
    sdk.annotations.create(tasks[second], result=annotation_of(truth[second], labelmap), was_cancelled=False)
    with Dataset.open(root, write=True) as ds:
        result = pull(ds, conn, PullConfig(project="characters"))
        assert result.characters_set == [first] and sorted(result.added) == sorted(tasks)
        assert (ds.sample(first).character, ds.sample(second).character) == ("miku", "nino")
