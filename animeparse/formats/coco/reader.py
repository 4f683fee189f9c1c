"""COCO instance segmentation JSON (dataset dicts and results lists) read into class-index masks.

A dataset dict (``images`` + ``annotations`` + ``categories``) gives one item per image, sorted by image id; all its
annotations are rasterised and composed by label-map priority. Segmentations may be polygons (one or more flat
``[x0, y0, x1, y1, ...]`` lists), uncompressed RLE (``counts`` a list) or compressed RLE (``counts`` a string).
Polygons are filled like labelme fills them (:func:`~animeparse.rasterize.polygon_to_mask`), not with pycocotools'
scan converter, so labelme's own COCO export reproduces its VOC masks; RLE is decoded by pycocotools after the run
lengths have been checked here. ``iscrowd=1`` annotations are painted as their class like any other.
A results list (``[{image_id, category_id, segmentation, score}, ...]``) names no files and no classes: images are
found in ``--images`` by the trailing integer of their stem, and ``str(category_id)`` goes through ``--map``.
"""

from __future__ import annotations

import logging
import math
import re
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from pycocotools import mask as coco_mask

from ...errors import FormatError
from ...imageio import IMAGE_EXTENSIONS, image_size_wh
from ...labelmap import LabelMap
from ...rasterize import compose_by_priority, polygon_to_mask
from ..base import (
    ClassNames,
    Item,
    ReadOptions,
    check_image_size,
    error_detail,
    find_annotated_image,
    load_json_file,
)

__all__ = ["detect", "read", "rle_to_mask", "rle_run_lengths"]

log = logging.getLogger(__name__)

_PEEK_BYTES = 256 * 1024
# files up to this size are parsed in full by detect(): certain, and still cheap
_PARSE_LIMIT = 4 * 1024 * 1024
_TRAILING_INT = re.compile(r"(\d+)$")


# -- detection -----------------------------------------------------------------------------------------------------
def _kind(path: Path) -> str | None:
    """"dataset", "results", "broken" (starts like COCO but does not parse) or None. The first bytes decide which
    files are worth parsing (a folder of LabelMe files is rejected without parsing any); small candidates are then
    parsed in full to be certain."""
    if path.suffix.lower() != ".json" or not path.is_file():
        return None
    with open(path, "rb") as fh:
        head = fh.read(_PEEK_BYTES).decode("utf-8-sig", errors="replace").lstrip()
    if head.startswith("{"):
        # writers order the keys differently and "images" can be megabytes long: any of the three will do
        guess = "dataset" if (any(f'"{k}"' in head for k in ("images", "annotations", "categories"))
                              and '"shapes"' not in head) else None
    elif head.startswith("["):
        guess = "results" if all(f'"{k}"' in head for k in ("image_id", "category_id", "segmentation")) else None
    else:
        guess = None
    if guess is None or path.stat().st_size > _PARSE_LIMIT:
        return guess
    try:
        data = load_json_file(path)
    except FormatError:
        return "broken"  # it starts like COCO: claim it weakly, so that read() says what is wrong with it
    if isinstance(data, dict) and all(isinstance(data.get(k), list) for k in ("images", "annotations",
                                                                                "categories")):
        return "dataset"
    if (isinstance(data, list) and data and isinstance(data[0], dict)
            and {"image_id", "category_id", "segmentation"} <= data[0].keys()):
        return "results"
    return None


def _candidates(folder: Path, *, stop_after: int | None = None) -> list[Path]:
    """COCO dataset JSON files in ``folder`` or its ``annotations/`` subfolder (COCO's own layout)."""
    found: list[Path] = []
    for p in [*sorted(folder.glob("*.json")), *sorted(folder.glob("annotations/*.json"))]:
        try:
            if _kind(p) == "dataset":
                found.append(p)
        except (OSError, FormatError):
            continue
        if stop_after is not None and len(found) >= stop_after:
            break
    return found


def detect(src: Path) -> float:
    """1.0 for a COCO dataset JSON (or a folder holding exactly one), 0.6 for a results list, else 0."""
    try:
        src = Path(src)
        if src.is_dir():
            found = len(_candidates(src, stop_after=2))
            # several candidates: still claim the folder (weakly) so read() can say which files it saw
            return 0.9 if found == 1 else 0.3 if found > 1 else 0.0
        kind = _kind(src)
    except (OSError, FormatError, ValueError):
        return 0.0
    return {"dataset": 1.0, "results": 0.6, "broken": 0.2}.get(kind or "", 0.0)


