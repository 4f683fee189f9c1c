"""The bundled translator and the registry, without a store: shapes, grey output, determinism, variants, params."""

from __future__ import annotations

import numpy as np
import pytest

from animeparse.errors import AnimeparseError, FormatError
from animeparse.labelmap import load_labelmap
from animeparse.translate import (
    ROLES,
    TRANSLATORS,
    generator_for,
    images_to_tensor,
    load_translator,
    role_lut,
    single_region_lut,
    tensor_to_images,
)
from animeparse.translate.params import PARAMS_FILE, build_params, build_shapes, load_params, serialize_params

from ..conftest import require

torch = require("torch", extra="sam")


@pytest.fixture(scope="module")
def translator():
    return load_translator("manga-v2", device="cpu")


def _run(translator, faces, *, keys=None, variant=0, seed=0, color=False, masked=True):
    labelmap = load_labelmap("danbooru-parsing")
    keys = keys or [str(i) for i in range(len(faces))]
    x = images_to_tensor([f[0] for f in faces], translator.device)
    ids = torch.from_numpy(np.stack([f[1] for f in faces]).astype(np.int64)).to(translator.device)
    lut = role_lut(labelmap) if masked else single_region_lut()
    luts = torch.from_numpy(np.stack([lut] * len(faces))).to(translator.device)
    before = ids.clone()
    out = translator.translate(x, ids, role_lut=luts, generators=[generator_for(seed, k, variant) for k in keys],
                               color=color)
    assert torch.equal(ids, before), "the translator must not touch the class ids"
    return out, tensor_to_images(out)


def test_output_is_grey_same_size_in_range(translator, faces):
    out, images = _run(translator, faces)
    assert out.shape == (3, 1, 96, 96) and out.dtype == torch.float32
    assert float(out.min()) >= 0 and float(out.max()) <= 1
    for (image, _), manga in zip(faces, images):
        assert manga.shape == image.shape and manga.dtype == np.uint8
        assert np.array_equal(manga[..., 0], manga[..., 1]) and np.array_equal(manga[..., 1], manga[..., 2])
        # manga: mostly paper and ink, not the anime's mid greys
        grey = manga[..., 0]
        assert (grey > 200).mean() > 0.3 and (grey < 60).mean() > 0.02


def test_colour_manga_is_not_grey(translator, faces):
    _, images = _run(translator, faces, color=True)
    assert any(not np.array_equal(m[..., 0], m[..., 2]) for m in images)


def test_same_seed_same_pixels_whatever_the_batch(translator, faces):
    _, batch = _run(translator, faces)
    _, again = _run(translator, faces)
    single = [_run(translator, [f], keys=[str(i)])[1][0] for i, f in enumerate(faces)]
    for a, b, c in zip(batch, again, single):
        assert np.array_equal(a, b) and np.array_equal(a, c)


@pytest.mark.parametrize("change", [{"variant": 1}, {"seed": 1}], ids=["variant", "seed"])
def test_variants_and_seeds_differ(translator, faces, change):
    _, base = _run(translator, faces)
    _, other = _run(translator, faces, **change)
    for a, b in zip(base, other):
        assert (a != b).mean() > 0.05


def test_single_region_translation(translator, faces):
    _, images = _run(translator, faces, masked=False)
    assert all(m.shape == f[0].shape for m, f in zip(images, faces))


def test_bundled_params_file_is_the_deterministic_build():
    fresh = serialize_params(build_params())
    assert serialize_params(build_params()) == fresh
    assert PARAMS_FILE.read_bytes() == fresh, "run: python scripts/make_translator_params.py"
    loaded = load_params()
    assert {k: tuple(v.shape) for k, v in loaded.items()} == build_shapes()


def test_damaged_params_refused(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a zip")
    with pytest.raises(FormatError, match="bad.pt"):
        load_params(bad)
    torch.save({"style_lo": torch.zeros(2)}, tmp_path / "short.pt")
    with pytest.raises(FormatError, match="expected"):
        load_params(tmp_path / "short.pt")


@pytest.mark.parametrize("name,expect", [
    ("hair", "hair"), ("l_eye", "eye"), ("skin", "skin"), ("cloth", "cloth"), ("background", "background"),
    ("eye_g", "accessory"), ("top", "cloth"), ("tail_wings", "hair"), ("left_iris", "eye"), ("zzz", "generic"),
], ids=lambda v: str(v))
def test_roles_by_class_name(name, expect):
    from animeparse.translate.roles import role_of

    assert role_of(name) == expect


def test_role_lut_for_bundled_maps():
    for name in ("danbooru-parsing", "celebamask-hq", "character-parsing", "manga-page"):
        lm = load_labelmap(name)
        lut = role_lut(lm)
        assert lut.shape == (256,) and lut[255] == ROLES.index("generic") and lut[0] == ROLES.index("background")
    lm = load_labelmap("celebamask-hq")
    assert role_lut(lm)[lm.id_of("hair")] == ROLES.index("hair") and role_lut(lm)[13] == ROLES.index("hair")


def test_registry_and_bad_specs(masked_script):
    assert set(TRANSLATORS) == {"manga-v2", "torchscript"}
    with pytest.raises(AnimeparseError, match="unknown translator"):
        load_translator("pix2pix")
    with pytest.raises(AnimeparseError, match="no argument"):
        load_translator("manga-v2:x")
    with pytest.raises(FormatError, match="not found"):
        load_translator("torchscript:/nonexistent/gen.pt", device="cpu")
    with pytest.raises(FormatError, match="not a TorchScript"):
        load_translator(f"torchscript:{PARAMS_FILE}", device="cpu")
    ts = load_translator(f"torchscript:{masked_script}", device="cpu")
    assert ts.takes_mask and len(ts.sha256) == 64


def test_torchscript_wrong_size_refused_naming_file(halving_script, faces):
    ts = load_translator(f"torchscript:{halving_script}", device="cpu")
    with pytest.raises(FormatError, match=r"halve\.pt.*input's size"):
        _run(ts, faces)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
def test_cuda_refused_without_gpu():
    with pytest.raises(AnimeparseError, match="--device cpu"):
        load_translator(device="cuda")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_matches_cpu(faces):  # pragma: no cover - runs on GPU machines only
    cpu = _run(load_translator(device="cpu"), faces)[0]
    gpu = _run(load_translator(device="cuda"), faces)[0].cpu()
    # same styles (drawn on the CPU); float differences flip only a few screentone edge pixels
    assert (cpu - gpu).abs().mean() < 0.01
