"""Label Studio's brush RLE: the bit-packed run-length code in a BrushLabels result's ``value.rle``.

The list of ints is a byte string (0..255 each) holding a "thi.ng/rle-pack" stream over the flattened RGBA image
(``h * w * 4`` bytes, row-major, channels interleaved R, G, B, A). Bits are read most significant first:

- header: 32 bits value count, 5 bits ``word_size - 1``, then 4 x 4 bits ``run_size_bits - 1`` (Label Studio
  writes word size 8 and run size classes 3, 4, 8, 16 bits);
- then per run: 1 bit flag, 2 bits size class ``c``, ``run_size_bits[c]`` bits ``n - 1``; flag 1 = one word
  repeated ``n`` times, flag 0 = ``n`` literal words.

Label Studio's Python converter (``label_studio_sdk.converter.brush``, formerly ``label_studio_converter.brush``)
encodes every single value as a literal run of 1, always pads with 1..8 zero bits (a whole zero byte when the stream
ends on a byte boundary) and writes its mask's value into all four channels (``mask2rle``). :func:`encode_rle`
reproduces that output bit for bit; :func:`decode_rle` reads any valid stream, including the browser's, which
groups literals.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ..errors import FormatError

__all__ = ["decode_rle", "encode_rle", "rle_to_alpha", "decode_flat", "encode_flat"]

_HEADER_BITS = 32 + 5 + 4 * 4
# the converter's fixed parameters: word size 8, run size classes of 3/4/8/16 bits (runs up to 8/16/256/65536)
_WORD_SIZE = 8
_RUN_SIZE_BITS = (3, 4, 8, 16)
_MAX_RUN = 1 << 16


def _as_bytes(rle: Sequence[int] | npt.ArrayLike, source: str | Path) -> bytes:
    """The RLE list as bytes; refuse anything that is not a flat list of ints 0..255."""
    if isinstance(rle, (bytes, bytearray)):
        return bytes(rle)
    if isinstance(rle, (list, tuple)):
        try:
            return bytes(rle)  # C speed for JSON lists, and it refuses floats, strings and values over 255
        except (ValueError, TypeError) as err:
            raise FormatError(f"brush RLE must be a flat list of integers 0..255 ({err}); the export is damaged",
                              path=source) from err
    arr = np.asarray(rle)
    if arr.ndim != 1 or (arr.size and (arr.dtype.kind not in "iu" or arr.min() < 0 or arr.max() > 255)):
        raise FormatError("brush RLE must be a flat list of integers 0..255; the export is damaged", path=source)
    return arr.astype(np.uint8).tobytes()


def decode_flat(rle: Sequence[int] | npt.ArrayLike, *, source: str | Path,
                expected_len: int | None = None) -> npt.NDArray[np.uint8]:
    """Decode a brush RLE byte list into the 1-D uint8 array it encodes (any word size 1..8, any run sizes).

    ``expected_len`` (when given) is checked against the header before anything is allocated. Raises
    :class:`FormatError` naming ``source`` when the stream is truncated, a run overruns the declared length,
    or the header does not match.
    """
    data = _as_bytes(rle, source)
    nbits = len(data) * 8
    if nbits < _HEADER_BITS:
        raise FormatError(f"brush RLE is truncated: {len(data)} bytes, shorter than the 7-byte header", path=source)
    # 8 zero bytes of padding let every read below take one 64-bit window without bounds checks; reads that
    # land in the padding are caught by the position checks instead.
    buf = data + bytes(8)
    head = int.from_bytes(buf[:7], "big") >> (56 - _HEADER_BITS)
    num = head >> 21
    word_size = ((head >> 16) & 0x1F) + 1
    run_bits = [((head >> s) & 0xF) + 1 for s in (12, 8, 4, 0)]
    if expected_len is not None and num != expected_len:
        raise FormatError(f"brush RLE holds {num} values, expected {expected_len} (width x height x 4 RGBA); "
                          "original_width/original_height do not match the mask", path=source)
    if word_size > 8:
        raise FormatError(f"brush RLE has word size {word_size} bits; Label Studio brush masks use 8-bit bytes",
                          path=source)

    # The stream is variable-length, so finding run boundaries is sequential. The loop does only the few int ops
    # of each run header, on precomputed 64-bit windows (one per byte offset: 57..64 bits from any bit position,
    # enough for flag + class + 16-bit count); numpy reads the values afterwards. Per 3-bit flag + class: the
    # count's bits, its mask and the bits to skip before the next run (fill runs hold one word). One packed int
    # per run keeps the loop at one append: (bit position of its first value, fill flag, n - 1).
    windows = _byte_windows(np.frombuffer(buf, np.uint8), len(data) + 1)
    table = [(run_bits[t & 3], (1 << run_bits[t & 3]) - 1, 3 + run_bits[t & 3], t >> 2) for t in range(8)]
    runs: list[int] = []
    append = runs.append
    pos, i = _HEADER_BITS, 0
    while i < num:
        avail = 61 - (pos & 7)  # bits of the window after this run's 3-bit flag + class
        window = windows[pos >> 3]
        size_bits, mask, header_bits, fill = table[(window >> avail) & 7]
        n = ((window >> (avail - size_bits)) & mask) + 1
        pos += header_bits
        append((pos << 18) | (fill << 17) | (n - 1))
        pos += word_size if fill else n * word_size
        i += n
        if pos > nbits:  # checked once per run: reads past the end only ever see the zero padding
            raise FormatError(f"brush RLE is truncated: the stream ends inside the run at value {i - n} of {num}",
                              path=source)
    if i != num:
        raise FormatError(f"brush RLE is corrupt: its runs hold {i} values, more than the {num} declared in its "
                          "header", path=source)
    if num == 0:
        return np.zeros(0, np.uint8)

    packed = np.asarray(runs, np.int64)
    n_run = (packed & 0x1FFFF) + 1
    is_fill = (packed >> 17) & 1 == 1
    counts = np.where(is_fill, 1, n_run)  # values stored per run
    run_of = np.repeat(np.arange(counts.size), counts)
    k = np.arange(run_of.size) - np.repeat(np.cumsum(counts) - counts, counts)
    bit_pos = (packed >> 18)[run_of] + k * word_size
    values = _read_words(np.frombuffer(buf, np.uint8), bit_pos, word_size)
    return np.repeat(values, np.where(is_fill, n_run, 1)[run_of])


def _byte_windows(buf: npt.NDArray[np.uint8], count: int) -> list[int]:
    """The 64-bit big-endian integer starting at each of the first ``count`` byte offsets of ``buf``."""
    wide = buf.astype(np.uint64)
    out = np.zeros(count, np.uint64)
    for j in range(8):
        out |= wide[j:j + count] << np.uint64(56 - 8 * j)
    return out.tolist()


def _read_words(buf: npt.NDArray[np.uint8], bit_pos: npt.NDArray[np.int64], word_size: int) -> npt.NDArray[np.uint8]:
    """Words of ``word_size`` (<= 8) bits at each bit position of ``buf`` (MSB first): two bytes cover any word."""
    byte = bit_pos >> 3
    pair = (buf[byte].astype(np.uint16) << 8) | buf[byte + 1]
    shift = (16 - word_size - (bit_pos & 7)).astype(np.uint16)
    return ((pair >> shift) & ((1 << word_size) - 1)).astype(np.uint8)


def decode_rle(rle: Sequence[int] | npt.ArrayLike, *, shape_hw: tuple[int, int],
               source: str | Path) -> npt.NDArray[np.uint8]:
    """Decode a BrushLabels ``value.rle`` into the HxWx4 uint8 RGBA image it encodes.

    ``shape_hw`` is (original_height, original_width). Raises :class:`FormatError` naming ``source`` when the
    decoded length is not ``h * w * 4`` or the stream is truncated or corrupt.
    """
    h, w = int(shape_hw[0]), int(shape_hw[1])
    flat = decode_flat(rle, source=source, expected_len=h * w * 4)
    return flat.reshape(h, w, 4)


def rle_to_alpha(rle: Sequence[int] | npt.ArrayLike, *, shape_hw: tuple[int, int],
                 source: str | Path) -> npt.NDArray[np.uint8]:
    """The alpha channel (index 3) of a brush RLE as HxW uint8, 0..255.

    Label Studio paints brush strokes anti-aliased, so edge pixels have alpha between 0 and 255; the converter's
    own export (``decode_from_annotation``) keeps this channel too.
    """
    return np.ascontiguousarray(decode_rle(rle, shape_hw=shape_hw, source=source)[:, :, 3])


def encode_flat(values: npt.ArrayLike) -> list[int]:
    """Encode a 1-D array of ints 0..255 exactly as Label Studio's ``encode_rle`` does; returns the byte list."""
    arr = np.asarray(values)
    if arr.ndim != 1 or arr.size == 0 or arr.dtype.kind not in "iu":
        raise ValueError(f"encode_flat needs a non-empty 1-D integer array, got {arr.dtype} of shape {arr.shape}")
    if arr.min() < 0 or arr.max() > 255:
        raise ValueError("brush RLE values must be 0..255")
    if arr.size >= 1 << 32:
        raise ValueError(f"brush RLE holds at most 2**32 - 1 values, got {arr.size}")
    arr = arr.astype(np.uint8, copy=False)

    ends = np.append(np.flatnonzero(arr[1:] != arr[:-1]), arr.size - 1)
    lengths = np.diff(np.append(-1, ends))
    vals = arr[ends].astype(np.uint64)
    # Runs over 256 use the 16-bit class; the converter splits runs over 65536 into full 65536 chunks first and
    # writes the tail in the 16-bit class too, however short it is.
    extra = np.where(lengths > 256, (lengths - 1) // _MAX_RUN, 0)
    count = lengths - extra * _MAX_RUN - 1
    # (prefix, prefix bits) per class: flag + 2-bit class + count; a lone value is a literal run of 1 (flag 0)
    classes = [lengths == 1, lengths <= 8, lengths <= 16, lengths <= 256]
    prefix = np.select(classes, [np.zeros_like(count), (0b100 << 3) | count, (0b101 << 4) | count,
                                 (0b110 << 8) | count], (0b111 << 16) | count).astype(np.uint64)
    prefix_bits = np.select(classes, [6, 6, 7, 11], 19)
    full_chunk = np.uint64(((0b111 << 16) | (_MAX_RUN - 1)) << _WORD_SIZE)
    last_code = (prefix << np.uint64(_WORD_SIZE)) | vals

    # codes in stream order: each run's full chunks, then its last code
    per_run = extra + 1
    run_of = np.repeat(np.arange(lengths.size), per_run)
    is_last = np.zeros(run_of.size, bool)
    is_last[np.cumsum(per_run) - 1] = True
    codes = np.where(is_last, last_code[run_of], full_chunk | vals[run_of])
    code_bits = np.where(is_last, prefix_bits[run_of] + _WORD_SIZE, 19 + _WORD_SIZE)

    header = (arr.size << 21) | ((_WORD_SIZE - 1) << 16)
    for s, b in zip((12, 8, 4, 0), _RUN_SIZE_BITS):
        header |= (b - 1) << s
    parts = [_code_bits(np.asarray([header], np.uint64), np.asarray([_HEADER_BITS]))]
    chunk = 1 << 16  # bounds the per-bit temporaries (16 bytes per bit) for incompressible inputs
    for start in range(0, codes.size, chunk):
        parts.append(_code_bits(codes[start:start + chunk], code_bits[start:start + chunk]))
    total = sum(p.size for p in parts)
    parts.append(np.zeros(8 - total % 8, np.uint8))  # always 1..8 zero bits: the converter's padding rule
    return np.packbits(np.concatenate(parts)).tolist()


def _code_bits(codes: npt.NDArray[np.uint64], n_bits: npt.NDArray[np.integer]) -> npt.NDArray[np.uint8]:
    """Expand codes into their bits, MSB first, concatenated: one uint8 0/1 per bit."""
    n_bits = n_bits.astype(np.int64)
    within = np.arange(int(n_bits.sum())) - np.repeat(np.cumsum(n_bits) - n_bits, n_bits)
    shift = (np.repeat(n_bits, n_bits) - 1 - within).astype(np.uint64)
    return ((np.repeat(codes, n_bits) >> shift) & np.uint64(1)).astype(np.uint8)


def encode_rle(rgba_or_alpha: npt.NDArray[np.integer]) -> list[int]:
    """Encode a mask as Label Studio brush RLE, identical to the converter's output.

    ``rgba_or_alpha``: HxWx4 uint8 RGBA (encoded as is, like ``encode_rle(image.ravel())``) or HxW uint8 (its value
    written into all four channels, like ``mask2rle``; the alpha channel therefore equals the array).
    """
    arr = np.asarray(rgba_or_alpha)
    if arr.ndim == 2:
        flat = np.repeat(arr.ravel(), 4)
    elif arr.ndim == 3 and arr.shape[2] == 4:
        flat = arr.ravel()
    else:
        raise ValueError(f"encode_rle needs an HxW or HxWx4 array, got shape {arr.shape}")
    return encode_flat(flat)
