"""Near-duplicate lookup over 256-bit difference hashes (Hamming distance), sublinear in the store size.

Multi-index hashing: the hash is cut into 16 bands of 16 bits. Two hashes within 15 differing bits agree exactly
on at least one band (pigeonhole), so only samples sharing a band are compared bit by bit.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

__all__ = ["NearDupIndex", "DEFAULT_NEAR_DUP_BITS", "MAX_NEAR_DUP_BITS"]

# differing bits (of 256) for two images to count as near duplicates. Measured here: JPEG q85, a 3/4 resize or
# +10 brightness move a hash by at most 12 bits (95% within 4); the nearest of 200 synthetic portraits is 15+
# bits away and of 36 real illustrations 65+.
DEFAULT_NEAR_DUP_BITS = 12
BANDS = 16
MAX_NEAR_DUP_BITS = BANDS - 1  # beyond this the band lookup could miss a match

_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], np.uint8)


class NearDupIndex:
    """Holds (sample id, group, hash); :meth:`match` finds the closest indexed sample within ``max_bits``."""

    def __init__(self, max_bits: int = DEFAULT_NEAR_DUP_BITS) -> None:
        if max_bits > MAX_NEAR_DUP_BITS:
            raise ValueError(f"max_bits must be at most {MAX_NEAR_DUP_BITS}, got {max_bits}")
        self.max_bits = max_bits
        self._ids: list[str] = []
        self._pos: dict[str, int] = {}
        self._groups: list[str | None] = []
        self._hashes: list[bytes] = []
        self._bands: dict[tuple[int, bytes], list[int]] = defaultdict(list)

    def add_many(self, rows: list[tuple[str, str | None, str]]) -> None:
        """Add (id, group or None, 64-hex hash) rows; rows with a hash of another length are not indexed."""
        for sid, group, hexhash in rows:
            if len(hexhash) != 64:
                continue
            raw = bytes.fromhex(hexhash)
            i = len(self._ids)
            self._pos[sid] = i
            self._ids.append(sid)
            self._groups.append(group)
            self._hashes.append(raw)
            for b in range(BANDS):
                self._bands[(b, raw[2 * b:2 * b + 2])].append(i)

    def match(self, hexhash: str) -> tuple[str, str | None, int] | None:
        """(id, group, distance) of the nearest indexed sample within ``max_bits``, or None."""
        if self.max_bits < 0 or len(hexhash) != 64 or not self._ids:
            return None
        raw = bytes.fromhex(hexhash)
        candidates = sorted({i for b in range(BANDS) for i in self._bands.get((b, raw[2 * b:2 * b + 2]), ())})
        if not candidates:
            return None
        mine = np.frombuffer(raw, np.uint8)
        theirs = np.frombuffer(b"".join(self._hashes[i] for i in candidates), np.uint8).reshape(-1, 32)
        dist = _POPCOUNT[theirs ^ mine].sum(axis=1)
        best = int(np.argmin(dist))
        if dist[best] > self.max_bits:
            return None
        i = candidates[best]
        return self._ids[i], self._groups[i], int(dist[best])

    def set_group(self, sample_id: str, group: str) -> None:
        self._groups[self._pos[sample_id]] = group
