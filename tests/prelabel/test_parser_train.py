"""``parser train``: quality on held-out synthetic faces, flip augmentation, checkpoints, resume after interruption."""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from animeparse import AnimeparseError, Dataset, load_labelmap
from animeparse.cli.main import cli
from animeparse.prelabel import TrainConfig, train_parser
from animeparse.prelabel.augment import IGNORE, AugmentConfig, augment_batch, channel_flip_lut
from animeparse.prelabel.device import file_sha256

from . import make_face_store

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# faces are drawn at the generator's default 512 px (what `demo-data` gives a user) and learnt at 128 px so the
# test stays near a minute on 2 cores; the default recipe (256 px) is measured by scripts/bench_real_art.py
EPOCHS = 30
SIZE = 128
FACE_PX = 512
# measured with the default recipe at these settings (seed 0, one thread): mIoU 0.408 pooled, 0.445 per image;
# background 0.93, skin 0.82, eyes 0.79/0.81, cloth 0.93, hair 0.71, neck 0.61. Brows, nose, lips and ears are
# 2-4 px wide at 128 px (0.0-0.34 here) and get no floor in this test; bench_real_art.py reports them at 256 px.
MIOU_FLOOR = 0.33
CLASS_FLOORS = {"background": 0.85, "skin": 0.7, "l_eye": 0.6, "r_eye": 0.6, "cloth": 0.85, "hair": 0.55,
                "neck": 0.4}


@pytest.fixture(scope="module")
def trained(tmp_path_factory, one_torch_thread):
    """40 training faces and 10 held-out ('val') faces drawn at 512 px; parser run 'p' trained through the CLI."""
    root = tmp_path_factory.mktemp("quality")
    make_face_store(root, n_train=40, n_val=10, size=FACE_PX).close()
    store = root / "store"
    r = CliRunner().invoke(cli, ["-q", "parser", "train", str(store), "--epochs", str(EPOCHS), "--size", str(SIZE),
                                 "--device", "cpu", "--run", "p", "--time-budget", "0", "--json"])
    assert r.exit_code == 0, r.output
    return store, json.loads(r.output)


