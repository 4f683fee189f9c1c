"""SIS-anime: the OASIS-style layout the SIS-anime generator trains on, with a character id per image.

Layout::

    images/training/<stem><ext>        annotations/training/<stem>.png     (L-mode PNGs, pixel = class id)
    images/validation/<stem><ext>      annotations/validation/<stem>.png
    class.txt                          one line per image: "<stem> <character index>"
    characters.json                    {"class_num": K, "characters": [{"index", "id", "name"}], "class_line"}

Store splits ``train`` and ``val`` become ``training`` and ``validation`` (other split names are kept as they are)
and come back the same way. Character indices are 0..K-1 over the sorted character ids of the exported samples;
the CLI prints K, the seed's ``--class_num``. The seed's exact ``class.txt`` line format is not public: the writer's
line is the ``class_line`` export option (default ``"{stem} {index}"``, see :class:`~.writing.ExportConfig`); the
reader takes a stem or file name, then whitespace (space or tab), then an integer index, and looks the id up in
``characters.json`` (without it, the index itself becomes the id). Every exported sample needs a character.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

from ..errors import FormatError
from ..imageio import IMAGE_EXTENSIONS
from ..labelmap import LabelMap
from .base import FormatSpec, Item, ReadOptions, outside_symlink_error
from .writing import (
    ExportConfig,
    ExportError,
    SampleJob,
    WorkContext,
    WorkResult,
    place_image,
    write_index_mask,
)

__all__ = ["NAME", "FORMAT", "CLASS_FILE", "CHARACTERS_FILE", "SPLIT_FOLDERS", "detect", "read", "image_relpath",
           "work", "open_sink", "folder_of", "split_of", "character_names", "read_class_file"]

NAME = "sis-anime"
FORMAT = FormatSpec(name=NAME, reads=True, writes=True, lossless=True, options=frozenset({"class_line"}),
                    read_by=NAME, written_by=NAME)
CLASS_FILE = "class.txt"
CHARACTERS_FILE = "characters.json"
# store split -> OASIS folder name (others keep their name)
SPLIT_FOLDERS = {"train": "training", "val": "validation"}


def folder_of(split: str) -> str:
    return SPLIT_FOLDERS.get(split, split)


def split_of(folder: str) -> str:
    return {v: k for k, v in SPLIT_FOLDERS.items()}.get(folder, folder)


# -- writer ---------------------------------------------------------------------------------------------------------
def image_relpath(job: SampleJob, config: ExportConfig) -> str:
    return f"images/{folder_of(job.split)}/{job.stem}{job.ext}"


def work(job: SampleJob, ctx: WorkContext) -> WorkResult:
    """Write the sample's L-mode mask and place its image (runs in a worker)."""
    write_index_mask(job, Path(ctx.root) / "annotations" / folder_of(job.split) / f"{job.stem}.png")
    files, fallback = place_image(job, ctx)
    return WorkResult(files=files + 1, link_fallback=fallback)


