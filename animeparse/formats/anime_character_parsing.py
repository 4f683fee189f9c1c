"""AnimeCharacterParsing: the layout the author's data loader reads (full-body characters, semi-supervised).

Layout::

    train_aug/image/<name>.jpg   training images: the labelled ones and the unlabelled pool
    train_aug/label/<name>.png   single-channel class ids (L-mode; 255 = ignore) of the labelled ones
    val/image/<name>.jpg         validation images
    val/label/<name>.png         their class ids
    test/<name>.jpg              test images (no labels in the dataset)
    train.txt                    labelled training names, one per line, no extension
    unsuper_train.txt            the unlabelled pool: names of images under train_aug/image/ without a label
    val.txt                      validation names
    test_label/<name>.png        animeparse's addition, written only for test samples that have a mask (the
                                 loader never reads it; without it such masks would be lost)
    labelmap.json                animeparse's addition: the label map the ids are in (the loader ignores it)

A list line's first tab-separated field is the name (as the loader reads it). Reading: ``train.txt`` names are split
``train`` with their label, ``unsuper_train.txt`` names split ``train`` without a mask (what ``parser train
--unlabeled split:train`` learns from), ``val.txt`` names split ``val``, every ``test/*.jpg`` split ``test``. Files no
list names are not read (as by the loader). A list naming a missing file, a name given twice, a label that is not
single-channel, ids outside the map and sizes that differ are refused, naming the file (and the list's line).

Which class set: the ids are the 13- or the 16-class set (``anime-character-parsing-13`` / ``-16``), and the files
do not say which unless ``labelmap.json`` is there. Otherwise ``--source-labelmap`` (or ``--remap``) says; else,
for a store using one of the two maps, the labels' largest id decides when it can: an id above 12 is the 16-class
set; ids up to 12 fit both, and the read is refused until ``--source-labelmap`` says which (never a silent guess).

Writing (the export engine): masks as L-mode PNGs (lossless). The loader reads ``<name>.jpg``: JPEG images are
copied (or linked) as they are; others are re-encoded as JPEG quality 95 (lossy: their pixels change slightly; the
export's warnings count them). Samples of a split other than train, val and test, and val samples without a mask,
have no place in the layout and are refused (pass ``--split``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np

from ..errors import FormatError
from ..fsutil import naming_errors
from ..imageio import encode_jpeg, read_image
from ..labelmap import IGNORE_INDEX, LabelMap
from .base import FormatSpec, Item, ReadOptions, outside_symlink_error
from .writing import ExportConfig, ExportError, SampleJob, WorkContext, WorkResult, place_image, write_index_mask

__all__ = ["NAME", "FORMAT", "detect", "read", "read_list", "source_class_set", "image_relpath", "work", "open_sink",
           "LISTS", "MAPS"]

log = logging.getLogger(__name__)

NAME = "anime-character-parsing"
FORMAT = FormatSpec(name=NAME, reads=True, writes=True, lossless=True, read_by=NAME, written_by=NAME, unlabelled=True)
MAPS = ("anime-character-parsing-13", "anime-character-parsing-16")
# list file -> (image folder, label folder or None, split)
LISTS = {"train.txt": ("train_aug/image", "train_aug/label", "train"),
         "unsuper_train.txt": ("train_aug/image", None, "train"),
         "val.txt": ("val/image", "val/label", "val")}
TEST_DIR, TEST_LABEL_DIR, LABELMAP_FILE = "test", "test_label", "labelmap.json"
_MAX_ID_13 = 12  # the 13-class set's largest id; the 16-class set goes to 16
JPEG_QUALITY = 95


def detect(src: Path) -> float:
    """0.97 when a list file (train.txt, val.txt) lies beside train_aug/ or val/; else 0."""
    try:
        if not src.is_dir():
            return 0.0
        has_list = (src / "train.txt").is_file() or (src / "val.txt").is_file()
        return 0.97 if has_list and ((src / "train_aug").is_dir() or (src / "val").is_dir()) else 0.0
    except OSError:
        return 0.0


def read_list(path: Path) -> list[tuple[int, str]]:
    """(line number, name) of each non-blank line of a list file: its first tab-separated field, stripped.
    Refuses a name with a path separator or an extension-looking ``.jpg``/``.png``, naming the line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise FormatError(f"could not be read as UTF-8 text ({err})", path=path) from err
    out = []
    for number, line in enumerate(lines, 1):
        name = line.split("\t", 1)[0].strip()
        if not name:
            continue
        if "/" in name or "\\" in name or name in (".", ".."):
            raise FormatError(f"line {number}: {name!r} is not a plain name (no folders: the loader joins it to "
                              "its own folder)", path=path)
        out.append((number, name))
    return out


