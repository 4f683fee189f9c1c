"""CelebAMask-HQ style per-part binary masks, merged into one class-index mask per image.

Layout under SRC: an image folder (``CelebA-HQ-img/``, ``images/``, ``img/`` ...; files ``0.jpg`` or
``00000.png``) and one part-mask folder (a name containing ``mask``, ``anno`` or ``part``, e.g.
``CelebAMask-HQ-mask-anno/`` with numbered subfolders ``0/`` .. ``14/``, or ``parts/``, or flat) holding
``<id>_<part>.png`` files: ``00000_hair.png``, ``00012_neck_l.png``. Parts match images by integer id
(``00000_hair`` -> ``0.jpg`` or ``00000.jpg``). A part file is binary: any nonzero colour channel is "set"
(0/255 or 0/1, L, P or RGB; in RGBA/LA a transparent pixel is unset).

Overlaps are resolved by the target label map's priority (:func:`animeparse.rasterize.compose_by_priority`), not
by the dataset's own ``g_mask.py``, which paints in a fixed list order where the later part wins (..., hair, hat,
ear_r, neck_l, neck, cloth): there hair covers eyes and brows, and cloth and neck cover necklaces. With the bundled
maps eyes and brows lie over hair and a necklace over cloth, so merged masks differ from the published
``CelebAMask-HQ-mask/`` PNGs where parts overlap.

Writing (the export engine's ``celebamask`` format) gives one 0/255 binary PNG per part, in the dataset's layout::

    CelebA-HQ-img/<index><ext>                               the stored image files (extension kept)
    CelebAMask-HQ-mask-anno/<index // 2000>/<index:05d>_<part>.png   L-mode, 255 = part, 0 = not
    CelebA-HQ-to-animeparse-mapping.csv                      index, sample_id, name, split, file_name

Indices are 0..N-1 in sample-id order. Part names are the label map's class names; only parts present in a mask
get a file (as in the dataset). Background has no file. Ignore pixels (255) go to ``<index>_ignore.png``: the
dataset's ``g_mask.py`` paints a fixed part list and never reads it, while the reader maps ``ignore`` back to 255,
so the round trip is exact. Parts are disjoint (each pixel has one class), so merging them by any priority gives
the mask back: lossless.
"""

from __future__ import annotations

import csv
import logging
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image

from ..errors import FormatError
from ..imageio import IMAGE_EXTENSIONS, encode_mask_png, image_size_wh, read_binary_mask
from ..labelmap import IGNORE_INDEX, LabelMap
from ..rasterize import compose_by_priority
from .base import ClassNames, FormatSpec, Item, ReadOptions, outside_symlink_error
from .writing import (
    ExportConfig,
    ExportError,
    FileSink,
    SampleJob,
    WorkContext,
    WorkResult,
    place_image,
    present_ids,
    read_job_mask,
)

__all__ = ["NAME", "FORMAT", "detect", "read", "find_layout", "image_relpath", "work", "open_sink",
           "part_name", "MASK_DIR", "IMAGE_DIR", "MAPPING_NAME"]

log = logging.getLogger(__name__)

NAME = "celebamask"
FORMAT = FormatSpec(name=NAME, reads=True, writes=True, lossless=True, read_by=NAME, written_by=NAME)
IMAGE_DIR = "CelebA-HQ-img"
MASK_DIR = "CelebAMask-HQ-mask-anno"
MAPPING_NAME = "CelebA-HQ-to-animeparse-mapping.csv"
_PER_FOLDER = 2000  # the dataset's 0/ .. 14/ folders hold 2000 ids each
_DETECT_PART = re.compile(r"^\d+_[a-z_]+\.png$")
# reading is looser than detection so that oddly named parts ("00000_Hair2.png") reach the unknown-name check
_PART = re.compile(r"^(\d+)_(.+)\.png$", re.IGNORECASE)
_IMAGE_DIRS = ("CelebA-HQ-img", "images", "img", "image", "imgs")
_MASK_WORDS = ("mask", "anno", "part")
_DETECT_BUDGET = 400  # directory entries detect() may look at per folder


@dataclass(frozen=True)
class _Part:
    sample_id: int
    name: str
    path: Path


def _is_maskish(name: str) -> bool:
    return any(w in name.lower() for w in _MASK_WORDS)


