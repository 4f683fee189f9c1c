"""Label Studio brush RLE: bit-exact against vectors made by Label Studio's own converter, round trips, damage."""

from __future__ import annotations

import time

import numpy as np
import pytest

from animeparse.errors import FormatError
from animeparse.formats.lsrle import decode_flat, decode_rle, encode_flat, encode_rle, rle_to_alpha

# --- golden vectors ------------------------------------------------------------------------------------------------
# Produced by label-studio-sdk 2.1.2 (label_studio_sdk.converter.brush, numpy 2.2.6): GOLDEN_7X5 and GOLDEN_16X16
# with mask2rle(mask), GOLDEN_RGBA with encode_rle(rgba.ravel()), GOLDEN_ALIGNED and GOLDEN_SPLIT with
# encode_rle(values); the inputs are rebuilt below from the same literals/integer formulas.
MASK_7X5 = np.array([
    [0, 0, 0, 0, 0],
    [0, 31, 128, 64, 0],
    [12, 200, 255, 255, 90],
    [0, 127, 255, 255, 128],
    [0, 1, 254, 129, 0],
    [0, 0, 77, 0, 0],
    [0, 0, 0, 0, 255],
], np.uint8)
GOLDEN_7X5 = [0, 0, 0, 140, 57, 27, 254, 23, 0, 140, 126, 56, 8, 208, 35, 0, 140, 50, 60, 137, 255, 227, 90, 140, 2,
              55, 249, 255, 227, 128, 140, 2, 48, 24, 255, 163, 129, 182, 1, 26, 110, 23, 0, 143, 252]
GOLDEN_16X16 = [
    0, 0, 4, 0, 57, 27, 254, 143, 0, 140, 62, 52, 184, 219, 227, 123, 141, 190, 52, 184, 195, 240, 248, 4, 103, 241,
    201, 199, 159, 31, 156, 127, 241, 249, 199, 159, 28, 156, 103, 248, 92, 2, 51, 248, 234, 240, 223, 252, 117, 113,
    159, 223, 0, 140, 62, 57, 60, 71, 255, 28, 156, 97, 246, 192, 35, 75, 143, 63, 17, 255, 199, 159, 26, 93, 176, 8,
    219, 227, 243, 196, 127, 241, 249, 198, 223, 108, 2, 55, 188, 87, 255, 27, 221, 176, 8, 219, 227, 243, 196, 127,
    241, 249, 198, 223, 108, 2, 52, 184, 243, 241, 31, 252, 121, 241, 165, 219, 0, 140, 62, 57, 60, 71, 255, 28, 156,
    97, 247, 192, 35, 63, 142, 175, 13, 255, 199, 87, 25, 254, 23, 0, 140, 254, 57, 56, 243, 227, 243, 143, 254, 63,
    56, 243, 227, 147, 140, 255, 15, 128, 70, 31, 26, 92, 109, 241, 189, 198, 223, 26, 92, 97, 249, 76, 0]
GOLDEN_RGBA = [
    0, 0, 0, 96, 57, 27, 252, 224, 0, 127, 128, 0, 2, 0, 5, 0, 127, 128, 0, 2, 0, 25, 0, 127, 128, 0, 2, 4, 63, 224, 0,
    0, 128, 7, 252, 96, 0, 127, 128, 0, 2, 0, 11, 64, 127, 128, 0, 2, 4, 63, 224, 0, 0, 129, 15, 248, 0, 0, 32, 67,
    254, 0, 0, 8, 0, 65, 78, 0, 7, 248, 0, 0, 32, 0, 20, 7, 248, 0, 0, 32, 67, 254, 0, 0, 8, 0, 30, 97, 176, 0]
# the stream ends on a byte boundary here, and the converter still appends a whole zero byte
VALUES_ALIGNED = np.repeat([3, 200, 3, 200, 3], 9)
GOLDEN_ALIGNED = [0, 0, 0, 45, 57, 27, 253, 128, 59, 25, 22, 0, 236, 100, 88, 3, 0]
# runs over 65536 are split into full chunks, and a short tail keeps the 16-bit class
VALUES_SPLIT = np.concatenate([np.zeros(2 * 65536 + 1, np.uint8), [9], np.full(65536 + 300, 255, np.uint8), [0] * 5])
GOLDEN_SPLIT = [0, 3, 1, 51, 57, 27, 255, 255, 255, 0, 255, 255, 224, 28, 0, 0, 0, 0, 159, 255, 255, 255, 192, 74, 255,
                228, 0, 0]
