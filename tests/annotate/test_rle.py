"""The push encoder gives the same bytes as lsrle.encode_rle (and the SDK's mask2rle, when installed)."""

from __future__ import annotations

import numpy as np
import pytest

from animeparse.demo.synth import generate_face
from animeparse.formats.lsrle import decode_rle, encode_mask_rle, encode_rle

from ..conftest import require

RNG = np.random.default_rng(0)
_, FACE = generate_face(3, 0, size=96)
CASES = {
    "face classes": FACE,
    "hair alpha": np.where(FACE == 17, 255, 0).astype(np.uint8),
    "noise": RNG.integers(0, 256, (37, 53), dtype=np.uint8),
    "sparse": ((RNG.random((60, 70)) > 0.9) * 255).astype(np.uint8),
    "one pixel": np.zeros((1, 1), np.uint8),
    "run of 65536 values": np.full((1, 16384), 3, np.uint8),
    "run of 65540 values": np.full((1, 16385), 3, np.uint8),
    "run over 3 chunks": np.full((300, 700), 9, np.uint8),
    "tiny": np.full((2, 3), 200, np.uint8),
}


@pytest.mark.parametrize("mask", CASES.values(), ids=CASES.keys())
def test_identical_to_lsrle_and_decodes_back(mask):
    rle = encode_mask_rle(mask)
    assert rle == encode_rle(mask)
    assert np.array_equal(decode_rle(rle, shape_hw=mask.shape, source="t"), np.repeat(mask[..., None], 4, axis=2))


def test_identical_to_the_sdk():
    brush = require("label_studio_sdk.converter.brush", extra="labelstudio")
    for mask in CASES.values():
        assert encode_mask_rle(mask) == list(brush.mask2rle(mask))


def test_refuses_what_is_not_a_mask():
    with pytest.raises(ValueError, match="HxW"):
        encode_mask_rle(np.zeros((2, 2, 4), np.uint8))