def _subdirs(src: Path) -> list[Path]:
    return sorted(p for p in src.iterdir() if p.is_dir() and not p.name.startswith("."))


def _has_part_file(folder: Path, *, budget: int = _DETECT_BUDGET) -> bool:
    """Whether a ``<digits>_<part>.png`` lies in ``folder`` or one level down, looking at <= ``budget`` entries."""
    queue, seen = [(folder, 0)], 0
    while queue:
        current, depth = queue.pop(0)
        with os.scandir(current) as it:
            for entry in it:
                seen += 1
                if seen > budget:
                    return False
                if entry.name.startswith("."):
                    continue
                if depth == 0 and entry.is_dir():
                    queue.append((Path(entry.path), 1))
                elif _DETECT_PART.match(entry.name):
                    return True
    return False


def _has_image(folder: Path, *, budget: int = _DETECT_BUDGET) -> bool:
    with os.scandir(folder) as it:
        for n, entry in enumerate(it):
            if n >= budget:
                return False
            if os.path.splitext(entry.name)[1].lower() in IMAGE_EXTENSIONS and not entry.name.startswith("."):
                return True
    return False


def find_layout(src: Path, options: ReadOptions = ReadOptions()) -> tuple[Path, Path]:
    """(image folder, part-mask folder) under ``src``; raise FormatError saying what is missing or ambiguous.

    ``options.images_dir`` (``--images``) overrides the image folder; then ``src`` itself may be the mask folder.
    """
    subdirs = _subdirs(src) if src.is_dir() else []
    mask_dirs = [d for d in subdirs if _is_maskish(d.name) and _has_part_file(d)]
    if not mask_dirs and options.images_dir is not None and src.is_dir() and _has_part_file(src):
        mask_dirs = [src]
    if not mask_dirs:
        raise FormatError("no part-mask folder found: expected a folder named like CelebAMask-HQ-mask-anno/, "
                          "parts/ or masks/ holding <id>_<part>.png files (00000_hair.png)", path=src)
    if len(mask_dirs) > 1:
        raise FormatError(f"several part-mask folders: {', '.join(d.name for d in mask_dirs)}; keep one in the "
                          "source folder (move the others aside)", path=src)
    mask_dir = mask_dirs[0]
    if options.images_dir is not None:
        if not Path(options.images_dir).is_dir():
            raise FormatError("--images folder not found", path=options.images_dir)
        return Path(options.images_dir), mask_dir
    named = [src / n for n in _IMAGE_DIRS if (src / n).is_dir()]
    others = [d for d in subdirs if d != mask_dir and d not in named and not _is_maskish(d.name)
              and ("img" in d.name.lower() or "image" in d.name.lower())]
    candidates = [d for d in named + others if _has_image(d)]
    if not candidates:
        raise FormatError(f"part masks found in {mask_dir.name}/ but no image folder (CelebA-HQ-img/, images/ ...); "
                          "add one or pass --images DIR", path=src)
    if len(candidates) > 1 and candidates[0] not in named:
        raise FormatError(f"several image folders: {', '.join(d.name for d in candidates)}; pass --images DIR",
                          path=src)
    if len(candidates) > 1:
        log.info("%s: several image folders (%s); reading %s (pass --images DIR for another)", src,
                 ", ".join(d.name for d in candidates), candidates[0].name)
    return candidates[0], mask_dir


def detect(src: Path) -> float:
    """0.95 when a mask-ish folder holds ``<id>_<part>.png`` files and an image folder exists (beats the
    index-folder reader's images/ + masks/ pair: part files there are not index masks); else 0."""
    try:
        find_layout(src)
    except (FormatError, OSError):
        return 0.0
    return 0.95


def _scan_parts(mask_dir: Path) -> tuple[dict[int, list[_Part]], list[Path]]:
    """Part files by sample id (each list sorted by part name) and .png files that are not named like parts."""
    parts: dict[int, list[_Part]] = {}
    strays: list[Path] = []
    for root, dirs, files in os.walk(mask_dir):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for f in sorted(files):
            if f.startswith(".") or not f.lower().endswith(".png"):
                continue
            m = _PART.match(f)
            if m is None:
                strays.append(Path(root) / f)
                continue
            sid = int(m.group(1))
            parts.setdefault(sid, []).append(_Part(sid, m.group(2), Path(root) / f))
    for lst in parts.values():
        lst.sort(key=lambda p: (p.name, str(p.path)))
    return parts, strays