# from label-studio-converter's own tests/test_brush.py (test_rle_encoding)
VALUES_CONVERTER = [1, 1, 1, 1, 2, 3, 5, 6, 7, 8, 4, 4, 4, 4, 4, 4, 4, 4]
GOLDEN_CONVERTER = [0, 0, 0, 18, 57, 27, 252, 96, 32, 1, 0, 6, 0, 40, 0, 192, 3, 128, 17, 56, 32]


def mask_16x16() -> np.ndarray:
    """An anti-aliased disc: 11 alpha levels between 0 and 255."""
    y, x = np.mgrid[:16, :16]
    return np.clip(255 - 12 * ((x - 7) ** 2 + (y - 8) ** 2 - 25), 0, 255).astype(np.uint8)


def rgba_4x6() -> np.ndarray:
    rgba = np.zeros((4, 6, 4), np.uint8)
    rgba[..., 3] = [[0, 0, 40, 200, 255, 255], [0, 90, 255, 255, 255, 130], [0, 0, 10, 255, 60, 0], [0] * 6]
    rgba[..., 0] = np.where(rgba[..., 3] > 0, 255, 0)
    rgba[..., 2] = np.where(rgba[..., 3] > 0, 64, 0)
    return rgba


GOLDEN_MASKS = [(MASK_7X5, GOLDEN_7X5), (mask_16x16(), GOLDEN_16X16)]


@pytest.mark.parametrize(("mask", "rle"), GOLDEN_MASKS, ids=["7x5", "16x16"])
def test_golden_masks_decode_and_encode_exactly(mask, rle):
    rgba = decode_rle(rle, shape_hw=mask.shape, source="golden.json")
    assert rgba.shape == (*mask.shape, 4) and rgba.dtype == np.uint8
    assert (rgba == mask[:, :, None]).all()  # mask2rle writes the value into all four channels
    np.testing.assert_array_equal(rle_to_alpha(rle, shape_hw=mask.shape, source="golden.json"), mask)
    assert encode_rle(mask) == rle


def test_golden_rgba_keeps_channels_apart():
    rgba = rgba_4x6()
    np.testing.assert_array_equal(decode_rle(GOLDEN_RGBA, shape_hw=(4, 6), source="x"), rgba)
    np.testing.assert_array_equal(rle_to_alpha(GOLDEN_RGBA, shape_hw=(4, 6), source="x"), rgba[..., 3])
    assert encode_rle(rgba) == GOLDEN_RGBA


@pytest.mark.parametrize(("values", "rle"), [(VALUES_ALIGNED, GOLDEN_ALIGNED), (VALUES_SPLIT, GOLDEN_SPLIT),
                                             (VALUES_CONVERTER, GOLDEN_CONVERTER)],
                         ids=["byte-aligned-padding", "split-runs", "converter-test"])
def test_golden_flat_vectors(values, rle):
    assert encode_flat(np.asarray(values)) == rle
    np.testing.assert_array_equal(decode_flat(rle, source="x"), values)


def _runs(*pairs: tuple[int, int]) -> np.ndarray:
    return np.concatenate([np.full(n, v, np.uint8) for v, n in pairs])


RNG = np.random.default_rng(7)
ROUND_TRIPS = {
    "random-bytes": RNG.integers(0, 256, 4000, dtype=np.uint8),
    "binary": (RNG.random(4000) > 0.8).astype(np.uint8) * 255,
    # run lengths at every class boundary, and runs split into 65536-value chunks with short and long tails
    "class-edges": _runs(*[(i % 2 * 255, n) for i, n in enumerate([1, 2, 8, 9, 16, 17, 256, 257, 65536, 65537])]),
    "split-tails": _runs((0, 2 * 65536 + 300), (9, 1), (255, 65536 + 256), (0, 1)),
}


