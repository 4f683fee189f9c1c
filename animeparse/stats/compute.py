"""Dataset statistics from one mask layer: class pixel shares, presence, area distributions, image sizes, splits.

Everything is computed from per-sample 256-bin histograms (:func:`mask_histograms`), never from stacked masks,
so memory grows only with one small row per labelled sample.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from ..errors import StoreError
from ..labelmap import LabelMap
from ..store import Dataset, Sample
from .attributes import ATTRIBUTE_COLUMNS, attribute_table
from .groups import character_table, colour_table
from .histograms import Progress, mask_histograms

__all__ = ["AREA_PERCENTILES", "DatasetStats", "compute_stats", "order_splits"]

log = logging.getLogger(__name__)
AREA_PERCENTILES = (5, 25, 50, 75, 95)
_SPLIT_ORDER = ("train", "val", "validation", "dev", "test")


@dataclass(frozen=True, eq=False)
class DatasetStats:
    """Statistics of a store's mask layer; every table has a fixed column order and rows in id / split order.

    - ``classes``: one row per label-map class plus ``ignore`` (id 255): ``id, name, color`` (``#rrggbb``),
      ``pixels`` (over labelled samples), ``pixel_share`` (of all labelled pixels, ignore included),
      ``samples`` (labelled samples containing the class), ``presence`` (``samples`` / labelled samples).
    - ``areas``: per class, pixels per sample over the samples that contain it: ``id, name, samples, mean, min,
      p5, p25, p50, p75, p95, max`` (NaN where no sample contains the class).
    - ``image_sizes``: ``width, height, samples`` for every selected sample (labelled or not), most common first.
    - ``splits``: ``split, samples, labelled, pixels``.
    - ``split_presence``: per class ``id, name`` then ``<split>_samples, <split>_presence`` for each split.
    - ``sample_pixels``: one row per labelled sample: ``sample_id, split, width, height``, then pixels per class
      (columns named by class, ``ignore`` last).
    - ``characters``: per character id (``(none)`` last): ``character, name, samples, labelled, pixels``, then each
      class's share of the character's labelled pixels (:func:`.groups.character_table`).
    - ``attributes``: per labelled sample, ``sample_id, split, character`` and the attributes computed from its
      mask (:mod:`.attributes`; boxes and points as JSON lists); empty when not asked for.
    - ``colour_counts``: ``role, color, samples, share`` over ``attributes`` (:func:`.groups.colour_table`).
    """

    store: str
    labelmap: str
    layer: str
    splits: tuple[str, ...]
    samples: int
    labelled: int
    colors: dict[str, tuple[int, int, int]]
    classes: pd.DataFrame
    areas: pd.DataFrame
    image_sizes: pd.DataFrame
    split_counts: pd.DataFrame
    split_presence: pd.DataFrame
    sample_pixels: pd.DataFrame
    characters: pd.DataFrame
    attributes: pd.DataFrame
    colour_counts: pd.DataFrame


def order_splits(names: Iterable[str]) -> list[str]:
    """Split names in reading order: train, val, validation, dev, test, then the others alphabetically."""
    unique = set(names)
    known = [n for n in _SPLIT_ORDER if n in unique]
    return known + sorted(unique - set(known))


def compute_stats(ds: Dataset, *, layer: str = "gt", splits: Iterable[str] | None = None,
                  progress: Progress | None = None, workers: int | None = None,
                  attributes: bool = True) -> DatasetStats:
    """Read every selected sample's mask in ``layer`` once (on ``workers`` processes) and tabulate it.

    ``attributes``: also tabulate the face attributes and colours (stored ones where current; the others are
    computed here from image and mask, which reads every such image once: ``animeparse attributes DS`` stores them).

    ``splits``: only samples in these splits (default all); a name no sample carries raises StoreError listing the
    store's splits. ``progress(done, total)`` follows the masks read.
    """
    samples = _select(ds, splits)
    split_names = order_splits(splits) if splits is not None else order_splits(s.split for s in samples)
    ids, names, colors = _class_columns(ds.labelmap)
    by_id = {s.id: s for s in samples}
    labelled: list[Sample] = []
    rows: list[npt.NDArray[np.int64]] = []
    for sid, counts in mask_histograms(ds, [s.id for s in samples], layer=layer, workers=workers,
                                       progress=progress):
        if counts is not None:
            labelled.append(by_id[sid])
            rows.append(counts[ids])
    pixels = np.vstack(rows) if rows else np.zeros((0, len(ids)), np.int64)  # L x (C+1): labelled x class
    if not labelled:
        log.warning("%s: no sample has a %r mask; the class tables are empty", ds.root, layer)
    split_of = np.array([s.split for s in labelled], dtype=object)
    attrs = _attributes(ds, labelled, layer) if attributes else \
        pd.DataFrame(columns=["sample_id", "split", "character", *ATTRIBUTE_COLUMNS])
    return DatasetStats(
        store=str(ds.root), labelmap=f"{ds.labelmap.name} v{ds.labelmap.version}", layer=layer,
        splits=tuple(split_names), samples=len(samples), labelled=len(labelled),
        colors={n: c for n, c in zip(names, colors)},
        classes=_class_table(ids, names, colors, pixels),
        areas=_area_table(ids, names, pixels),
        image_sizes=_size_table(samples),
        split_counts=_split_table(samples, split_names, split_of, pixels),
        split_presence=_split_presence(ids, names, split_names, split_of, pixels),
        sample_pixels=_sample_table(labelled, names, pixels),
        characters=character_table(samples, labelled, names, pixels, {c.id: c.name for c in ds.characters()}),
        attributes=attrs, colour_counts=colour_table(attrs))


def _attributes(ds: Dataset, labelled: list[Sample], layer: str) -> pd.DataFrame:
    table = attribute_table(ds, [s.id for s in labelled], layer=layer)
    by_id = {s.id: s for s in labelled}
    table.insert(1, "split", [by_id[sid].split for sid in table["sample_id"]])
    table.insert(2, "character", [by_id[sid].character for sid in table["sample_id"]])
    return table


def _select(ds: Dataset, splits: Iterable[str] | None) -> list[Sample]:
    if splits is None:
        return ds.samples()
    wanted = list(dict.fromkeys(splits))
    present = set(ds.info().by_split)
    missing = [s for s in wanted if s not in present]
    if missing:
        raise StoreError(f"no samples in split(s) {', '.join(missing)}; the store has: "
                         f"{', '.join(order_splits(present)) or '(no samples)'}", path=ds.root)
    return [s for s in ds.samples() if s.split in set(wanted)]


def _class_columns(labelmap: LabelMap) -> tuple[list[int], list[str], list[tuple[int, int, int]]]:
    """The label map's ids, names and colours in id order, then the ignore index (white)."""
    ids = [*labelmap.ids, labelmap.ignore_index]
    names = [*labelmap.names, "ignore"]
    colors = [*(c.color for c in labelmap.classes), (255, 255, 255)]
    return ids, names, colors


def _share(num: npt.NDArray[np.int64] | int, den: int) -> npt.NDArray[np.float64] | float:
    # a share of nothing is undefined, not 0: NaN shows up as an empty CSV cell
    return np.asarray(num, np.float64) / den if den else np.full(np.shape(num), np.nan)


def _class_table(ids: list[int], names: list[str], colors: list[tuple[int, int, int]],
                 pixels: npt.NDArray[np.int64]) -> pd.DataFrame:
    per_class = pixels.sum(axis=0)
    present = (pixels > 0).sum(axis=0)
    return pd.DataFrame({
        "id": ids, "name": names, "color": ["#{:02x}{:02x}{:02x}".format(*c) for c in colors],
        "pixels": per_class.astype(np.int64), "pixel_share": _share(per_class, int(per_class.sum())),
        "samples": present.astype(np.int64), "presence": _share(present, pixels.shape[0])})


def _area_table(ids: list[int], names: list[str], pixels: npt.NDArray[np.int64]) -> pd.DataFrame:
    rows = []
    for j, (cid, name) in enumerate(zip(ids, names)):
        col = pixels[:, j]
        col = col[col > 0].astype(np.float64)
        stats = ([col.mean(), col.min(), *np.percentile(col, AREA_PERCENTILES), col.max()] if col.size
                 else [np.nan] * (3 + len(AREA_PERCENTILES)))
        rows.append([cid, name, int(col.size), *stats])
    columns = ["id", "name", "samples", "mean", "min", *(f"p{p}" for p in AREA_PERCENTILES), "max"]
    return pd.DataFrame(rows, columns=columns)


def _size_table(samples: list[Sample]) -> pd.DataFrame:
    frame = pd.DataFrame({"width": [s.width for s in samples], "height": [s.height for s in samples]},
                         dtype=np.int64)
    sizes = frame.groupby(["width", "height"]).size().rename("samples").reset_index()
    sizes["samples"] = sizes["samples"].astype(np.int64)
    return sizes.sort_values(["samples", "width", "height"], ascending=[False, True, True],
                             kind="stable").reset_index(drop=True)


def _split_table(samples: list[Sample], split_names: list[str], split_of: npt.NDArray[np.object_],
                 pixels: npt.NDArray[np.int64]) -> pd.DataFrame:
    rows = []
    for name in split_names:
        sel = split_of == name
        rows.append([name, sum(s.split == name for s in samples), int(sel.sum()), int(pixels[sel].sum())])
    return pd.DataFrame(rows, columns=["split", "samples", "labelled", "pixels"])


def _split_presence(ids: list[int], names: list[str], split_names: list[str], split_of: npt.NDArray[np.object_],
                    pixels: npt.NDArray[np.int64]) -> pd.DataFrame:
    table: dict[str, object] = {"id": ids, "name": names}
    for name in split_names:
        sel = split_of == name
        present = (pixels[sel] > 0).sum(axis=0).astype(np.int64)
        table[f"{name}_samples"] = present
        table[f"{name}_presence"] = _share(present, int(sel.sum()))
    return pd.DataFrame(table)


def _sample_table(labelled: list[Sample], names: list[str], pixels: npt.NDArray[np.int64]) -> pd.DataFrame:
    head = pd.DataFrame({"sample_id": [s.id for s in labelled], "split": [s.split for s in labelled],
                         "width": np.array([s.width for s in labelled], np.int64),
                         "height": np.array([s.height for s in labelled], np.int64)})
    return pd.concat([head, pd.DataFrame(pixels, columns=names)], axis=1)
