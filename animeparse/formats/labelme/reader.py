"""LabelMe 4.x / 5.x JSON (one file per image) read into class-index masks.

Area shapes (``polygon``, ``rectangle``, ``circle``, 5.x ``mask``) are rasterised the way labelme's
``shapes_to_label`` does it and composed by label-map priority, not file order. ``line``, ``linestrip``,
``point`` and ``points`` have no area: they are skipped with a warning and counted in ``meta["skipped_shapes"]``.
Shapes sharing a label and ``group_id`` are one instance in labelme; a semantic mask has no instances, so their
areas simply union. The image is ``imagePath`` (relative to the JSON); when that file is missing and the JSON embeds
``imageData``, the bytes are extracted to a temp folder (``animeparse-labelme-*``) that ingest copies from.
"""

from __future__ import annotations

import base64
import binascii
import io
import logging
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image, UnidentifiedImageError

from ...errors import FormatError
from ...fsutil import atomic_write_bytes
from ...imageio import image_size_wh
from ...labelmap import LabelMap
from ...rasterize import circle_to_mask, compose_by_priority, polygon_to_mask, rectangle_to_mask
from ..base import ClassNames, Item, ReadOptions, check_image_size, error_detail, find_annotated_image, load_json_file

__all__ = ["detect", "read", "mask_shape_to_mask"]

log = logging.getLogger(__name__)

_AREA_TYPES = frozenset({"polygon", "rectangle", "circle", "mask"})
_SKIPPED_TYPES = frozenset({"line", "linestrip", "point", "points"})
_PEEK_BYTES = 64 * 1024
_PARSE_LIMIT = 4 * 1024 * 1024  # files up to this size are parsed by detect(); bigger ones judged by their head
_DETECT_FILES = 8  # a folder is judged by its first few JSON files
_EXTENSIONS = {"JPEG": ".jpg", "PNG": ".png", "BMP": ".bmp", "GIF": ".gif", "TIFF": ".tif", "WEBP": ".webp"}


def _is_labelme(data: Any) -> bool:
    return isinstance(data, dict) and isinstance(data.get("shapes"), list) and "imagePath" in data


def _file_score(path: Path) -> float:
    if path.suffix.lower() != ".json" or not path.is_file():
        return 0.0
    with open(path, "rb") as fh:
        head = fh.read(_PEEK_BYTES).decode("utf-8-sig", errors="replace").lstrip()
    if not head.startswith("{") or '"shapes"' not in head:
        return 0.0
    if path.stat().st_size > _PARSE_LIMIT:
        # embedded imageData makes files big; imagePath usually precedes it, version always comes first
        return 0.9 if '"imagePath"' in head else 0.6
    data = load_json_file(path)
    return (1.0 if "version" in data else 0.9) if _is_labelme(data) else 0.0


def _json_files(src: Path, *, recursive: bool) -> list[Path]:
    """``*.json`` under ``src`` in sorted order, hidden folders (``.git``, ``.cache``) left out."""
    pattern = "**/*.json" if recursive else "*.json"
    return sorted(p for p in src.glob(pattern)
                  if p.is_file() and not any(part.startswith(".") for part in p.relative_to(src).parts[:-1]))


def _first_json_files(src: Path, limit: int) -> list[Path]:
    """Up to ``limit`` JSON files under ``src``, walking lazily (detect must not list a whole image tree)."""
    found: list[Path] = []
    for folder, dirs, files in os.walk(src):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(folder) / f for f in sorted(files) if f.lower().endswith(".json")][: limit - len(found)]
        if len(found) >= limit:
            break
    return found


def detect(src: Path) -> float:
    """1.0 for a LabelMe JSON with ``version``; 0.9 for a folder whose first JSON files include one; else 0."""
    try:
        src = Path(src)
        if not src.is_dir():
            return _file_score(src)
        for path in _first_json_files(src, _DETECT_FILES):
            try:
                if _file_score(path) > 0:
                    return 0.9
            except FormatError:
                continue
    except (OSError, FormatError, ValueError):
        return 0.0
    return 0.0


