"""The GPU-speed paths of ``prelabel`` (issue 21), checked on the CPU: combining on the device gives the NumPy
combination's bytes, the faster prompts give the old prompts, reduced precisions stay near fp32, SDPA attention
equals segment-anything's, a compiled encoder with a padded batch gives the same embeddings, and the pipelined run
writes what the one-stage run writes."""

from __future__ import annotations

import types

import cv2
import numpy as np
import pytest

from animeparse import Dataset, load_labelmap
from animeparse.demo.synth import generate_face
from animeparse.prelabel import PrelabelConfig, TrainConfig, load_sam, prelabel, train_parser
from animeparse.prelabel.combine import combine_prompted, parser_only
from animeparse.prelabel.combine_torch import combine_prompted_torch, parser_only_torch
from animeparse.prelabel.precision import autocast, resolve_precision
from animeparse.prelabel.prompts import region_prompts
from animeparse.prelabel.sam import build_sam
from animeparse.prelabel.sam_speed import embedding_variant, speed_up, use_sdpa

from ..conftest import require
from . import _prompts_reference as reference
from . import make_face_store, save_tiny_sam, tiny_sam_arch

torch = require("torch", extra="sam")
CPU = torch.device("cpu")
LM = load_labelmap("danbooru-parsing")
CLASS_IDS = np.array(LM.ids, np.uint8)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _case(seed: int, size: int = 96):
    """Soft parser probabilities around a generated face's mask, and SAM-like masks per region (some grown, some
    shrunk, one wrong), as (probs CxHxW float32, {class: (HxW bool, iou)})."""
    rng = np.random.default_rng(seed)
    _, gt = generate_face(seed, 0, size=size)
    logits = rng.normal(0, 1.5, (len(CLASS_IDS), size, size)).astype(np.float32)
    logits[np.searchsorted(CLASS_IDS, gt), np.arange(size)[:, None], np.arange(size)[None]] += 2.0
    probs = torch.from_numpy(logits).softmax(0).numpy()
    label = CLASS_IDS[probs.argmax(0)]
    masks = {}
    for k, c in enumerate(int(c) for c in np.unique(label) if c not in (0, 255)):
        region = (label == c).astype(np.uint8)
        op = [cv2.dilate, cv2.erode, lambda m, _k: np.roll(m, 7, axis=1)][k % 3]
        masks[c] = (op(region, np.ones((3, 3), np.uint8)).astype(bool), float(rng.uniform(0.5, 1.0)))
    return probs, masks


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("agree", [0.0, 0.6, 1.01])
def test_device_combination_is_the_numpy_combination(seed, agree):
    probs, masks = _case(seed)
    want = combine_prompted(probs, CLASS_IDS, masks, LM, agree_iou=agree)
    ids = torch.tensor(list(masks))
    stacked = torch.from_numpy(np.stack([m for m, _ in masks.values()]))
    ious = torch.tensor([i for _, i in masks.values()], dtype=torch.float32)
    got = combine_prompted_torch(torch.from_numpy(probs), torch.from_numpy(CLASS_IDS), ids, stacked, ious, LM,
                                 agree_iou=agree)
    assert np.array_equal(got.label_hw, want.label_hw)
    assert np.array_equal(got.confidence_hw, want.confidence_hw)
    assert np.array_equal(got.confidence_u8, np.clip(np.rint(want.confidence_hw * 255.0), 0, 255).astype(np.uint8))
    assert got.regions == want.regions
    flat = parser_only_torch(torch.from_numpy(probs), torch.from_numpy(CLASS_IDS))
    assert np.array_equal(flat.label_hw, parser_only(probs, CLASS_IDS).label_hw)


@pytest.mark.parametrize("seed", range(8))
def test_prompts_are_the_old_prompts(seed):
    rng = np.random.default_rng(seed)
    if seed < 4:
        label = generate_face(seed, 1, size=[64, 150, 257, 400][seed])[1]
    else:
        label = np.zeros((120 + 13 * seed, 200 - 9 * seed), np.uint8)
        for _ in range(25):
            centre = (int(rng.integers(0, label.shape[1])), int(rng.integers(0, label.shape[0])))
            cv2.circle(label, centre, int(rng.integers(1, 30)), int(rng.integers(0, 19)), -1)
        label[rng.random(label.shape) < 0.01] = 255
    old, new = reference.region_prompts(label), region_prompts(label)
    assert [(p.class_id, p.area) for p in new] == [(p.class_id, p.area) for p in old]
    for a, b in zip(old, new):
        assert np.array_equal(a.box_xyxy, b.box_xyxy) and np.array_equal(a.points_xy, b.points_xy)
        assert np.array_equal(a.labels, b.labels)


