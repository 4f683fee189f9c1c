"""segment-anything code paths on the CPU with a tiny SAM built from segment-anything's own modules.

No official checkpoint can be downloaded here and vit_b costs ~20 s per image on this CPU, so a randomly
initialised tiny SAM saved in the official state-dict layout stands in; the official layouts are checked on the
meta device (shapes only, no memory).
"""

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from segment_anything import sam_model_registry

from animeparse import AnimeparseError, Dataset
from animeparse.cli.main import cli
from animeparse.prelabel import (
    SAM_ARCHS,
    EmbeddingCache,
    PrelabelConfig,
    TrainConfig,
    infer_sam_arch,
    load_sam,
    prelabel,
    train_parser,
)
from animeparse.prelabel.device import file_sha256

from . import make_face_store, save_tiny_sam, tiny_sam_arch

CPU = torch.device("cpu")


@pytest.mark.parametrize("name", ["vit_b", "vit_l", "vit_h"])
def test_official_layouts_are_recognised(name):
    with torch.device("meta"):
        state = sam_model_registry[name]().state_dict()
    assert infer_sam_arch(state) == SAM_ARCHS[name]


@pytest.fixture(scope="module")
def tiny_sam_path(tmp_path_factory):
    return save_tiny_sam(tmp_path_factory.mktemp("sam") / "tiny_sam.pth")


@pytest.fixture(scope="module")
def store_root(tmp_path_factory):
    """6 labelled faces (a 1-epoch parser is trained on them) and 4 unlabelled ones, 96 px."""
    root = tmp_path_factory.mktemp("samstore")
    with make_face_store(root, n_train=6, n_unlabeled=4, size=96) as ds:
        train_parser(ds, TrainConfig(epochs=1, size=64, device="cpu", run_id="p1"))
    return root / "store"


def test_checkpoint_loads_strictly_and_is_identified_by_sha256(tiny_sam_path):
    engine = load_sam(tiny_sam_path, CPU)
    assert engine.name == "custom" and engine.arch == tiny_sam_arch()
    assert engine.sha256 == file_sha256(tiny_sam_path)
    assert all(p.device.type == "cpu" for p in [*engine.model.parameters(), *engine.model.buffers()])
    ref = torch.load(tiny_sam_path, map_location="cpu", weights_only=True)
    assert torch.equal(engine.model.state_dict()["mask_decoder.iou_token.weight"], ref["mask_decoder.iou_token.weight"])
    with pytest.raises(AnimeparseError, match="--sam vit_b was asked for, but this checkpoint is custom"):
        load_sam(tiny_sam_path, CPU, expect="vit_b")


def test_non_sam_file_is_refused(tmp_path):
    torch.save({"encoder.weight": torch.zeros(2)}, tmp_path / "x.pth")
    with pytest.raises(AnimeparseError, match="not a segment-anything checkpoint in the official layout"):
        load_sam(tmp_path / "x.pth", CPU)


def test_batched_embeddings_are_cached_and_reused(tmp_path, tiny_sam_path):
    engine = load_sam(tiny_sam_path, CPU)
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (90, 120, 3), dtype=np.uint8), rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)]
    cache = EmbeddingCache(tmp_path, engine.sha256)
    first, encoded = engine.embeddings(images, ["a", "b"], cache)
    assert encoded == 2 and cache.path("a").is_file() and cache.path("a").parent.name == engine.sha256[:16]
    again, encoded = engine.embeddings(images, ["a", "b"], cache)
    assert encoded == 0
    for x, y in zip(first, again):
        assert torch.equal(x["embedding"], y["embedding"]) and x["original_size"] == y["original_size"]
    single = engine.encode(images[:1])[0]["embedding"].float()  # batching does not change the result
    assert torch.allclose(single, first[0]["embedding"].float(), atol=2e-2)
    assert first[0]["embedding"].shape == (32, 16, 16) and first[0]["input_size"] == [192, 256]