# -- shapes ---------------------------------------------------------------------------------------------------------
def mask_shape_to_mask(mask_b64: str, box_points: Any, shape_hw: tuple[int, int], *,
                       source: Path | str) -> npt.NDArray[np.bool_]:
    """Paste a labelme 5.x ``mask`` shape into an HxW bool mask.

    ``mask_b64`` is a base64 PNG of the box region (non-zero = inside); ``box_points`` is [[x1, y1], [x2, y2]].
    As in labelme's ``shapes_to_label`` the corners are truncated to int and the box is inclusive, so the PNG must
    be (int(y2) - int(y1) + 1) x (int(x2) - int(x1) + 1). Parts outside the image are clipped (labelme fails there).
    """
    try:
        with Image.open(io.BytesIO(base64.b64decode(mask_b64, validate=True))) as img:
            img.load()
            part = np.asarray(img if img.mode in ("1", "L", "P", "I", "I;16") else img.convert("L")) != 0
    except (binascii.Error, ValueError, UnidentifiedImageError, OSError) as err:
        raise FormatError(f"mask is not a base64 PNG ({err}); redraw the mask in labelme", path=source) from err
    (x1, y1), (x2, y2) = np.asarray(box_points, np.float64).astype(int)  # truncation toward zero, like labelme
    want_hw = (y2 - y1 + 1, x2 - x1 + 1)
    if part.shape != want_hw:
        raise FormatError(f"mask PNG is {part.shape[1]}x{part.shape[0]} but its box {x1},{y1}..{x2},{y2} needs "
                          f"{want_hw[1]}x{want_hw[0]} (WxH); redraw the mask in labelme", path=source)
    h, w = shape_hw
    out = np.zeros(shape_hw, bool)
    top, left, bottom, right = max(y1, 0), max(x1, 0), min(y2 + 1, h), min(x2 + 1, w)
    if bottom > top and right > left:
        out[top:bottom, left:right] = part[top - y1:bottom - y1, left - x1:right - x1]
    return out


def _shape_region(shape: Mapping[str, Any], shape_type: str, shape_hw: tuple[int, int], *, what: str,
                  source: Path) -> npt.NDArray[np.bool_]:
    """One area shape as an HxW bool mask; FormatError (with the fix) on bad geometry."""
    try:
        pts = np.asarray(shape.get("points"), np.float64)
    except (TypeError, ValueError) as err:
        raise FormatError(f"{what}: points must be a list of [x, y] numbers", path=source) from err
    if pts.ndim != 2 or pts.shape[1] != 2 or not np.isfinite(pts).all():
        raise FormatError(f"{what}: points must be finite [x, y] pairs, got {str(shape.get('points'))[:60]}; "
                          "redraw the shape", path=source)
    n = len(pts)
    if shape_type == "polygon":
        if n < 3:
            raise FormatError(f"{what}: a polygon needs at least 3 points, got {n}; delete or redraw it",
                              path=source)
        return polygon_to_mask(pts, shape_hw)
    if shape_type == "rectangle" and n in (2, 4):
        # some converters store all four corners; the bounding box is the same rectangle
        return rectangle_to_mask([pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max()], shape_hw)
    if shape_type == "circle" and n == 2:
        return circle_to_mask(pts[0], pts[1], shape_hw)
    if shape_type == "mask" and n == 2:
        if not isinstance(shape.get("mask"), str):
            raise FormatError(f"{what}: mask shape has no base64 'mask'; redraw it", path=source)
        try:
            return mask_shape_to_mask(shape["mask"], pts, shape_hw, source=source)
        except FormatError as err:
            raise FormatError(f"{what}: {error_detail(err, source)}", path=source) from err
    raise FormatError(f"{what}: a {shape_type} needs 2 points, got {n}; redraw it", path=source)


