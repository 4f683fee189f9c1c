"""Fuzz: the mask and image readers of :mod:`animeparse.imageio` and its PNG writers.

Written masks read back exactly (L and P mode, from a file or from bytes, also after ``png_with_palette`` rewrites
them). A damaged PNG (bits flipped, bytes set, inserted or deleted, the file cut short or extended) gives either
exactly the original pixels or a FormatError naming the file: never another exception, never different pixels.
Pillow checks no CRC of the pixel data (IDAT) and stops inflating before zlib's own checksum, so before the chunk
CRCs were checked a flipped bit in IDAT came back as a silently different mask (about 1 flip in 20).
"""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from animeparse.errors import FormatError
from animeparse.imageio import (
    encode_mask_png,
    png_with_palette,
    read_binary_mask,
    read_image,
    read_mask,
    write_mask,
)
from animeparse.labelmap import load_labelmap

from .fuzzkit import fuzz, label_masks, tally

PALETTE = load_labelmap("danbooru-parsing").palette()
_IDS = (0, 1, 2, 17, 18, 254, 255)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz-masks")


@fuzz("png_mask_round_trip")
@given(label_masks(ids=_IDS), st.sampled_from(["L", "P"]))
def test_written_masks_read_back_exactly(folder, mask, mode):
    palette = PALETTE if mode == "P" else None
    path = folder / f"round-{mode}.png"
    data = write_mask(path, mask, palette=palette)
    assert Image.open(io.BytesIO(data)).mode == mode
    for got in (read_mask(path), read_mask(path, data=data), read_mask(path, data=path.read_bytes())):
        assert got.dtype == np.uint8 and np.array_equal(got, mask)
    # the chunk rewriter (ingest's P-mode, export's L-mode) changes the colour type and palette, never a pixel
    for target in (PALETTE, None):
        rewritten = png_with_palette(data, target)
        assert rewritten is not None
        assert Image.open(io.BytesIO(rewritten)).mode == ("P" if target else "L")
        assert np.array_equal(read_mask(path, data=rewritten), mask)
    binary = (mask != 0).astype(np.uint8) * 255
    path_b = folder / "binary.png"
    write_mask(path_b, binary)
    assert np.array_equal(read_binary_mask(path_b), mask != 0)


