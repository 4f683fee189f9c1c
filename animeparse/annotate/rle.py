"""A fast encoder for what ``ls push`` sends: one HxW brush mask as Label Studio RLE.

The output is identical to :func:`animeparse.formats.lsrle.encode_rle` (and so to the SDK's ``mask2rle``) for an HxW
uint8 array; the tests check this. It is faster because the SDK's stream repeats every pixel in all four RGBA
channels, so its runs are the pixel runs times four: they are found on the HxW array (a quarter of the values),
and the codes (at most 27 bits each) are packed into 32-bit words with one ``bincount`` (the bits of different
codes never overlap, so adding them is OR-ing them, and float64 adds integers below 2**53 exactly) instead of
being expanded bit by bit.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["encode_mask_rle"]

_MAX_RUN = 1 << 16
# header after the 32-bit value count: word size 8 (stored as 7), run size classes 3, 4, 8, 16 (stored minus 1)
_HEADER_REST = (7 << 16) | (2 << 12) | (3 << 8) | (7 << 4) | 15
_HEADER_BITS = 32 + 21
_SIZE_BITS = np.array([3, 4, 8, 16], np.int64)


def encode_mask_rle(mask_hw: npt.NDArray[np.uint8]) -> list[int]:
    """Label Studio brush RLE of an HxW uint8 mask, its value written into all four channels (``mask2rle``)."""
    flat = np.ascontiguousarray(mask_hw, dtype=np.uint8).ravel()
    if mask_hw.ndim != 2 or flat.size == 0:
        raise ValueError(f"encode_mask_rle needs a non-empty HxW array, got shape {mask_hw.shape}")
    if flat.size * 4 >= 1 << 32:
        raise ValueError(f"brush RLE holds at most 2**32 - 1 values, got {flat.size * 4}")
    ends = np.append(np.flatnonzero(flat[1:] != flat[:-1]), flat.size - 1)
    lengths = np.diff(ends, prepend=-1) * 4
    values = flat[ends].astype(np.int64)
    # the converter's run classes (see lsrle.encode_flat): runs are >= 4 here, so there are no lone literals;
    # class c = 0..3 for runs up to 8, 16, 256, longer: flag 1, 2-bit class, 3/4/8/16-bit count, 8-bit value
    cls = (lengths > 8).astype(np.int64) + (lengths > 16) + (lengths > 256)
    extra = np.where(cls == 3, (lengths - 1) >> 16, 0)
    count = lengths - (extra << 16) - 1
    size_bits = _SIZE_BITS[cls]
    codes = ((((4 | cls) << size_bits) | count) << 8) | values
    bits = size_bits + 11
    if extra.any():  # runs over 65536 values: full 65536-value chunks first, then the rest
        per_run = extra + 1
        run_of = np.repeat(np.arange(lengths.size), per_run)
        is_last = np.zeros(run_of.size, bool)
        is_last[np.cumsum(per_run) - 1] = True
        codes = np.where(is_last, codes[run_of], (((0b111 << 16) | (_MAX_RUN - 1)) << 8) | values[run_of])
        bits = np.where(is_last, bits[run_of], 27)
    n_bytes = (_HEADER_BITS + int(bits.sum())) // 8 + 1  # always 1..8 zero bits of padding: the converter's rule
    return _pack(codes, bits, n_bytes, header=(flat.size * 4, _HEADER_REST))


def _pack(codes: npt.NDArray[np.int64], bits: npt.NDArray[np.int64], n_bytes: int, *,
          header: tuple[int, int]) -> list[int]:
    """The 53-bit header (32-bit count, 21 bits of sizes) then the codes (each <= 32 bits), MSB first, in
    ``n_bytes`` bytes, zero-padded."""
    start = np.cumsum(bits) - bits + _HEADER_BITS
    word = start >> 5
    end_in_word = (start & 31) + bits  # 1..63: a code spills into the next word when this passes 32
    spill = np.maximum(end_in_word - 32, 0)
    head = np.where(spill > 0, codes >> spill, codes << np.maximum(32 - end_in_word, 0))
    tail = (codes & ((1 << spill) - 1)) << (32 - spill)
    n_words = (n_bytes + 3) // 4 + 1
    words = np.bincount(np.concatenate([word, word + 1]), weights=np.concatenate([head, tail]).astype(np.float64),
                        minlength=n_words)
    words[0] += header[0]
    words[1] += header[1] << 11  # the first code starts right after bit 53
    return list(words.astype(">u4").tobytes()[:n_bytes])