def _label_paths(src: Path) -> list[Path]:
    return sorted(p for d in ("train_aug/label", "val/label", TEST_LABEL_DIR) if (src / d).is_dir()
                  for p in (src / d).glob("*.png"))


def _largest_id(paths: list[Path]) -> int:
    """The largest class id (255 aside) over the readable single-channel label PNGs (the workers report the rest)."""
    largest = 0
    for p in paths:
        mask = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
        if mask is None or mask.ndim != 2 or mask.dtype != np.uint8:
            continue
        present = np.flatnonzero(np.bincount(mask.reshape(-1), minlength=256)[:IGNORE_INDEX])
        largest = max(largest, int(present[-1]) if present.size else 0)
    return largest


def source_class_set(src: Path, labelmap: LabelMap, options: ReadOptions) -> str | None:
    """The label map the source's ids are in (None: taken as the store's; see the module docstring). Raises
    FormatError when ``labelmap.json``, the options and the store disagree, or when the 13/16 choice is open."""
    stated = options.source_labelmap
    written = None
    if (src / LABELMAP_FILE).is_file():
        try:
            written = str(json.loads((src / LABELMAP_FILE).read_text(encoding="utf-8"))["name"])
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise FormatError(f"is not a label map JSON with a name ({err}); remove it or fix it",
                              path=src / LABELMAP_FILE) from err
    expected = stated or labelmap.name
    if written is not None and written != expected:
        fix = f"pass --remap {written}" if stated is None else "drop --source-labelmap/--remap or change it"
        raise FormatError(f"says the ids are {written}'s, but the ingest expects {expected}'s; {fix}",
                          path=src / LABELMAP_FILE)
    if written is not None or stated is not None or labelmap.name not in MAPS:
        return written or stated
    largest = _largest_id(_label_paths(src))
    if largest > _MAX_ID_13:
        if labelmap.name == MAPS[0]:
            raise FormatError(f"labels use ids up to {largest}: the 16-class set; ingest into an {MAPS[1]} store, or "
                              f"pass --remap {MAPS[1]} to merge its classes into {MAPS[0]}", path=src)
        return MAPS[1]
    raise FormatError(f"labels use ids up to {largest} only, which both the 13- and the 16-class sets have; say which "
                      f"with --source-labelmap {MAPS[0]} or {MAPS[1]} (and --remap {MAPS[1]} for a 16-class source "
                      f"into a {MAPS[0]} store)", path=src)


def read(src: Path, *, labelmap: LabelMap, options: ReadOptions = ReadOptions()) -> Iterator[Item]:
    """Yield one Item per listed name (train.txt, unsuper_train.txt, val.txt) and per ``test/*.jpg``; masks are
    the label PNGs, decoded by the ingest workers. Missing files and names given twice are error Items naming
    the list and line. Raises FormatError when no list is found or the class set is in doubt."""
    src = Path(src)
    if not any((src / n).is_file() for n in LISTS):
        raise FormatError(f"no list file ({', '.join(LISTS)}) found; is this an AnimeCharacterParsing folder?",
                          path=src)
    found = source_class_set(src, labelmap, options)
    log.info("%s: ids read as %s", src, found or labelmap.name)
    seen: dict[str, str] = {}  # image path -> "list:line" that named it first
    for list_name, (image_dir, label_dir, split) in LISTS.items():
        list_path = src / list_name
        if not list_path.is_file():
            continue
        for number, name in read_list(list_path):
            where = f"{list_name}:{number}"
            image = src / image_dir / f"{name}.jpg"
            label = src / label_dir / f"{name}.png" if label_dir else None
            error = _listed_error(src, list_path, number, name, image, label, seen)
            seen.setdefault(str(image), where)
            yield Item(image_path=image, name=f"{name}.jpg", mask_path=label, mask_kind="index",
                       mask_source=str(label) if label else None, split=split, error=error)
    yield from _test_items(src)


def _listed_error(src: Path, list_path: Path, number: int, name: str, image: Path, label: Path | None,
                  seen: dict[str, str]) -> FormatError | None:
    where = f"line {number}"
    if str(image) in seen:
        return FormatError(f"{where}: {name!r} is already listed at {seen[str(image)]}; list each name once (the "
                           "unlabelled pool holds images without a label only)", path=list_path)
    for path, what in ((image, "image"), (label, "label")):
        if path is None:
            continue
        if not path.is_file():
            return FormatError(f"{where}: {name!r} names {path.relative_to(src)}, which does not exist; add the "
                               f"{what} or remove the line", path=list_path)
        outside = outside_symlink_error(path, src, what=what)
        if outside is not None:
            return outside
    return None


