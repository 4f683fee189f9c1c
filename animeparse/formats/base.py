"""What every format module shares: its descriptor, the item a reader yields, reader options, and boundary checks.

A format module has ``NAME`` and ``FORMAT`` (a :class:`FormatSpec`). A reader (``FORMAT.reads``) has
``detect(src) -> float`` (0 = not this format, 1 = certain) and ``read(src, *, labelmap, options) -> Iterator[Item]``;
a writer (``FORMAT.writes``) has the export engine's ``image_relpath``/``work``/``open_sink`` (or
``write_manifest``: see :mod:`.writing`). A format that reads its own output also has ``write(ds, out, *, layer)``,
which runs the export engine into ``out``.
Readers stay cheap: they name files and build masks from annotations; decoding images (and index/colour mask
files) happens in :mod:`animeparse.ingest`'s worker processes.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import FormatError, LabelMapError
from ..fsutil import read_json
from ..imageio import image_size_wh
from ..labelmap import IGNORE_INDEX, LabelMap

__all__ = ["FormatSpec", "Item", "ReadOptions", "ClassNames", "safe_join", "class_map_from_pairs", "IGNORE_NAMES",
           "BACKGROUND_NAMES", "load_json_file", "find_annotated_image", "check_image_size", "error_detail",
           "outside_symlink_error"]

log = logging.getLogger(__name__)

# names that mean "do not care" in the tools users come from (labelme's __ignore__, VOC's void)
IGNORE_NAMES = frozenset({"__ignore__", "_ignore_", "ignore", "void", "__void__"})
# and "background" (labelme's COCO export calls it _background_)
BACKGROUND_NAMES = frozenset({"_background_", "__background__", "background", "bg"})


@dataclass(frozen=True)
class FormatSpec:
    """What a format is, for the registry (:data:`animeparse.formats.FORMATS`) and the export engine.

    ``name``: the registry key (``--format``). ``reads``: it has ``detect`` and ``read``. ``writes``: the export
    engine can write it. ``lossless``: reading its output back gives the store's masks exactly (None: it writes
    no masks). ``options``: the :class:`~animeparse.formats.writing.ExportConfig` fields beyond the common ones that
    apply to its writer. ``read_by``: the reader that reads its output (None: none does). ``manifest_only``: its
    writer reads the store's manifest only (``write_manifest``), no pixels. ``written_by`` / ``written_with``: the
    export format (and its options) that writes what this reader reads (None: no export does), which
    :func:`animeparse.export.write_as` runs: the descriptor says it, so this floor never imports the engine.
    ``unlabelled``: its writer also takes the samples without a mask in the exported layer (their jobs have
    ``mask_src == ""``): a layout with an unlabelled pool.
    """

    name: str
    reads: bool = False
    writes: bool = False
    lossless: bool | None = None
    options: frozenset[str] = frozenset()
    read_by: str | None = None
    manifest_only: bool = False
    written_by: str | None = None
    written_with: tuple[tuple[str, str], ...] = ()
    unlabelled: bool = False


@dataclass(frozen=True)
class Item:
    """One image and its label from a source.

    The mask comes one of three ways: ``mask_hw`` (HxW uint8 ids of the target label map, built by the reader
    from annotations), ``mask_path`` (an index or colour-coded PNG that a worker decodes, per ``mask_kind``), or
    neither (unlabelled). ``character``: the character the layout says the image shows. ``crop_xyxy`` cuts image
    and mask identically. ``error`` is set instead of raising when
    the reader can go on with the next item.
    """

    image_path: Path
    name: str
    mask_hw: npt.NDArray[np.uint8] | None = None
    mask_path: Path | None = None
    mask_kind: str = "index"  # "index" | "palette"
    mask_source: str | None = None
    split: str | None = None
    crop_xyxy: tuple[int, int, int, int] | None = None
    meta: Mapping[str, object] = field(default_factory=dict)
    error: Exception | None = None
    character: str | None = None  # the character id the layout names (SIS-anime class.txt), None = none


@dataclass(frozen=True)
class ReadOptions:
    """Reader options; CLI flags map 1:1.

    ``resize_masks``: None (report a size mismatch) or ``"nearest"``. ``class_map``: source class name or id ->
    target name (``--map``). ``palette``: RGB -> target id for colour-coded masks (``--palette FILE``; default:
    the label map's colours). ``alpha_threshold``: Label Studio brush alpha at or above which a pixel is painted.
    ``images_dir``: where annotation files' images are looked up when not beside them (``--images``).
    ``crop_faces``: an OpenCV cascade XML to cut face crops from plain images (``--crop-faces``).
    ``source_labelmap``: the label map the source's mask ids are in, for layouts whose files do not say
    (``--source-labelmap``; ingest sets it from ``--remap``); None: the store's.
    """

    resize_masks: str | None = None
    class_map: Mapping[str, str] = field(default_factory=dict)
    palette: Mapping[tuple[int, int, int], int] | None = None
    alpha_threshold: int = 128
    images_dir: Path | None = None
    crop_faces: Path | None = None
    crop_margin: float = 0.5
    recursive: bool = True
    source_labelmap: str | None = None
    work_dir: Path | None = None  # where a reader may extract files (ingest passes one it deletes after the run)


class ClassNames:
    """Maps a source's class names to target ids: exact name, then ``--map``, then ignore names -> 255.

    Unknown names are collected; :meth:`check` raises one error listing them all with their counts.
    """

    def __init__(self, labelmap: LabelMap, class_map: Mapping[str, str] | None = None) -> None:
        self.labelmap = labelmap
        self.class_map = dict(class_map or {})
        self.unknown: dict[str, int] = {}

    def id_of(self, name: str) -> int | None:
        """Target id for a source class name (255 for ignore names), or None (recorded) when unknown."""
        target = self.class_map.get(name, name)
        if target in self.labelmap:
            return self.labelmap.id_of(target)
        if target in IGNORE_NAMES or target == str(IGNORE_INDEX):
            return IGNORE_INDEX
        if target in BACKGROUND_NAMES and 0 in self.labelmap:
            return 0
        lowered = target.strip().lower().replace(" ", "_")
        if lowered in self.labelmap:
            return self.labelmap.id_of(lowered)
        self.unknown[name] = self.unknown.get(name, 0) + 1
        return None

    def check(self, *, path: Path | str) -> None:
        if self.unknown:
            listed = ", ".join(f"{n!r} ({c}x)" for n, c in sorted(self.unknown.items()))
            raise LabelMapError(f"class names not in the label map {self.labelmap.name}: {listed}; map them with "
                                "--map SOURCE=TARGET (TARGET may be 'ignore') or use a label map that has them",
                                path=path)


def safe_join(root: Path, relative: str, *, what: str, source: Path) -> Path:
    """Resolve a path named inside an annotation file; refuse ones that leave ``root`` (``../``, absolute,
    symlinks pointing outside). ``source`` is the annotation file, named in the error."""
    if "\x00" in relative:
        raise FormatError(f"{what} path {relative!r} contains a NUL byte", path=source)
    candidate = Path(relative)
    if candidate.is_absolute() or ".." in candidate.parts:
        raise FormatError(f"{what} path {relative!r} points outside the source folder {root}; paths in annotation "
                          "files must be relative and stay inside it", path=source)
    joined = root / candidate
    real_root = Path(os.path.realpath(root))
    real = Path(os.path.realpath(joined))
    if real != real_root and real_root not in real.parents:
        raise FormatError(f"{what} path {relative!r} is a symlink to {real}, outside the source folder {root}",
                          path=source)
    return joined


def outside_symlink_error(path: Path, src: Path, *, what: str) -> FormatError | None:
    """For a file (or folder) listed under the source folder ``src``: a FormatError naming ``path`` when it
    resolves, through a symlink (its own or a parent folder's), to a place outside ``src`` or to nothing; else None."""
    real_root = os.path.realpath(src)
    target = os.path.realpath(path)
    if not os.path.exists(target):
        return FormatError(f"is a broken symlink (to {target}); fix or remove the link", path=path)
    if os.path.commonpath([real_root, target]) != real_root:
        how = "is a symlink to" if os.path.islink(path) else "lies, through a symlinked folder, at"
        return FormatError(f"{what} {how} {target}, outside the source folder {src}; symlinks must stay inside it: "
                           "copy the files in, or pass the folder they live in as the source", path=path)
    return None


def class_map_from_pairs(pairs: Iterable[str]) -> dict[str, str]:
    """Parse ``--map old=new`` options into a dict; refuse malformed ones."""
    out: dict[str, str] = {}
    for pair in pairs:
        old, sep, new = pair.partition("=")
        if not sep or not old.strip() or not new.strip():
            raise LabelMapError(f"--map needs OLD=NEW, got {pair!r}")
        out[old.strip()] = new.strip()
    return out


# -- helpers for readers of annotation files (COCO, LabelMe, Label Studio) ------------------------------------
def load_json_file(path: Path) -> Any:
    """Parse a JSON file; every failure becomes a FormatError naming the file and the fix."""
    return read_json(path, error=FormatError, what="an annotation file")


def find_annotated_image(relative: str, *, source: Path, options: ReadOptions) -> Path:
    """The image file an annotation file names: beside ``source`` first, then in ``options.images_dir`` by the
    path, then by the basename. Raises FormatError (naming ``source``) when it is nowhere or leaves every root.

    A path refused beside the annotation (``../``, absolute, outside symlink) may still be found by basename in
    ``--images``: that folder was named by the user, so nothing outside a chosen root is ever opened.
    """
    relative = relative.replace("\\", "/")  # Windows tools write backslashes; they are never part of a name here
    tried: list[str] = []
    refusal: FormatError | None = None
    roots = [(source.parent, relative)]
    if options.images_dir is not None:
        roots += [(options.images_dir, relative), (options.images_dir, Path(relative).name)]
    for root, rel in roots:
        try:
            candidate = safe_join(root, rel, what="image", source=source)
        except FormatError as err:
            refusal = refusal or err
            continue
        if candidate.is_file():
            return candidate
        tried.append(str(candidate))
    if refusal is not None and not tried:
        raise FormatError(f"{error_detail(refusal, source)}; pass --images DIR to look the image up by file name "
                          "there", path=source)
    hint = "" if options.images_dir is not None else "; pass --images DIR if the images are elsewhere"
    where = ", ".join(tried) if tried else "nowhere"
    refused = f" ({error_detail(refusal, source)})" if refusal is not None else ""
    raise FormatError(f"image {relative!r} not found (looked at {where}){refused}{hint}", path=source)


def error_detail(err: FormatError, source: Path) -> str:
    """An error's message without its path prefix when the path is ``source`` (to nest it in another message)."""
    return str(err.args[0]) if err.path == Path(source) and err.args else str(err)


def check_image_size(image_path: Path, size_wh: tuple[int, int], *, source: Path,
                     real_wh: tuple[int, int] | None = None) -> None:
    """Refuse an annotation whose declared (width, height) differs from the image file's (EXIF-aware) size.
    ``real_wh``: the file's size when already known (saves reading the header twice)."""
    real_wh = real_wh or image_size_wh(image_path)
    if real_wh != tuple(size_wh):
        raise FormatError(f"annotation says image {image_path.name} is {size_wh[0]}x{size_wh[1]} (WxH) but the file "
                          f"is {real_wh[0]}x{real_wh[1]}; re-export the annotation against this image", path=source)
