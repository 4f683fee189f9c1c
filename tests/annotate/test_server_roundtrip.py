"""The round trip against a real Label Studio server: push prelabels, annotate through the API, pull, repeat.

The server fixture (conftest.py) starts once per session; the module fixture pushes five synthetic samples and
annotates them as annotators would (brush results, RLE from lsrle.encode_rle), then the tests pull.
"""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from animeparse import Dataset, load_labelmap
from animeparse.annotate import Connection, LabelStudioError, PullConfig, PushConfig, pull, push
from animeparse.cli.main import cli
from animeparse.demo.synth import generate_face
from animeparse.errors import LabelMapError
from animeparse.formats.lsrle import encode_rle, rle_to_alpha
from animeparse.rasterize import compose_by_priority
from animeparse.store import MaskInput

from ..conftest import require

require("label_studio_sdk", extra="labelstudio")

SIZE = 64


def brush(name: str, region: np.ndarray) -> dict[str, Any]:
    """A brush result the way the editor saves one: RLE of the RGBA stroke layer, alpha 255 inside."""
    h, w = region.shape
    return {"from_name": "label", "to_name": "image", "type": "brushlabels", "original_width": w,
            "original_height": h, "image_rotation": 0,
            "value": {"format": "rle", "rle": encode_rle(np.where(region, 255, 0).astype(np.uint8)),
                      "brushlabels": [name]}}


def annotation_of(mask: np.ndarray, labelmap) -> list[dict[str, Any]]:
    return [brush(labelmap.name_of(int(c)), mask == c) for c in np.unique(mask) if c != 0]


def decode(results: list[dict[str, Any]], labelmap) -> np.ndarray:
    regions = [(labelmap.id_of(r["value"]["brushlabels"][0]),
                rle_to_alpha(r["value"]["rle"], shape_hw=(r["original_height"], r["original_width"]),
                             source="test") >= 128) for r in results]
    return compose_by_priority((SIZE, SIZE), regions, labelmap)


@dataclass
class World:
    root: Path
    conn: Connection
    project_id: int
    tasks: dict[str, int]  # sample id -> task id
    truth: dict[str, np.ndarray]  # what the annotators' final annotations say
    prelabels: dict[str, np.ndarray]
    ids: list[str]


@pytest.fixture(scope="module")
def world(ls_server, tmp_path_factory) -> World:
    labelmap = load_labelmap("danbooru-parsing")
    root = tmp_path_factory.mktemp("ls-roundtrip") / "store"
    src = root.parent / "src"
    src.mkdir()
    prelabels: dict[str, np.ndarray] = {}
    truth: dict[str, np.ndarray] = {}
    with Dataset.create(root, labelmap=labelmap) as ds:
        for i in range(5):
            image, mask = generate_face(11, i, size=SIZE)
            Image.fromarray(image).save(src / f"face{i}.png")
            sample, _ = ds.add_sample(src / f"face{i}.png")
            pre = mask.copy()
            pre[pre == 17] = 1  # the pre-labeler missed the hair: annotators paint it back
            ds.put_mask(sample.id, "prelabel/test", MaskInput(pre, origin={"kind": "machine", "run": "test"},
                                                              score=0.5 + i / 10))
            prelabels[sample.id], truth[sample.id] = pre, mask
        ids = [s.id for s in ds.samples()]
        conn = Connection.open(ls_server.url, ls_server.token)
        report = push(ds, conn, PushConfig(project="roundtrip", layer="prelabel/test", images="local-files",
                                           document_root=ls_server.files_root))
    assert (report.tasks_created, report.predictions_added, report.project_created) == (5, 5, True)
    tasks = {t.data["sample_id"]: t.id for t in conn.tasks(report.project_id)}
    sdk = conn._client
    # annotators: samples 0-2 corrected; sample 1 twice (a wrong first try, then the right one); sample 3
    # skipped (cancelled); sample 4 untouched
    for k, sid in enumerate(ids[:3]):
        if k == 1:
            sdk.annotations.create(tasks[sid], result=annotation_of(prelabels[sid], labelmap), was_cancelled=False)
        sdk.annotations.create(tasks[sid], result=annotation_of(truth[sid], labelmap), was_cancelled=False)
    sdk.annotations.create(tasks[ids[3]], result=[], was_cancelled=True)
    return World(root=root, conn=conn, project_id=report.project_id, tasks=tasks, truth=truth,
                 prelabels=prelabels, ids=ids)


def test_push_made_one_task_per_sample_with_the_prelabels_as_predictions(world, ls_server):
    labelmap = load_labelmap("danbooru-parsing")
    assert sorted(world.tasks) == sorted(world.ids)
    predictions = world.conn._client.predictions.list(project=world.project_id)
    assert len(predictions) == 5 and {p.model_version for p in predictions} == {"test"}
    by_task = {p.task: p for p in predictions}
    for sid, tid in world.tasks.items():
        assert np.array_equal(decode(by_task[tid].result, labelmap), world.prelabels[sid])
        assert len(by_task[tid].result) == len(np.unique(world.prelabels[sid])) - 1  # one region per class
    # the image is served from the store through the local-files storage
    task = world.conn._client.tasks.get(str(world.tasks[world.ids[0]]))
    request = urllib.request.Request(ls_server.url + task.data["image"],
                                      headers={"Authorization": f"Token {ls_server.token}"})
    with urllib.request.urlopen(request, timeout=10) as reply, Dataset.open(world.root) as ds:
        assert reply.read() == ds.image_path(world.ids[0]).read_bytes()


