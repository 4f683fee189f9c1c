"""Character identity in Label Studio, without a server: the Choices block ``ls config --characters`` generates,
the choice pushed with the prediction (through an in-memory stand-in for the server) and pulled back."""

from __future__ import annotations

from typing import Any

from click.testing import CliRunner

from animeparse import load_labelmap
from animeparse.annotate import PullConfig, PushConfig, apply_export, push
from animeparse.annotate.client import ProjectInfo, TaskInfo
from animeparse.annotate.config import BRUSH_CONTROL, config_choices, config_labels, label_config
from animeparse.cli.main import cli
from animeparse.store import MaskInput

from ..conftest import make_pair


class FakeServer:
    """The few Connection calls push makes, kept in memory (uploads become tasks named like Label Studio's)."""

    url = "http://fake:8080"

    def __init__(self) -> None:
        self.projects: dict[int, ProjectInfo] = {}
        self.tasks_of: list[TaskInfo] = []
        self.predictions: list[dict[str, Any]] = []

    def find_project(self, title):
        return next((p for p in self.projects.values() if p.title == title), None)

    def create_project(self, title, label_config, *, description=""):
        self.projects[1] = ProjectInfo(id=1, title=title, label_config=label_config)
        return self.projects[1]

    def project(self, project_id):
        return self.projects[project_id]

    def update_project(self, project_id, **fields):
        pass

    def tasks(self, project_id):
        return list(self.tasks_of)

    def upload_images(self, project_id, files):
        for name, _path in files:
            self.tasks_of.append(TaskInfo(id=100 + len(self.tasks_of), data={"image": name},
                                          file_upload=f"abcdef12-{name}"))
        return []

    def update_task_data(self, task_id, data):
        self.tasks_of = [TaskInfo(t.id, dict(data), t.file_upload) if t.id == task_id else t for t in self.tasks_of]

    def import_predictions(self, project_id, predictions):
        self.predictions += predictions
        return len(predictions)


def test_config_gets_a_single_choice_block_and_keeps_the_brush_labels():
    labelmap = load_labelmap("danbooru-parsing")
    plain, with_chars = label_config(labelmap), label_config(labelmap, characters=["nino", "miku"])
    assert config_choices(with_chars) == {"character": ["nino", "miku"]} and config_choices(plain) == {}
    assert config_labels(with_chars) == config_labels(plain)
    assert 'choice="single"' in with_chars


def test_cli_config_characters_from_a_list_or_a_store(store, tmp_path):
    r = CliRunner().invoke(cli, ["ls", "config", "--characters", "ichika,nino"])
    assert r.exit_code == 0 and config_choices(r.output) == {"character": ["ichika", "nino"]}
    store.declare_characters({"zero_two": "Zero Two", "hiro": None})
    root = store.root
    store.close()
    r = CliRunner().invoke(cli, ["ls", "config", "--labelmap", str(root / "labelmap.json"), "--characters", root])
    assert r.exit_code == 0 and config_choices(r.output) == {"character": ["hiro", "zero_two"]}
    r = CliRunner().invoke(cli, ["ls", "config", "--characters", "a,none"])
    assert r.exit_code != 0 and "reserved" in r.output


def _samples(store, tmp_path, characters):
    """Samples s0, s1, ... with these characters; returns {name: id} in that order."""
    for i, character in enumerate(characters):
        image, _, _ = make_pair(tmp_path / "src", f"s{i}", seed=i)
        store.add_sample(image, character=character)
    by_name = {s.name: s.id for s in store.samples()}
    return {f"s{i}.png": by_name[f"s{i}.png"] for i in range(len(characters))}


def test_push_sends_the_character_with_the_prediction(store, tmp_path):
    ids = _samples(store, tmp_path, ["nino", None])
    for sid in ids.values():
        store.put_mask(sid, "prelabel/run1", MaskInput(store.read_image(sid)[..., 0] % 2, origin={"kind": "machine"}))
    server = FakeServer()
    push(store, server, PushConfig(project="faces"))  # type: ignore[arg-type]  # the stand-in
    assert config_choices(server.projects[1].label_config) == {"character": ["nino"]}
    by_task = {p["task"]: p for p in server.predictions}
    assert len(by_task) == 2 and {p["model_version"] for p in by_task.values()} == {"run1"}
    choices = [[r["value"]["choices"] for r in p["result"] if r["type"] == "choices"] for p in by_task.values()]
    assert sorted(choices) == [[], [["nino"]]]
    assert all(any(r["from_name"] == BRUSH_CONTROL for r in p["result"]) for p in by_task.values())


def test_push_without_a_mask_layer_sends_the_characters_alone(store, tmp_path):
    _samples(store, tmp_path, ["nino", "miku", None])
    server = FakeServer()
    push(store, server, PushConfig(project="faces"))  # type: ignore[arg-type]
    assert sorted(p["result"][0]["value"]["choices"][0] for p in server.predictions) == ["miku", "nino"]
    assert {p["model_version"] for p in server.predictions} == {"character"}
    assert all(len(p["result"]) == 1 for p in server.predictions)


def _choice(character):
    return {"id": "c1", "from_name": "character", "to_name": "image", "type": "choices",
            "value": {"choices": [character]}}


def test_pull_takes_the_choice_of_the_latest_live_annotation(store, tmp_path):
    ids = list(_samples(store, tmp_path, ["nino", "nino", "miku"]).values())

    def task(tid, sid, *annotations):
        return {"id": tid, "data": {"image": "x.png", "sample_id": sid}, "annotations": list(annotations)}

    tasks = [
        task(1, ids[0], {"id": 11, "updated_at": "2026-01-01T00:00:00Z", "result": [_choice("miku")]},
             {"id": 12, "updated_at": "2026-01-02T00:00:00Z", "result": [_choice("itsuki")]}),
        task(2, ids[1], {"id": 21, "updated_at": "2026-01-03T00:00:00Z", "result": [_choice("miku")],
                         "was_cancelled": True}),
        task(3, ids[2], {"id": 31, "updated_at": "2026-01-01T00:00:00Z", "result": []}),
    ]
    report = apply_export(store, tasks, config=PullConfig(project="faces"), project=ProjectInfo(1, "faces", ""),
                          url="http://fake")
    assert report.characters_set == [ids[0]]
    assert [store.sample(sid).character for sid in ids] == ["itsuki", "nino", "miku"]
