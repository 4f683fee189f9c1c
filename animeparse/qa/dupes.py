"""Duplicates: the same pixels under two rows, and near duplicates that sit in different splits (leakage).

Codes: ``exact_duplicate`` (error; ids are pixel hashes, so this only happens when rows or files were changed
outside animeparse), ``near_dup_leak`` (error).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping

import numpy as np

from ..ingest.neardup import NearDupIndex
from ..store import Dataset, Sample
from .config import QAConfig
from .findings import Finding, Severity
from .sample_view import SampleFacts

__all__ = ["check_duplicates", "near_dup_groups"]


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, a: str) -> str:
        self.parent.setdefault(a, a)
        while self.parent[a] != a:
            self.parent[a] = self.parent[self.parent[a]]
            a = self.parent[a]
        return a

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def near_dup_groups(samples: list[Sample], max_bits: int) -> list[list[Sample]]:
    """Groups (2+ samples, sorted by id) joined by a shared ``dup_group`` or by dHashes within ``max_bits``
    (transitively, as ingest groups them); ``max_bits`` -1 uses the column alone."""
    uf = _UnionFind()
    by_group: dict[str, str] = {}
    index = NearDupIndex(max_bits)
    for s in samples:
        uf.find(s.id)
        if s.dup_group:
            uf.union(s.id, by_group.setdefault(s.dup_group, s.id))
        match = index.match(s.phash)
        if match:
            uf.union(s.id, match[0])
        index.add_many([(s.id, None, s.phash)])
    groups: dict[str, list[Sample]] = defaultdict(list)
    for s in samples:
        groups[uf.find(s.id)].append(s)
    return [g for g in groups.values() if len(g) > 1]


def _bits(a: str, b: str) -> int | None:
    if len(a) != 64 or len(b) != 64:
        return None
    x = np.frombuffer(bytes.fromhex(a), np.uint8) ^ np.frombuffer(bytes.fromhex(b), np.uint8)
    return int(np.unpackbits(x).sum())


def check_duplicates(ds: Dataset, cfg: QAConfig, facts: Mapping[str, SampleFacts]) -> Iterator[Finding]:
    """Exact: samples whose decoded pixels hash alike (every member is flagged: no row is more right than the
    other). Leakage: a near-duplicate group spanning splits; members outside the group's main split (most
    members; ties go to the split with more samples in the store) are flagged, naming the nearest member there."""
    samples = ds.samples()
    by_sha: dict[str, list[Sample]] = defaultdict(list)
    for s in samples:
        pixel = facts[s.id].pixel_sha if s.id in facts else None
        by_sha[pixel or s.sha256].append(s)
    for group in by_sha.values():
        if len(group) < 2:
            continue
        for s in group:
            others = [o for o in group if o.id != s.id]
            names = ", ".join(f"{o.id} ({o.image}, split {o.split})" for o in others)
            yield Finding(Severity.ERROR, "exact_duplicate", s.id,
                          f"{s.image} (sample {s.id}, split {s.split}) has the same pixels as sample {names}; a store "
                          "keeps one sample per picture: remove the extra rows and files",
                          file=s.image, data={"others": [o.id for o in others],
                                              "splits": {o.id: o.split for o in group}})
    split_sizes = Counter(s.split for s in samples)
    for group in near_dup_groups(samples, cfg.near_dup_bits):
        splits = Counter(s.split for s in group)
        if len(splits) < 2:
            continue
        main = max(splits, key=lambda sp: (splits[sp], split_sizes[sp], sp == "train", sp))
        anchors = [s for s in group if s.split == main]
        for s in group:
            if s.split == main:
                continue
            dist = {a.id: _bits(s.phash, a.phash) for a in anchors}
            nearest = min(anchors, key=lambda a: (dist[a.id] if dist[a.id] is not None else 257, a.id))
            how = f"{dist[nearest.id]} of 256 hash bits differ" if dist[nearest.id] is not None else \
                "same dup_group"
            yield Finding(Severity.ERROR, "near_dup_leak", s.id,
                          f"{s.image} (sample {s.id}, split {s.split}) is a near duplicate of {nearest.image} "
                          f"(sample {nearest.id}, split {main}; {how}): the same picture in two splits leaks test "
                          f"data into training; move it to split {main}",
                          file=s.image, data={"other": nearest.id, "split": s.split, "other_split": main,
                                              "distance": dist[nearest.id], "group": sorted(g.id for g in group)})
