"""Fuzz: Label Studio brush RLE (:mod:`animeparse.formats.lsrle`: ``encode_rle``, ``encode_mask_rle``) against
label-studio-sdk's own converter (``label_studio_sdk.converter.brush``: ``encode_rle``, ``mask2rle``,
``decode_rle``).

Our decoder is strict where the SDK's guesses: it decodes a stream only when the header is whole, every run ends
inside the bytes, the runs hold exactly the declared number of values and words are at most 8 bits. Every stream
it decodes, it decodes exactly as the SDK does. The streams the SDK takes and we refuse are damaged ones, for
which the SDK returns a guess: a last value read from fewer bits than its word size, a run clipped at the declared
length, words over 8 bits. ``test_damaged_streams_are_refused_or_decoded_like_the_sdk`` checks both halves.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from animeparse.errors import FormatError
from animeparse.formats.labelstudio.reader import _region
from animeparse.formats.lsrle import decode_flat, decode_rle, encode_flat, encode_mask_rle, encode_rle, rle_to_alpha

from ..conftest import require
from .fuzzkit import fuzz, label_masks, tally

brush = require("label_studio_sdk.converter.brush", extra="labelstudio")

_SOME_IDS = (0, 1, 2, 127, 128, 200, 254, 255)


def sdk_decode(rle: list[int]) -> np.ndarray:
    return np.asarray(brush.decode_rle(list(rle)))


@fuzz("ls_encode_agrees_with_sdk")
@given(label_masks(ids=_SOME_IDS), st.integers(0, 2**32 - 1))
def test_encoders_are_bit_identical_to_the_sdk(mask, seed):
    """HxW masks: ``encode_rle`` and ``ls push``'s fast ``encode_mask_rle`` equal ``mask2rle``; HxWx4 RGBA:
    ``encode_rle`` equals the SDK's ``encode_rle`` of the flattened image. Both decode back exactly, in our decoder
    and in the SDK's."""
    expected = brush.mask2rle(mask)
    assert encode_rle(mask) == expected
    assert encode_mask_rle(mask) == expected
    assert np.array_equal(decode_rle(expected, shape_hw=mask.shape, source="t.json")[:, :, 3], mask)
    assert np.array_equal(sdk_decode(expected).reshape(*mask.shape, 4)[:, :, 3], mask)

    rng = np.random.default_rng(seed)
    rgba = np.stack([mask, np.roll(mask, 1), rng.integers(0, 2, mask.shape) * 255, mask[::-1, ::-1]], axis=2)
    rgba = rgba.astype(np.uint8)
    mine = encode_rle(rgba)
    assert mine == brush.encode_rle(rgba.ravel())
    assert np.array_equal(decode_rle(mine, shape_hw=mask.shape, source="t.json"), rgba)
    assert np.array_equal(sdk_decode(mine), rgba.ravel())


# run lengths from every class of the format: lone values, <= 8, <= 16, <= 256, <= 65536 and the split above it
_RUN = st.one_of(st.just(1), st.integers(2, 8), st.integers(9, 16), st.integers(17, 256), st.integers(257, 65536),
                 st.integers(65537, 140_000))


@fuzz("ls_flat_runs_agree_with_sdk")
@given(st.lists(st.tuples(st.integers(0, 255), _RUN), min_size=1, max_size=12))
def test_long_runs_agree_with_the_sdk(runs):
    """Flat streams of any length (not only multiples of 4) with runs at and across every size-class boundary,
    including runs over 65536 values, which both encoders split into 65536-value chunks."""
    values = np.concatenate([np.full(n, v, np.uint8) for v, n in runs])
    mine = encode_flat(values)
    assert mine == brush.encode_rle(values)
    assert np.array_equal(decode_flat(mine, source="t.json"), values)
    assert np.array_equal(sdk_decode(mine), values)


class _Bits:
    def __init__(self) -> None:
        self.bits: list[str] = []

    def put(self, value: int, n: int) -> None:
        self.bits.append(format(value, f"0{n}b"))

    def packed(self, pad: int) -> list[int]:
        text = "".join(self.bits)
        text += "0" * (-len(text) % 8 + 8 * pad)
        return [int(text[i:i + 8], 2) for i in range(0, len(text), 8)]


@st.composite
def any_valid_stream(draw: st.DrawFn) -> tuple[list[int], np.ndarray]:
    """A stream as any writer may make one (the browser's editor groups literals; other word and run sizes are
    legal): word size 1..8, run size classes 1..16 bits, fill and literal runs of any length the class allows,
    0..2 extra padding bytes. Returns (bytes, the values it encodes)."""
    word = draw(st.integers(1, 8))
    run_bits = [draw(st.integers(1, 16)) for _ in range(4)]
    out = _Bits()
    values: list[int] = []
    pieces = []
    for _ in range(draw(st.integers(0, 10))):
        cls = draw(st.integers(0, 3))
        n = draw(st.integers(1, min(1 << run_bits[cls], 300)))
        fill = draw(st.booleans())
        words = [draw(st.integers(0, (1 << word) - 1))] if fill else draw(
            st.lists(st.integers(0, (1 << word) - 1), min_size=n, max_size=n))
        pieces.append((fill, cls, n, words))
        values += words * n if fill else words
    out.put(len(values), 32)
    out.put(word - 1, 5)
    for b in run_bits:
        out.put(b - 1, 4)
    for fill, cls, n, words in pieces:
        out.put(int(fill), 1)
        out.put(cls, 2)
        out.put(n - 1, run_bits[cls])
        for w in words:
            out.put(w, word)
    return out.packed(draw(st.integers(0, 2))), np.asarray(values, np.uint8)


