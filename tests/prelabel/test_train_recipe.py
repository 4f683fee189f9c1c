"""The training recipe beyond the generator: style augmentation, the semi-supervised branch (resume equality
included), BiSeNet training and strict reload, the time budget."""

from dataclasses import asdict, replace

import pytest
import torch

from animeparse import AnimeparseError, load_labelmap
from animeparse.prelabel import TrainConfig, parser_from_checkpoint, train_parser
from animeparse.prelabel.style import StyleConfig, style_batch

from . import make_face_store

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = TrainConfig(epochs=3, size=64, device="cpu", time_budget=0, widths=(8, 16, 16, 16))


def _style_inputs(seed: int = 0):
    lm = load_labelmap("danbooru-parsing")
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(3, 3, 48, 48, generator=g)
    targets = torch.randint(0, len(lm), (3, 48, 48), generator=g)
    targets[:, :10] = 0  # a background band for the backdrop
    backgrounds = torch.randint(0, 256, (2, 3, 48, 48), dtype=torch.uint8, generator=g)
    return images, targets, backgrounds, torch.tensor([0, 16, 17, 18])


def test_style_is_deterministic_in_range_and_off_is_identity():
    images, targets, backgrounds, recolour = _style_inputs()
    kw = dict(recolour_channels=recolour, background_channel=0, backgrounds=backgrounds)
    every = StyleConfig(**{k: 1.0 for k in asdict(StyleConfig())})
    a = style_batch(images, targets, generator=torch.Generator().manual_seed(5), config=every, **kw)
    b = style_batch(images, targets, generator=torch.Generator().manual_seed(5), config=every, **kw)
    c = style_batch(images, targets, generator=torch.Generator().manual_seed(6), config=every, **kw)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == images.shape and a.min() >= 0 and a.max() <= 1
    assert (a - images).abs().mean() > 0.05  # it did restyle
    off = style_batch(images, targets, generator=torch.Generator().manual_seed(5), config=StyleConfig.off(), **kw)
    assert torch.equal(off, images)


def test_backdrop_replaces_only_the_background():
    images, targets, backgrounds, recolour = _style_inputs()
    only_bg = replace(StyleConfig.off(), background=1.0)
    out = style_batch(images, targets, generator=torch.Generator().manual_seed(1), config=only_bg,
                      recolour_channels=recolour, background_channel=0, backgrounds=backgrounds)
    bg = (targets == 0)[:, None].expand_as(images)
    assert torch.equal(out[~bg], images[~bg]) and not torch.equal(out[bg], images[bg])


@pytest.mark.slow  # trains twice with the unlabelled branch
def test_semi_supervised_run_resumes_to_the_same_weights(tmp_path):
    with make_face_store(tmp_path, n_train=4, n_unlabeled=3, size=64) as ds:
        full = train_parser(ds, replace(TINY, run_id="full"))

        def interrupt(done, total):
            if done == 2:
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            train_parser(ds, TINY, progress=interrupt)
        resumed = train_parser(ds, TINY)
        assert resumed.resumed_from == 2 and resumed.run_id != "full"
        a = torch.load(full.checkpoint, weights_only=True)
        b = torch.load(resumed.checkpoint, weights_only=True)
        # the unlabelled branch ran (from epoch 2 on) and its teacher is what was kept
        assert "student" in a and len(a["unlabeled_samples"]) == 3 and "pseudo_share" in a["history"][-1]
        assert not all(torch.equal(a["state_dict"][k], a["student"][k]) for k in a["student"])
        for key in ("state_dict", "student"):
            assert all(torch.allclose(a[key][k].float(), b[key][k].float(), atol=1e-5) for k in a[key]), key
        assert ds.run(resumed.run_id).params["unlabeled_samples"] == 3


