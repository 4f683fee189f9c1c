"""The bad-input corpus: every reader fed broken, hostile and odd files, generated (never hand-collected).

:func:`build_corpus` writes each case's files under ``root/<case id>/`` and returns the :class:`Case` records
that say how to run it through the CLI and what must come out. ``tests/reliability/test_bad_inputs.py`` runs them;
``scripts/make_bad_corpus.py`` writes them out for people to look at.

Placeholders in ``Case.args``: ``{case}`` this case's folder, ``{store}`` the store the test hands the case (a
copy of a small good store, or the case's own ``{case}/ds``), ``{tmp}`` a scratch folder that does not exist yet.
"""

from __future__ import annotations

import base64
import io
import json
import os
import pickle
import shutil
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

SIZE = 16  # every generated image is SIZE x SIZE: big enough to carry a mask, small enough to be instant
OUTCOMES = ("refuse", "skip", "accept")
NON_UTF8 = b"caf\xe9-latin1.png"  # a Latin-1 name (e-acute as one byte), not valid UTF-8
LONG_STEM = "long-" + "n" * 245  # 250 bytes + ".png" = 254: one byte under NAME_MAX (255)


@dataclass(frozen=True)
class Case:
    """One bad input and the outcome the CLI must produce.

    ``args`` follow ``animeparse -q`` (placeholders: see the module docstring). ``fragments``: strings the one
    ``Error:`` line on stderr must contain: the offending file's name and words naming the problem. ``outcome``:
    ``refuse`` (exit ``exit_code``, the store byte-identical), ``skip`` (refused like ``refuse`` by default, and
    with ``--on-error skip`` exactly the samples of ``good_args`` -- the same command over the good files alone --
    are added) or ``accept`` (an odd but valid input: exit 0 and ``expect_names`` are the sample names added).
    ``store``: ``template`` (a copy of a small good store), ``own`` (``{case}/ds``, the bad input itself) or
    ``none`` (the command makes the store: refusal means ``{tmp}`` is never created). ``marker``: a path that only
    exists if a hostile pickle was executed. ``tolerated``: prefixes of lines a third-party library writes to the
    process's stderr itself, which animeparse cannot stop (each one documented in docs/reliability.md).
    """

    id: str
    reader: str
    problem: str
    args: tuple[str, ...]
    fragments: tuple[str, ...] = ()
    outcome: str = "refuse"
    exit_code: int = 1
    store: str = "template"
    good_args: tuple[str, ...] | None = None
    expect_names: tuple[str, ...] = ()
    marker: str | None = None
    tolerated: tuple[str, ...] = ()

    @property
    def command(self) -> str:
        return " ".join(a for a in self.args[:2] if not a.startswith("{"))