class ClassSink:
    """Writes ``class.txt`` (job order: sorted sample ids) and ``characters.json`` when the export finishes."""

    def __init__(self, root: Path, ctx: WorkContext, jobs: Sequence[SampleJob]) -> None:
        self.root, self.ctx = root, ctx
        self.warnings: list[str] = []
        self.ids = sorted({j.character for j in jobs if j.character is not None})
        self.index = {cid: i for i, cid in enumerate(self.ids)}
        self.lines: list[str] = []
        self.files = 0

    def add(self, job: SampleJob, result: WorkResult) -> None:
        assert job.character is not None  # checked in open_sink
        self.files += result.files
        line = self.ctx.config.class_line.format(stem=job.stem, name=Path(job.image_out).name or job.stem + job.ext,
                                                 index=self.index[job.character], character=job.character)
        self.lines.append(line)

    def finish(self) -> dict[str, int]:
        (self.root / CLASS_FILE).write_text("".join(f"{line}\n" for line in self.lines), encoding="utf-8")
        names = dict(self.ctx.characters)
        card = {"class_num": len(self.ids), "class_line": self.ctx.config.class_line,
                "characters": [{"index": i, "id": cid, "name": names.get(cid, "")} for i, cid in enumerate(self.ids)]}
        (self.root / CHARACTERS_FILE).write_text(json.dumps(card, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        return {"files": self.files + 2, "class_num": len(self.ids)}

    def close(self) -> None:
        pass


def open_sink(root: Path, ctx: WorkContext, jobs: Sequence[SampleJob]) -> ClassSink:
    """Refuse samples without a character (the generator needs one per image) and a ``class_line`` that does not
    format; make the split folders."""
    missing = [j for j in jobs if j.character is None]
    if missing:
        listed = ", ".join(f"{j.sample_id} ({j.name})" for j in missing[:5])
        raise ExportError(f"{len(missing)} of {len(jobs)} samples have no character (first: {listed}); SIS-anime "
                          "needs one per image: set them with animeparse character set, or export only those that "
                          "have one (--split)")
    try:
        ctx.config.class_line.format(stem="s", name="s.png", index=0, character="c")
    except (KeyError, IndexError, ValueError) as err:
        raise ExportError(f"--class-line {ctx.config.class_line!r} does not format ({err!r}); use the fields "
                          "{stem}, {name}, {index} and {character}") from err
    for split in sorted({j.split for j in jobs}):
        (root / "annotations" / folder_of(split)).mkdir(parents=True)
        if ctx.config.images != "none":
            (root / "images" / folder_of(split)).mkdir(parents=True)
    return ClassSink(root, ctx, jobs)


# -- reader ---------------------------------------------------------------------------------------------------------
def detect(src: Path) -> float:
    """Certain-ish (0.95, above index-folder's images/ + annotations/ pair) with class.txt beside images/ and
    annotations/."""
    try:
        ok = (src / CLASS_FILE).is_file() and (src / "images").is_dir() and (src / "annotations").is_dir()
    except OSError:
        return 0.0
    return 0.95 if ok else 0.0


def _characters(src: Path) -> dict[int, str]:
    path = src / CHARACTERS_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {int(c["index"]): str(c["id"]) for c in data["characters"]}
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise FormatError(f"not a characters file ({err!r}); expected {{\"characters\": [{{\"index\": 0, \"id\": "
                          "...}]}, or remove it to use the indices as ids", path=path) from err


def character_names(src: Path) -> dict[str, str]:
    """{character id: display name} from ``characters.json`` (ingest records them in the store)."""
    path = src / CHARACTERS_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {str(c["id"]): str(c["name"]) for c in data["characters"] if c.get("name")}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise FormatError(f"not a characters file ({err!r})", path=path) from err


def read_class_file(path: Path, stems: set[str]) -> dict[str, int]:
    """{stem: character index} from ``class.txt``; FormatError naming the file and line for a line that is not
    ``<stem or file name><space or tab><integer>``, names no image of the layout, or repeats one."""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise FormatError(f"cannot be read ({err})", path=path) from err
    out: dict[str, int] = {}
    first: dict[str, int] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2:
            raise FormatError(f"line {number}: expected '<image stem> <character index>' separated by a space or "
                              f"tab, got {line!r}", path=path)
        stem = parts[0][: -len(Path(parts[0]).suffix)] if Path(parts[0]).suffix.lower() in IMAGE_EXTENSIONS \
            else parts[0]
        try:
            index = int(parts[1])
        except ValueError:
            raise FormatError(f"line {number}: character index {parts[1]!r} is not an integer", path=path) from None
        if index < 0:
            raise FormatError(f"line {number}: character index {index} is negative", path=path)
        if stem not in stems:
            raise FormatError(f"line {number}: no image {stem!r} under images/; fix the line or add the image",
                              path=path)
        if stem in first:
            raise FormatError(f"line {number}: image {stem!r} is listed again (first on line {first[stem]})",
                              path=path)
        first[stem], out[stem] = number, index
    return out


def read(src: Path, *, labelmap: LabelMap, options: ReadOptions = ReadOptions()) -> Iterator[Item]:
    """One Item per image under ``images/<folder>/``, with its mask from ``annotations/<folder>/`` when present, its
    split from the folder and its character from ``class.txt`` (an image class.txt does not list gets none)."""
    if not (src / "images").is_dir():
        raise FormatError("no images/ folder; expected images/training, annotations/training and class.txt", path=src)
    images: dict[str, Path] = {}
    for folder in sorted(p for p in (src / "images").iterdir() if p.is_dir()):
        for image in sorted(p for p in folder.iterdir()
                            if p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")):
            if image.stem in images:
                raise FormatError(f"image stem {image.stem!r} appears in two folders ({images[image.stem].parent.name} "
                                  f"and {folder.name}); class.txt could not tell them apart", path=image)
            images[image.stem] = image
    indices = read_class_file(src / CLASS_FILE, set(images))
    ids = _characters(src)
    for stem, image in sorted(images.items(), key=lambda kv: (kv[1].parent.name, kv[0])):
        mask = src / "annotations" / image.parent.name / f"{stem}.png"
        mask_path = mask if mask.is_file() else None
        index = indices.get(stem)
        error = outside_symlink_error(image, src, what="image") or \
            (outside_symlink_error(mask, src, what="mask") if mask_path else None)
        if index is not None and ids and index not in ids:
            error = error or FormatError(f"class.txt gives {image.name} character index {index}, which "
                                         f"{CHARACTERS_FILE} does not list", path=src / CLASS_FILE)
        yield Item(image_path=image, name=image.name, mask_path=mask_path, mask_kind="index",
                   mask_source=str(mask_path) if mask_path else None, split=split_of(image.parent.name),
                   character=None if index is None else ids.get(index, str(index)), error=error)