def test_pull_stores_the_annotations_pixel_for_pixel(world):
    with Dataset.open(world.root, write=True) as ds:
        report = pull(ds, world.conn, PullConfig(project="roundtrip"))
        assert sorted(report.added) == sorted(world.ids[:3])
        assert report.no_annotation == [world.ids[3]] and not report.errors
        assert [(r["sample_id"], r["annotations"]) for r in report.several] == [(world.ids[1], 2)]
        for sid in world.ids[:3]:
            assert np.array_equal(ds.read_mask(sid, "gt"), world.truth[sid])
            origin = ds.mask_record(sid, "gt").origin
            assert origin["kind"] == "human" and origin["annotator"] == "annotator@example.com"
            assert origin["task_id"] == world.tasks[sid] and origin["annotation_id"] and origin["updated_at"]
            assert ds.sample(sid).status == "annotated"
        assert ds.read_mask(world.ids[3], "gt") is None and ds.read_mask(world.ids[4], "gt") is None
        assert ds.runs(kind="ls-pull")[-1].status == "finished"


def test_second_push_and_pull_change_nothing(world):
    with Dataset.open(world.root, write=True) as ds:
        pull(ds, world.conn, PullConfig(project="roundtrip"))
        before = {sid: ds.mask_record(sid, "gt") for sid in world.ids}
        again = push(ds, world.conn, PushConfig(project="roundtrip", layer="prelabel/test", images="local-files",
                                                document_root=world.root.parents[1]))
        assert (again.tasks_created, again.tasks_existing, again.predictions_added) == (0, 5, 0)
        report = pull(ds, world.conn, PullConfig(project="roundtrip"))
        assert sorted(report.unchanged) == sorted(world.ids[:3]) and not report.added and not report.replaced
        assert {sid: ds.mask_record(sid, "gt") for sid in world.ids} == before
        assert all(ds.mask_history(sid) == [] for sid in world.ids)
    assert len(world.conn.tasks(world.project_id)) == 5


def test_newer_annotation_replaces_and_reviewed_needs_force(world):
    labelmap = load_labelmap("danbooru-parsing")
    reviewed, plain = world.ids[0], world.ids[2]
    changed = {sid: np.where(world.truth[sid] == 16, 14, world.truth[sid]).astype(np.uint8)
               for sid in (reviewed, plain)}  # cloth relabelled as neck
    sdk = world.conn._client
    for sid in (reviewed, plain):
        sdk.annotations.create(world.tasks[sid], result=annotation_of(changed[sid], labelmap), was_cancelled=False)
    with Dataset.open(world.root, write=True) as ds:
        ds.set_status(reviewed, "reviewed")
        report = pull(ds, world.conn, PullConfig(project="roundtrip"))
        assert report.replaced == [plain] and report.kept_reviewed == [reviewed]
        assert np.array_equal(ds.read_mask(plain, "gt"), changed[plain])
        assert len(ds.mask_history(plain)) == 1  # the old mask is kept
        assert np.array_equal(ds.read_mask(reviewed, "gt"), world.truth[reviewed])
        forced = pull(ds, world.conn, PullConfig(project="roundtrip", force=True))
        assert forced.replaced == [reviewed]
        assert np.array_equal(ds.read_mask(reviewed, "gt"), changed[reviewed])


def test_cli_upload_push_then_errors_name_the_fix(world, ls_server, tmp_path):
    env = {"LABEL_STUDIO_API_KEY": ls_server.token, "LABEL_STUDIO_URL": ls_server.url}
    runner = CliRunner()
    args = ["ls", "push", str(world.root), "--project", "uploads", "--images", "upload", "--layer", "none",
            "--limit", "2"]
    result = runner.invoke(cli, args, env=env)
    assert result.exit_code == 0, result.output
    assert "2 created" in result.output and ls_server.token not in result.output
    result = runner.invoke(cli, args, env=env)
    assert "0 created, 2 already there" in result.output
    project = world.conn.find_project("uploads")
    tasks = world.conn.tasks(project.id)
    assert len(tasks) == 2 and all(t.data["sample_id"] in world.ids for t in tasks)
    request = urllib.request.Request(ls_server.url + tasks[0].data["image"],
                                      headers={"Authorization": f"Token {ls_server.token}"})
    with urllib.request.urlopen(request, timeout=10) as reply, Dataset.open(world.root) as ds:
        assert reply.read() == ds.image_path(tasks[0].data["sample_id"]).read_bytes()

    # a wrong token, a missing project, labels the store does not know: one line each, with the fix
    bad = runner.invoke(cli, ["ls", "pull", str(world.root), "--project", "roundtrip", "--token", "0" * 40],
                        env={"LABEL_STUDIO_URL": ls_server.url})
    assert bad.exit_code == 1 and "401" in bad.output and "LABEL_STUDIO_API_KEY" in bad.output
    assert len(bad.output.strip().splitlines()) == 1
    missing = runner.invoke(cli, ["ls", "pull", str(world.root), "--project", "nope"], env=env)
    assert missing.exit_code == 1 and "no project titled 'nope'" in missing.output and "ls push" in missing.output
    world.conn.create_project("foreign", '<View><Image name="image" value="$image"/><BrushLabels name="label" '
                                         'toName="image"><Label value="hair"/><Label value="wings"/></BrushLabels>'
                                         '</View>')
    with Dataset.open(world.root, write=True) as ds:
        with pytest.raises(LabelMapError, match=r"label mismatch.*'wings'.*--map"):
            pull(ds, world.conn, PullConfig(project="foreign"))
        with pytest.raises(LabelStudioError, match=r"label mismatch.*'wings'"):
            push(ds, world.conn, PushConfig(project="foreign"))
    assert json.dumps(ls_server.token) not in ls_server.log.read_text(errors="replace")
