"""Pull rules on exported task lists, without a server: which annotation wins, what replaces what, what is kept."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from animeparse.annotate import PullConfig, apply_export, mask_to_results, select_samples
from animeparse.annotate.client import ProjectInfo
from animeparse.annotate.push import resolve_layer
from animeparse.errors import AnimeparseError, LabelMapError, StoreError
from animeparse.formats.lsrle import encode_rle
from animeparse.store import MaskInput

from ..conftest import make_pair

PROJECT = ProjectInfo(id=7, title="faces", label_config="")
URL = "http://ls.example:8080"
H, W = 24, 32


@pytest.fixture()
def samples(store, tmp_path):
    """Three samples without gt; returns their ids in store order."""
    for i in range(3):
        image, _, _ = make_pair(tmp_path / "src", f"s{i}", seed=i)
        store.add_sample(image)
    return [s.id for s in store.samples()]


def mask_of(*boxes: tuple[int, int, int, int, int]) -> np.ndarray:
    """HxW uint8 mask from (class id, y0, y1, x0, x1) boxes painted in order."""
    mask = np.zeros((H, W), np.uint8)
    for cid, y0, y1, x0, x1 in boxes:
        mask[y0:y1, x0:x1] = cid
    return mask


def annotation(aid: int, mask: np.ndarray, updated: str, *, cancelled: bool = False,
               extra: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"id": aid, "completed_by": 3, "was_cancelled": cancelled, "updated_at": updated,
            "result": [*mask_to_results(mask, _labelmap()), *(extra or [])]}


def task(tid: int, sid: str, *annotations: dict[str, Any]) -> dict[str, Any]:
    return {"id": tid, "data": {"image": f"/data/upload/7/abcdef12-{sid}.png", "sample_id": sid},
            "annotations": list(annotations), "predictions": [1]}


def _labelmap():
    from animeparse import load_labelmap

    return load_labelmap("danbooru-parsing")


def pull_tasks(store, tasks, **config: Any):
    return apply_export(store, tasks, config=PullConfig(project="faces", **config), project=PROJECT, url=URL,
                        users={3: "ann@example.com"}, run_id="ls-pull-test")


HAIR = mask_of((17, 0, 10, 0, 32), (1, 10, 24, 8, 24))
HAIR_EYE = mask_of((17, 0, 10, 0, 32), (1, 10, 24, 8, 24), (4, 12, 14, 10, 13), (255, 20, 24, 0, 4))


def test_latest_non_cancelled_annotation_wins_and_is_reported(store, samples):
    a, b, c = samples
    tasks = [
        # the later updated_at wins even with the lower id; a cancelled later one does not count
        task(1, a, annotation(11, HAIR_EYE, "2026-01-02T10:00:00.5Z"), annotation(12, HAIR, "2026-01-02T10:00:00Z"),
             annotation(13, HAIR, "2026-01-03T00:00:00Z", cancelled=True)),
        task(2, b, annotation(21, HAIR, "2026-01-01T00:00:00Z")),
        task(3, c, annotation(31, HAIR, "2026-01-01T00:00:00Z", cancelled=True)),
    ]
    report = pull_tasks(store, tasks)
    assert report.added == [a, b] and report.no_annotation == [c]
    assert report.several == [{"sample_id": a, "task_id": 1, "annotations": 2, "chosen": 11}]
    assert np.array_equal(store.read_mask(a, "gt"), HAIR_EYE)  # ignore (255) and priority survive the trip
    origin = store.mask_record(a, "gt").origin
    assert (origin["annotation_id"], origin["annotator"], origin["task_id"]) == (11, "ann@example.com", 1)
    assert (origin["url"], origin["project_id"], origin["kind"]) == (URL, 7, "human")


def test_same_annotation_or_same_pixels_write_nothing(store, samples):
    a = samples[0]
    pull_tasks(store, [task(1, a, annotation(11, HAIR, "2026-01-01T00:00:00Z"))])
    record = store.mask_record(a, "gt")
    assert pull_tasks(store, [task(1, a, annotation(11, HAIR, "2026-01-01T00:00:00Z"))]).unchanged == [a]
    assert pull_tasks(store, [task(1, a, annotation(12, HAIR, "2026-02-01T00:00:00Z"))]).unchanged == [a]
    assert store.mask_record(a, "gt") == record and store.mask_history(a) == []


def test_newer_replaces_older_is_kept_unless_forced(store, samples):
    a = samples[0]
    pull_tasks(store, [task(1, a, annotation(11, HAIR, "2026-01-02T00:00:00Z"))])
    newer = pull_tasks(store, [task(1, a, annotation(12, HAIR_EYE, "2026-01-03T00:00:00Z"))])
    assert newer.replaced == [a] and len(store.mask_history(a)) == 1
    # the newest annotation was deleted in Label Studio: the remaining older one does not overwrite
    older = pull_tasks(store, [task(1, a, annotation(11, HAIR, "2026-01-02T00:00:00Z"))])
    assert older.kept_newer == [a] and np.array_equal(store.read_mask(a, "gt"), HAIR_EYE)
    forced = pull_tasks(store, [task(1, a, annotation(11, HAIR, "2026-01-02T00:00:00Z"))], force=True)
    assert forced.replaced == [a] and np.array_equal(store.read_mask(a, "gt"), HAIR)


def test_gt_from_elsewhere_newer_than_the_annotation_is_kept(store, samples):
    a, b = samples[:2]
    for sid in (a, b):
        store.put_mask(sid, "gt", MaskInput(HAIR, origin={"kind": "import"}))
    report = pull_tasks(store, [task(1, a, annotation(11, HAIR_EYE, "2001-01-01T00:00:00Z")),
                                task(2, b, annotation(21, HAIR_EYE, "2999-01-01T00:00:00Z"))])
    assert report.kept_newer == [a] and report.replaced == [b]


def test_reviewed_masks_need_force(store, samples):
    a = samples[0]
    pull_tasks(store, [task(1, a, annotation(11, HAIR, "2026-01-01T00:00:00Z"))])
    store.set_status(a, "reviewed")
    later = [task(1, a, annotation(12, HAIR_EYE, "2026-01-05T00:00:00Z"))]
    assert pull_tasks(store, later).kept_reviewed == [a]
    assert np.array_equal(store.read_mask(a, "gt"), HAIR) and store.sample(a).status == "reviewed"
    assert pull_tasks(store, later, force=True).replaced == [a]


def test_unknown_labels_stop_the_pull_listing_them(store, samples):
    bad = {"id": "x", "from_name": "label", "to_name": "image", "type": "brushlabels", "original_width": W,
           "original_height": H, "value": {"format": "rle", "rle": encode_rle(HAIR), "brushlabels": ["Wings"]}}
    tasks = [task(1, samples[0], annotation(11, HAIR, "2026-01-01T00:00:00Z", extra=[bad]))]
    with pytest.raises(LabelMapError, match=r"label mismatch in project 'faces'.*'Wings' \(1x\).*--map"):
        pull_tasks(store, tasks)
    assert store.mask_record(samples[0], "gt") is None
    assert pull_tasks(store, tasks, class_map={"Wings": "ignore"}).added == [samples[0]]


def test_sam_prompts_are_dropped_and_foreign_tasks_skipped(store, samples):
    box = {"id": "p", "from_name": "sam_box", "to_name": "image", "type": "rectanglelabels", "original_width": W,
           "original_height": H, "value": {"x": 0, "y": 0, "width": 100, "height": 100, "rotation": 0,
                                           "rectanglelabels": ["hat"]}}
    tasks = [task(1, samples[0], annotation(11, HAIR, "2026-01-01T00:00:00Z", extra=[box])),
             task(2, "0123456789abcdef", annotation(21, HAIR, "2026-01-01T00:00:00Z")),
             {"id": 3, "data": {"image": "x.png"}, "annotations": []}]
    report = pull_tasks(store, tasks)
    assert np.array_equal(store.read_mask(samples[0], "gt"), HAIR)  # no hat box painted
    assert report.unknown_tasks == [2, 3] and report.added == [samples[0]]


def test_a_bad_region_is_an_error_for_its_task_only(store, samples):
    broken = annotation(11, HAIR, "2026-01-01T00:00:00Z")
    broken["result"][0]["value"]["rle"] = broken["result"][0]["value"]["rle"][:9]
    report = pull_tasks(store, [task(1, samples[0], broken),
                                task(2, samples[1], annotation(21, HAIR, "2026-01-01T00:00:00Z"))])
    assert report.added == [samples[1]] and len(report.errors) == 1
    assert report.errors[0].startswith(f"task 1 (sample {samples[0]}): ") and "truncated" in report.errors[0]


def test_push_selection_filters_orders_and_limits(store, samples):
    a, b, c = samples
    for sid, score in ((a, 0.9), (b, 0.1)):
        store.put_mask(sid, "prelabel/r1", MaskInput(HAIR, origin={"kind": "machine"}, score=score))
    store.put_mask(c, "gt", MaskInput(HAIR, origin={"kind": "human"}))
    store.add_tags(a, ["hard"])
    assert [s.id for s in select_samples(store, layer="prelabel/r1")] == [b, a, c]  # lowest score first
    assert [s.id for s in select_samples(store, only=("unlabeled",), layer="prelabel/r1", limit=1)] == [b]
    assert [s.id for s in select_samples(store, only=("tag:hard", "unlabeled"))] == [a]
    assert [s.id for s in select_samples(store, only=("labeled",))] == [c]
    with pytest.raises(AnimeparseError, match="unknown --only filter 'nope'"):
        select_samples(store, only=("nope",))
    assert resolve_layer(store, None) == "prelabel/r1" and resolve_layer(store, "none") is None
    store.put_mask(a, "prelabel/r2", MaskInput(HAIR, origin={"kind": "machine"}))
    with pytest.raises(StoreError, match="2 prelabel layers.*--layer"):
        resolve_layer(store, None)
    with pytest.raises(StoreError, match="no mask layer 'prelabel/zz'"):
        resolve_layer(store, "prelabel/zz")


def test_a_second_project_sharing_samples_is_refused_unless_forced(store, samples):
    a, b, _ = samples
    pull_tasks(store, [task(1, a, annotation(11, HAIR, "2026-01-01T00:00:00Z")),
                       task(2, b, annotation(21, HAIR, "2026-01-01T00:00:00Z"))])
    other = ProjectInfo(id=8, title="faces-2", label_config="")
    second = [task(5, a, annotation(51, HAIR_EYE, "2026-02-01T00:00:00Z")),
              task(6, b, annotation(61, HAIR, "2026-02-01T00:00:00Z"))]  # b: same pixels, no conflict
    with pytest.raises(AnimeparseError) as refused:
        apply_export(store, second, config=PullConfig(project="faces-2"), project=other, url=URL)
    message = str(refused.value)
    assert f"sample {a} has gt pulled from project 'faces' (id 7 on {URL})" in message
    assert f"pulling project 'faces-2' (id 8 on {URL})" in message and "--force" in message
    assert "nothing was written" in message and np.array_equal(store.read_mask(a, "gt"), HAIR)
    # the same project again is no conflict; --force lets the newer annotation win
    assert pull_tasks(store, [task(1, a, annotation(11, HAIR, "2026-01-01T00:00:00Z"))]).unchanged == [a]
    report = apply_export(store, second, config=PullConfig(project="faces-2", force=True), project=other, url=URL)
    assert report.replaced == [a] and report.unchanged == [b]
    assert np.array_equal(store.read_mask(a, "gt"), HAIR_EYE)
    assert store.mask_record(a, "gt").origin["project"] == "faces-2"