@fuzz("ls_decode_agrees_with_sdk")
@given(any_valid_stream())
def test_any_valid_stream_decodes_as_in_the_sdk(stream):
    rle, values = stream
    assert np.array_equal(decode_flat(rle, source="t.json"), values)
    assert np.array_equal(sdk_decode(rle), values)


@fuzz("ls_alpha_threshold_agrees_with_sdk")
@given(label_masks(ids=(0, 255), max_side=32), st.integers(0, 2**32 - 1), st.integers(1, 255))
def test_brush_region_is_the_sdk_alpha_at_or_above_the_threshold(mask, seed, threshold):
    """An anti-aliased stroke (alpha 0..255 along the edges, colour in RGB) as the SDK encodes it: the Label
    Studio reader paints exactly the pixels whose SDK-decoded alpha is >= ``--alpha-threshold`` (docs/formats.md)."""
    rng = np.random.default_rng(seed)
    h, w = mask.shape
    alpha = mask.astype(np.int64)
    edge = np.zeros_like(mask, bool)
    edge[:, 1:] |= mask[:, 1:] != mask[:, :-1]
    edge[1:, :] |= mask[1:, :] != mask[:-1, :]
    alpha[edge] = rng.integers(0, 256, int(edge.sum()))
    rgba = np.zeros((h, w, 4), np.uint8)
    rgba[..., 0], rgba[..., 2], rgba[..., 3] = 250, 20, alpha
    rle = brush.encode_rle(rgba.ravel())
    sdk_alpha = sdk_decode(rle).reshape(h, w, 4)[:, :, 3]  # what decode_from_annotation returns
    assert np.array_equal(rle_to_alpha(rle, shape_hw=(h, w), source="t.json"), sdk_alpha)
    result = {"type": "brushlabels", "original_width": w, "original_height": h,
              "value": {"format": "rle", "rle": rle, "brushlabels": ["hair"]}}
    region = _region(result, (w, h), (w, h), "t.json", threshold)
    assert np.array_equal(region, sdk_alpha >= threshold)


# -- damage ---------------------------------------------------------------------------------------------------------
REFUSALS = ("truncated", "more than the", "word size", "0..255")  # every way we may refuse a stream the SDK takes


@st.composite
def damaged_streams(draw: st.DrawFn) -> list[int]:
    """A valid stream (SDK-made, or any writer's) with bits flipped, bytes set, cut short, extended with random
    bytes, or replaced by random bytes altogether."""
    how = draw(st.sampled_from(["flip", "byte", "truncate", "extend", "random", "several"]))
    if how == "random":
        return draw(st.lists(st.integers(0, 255), max_size=80))
    if draw(st.booleans()):
        rle = list(brush.mask2rle(draw(label_masks(ids=_SOME_IDS, max_side=12))))
    else:
        rle = list(draw(any_valid_stream())[0])
    if how == "truncate":
        return rle[:draw(st.integers(0, len(rle) - 1))]
    if how == "extend":
        return rle + draw(st.lists(st.integers(0, 255), min_size=1, max_size=16))
    for _ in range(draw(st.integers(2, 6)) if how == "several" else 1):
        i = draw(st.integers(0, len(rle) - 1))
        if how == "byte" or (how == "several" and draw(st.booleans())):
            rle[i] = draw(st.integers(0, 255))
        else:
            rle[i] ^= 1 << draw(st.integers(0, 7))
    return rle


@fuzz("ls_damaged_streams")
@given(damaged_streams())
def test_damaged_streams_are_refused_or_decoded_like_the_sdk(rle):
    try:
        ours = decode_flat(rle, source="task-7.json")
    except FormatError as err:
        ours = None
        assert "task-7.json" in str(err)
        assert any(reason in str(err) for reason in REFUSALS), str(err)
    declared = int.from_bytes(bytes(rle[:4]).ljust(4, b"\0"), "big")
    if declared > 8_000_000:  # the SDK would allocate the declared length up front: no stream here can fill it
        assert ours is None
        tally("ls_damaged_streams", "refused (declares more values than the bytes can hold)")
        return
    try:
        theirs = sdk_decode(rle)
    except (ValueError, IndexError, OverflowError):  # int('') at the end of the bits, a literal past the end ...
        theirs = None
    if ours is not None:
        assert theirs is not None and np.array_equal(ours, theirs)
        tally("ls_damaged_streams", "decoded, equal to the SDK")
    else:
        tally("ls_damaged_streams", "refused, SDK fails too" if theirs is None else "refused, SDK returns a guess")