@pytest.mark.parametrize("values", list(ROUND_TRIPS.values()), ids=list(ROUND_TRIPS))
def test_round_trip(values):
    np.testing.assert_array_equal(decode_flat(encode_flat(values), source="x"), values)


def _stream(bits: str) -> list[int]:
    """A bit string ('0'/'1', spaces ignored) packed MSB first into bytes, zero padded."""
    bits = bits.replace(" ", "")
    bits += "0" * (-len(bits) % 8)
    return [int(bits[i:i + 8], 2) for i in range(0, len(bits), 8)]


def _header(num: int, word_size: int = 8, run_bits: tuple[int, ...] = (3, 4, 8, 16)) -> str:
    return f"{num:032b} {word_size - 1:05b} " + " ".join(f"{b - 1:04b}" for b in run_bits) + " "


def test_decodes_grouped_literals_as_the_browser_writes_them():
    # Label Studio's web editor (thi.ng/rle-pack) writes n literal values after one flag-0 header; the Python
    # converter never does, so this stream is built by hand: 3 literals, then 5 x 9, then 1 literal.
    rle = _stream(_header(9) + "0 00 010 00000001 00000010 00000011" + "1 00 100 00001001" + "0 00 000 11111111")
    np.testing.assert_array_equal(decode_flat(rle, source="x"), [1, 2, 3, 9, 9, 9, 9, 9, 255])


def test_decodes_other_word_and_run_sizes():
    rle = _stream(_header(6, word_size=4, run_bits=(2, 5, 9, 12)) + "1 01 00100 1010" + "0 00 00 0111")
    np.testing.assert_array_equal(decode_flat(rle, source="x"), [10, 10, 10, 10, 10, 7])


@pytest.mark.parametrize("cut", [1, 20, 100, 166], ids=lambda c: f"first-{c}-bytes")
def test_truncated_stream_names_the_file(cut):
    with pytest.raises(FormatError, match="truncated") as err:
        decode_rle(GOLDEN_16X16[:cut], shape_hw=(16, 16), source="export/brush.json")
    assert "export/brush.json" in str(err.value)


def test_wrong_size_names_both_lengths():
    with pytest.raises(FormatError, match=r"holds 140 values, expected 144") as err:
        decode_rle(GOLDEN_7X5, shape_hw=(6, 6), source="a.json")
    assert "a.json" in str(err.value)


@pytest.mark.parametrize(("rle", "match"), [
    (_stream(_header(4) + "1 00 111 00000001"), "overruns|more than"),  # a run of 8 in a 4-value stream
    (_stream(_header(4, word_size=16) + "1 00 011 0000000000000001"), "word size 16"),
    ([0, 0, 0, 4, 57, 27, 300], "0..255"),
    ([0, 0, 0, 4, 57, 27, 2.5], "0..255"),
    ([0, 0, 0], "truncated"),
], ids=["overrun", "word-size", "value-300", "float", "header-only"])
def test_corrupt_streams_are_refused(rle, match):
    with pytest.raises(FormatError, match=match):
        decode_flat(rle, source="x.json")


def test_encode_refuses_what_label_studio_cannot_hold():
    with pytest.raises(ValueError):
        encode_rle(np.zeros((2, 2, 3), np.uint8))
    with pytest.raises(ValueError):
        encode_flat(np.array([0, 256]))


def test_decoding_a_512x512_brush_mask_is_fast():
    # what Label Studio's editor writes today (alpha copied into R, G and B) and what mask2rle writes
    y, x = np.mgrid[:512, :512]
    alpha = np.zeros((512, 512), np.uint8)
    for cx, cy, r in [(150, 200, 90), (350, 300, 120), (256, 80, 40)]:
        alpha = np.maximum(alpha, np.clip((r - np.hypot(y - cy, x - cx)) * 128 + 128, 0, 255).astype(np.uint8))
    rle = encode_rle(alpha)
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        out = rle_to_alpha(rle, shape_hw=(512, 512), source="x")
        best = min(best, time.perf_counter() - start)
    np.testing.assert_array_equal(out, alpha)
    assert best < 0.05, f"decode took {best * 1000:.1f} ms"