def test_segment_returns_a_mask_per_prompt_at_image_size(tiny_sam_path):
    engine = load_sam(tiny_sam_path, CPU)
    image = np.zeros((90, 120, 3), np.uint8)
    (entry,) = engine.encode([image])
    boxes = np.array([[10, 10, 60, 50], [40, 20, 110, 80]], np.float32)
    points = np.array([[[30, 30], [0, 0]], [[70, 50], [100, 30]]], np.float32)
    labels = np.array([[1, -1], [1, 0]])
    masks, ious = engine.segment(entry, boxes, points, labels)
    assert masks.shape == (2, 90, 120) and masks.dtype == torch.bool and ious.shape == (2,)


def test_prelabel_with_sam_records_hash_and_reuses_embeddings(store_root, tiny_sam_path):
    runner = CliRunner()
    gt_before = {s.id: Dataset.open(store_root).mask_record(s.id, "gt").sha256 for s in
                 Dataset.open(store_root).samples(layer="gt")}
    r = runner.invoke(cli, ["-q", "prelabel", str(store_root), "--checkpoint", str(tiny_sam_path), "--device", "cpu",
                            "--run", "s1", "--batch-size", "3", "--only", "all", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["computed"] == 10 and out["encoded"] == 10 and out["sam"] == "custom"
    with Dataset.open(store_root) as ds:
        run = ds.run("s1")
        assert run.status == "finished" and run.models["sam"]["sha256"] == file_sha256(tiny_sam_path)
        assert run.models["parser"]["sha256"] == file_sha256(store_root / "runs" / "p1" / "parser.pt")
        assert run.summary["device"] == "cpu" and "torch" in run.summary["versions"]
        assert set(run.summary["timings"]) == {"read", "parser", "encode", "decode", "finish", "write"}
        assert len(list((store_root / "cache" / "sam").rglob("*.pt"))) == 10
        rec = ds.mask_record(ds.samples()[0].id, "prelabel/s1")
        assert rec.origin["kind"] == "machine" and rec.origin["run"] == "s1" and 0 <= rec.score <= 1
        # the random SAM disagrees with the parser, so the IoU gate keeps the parser's regions
        assert {v["source"] for v in rec.origin["regions"].values()} <= {"parser", "sam"}
        assert (store_root / "runs" / "s1" / "confidence" / f"{rec.sample_id}.png").is_file()
        # human layers untouched
        assert {s.id: ds.mask_record(s.id, "gt").sha256 for s in ds.samples(layer="gt")} == gt_before
    r = runner.invoke(cli, ["-q", "prelabel", str(store_root), "--checkpoint", str(tiny_sam_path), "--device", "cpu",
                            "--run", "s2", "--only", "all", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["encoded"] == 0  # another run, same model: embeddings come from the cache


def test_everything_mode_runs_segment_anythings_generator(store_root, tiny_sam_path):
    with Dataset.open(store_root, write=True) as ds:
        engine = load_sam(tiny_sam_path, CPU)
        config = PrelabelConfig(device="cpu", mode="everything", run_id="e1", only="split:new", points_per_side=2,
                                min_mask_iou=-10.0, min_mask_stability=-10.0)
        result = prelabel(ds, config, sam=engine)
        assert result.computed == 4 and result.sam == "custom"
        assert ds.run("e1").params["mode"] == "everything"


def test_sam_arch_mismatch_and_missing_checkpoint_fail_clearly(store_root, tiny_sam_path, tmp_path):
    runner = CliRunner()
    r = runner.invoke(cli, ["prelabel", str(store_root), "--sam", "vit_b", "--checkpoint", str(tiny_sam_path),
                            "--device", "cpu"])
    assert r.exit_code == 1 and "checkpoint is custom" in r.output
    r = runner.invoke(cli, ["prelabel", str(store_root), "--sam", "vit_h", "--device", "cpu", "--cache-dir",
                            str(tmp_path)])
    assert r.exit_code == 1 and "animeparse models fetch sam-vit-h" in r.output
    r = runner.invoke(cli, ["prelabel", str(store_root), "--mode", "everything", "--sam", "none", "--device", "cpu"])
    assert r.exit_code == 1 and "--mode everything needs SAM" in r.output