def _scan_images(image_dir: Path) -> tuple[dict[int, list[Path]], list[Path]]:
    """Images by integer id (``0.jpg`` and ``00000.jpg`` are both id 0) and images whose stem is not a number."""
    by_id: dict[int, list[Path]] = {}
    unnumbered: list[Path] = []
    for p in sorted(image_dir.iterdir()):
        if p.name.startswith(".") or p.suffix.lower() not in IMAGE_EXTENSIONS or not p.is_file():
            continue
        if p.stem.isascii() and p.stem.isdigit():
            by_id.setdefault(int(p.stem), []).append(p)
        else:
            unnumbered.append(p)
    return by_id, unnumbered


def read(src: Path, *, labelmap: LabelMap, options: ReadOptions = ReadOptions()) -> Iterator[Item]:
    """Yield one Item per image in id order: mask_hw merged from its parts (target-map ids), or None when it has
    no parts; then error Items for parts without an image and for .png files not named ``<id>_<part>.png``.

    Raises FormatError when the layout is not found, LabelMapError (listing them) when part names are not in
    the label map and not mapped with ``--map``.
    """
    src = Path(src)
    if options.resize_masks not in (None, "nearest"):
        raise FormatError(f"--resize-masks must be 'nearest' or unset, got {options.resize_masks!r}")
    image_dir, mask_dir = find_layout(src, options)
    parts, strays = _scan_parts(mask_dir)
    names = ClassNames(labelmap, options.class_map)
    # resolve every part file before reading any pixels, so unknown names fail up front and all at once
    class_ids: dict[Path, int] = {}
    for lst in parts.values():
        for part in lst:
            cid = names.id_of(part.name)
            if cid is not None:
                class_ids[part.path] = cid
    names.check(path=mask_dir)
    images, unnumbered = _scan_images(image_dir)

    for sid in sorted(set(images) | set(parts)):
        found, own_parts = images.get(sid, []), parts.get(sid, [])
        if not found:
            listed = ", ".join(p.path.name for p in own_parts[:4]) + (" ..." if len(own_parts) > 4 else "")
            yield Item(image_path=own_parts[0].path, name=f"{sid:05d}", error=FormatError(
                f"part masks {listed} have no image with id {sid} in {image_dir} (looked for {sid}.* and "
                f"{sid:05d}.*); add the image or remove the parts", path=own_parts[0].path))
            continue
        if len(found) > 1:
            yield Item(image_path=found[0], name=found[0].name, error=FormatError(
                f"several images have id {sid}: {', '.join(p.name for p in found)}; keep one", path=found[0]))
            continue
        image_path = found[0]
        outside = outside_symlink_error(image_path, image_dir, what="image") or next(
            (e for p in own_parts if (e := outside_symlink_error(p.path, mask_dir, what="part mask"))), None)
        if outside is not None:
            yield Item(image_path=image_path, name=image_path.name, error=outside)
            continue
        if not own_parts:
            yield Item(image_path=image_path, name=image_path.name)
            continue
        try:
            mask = _merge(image_path, own_parts, class_ids, labelmap, options)
        except FormatError as err:
            yield Item(image_path=image_path, name=image_path.name, error=err)
            continue
        yield Item(image_path=image_path, name=image_path.name, mask_hw=mask,
                   mask_source=str(mask_dir / "**" / f"{own_parts[0].path.name.split('_', 1)[0]}_*.png"),
                   meta={"parts": sorted({p.name for p in own_parts})})
    for path in unnumbered:
        # no id, so no parts can be its: unlabelled
        yield Item(image_path=path, name=path.name, error=outside_symlink_error(path, image_dir, what="image"))
    for path in strays:
        yield Item(image_path=path, name=path.name, error=FormatError(
            "is in the part-mask folder but not named <id>_<part>.png (e.g. 00000_hair.png); rename or remove it",
            path=path))


