"""The derived-store job: masks carried pixel for pixel, lineage, re-runs, determinism, refusals, contact sheet."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from animeparse import Dataset
from animeparse.errors import FormatError, StoreError
from animeparse.translate.pseudo import PseudoConfig, conditioning_layer, contact_sheet, make_manga

from ..conftest import require

torch = require("torch", extra="sam")

CPU2 = PseudoConfig(variants=2, device="cpu", batch_size=3)


def _derived(root):
    with Dataset.open(root) as ds:
        return {s.id: (s, ds.read_image(s), {m.layer: ds.read_mask(s.id, m.layer) for m in ds.masks_of(s.id)})
                for s in ds.samples()}


def test_masks_carry_over_and_lineage(parent_store, tmp_path):
    out = tmp_path / "manga"
    result = make_manga(parent_store, out, config=CPU2)
    assert (result.translated, result.skipped_existing, result.duplicates) == (8, 0, 0)
    # pre-labels are not carried unless asked: the prelabel-only sample is one region, like the plain picture
    assert result.by_layer == {"-": 4, "gt": 4}
    derived = _derived(out)
    assert len(derived) == 8
    with Dataset.open(parent_store) as src, Dataset.open(out) as dst:
        assert dst.card.kind == "manga" and dst.card.parent == str(src.root)
        assert dst.labelmap.sha256 == src.labelmap.sha256 and dst.card.lr_convention == src.card.lr_convention
        run = dst.run(result.run_id)
        assert run is not None and run.kind == "pseudo" and run.status == "finished"
        assert run.models == {"manga-v2": result.translator_sha256}
        variants: dict[str, set[int]] = {}
        for sample, image, masks in derived.values():
            parent = src.sample(sample.parent_id)
            assert sample.parent_run == result.run_id
            assert sample.meta["translator"] == "manga-v2" and sample.meta["seed"] == 0
            assert sample.meta["translator_sha256"] == result.translator_sha256
            variants.setdefault(parent.id, set()).add(sample.meta["variant"])
            assert image.shape == src.read_image(parent).shape == (parent.height, parent.width, 3)
            assert sample.split == parent.split
            layer = conditioning_layer(src, parent.id)
            assert sample.meta["source_layer"] == layer
            if layer is None:  # the unlabelled picture: translated as one region, stored without a mask
                assert masks == {} and sample.status == "unlabeled"
                continue
            assert list(masks) == [layer]
            assert np.array_equal(masks[layer], src.read_mask(parent.id, layer))
            assert dst.mask_record(sample.id, layer).origin["carried_from"]["sample"] == parent.id
        assert variants == {s.id: {0, 1} for s in src.samples()}


def test_prelabels_only_when_asked(parent_store, tmp_path):
    out = tmp_path / "manga"
    result = make_manga(parent_store, out, config=PseudoConfig(device="cpu", layer="prelabel"))
    assert result.by_layer == {"-": 3, "prelabel/run1": 1}
    with Dataset.open(out) as dst:
        carried = [(s.meta["source_layer"], [m.layer for m in dst.masks_of(s.id)]) for s in dst.samples()]
    assert sorted(carried, key=str) == sorted([(None, [])] * 3 + [("prelabel/run1", ["prelabel/run1"])], key=str), \
        "a prelabel mask is carried as prelabel, never promoted to gt"
    explicit = make_manga(parent_store, tmp_path / "m2", config=PseudoConfig(device="cpu", layer="prelabel/run1"))
    assert explicit.by_layer == {"-": 3, "prelabel/run1": 1}


def test_outputs_grey_and_variants_differ(parent_store, tmp_path):
    make_manga(parent_store, tmp_path / "manga", config=CPU2)
    by_parent: dict[str, list[np.ndarray]] = {}
    for sample, image, _ in _derived(tmp_path / "manga").values():
        assert np.array_equal(image[..., 0], image[..., 1]) and np.array_equal(image[..., 1], image[..., 2])
        by_parent.setdefault(sample.parent_id, []).append(image)
    for images in by_parent.values():
        assert len(images) == 2 and not np.array_equal(images[0], images[1])


def test_colour_option(parent_store, tmp_path):
    make_manga(parent_store, tmp_path / "manga", config=PseudoConfig(device="cpu", color=True))
    images = [image for _, image, _ in _derived(tmp_path / "manga").values()]
    assert any(not np.array_equal(im[..., 0], im[..., 2]) for im in images)


def test_same_seed_same_samples(parent_store, tmp_path):
    a = make_manga(parent_store, tmp_path / "a", config=CPU2)
    b = make_manga(parent_store, tmp_path / "b", config=PseudoConfig(variants=2, device="cpu", batch_size=1))
    c = make_manga(parent_store, tmp_path / "c", config=PseudoConfig(variants=2, device="cpu", seed=1))
    ids = [set(_derived(tmp_path / name)) for name in ("a", "b", "c")]
    assert a.translated == b.translated == c.translated == 8
    assert ids[0] == ids[1], "same seed, any batch size: same pixels, same sample ids"
    assert not ids[0] & ids[2]


def test_rerun_skips_before_translating(parent_store, tmp_path, monkeypatch):
    out = tmp_path / "manga"
    make_manga(parent_store, out, config=CPU2)
    from animeparse.translate.bundled import BundledTranslator

    def refuse(*args, **kwargs):
        raise AssertionError("re-run translated an existing (parent, variant)")

    with monkeypatch.context() as m:
        m.setattr(BundledTranslator, "translate", refuse)
        again = make_manga(parent_store, out, config=CPU2)
    assert (again.translated, again.skipped_existing, again.run_id) == (0, 8, None)
    more = make_manga(parent_store, out, config=PseudoConfig(variants=3, device="cpu"))
    assert (more.translated, more.skipped_existing) == (4, 8)
    with Dataset.open(out) as dst:
        assert len(dst) == 12 and len(dst.runs(kind="pseudo")) == 2


def test_torchscript_wrong_size_refused_and_nothing_written(parent_store, tmp_path, halving_script):
    out = tmp_path / "manga"
    with pytest.raises(FormatError, match="halve.pt"):
        make_manga(parent_store, out, config=PseudoConfig(translator=f"torchscript:{halving_script}", device="cpu"))
    with Dataset.open(out) as dst:
        assert len(dst) == 0 and [r.status for r in dst.runs()] == ["failed"]


def test_torchscript_with_mask_channel(parent_store, tmp_path, masked_script):
    result = make_manga(parent_store, tmp_path / "manga",
                        config=PseudoConfig(translator=f"torchscript:{masked_script}", device="cpu"))
    assert result.translated == 4 and result.translator.endswith("invert.pt")
    for sample, image, masks in _derived(tmp_path / "manga").values():
        layer = sample.meta["source_layer"]
        if layer:  # the script inks background (id 0) white: the mask reached it
            assert (image[masks[layer] == 0] == 255).all()


def test_refusals(parent_store, tmp_path, danbooru):
    with pytest.raises(StoreError, match="another folder"):
        make_manga(parent_store, parent_store, config=PseudoConfig(device="cpu"))
    other = tmp_path / "other"
    Dataset.create(other, labelmap=danbooru).close()
    make_manga(parent_store, tmp_path / "manga", config=PseudoConfig(device="cpu"))
    with pytest.raises(StoreError, match="derived from"):
        make_manga(other, tmp_path / "manga", config=PseudoConfig(device="cpu"))
    with pytest.raises(StoreError, match="not a derived manga store"):
        make_manga(parent_store, other, config=PseudoConfig(device="cpu"))
    with pytest.raises(StoreError, match="invalid layer"):
        make_manga(parent_store, tmp_path / "m2", config=PseudoConfig(device="cpu", layer="../x"))


def test_contact_sheet(parent_store, tmp_path, danbooru):
    make_manga(parent_store, tmp_path / "manga", config=CPU2)
    result = contact_sheet(tmp_path / "manga", tmp_path / "sheet.png", rows=3, tile=64)
    sheet = np.asarray(Image.open(result.path).convert("RGB"))
    assert (result.rows, result.columns) == (3, 4)
    grid_h = 18 + 3 * (64 + 4) + 4
    assert sheet.shape[1] == 4 * 64 + 5 * 4 and sheet.shape[0] > grid_h  # the grid, then the legend strip
    # the legend holds a chip in the colour of every class in the shown masks, named
    with Dataset.open(tmp_path / "manga") as ds:
        lm = ds.labelmap
        parents = sorted({s.parent_id for s in ds.samples()})
        shown = set()
        for s in ds.samples():
            if s.parent_id in parents[:3] and s.meta.get("source_layer"):
                shown |= {int(v) for v in np.unique(ds.read_mask(s.id, s.meta["source_layer"]))}
    strip = {tuple(int(v) for v in px) for px in sheet[grid_h:].reshape(-1, 3)}
    assert shown and {lm[i].color for i in shown if i != lm.ignore_index} <= strip
    # rows=None (--all): every parent
    every = contact_sheet(tmp_path / "manga", tmp_path / "all.png", rows=None, tile=64)
    assert every.rows == len(parents) and every.rows > 3
    Dataset.create(tmp_path / "empty", labelmap=danbooru).close()
    with pytest.raises(StoreError, match="pseudo manga first"):
        contact_sheet(tmp_path / "empty", tmp_path / "x.png")


def test_outline_classes_marks_every_class_change():
    from animeparse.translate.sheet import outline_classes

    mask = np.zeros((6, 6), np.uint8)
    mask[:, 3:] = 17  # hair next to cloth: two near-identical yellows in the seed colours
    mask[:, :3] = 16
    rgb = np.full((6, 6, 3), 200, np.uint8)
    out = outline_classes(rgb, mask)
    assert (out[:, 3] == 0).all() and (out[:, [0, 1, 2, 4, 5]] == 200).all() and (rgb == 200).all()
    assert (outline_classes(rgb, mask, width_px=3)[:, 2:5] == 0).all()
