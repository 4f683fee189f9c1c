"""``ls serve`` as Label Studio's ML backend, against the real server the suite starts (tests/annotate/conftest.py).

One module-scoped world: a store of generated 64 px faces (a tiny trained parser, one sample with a pre-label
layer), a test-made SAM in the official checkpoint layout (tests/prelabel), the tasks pushed to a project with the
interactive config, and the backend connected to that project through Label Studio's API. Label Studio then calls
the backend itself: ``/health`` and ``/setup`` on connecting, ``/predict`` when a task is opened and for an
interactive request, ``/webhook`` when an annotation is submitted.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from animeparse import Dataset
from animeparse.annotate import Connection, PushConfig, push
from animeparse.annotate.backend import BackendConfig
from animeparse.annotate.config import label_config
from animeparse.annotate.serve import MLBackendServer, make_server, serve_in_thread
from animeparse.formats.lsrle import rle_to_alpha
from animeparse.prelabel import TrainConfig, load_parser, parser_only, resolve_device, train_parser
from animeparse.store import MaskInput

from ..conftest import require
from ..prelabel import make_face_store, save_tiny_sam

require("label_studio_sdk", extra="labelstudio")
require("segment_anything", extra="sam")

SIZE = 64


@dataclass
class World:
    root: Path
    server: MLBackendServer
    conn: Connection
    project_id: int
    backend_id: int
    tasks: dict[str, int]  # sample id -> task id
    ids: list[str]  # 0-1: gt (train), 2-5: unlabelled
    prelabel: np.ndarray  # sample 2's prelabel/test mask
    sam_path: Path
    log: list[str]


class _Collect(logging.Handler):
    def __init__(self, sink: list[str]) -> None:
        super().__init__(logging.DEBUG)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self.sink.append(self.format(record))


def ls_api(world: World, method: str, path: str, body: Any = None) -> Any:
    """A call to Label Studio's own API with the test user's token (the SDK drops some replies' bodies)."""
    http = world.conn._client._client_wrapper.httpx_client
    reply = http.request(path, method=method, json=body, request_options={"timeout": 120})
    assert reply.status_code < 300, reply.text[:500]
    return reply.json() if reply.content else None


def backend_call(world: World, method: str, path: str, raw: bytes | None = None) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(world.server.url + path, data=raw, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def decode(result: dict[str, Any]) -> np.ndarray:
    return rle_to_alpha(result["value"]["rle"], shape_hw=(result["original_height"], result["original_width"]),
                        source="test") >= 128


@pytest.fixture(scope="module")
def world(ls_server, tmp_path_factory, one_torch_thread) -> World:
    base = tmp_path_factory.mktemp("ls-backend")
    ds = make_face_store(base, n_train=2, n_unlabeled=4, size=SIZE)
    try:
        train_parser(ds, TrainConfig(epochs=1, size=32, device="cpu", time_budget=None, unlabeled="none"))
        ids = sorted((s.id for s in ds.samples()), key=lambda sid: (ds.mask_record(sid, "gt") is None, sid))
        prelabel = ds.read_mask(ids[0], "gt")
        ds.put_mask(ids[2], "prelabel/test", MaskInput(prelabel, origin={"kind": "machine", "run": "test"},
                                                      score=0.5))
        conn = Connection.open(ls_server.url, ls_server.token)
        report = push(ds, conn, PushConfig(project="ml-backend", layer="none", images="local-files",
                                           document_root=ls_server.files_root, interactive=True))
    finally:
        ds.close()
    assert conn.project(report.project_id).label_config.strip() == label_config(ds.labelmap, interactive=True).strip()
    tasks = {t.data["sample_id"]: t.id for t in conn.tasks(report.project_id)}
    sam_path = save_tiny_sam(base / "sam_tiny.pth")
    lines: list[str] = []
    handler = _Collect(lines)
    logger = logging.getLogger("animeparse")
    level = logger.level  # restored after: a DEBUG level left behind would print INFO lines in later CLI tests
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    server = make_server(BackendConfig(dataset=ds.root, checkpoint=str(sam_path), device="cpu", retrain_every=2,
                                       train_epochs=1, train_size=32, train_minutes=None), port=0)
    serve_in_thread(server)
    world = World(root=ds.root, server=server, conn=conn, project_id=report.project_id, backend_id=0, tasks=tasks,
                  ids=ids, prelabel=prelabel, sam_path=sam_path, log=lines)
    # connecting: Label Studio checks /health, calls /setup, and makes the /webhook webhook
    made = ls_api(world, "POST", "api/ml", {"url": server.url, "project": report.project_id, "is_interactive": True,
                                            "title": "animeparse"})
    world.backend_id = int(made["id"])
    try:
        yield world
    finally:
        server.learner.wait(120)
        server.shutdown()
        server.server_close()
        logger.removeHandler(handler)
        logger.setLevel(level)


def test_connecting_calls_setup_and_opening_a_task_preannotates_it(world):
    state = ls_api(world, "GET", f"api/ml/{world.backend_id}")
    assert state["state"] == "CO" and state["model_version"].startswith("animeparse-sam-")  # connected, via /setup
    assert world.server.learner.server_url  # /setup named the Label Studio host
    # a task with a pre-label layer: opening it asks the backend, which answers with that layer
    task = ls_api(world, "GET", f"api/tasks/{world.tasks[world.ids[2]]}")
    (prediction,) = task["predictions"]
    assert prediction["model_version"] == "test" and prediction["score"] == pytest.approx(0.5)
    labelmap = world.server.backend.labelmap
    got = {r["value"]["brushlabels"][0]: decode(r) for r in prediction["result"]}
    want = {labelmap.name_of(int(c)): world.prelabel == c for c in np.unique(world.prelabel) if c}
    assert got.keys() == want.keys() and all(np.array_equal(got[k], want[k]) for k in want)
    # a task without one: the parser, run now, each region scored by its probability
    task = ls_api(world, "GET", f"api/tasks/{world.tasks[world.ids[3]]}")
    (prediction,) = task["predictions"]
    with Dataset.open(world.root) as ds:
        parser = load_parser(None, ds, resolve_device("cpu"))
        label = parser_only(parser.predict([ds.read_image(world.ids[3])])[0].numpy(), parser.class_ids).label_hw
    assert prediction["model_version"] == parser.source
    assert {r["value"]["brushlabels"][0] for r in prediction["result"]} == \
        {labelmap.name_of(int(c)) for c in np.unique(label) if c}
    for r in prediction["result"]:
        assert np.array_equal(decode(r), label == labelmap.id_of(r["value"]["brushlabels"][0]))
        assert 0.0 < r["score"] <= 1.0


def _segment_anything(world: World, image: np.ndarray, points: list[tuple[float, float]], labels: list[int],
                      box: list[float] | None = None) -> np.ndarray:
    """segment-anything's own predictor on the same checkpoint (float16 features, as the store's cache keeps)."""
    import torch
    from segment_anything import SamPredictor

    from animeparse.prelabel import load_sam

    predictor = SamPredictor(load_sam(world.sam_path, torch.device("cpu")).model)
    predictor.set_image(image)
    predictor.features = predictor.features.half().float()
    masks, scores, _ = predictor.predict(point_coords=np.array(points, np.float32) if points else None,
                                         point_labels=np.array(labels) if points else None,
                                         box=None if box is None else np.array(box, np.float32),
                                         multimask_output=len(points) == 1 and box is None)
    return masks[int(np.argmax(scores))]


def test_a_click_through_label_studio_returns_segment_anythings_region(world):
    sid = world.ids[4]
    with Dataset.open(world.root) as ds:
        image = ds.read_image(sid)
    click = {"type": "keypointlabels", "original_width": SIZE, "original_height": SIZE,
             "value": {"x": 50.0, "y": 25.0, "width": 1, "keypointlabels": ["hair"]}}
    reply = ls_api(world, "POST", f"api/ml/{world.backend_id}/interactive-annotating",
                   {"task": world.tasks[sid], "context": {"result": [click]}})
    (region,) = reply["data"]["result"]
    assert region["type"] == "brushlabels" and region["from_name"] == "label"
    assert region["value"]["brushlabels"] == ["hair"]
    assert np.array_equal(decode(region), _segment_anything(world, image, [(32.0, 16.0)], [1]))
    assert world.server.backend.last_timing["embedding_cached"] == 0.0
    cache = list((world.root / "cache" / "sam").glob(f"*/{sid}.pt"))
    assert len(cache) == 1  # computed once, kept in the store's cache
    # a negative click (the config's second keypoint label) refines it, from the cached embedding
    negative = {**click, "value": {"x": 20.0, "y": 80.0, "width": 1, "keypointlabels": ["negative"]}}
    reply = ls_api(world, "POST", f"api/ml/{world.backend_id}/interactive-annotating",
                   {"task": world.tasks[sid], "context": {"result": [click, negative]}})
    (region,) = reply["data"]["result"]
    assert np.array_equal(decode(region), _segment_anything(world, image, [(32.0, 16.0), (12.8, 51.2)], [1, 0]))
    assert world.server.backend.last_timing["embedding_cached"] == 1.0
    # a box in another class
    box = {"type": "rectanglelabels", "original_width": SIZE, "original_height": SIZE,
           "value": {"x": 25.0, "y": 50.0, "width": 50.0, "height": 25.0, "rectanglelabels": ["skin"]}}
    reply = ls_api(world, "POST", f"api/ml/{world.backend_id}/interactive-annotating",
                   {"task": world.tasks[sid], "context": {"result": [box]}})
    (region,) = reply["data"]["result"]
    assert region["value"]["brushlabels"] == ["skin"]
    assert np.array_equal(decode(region), _segment_anything(world, image, [], [], [16.0, 32.0, 48.0, 48.0]))


def test_bad_requests_get_a_4xx_with_one_message_and_the_backend_keeps_serving(world):
    task = {"id": world.tasks[world.ids[4]], "data": {"sample_id": world.ids[4]}}
    click = {"type": "keypointlabels", "value": {"x": 5, "y": 5, "keypointlabels": ["wings"]}}
    cases = [
        (b"{not json", 400, "not JSON"),
        (json.dumps({"tasks": "all"}).encode(), 400, "tasks list"),
        (json.dumps({"tasks": [{"id": 99, "data": {"sample_id": "nope"}}]}).encode(), 404, "not in the store"),
        (json.dumps({"tasks": [task], "params": {"context": {"result": [click]}}}).encode(), 422, "label map"),
    ]
    for raw, status, words in cases:
        code, body = backend_call(world, "POST", "/predict", raw)
        assert (code, words in body["error"]) == (status, True), body
    # an image the backend cannot read: a sample whose file is damaged
    with Dataset.open(world.root) as ds:
        path = ds.image_path(world.ids[5])
    good = path.read_bytes()
    path.write_bytes(b"not an image")
    try:
        code, body = backend_call(world, "POST", "/predict", json.dumps(
            {"tasks": [{"id": 1, "data": {"sample_id": world.ids[5]}}]}).encode())
    finally:
        path.write_bytes(good)
    assert code == 422 and "cannot read the image" in body["error"]
    # a store locked by another writer: the webhook says so and stores nothing; the payload waits in the inbox
    annotation = {"id": 10**6, "result": [], "completed_by": 1, "updated_at": "2026-01-01T00:00:00Z"}
    payload = {"action": "ANNOTATION_CREATED", "project": {"id": world.project_id, "title": "ml-backend"},
               "task": {"id": world.tasks[world.ids[5]], "data": {"sample_id": world.ids[5]}},
               "annotation": annotation}
    with Dataset.open(world.root, write=True):
        code, body = backend_call(world, "POST", "/webhook", json.dumps(payload).encode())
    assert code == 423 and "locked" in body["error"]
    assert len(list(world.server.learner.inbox.glob("*.json"))) == 1
    (world.server.learner.inbox / f"task{world.tasks[world.ids[5]]}-annotation{10**6}.json").unlink()
    assert backend_call(world, "GET", "/nowhere")[0] == 404
    assert backend_call(world, "GET", "/health")[1]["status"] == "UP"  # still serving
    # the token Label Studio's /setup sent is in no log line and no reply
    assert world.log and not any(world.server.learner._token in line for line in world.log)  # noqa: SLF001
    assert world.server.learner._token not in json.dumps(backend_call(world, "GET", "/health")[1])  # noqa: SLF001


def test_submitted_annotations_reach_the_store_and_retrain_after_n(world):
    labelmap = world.server.backend.labelmap
    sdk = world.conn._client
    with Dataset.open(world.root) as ds:
        truth = {sid: ds.read_mask(sid, "gt") for sid in world.ids[:1]}
    target = world.ids[3:5]
    painted = truth[world.ids[0]]
    for sid in target:  # annotators submit; Label Studio posts each to the backend's /webhook at once
        result = [{"from_name": "label", "to_name": "image", "type": "brushlabels", "original_width": SIZE,
                   "original_height": SIZE, "image_rotation": 0,
                   "value": {"format": "rle", "rle": _rle(painted == c), "brushlabels": [labelmap.name_of(int(c))]}}
                  for c in np.unique(painted) if c]
        sdk.annotations.create(world.tasks[sid], result=result, was_cancelled=False)
    with Dataset.open(world.root) as ds:
        for sid in target:
            assert np.array_equal(ds.read_mask(sid, "gt"), painted)
            origin = ds.mask_record(sid, "gt").origin
            assert origin["source"] == "label-studio" and origin["task_id"] == world.tasks[sid]
            assert origin["project_id"] == world.project_id and origin["annotation_id"] and origin["updated_at"]
            assert ds.run(origin["run"]).kind == "ls-pull" and ds.run(origin["run"]).params["via"] == "webhook"
    # the second annotation made N = 2: a retraining round runs in the background
    deadline = time.monotonic() + 180
    state = world.server.learner.state
    while state.trainings < 1 and not state.errors and time.monotonic() < deadline:
        time.sleep(0.5)
    assert state.trainings == 1 and not state.errors, state
    with Dataset.open(world.root) as ds:
        run = ds.run(state.last_parser)
        assert run.kind == "parser" and run.status == "finished" and run.params["samples"] == 4  # 2 + 2 new gt
        assert state.last_layer in ds.layers()
    # refreshed predictions for the unlabelled tasks, under the new run's id
    predictions = sdk.predictions.list(project=world.project_id)
    refreshed = {p.task for p in predictions if p.model_version == state.last_layer.split("/", 1)[1]}
    assert refreshed == {world.tasks[world.ids[2]], world.tasks[world.ids[5]]} and state.pushed == 2
    assert world.server.backend.config.parser == state.last_parser  # clicks now use the new parser


def _rle(region: np.ndarray) -> list[int]:
    from animeparse.formats.lsrle import encode_rle

    return encode_rle(np.where(region, 255, 0).astype(np.uint8))