def _test_items(src: Path) -> Iterator[Item]:
    folder = src / TEST_DIR
    if not folder.is_dir():
        return
    for image in sorted(p for p in folder.iterdir() if p.suffix.lower() == ".jpg" and not p.name.startswith(".")):
        label = src / TEST_LABEL_DIR / f"{image.stem}.png"
        label_or_none = label if label.is_file() else None
        yield Item(image_path=image, name=image.name, mask_path=label_or_none, mask_kind="index",
                   mask_source=str(label_or_none) if label_or_none else None, split="test",
                   error=outside_symlink_error(image, src, what="image"))


# -- writing (the export engine runs these) ---------------------------------------------------------------------
def _folders(job: SampleJob) -> tuple[str, str | None]:
    """(image folder, label folder or None) of a job; ExportError for what has no place in the layout."""
    labelled = bool(job.mask_src)
    if job.split == "train":
        return "train_aug/image", "train_aug/label" if labelled else None
    if job.split == "val":
        if not labelled:
            raise ExportError(f"sample {job.sample_id} ({job.name}) is in split val but has no mask: the layout's "
                              "unlabelled pool is training images only; label it, move it to train, or pass --split "
                              "train,test")
        return "val/image", "val/label"
    if job.split == "test":
        return TEST_DIR, TEST_LABEL_DIR if labelled else None
    raise ExportError(f"sample {job.sample_id} ({job.name}) is in split {job.split!r}: the layout has train, val and "
                      "test only; pass --split train,val,test or re-split the store")


def image_relpath(job: SampleJob, config: ExportConfig) -> str:
    return f"{_folders(job)[0]}/{job.stem}.jpg"


def work(job: SampleJob, ctx: WorkContext) -> WorkResult:
    """Write the sample's L-mode label (if it has one) and its image as ``<stem>.jpg`` (runs in a worker);
    the payload is 1 when the image had to be re-encoded as JPEG."""
    files, fallback, reencoded = 0, False, 0
    label_dir = _folders(job)[1]
    if label_dir is not None:
        write_index_mask(job, Path(ctx.root) / label_dir / f"{job.stem}.png")
        files += 1
    if ctx.config.images == "none":
        pass
    elif job.ext in (".jpg", ".jpeg"):
        placed, fallback = place_image(job, ctx)
        files += placed
    else:
        dst = Path(ctx.root) / job.image_out
        dst.parent.mkdir(parents=True, exist_ok=True)
        data = encode_jpeg(read_image(job.image_src), quality=JPEG_QUALITY)
        with naming_errors(dst):
            dst.write_bytes(data)
        files, reencoded = files + 1, 1
    return WorkResult(payload=reencoded, files=files, link_fallback=fallback)


class _Sink:
    """Counts files and the images re-encoded as JPEG (said in the export's warnings)."""

    def __init__(self, files: int) -> None:
        self.warnings: list[str] = []
        self.files = files
        self.reencoded = 0

    def add(self, job: SampleJob, result: WorkResult) -> None:
        self.files += result.files
        self.reencoded += int(result.payload or 0)

    def finish(self) -> dict[str, int]:
        if self.reencoded:
            self.warnings.append(f"{self.reencoded} images were not JPEG and were re-encoded as JPEG quality "
                                 f"{JPEG_QUALITY} (the loader reads <name>.jpg): their pixels differ slightly from "
                                 "the store's; the masks are exact")
        return {"files": self.files}

    def close(self) -> None:
        pass


def open_sink(root: Path, ctx: WorkContext, jobs: Sequence[SampleJob]) -> _Sink:
    """Write the three lists (every one, empty or not) and ``labelmap.json``; make the folders."""
    lists: dict[str, list[str]] = {name: [] for name in LISTS}
    for job in jobs:
        image_dir, label_dir = _folders(job)
        if job.split == "train":
            lists["train.txt" if label_dir else "unsuper_train.txt"].append(job.stem)
        elif job.split == "val":
            lists["val.txt"].append(job.stem)
        (root / image_dir).mkdir(parents=True, exist_ok=True)
        if label_dir:
            (root / label_dir).mkdir(parents=True, exist_ok=True)
    for name, stems in lists.items():
        (root / name).write_text("".join(f"{s}\n" for s in sorted(stems)), encoding="utf-8")
    (root / LABELMAP_FILE).write_text(json.dumps(ctx.labelmap.to_json(), indent=2, ensure_ascii=False) + "\n",
                                      encoding="utf-8")
    return _Sink(files=len(lists) + 1)