# -- damage ---------------------------------------------------------------------------------------------------------
@st.composite
def damage(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` with one kind of damage, at positions that favour the chunk structure and the pixel data."""
    b = bytearray(data)
    how = draw(st.sampled_from(["idat"] * 4 + ["flip", "byte", "several", "truncate", "extend", "insert", "delete"]))
    pos = st.integers(0, len(b) - 1)
    if how == "idat":  # the end of the compressed pixels: where a flip may still inflate, to other pixels
        start, length = _idat_span(data)
        how, pos = "flip", st.integers(0, length - 1).map(lambda k: start + length - 1 - k)
    if how == "truncate":
        return bytes(b[:draw(st.integers(0, len(b) - 1))])
    if how == "extend":
        return bytes(b) + draw(st.binary(min_size=1, max_size=64))
    if how == "insert":
        i = draw(pos)
        return bytes(b[:i]) + draw(st.binary(min_size=1, max_size=8)) + bytes(b[i:])
    if how == "delete":
        i = draw(pos)
        return bytes(b[:i] + b[i + draw(st.integers(1, 8)):])
    for _ in range(draw(st.integers(2, 5)) if how == "several" else 1):
        i = draw(pos)
        if how == "byte":
            b[i] = draw(st.integers(0, 255).filter(lambda v, old=b[i]: v != old))
        else:
            b[i] ^= 1 << draw(st.integers(0, 7))
    return bytes(b)


def _idat_span(data: bytes) -> tuple[int, int]:
    """(offset, length) of the first IDAT chunk's data."""
    pos = 8
    while data[pos + 4:pos + 8] != b"IDAT":
        pos += 12 + struct.unpack(">I", data[pos:pos + 4])[0]
    return pos + 8, struct.unpack(">I", data[pos:pos + 4])[0]


def _rgb(seed: int, shape_hw: tuple[int, int]) -> np.ndarray:
    """An image with flat areas and noise, as PNGs of pictures hold both."""
    rng = np.random.default_rng(seed)
    img = np.repeat(rng.integers(0, 256, (shape_hw[0], 1, 3), dtype=np.uint8), shape_hw[1], axis=1)
    img[::3] = rng.integers(0, 256, img[::3].shape, dtype=np.uint8)
    return img


@st.composite
def damaged_files(draw: st.DrawFn) -> tuple[str, np.ndarray, bytes]:
    """(kind, original pixels, damaged bytes): an L or P mask PNG (ours, or Pillow's default zlib level), or an
    RGB image PNG."""
    kind = draw(st.sampled_from(["L", "P", "RGB"]))
    if kind == "RGB":
        pixels = _rgb(draw(st.integers(0, 2**32 - 1)), (draw(st.integers(1, 24)), draw(st.integers(1, 24))))
        buf = io.BytesIO()
        Image.fromarray(pixels).save(buf, format="PNG", compress_level=draw(st.sampled_from([0, 1, 6])))
        data = buf.getvalue()
    else:
        if draw(st.booleans()):  # busy masks have long IDATs, where a flip most often still inflates
            rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
            pixels = np.asarray(_IDS, np.uint8)[rng.integers(len(_IDS), size=(draw(st.integers(8, 32)),) * 2)]
        else:
            pixels = draw(label_masks(ids=_IDS, max_side=32))
        data = encode_mask_png(pixels, palette=PALETTE if kind == "P" else None)
    return kind, pixels, draw(damage(data))


def _read_all(kind: str, path, data: bytes) -> list[np.ndarray | None]:
    """Every reader that accepts the file: None where it raised FormatError (anything else propagates)."""
    readers = [lambda: read_image(path), lambda: read_image(path, data=data)] if kind == "RGB" else [
        lambda: read_mask(path), lambda: read_mask(path, data=data), lambda: read_binary_mask(path)]
    out = []
    for read in readers:
        try:
            out.append(read())
        except FormatError as err:
            assert path.name in str(err), str(err)
            out.append(None)
    return out


@fuzz("png_mutations")
@given(damaged_files())
def test_damaged_png_is_refused_or_exact(folder, case):
    check_refused_or_exact(folder, case, "png_mutations")


def check_refused_or_exact(folder, case: tuple[str, np.ndarray, bytes], prop: str) -> None:
    kind, pixels, data = case
    path = folder / "damaged.png"
    path.write_bytes(data)
    results = _read_all(kind, path, data)
    expected = [pixels, pixels] if kind == "RGB" else [pixels, pixels, pixels != 0]
    if kind == "P":  # a P-mode pixel is painted when its palette colour is not black: only background is black
        expected[2] = np.asarray(PALETTE, np.uint8).reshape(256, 3)[pixels].any(axis=2)
    for got, want in zip(results, expected):
        if got is not None:
            assert got.shape == want.shape and np.array_equal(got, want), "a damaged file decoded to other pixels"
    tally(prop, "exact" if all(r is not None for r in results) else "refused" if all(r is None for r in results)
          else "refused by some readers, exact in the others")


@st.composite
def idat_flips(draw: st.DrawFn) -> tuple[str, np.ndarray, bytes]:
    """The damage that used to pass unseen, on its own: one bit flipped in the compressed pixels of a busy mask
    (L or P) or picture."""
    kind = draw(st.sampled_from(["L", "P", "RGB"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    shape = (draw(st.integers(8, 40)), draw(st.integers(8, 40)))
    if kind == "RGB":
        pixels = rng.integers(0, 256, (*shape, 3), dtype=np.uint8) // 64 * 64  # few levels: matches to code
        buf = io.BytesIO()
        Image.fromarray(pixels).save(buf, format="PNG", compress_level=draw(st.sampled_from([1, 6, 9])))
        data = bytearray(buf.getvalue())
    else:
        pixels = np.asarray(_IDS, np.uint8)[rng.integers(len(_IDS), size=shape)]
        data = bytearray(encode_mask_png(pixels, palette=PALETTE if kind == "P" else None))
    start, length = _idat_span(bytes(data))
    # counted from the end: a flip in the last part of the stream changes only the last pixels, and Pillow stops
    # inflating once it has them all, before zlib's checksum; earlier flips mostly break the stream
    data[start + length - 1 - draw(st.integers(0, length - 1))] ^= 1 << draw(st.integers(0, 7))
    return kind, pixels, bytes(data)


@fuzz("png_idat_flips")
@given(idat_flips())
def test_flipped_pixel_data_is_refused_or_exact(folder, case):
    check_refused_or_exact(folder, case, "png_idat_flips")


@fuzz("png_palette_rewrite_mutations")
@given(st.one_of(idat_flips(), damaged_files()).filter(lambda c: c[0] != "RGB"), st.booleans())
def test_chunk_rewriter_never_launders_damage(folder, case, to_palette):
    """``png_with_palette`` copies IDAT without inflating it and writes fresh CRCs: it must not turn a damaged
    file into a valid one with other pixels (it returns None, and the caller decodes, which refuses)."""
    _, pixels, data = case
    rewritten = png_with_palette(data, PALETTE if to_palette else None)
    if rewritten is None:
        tally("png_palette_rewrite_mutations", "declined (None)")
        return
    path = folder / "rewritten.png"
    try:
        got = read_mask(path, data=rewritten)
    except FormatError:
        tally("png_palette_rewrite_mutations", "rewritten, refused on decode")
        return
    assert np.array_equal(got, pixels), "the rewrite made a damaged mask valid"
    tally("png_palette_rewrite_mutations", "rewritten, exact")


def test_crc_is_what_catches_a_consistent_idat_change():
    """Pixels changed inside a still-valid zlib stream (stored block, so no Huffman code breaks) with the old CRC:
    only the CRC tells, and the readers must refuse."""
    mask = np.zeros((4, 4), np.uint8)
    raw = b"".join(b"\x00" + row.tobytes() for row in mask)
    bad_raw = bytearray(raw)
    bad_raw[1] = 7  # first pixel 0 -> 7
    ihdr = struct.pack(">IIBBBBB", 4, 4, 8, 0, 0, 0, 0)

    def chunk(kind: bytes, body: bytes, crc_of: bytes | None = None) -> bytes:
        crc = zlib.crc32(kind + (body if crc_of is None else crc_of))
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    good_idat = zlib.compress(raw, 0)
    bad_idat = zlib.compress(bytes(bad_raw), 0)
    sig = b"\x89PNG\r\n\x1a\n"
    damaged = sig + chunk(b"IHDR", ihdr) + chunk(b"IDAT", bad_idat, crc_of=good_idat) + chunk(b"IEND", b"")
    with pytest.raises(FormatError, match="CRC") as err:
        read_mask("masks/x.png", data=damaged)
    assert "masks/x.png" in str(err.value)
    fixed = sig + chunk(b"IHDR", ihdr) + chunk(b"IDAT", bad_idat) + chunk(b"IEND", b"")
    assert read_mask("masks/x.png", data=fixed)[0, 0] == 7  # the same bytes with a true CRC are a valid file