def test_unlabeled_none_trains_supervised_only_and_bad_specs_are_refused(tmp_path):
    with make_face_store(tmp_path, n_train=3, n_unlabeled=2, size=64) as ds:
        result = train_parser(ds, replace(TINY, epochs=2, unlabeled="none"))
        ckpt = torch.load(result.checkpoint, weights_only=True)
        assert "student" not in ckpt and ckpt["unlabeled_samples"] == []
        with pytest.raises(AnimeparseError, match="--unlabeled 'some'"):
            train_parser(ds, replace(TINY, unlabeled="some"))
        with pytest.raises(AnimeparseError, match="needs --arch bisenet"):
            train_parser(ds, replace(TINY, backbone_weights="x.pth"))


def test_time_budget_replans_and_finishes_the_run(tmp_path):
    with make_face_store(tmp_path, n_train=3, size=64) as ds:
        result = train_parser(ds, replace(TINY, epochs=6, time_budget=1e-4, unlabeled="none"))
        ckpt = torch.load(result.checkpoint, weights_only=True)
        assert result.epochs == 1 and ckpt["done"] and ckpt["planned"] == 1 and ckpt["epochs"] == 6
        run = ds.run(result.run_id)
        assert run.status == "finished" and run.summary["epochs"] == 1 and run.summary["epochs_asked"] == 6
        # it loads and predicts like any finished parser
        parser = parser_from_checkpoint(result.checkpoint, ds.labelmap, torch.device("cpu"), require_done=True)
        assert parser.input_size == 64


@pytest.mark.slow  # a 13 M-parameter net
def test_bisenet_trains_records_its_backbone_and_reloads_strictly(tmp_path):
    import torchvision
    torch.manual_seed(0)
    backbone = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), backbone)
    with make_face_store(tmp_path, n_train=2, size=64) as ds:
        config = replace(TINY, epochs=1, arch="bisenet", backbone_weights=str(backbone), unlabeled="none")
        result = train_parser(ds, config)
        ckpt = torch.load(result.checkpoint, weights_only=True)
        assert ckpt["arch"] == {"kind": "bisenet", "num_classes": 19} and ckpt["mean"] == [0.485, 0.456, 0.406]
        run = ds.run(result.run_id)
        from animeparse.prelabel.device import file_sha256

        assert run.models["parser"]["backbone"]["sha256"] == file_sha256(backbone)
        assert run.models["parser"]["arch"] == "bisenet"
        parser = parser_from_checkpoint(result.checkpoint, ds.labelmap, torch.device("cpu"), require_done=True)
        assert parser.kind == "animeparse" and parser.mean == (0.485, 0.456, 0.406)
        image = ds.read_image(ds.samples()[0].id)
        (probs,) = parser.predict([image])
        assert probs.shape == (19, *image.shape[:2])
        assert torch.allclose(probs.sum(0), torch.ones(image.shape[:2]), atol=1e-4)
        # strict: a state dict with one key less is refused with the reason
        broken = dict(ckpt)
        broken["state_dict"] = {k: v for i, (k, v) in enumerate(ckpt["state_dict"].items()) if i}
        torch.save(broken, tmp_path / "broken.pt")
        with pytest.raises(AnimeparseError, match="do not fit the arch"):
            parser_from_checkpoint(tmp_path / "broken.pt", ds.labelmap, torch.device("cpu"))


def test_a_batch_with_every_pixel_ignored_gives_zero_loss_not_nan():
    from animeparse.prelabel.augment import IGNORE
    from animeparse.prelabel.losses import supervised_loss

    logits = torch.randn(2, 19, 8, 8, requires_grad=True)
    y = torch.full((2, 8, 8), IGNORE)
    loss = supervised_loss(logits, y, torch.ones(19), dice=1.0)
    loss.backward()
    assert float(loss) == 0.0 and torch.isfinite(logits.grad).all()
    y[0, 0, 0] = 3
    assert torch.isfinite(supervised_loss(logits, y, torch.ones(19), dice=1.0))