def test_sdpa_attention_equals_segment_anythings():
    torch.manual_seed(0)
    model = build_sam(tiny_sam_arch(), device="cpu").eval()
    x = torch.rand(2, 3, 256, 256) * 255
    with torch.inference_mode():
        want = model.image_encoder(model.preprocess(x))
        assert use_sdpa(model.image_encoder) == tiny_sam_arch().depth
        got = model.image_encoder(model.preprocess(x))
    assert (got - want).abs().max() <= 1e-5


def test_compiled_encoder_with_a_padded_batch(tmp_path):
    engine = load_sam(save_tiny_sam(tmp_path / "s.pth"), CPU)
    images = [np.random.default_rng(i).integers(0, 256, (80, 100, 3), dtype=np.uint8) for i in range(3)]
    want = [e["embedding"] for e in engine.encode(images)]
    seen = []
    encoder = engine.model.image_encoder
    speed_up(engine, sdpa=False, compile_encoder=True, batch_size=4, backend="eager")
    assert engine.pad_batch_to == 4
    original = encoder.forward
    encoder.forward = types.MethodType(lambda self, x: seen.append(x.shape[0]) or original(x), encoder)
    got = [e["embedding"] for e in engine.encode(images)]
    assert seen == [4], "the last batch is padded to the batch size: one shape for the compiled graph"
    assert len(got) == 3 and all(torch.allclose(a.float(), b.float(), atol=2e-2) for a, b in zip(want, got))


@pytest.fixture(scope="module")
def store_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("gpupaths")
    with make_face_store(root, n_train=4, n_unlabeled=3, size=96) as ds:
        train_parser(ds, TrainConfig(epochs=1, size=64, device="cpu", run_id="p1"))
    return root / "store"


def _layer(root, layer):
    with Dataset.open(root) as ds:
        return {s.id: (ds.read_mask(s.id, layer).tobytes(), ds.mask_record(s.id, layer).score)
                for s in ds.samples(layer=layer)}


@pytest.mark.parametrize("precision,tolerance", [("bf16", 0.08), ("fp16", 0.08)])
def test_reduced_precision_runs_on_the_cpu_near_fp32(store_root, tmp_path, precision, tolerance):
    sam = save_tiny_sam(tmp_path / "sam.pth")
    with Dataset.open(store_root, write=True) as ds:
        base = prelabel(ds, PrelabelConfig(device="cpu", run_id=f"f32-{precision}", only="all", checkpoint=str(sam),
                                           precision="fp32"))
        low = prelabel(ds, PrelabelConfig(device="cpu", run_id=f"low-{precision}", only="all", checkpoint=str(sam),
                                          precision=precision))
        assert (base.precision, low.precision) == ("fp32", precision)
        assert ds.run(low.run_id).params["precision"] == precision
    a, b = _layer(store_root, base.layer), _layer(store_root, low.layer)
    agree = np.mean([np.mean(np.frombuffer(a[k][0], np.uint8) == np.frombuffer(b[k][0], np.uint8)) for k in a])
    assert agree >= 1 - tolerance, f"{precision} labels agree with fp32 on {agree:.3f} of pixels"
    assert max(abs(a[k][1] - b[k][1]) for k in a) <= tolerance
    folders = sorted(p.name for p in (store_root / "cache" / "sam").iterdir())
    assert any(f.endswith(f"-{precision}") for f in folders) and any("-" not in f for f in folders), folders


def test_pipelined_run_writes_what_the_one_stage_labeler_writes(store_root, tmp_path):
    """fp32 is today's result: the pipelined run (model thread + finishing here) equals labelling each batch in
    one go with ``Labeler.__call__`` (the Ray workers' path, and the local run before the pipeline)."""
    from animeparse.prelabel.labeler import Labeler, read_batch
    from animeparse.prelabel.parser import load_parser

    sam_path = save_tiny_sam(tmp_path / "sam.pth")
    with Dataset.open(store_root, write=True) as ds:
        result = prelabel(ds, PrelabelConfig(device="cpu", run_id="pipe", only="all", checkpoint=str(sam_path),
                                             batch_size=2, precision="fp32", cache_embeddings=False))
        config = PrelabelConfig(device="cpu", only="all", precision="fp32", cache_embeddings=False)
        labeler = Labeler(load_parser(None, ds, CPU), load_sam(sam_path, CPU), None, ds.labelmap, config,
                          lr_convention=ds.card.lr_convention)
        samples = ds.samples()
        timings = dict.fromkeys(("read", "parser", "encode", "decode"), 0.0)
        labels, _ = labeler([s.id for s in samples[:2]], read_batch(ds.root, [s.image for s in samples[:2]]),
                            timings)
        for sample, label in zip(samples[:2], labels):
            assert np.array_equal(label.label_hw, ds.read_mask(sample.id, result.layer))
            assert round(label.score, 4) == ds.mask_record(sample.id, result.layer).score