def _compose(data: Mapping[str, Any], shape_hw: tuple[int, int], ids: Mapping[str, int | None],
             labelmap: LabelMap, source: Path) -> tuple[npt.NDArray[np.uint8], dict[str, int]]:
    """All shapes of one file -> (HxW uint8 target ids, skipped shape counts by type)."""
    regions = []
    skipped: dict[str, int] = {}
    for k, shape in enumerate(data["shapes"]):
        if not isinstance(shape, dict) or not isinstance(shape.get("label"), str):
            raise FormatError(f"shapes[{k}] must be an object with a string label", path=source)
        shape_type = shape.get("shape_type") or "polygon"  # labelme 3.x wrote no type: polygons only
        what = f"shape {k} ({shape['label']!r}, {shape_type})"
        if shape_type in _SKIPPED_TYPES:
            skipped[shape_type] = skipped.get(shape_type, 0) + 1
            continue
        if shape_type not in _AREA_TYPES:
            # refusing beats skipping: an area silently left as background would be a wrong label
            raise FormatError(f"{what}: unknown shape_type; expected one of {', '.join(sorted(_AREA_TYPES))}",
                              path=source)
        class_id = ids.get(shape["label"])
        if class_id is None:  # unreachable after ClassNames.check; kept so a bug cannot paint a wrong id
            raise FormatError(f"{what}: label has no id in {labelmap.name}", path=source)
        regions.append((class_id, _shape_region(shape, shape_type, shape_hw, what=what, source=source)))
    if skipped:
        log.warning("%s: skipped shapes without area: %s", source,
                    ", ".join(f"{n} {t}" for t, n in sorted(skipped.items())))
    return compose_by_priority(shape_hw, regions, labelmap), skipped


# -- reading --------------------------------------------------------------------------------------------------------
class _Extractor:
    """Writes embedded ``imageData`` into one temp folder per read() call, made on first use.

    Not the source folder: readers never write into the user's data. The folder is made inside
    ``ReadOptions.work_dir`` when given (ingest passes its staging folder, removed after the run), else in the
    system temp folder, left for the OS temp cleaner.
    """

    def __init__(self, work_dir: Path | None = None) -> None:
        self.folder: Path | None = None
        self.work_dir = work_dir

    def extract(self, json_path: Path, relative: Path) -> Path:
        data = load_json_file(json_path).get("imageData")
        try:
            raw = base64.b64decode(data, validate=True)
            with Image.open(io.BytesIO(raw)) as img:
                ext = _EXTENSIONS.get(img.format or "")
        except (binascii.Error, TypeError, ValueError, UnidentifiedImageError, OSError) as err:
            raise FormatError(f"imageData is not a base64 image ({err}); re-save the file in labelme",
                              path=json_path) from err
        if ext is None:
            raise FormatError("imageData holds an image format animeparse does not store; re-save as PNG or JPEG",
                              path=json_path)
        if self.folder is None:
            if self.work_dir is not None:
                self.work_dir.mkdir(parents=True, exist_ok=True)
            self.folder = Path(tempfile.mkdtemp(prefix="animeparse-labelme-", dir=self.work_dir))
            log.info("extracting embedded LabelMe images to %s", self.folder)
        # mirror the JSON's relative path so same-named files in different folders cannot collide
        target = self.folder / relative.parent / (relative.stem + ext)
        atomic_write_bytes(target, raw)
        return target


