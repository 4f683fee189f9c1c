"""Plain images, unlabelled: a folder of pictures (or one picture), optionally cut into anime face crops.

Without ``--crop-faces`` every image becomes one unlabelled Item; nothing is decoded here. With
``--crop-faces CASCADE.xml`` each image is decoded (EXIF applied) and every face the cascade finds becomes one
Item whose ``crop_xyxy`` is a square around the face (:func:`animeparse.facecrop.square_crop_box`); the ingest
engine cuts the pixels. An image with no face becomes an error Item with ``meta["no_face"] = True``: nothing
of it is imported, and the engine can count it apart from real failures.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from ..errors import FormatError
from ..facecrop import FaceCropConfig, cascade_info, detect_faces, load_cascade, square_crop_box
from ..imageio import IMAGE_EXTENSIONS, read_image
from ..labelmap import LabelMap
from .base import FormatSpec, Item, ReadOptions, outside_symlink_error

__all__ = ["NAME", "FORMAT", "detect", "read", "list_images"]

log = logging.getLogger(__name__)

NAME = "images"
FORMAT = FormatSpec(name=NAME, reads=True)
_DETECT_BUDGET = 2000  # directory entries detect() may look at before giving up: it must stay cheap


def _is_image(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def detect(src: Path) -> float:
    """0.5 for one image file; 0.1 for a folder holding images (any other matching format should win); else 0."""
    try:
        if src.is_file():
            return 0.5 if _is_image(src.name) else 0.0
        if not src.is_dir():
            return 0.0
        seen = 0
        for _root, dirs, files in os.walk(src):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            if any(_is_image(f) and not f.startswith(".") for f in files):
                return 0.1
            seen += len(dirs) + len(files)
            if seen > _DETECT_BUDGET:
                break
    except OSError:
        pass
    return 0.0


def list_images(src: Path, *, recursive: bool = True) -> Iterator[tuple[Path, str, FormatError | None]]:
    """(path, name relative to ``src`` in posix form, error or None) for every image, sorted by name.

    Hidden files and folders (name starting with '.') are skipped. Symlinks are resolved: one whose target lies
    outside ``src`` (or is missing) comes back with an error. Symlinked folders are not descended into (no loops);
    one pointing outside ``src`` is reported, one pointing inside is skipped because its images are listed
    under their real path already.
    """
    found: list[tuple[str, Path, FormatError | None]] = []
    walker = os.walk(src) if recursive else [(str(src), [], sorted(os.listdir(src)))]
    for root, dirs, files in walker:
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for d in list(dirs):
            path = Path(root) / d
            if path.is_symlink():
                dirs.remove(d)
                err = outside_symlink_error(path, src, what="folder")
                if err is not None:
                    found.append((path.relative_to(src).as_posix(), path, err))
                else:
                    log.info("%s: symlinked folder not followed; its images are listed under their real path", path)
        for f in files:
            path = Path(root) / f
            if f.startswith(".") or not _is_image(f) or (not recursive and path.is_dir()):
                continue
            err = outside_symlink_error(path, src, what="image")
            found.append((path.relative_to(src).as_posix(), path, err))
    for name, path, err in sorted(found, key=lambda t: t[0]):
        yield path, name, err


def read(src: Path, *, labelmap: LabelMap, options: ReadOptions = ReadOptions()) -> Iterator[Item]:
    """Yield one unlabelled Item per image (``labelmap`` is unused: there are no labels), or with
    ``options.crop_faces`` one Item per detected face (``crop_xyxy`` set, name ``<stem>_face<k><ext>``).

    Raises FormatError when ``src`` is neither an image file nor a folder, or the cascade is missing or invalid.
    """
    src = Path(src)
    if src.is_file():
        if not _is_image(src.name):
            raise FormatError(f"is not an image file (expected one of {', '.join(IMAGE_EXTENSIONS)}) nor a folder",
                              path=src)
        entries: Iterator[tuple[Path, str, FormatError | None]] = iter([(src, src.name, None)])
    elif src.is_dir():
        entries = list_images(src, recursive=options.recursive)
    else:
        raise FormatError("source not found or not a file/folder; check the path", path=src)

    if options.crop_faces is None:
        for path, name, err in entries:
            yield Item(image_path=path, name=name, error=err)
        return

    cfg = FaceCropConfig(cascade=Path(options.crop_faces), margin=options.crop_margin)
    load_cascade(cfg.cascade)  # fail the whole source up front, before any image is decoded
    provenance = cascade_info(cfg.cascade)
    for path, name, err in entries:
        if err is not None:
            yield Item(image_path=path, name=name, error=err)
            continue
        yield from _face_items(path, name, cfg, provenance)


def _face_items(path: Path, name: str, cfg: FaceCropConfig, provenance: dict[str, str]) -> Iterator[Item]:
    try:
        rgb = read_image(path)  # EXIF applied: the engine crops the same orientation
    except FormatError as err:
        yield Item(image_path=path, name=name, error=err)
        return
    height, width = rgb.shape[:2]
    faces = detect_faces(rgb, cfg)
    if not faces:
        log.info("%s: no face found", path)
        # an error Item, not silence: the report must say why this picture is missing; meta lets the engine
        # count it as "no face" rather than as a broken file
        no_face = FormatError(f"no face found by {cfg.cascade.name} (scaleFactor {cfg.scale_factor}, minNeighbors "
                              f"{cfg.min_neighbors}, minSize {cfg.min_size}); nothing imported from it. Import it "
                              "without --crop-faces, or crop the face by hand", path=path)
        yield Item(image_path=path, name=name, error=no_face,
                   meta={"no_face": True, "source_image": name, **provenance})
        return
    rel = PurePosixPath(name)
    for k, face in enumerate(faces):
        box = square_crop_box(face, (width, height), cfg.margin)
        yield Item(image_path=path, name=str(rel.with_name(f"{rel.stem}_face{k}{rel.suffix}")), crop_xyxy=box,
                   meta={"crop_xyxy": list(box), "face_xyxy": list(face), "source_image": name,
                         "image_size_wh": [width, height], "margin": cfg.margin, **provenance})