# -- RLE -----------------------------------------------------------------------------------------------------------
def _size_hw(rle: Mapping[str, Any], source: Path | str) -> tuple[int, int]:
    size = rle.get("size")
    if (not isinstance(size, list | tuple) or len(size) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)):
        raise FormatError(f"RLE size must be [height, width] (two positive ints), got {size!r}", path=source)
    return int(size[0]), int(size[1])


def _counts_from_string(counts: str, source: Path | str) -> list[int]:
    """Decode COCO's compressed counts string (pycocotools' rleFrString: 5-bit groups + continuation bit, offset
    48, runs after the second stored as deltas from two runs back) into run lengths."""
    runs: list[int] = []
    pos, n = 0, len(counts)
    while pos < n:
        value, shift, more = 0, 0, True
        while more:
            if pos >= n:
                raise FormatError("compressed RLE counts string ends in the middle of a number", path=source)
            c = ord(counts[pos]) - 48
            if not 0 <= c < 64:
                raise FormatError(f"compressed RLE counts contain {counts[pos]!r}, outside COCO's alphabet '0'..'o'",
                                  path=source)
            value |= (c & 0x1F) << shift
            more = bool(c & 0x20)
            pos += 1
            shift += 5
            if not more and c & 0x10:
                value |= -1 << shift  # sign-extend: deltas may be negative
        if len(runs) > 2:
            value += runs[-2]
        runs.append(value)
    return runs


def rle_run_lengths(rle: Mapping[str, Any], *, source: Path | str) -> list[int]:
    """The run lengths (background first, column-major) of a COCO RLE dict, compressed or not; checked to be
    non-negative and to sum to height*width. Raises FormatError naming ``source``."""
    h, w = _size_hw(rle, source)
    counts = rle.get("counts")
    if isinstance(counts, bytes):
        counts = counts.decode("ascii", errors="replace")
    if isinstance(counts, str):
        runs = _counts_from_string(counts, source)
    elif isinstance(counts, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in counts):
        runs = list(counts)
    else:
        raise FormatError("RLE counts must be a string (compressed) or a list of ints (uncompressed), got "
                          f"{type(counts).__name__}", path=source)
    if any(v < 0 for v in runs):
        raise FormatError("RLE has a negative run length; the counts are corrupt", path=source)
    if sum(runs) != h * w:
        raise FormatError(f"RLE run lengths sum to {sum(runs)} but size {h}x{w} (HxW) needs {h * w}; the counts "
                          "do not belong to this size, re-export the segmentation", path=source)
    return runs


def rle_to_mask(rle: Mapping[str, Any], *, source: Path | str) -> npt.NDArray[np.bool_]:
    """Decode a COCO RLE dict (``size`` [h, w], ``counts`` string or list) into an HxW bool mask.

    Run lengths are validated first (:func:`rle_run_lengths`) because pycocotools' C decoder trusts them.
    """
    h, w = _size_hw(rle, source)
    counts = rle["counts"] if isinstance(rle.get("counts"), str | bytes) else None
    runs = rle_run_lengths(rle, source=source)
    if counts is None:
        compressed = coco_mask.frPyObjects({"size": [h, w], "counts": runs}, h, w)
    else:
        compressed = {"size": [h, w], "counts": counts}
    with warnings.catch_warnings():
        # pycocotools 2.0.x under numpy 2 warns about its own __array__ on every call; nothing for users to act on
        warnings.simplefilter("ignore", DeprecationWarning)
        return np.asarray(coco_mask.decode(compressed), dtype=bool)


# -- segmentation --------------------------------------------------------------------------------------------------
def _segmentation_to_mask(seg: Any, shape_hw: tuple[int, int], *, what: str,
                          source: Path) -> npt.NDArray[np.bool_]:
    """One annotation's ``segmentation`` (polygons or RLE) as an HxW bool mask; FormatError on bad geometry."""
    if isinstance(seg, dict):
        if _size_hw(seg, source) != shape_hw:
            raise FormatError(f"{what}: RLE size {seg['size']} is not the image's [height, width] {list(shape_hw)}",
                              path=source)
        try:
            return rle_to_mask(seg, source=source)
        except FormatError as err:
            raise FormatError(f"{what}: {error_detail(err, source)}", path=source) from err
    if seg is None or seg == []:
        raise FormatError(f"{what} has no segmentation (boxes only?); a box cannot give a parsing mask, add "
                          "polygons or RLE", path=source)
    if not isinstance(seg, list):
        raise FormatError(f"{what}: segmentation must be a list of polygons or an RLE object (size, counts), got "
                          f"{type(seg).__name__} {str(seg)[:40]!r}", path=source)
    region = np.zeros(shape_hw, bool)
    for k, part in enumerate(seg):
        if (not isinstance(part, list) or len(part) < 6 or len(part) % 2
                or not all(isinstance(v, int | float) and math.isfinite(v) for v in part)):
            got = f"{len(part)} numbers" if isinstance(part, list) else type(part).__name__
            raise FormatError(f"{what}: polygon part {k} must be an even number (>= 6) of finite x, y values, got "
                              f"{got}; delete or redraw that polygon", path=source)
        region |= polygon_to_mask(np.asarray(part, np.float64).reshape(-1, 2), shape_hw)
    return region


