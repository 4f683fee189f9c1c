"""manga-v2 follows the art, not the labels: no ink on a mask boundary the art does not have, pale art keeps its
lines, dark regions are capped in solid black, variants differ; and the tensor ops behind those rules."""

from __future__ import annotations

import numpy as np
import pytest

from animeparse.labelmap import load_labelmap
from animeparse.translate import generator_for, images_to_tensor, load_translator, role_lut, tensor_to_images
from animeparse.translate.ops import grow, image_quantiles, region_top_threshold

from ..conftest import require

torch = require("torch", extra="sam")

SIZE = 128
LM = load_labelmap("danbooru-parsing")
SKIN, NECK, HAIR = LM.id_of("skin"), LM.id_of("neck"), LM.id_of("hair")


@pytest.fixture(scope="module")
def translator():
    return load_translator("manga-v2", device="cpu")


def _render(translator, images, masks, *, variant=0, seeds=range(4)):
    """Grey renderings (HxW uint8), one per (image, mask) and seed."""
    out = []
    for seed in seeds:
        x = images_to_tensor(images, translator.device)
        ids = torch.from_numpy(np.stack(masks).astype(np.int64))
        luts = torch.from_numpy(np.stack([role_lut(LM)] * len(images)))
        gens = [generator_for(seed, str(i), variant) for i in range(len(images))]
        y = translator.translate(x, ids, role_lut=luts, generators=gens)
        out.extend(im[..., 0] for im in tensor_to_images(y))
    return out


def _halves(left_rgb, right_rgb, left_id, right_id):
    image = np.zeros((SIZE, SIZE, 3), np.uint8)
    image[:, :SIZE // 2] = left_rgb
    image[:, SIZE // 2:] = right_rgb
    mask = np.full((SIZE, SIZE), left_id, np.uint8)
    mask[:, SIZE // 2:] = right_id
    return image, mask


def test_a_label_boundary_through_flat_art_gets_no_ink(translator):
    """Skin and neck (both paper-white skin) split a flat light picture: the old translator inked the split."""
    image, mask = _halves((236, 226, 216), (236, 226, 216), SKIN, NECK)
    for grey in _render(translator, [image], [mask]):
        band = grey[8:-8, SIZE // 2 - 3:SIZE // 2 + 3]
        assert (band < 200).mean() < 0.01, "ink along a boundary the art does not have"


def test_a_label_boundary_on_an_art_edge_is_inked(translator):
    """The control: the same split where the art has an edge (two clearly different skin tones) gets a line."""
    image, mask = _halves((240, 230, 220), (150, 120, 100), SKIN, NECK)
    inked = [(grey[8:-8, SIZE // 2 - 3:SIZE // 2 + 3] < 128).mean() for grey in _render(translator, [image], [mask])]
    assert min(inked) > 0.15


def test_pale_art_keeps_its_lines(translator):
    """A very pale drawing (paper 250, faint strokes 215): a plain threshold would give a blank page."""
    image = np.full((SIZE, SIZE, 3), 250, np.uint8)
    for k in range(12, SIZE, 24):
        image[:, k:k + 2] = 215
        image[k:k + 2, :] = 215
    mask = np.zeros((SIZE, SIZE), np.uint8)
    strokes = np.zeros((SIZE, SIZE), bool)
    for k in range(12, SIZE, 24):
        strokes[:, k:k + 2] = strokes[k:k + 2, :] = True
    for grey in _render(translator, [image], [mask]):
        assert (grey >= 224).mean() < 0.9
        assert (grey[strokes] < 160).mean() > 0.5, "the faint strokes must become ink"


def test_dark_hair_is_not_all_black(translator):
    """Near-black hair filling most of the picture: capped in solid black, the rest toned or left as highlights."""
    rng = np.random.default_rng(0)
    image = np.clip(rng.normal(30, 8, (SIZE, SIZE, 3)), 0, 255).astype(np.uint8)
    mask = np.full((SIZE, SIZE), HAIR, np.uint8)
    shares = [(grey < 64).mean() for grey in _render(translator, [image], [mask])]
    assert max(shares) < 0.85, f"near-black shares {shares}: dark hair went solid"


def test_variants_differ_in_tone_not_only_in_grain(translator, faces):
    images, masks = [f[0] for f in faces], [f[1] for f in faces]
    v0 = _render(translator, images, masks, variant=0, seeds=[0])
    v1 = _render(translator, images, masks, variant=1, seeds=[0])
    diff = np.mean([(np.abs(a.astype(int) - b.astype(int)) > 64).mean() for a, b in zip(v0, v1)])
    assert diff > 0.08


def test_image_quantiles_from_the_histogram():
    values = torch.linspace(0, 1, 256).repeat(2, 1).view(2, 16, 16)
    values[1] = values[1] * 0.5
    q = image_quantiles(values, torch.tensor([[0.0, 0.5, 1.0], [0.0, 0.5, 1.0]]))
    assert torch.allclose(q[0], torch.tensor([0.0, 127 / 255, 1.0]), atol=1 / 255)
    assert torch.allclose(q[1], torch.tensor([0.0, 64 / 255, 128 / 255]), atol=1 / 255)


def test_region_top_threshold_caps_each_region():
    # region 1: values 0.0 .. 0.99 evenly; region 2: all 0.9
    values = torch.cat([torch.arange(100) / 100.0, torch.full((100,), 0.9)]).view(1, 10, 20)
    ids = torch.cat([torch.ones(100, dtype=torch.int64), torch.full((100,), 2)]).view(1, 10, 20)
    share = torch.zeros(1, 256)
    share[0, 1], share[0, 2] = 0.25, 0.25
    t = region_top_threshold(values, ids, share, bins=100)
    assert float(t[0, 0, 0]) == pytest.approx(0.75) and ((values >= t)[ids == 1]).float().mean() == 0.25
    assert not bool((values >= t)[ids == 2].any()), "a flat region over its cap gets no solid black"


@pytest.mark.parametrize("radius", [0, 1, 2, 3])
def test_grow_is_a_square_max_filter(radius):
    x = torch.rand(2, 1, 17, 23, generator=torch.Generator().manual_seed(radius))
    k = 2 * radius + 1
    expected = torch.nn.functional.max_pool2d(torch.nn.functional.pad(x, (radius,) * 4, mode="replicate"), k,
                                              stride=1) if radius else x
    assert torch.equal(grow(x, radius), expected)