# -- file makers ------------------------------------------------------------------------------------------------
def rgb(seed: int, size: int = SIZE) -> np.ndarray:
    return np.random.default_rng(1000 + seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


def stripes(ids: tuple[int, ...] = (0, 1, 17), size_hw: tuple[int, int] = (SIZE, SIZE)) -> np.ndarray:
    h, w = size_hw
    mask = np.zeros((h, w), np.uint8)
    for k, cid in enumerate(ids):
        mask[:, k * w // len(ids):] = cid
    return mask


def save(path: Path, array: np.ndarray, fmt: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, format=fmt)
    return path


def encode(array: np.ndarray, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format=fmt)
    return buf.getvalue()


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)
    return path


def write_json(path: Path, data: Any) -> Path:
    return write(path, json.dumps(data, indent=1))


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def png_bomb(width: int = 30000, height: int = 30000) -> bytes:
    """A 60-byte PNG whose header claims ``width`` x ``height`` RGB (2.7 GB decoded): a decompression bomb."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"\0" * 64)) + \
        _chunk(b"IEND", b"")


def jpeg_bomb() -> bytes:
    """A valid small JPEG whose SOF0 header is patched to claim 60000 x 60000 pixels."""
    data = bytearray(encode(rgb(99), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", 60000, 60000)
    return bytes(data)


def corrupt_png(seed: int, *, fix_crc: bool = False) -> bytes:
    """A PNG whose compressed pixel data is overwritten (the zlib stream broken; the IDAT CRC too, unless
    ``fix_crc``: then only a decoder that inflates the data can tell)."""
    data = bytearray(encode(rgb(seed)))
    idat = data.index(b"IDAT")
    (length,) = struct.unpack(">I", data[idat - 4:idat])
    data[idat + 6:idat + 44] = b"\xa5" * 38
    if fix_crc:
        data[idat + 4 + length:idat + 8 + length] = struct.pack(">I", zlib.crc32(data[idat:idat + 4 + length]))
    return bytes(data)


def deep_json(depth: int = 100_000) -> str:
    return "[" * depth + "]" * depth


# -- sources ----------------------------------------------------------------------------------------------------
def good_pairs(folder: Path, n: int = 2, *, seed: int = 0, colour: bool = False, labelmap: Any = None) -> None:
    """``n`` good images/ + masks/ pairs (index masks, or colour masks in the label map's colours)."""
    for i in range(n):
        save(folder / "images" / f"good{i}.png", rgb(seed + i))
        mask = stripes()
        save(folder / "masks" / f"good{i}.png", labelmap.colors_array()[mask] if colour else mask)


def copy_good(src: Path, good: Path, bad: list[str]) -> None:
    """``good`` = ``src`` without the paths in ``bad`` (relative, as bytes-safe strings)."""
    shutil.copytree(src, good, symlinks=True)
    for rel in bad:
        p = good / rel
        if p.is_symlink() or p.is_file():
            p.unlink()


def coco_doc(images: list[tuple[int, str]], anns: list[dict[str, Any]],
             cats: tuple[tuple[int, str], ...] = ((1, "hair"), (2, "skin"))) -> dict[str, Any]:
    return {"images": [{"id": i, "file_name": f, "width": SIZE, "height": SIZE} for i, f in images],
            "annotations": [{"id": k + 1, "iscrowd": 0, **a} for k, a in enumerate(anns)],
            "categories": [{"id": i, "name": n} for i, n in cats]}


SQUARE = [2, 2, 12, 2, 12, 12, 2, 12]


def labelme_doc(image: str, shapes: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"version": "5.4.1", "flags": {}, "shapes": shapes, "imagePath": image, "imageData": None,
            "imageHeight": SIZE, "imageWidth": SIZE, **extra}


def lm_polygon(points: Any, label: str = "hair") -> dict[str, Any]:
    return {"label": label, "points": points, "group_id": None, "shape_type": "polygon", "flags": {}}


def ls_task(tid: int, image: str, results: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": tid, "data": {"image": f"/data/local-files/?d={image}"},
            "annotations": [{"id": 100 + tid, "was_cancelled": False, "result": results,
                             "updated_at": "2024-01-01T00:00:00Z"}], "predictions": []}


def ls_result(kind: str, value: dict[str, Any], *, label: str = "hair", size: tuple[Any, Any] = (SIZE, SIZE),
              rid: str = "r1") -> dict[str, Any]:
    value = {**value, kind: [label]}
    out = {"id": rid, "from_name": "tag", "to_name": "image", "type": kind, "value": value}
    if size[0] is not None:
        out["original_width"] = size[0]
    if size[1] is not None:
        out["original_height"] = size[1]
    return out


LS_POLYGON = {"points": [[10, 10], [80, 10], [80, 80], [10, 80]], "closed": True}


def _brush(alpha_hw: np.ndarray) -> dict[str, Any]:
    from animeparse.formats.lsrle import encode_rle

    return {"format": "rle", "rle": encode_rle(alpha_hw)}


# -- the corpus -------------------------------------------------------------------------------------------------
class _Builder:
    """Collects cases; each ``add_*`` writes one case's files and appends its record."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.cases: list[Case] = []
        from animeparse import load_labelmap

        self.labelmap = load_labelmap("danbooru-parsing")

    def dir(self, case_id: str) -> Path:
        folder = self.root / case_id
        if folder.exists():
            raise ValueError(f"duplicate case id {case_id}")
        folder.mkdir(parents=True)
        (self.root / case_id / "outside").mkdir()  # a folder beside src/ for paths that try to leave it
        return folder

    def add(self, case: Case) -> None:
        assert case.outcome in OUTCOMES, case
        self.cases.append(case)

    def ingest(self, case_id: str, reader: str, problem: str, make: Callable[[Path], list[str] | None],
               fragments: tuple[str, ...], *, fmt: str | None = None, src: str = "src", extra: tuple[str, ...] = (),
               outcome: str = "skip", good: str | None = None, tolerated: tuple[str, ...] = ()) -> None:
        """An ingest case. ``make(case_dir)`` writes ``case_dir/src`` and returns the bad files (relative to src)
        for a ``skip`` case, whose good-only source is then src minus those (or ``good``, when it writes one)."""
        folder = self.dir(case_id)
        bad = make(folder)
        fmt_args = ("--format", fmt) if fmt else ()
        args = ("ingest", f"{{case}}/{src}", "--into", "{store}", *fmt_args, "--workers", "0", *extra)
        good_args = None
        if outcome == "skip":
            if good is None:
                copy_good(folder / "src", folder / "good", bad or [])
                good = src.replace("src", "good", 1)
            good_args = ("ingest", f"{{case}}/{good}", "--into", "{store}", *fmt_args, "--workers", "0", *extra)
        self.add(Case(case_id, reader, problem, args, fragments, outcome, good_args=good_args, tolerated=tolerated))


def build_corpus(root: Path) -> list[Case]:
    """Write every case under ``root`` (which must be empty or absent) and return the case records."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    b = _Builder(root)
    _image_cases(b)
    _index_folder_cases(b)
    _palette_cases(b)
    _celebamask_cases(b)
    _coco_cases(b)
    _labelme_cases(b)
    _labelstudio_cases(b)
    _labelmap_cases(b)
    _card_cases(b)
    _usage_cases(b)
    _checkpoint_cases(b)
    return b.cases


def _pairs_with(bad_image: bytes | None = None, bad_mask: bytes | None = None, *, name: str = "bad.png",
                mask_name: str | None = None) -> Callable[[Path], list[str]]:
    """index-folder source: two good pairs plus ``images/<name>`` (and ``masks/<mask_name>``) with given bytes."""

    def make(case: Path) -> list[str]:
        good_pairs(case / "src")
        bad = []
        image = bad_image if bad_image is not None else encode(rgb(50))
        write(case / "src" / "images" / name, image)
        bad.append(f"images/{name}")
        if bad_mask is not None:
            write(case / "src" / "masks" / (mask_name or name), bad_mask)
            bad.append(f"masks/{mask_name or name}")
        return bad

    return make


def _image_cases(b: _Builder) -> None:
    png = encode(rgb(7))
    jpeg = encode(rgb(8), "JPEG")
    for cid, problem, data, frags in [
        ("image-png-truncated", "PNG cut in half", png[: len(png) // 2], ("bad.png", "truncated")),
        ("image-jpeg-truncated", "JPEG cut in half", jpeg[: len(jpeg) // 2], ("bad.jpg", "truncated")),
        ("image-png-corrupt", "PNG with overwritten pixel data", corrupt_png(9), ("bad.png", "corrupt")),
        ("image-png-forged-crc", "PNG with garbage pixel data under recomputed CRCs", corrupt_png(10, fix_crc=True),
         ("bad.png", "corrupt")),
        ("image-zero-byte", "zero-byte .png", b"", ("bad.png", "not an image")),
        ("image-text-as-png", "a text file named .png", b"hello, I am not a picture\n", ("bad.png", "not an image")),
        ("image-png-bomb", "PNG header claiming 30000x30000", png_bomb(), ("bad.png", "decompression-bomb")),
        ("image-jpeg-bomb", "JPEG header claiming 60000x60000", jpeg_bomb(), ("bad.jpg", "decompression-bomb")),
    ]:
        name = "bad.jpg" if "jpeg" in cid else "bad.png"
        # a PNG that passes every CRC goes to OpenCV's fast decoder, whose libpng prints its own complaint
        tolerated = ("libpng error: ",) if "forged" in cid else ()
        b.ingest(cid, "image decode", problem, _pairs_with(data, name=name), frags, fmt="index-folder",
                 tolerated=tolerated)
    # the same decoder through the plain-images reader (no masks), and auto-detection over a bomb mask
    for cid, problem, data, frags in [
        ("images-zero-byte", "plain images: zero-byte .png", b"", ("bad.png", "not an image")),
        ("images-png-bomb", "plain images: PNG bomb", png_bomb(), ("bad.png", "decompression-bomb")),
    ]:
        def make(case: Path, data: bytes = data) -> list[str]:
            for i in range(2):
                save(case / "src" / f"good{i}.png", rgb(i))
            write(case / "src" / "bad.png", data)
            return ["bad.png"]

        b.ingest(cid, "image decode", problem, make, frags, fmt="images")
    def images_link(case: Path) -> list[str]:
        for i in range(2):
            save(case / "src" / f"good{i}.png", rgb(i))
        save(case / "outside" / "secret.png", rgb(98))
        os.symlink("../outside/secret.png", case / "src" / "link.png")
        return ["link.png"]

    b.ingest("images-symlink-outside", "image decode", "plain images: link.png is a symlink to a file outside SRC",
             images_link, ("link.png", "outside the source folder"), fmt="images")
    folder = b.dir("images-cascade-garbage")
    save(folder / "src" / "good0.png", rgb(0))
    write(folder / "cascade.xml", "<opencv_storage><cascade>not a cascade</cascade></opencv_storage>\n")
    b.add(Case("images-cascade-garbage", "image decode", "--crop-faces CASCADE.xml that is no cascade",
               ("ingest", "{case}/src", "--into", "{store}", "--format", "images", "--crop-faces",
                "{case}/cascade.xml", "--workers", "0"), ("cascade.xml", "not a valid OpenCV cascade")))
    b.ingest("image-bomb-mask-autodetect", "image decode", "format auto-detection opening a bomb mask first",
             _pairs_with(encode(rgb(51)), png_bomb(), name="a-bomb.png"), ("a-bomb.png", "decompression-bomb"))


def _index_folder_cases(b: _Builder) -> None:
    bad_mask = [
        ("index-mask-wrong-size", "mask 8x16 for a 16x16 image", encode(stripes(size_hw=(16, 8))),
         ("bad.png", "--resize-masks nearest")),
        ("index-mask-ids-outside", "mask ids 42 and 200 (map has 0..18)", encode(stripes((0, 42, 200))),
         ("bad.png", "not in the label map")),
        ("index-mask-rgb", "RGB mask in an index folder", encode(rgb(52)), ("bad.png", "mode RGB")),
        ("index-mask-truncated", "mask PNG cut after 40 bytes", encode(stripes())[:40], ("bad.png", "corrupt")),
        ("index-mask-16bit", "16-bit mask with values up to 1000",
         encode(stripes().astype(np.uint16) * 50 + 100), ("bad.png", "16-bit mask")),
        ("index-mask-zero-byte", "zero-byte mask", b"", ("bad.png", "not an image")),
    ]
    for cid, problem, mask, frags in bad_mask:
        b.ingest(cid, "index-folder", problem, _pairs_with(encode(rgb(53)), mask), frags, fmt="index-folder")
    b.ingest("index-mask-wrong-size-workers", "index-folder", "wrong-size mask, decoded in 2 worker processes",
             _pairs_with(encode(rgb(54)), encode(stripes(size_hw=(16, 8)))), ("bad.png", "--resize-masks nearest"),
             fmt="index-folder", extra=("--workers", "2"))

    def symlinked(kind: str) -> Callable[[Path], list[str]]:
        def make(case: Path) -> list[str]:
            good_pairs(case / "src")
            save(case / "outside" / "secret.png", rgb(55) if kind == "images" else stripes())
            if kind == "images":
                save(case / "src" / "masks" / "link.png", stripes())
            else:
                save(case / "src" / "images" / "link.png", rgb(56))
            os.symlink("../../outside/secret.png", case / "src" / kind / "link.png")
            return ["images/link.png", "masks/link.png"]
        return make

    b.ingest("index-symlink-image-outside", "index-folder", "images/link.png is a symlink to a file outside SRC",
             symlinked("images"), ("link.png", "outside the source folder"), fmt="index-folder")
    b.ingest("index-symlink-mask-outside", "index-folder", "masks/link.png is a symlink to a file outside SRC",
             symlinked("masks"), ("link.png", "outside the source folder"), fmt="index-folder")

    def non_utf8(case: Path) -> list[str]:
        good_pairs(case / "src")
        for sub, arr in (("images", rgb(57)), ("masks", stripes())):
            (case / "src" / sub).mkdir(parents=True, exist_ok=True)
            with open(os.path.join(os.fsencode(case / "src" / sub), NON_UTF8), "wb") as fh:
                fh.write(encode(arr))
        return [f"images/{os.fsdecode(NON_UTF8)}", f"masks/{os.fsdecode(NON_UTF8)}"]

    b.ingest("index-name-not-utf8", "index-folder", "file name b'caf\\xe9-latin1.png' is not UTF-8", non_utf8,
             (r"caf\xe9-latin1.png", "not valid UTF-8"), fmt="index-folder")

    # odd but valid: accepted, with the names kept exactly
    def long_name(case: Path) -> None:
        save(case / "src" / "images" / f"{LONG_STEM}.png", rgb(58))
        save(case / "src" / "masks" / f"{LONG_STEM}.png", stripes())

    folder = b.dir("index-name-255-bytes")
    long_name(folder)
    b.add(Case("index-name-255-bytes", "index-folder", "image and mask names of 254 bytes (NAME_MAX is 255)",
               ("ingest", "{case}/src", "--into", "{store}", "--format", "index-folder", "--workers", "0"),
               outcome="accept", exit_code=0, expect_names=(f"{LONG_STEM}.png",)))
    for cid, same in (("index-names-differ-in-case", False), ("index-names-differ-in-case-same-pixels", True)):
        folder = b.dir(cid)
        for k, stem in enumerate(("Face", "face")):
            save(folder / "src" / "images" / f"{stem}.png", rgb(60 if same else 60 + k))
            save(folder / "src" / "masks" / f"{stem}.png", stripes())
        b.add(Case(cid, "index-folder",
                   "Face.png and face.png, " + ("same pixels: the second is an exact duplicate, reported"
                                               if same else "different pictures: two samples"),
                   ("ingest", "{case}/src", "--into", "{store}", "--format", "index-folder", "--workers", "0"),
                   outcome="accept", exit_code=0, expect_names=("Face.png",) if same else ("Face.png", "face.png")))


def _palette_cases(b: _Builder) -> None:
    lm = b.labelmap

    def with_mask(mask_rgb: np.ndarray) -> Callable[[Path], list[str]]:
        def make(case: Path) -> list[str]:
            good_pairs(case / "src", colour=True, labelmap=lm)
            save(case / "src" / "images" / "bad.png", rgb(61))
            save(case / "src" / "masks" / "bad.png", mask_rgb)
            return ["images/bad.png", "masks/bad.png"]
        return make

    unknown = lm.colors_array()[stripes()].copy()
    unknown[:4, :4] = (1, 2, 3)
    b.ingest("palette-unknown-colour", "palette", "colour #010203 is in no class", with_mask(unknown),
             ("bad.png", "#010203"), fmt="palette")
    b.ingest("palette-wrong-size", "palette", "colour mask 16x8 for a 16x16 image",
             with_mask(lm.colors_array()[stripes(size_hw=(8, 16))]), ("bad.png", "--resize-masks nearest"),
             fmt="palette")

    for cid, problem, text, frags in [
        ("palette-file-bad-colour", "--palette FILE with a colour component of 300",
         '{"hair": [255, 0, 0], "skin": [300, 0, 0]}', ("palette.json", "[r, g, b]")),
        ("palette-file-malformed", "--palette FILE that is not JSON", '{"hair": [255, 0, 0],',
         ("palette.json", "not valid JSON")),
        ("palette-file-deep-nesting", "--palette FILE of 100000 nested lists", deep_json(),
         ("palette.json", "nested too deeply")),
        ("palette-file-classes-not-list", '--palette FILE {"classes": 5} (a label map without classes)',
         '{"classes": 5}', ("palette.json", "classes")),
        ("palette-file-unknown-class", "--palette FILE naming class 'antenna'", '{"antenna": [1, 2, 3]}',
         ("palette.json", "'antenna'")),
    ]:
        folder = b.dir(cid)
        good_pairs(folder / "src", colour=True, labelmap=lm)
        write(folder / "palette.json", text)
        b.add(Case(cid, "palette", problem, ("ingest", "{case}/src", "--into", "{store}", "--format", "palette",
                                             "--palette", "{case}/palette.json", "--workers", "0"), frags))
    folder = b.dir("remap-file-malformed")
    good_pairs(folder / "src")
    write(folder / "remap.json", '{"from": "celebamask-hq", "to": "danbooru-parsing", "table": {"1": ')
    b.add(Case("remap-file-malformed", "index-folder", "--remap FILE that is not JSON",
               ("ingest", "{case}/src", "--into", "{store}", "--format", "index-folder", "--remap",
                "{case}/remap.json", "--workers", "0"), ("remap.json", "not valid JSON")))
    folder = b.dir("remap-file-id-300")
    good_pairs(folder / "src")
    write_json(folder / "remap.json", {"from": "x", "to": "danbooru-parsing", "table": {"1": 300}})
    b.add(Case("remap-file-id-300", "index-folder", "--remap FILE mapping id 1 to 300 (ids are 0..255)",
               ("ingest", "{case}/src", "--into", "{store}", "--format", "index-folder", "--remap",
                "{case}/remap.json", "--workers", "0"), ("remap.json", "300")))
    folder = b.dir("remap-file-wrong-ids")
    good_pairs(folder / "src")
    write_json(folder / "remap.json", {"from": "x", "to": "danbooru-parsing", "table": {"1": "hair"}})
    b.add(Case("remap-file-wrong-ids", "index-folder", "--remap FILE mapping an id to a name",
               ("ingest", "{case}/src", "--into", "{store}", "--format", "index-folder", "--remap",
                "{case}/remap.json", "--workers", "0"), ("remap.json", "remap.schema.json")))


def _celebamask_cases(b: _Builder) -> None:
    def layout(case: Path, extra: Callable[[Path], list[str]]) -> list[str]:
        src = case / "src"
        for i in range(2):
            save(src / "images" / f"{i}.png", rgb(70 + i))
            part = np.zeros((SIZE, SIZE), np.uint8)
            part[4:12, 4:12] = 255
            save(src / "parts" / f"{i:05d}_hair.png", part)
        return extra(src)

    def wrong_size(src: Path) -> list[str]:
        save(src / "images" / "2.png", rgb(72))
        save(src / "parts" / "00002_hair.png", np.full((8, 8), 255, np.uint8))
        return ["images/2.png", "parts/00002_hair.png"]

    def truncated(src: Path) -> list[str]:
        save(src / "images" / "2.png", rgb(73))
        write(src / "parts" / "00002_skin.png", encode(np.full((SIZE, SIZE), 255, np.uint8))[:45])
        return ["images/2.png", "parts/00002_skin.png"]

    def stray(src: Path) -> list[str]:
        save(src / "parts" / "hair-of-someone.png", np.full((SIZE, SIZE), 255, np.uint8))
        return ["parts/hair-of-someone.png"]

    def outside(src: Path) -> list[str]:
        save(src.parent / "outside" / "secret.png", rgb(74))
        os.symlink("../../outside/secret.png", src / "images" / "2.png")
        save(src / "parts" / "00002_hair.png", np.full((SIZE, SIZE), 255, np.uint8))
        return ["images/2.png", "parts/00002_hair.png"]

    def orphan(src: Path) -> list[str]:
        save(src / "parts" / "00007_hair.png", np.full((SIZE, SIZE), 255, np.uint8))
        return ["parts/00007_hair.png"]

    for cid, problem, extra, frags in [
        ("celebamask-part-wrong-size", "an 8x8 part for a 16x16 image", wrong_size,
         ("00002_hair.png", "--resize-masks nearest")),
        ("celebamask-part-truncated", "a part PNG cut short", truncated, ("00002_skin.png", "truncated")),
        ("celebamask-stray-file", "a .png in the part folder not named <id>_<part>", stray,
         ("hair-of-someone.png", "not named <id>_<part>.png")),
        ("celebamask-symlink-outside", "image 2.png is a symlink to a file outside SRC", outside,
         ("2.png", "outside the source folder")),
        ("celebamask-part-without-image", "part 00007_hair.png has no image 7", orphan,
         ("00007_hair.png", "have no image")),
    ]:
        b.ingest(cid, "celebamask", problem, lambda case, extra=extra: layout(case, extra), frags, fmt="celebamask")

    def unknown(src: Path) -> list[str]:
        save(src / "parts" / "00001_antenna.png", np.full((SIZE, SIZE), 255, np.uint8))
        return []

    b.ingest("celebamask-unknown-part", "celebamask", "part name 'antenna' is not a class",
             lambda case: layout(case, unknown), ("parts", "'antenna'"), fmt="celebamask", outcome="refuse")


def _json_case(b: _Builder, cid: str, reader: str, problem: str, fmt: str, fragments: tuple[str, ...],
               make: Callable[[Path], tuple[Any, Any] | None], *, file: str = "ann.json",
               extra: tuple[str, ...] = (), auto: bool = False) -> None:
    """A case whose source is one annotation file ``src/<file>`` beside two good images. ``make(src)`` writes
    the images (and anything else) and returns (document with the bad entry, the same without it) for a skip
    case, or None after writing ``src/<file>`` itself for a whole-file refusal."""

    def run(case: Path) -> list[str]:
        for i in range(2):
            save(case / "src" / f"good{i}.png", rgb(80 + i))
        docs = make(case / "src")
        if docs is not None:
            bad, good = docs
            write_json(case / "src" / file, bad)
            shutil.copytree(case / "src", case / "good", symlinks=True)
            write_json(case / "good" / file, good)
        return []

    outcome = "skip" if "skip" in problem.split(":")[0] else "refuse"
    b.ingest(cid, reader, problem.split(": ", 1)[-1], run, fragments, fmt=None if auto else fmt,
             src=f"src/{file}", extra=extra, outcome=outcome, good=f"good/{file}" if outcome == "skip" else None)


def _coco_cases(b: _Builder) -> None:
    good_imgs = [(1, "good0.png"), (2, "good1.png")]
    good_anns = [{"image_id": 1, "category_id": 1, "segmentation": [SQUARE]},
                 {"image_id": 2, "category_id": 2, "segmentation": [SQUARE]}]

    def skip_with(ann: dict[str, Any] | None, file_name: str = "bad.png", image: bytes | None = None,
                  cats: tuple[tuple[int, str], ...] = ((1, "hair"), (2, "skin")), width: int = SIZE
                  ) -> Callable[[Path], tuple[Any, Any]]:
        def make(src: Path) -> tuple[Any, Any]:
            if image is not None:
                write(src / file_name, image)
            elif "/" not in file_name:
                save(src / file_name, rgb(85))
            bad = coco_doc([*good_imgs, (3, file_name)], [*good_anns, *([{"image_id": 3, **ann}] if ann else [])],
                           cats)
            bad["images"][2]["width"] = width
            return bad, coco_doc(good_imgs, good_anns, cats)
        return make

    from pycocotools import mask as coco_mask

    def compressed_counts(h: int, w: int) -> str:
        m = np.zeros((h, w), np.uint8, order="F")
        m[2:9, 3:7] = 1
        return coco_mask.encode(np.asfortranarray(m))["counts"].decode("ascii")

    rle_list = {"size": [SIZE, SIZE], "counts": [10, 20, 30]}  # sums to 60, needs 256
    rle_str = {"size": [SIZE, SIZE], "counts": compressed_counts(SIZE, SIZE - 1)}  # a 16x15 mask's counts: 240
    rle_big = {"size": [SIZE * 2, SIZE], "counts": compressed_counts(SIZE * 2, SIZE)}

    seg = {"category_id": 1, "segmentation": [SQUARE]}

    def absolute(src: Path) -> tuple[Any, Any]:
        save(src.parent / "outside" / "abs.png", rgb(86))
        return skip_with(seg, file_name=str(src.parent / "outside" / "abs.png"))(src)

    def symlink(src: Path) -> tuple[Any, Any]:
        save(src.parent / "outside" / "secret.png", rgb(87))
        os.symlink("../outside/secret.png", src / "link.png")
        bad = coco_doc([*good_imgs, (3, "link.png")], [*good_anns, {"image_id": 3, **seg}])
        return bad, coco_doc(good_imgs, good_anns)

    def whole(text: str | bytes) -> Callable[[Path], None]:
        def make(src: Path) -> None:
            write(src / "ann.json", text)
        return make

    for cid, problem, frags, make in [
        ("coco-rle-uncompressed-bad-sum", "skip: uncompressed RLE counts sum to 60, 16x16 needs 256",
         ("ann.json", "sum to 60"), skip_with({"category_id": 1, "segmentation": rle_list})),
        ("coco-rle-compressed-bad-sum", "skip: compressed RLE counts of a 16x15 mask declared 16x16",
         ("ann.json", "sum to 240"), skip_with({"category_id": 1, "segmentation": rle_str})),
        ("coco-rle-wrong-size", "skip: RLE size [32, 16] on a 16x16 image",
         ("ann.json", "is not the image's"), skip_with({"category_id": 1, "segmentation": rle_big})),
        ("coco-rle-bad-alphabet", "skip: compressed counts with characters outside COCO's alphabet",
         ("ann.json", "outside COCO's alphabet"),
         skip_with({"category_id": 1, "segmentation": {"size": [SIZE, SIZE], "counts": "~~~~"}})),
        ("coco-polygon-2-points", "skip: a polygon of 2 points", ("ann.json", "polygon part 0"),
         skip_with({"category_id": 1, "segmentation": [[1, 1, 5, 5]]})),
        ("coco-polygon-nan", "skip: a polygon with NaN coordinates", ("ann.json", "finite"),
         skip_with({"category_id": 1, "segmentation": [[1, 1, float("nan"), 5, 9, 9]]})),
        ("coco-polygon-inf", "skip: a polygon with Infinity coordinates", ("ann.json", "finite"),
         skip_with({"category_id": 1, "segmentation": [[1, 1, float("inf"), 5, 9, 9]]})),
        ("coco-category-not-listed", "skip: category_id 7 not in categories",
         ("ann.json", "not listed in categories"), skip_with({"category_id": 7, "segmentation": [SQUARE]})),
        ("coco-segmentation-wrong-type", "skip: segmentation is a string",
         ("ann.json", "segmentation must be"), skip_with({"category_id": 1, "segmentation": "polygon please"})),
        ("coco-bbox-only", "skip: an annotation with a bbox and no segmentation",
         ("ann.json", "no segmentation"), skip_with({"category_id": 1, "bbox": [1, 1, 5, 5]})),
        ("coco-path-dotdot", "skip: file_name ../outside/x.png", ("ann.json", "outside the source folder"),
         skip_with(seg, file_name="../outside/x.png")),
        ("coco-path-absolute", "skip: absolute file_name", ("ann.json", "outside the source folder"), absolute),
        ("coco-symlink-outside", "skip: file_name is a symlink to a file outside the folder",
         ("ann.json", "outside the source folder"), symlink),
        ("coco-image-bomb", "skip: the named image is a PNG bomb", ("bad.png", "decompression-bomb"),
         skip_with(seg, image=png_bomb())),
        ("coco-image-truncated", "skip: the named image is truncated", ("bad.png", "truncated"),
         skip_with(seg, image=encode(rgb(88))[:60])),
        ("coco-size-mismatch", "skip: width 20 but the image is 16 wide", ("ann.json", "16x16"),
         skip_with(seg, width=20)),
        ("coco-malformed-json", "refuse: not JSON (cut mid-file)", ("ann.json", "not valid JSON"),
         whole('{"images": [{"id": 1, "file_name": "good0.png"')),
        ("coco-deep-nesting", "refuse: 100000 nested lists", ("ann.json", "nested too deeply"), whole(deep_json())),
        ("coco-not-utf8", "refuse: Latin-1 bytes in the JSON", ("ann.json", "not UTF-8"),
         whole(b'{"images": [], "annotations": [], "categories": [{"id": 1, "name": "caf\xe9"}]}')),
        ("coco-unknown-class", "refuse: category 'antenna' is not a class", ("ann.json", "'antenna'"),
         whole(json.dumps(coco_doc(good_imgs, [{"image_id": 1, "category_id": 1, "segmentation": [SQUARE]}],
                                   ((1, "antenna"),))))),
        ("coco-id-wrong-type", "refuse: an image id that is a list", ("ann.json", "must be an int"),
         whole(json.dumps({"images": [{"id": [1], "file_name": "good0.png"}], "annotations": [],
                           "categories": []}))),
        ("coco-wrong-structure", "refuse: 'annotations' is an object", ("ann.json", "'annotations' must be a list"),
         whole(json.dumps({"images": [], "annotations": {}, "categories": []}))),
        ("coco-results-without-images", "refuse: a results list, which names no files, without --images",
         ("ann.json", "--images DIR"),
         whole(json.dumps([{"image_id": 1, "category_id": 1, "segmentation": [SQUARE], "score": 0.9}]))),
    ]:
        _json_case(b, cid, "coco", problem, "coco", frags, make)
    _json_case(b, "coco-deep-nesting-autodetect", "coco", "refuse: 100000 nested lists, format auto-detected",
               "coco", ("ann.json", "nested too deeply"), whole('{"images": ' + deep_json() + "}"), auto=True)


def _labelme_cases(b: _Builder) -> None:
    def folder_with(bad_doc: Any, *, raw: str | bytes | None = None, image: bytes | None = None,
                    setup: Callable[[Path], None] | None = None) -> Callable[[Path], list[str]]:
        """A folder of two good LabelMe files plus bad.json (``bad_doc``, or ``bad_doc(case)``, or ``raw``)."""
        def make(case: Path) -> list[str]:
            src = case / "src"
            for i in range(2):
                save(src / f"good{i}.png", rgb(90 + i))
                write_json(src / f"good{i}.json", labelme_doc(f"good{i}.png", [lm_polygon([[2, 2], [12, 2],
                                                                                          [12, 12]])]))
            if image is not None:
                write(src / "bad.png", image)
            else:
                save(src / "bad.png", rgb(92))
            if setup:
                setup(case)
            doc = bad_doc(case) if callable(bad_doc) else bad_doc
            write(src / "bad.json", raw if raw is not None else json.dumps(doc))
            return ["bad.json", "bad.png"]
        return make

    tri = [[2, 2], [12, 2], [12, 12]]

    def abs_setup(case: Path) -> None:
        save(case / "outside" / "abs.png", rgb(93))

    def link_setup(case: Path) -> None:
        save(case / "outside" / "secret.png", rgb(94))
        os.symlink("../outside/secret.png", case / "src" / "link.png")

    tiny = base64.b64encode(encode(np.full((3, 3), 255, np.uint8))).decode()
    for cid, problem, frags, make in [
        ("labelme-malformed-json", "not JSON, in a folder of good files", ("bad.json", "not valid JSON"),
         folder_with(None, raw='{"shapes": [')),
        ("labelme-deep-nesting", "100000 nested lists, in a folder of good files", ("bad.json", "nested too deeply"),
         folder_with(None, raw=deep_json())),
        ("labelme-polygon-2-points", "a polygon of 2 points", ("bad.json", "at least 3 points"),
         folder_with(labelme_doc("bad.png", [lm_polygon([[1, 1], [5, 5]])]))),
        ("labelme-polygon-nan", "a polygon with a NaN coordinate", ("bad.json", "finite"),
         folder_with(labelme_doc("bad.png", [lm_polygon([[1, 1], [float("nan"), 5], [9, 9]])]))),
        ("labelme-points-ragged", "points [[1, 1], [5], 'x']", ("bad.json", "points must be"),
         folder_with(labelme_doc("bad.png", [lm_polygon([[1, 1], [5], "x"])]))),
        ("labelme-path-dotdot", "imagePath ../outside/x.png", ("bad.json", "outside the source folder"),
         folder_with(labelme_doc("../outside/x.png", [lm_polygon(tri)]))),
        ("labelme-path-absolute", "absolute imagePath", ("bad.json", "outside the source folder"),
         folder_with(lambda case: labelme_doc(str(case / "outside" / "abs.png"), [lm_polygon(tri)]),
                     setup=abs_setup)),
        ("labelme-symlink-outside", "imagePath is a symlink to a file outside the folder",
         ("bad.json", "outside the source folder"),
         folder_with(labelme_doc("link.png", [lm_polygon(tri)]), setup=link_setup)),
        ("labelme-imagedata-garbage", "no image file, imageData not base64", ("bad.json", "imageData"),
         folder_with(labelme_doc("missing.png", [lm_polygon(tri)], imageData="@@not base64@@"))),
        ("labelme-mask-shape-wrong-size", "a mask shape whose PNG is 3x3 for a 9x9 box",
         ("bad.json", "mask PNG is 3x3"),
         folder_with(labelme_doc("bad.png", [{"label": "hair", "points": [[1, 1], [9, 9]], "shape_type": "mask",
                                               "mask": tiny, "group_id": None, "flags": {}}]))),
        ("labelme-size-mismatch", "imageWidth 20 for a 16-wide image", ("bad.json", "16x16"),
         folder_with(labelme_doc("bad.png", [lm_polygon(tri)], imageWidth=20))),
        ("labelme-image-bomb", "imagePath names a PNG bomb", ("bad.png", "decompression-bomb"),
         folder_with(labelme_doc("bad.png", [lm_polygon(tri)]), image=png_bomb())),
        ("labelme-image-zero-byte", "imagePath names a zero-byte file", ("bad.png", "not"),
         folder_with(labelme_doc("bad.png", [lm_polygon(tri)]), image=b"")),
    ]:
        b.ingest(cid, "labelme", problem, make, frags, fmt="labelme")

    def non_utf8(case: Path) -> list[str]:
        folder_with(labelme_doc("bad.png", [lm_polygon(tri)]))(case)
        name = os.fsdecode(NON_UTF8.replace(b".png", b".json"))
        (case / "src" / "bad.json").rename(case / "src" / name)
        return [name, "bad.png"]

    b.ingest("labelme-name-not-utf8", "labelme", "a LabelMe file named b'caf\\xe9-latin1.json' (not UTF-8)",
             non_utf8, (r"caf\xe9-latin1.json", "not valid UTF-8"), fmt="labelme")

    folder = b.dir("labelme-unknown-label")
    save(folder / "src" / "good0.png", rgb(95))
    write_json(folder / "src" / "good0.json", labelme_doc("good0.png", [lm_polygon(tri, "antenna")]))
    b.add(Case("labelme-unknown-label", "labelme", "label 'antenna' is not a class",
               ("ingest", "{case}/src", "--into", "{store}", "--format", "labelme", "--workers", "0"),
               ("src", "'antenna'")))


def _labelstudio_cases(b: _Builder) -> None:
    alpha = np.zeros((SIZE, SIZE), np.uint8)
    alpha[3:10, 3:10] = 255
    good_tasks = [ls_task(1, "good0.png", [ls_result("polygonlabels", LS_POLYGON)]),
                  ls_task(2, "good1.png", [ls_result("brushlabels", _brush(alpha))])]

    def skip_with(result: dict[str, Any] | None, image: str = "bad.png",
                  data: bytes | None = None) -> Callable[[Path], tuple[Any, Any]]:
        def make(src: Path) -> tuple[Any, Any]:
            if data is not None:
                write(src / "bad.png", data)
            else:
                save(src / "bad.png", rgb(96))
            task = ls_task(3, image, [result] if result else [])
            return [*good_tasks, task], good_tasks
        return make

    short = _brush(alpha[:, :8].copy())  # a 16x8 mask's RLE declared as 16x16
    cut = _brush(alpha)
    cut["rle"] = cut["rle"][:12]
    noise = _brush(alpha)
    noise["rle"] = [*noise["rle"][:8], 300, 7]

    def whole(text: str | bytes) -> Callable[[Path], None]:
        def make(src: Path) -> None:
            write(src / "export.json", text)
        return make

    for cid, problem, frags, make in [
        ("ls-brush-rle-wrong-length", "skip: brush RLE of a 16x8 mask declared 16x16",
         ("export.json", "task 3", "expected 1024"), skip_with(ls_result("brushlabels", short))),
        ("ls-brush-rle-truncated", "skip: brush RLE cut after 12 bytes", ("export.json", "task 3", "truncated"),
         skip_with(ls_result("brushlabels", cut))),
        ("ls-brush-rle-not-bytes", "skip: brush RLE holding the value 300", ("export.json", "task 3", "0..255"),
         skip_with(ls_result("brushlabels", noise))),
        ("ls-missing-original-width", "skip: a region without original_width",
         ("export.json", "task 3", "original_width"), skip_with(ls_result("polygonlabels", LS_POLYGON,
                                                                           size=(None, SIZE)))),
        ("ls-polygon-2-points", "skip: a polygon of 2 points", ("export.json", "task 3", ">= 3 finite"),
         skip_with(ls_result("polygonlabels", {"points": [[1, 1], [50, 50]]}))),
        ("ls-polygon-nan", "skip: a polygon with NaN", ("export.json", "task 3", ">= 3 finite"),
         skip_with(ls_result("polygonlabels", {"points": [[1, 1], [float("nan"), 50], [9, 90]]}))),
        ("ls-rectangle-inf", "skip: a rectangle of width Infinity", ("export.json", "task 3", "finite number"),
         skip_with(ls_result("rectanglelabels", {"x": 1, "y": 1, "width": float("inf"), "height": 5}))),
        ("ls-path-dotdot", "skip: local-files path ../outside/x.png", ("export.json", "task 3", "outside"),
         skip_with(None, image="../outside/x.png")),
        ("ls-path-absolute", "skip: local-files path /etc/passwd", ("export.json", "task 3", "outside"),
         skip_with(None, image="/etc/passwd")),
        ("ls-image-truncated", "skip: the task's image is truncated", ("export.json", "task 3", "bad.png"),
         skip_with(ls_result("polygonlabels", LS_POLYGON), data=encode(rgb(97))[:50])),
        ("ls-image-bomb", "skip: the task's image is a PNG bomb", ("export.json", "task 3", "decompression-bomb"),
         skip_with(ls_result("polygonlabels", LS_POLYGON), data=png_bomb())),
        ("ls-malformed-json", "refuse: not JSON", ("export.json", "not readable JSON"), whole('[{"id": 1, ')),
        ("ls-deep-nesting", "refuse: 100000 nested lists", ("export.json", "nested too deeply"), whole(deep_json())),
        ("ls-not-a-task-list", "refuse: a JSON string", ("export.json", "list of tasks"), whole('"tasks"')),
        ("ls-unknown-label", "refuse: label 'antenna' is not a class", ("export.json", "'antenna'"),
         whole(json.dumps([ls_task(1, "good0.png", [ls_result("polygonlabels", LS_POLYGON, label="antenna")])]))),
    ]:
        _json_case(b, cid, "labelstudio", problem, "labelstudio", frags, make, file="export.json")


def _labelmap_cases(b: _Builder) -> None:
    from animeparse import load_labelmap

    base = load_labelmap("danbooru-parsing").to_json()

    def edited(edit: Callable[[dict[str, Any]], None]) -> str:
        data = json.loads(json.dumps(base))
        edit(data)
        return json.dumps(data)

    def dup_id(d: dict[str, Any]) -> None:
        d["classes"][2]["id"] = 1

    def no_zero(d: dict[str, Any]) -> None:
        d["classes"] = [c for c in d["classes"] if c["id"] != 0]

    def bad_colour(d: dict[str, Any]) -> None:
        d["classes"][3]["color"] = [300, 0, 0]

    def hex_colour(d: dict[str, Any]) -> None:
        d["classes"][3]["color"] = "#zzzzzz"

    def one_way_flip(d: dict[str, Any]) -> None:
        d["classes"][4]["flip"] = "hair"

    def dup_colour(d: dict[str, Any]) -> None:
        d["classes"][5]["color"] = d["classes"][6]["color"]

    for cid, problem, text, frags in [
        ("labelmap-duplicate-ids", "two classes with id 1", edited(dup_id), ("map.json", "duplicate ids")),
        ("labelmap-missing-id-0", "no class with id 0", edited(no_zero), ("map.json", "id 0")),
        ("labelmap-colour-out-of-range", "a colour component of 300", edited(bad_colour), ("map.json", "300")),
        ("labelmap-colour-not-rgb", "a colour '#zzzzzz'", edited(hex_colour), ("map.json", "#zzzzzz")),
        ("labelmap-duplicate-colours", "two classes with one colour", edited(dup_colour),
         ("map.json", "duplicate colors")),
        ("labelmap-flip-not-mutual", "a flip partner that does not point back", edited(one_way_flip),
         ("map.json", "mutual")),
        ("labelmap-malformed-json", "not JSON", '{"name": "x", "classes": [', ("map.json", "not valid JSON")),
        ("labelmap-deep-nesting", "100000 nested lists", deep_json(), ("map.json", "nested too deeply")),
        ("labelmap-zero-byte", "an empty file", "", ("map.json", "not valid JSON")),
        ("labelmap-not-utf8", "Latin-1 bytes", b'{"name": "caf\xe9"}', ("map.json", "not UTF-8")),
        ("labelmap-a-list", "a JSON list", "[1, 2, 3]", ("map.json", "labelmap.schema.json")),
    ]:
        folder = b.dir(cid)
        write(folder / "map.json", text)
        b.add(Case(cid, "label map", problem, ("init", "{tmp}/ds", "--labelmap", "{case}/map.json"), frags,
                   store="none"))


def _card_cases(b: _Builder) -> None:
    from animeparse import Dataset

    def store(cid: str, problem: str, frags: tuple[str, ...], damage: Callable[[Path], None]) -> None:
        folder = b.dir(cid)
        with Dataset.create(folder / "ds", labelmap=b.labelmap, name="corpus") as ds:
            ds.close()
        damage(folder / "ds")
        b.add(Case(cid, "dataset card", problem, ("info", "{store}"), frags, store="own"))

    def edit_card(edit: Callable[[dict[str, Any]], None]) -> Callable[[Path], None]:
        def damage(ds: Path) -> None:
            card = json.loads((ds / "animeparse.json").read_text())
            edit(card)
            (ds / "animeparse.json").write_text(json.dumps(card))
        return damage

    def edit_labelmap(ds: Path) -> None:
        data = json.loads((ds / "labelmap.json").read_text())
        data["classes"][1]["name"] = "fur"  # still a valid map, but not the locked one
        (ds / "labelmap.json").write_text(json.dumps(data))

    def manifest_version(ds: Path) -> None:
        import sqlite3

        db = sqlite3.connect(ds / "manifest.sqlite")
        db.execute("PRAGMA user_version = 99")
        db.close()

    def replace(name: str, data: bytes | str) -> Callable[[Path], None]:
        return lambda ds: write(ds / name, data)

    def to_dir(name: str) -> Callable[[Path], None]:
        def damage(ds: Path) -> None:
            (ds / name).unlink()
            (ds / name).mkdir()
        return damage

    store("card-not-json", "animeparse.json cut mid-file", ("animeparse.json", "not valid JSON"),
          replace("animeparse.json", '{"format": "animeparse-store", "name": '))
    store("card-zero-byte", "animeparse.json empty", ("animeparse.json", "not valid JSON"),
          replace("animeparse.json", ""))
    store("card-deep-nesting", "animeparse.json of 100000 nested lists", ("animeparse.json", "nested too deeply"),
          replace("animeparse.json", deep_json()))
    store("card-not-utf8", "animeparse.json with Latin-1 bytes", ("animeparse.json", "UTF-8"),
          replace("animeparse.json", b'{"name": "caf\xe9"}'))
    store("card-future-version", "format_version 99", ("animeparse.json", "newer than this animeparse"),
          edit_card(lambda c: c.update(format_version=99)))
    store("card-schema-violation", "lr_convention 'sideways'", ("animeparse.json", "lr_convention"),
          edit_card(lambda c: c.update(lr_convention="sideways")))
    store("card-is-a-folder", "animeparse.json is a directory", ("animeparse.json",), to_dir("animeparse.json"))
    store("card-labelmap-sha-mismatch", "labelmap.json edited after locking", ("labelmap.json", "SHA-256"),
          edit_labelmap)
    store("card-labelmap-missing", "labelmap.json deleted", ("labelmap.json", "missing"),
          lambda ds: (ds / "labelmap.json").unlink())
    store("card-labelmap-deep-nesting", "labelmap.json of 100000 nested lists", ("labelmap.json", "nested too deeply"),
          replace("labelmap.json", deep_json()))
    store("card-labelmap-is-a-folder", "labelmap.json is a directory", ("labelmap.json",), to_dir("labelmap.json"))
    store("manifest-not-sqlite", "manifest.sqlite overwritten with text", ("manifest.sqlite", "not SQLite"),
          replace("manifest.sqlite", "this is not a database\n" * 100))
    store("manifest-future-schema", "manifest user_version 99", ("manifest.sqlite", "newer than this animeparse"),
          manifest_version)


def _usage_cases(b: _Builder) -> None:
    """Arguments Click refuses before any animeparse code runs: exit 2."""
    for cid, problem, args, frags in [
        ("usage-ingest-src-missing", "ingest SRC that does not exist",
         ("ingest", "{case}/no-such-folder", "--into", "{store}"), ("no-such-folder", "does not exist")),
        ("usage-ingest-unknown-format", "--format tiff", ("ingest", "{case}/src", "--into", "{store}", "--format",
                                                          "tiff"), ("'tiff'", "is not one of")),
        ("usage-prelabel-store-missing", "prelabel DS that does not exist",
         ("prelabel", "{case}/no-such-store", "--sam", "none"), ("no-such-store", "does not exist")),
    ]:
        folder = b.dir(cid)
        good_pairs(folder / "src")
        b.add(Case(cid, "usage", problem, args, frags, exit_code=2))


def _checkpoint_cases(b: _Builder) -> None:
    import torch

    from animeparse.prelabel.parser import CHECKPOINT_FORMAT
    from animeparse.prelabel.parser_net import ParserArch, ParserNet

    torch.manual_seed(0)
    arch = ParserArch(num_classes=len(b.labelmap), widths=(4, 4, 4, 4))
    state = ParserNet(arch).state_dict()

    def ours(**changes: Any) -> dict[str, Any]:
        data = {"format": CHECKPOINT_FORMAT, "format_version": 1, "arch": arch.to_json(), "size": 32,
                "labelmap": json.dumps(b.labelmap.to_json()), "state_dict": state, "epoch": 1, "epochs": 1,
                "done": True}
        data.update(changes)
        return data

    def saved(obj: Any) -> Callable[[Path], None]:
        return lambda p: torch.save(obj, p)

    def raw(data: bytes) -> Callable[[Path], None]:
        return lambda p: write(p, data)

    good = io.BytesIO()
    torch.save(ours(), good)
    bad_state = {k: v for k, v in state.items() if not k.startswith("head")}
    wide = ParserNet(ParserArch(num_classes=len(b.labelmap), widths=(8, 8, 8, 8))).state_dict()

    def hostile(marker: Path, plain: bool) -> Callable[[Path], None]:
        payload = {"state_dict": _Hostile(str(marker))}

        def make(p: Path) -> None:
            if plain:
                p.write_bytes(pickle.dumps(payload, protocol=2))
            else:
                torch.save(payload, p)
        return make

    cases: list[tuple[str, str, str, Callable[[Path], None] | None, tuple[str, ...]]] = [
        ("parser", "truncated", "a parser .pt cut in half", raw(good.getvalue()[: len(good.getvalue()) // 2]),
         ("bad.pt", "torch checkpoint")),
        ("parser", "zero-byte", "an empty .pt", raw(b""), ("bad.pt", "torch checkpoint")),
        ("parser", "text", "a text file named .pt", raw(b"not a checkpoint\n"), ("bad.pt", "torch checkpoint")),
        ("parser", "pickle-code", "torch.save of an object whose unpickling runs code", None,
         ("bad.pt", "posix.mkdir", "refused without running anything")),
        ("parser", "plain-pickle-code", "a plain pickle whose unpickling runs code", None,
         ("bad.pt", "posix.mkdir", "refused without running anything")),
        ("parser", "wrong-keys", "our checkpoint with the head's weights missing", saved(ours(state_dict=bad_state)),
         ("bad.pt", "do not fit")),
        ("parser", "wrong-shapes", "our checkpoint whose weights are twice as wide as its arch",
         saved(ours(state_dict=wide)), ("bad.pt", "do not fit")),
        ("parser", "labelmap-garbage", "our checkpoint whose label map is not JSON", saved(ours(labelmap="{oops")),
         ("bad.pt", "label map")),
        ("parser", "arch-garbage", "our checkpoint whose arch has no widths", saved(ours(arch={"num_classes": 3})),
         ("bad.pt", "arch")),
        ("parser", "random-dict", "a dict of tensors that is no known model", saved({"w": torch.zeros(3)}),
         ("bad.pt", "neither an animeparse parser checkpoint nor a BiSeNet")),
        ("sam", "truncated", "a SAM .pt cut in half", raw(good.getvalue()[: len(good.getvalue()) // 2]),
         ("bad.pt", "torch checkpoint")),
        ("sam", "pickle-code", "torch.save of an object whose unpickling runs code", None,
         ("bad.pt", "posix.mkdir", "refused without running anything")),
        ("sam", "wrong-keys", "a state dict without SAM's keys", saved({"w": torch.zeros(3)}),
         ("bad.pt", "segment-anything checkpoint")),
        ("sam", "wrong-shapes", "SAM keys with tensors of the wrong rank",
         saved({"image_encoder.patch_embed.proj.weight": torch.zeros(4),
                "image_encoder.pos_embed": torch.zeros(2)}), ("bad.pt", "segment-anything checkpoint")),
        ("sam", "not-tensors", "SAM keys holding strings",
         saved({"image_encoder.patch_embed.proj.weight": "big", "image_encoder.pos_embed": [1, 2]}),
         ("bad.pt", "segment-anything checkpoint")),
        ("translator", "garbage", "torchscript:PATH of random bytes", raw(bytes(range(256)) * 8),
         ("gen.pt", "not a TorchScript file")),
        ("translator", "zero-byte", "torchscript:PATH of an empty file", raw(b""), ("gen.pt", "not a TorchScript")),
        ("translator", "state-dict", "torchscript:PATH of a plain state dict", saved({"w": torch.zeros(3)}),
         ("gen.pt", "not a TorchScript")),
    ]
    for kind, name, problem, make, frags in cases:
        cid = f"checkpoint-{kind}-{name}"
        folder = b.dir(cid)
        marker = None
        if make is None:
            marker = folder / "EXECUTED"
            make = hostile(marker, plain=name.startswith("plain"))
        target = folder / ("gen.pt" if kind == "translator" else "bad.pt")
        make(target)
        device = ("--device", "cpu")
        if kind == "parser":
            args = ("prelabel", "{store}", "--parser", "{case}/bad.pt", "--sam", "none", *device)
        elif kind == "sam":
            write(folder / "parser.pt", good.getvalue())
            args = ("prelabel", "{store}", "--parser", "{case}/parser.pt", "--checkpoint", "{case}/bad.pt", *device)
        else:
            args = ("pseudo", "manga", "{store}", "--out", "{tmp}/manga", "--translator", "torchscript:{case}/gen.pt",
                    *device)
        reader = {"parser": "parser checkpoint", "sam": "SAM checkpoint", "translator": "translator"}[kind]
        b.add(Case(cid, reader, problem, args, frags, marker=str(marker) if marker else None))


class _Hostile:
    """Unpickling this calls ``os.mkdir(marker)``: proof of execution that ``weights_only=True`` must prevent."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.mkdir, (self.marker,))