def _compose(anns: list[dict[str, Any]], shape_hw: tuple[int, int], ids: Mapping[Any, int | None],
             labelmap: LabelMap, source: Path) -> npt.NDArray[np.uint8]:
    """All annotations of one image -> HxW uint8 target ids, overlaps by priority."""
    regions = []
    for k, ann in enumerate(anns):
        what = f"annotation {ann.get('id', f'#{k}')} (category {ann.get('category_id')!r})"
        class_id = ids.get(ann.get("category_id"))
        # None only for a category id missing from categories: unknown names were refused before any item
        if class_id is None:
            raise FormatError(f"{what}: category id is not listed in categories; add it or drop the annotation",
                              path=source)
        regions.append((class_id, _segmentation_to_mask(ann.get("segmentation"), shape_hw, what=what, source=source)))
    return compose_by_priority(shape_hw, regions, labelmap)


# -- reading -------------------------------------------------------------------------------------------------------
def _resolve_source(src: Path) -> Path:
    if src.is_dir():
        found = _candidates(src)
        if len(found) != 1:
            listed = ", ".join(p.name for p in found) or "none"
            raise FormatError(f"expected exactly one COCO JSON (images + annotations + categories) in the folder, "
                              f"found {listed}; pass the JSON file itself", path=src)
        return found[0]
    if not src.is_file():
        raise FormatError("not found; pass a COCO JSON file or a folder holding one", path=src)
    return src


def _list_of_dicts(data: Mapping[str, Any], key: str, need: tuple[str, ...], path: Path) -> list[dict[str, Any]]:
    entries = data.get(key)
    if not isinstance(entries, list):
        raise FormatError(f"'{key}' must be a list, got {type(entries).__name__}; is this a COCO file?", path=path)
    for i, e in enumerate(entries):
        if not isinstance(e, dict) or any(k not in e for k in need):
            raise FormatError(f"{key}[{i}] must be an object with {', '.join(need)}; got {str(e)[:80]}", path=path)
        _check_ids(e, key, i, path)
    return entries


def _check_ids(entry: Mapping[str, Any], key: str, index: int, path: Path) -> None:
    """Ids are dict keys and sort keys below: refuse lists, floats and booleans up front, naming the entry."""
    for k in ("id", "image_id", "category_id"):
        if k in entry and (isinstance(entry[k], bool) or not isinstance(entry[k], int | str)):
            raise FormatError(f"{key}[{index}].{k} must be an int (or a string), got {entry[k]!r}", path=path)


def read(src: Path, *, labelmap: LabelMap, options: ReadOptions = ReadOptions()) -> Iterator[Item]:
    """Yield one Item per image with an HxW uint8 mask of ``labelmap`` ids (see the module docstring).

    Whole-file problems (not JSON, wrong structure, unknown class names) raise FormatError / LabelMapError before
    the first item; a problem with one image or annotation yields that image's Item with ``error`` set.
    """
    path = _resolve_source(Path(src))
    data = load_json_file(path)
    if isinstance(data, list):
        yield from _read_results(data, path, labelmap=labelmap, options=options)
        return
    if not isinstance(data, dict):
        raise FormatError(f"top level is a JSON {type(data).__name__}; a COCO file is an object with images, "
                          "annotations and categories (or a results list)", path=path)
    images = _list_of_dicts(data, "images", ("id", "file_name"), path)
    anns = _list_of_dicts(data, "annotations", ("image_id", "category_id"), path)
    cats = _list_of_dicts(data, "categories", ("id", "name"), path)
    cat_names = {c["id"]: str(c["name"]) for c in cats}
    if len(cat_names) != len(cats):
        raise FormatError("categories repeat an id; each category needs its own id", path=path)
    # only categories that label something must be known: a file listing all 80 COCO classes should not force a
    # --map for classes that no annotation uses
    used = {a["category_id"] for a in anns} & cat_names.keys()
    names = ClassNames(labelmap, options.class_map)
    ids = {cid: names.id_of(cat_names[cid]) for cid in sorted(used, key=str)}
    names.check(path=path)
    by_image: dict[Any, list[dict[str, Any]]] = {}
    for a in anns:
        by_image.setdefault(a["image_id"], []).append(a)
    image_ids = [im["id"] for im in images]
    if len(set(image_ids)) != len(image_ids):
        raise FormatError("images repeat an id; each image needs its own id", path=path)
    orphans = len(by_image.keys() - set(image_ids))
    if orphans:
        log.warning("%s: annotations refer to %d image ids not in images; they are ignored", path, orphans)
    for im in sorted(images, key=lambda im: (str(type(im["id"])), im["id"])):
        yield _dataset_item(im, by_image.get(im["id"], []), ids, path, labelmap, options)


