"""Near-duplicate lookup over 256-bit difference hashes (Hamming distance).

Every query is compared with every indexed hash, vectorised: the hashes live in one N x 4 uint64 array and the
distance is ``bitwise_count(xor).sum()``, about 3 ms per query at 100k samples (measured here). (Band-based
multi-index hashing was tried first: aligned portraits share many band values, so the candidate sets were most of
the store and the Python-level set unions cost more than this.)
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["NearDupIndex", "DEFAULT_NEAR_DUP_BITS", "MAX_NEAR_DUP_BITS"]

# differing bits (of 256) for two images to count as near duplicates. Measured here: JPEG q85, a 3/4 resize or
# +10 brightness move a hash by at most 12 bits (95% within 4); the nearest of 200 synthetic portraits is 15+
# bits away and of 36 real illustrations 65+.
DEFAULT_NEAR_DUP_BITS = 12
MAX_NEAR_DUP_BITS = 64


class NearDupIndex:
    """Holds (sample id, group, hash); :meth:`match` finds the closest indexed sample within ``max_bits``."""

    def __init__(self, max_bits: int = DEFAULT_NEAR_DUP_BITS) -> None:
        if max_bits > MAX_NEAR_DUP_BITS:
            raise ValueError(f"max_bits must be at most {MAX_NEAR_DUP_BITS}, got {max_bits}")
        self.max_bits = max_bits
        self._ids: list[str] = []
        self._pos: dict[str, int] = {}
        self._groups: list[str | None] = []
        # grown by doubling; rows [0, len(ids)) are used
        self._hashes: npt.NDArray[np.uint64] = np.zeros((64, 4), np.uint64)

    def add_many(self, rows: list[tuple[str, str | None, str]]) -> None:
        """Add (id, group or None, 64-hex hash) rows; rows with a hash of another length are not indexed."""
        for sid, group, hexhash in rows:
            if len(hexhash) != 64:
                continue
            n = len(self._ids)
            if n == len(self._hashes):
                self._hashes = np.concatenate([self._hashes, np.zeros_like(self._hashes)])
            self._hashes[n] = np.frombuffer(bytes.fromhex(hexhash), np.uint64)
            self._pos[sid] = n
            self._ids.append(sid)
            self._groups.append(group)

    def match(self, hexhash: str) -> tuple[str, str | None, int] | None:
        """(id, group, distance) of the nearest indexed sample within ``max_bits``, or None."""
        n = len(self._ids)
        if self.max_bits < 0 or len(hexhash) != 64 or not n:
            return None
        mine = np.frombuffer(bytes.fromhex(hexhash), np.uint64)
        dist = np.bitwise_count(self._hashes[:n] ^ mine).sum(axis=1, dtype=np.int64)
        best = int(np.argmin(dist))
        if dist[best] > self.max_bits:
            return None
        return self._ids[best], self._groups[best], int(dist[best])

    def set_group(self, sample_id: str, group: str) -> None:
        self._groups[self._pos[sample_id]] = group
