"""Near-duplicate lookup over 64-bit difference hashes (Hamming distance), vectorised with numpy."""

from __future__ import annotations

import numpy as np

__all__ = ["NearDupIndex", "DEFAULT_NEAR_DUP_BITS"]

# dHash bits that may differ for two images to count as near duplicates: re-encodes, small resizes and light
# edits stay within ~4 of 64 bits; unrelated images differ in ~32
DEFAULT_NEAR_DUP_BITS = 5

_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], np.uint8)


class NearDupIndex:
    """Holds (sample id, group, hash); :meth:`match` finds the closest earlier sample within ``max_bits``."""

    def __init__(self, max_bits: int = DEFAULT_NEAR_DUP_BITS) -> None:
        self.max_bits = max_bits
        self._ids: list[str] = []
        self._groups: list[str | None] = []
        self._hashes = np.zeros(0, np.uint64)

    def add_many(self, rows: list[tuple[str, str | None, str]]) -> None:
        """Add (id, group or None, 16-hex hash) rows."""
        if not rows:
            return
        self._ids += [r[0] for r in rows]
        self._groups += [r[1] for r in rows]
        new = np.array([int(r[2], 16) if r[2] else 0 for r in rows], np.uint64)
        self._hashes = np.concatenate([self._hashes, new])

    def match(self, phash: str) -> tuple[str, str | None, int] | None:
        """(id, group, distance) of the nearest indexed sample within ``max_bits``, or None."""
        if not len(self._hashes) or not phash or self.max_bits < 0:
            return None
        xor = np.bitwise_xor(self._hashes, np.uint64(int(phash, 16)))
        dist = _POPCOUNT[xor.view(np.uint8)].reshape(-1, 8).sum(axis=1)
        best = int(np.argmin(dist))
        if dist[best] > self.max_bits:
            return None
        return self._ids[best], self._groups[best], int(dist[best])

    def set_group(self, sample_id: str, group: str) -> None:
        # linear, but only called on a match, which is rare
        for i, sid in enumerate(self._ids):
            if sid == sample_id:
                self._groups[i] = group