def _scan(files: list[Path], *, single: bool, names: ClassNames,
          ids: dict[str, int | None]) -> list[tuple[Path, dict[str, Any] | FormatError, bool]]:
    """Parse every file once up front so unknown labels are refused before the first item.

    Returns (file, parsed object without imageData | the error, had imageData). ``imageData`` is dropped to keep
    memory flat; the rare file that needs it is parsed again.
    """
    docs: list[tuple[Path, dict[str, Any] | FormatError, bool]] = []
    for path in files:
        try:
            data = load_json_file(path)
        except FormatError as err:
            if single:
                raise
            docs.append((path, err, False))
            continue
        if not _is_labelme(data):
            if single:
                raise FormatError("is not a LabelMe file: expected an object with 'shapes' (a list) and "
                                  "'imagePath'", path=path)
            log.warning("%s: not a LabelMe file (no 'shapes' list or no 'imagePath'), skipped", path)
            continue
        has_data = bool(data.pop("imageData", None))
        for shape in data["shapes"]:
            # only shapes that become pixels need a class; labels of lines and points do not matter
            if isinstance(shape, dict) and isinstance(shape.get("label"), str) and \
                    (shape.get("shape_type") or "polygon") in _AREA_TYPES:
                ids[shape["label"]] = names.id_of(shape["label"])
        docs.append((path, data, has_data))
    return docs


def read(src: Path, *, labelmap: LabelMap, options: ReadOptions = ReadOptions()) -> Iterator[Item]:
    """Yield one Item per LabelMe file (a single file, or ``*.json`` under a folder, sorted) with an HxW uint8 mask
    of ``labelmap`` ids. Unknown labels raise LabelMapError before the first item; a problem with one file (bad
    JSON in a folder, bad shape, missing image, size mismatch) yields its Item with ``error`` set."""
    src = Path(src)
    if src.is_file():
        files, root = [src], src.parent
    elif src.is_dir():
        files, root = _json_files(src, recursive=options.recursive), src
    else:
        raise FormatError("not found; pass a LabelMe JSON file or a folder of them", path=src)
    names = ClassNames(labelmap, options.class_map)
    ids: dict[str, int | None] = {}
    docs = _scan(files, single=src.is_file(), names=names, ids=ids)
    names.check(path=src)
    if not docs:
        raise FormatError("no LabelMe JSON files (objects with 'shapes' and 'imagePath') found", path=src)
    extractor = _Extractor(options.work_dir)
    for path, data, has_data in docs:
        yield _item(path, data, has_data, root=root, ids=ids, labelmap=labelmap, options=options,
                    extractor=extractor)


def _item(path: Path, data: dict[str, Any] | FormatError, has_data: bool, *, root: Path,
          ids: Mapping[str, int | None], labelmap: LabelMap, options: ReadOptions, extractor: _Extractor) -> Item:
    image_rel = data.get("imagePath") if isinstance(data, dict) else None
    image_rel = image_rel if isinstance(image_rel, str) else ""
    image_path = path.parent / image_rel if image_rel else path.with_suffix(".jpg")
    name = Path(image_rel.replace("\\", "/")).name or path.stem
    meta: dict[str, object] = {"labelme_version": data.get("version") if isinstance(data, dict) else None}
    try:
        if isinstance(data, FormatError):
            raise data
        try:
            if not image_rel:
                raise FormatError("imagePath is empty", path=path)
            image_path = find_annotated_image(image_rel, source=path, options=options)
        except FormatError:
            if not has_data:
                raise
            image_path = extractor.extract(path, Path(os.path.relpath(path, root)))
            name = name if image_rel else image_path.name
            meta["image_extracted"] = True
        real_wh = image_size_wh(image_path)
        w, h = data.get("imageWidth"), data.get("imageHeight")
        if w is None or h is None:  # older files may lack them: trust the image
            w, h = real_wh
        if not all(isinstance(v, int) and v > 0 for v in (w, h)):
            raise FormatError(f"imageWidth/imageHeight must be positive ints, got {w!r}x{h!r}", path=path)
        check_image_size(image_path, (w, h), source=path, real_wh=real_wh)
        mask, skipped = _compose(data, (h, w), ids, labelmap, path)
    except FormatError as err:
        # errors about the image file name it first; the item's error must name the annotation file too
        error = err if err.path == path else FormatError(str(err), path=path)
        return Item(image_path=image_path, name=name, mask_source=str(path), meta=meta, error=error)
    meta["skipped_shapes"] = skipped
    return Item(image_path=image_path, name=name, mask_hw=mask, mask_source=str(path), meta=meta)