def test_precision_names_and_cache_variants():
    assert resolve_precision("auto", CPU) == "fp32" and resolve_precision("bf16", CPU) == "bf16"
    with pytest.raises(Exception, match="--precision"):
        resolve_precision("int8", CPU)
    assert embedding_variant(PrelabelConfig(precision="fp32")) == ""
    assert embedding_variant(PrelabelConfig(precision="fp32", sdpa=True)) == "fp32-sdpa"
    assert embedding_variant(PrelabelConfig(precision="bf16", sdpa=True, compile=True)) == "bf16-sdpa-compile"
    with autocast(CPU, "bf16"):
        assert torch.nn.Linear(4, 4)(torch.ones(1, 4)).dtype == torch.bfloat16
    with autocast(CPU, "fp32"):
        assert torch.nn.Linear(4, 4)(torch.ones(1, 4)).dtype == torch.float32


def test_combine_on_device_is_combine_on_the_cpu(store_root, tmp_path):
    """The GPU path of the model stage (probabilities and masks kept on the device) run with CPU tensors: the same
    label and confidence as the NumPy path."""
    from animeparse.prelabel.labeler import combine, combine_on_device
    from animeparse.prelabel.parser import load_parser

    engine = load_sam(save_tiny_sam(tmp_path / "sam.pth"), CPU)
    with Dataset.open(store_root) as ds:
        parser = load_parser(None, ds, CPU)
        images = [ds.read_image(s) for s in ds.samples()[:3]]
    config = PrelabelConfig(device="cpu", agree_iou=0.0)
    for image, probs, entry in zip(images, parser.predict(images), engine.encode(images)):
        want = combine(probs.numpy(), image, entry, parser, engine, LM, config)
        got = combine_on_device(probs, entry, parser, engine, LM, config, "fp32")
        assert np.array_equal(got.label_hw, want.label_hw) and np.array_equal(got.confidence_hw, want.confidence_hw)
        assert got.regions == want.regions


@pytest.mark.slow
def test_benchmark_scripts_run(tmp_path):
    """scripts/bench_gpu.py (its CPU smoke mode) and scripts/bench_cpu_stages.py, which exits 1 when the device
    combination is not the NumPy one."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    r = subprocess.run([sys.executable, "scripts/bench_gpu.py", "--device", "cpu", "--tiny", "--images", "2",
                        "--batch-size", "2", "--no-compile"], cwd=root, capture_output=True, text=True, env=env,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    assert "bf16 + SDPA" in r.stdout and "decoder, 16 prompts, bf16" in r.stdout
    r = subprocess.run([sys.executable, "scripts/bench_cpu_stages.py", "--size", "192", "--repeat", "1"], cwd=root,
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "identical to the CPU one: True" in r.stdout


def test_prompt_grid():
    from animeparse.prelabel.prompts import PromptConfig, image_prompts

    label = generate_face(2, 0, size=512)[1]
    full = region_prompts(label)
    same = image_prompts(label, config=PromptConfig(grid=0))
    assert [(p.class_id, p.points_xy.tobytes()) for p in same] == [(p.class_id, p.points_xy.tobytes()) for p in full]
    coarse = {p.class_id: p for p in image_prompts(label, config=PromptConfig(grid=128))}
    big = [p for p in full if p.area > 2000]
    assert big and all(p.class_id in coarse for p in big)
    for p in big:
        q = coarse[p.class_id]
        assert np.abs(q.box_xyxy - p.box_xyxy).max() <= 8, "boxes scaled back to image pixels"
        assert abs(q.area - p.area) / p.area < 0.15
        xs, ys = q.points_xy[q.labels == 1].T.astype(int)
        assert (label[ys, xs] == p.class_id).all(), "positive points fall inside their region"