def _merge(image_path: Path, parts: list[_Part], class_ids: dict[Path, int], labelmap: LabelMap,
           options: ReadOptions) -> npt.NDArray[np.uint8]:
    """Merge one image's parts into an HxW uint8 mask at the image's size (target-map ids, 0 = background)."""
    seen: dict[str, Path] = {}
    for part in parts:
        if part.name in seen:
            raise FormatError(f"part {part.name!r} of id {part.sample_id} is given twice: {seen[part.name]} and "
                              f"{part.path}; remove one", path=part.path)
        seen[part.name] = part.path
    width, height = image_size_wh(image_path)
    regions = [(class_ids[p.path], read_binary_mask(p.path)) for p in parts]
    shapes = sorted({r.shape for _, r in regions})
    resize = options.resize_masks == "nearest"
    sizes = ", ".join(f"{s[1]}x{s[0]}" for s in shapes)
    if shapes != [(height, width)] and not resize:
        raise FormatError(f"part masks are {sizes}, image {image_path.name} is {width}x{height}; CelebAMask-HQ masks "
                          "are 512x512 for 1024x1024 images: pass --resize-masks nearest to upscale them, or "
                          "re-export the parts at image size", path=parts[0].path)
    if len(shapes) > 1:
        # parts of one image disagree; nearest resizing is a pure pixel lookup, so resizing each part and then
        # merging gives the same mask as merging then resizing
        regions = [(cid, _resize_bool(r, (width, height))) for cid, r in regions]
    mask = compose_by_priority((regions[0][1].shape[0], regions[0][1].shape[1]), regions, labelmap)
    if mask.shape != (height, width):
        log.debug("%s: merged mask %dx%d resized to %dx%d (nearest)", image_path, mask.shape[1], mask.shape[0],
                  width, height)
        mask = np.asarray(Image.fromarray(mask).resize((width, height), Image.Resampling.NEAREST), dtype=np.uint8)
    return mask


def _resize_bool(region: npt.NDArray[np.bool_], size_wh: tuple[int, int]) -> npt.NDArray[np.bool_]:
    if region.shape == (size_wh[1], size_wh[0]):
        return region
    img = Image.fromarray(region.astype(np.uint8) * 255)
    return np.asarray(img.resize(size_wh, Image.Resampling.NEAREST)) != 0


# -- writing (the export engine runs these: parallel, streaming, atomic) -----------------------------------------

def image_relpath(job: SampleJob, config: ExportConfig) -> str:
    return f"{IMAGE_DIR}/{job.index}{job.ext}"


def part_name(labelmap: LabelMap, class_id: int) -> str:
    """File name part for a class id: the class name, or ``ignore`` for 255 (``__ignore__`` if a class is
    called ``ignore``; both are ignore names to every animeparse reader)."""
    if class_id == IGNORE_INDEX:
        return "ignore" if "ignore" not in labelmap else "__ignore__"
    return labelmap.name_of(class_id)


def check_names(labelmap: LabelMap) -> None:
    """Class names become file names: refuse the ones that cannot be one (or that the reader would split)."""
    bad = [c.name for c in labelmap.classes
           if not c.name or any(ch in c.name for ch in "/\\\x00") or c.name != c.name.strip()]
    if bad:
        raise ExportError(f"class names {bad} cannot be part file names (<index>_<name>.png); rename them in a label "
                          "map copy or export another format")


def work(job: SampleJob, ctx: WorkContext) -> WorkResult:
    """Write every present part of one sample as a 0/255 L-mode PNG and place its image (runs in a worker)."""
    mask = read_job_mask(job)
    folder = Path(ctx.root) / MASK_DIR / str(job.index // _PER_FOLDER)
    folder.mkdir(parents=True, exist_ok=True)
    files = 0
    for class_id in present_ids(mask):
        if class_id == 0:
            continue
        part = (mask == class_id).view("uint8") * 255  # bool -> 0/255 in one multiply (a copy, not a view)
        (folder / f"{job.index:05d}_{part_name(ctx.labelmap, class_id)}.png").write_bytes(encode_mask_png(part))
        files += 1
    placed, fallback = place_image(job, ctx)
    return WorkResult(files=files + placed, link_fallback=fallback)


def open_sink(root: Path, ctx: WorkContext, jobs: Sequence[SampleJob]) -> FileSink:
    check_names(ctx.labelmap)
    (root / MASK_DIR).mkdir()
    if ctx.config.images != "none":
        (root / IMAGE_DIR).mkdir()
    with open(root / MAPPING_NAME, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["idx", "sample_id", "name", "split", "file_name"])
        for j in jobs:
            writer.writerow([j.index, j.sample_id, j.name, j.split, j.image_out])
    sink = FileSink()
    sink.files = 1
    return sink
