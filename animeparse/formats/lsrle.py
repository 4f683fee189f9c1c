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
(:func:`encode_mask_rle` for an HxW mask, :func:`encode_flat` for any byte list) reproduces that output bit for bit;
:func:`decode_rle` reads any valid stream, including the browser's, which groups literals. This is the one brush
RLE codec: the labelstudio reader and writer, ``ls push`` and ``ls pull`` all use it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ..errors import FormatError

__all__ = ["decode_rle", "encode_rle", "encode_mask_rle", "rle_to_alpha", "decode_flat", "encode_flat"]

_HEADER_BITS = 32 + 5 + 4 * 4
# the converter's fixed parameters: word size 8, run size classes of 3/4/8/16 bits (runs up to 8/16/256/65536);
# the header after its 32-bit value count stores them minus 1: 5 bits word size, 4 x 4 bits run sizes
_WORD_SIZE = 8
_SIZE_BITS = np.array([3, 4, 8, 16], np.int64)
_HEADER_REST = ((_WORD_SIZE - 1) << 16) | (2 << 12) | (3 << 8) | (7 << 4) | 15
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
    return _encode_runs(np.diff(ends, prepend=-1), arr[ends].astype(np.int64), total=arr.size)


def encode_mask_rle(mask_hw: npt.NDArray[np.uint8]) -> list[int]:
    """Label Studio brush RLE of an HxW uint8 mask, its value written into all four channels (``mask2rle``).

    What ``ls push`` and the labelstudio export send. The same stream as ``encode_flat(np.repeat(mask, 4))``,
    found without the repeat: the stream's runs are the pixel runs times four, so they are taken from the HxW array
    (a quarter of the values).
    """
    flat = np.ascontiguousarray(mask_hw, dtype=np.uint8).ravel()
    if mask_hw.ndim != 2 or flat.size == 0:
        raise ValueError(f"encode_mask_rle needs a non-empty HxW array, got shape {mask_hw.shape}")
    if flat.size * 4 >= 1 << 32:
        raise ValueError(f"brush RLE holds at most 2**32 - 1 values, got {flat.size * 4}")
    ends = np.append(np.flatnonzero(flat[1:] != flat[:-1]), flat.size - 1)
    return _encode_runs(np.diff(ends, prepend=-1) * 4, flat[ends].astype(np.int64), total=flat.size * 4)


def _encode_runs(lengths: npt.NDArray[np.int64], values: npt.NDArray[np.int64], *, total: int) -> list[int]:
    """The converter's stream for runs of 8-bit ``values`` with ``lengths`` (>= 1, summing to ``total``).

    Per run: flag, 2-bit size class ``c`` (runs up to 8, 16, 256, longer), ``n - 1`` in 3/4/8/16 bits, the value;
    a lone value is a literal run of 1 (flag 0, class 0). Runs over 65536 are written as full 65536-value chunks
    first, then the rest, in the 16-bit class however short it is (the converter's rule).
    """
    cls = (lengths > 8).astype(np.int64) + (lengths > 16) + (lengths > 256)
    extra = np.where(cls == 3, (lengths - 1) >> 16, 0)
    count = lengths - (extra << 16) - 1
    size_bits = _SIZE_BITS[cls]
    literal = lengths == 1
    codes = np.where(literal, values, ((((4 | cls) << size_bits) | count) << _WORD_SIZE) | values)
    bits = np.where(literal, 3 + 3 + _WORD_SIZE, 3 + size_bits + _WORD_SIZE)
    if extra.any():
        per_run = extra + 1
        run_of = np.repeat(np.arange(lengths.size), per_run)
        is_last = np.zeros(run_of.size, bool)
        is_last[np.cumsum(per_run) - 1] = True
        full_chunk = ((0b111 << 16) | (_MAX_RUN - 1)) << _WORD_SIZE
        codes = np.where(is_last, codes[run_of], full_chunk | values[run_of])
        bits = np.where(is_last, bits[run_of], 3 + 16 + _WORD_SIZE)
    n_bytes = (_HEADER_BITS + int(bits.sum())) // 8 + 1  # always 1..8 zero bits of padding: the converter's rule
    return _pack(codes, bits, n_bytes, count=total)


def _pack(codes: npt.NDArray[np.int64], bits: npt.NDArray[np.int64], n_bytes: int, *, count: int) -> list[int]:
    """The 53-bit header (32-bit value ``count``, then word size and run size classes) and the codes (each at most
    32 bits), most significant bit first, in ``n_bytes`` zero-padded bytes.

    Codes are placed into 32-bit words with one ``bincount`` rather than expanded bit by bit: the bits of different
    codes never overlap, so adding them is OR-ing them, and float64 adds integers below 2**53 exactly.
    """
    start = np.cumsum(bits) - bits + _HEADER_BITS
    word = start >> 5
    end_in_word = (start & 31) + bits  # 1..63: a code spills into the next word when this passes 32
    spill = np.maximum(end_in_word - 32, 0)
    head = np.where(spill > 0, codes >> spill, codes << np.maximum(32 - end_in_word, 0))
    tail = (codes & ((1 << spill) - 1)) << (32 - spill)
    n_words = (n_bytes + 3) // 4 + 1
    words = np.bincount(np.concatenate([word, word + 1]), weights=np.concatenate([head, tail]).astype(np.float64),
                        minlength=n_words)
    words[0] += count
    words[1] += _HEADER_REST << 11  # the first code starts right after bit 53
    return list(words.astype(">u4").tobytes()[:n_bytes])


def encode_rle(rgba_or_alpha: npt.NDArray[np.integer]) -> list[int]:
    """Encode a mask as Label Studio brush RLE, identical to the converter's output.

    ``rgba_or_alpha``: HxWx4 uint8 RGBA (encoded as is, like ``encode_rle(image.ravel())``) or HxW uint8 (its value
    written into all four channels, like ``mask2rle``; the alpha channel therefore equals the array).
    """
    arr = np.asarray(rgba_or_alpha)
    if arr.ndim == 2:
        if arr.size == 0 or arr.dtype.kind not in "iu" or arr.min() < 0 or arr.max() > 255:
            return encode_flat(np.repeat(arr.ravel(), 4))  # refused there, with its message
        return encode_mask_rle(arr)
    if arr.ndim == 3 and arr.shape[2] == 4:
        return encode_flat(arr.ravel())
    raise ValueError(f"encode_rle needs an HxW or HxWx4 array, got shape {arr.shape}")