def _dataset_item(im: dict[str, Any], anns: list[dict[str, Any]], ids: Mapping[Any, int | None], path: Path,
                  labelmap: LabelMap, options: ReadOptions) -> Item:
    file_name = str(im["file_name"])
    name = Path(file_name.replace("\\", "/")).name
    meta = {"coco_image_id": im["id"]}
    image_path = path.parent / file_name
    try:
        image_path = find_annotated_image(file_name, source=path, options=options)
        real_wh = image_size_wh(image_path)
        # some exporters leave the size out or null: then the image file is the only truth there is
        w = real_wh[0] if im.get("width") is None else im["width"]
        h = real_wh[1] if im.get("height") is None else im["height"]
        if not all(isinstance(v, int) and v > 0 for v in (w, h)):
            raise FormatError(f"image {im['id']}: width/height must be positive ints, got {w!r}x{h!r}", path=path)
        check_image_size(image_path, (w, h), source=path, real_wh=real_wh)
        mask = _compose(anns, (h, w), ids, labelmap, path)
    except FormatError as err:
        return Item(image_path=image_path, name=name, mask_source=str(path), meta=meta,
                    error=FormatError(f"image {im['id']} ({file_name}): {error_detail(err, path)}", path=path))
    return Item(image_path=image_path, name=name, mask_hw=mask, mask_source=str(path), meta=meta)


def _read_results(entries: list[Any], path: Path, *, labelmap: LabelMap, options: ReadOptions) -> Iterator[Item]:
    """A results list: images from ``options.images_dir`` by trailing integer, classes as ``str(category_id)``."""
    if options.images_dir is None:
        raise FormatError("is a COCO results list, which names no image files; pass --images DIR (files whose "
                          "name ends in the image id, e.g. COCO_val2014_000000000042.jpg or 42.png)", path=path)
    for i, e in enumerate(entries):
        if not isinstance(e, dict) or any(k not in e for k in ("image_id", "category_id", "segmentation")):
            raise FormatError(f"results[{i}] must be an object with image_id, category_id and segmentation",
                              path=path)
        _check_ids(e, "results", i, path)
    names = ClassNames(labelmap, options.class_map)
    ids = {cid: names.id_of(str(cid)) for cid in sorted({e["category_id"] for e in entries}, key=str)}
    names.check(path=path)
    files: dict[int, list[Path]] = {}
    pattern = "**/*" if options.recursive else "*"
    for p in sorted(options.images_dir.glob(pattern)):
        m = _TRAILING_INT.search(p.stem)
        if m and p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file():
            files.setdefault(int(m.group(1)), []).append(p)
    by_image: dict[Any, list[dict[str, Any]]] = {}
    for e in entries:
        by_image.setdefault(e["image_id"], []).append(e)
    for image_id in sorted(by_image, key=lambda v: (str(type(v)), v)):
        found = files.get(image_id, []) if isinstance(image_id, int) else []
        meta = {"coco_image_id": image_id}
        if len(found) != 1:
            problem = "no image file" if not found else "several image files (" + ", ".join(map(str, found)) + ")"
            err = FormatError(f"image id {image_id}: {problem} in {options.images_dir} whose name ends in "
                              f"{image_id}; each id needs exactly one", path=path)
            yield Item(image_path=found[0] if found else options.images_dir / str(image_id), name=str(image_id),
                       mask_source=str(path), meta=meta, error=err)
            continue
        image_path = found[0]
        try:
            w, h = image_size_wh(image_path)
            mask = _compose(by_image[image_id], (h, w), ids, labelmap, path)
        except FormatError as err:
            yield Item(image_path=image_path, name=image_path.name, mask_source=str(path), meta=meta,
                       error=FormatError(f"image id {image_id} ({image_path.name}): {error_detail(err, path)}",
                                         path=path))
            continue
        yield Item(image_path=image_path, name=image_path.name, mask_hw=mask, mask_source=str(path), meta=meta)
