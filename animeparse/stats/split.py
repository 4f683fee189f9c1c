"""Deterministic train/val/test splits that keep groups together, balance class presence and keep fixed splits.

- **Fixed samples** stay where they are (unless ``reassign_fixed``): a sample is fixed when it carries the tag
  ``split-fixed``, or when its split is not ``train`` (the split ingest gives by default) and it lacks the tag
  ``split-auto``. Every sample this module places gets ``split-auto``, so splitting again (another seed, other
  ratios) may move what an earlier split placed, but never a split that came with the data (Danbooru-Parsing's
  ``test`` folder, ``ingest --split``) or one a person set. Fixed samples count towards their split's totals.
- **Groups** never straddle splits. Near duplicates (the ``dup_group`` ingest found) are always grouped; ``source``
  and ``tag:NAME`` add groupings (merged with union-find). A group holding a fixed sample goes to that sample's
  split, so a near duplicate of a fixed test image cannot leak into train.
- **Stratification**: each group is a unit with a class-presence vector (how many of its samples contain each
  class in the ``gt`` masks). Groups are placed greedily, those holding the rarest classes first (larger groups
  first within a tier); each goes to the split where it least increases the squared distance between the running
  distribution over splits (counts placed so far / their total) and the target ratios, summed over the group's
  classes and the sample count (see :func:`_placement_cost`).
- **Determinism**: the only randomness is a hash of (seed, group id), where a group id is its smallest sample id
  (a hash of the pixels); so the same store and seed give the same split, whatever the row order.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from ..errors import AnimeparseError, StoreError
from ..store import Dataset, Sample
from .compute import order_splits
from .histograms import Progress, mask_histograms

__all__ = ["AUTO_TAG", "DEFAULT_SPLIT", "FIXED_TAG", "SplitConfig", "SplitPlan", "apply_split", "group_samples",
           "is_fixed", "plan_split", "presence_deviation", "split_dataset"]

log = logging.getLogger(__name__)
# groupings by one value per sample: the character id, or a colour name computed from the mask (stats/attributes.py)
_KEYED = ("character", "hair_color", "eye_color", "skin_color")
FIXED_TAG = "split-fixed"
AUTO_TAG = "split-auto"
DEFAULT_SPLIT = "train"


@dataclass(frozen=True)
class SplitConfig:
    """What ``animeparse split`` does; CLI options map 1:1.

    ``ratios``: target share of samples per split (normalised; ``(8, 1, 1)`` = ``(0.8, 0.1, 0.1)``), one per name
    in ``names``. ``seed``: any int; another seed gives another split of equal quality. ``group``: groupings on
    top of near duplicates: ``source`` (crops of one picture: ``meta["source_image"]``; other samples: the folder
    of their ``source``), ``tag:NAME`` (samples sharing a tag ``NAME:value``), ``character`` and ``hair_color`` /
    ``eye_color`` / ``skin_color`` (the names computed from the ``layer`` masks). ``reassign_fixed``: treat fixed
    samples as free. ``layer``: the mask layer whose class presence is balanced.
    """

    ratios: tuple[float, ...] = (0.8, 0.1, 0.1)
    names: tuple[str, ...] = ("train", "val", "test")
    seed: int = 0
    group: tuple[str, ...] = ("near-duplicates",)
    reassign_fixed: bool = False
    layer: str = "gt"

    def __post_init__(self) -> None:
        if len(self.ratios) != len(self.names) or not self.names:
            raise AnimeparseError(f"{len(self.ratios)} ratios for {len(self.names)} split names "
                                  f"({', '.join(self.names)}); give one ratio per name, e.g. --ratios 0.8,0.1,0.1 "
                                  "--names train,val,test")
        if any(not math.isfinite(r) or r < 0 for r in self.ratios) or sum(self.ratios) <= 0:
            raise AnimeparseError(f"ratios must be >= 0 with a positive sum, got {list(self.ratios)}")
        bad = [n for n in self.names if not n or n != n.strip() or "," in n]
        if bad or len(set(self.names)) != len(self.names):
            raise AnimeparseError(f"split names must be unique and non-empty, without commas or outer spaces; got "
                                  f"{list(self.names)}")
        for g in self.group:
            if g not in ("near-duplicates", "source", *_KEYED) and not (g.startswith("tag:") and len(g) > 4):
                raise AnimeparseError(f"unknown grouping {g!r}; use near-duplicates, source, tag:NAME, "
                                      f"{', '.join(_KEYED)}")

    @property
    def targets(self) -> npt.NDArray[np.float64]:
        """K float64 ratios summing to 1."""
        r = np.asarray(self.ratios, np.float64)
        return r / r.sum()


@dataclass(frozen=True, eq=False)
class SplitPlan:
    """A computed split. ``assignment``: every sample id -> its split afterwards; ``previous``: before.
    ``free``: ids the plan places (written with the ``split-auto`` tag); the others are fixed.

    ``summary`` columns: ``split, target, samples, share`` (of the samples in the named splits), ``groups, fixed,
    labelled, moved_in``; the named splits first, then other splits that hold fixed samples (target 0).
    ``class_shares``: per class ``id, name, samples`` (labelled samples in the named splits containing it), the
    share of those in each named split, and ``max_dev`` (largest |share - target|).
    ``deviation``: :func:`presence_deviation` of the plan (0 = every class split exactly by the ratios).
    """

    config: SplitConfig
    assignment: dict[str, str]
    previous: dict[str, str]
    free: tuple[str, ...]
    summary: pd.DataFrame
    class_shares: pd.DataFrame
    deviation: float
    warnings: tuple[str, ...] = ()
    run_id: str | None = None

    @property
    def moved(self) -> list[str]:
        """Ids whose split changes, sorted."""
        return sorted(s for s, split in self.assignment.items() if self.previous[s] != split)


def is_fixed(sample: Sample) -> bool:
    """True when ``sample`` keeps its split: tagged ``split-fixed``, or not in ``train`` and not placed by a split."""
    return FIXED_TAG in sample.tags or (sample.split != DEFAULT_SPLIT and AUTO_TAG not in sample.tags)


def group_samples(samples: Sequence[Sample], grouping: Iterable[str] = (),
                  values: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, str]:
    """Sample id -> group id (the group's smallest sample id). Near duplicates are always grouped; ``grouping``
    adds ``source``, ``tag:NAME``, ``character`` and colour keys (``hair_color``: from ``values``, {sample id:
    attributes}); samples sharing any key end in one group (transitively)."""
    parent = {s.id: s.id for s in samples}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]  # path halving keeps chains short
            x = parent[x]
        return x

    first: dict[str, str] = {}
    modes = tuple(grouping)
    for s in samples:
        for key in _group_keys(s, modes, (values or {}).get(s.id, {})):
            other = first.setdefault(key, s.id)
            a, b = find(other), find(s.id)
            if a != b:
                lo, hi = sorted((a, b))  # the smaller id stays the root: group ids are stable
                parent[hi] = lo
    return {sid: find(sid) for sid in parent}


def _group_keys(s: Sample, modes: tuple[str, ...], values: Mapping[str, Any]) -> list[str]:
    keys = [f"dup:{s.dup_group}"] if s.dup_group else []
    for mode in modes:
        value = s.character if mode == "character" else values.get(mode)
        if mode in _KEYED and value is not None:
            keys.append(f"{mode}:{value}")
        if mode == "source":
            if s.meta.get("source_image"):
                # face crops: their source is the whole picture's path, the same for every crop of it
                keys.append(f"picture:{s.source or s.meta['source_image']}")
            elif "/" in s.source.replace("\\", "/"):
                keys.append(f"folder:{s.source.replace(chr(92), '/').rsplit('/', 1)[0]}")
        elif mode.startswith("tag:"):
            prefix = mode[4:] + ":"
            keys += [f"tag:{t}" for t in s.tags if t.startswith(prefix)]
    return keys


def presence_deviation(assignment: Mapping[str, str], presence: Mapping[str, npt.NDArray[np.bool_]],
                       names: Sequence[str], ratios: Sequence[float]) -> float:
    """How far a split is from balanced class presence: the mean over classes (present in some sample) of the
    total-variation distance between where the class's samples went and the target ratios; 0..1, 0 = perfect.

    ``presence``: sample id -> C bools (class present in its mask); samples outside ``names`` are ignored.
    """
    index = {n: k for k, n in enumerate(names)}
    width = len(next(iter(presence.values()))) if presence else 0
    counts = np.zeros((len(names), width), np.int64)
    for sid, vec in presence.items():
        k = index.get(assignment[sid])
        if k is not None:
            counts[k] += np.asarray(vec, bool)
    r = np.asarray(ratios, np.float64)
    return _deviation(counts, r / r.sum())


def _deviation(counts: npt.NDArray[np.int64], targets: npt.NDArray[np.float64]) -> float:
    total = counts.sum(axis=0)
    live = total > 0
    if not live.any():
        return 0.0
    shares = counts[:, live] / total[live]
    return float((0.5 * np.abs(shares - targets[:, None]).sum(axis=0)).mean())


def _rank(*parts: object) -> int:
    """A stable pseudo-random integer from ``parts`` (same on every machine and Python; no global RNG)."""
    data = "\x1f".join(str(p) for p in parts).encode("utf-8")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


def plan_split(ds: Dataset, config: SplitConfig = SplitConfig(), *, progress: Progress | None = None,
               workers: int | None = None) -> SplitPlan:
    """Compute a split of every sample in ``ds`` (reads masks of ``config.layer``; writes nothing)."""
    samples = ds.samples()
    if not samples:
        raise StoreError("the store has no samples; ingest some first", path=ds.root)
    names, targets = list(config.names), config.targets
    fixed = set() if config.reassign_fixed else {s.id for s in samples if is_fixed(s)}
    presence, labelled = _presence(ds, samples, config.layer, progress, workers)
    values = None
    if set(config.group) & set(_KEYED[1:]):  # colour names: stored where current, else computed now
        from .attributes import attribute_table

        table = attribute_table(ds, [s.id for s in samples], layer=config.layer)
        values = {str(r["sample_id"]): dict(r) for r in table.to_dict("records")}
    group_of = group_samples(samples, config.group, values)
    members: dict[str, list[Sample]] = {}
    for s in samples:  # sorted by id, so members are too
        members.setdefault(group_of[s.id], []).append(s)
    pinned, warnings = _pin_groups(members, fixed, names)
    # members of pinned groups: fixed ones stay in their split, free ones follow the group's split
    preset = {s.id: s.split if s.id in fixed else pinned[g] for g in pinned for s in members[g]}
    splits = names + order_splits(set(preset.values()) - set(names))
    col = {n: k for k, n in enumerate(splits)}

    gids = sorted(members)
    g_pres = np.array([sum((presence[s.id] for s in members[g]), np.zeros(len(ds.labelmap), np.int64))
                       for g in gids])  # G x C samples per class
    g_size = np.array([len(members[g]) for g in gids], np.int64)
    row = {g: i for i, g in enumerate(gids)}
    # the ratios apply to the samples that end in the named splits
    named = [s for s in samples if preset.get(s.id, names[0]) in names]
    n_named = len(named)
    c_total = sum((presence[s.id] for s in named), np.zeros(len(ds.labelmap), np.int64))  # C

    n = np.zeros(len(splits), np.int64)
    pres = np.zeros((len(splits), g_pres.shape[1]), np.int64)
    groups = np.zeros(len(splits), np.int64)
    assignment: dict[str, str] = {}

    def place(g: str, split_of: Mapping[str, str]) -> None:
        for k in {col[split_of[s.id]] for s in members[g]}:
            groups[k] += 1
        for s in members[g]:
            k = col[split_of[s.id]]
            n[k] += 1
            pres[k] += presence[s.id]
            assignment[s.id] = splits[k]

    for g in gids:
        if g in pinned:
            place(g, preset)
    rarity = np.where(g_pres > 0, c_total[None, :], np.iinfo(np.int64).max).min(axis=1)
    free_groups = sorted((g for g in gids if g not in pinned),
                         key=lambda g: (rarity[row[g]], -g_size[row[g]], _rank(config.seed, "order", g)))
    open_splits = [k for k in range(len(names)) if targets[k] > 0]
    warnings += _size_warnings(free_groups, g_size, row, targets, n_named, config.group)
    for g in free_groups:
        delta = _placement_cost(pres[:len(names)], n[:len(names)], g_pres[row[g]], int(g_size[row[g]]), targets)
        order = sorted(open_splits, key=lambda k: _rank(config.seed, "tie", g, k))
        best = order[0]
        for k in order[1:]:
            if delta[k] < delta[best] - 1e-12:
                best = k
        place(g, {s.id: splits[best] for s in members[g]})

    previous = {s.id: s.split for s in samples}
    free = tuple(s.id for s in samples if s.id not in fixed)
    summary, shares = _tables(ds, splits, names, targets, n, pres, groups, c_total, assignment, previous, fixed,
                              labelled)
    return SplitPlan(config=config, assignment=assignment, previous=previous, free=free, summary=summary,
                     class_shares=shares, deviation=_deviation(pres[:len(names)], targets), warnings=tuple(warnings))


def _tables(ds: Dataset, splits: list[str], names: list[str], targets: npt.NDArray[np.float64],
            n: npt.NDArray[np.int64], pres: npt.NDArray[np.int64], groups: npt.NDArray[np.int64],
            c_total: npt.NDArray[np.int64], assignment: dict[str, str], previous: dict[str, str], fixed: set[str],
            labelled: set[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The plan's ``summary`` and ``class_shares`` tables (see :class:`SplitPlan`)."""
    k_n, n_total = len(names), int(n[:len(names)].sum())
    fixed_per = Counter(assignment[s] for s in fixed)
    labelled_per = Counter(assignment[s] for s in labelled)
    moved_in = Counter(split for s, split in assignment.items() if split != previous[s])
    summary = pd.DataFrame({
        "split": splits, "target": [*targets, *[0.0] * (len(splits) - k_n)], "samples": n,
        "share": [n[k] / n_total if n_total and k < k_n else np.nan for k in range(len(splits))],
        "groups": groups, "fixed": [fixed_per[s] for s in splits], "labelled": [labelled_per[s] for s in splits],
        "moved_in": [moved_in[s] for s in splits]})
    shares = pd.DataFrame({"id": ds.labelmap.ids, "name": ds.labelmap.names, "samples": c_total})
    ratio = np.divide(pres[:k_n], c_total, out=np.full((k_n, len(c_total)), np.nan), where=c_total > 0)
    for k, name in enumerate(names):
        shares[name] = ratio[k]
    shares["max_dev"] = np.abs(ratio - targets[:, None]).max(axis=0)
    return summary, shares


def _placement_cost(pres: npt.NDArray[np.int64], n: npt.NDArray[np.int64], g_pres: npt.NDArray[np.int64],
                    g_size: int, targets: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """K costs of putting a group (C per-class sample counts ``g_pres``, ``g_size`` samples) into each split, given
    the KxC class counts ``pres`` and K sample counts ``n`` placed so far.

    The cost is the change in sum over the group's classes (and the sample count) of the squared distance between
    the *running* distribution over splits (counts / total placed so far) and the targets. Running shares, not
    distances to the final counts: those would send every early group to the split with the largest deficit
    (train), leaving nothing of a rare class for val and test.
    """
    live = g_pres > 0
    cols = np.concatenate([pres[:, live], n[:, None]], axis=1)  # K x (c + 1)
    add = np.concatenate([g_pres[live], [g_size]]).astype(np.float64)
    total = cols.sum(axis=0) + add
    before = cols / total - targets[:, None]
    after = (cols + add) / total - targets[:, None]
    return (after ** 2 - before ** 2).sum(axis=1)


def _presence(ds: Dataset, samples: list[Sample], layer: str, progress: Progress | None,
              workers: int | None) -> tuple[dict[str, npt.NDArray[np.int64]], set[str]]:
    """(sample id -> C int64 0/1: class present in its ``layer`` mask, label-map id order, zeros when unlabelled;
    the ids that have a ``layer`` mask)."""
    ids = np.asarray(ds.labelmap.ids)
    out: dict[str, npt.NDArray[np.int64]] = {s.id: np.zeros(len(ids), np.int64) for s in samples}
    labelled = [s.id for s in ds.samples(layer=layer)]
    if not labelled:
        log.warning("%s: no sample has a %r mask; splitting by sample counts only", ds.root, layer)
    for sid, counts in mask_histograms(ds, labelled, layer=layer, workers=workers, progress=progress):
        if counts is not None:
            out[sid] = (counts[ids] > 0).astype(np.int64)
    return out, set(labelled)


def _size_warnings(free_groups: list[str], g_size: npt.NDArray[np.int64], row: Mapping[str, int],
                   targets: npt.NDArray[np.float64], n_total: int, grouping: tuple[str, ...]) -> list[str]:
    """A warning when the largest free group is bigger than the smallest split's share: the ratios cannot be met
    (typically ``--group source`` over a flat folder, which makes the whole folder one group)."""
    if not free_groups or not n_total:
        return []
    biggest = max(free_groups, key=lambda g: (g_size[row[g]], g))
    size, smallest = int(g_size[row[biggest]]), float(targets[targets > 0].min())
    if size <= max(1.0, smallest * n_total):
        return []
    message = (f"group {biggest} holds {size} of {n_total} samples ({size / n_total:.0%}), more than the smallest "
               f"split's target ({smallest:.0%}); the ratios cannot be met closely")
    if "source" in grouping:
        message += ("; --group source keeps each source folder together, so a flat folder of pictures is one "
                    "group: leave it out unless folders are series, artists or pictures")
    log.info(message)  # returned in SplitPlan.warnings, which the CLI prints
    return [message]


def _pin_groups(members: Mapping[str, list[Sample]], fixed: set[str], names: list[str]
                ) -> tuple[dict[str, str], list[str]]:
    """Groups holding fixed samples -> the split they must go to; warnings where fixed members disagree."""
    pinned: dict[str, str] = {}
    warnings: list[str] = []
    for g, ms in members.items():
        votes = Counter(s.split for s in ms if s.id in fixed)
        if not votes:
            continue
        # the most common fixed split; ties go to the earlier named split, then alphabetically
        rank = {n: i for i, n in enumerate(names)}
        split = min(votes, key=lambda v: (-votes[v], rank.get(v, len(names)), v))
        pinned[g] = split
        if len(votes) > 1:
            detail = ", ".join(f"{v} ({c})" for v, c in sorted(votes.items()))
            warnings.append(f"group {g} has fixed samples in several splits: {detail}; they stay, and its free "
                            f"samples go to {split}")
    for w in warnings:
        log.info(w)  # returned in SplitPlan.warnings, which the CLI prints
    return pinned, warnings


def apply_split(ds: Dataset, plan: SplitPlan) -> str:
    """Write ``plan`` in one transaction (needs ``Dataset.open(..., write=True)``): every free sample gets its
    split and the ``split-auto`` tag. Recorded as a ``split`` run; returns its id. Refused (StoreError) when the
    store's samples are no longer the ones planned."""
    current = {s.id for s in ds.samples()}
    if current != set(plan.assignment):
        raise StoreError("the store's samples changed since this split was planned; plan it again", path=ds.root)
    params = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(plan.config).items()}
    run_id = ds.start_run("split", params=params)
    try:
        # one transaction: all samples move, or none
        ds.set_splits({sid: plan.assignment[sid] for sid in plan.free}, add_tags=(AUTO_TAG,))
    except BaseException as err:
        ds.finish_run(run_id, status="failed", summary={"error": str(err)[:500]})
        raise
    counts = dict(zip(plan.summary["split"], (int(v) for v in plan.summary["samples"])))
    ds.finish_run(run_id, summary={"samples": counts, "moved": len(plan.moved), "deviation": plan.deviation})
    return run_id


def split_dataset(ds: Dataset, config: SplitConfig = SplitConfig(), *, dry_run: bool = False,
                  progress: Progress | None = None, workers: int | None = None) -> SplitPlan:
    """Plan a split and, unless ``dry_run``, write it (``ds`` opened with ``write=True``, so the writer lock is
    held from reading to writing). Returns the plan, with ``run_id`` set when written."""
    plan = plan_split(ds, config, progress=progress, workers=workers)
    if dry_run:
        return plan
    return replace(plan, run_id=apply_split(ds, plan))