@pytest.mark.slow  # trains a parser (about a minute on 2 cores)
def test_parser_prelabels_held_out_512px_faces_above_per_class_floors(trained):
    store, result = trained
    assert result["epochs"] == EPOCHS and result["resumed_from"] == 0
    runner = CliRunner()
    r = runner.invoke(cli, ["-q", "prelabel", str(store), "--parser", "p", "--sam", "none", "--only", "split:val",
                            "--run", "heldout", "--device", "cpu", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["computed"] == 10
    r = runner.invoke(cli, ["-q", "prelabel", "evaluate", str(store), "--layer", "prelabel/heldout", "--json"])
    assert r.exit_code == 0, r.output
    report = json.loads(r.output)
    ious = {c["name"]: c["iou"] for c in report["per_class"]}
    print(f"held-out mIoU pooled {report['miou']:.4f}, per image {report['miou_per_image']:.4f}, pixel accuracy "
          f"{report['pixel_accuracy']:.4f}, pieces {report['pieces_per_image']} (gt {report['gt_pieces_per_image']})")
    print({k: v for k, v in ious.items()})
    assert report["samples"] == 10
    assert report["miou"] >= MIOU_FLOOR and report["miou_per_image"] >= MIOU_FLOOR - 0.05
    low = {name: ious[name] for name, floor in CLASS_FLOORS.items() if (ious[name] or 0.0) < floor}
    assert not low, f"classes under their floor: {low}"
    # the clean-up leaves about as many pieces as the ground truth has (one per part), not specks
    assert report["pieces_per_image"] <= report["gt_pieces_per_image"] + 3
    # pixels to change is what an annotator repaints: it must match the worst samples' shares
    worst = report["worst"]
    assert worst and max(w["changed_share"] for w in worst) >= report["changed_share"]
    r = runner.invoke(cli, ["-q", "prelabel", "evaluate", str(store)])  # default: the newest finished prelabel run
    assert r.exit_code == 0 and "mIoU (pooled)" in r.output and "mIoU (mean per image)" in r.output
    assert "pieces per image" in r.output and "l_eye" in r.output


@pytest.mark.slow  # the same trained parser
def test_checkpoint_and_run_record(trained):
    store, result = trained
    path = store / "runs" / "p" / "parser.pt"
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    assert ckpt["format"] == "animeparse-parser" and ckpt["done"] and ckpt["epoch"] == EPOCHS
    assert json.loads(ckpt["labelmap"])["name"] == "danbooru-parsing" and len(ckpt["history"]) == EPOCHS
    assert set(ckpt["metrics"]) >= {"loss", "pixel_accuracy", "miou"} and len(ckpt["samples"]) == 40
    params = sum(v.numel() for k, v in ckpt["state_dict"].items() if "running" not in k and "num_batches" not in k)
    assert 100_000 < params < 1_000_000
    with Dataset.open(store) as ds:
        run = ds.run("p")
        assert run.kind == "parser" and run.status == "finished" and run.params["epochs"] == EPOCHS
        assert run.summary["sha256"] == file_sha256(path) == result["sha256"]
        assert run.summary["device"] == "cpu" and run.params["samples"] == 40


def test_flip_mirrors_pixels_and_swaps_left_right_classes():
    lm = load_labelmap("danbooru-parsing")
    channel = {cid: k for k, cid in enumerate(lm.ids)}
    image = torch.zeros(1, 3, 4, 6)
    image[..., 0] = 1.0
    target = torch.full((1, 4, 6), channel[lm.id_of("skin")], dtype=torch.long)
    target[:, :, 0] = channel[lm.id_of("l_eye")]
    target[:, :, 5] = channel[lm.id_of("r_brow")]
    target[0, 0, 1] = IGNORE
    x, y = augment_batch(image, target, flip_lut=torch.from_numpy(channel_flip_lut(lm)),
                         generator=torch.Generator().manual_seed(0),
                         config=AugmentConfig(flip=1.0, scale=0.0, shift=0.0, colour=0.0))
    assert (x[..., 5] == 1).all() and (x[..., :5] == 0).all()
    assert (y[:, :, 5] == channel[lm.id_of("r_eye")]).all() and (y[:, :, 0] == channel[lm.id_of("l_brow")]).all()
    assert y[0, 0, 4] == IGNORE and (y[:, 1:, 1:5] == channel[lm.id_of("skin")]).all()


def test_scale_and_colour_jitter_keep_ids_valid():
    lm = load_labelmap("danbooru-parsing")
    gen = torch.Generator().manual_seed(1)
    image = torch.rand(3, 3, 32, 32)
    target = torch.randint(0, len(lm), (3, 32, 32))
    x, y = augment_batch(image, target, flip_lut=torch.from_numpy(channel_flip_lut(lm)), generator=gen,
                         config=AugmentConfig())
    assert x.shape == image.shape and x.min() >= 0 and x.max() <= 1 and not torch.equal(x, image)
    assert set(np.unique(y.numpy())) <= set(range(len(lm)))


@pytest.mark.slow  # trains twice
def test_interrupted_training_resumes_from_its_last_epoch_and_ends_the_same(tmp_path):
    with make_face_store(tmp_path, n_train=6, size=64) as ds:
        config = TrainConfig(epochs=3, size=64, device="cpu")
        full = train_parser(ds, replace(config, run_id="full"))

        def interrupt(done, total):
            if done == 1:
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            train_parser(ds, config, progress=interrupt)
        (stopped,) = [r for r in ds.runs(kind="parser") if r.status == "failed"]
        assert torch.load(tmp_path / "store" / "runs" / stopped.id / "parser.pt", weights_only=True)["epoch"] == 1
        resumed = train_parser(ds, config)  # finds the unfinished run with the same options
        assert resumed.run_id == stopped.id and resumed.resumed_from == 1 and ds.run(stopped.id).status == "finished"
        a = torch.load(full.checkpoint, weights_only=True)["state_dict"]
        b = torch.load(resumed.checkpoint, weights_only=True)["state_dict"]
        assert all(torch.allclose(a[k].float(), b[k].float(), atol=1e-5) for k in a)
        assert not list((tmp_path / "store" / "runs").rglob("*.tmp"))
        again = train_parser(ds, replace(config, run_id="full"))  # a finished run is not trained again
        assert again.resumed_from == 3 and again.sha256 == full.sha256
        with pytest.raises(AnimeparseError, match="exists with other options"):
            train_parser(ds, replace(config, run_id="full", epochs=5))


def test_training_needs_labelled_samples(tmp_path):
    with make_face_store(tmp_path, n_train=0, n_unlabeled=2, size=64) as ds, \
            pytest.raises(AnimeparseError, match="no samples with a gt mask in split 'train'"):
        train_parser(ds, TrainConfig(epochs=1, size=64, device="cpu"))
