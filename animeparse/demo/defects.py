"""Synthetic stores with known defects, to test ``validate`` and to show what it finds.

:func:`make_face_store` ingests generated faces (exact masks, subject convention) into a new store, optionally with
some masks' left/right ids swapped. :func:`make_defect_dataset` adds one sample per defect type next to clean ones
and then breaks each the way real stores break: bytes changed on disk, rows edited with ``sqlite3``, files removed
or left behind. Seeding bypasses the store's own checks on purpose: that damage is what validate exists to find.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import io
import multiprocessing
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image

from ..imageio import encode_mask_png
from ..ingest import IngestConfig, ingest
from ..labelmap import LabelMap, load_labelmap
from ..store import Dataset, MaskInput
from .synth import LR_CONVENTION, generate_face

__all__ = ["make_face_store", "make_defect_dataset", "DEFECT_CODES"]

# defect code -> what is done to its sample (the codes validate reports)
DEFECT_CODES = {
    "corrupt_image": "image file truncated (manifest hash updated, so only the decode fails)",
    "corrupt_mask": "gt mask file truncated (manifest hash updated)",
    "size_mismatch": "gt mask rewritten 8 rows short",
    "mask_mode": "gt mask rewritten as a 16-bit greyscale PNG",
    "bit_rot": "one byte of a BMP image flipped; a gt mask re-encoded (same pixels, other bytes)",
    "missing_file": "image file deleted; gt mask file deleted (rows kept)",
    "orphan_file": "an image and a mask file with no row",
    "unknown_ids": "a 10x10 block of id 40 in the gt mask",
    "ignore_share": "the background of the gt mask set to ignore (255)",
    "empty_mask": "gt mask all ignore",
    "background_only": "gt mask all background",
    "fragment": "a 4x4 speck of hair far out in the background",
    "pinhole": "a 2x2 hole of background inside the skin",
    "tiny_class": "4 px of a class the face lacks, in the background",
    "lr_swapped": "l_/r_ ids swapped in the gt mask (flip_lut), image kept: the image-left convention",
    "part_outside_skin": "l_eye moved from the face into the background",
    "hair_below_neck": "gt mask upside down",
    "label_order": "gt mask in CelebAMask-HQ id order (hair = 13)",
    "exact_duplicate": "a second row and file with the same pixels as another sample",
    "near_dup_leak": "a brightened copy of a sample, in split test while the original is in train",
    "stale_prelabel": "a prelabel layer whose origin created_at predates the image file",
    "missing_gt": "status annotated, no gt layer",
}
_MASK_DEFECTS = ("size_mismatch", "mask_mode", "unknown_ids", "ignore_share", "empty_mask", "background_only",
                 "fragment", "pinhole", "tiny_class", "lr_swapped", "part_outside_skin", "hair_below_neck",
                 "label_order")


@dataclass(frozen=True)
class _Face:
    """One generated face to write: face ``index`` of the seed, saved as ``stem``; ``flip`` swaps its mask's l_/r_
    ids, ``bmp`` saves the image as BMP, ``mask`` False leaves it unlabelled, ``brighten`` adds to every channel."""

    stem: str
    index: int
    flip: bool = False
    bmp: bool = False
    mask: bool = True
    brighten: int = 0


def _write_face(args: tuple[Path, _Face, int, int]) -> None:
    src, face, seed, size = args
    image, mask = generate_face(seed, face.index, size=size)
    if face.flip:
        mask = load_labelmap("danbooru-parsing").flip_lut()[mask]
    if face.brighten:
        image = np.clip(image.astype(np.int16) + face.brighten, 0, 255).astype(np.uint8)
    Image.fromarray(image).save(src / "images" / f"{face.stem}{'.bmp' if face.bmp else '.png'}")
    if face.mask:
        Image.fromarray(mask, mode="L").save(src / "masks" / f"{face.stem}.png")


def _ingest_faces(root: Path, faces: list[_Face], *, seed: int, size: int, lr_convention: str,
                  workers: int) -> dict[str, str]:
    """Generate ``faces`` into a temp folder beside ``root``, ingest them into a new store at ``root``; return
    stem -> sample id."""
    root = Path(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    src = Path(tempfile.mkdtemp(prefix=f".{root.name}.faces-", dir=root.parent))
    try:
        (src / "images").mkdir()
        (src / "masks").mkdir()
        jobs = [(src, face, seed, size) for face in faces]
        if workers > 1 and len(jobs) > 8:
            with cf.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
                list(pool.map(_write_face, jobs, chunksize=4))
        else:
            for job in jobs:
                _write_face(job)
        with Dataset.create(root, labelmap=load_labelmap("danbooru-parsing"), lr_convention=lr_convention) as ds:
            ingest(ds, src, IngestConfig(format="index-folder", workers=workers))
            return {Path(s.name).stem: s.id for s in ds.samples()}
    finally:
        shutil.rmtree(src, ignore_errors=True)


def make_face_store(root: Path | str, n: int, *, seed: int = 0, size: int = 256, lr_flipped: Iterable[int] = (),
                    lr_convention: str = LR_CONVENTION, workers: int | None = None) -> list[str]:
    """A new store at ``root`` with ``n`` generated faces (``face_0000`` ...) and their exact gt masks; the
    masks of the indices in ``lr_flipped`` get their l_/r_ ids swapped (the image-left convention). Returns the
    sample ids in index order. ``size`` is the image side in pixels."""
    flipped = set(lr_flipped)
    faces = [_Face(f"face_{i:04d}", i, flip=i in flipped) for i in range(n)]
    ids = _ingest_faces(Path(root), faces, seed=seed, size=size, lr_convention=lr_convention,
                        workers=(os.cpu_count() or 1) if workers is None else workers)
    return [ids[f"face_{i:04d}"] for i in range(n)]


def make_defect_dataset(root: Path | str, *, n_clean: int = 24, seed: int = 0, size: int = 256,
                        workers: int | None = None) -> dict[str, list[str]]:
    """A new store at ``root``: ``n_clean`` clean faces (a few unlabelled, a few with a fresh prelabel layer,
    spread over train/val/test) plus one sample per defect of :data:`DEFECT_CODES`, then damaged.

    Returns defect code -> the sample ids (or, for ``orphan_file``, the store-relative paths) where validate must
    report that code, plus ``"clean"`` -> the clean samples' ids, on which it must report nothing at warning or
    above. ``size`` is the image side (the default thresholds were set on 128 to 512 px faces).
    """
    root = Path(root)
    faces = [_Face(f"clean_{i:03d}", i, mask=i % 11 != 5) for i in range(n_clean)]  # a few are unlabelled
    extra = [*_MASK_DEFECTS, "corrupt_image", "corrupt_mask", "bit_rot_image", "bit_rot_mask", "missing_image",
             "missing_mask", "exact_dup_a", "near_dup_a", "stale_prelabel", "missing_gt"]
    for k, stem in enumerate(extra):
        faces.append(_Face(f"defect_{stem}", n_clean + k, bmp=stem == "bit_rot_image", mask=stem != "missing_gt"))
    faces.append(_Face("defect_near_dup_b", n_clean + extra.index("near_dup_a"), brighten=8))
    ids = _ingest_faces(root, faces, seed=seed, size=size, lr_convention=LR_CONVENTION,
                        workers=(os.cpu_count() or 1) if workers is None else workers)
    d = {stem[len("defect_"):]: sid for stem, sid in ids.items() if stem.startswith("defect_")}
    clean = [sid for stem, sid in sorted(ids.items()) if stem.startswith("clean_")]
    out: dict[str, list[str]] = {}
    with Dataset.open(root, write=True) as ds:
        lm = ds.labelmap
        for k, sid in enumerate(clean):  # legitimate variety the checks must accept
            if k % 5 == 1:
                ds.set_split([sid], "val")
            elif k % 5 == 3:
                ds.set_split([sid], "test")
            if k % 7 == 2 and ds.mask_record(sid) is not None:
                ds.put_mask(sid, "prelabel/seed", MaskInput(_gt(ds, sid), origin={"kind": "machine", "run": "seed"}))
        ds.set_split([d["near_dup_b"]], "test")
        old = {"kind": "machine", "run": "seed", "created_at": "2001-01-01T00:00:00Z"}  # made before the image
        ds.put_mask(d["stale_prelabel"], "prelabel/seed", MaskInput(_gt(ds, d["stale_prelabel"]), origin=old))
        ds.set_status(d["missing_gt"], "annotated")
        for code in ("near_dup_leak", "stale_prelabel", "missing_gt"):
            out[code] = [d["near_dup_b" if code == "near_dup_leak" else code]]
        masks = {code: _gt(ds, d[code]) for code in _MASK_DEFECTS}
    db = sqlite3.connect(root / "manifest.sqlite")
    try:
        for code in _MASK_DEFECTS:
            _put_file_mask(root, db, d[code], _DAMAGE[code](masks[code], lm), mode=code)
            out[code] = [d[code]]
        out["corrupt_image"] = [_truncate(root, db, d["corrupt_image"], "image")]
        out["corrupt_mask"] = [_truncate(root, db, d["corrupt_mask"], "mask")]
        out["bit_rot"] = [_flip_bmp_byte(root, db, d["bit_rot_image"]), _reencode_mask(root, db, d["bit_rot_mask"])]
        (root / _path(db, d["missing_image"], "image")).unlink()
        (root / _path(db, d["missing_mask"], "mask")).unlink()
        out["missing_file"] = [d["missing_image"], d["missing_mask"]]
        out["exact_duplicate"] = [_duplicate_row(root, db, d["exact_dup_a"]), d["exact_dup_a"]]
        out["orphan_file"] = _orphans(root, db, clean[0])
        db.commit()
    finally:
        db.close()
    out["clean"] = clean
    return out


def _gt(ds: Dataset, sid: str) -> npt.NDArray[np.uint8]:
    mask = ds.read_mask(sid, "gt")
    if mask is None:
        raise ValueError(f"sample {sid} has no gt mask")
    return mask


def _path(db: sqlite3.Connection, sid: str, kind: str) -> str:
    sql = "SELECT image FROM samples WHERE id = ?" if kind == "image" else \
        "SELECT path FROM masks WHERE sample_id = ? AND layer = 'gt'"
    return str(db.execute(sql, (sid,)).fetchone()[0])


def _set_sha(db: sqlite3.Connection, sid: str, kind: str, data: bytes) -> None:
    sha = hashlib.sha256(data).hexdigest()
    if kind == "image":
        db.execute("UPDATE samples SET file_sha256 = ? WHERE id = ?", (sha, sid))
    else:
        db.execute("UPDATE masks SET sha256 = ? WHERE sample_id = ? AND layer = 'gt'", (sha, sid))


def _put_file_mask(root: Path, db: sqlite3.Connection, sid: str, mask: npt.NDArray[np.uint8], *, mode: str) -> None:
    """Overwrite the gt file with ``mask`` and record its hash, so only the seeded defect is wrong."""
    if mode == "mask_mode":
        buf = io.BytesIO()
        Image.fromarray(mask.astype(np.uint16)).save(buf, format="PNG")  # I;16
        data = buf.getvalue()
    else:
        data = encode_mask_png(mask, palette=load_labelmap("danbooru-parsing").palette())
    (root / _path(db, sid, "mask")).write_bytes(data)
    _set_sha(db, sid, "mask", data)


def _truncate(root: Path, db: sqlite3.Connection, sid: str, kind: str) -> str:
    path = root / _path(db, sid, kind)
    data = path.read_bytes()[: path.stat().st_size // 2]
    path.write_bytes(data)
    _set_sha(db, sid, kind, data)
    return sid


def _flip_bmp_byte(root: Path, db: sqlite3.Connection, sid: str) -> str:
    """A BMP keeps raw pixels, so one flipped byte still decodes: silent bit rot only the hash can see."""
    path = root / _path(db, sid, "image")
    data = bytearray(path.read_bytes())
    offset = int.from_bytes(data[10:14], "little") + len(data) // 3
    data[offset] ^= 0x10
    path.write_bytes(bytes(data))
    return sid


def _reencode_mask(root: Path, db: sqlite3.Connection, sid: str) -> str:
    path = root / _path(db, sid, "mask")
    with Image.open(path) as img:
        img.load()
        buf = io.BytesIO()
        img.save(buf, format="PNG", compress_level=9)  # same pixels, other bytes: the manifest hash no longer fits
    path.write_bytes(buf.getvalue())
    return sid


def _duplicate_row(root: Path, db: sqlite3.Connection, sid: str) -> str:
    """A second row (as a bad merge of two stores would leave) pointing at a copy of the same picture."""
    db.row_factory = sqlite3.Row
    row = dict(db.execute("SELECT * FROM samples WHERE id = ?", (sid,)).fetchone())
    db.row_factory = None
    new = hashlib.sha256(f"copy of {sid}".encode()).hexdigest()[:16]
    ext = Path(row["image"]).suffix
    shutil.copyfile(root / row["image"], root / f"images/{new}{ext}")
    row.update(id=new, image=f"images/{new}{ext}", name=f"copy-{row['name']}", status="unlabeled", dup_group=None)
    db.execute(f"INSERT INTO samples ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", tuple(row.values()))
    return new


def _orphans(root: Path, db: sqlite3.Connection, like: str) -> list[str]:
    image = f"images/{'0' * 15}1.png"
    mask = f"masks/gt/{'0' * 15}1.png"
    shutil.copyfile(root / _path(db, like, "image"), root / image)
    shutil.copyfile(root / _path(db, like, "mask"), root / mask)
    return [image, mask]


# -- mask damage --------------------------------------------------------------------------------------------------
def _empty_spot(mask: npt.NDArray[np.uint8], *, right_half: bool = False) -> tuple[int, int]:
    """(x, y) of the background pixel farthest from any other class (in the right half if asked)."""
    dist = cv2.distanceTransform((mask == 0).astype(np.uint8), cv2.DIST_L2, 3)
    dist[:8], dist[-8:], dist[:, :8], dist[:, -8:] = 0, 0, 0, 0  # away from the border: the seed stays whole
    if right_half:
        dist[:, : mask.shape[1] // 2] = 0
    y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return int(x), int(y)


def _speck(mask: npt.NDArray[np.uint8], lm: LabelMap) -> npt.NDArray[np.uint8]:
    x, y = _empty_spot(mask)
    mask[y - 2:y + 2, x - 2:x + 2] = lm.id_of("hair")
    return mask


def _pinhole(mask: npt.NDArray[np.uint8], lm: LabelMap) -> npt.NDArray[np.uint8]:
    skin = (mask == lm.id_of("skin")).astype(np.uint8)
    dist = cv2.distanceTransform(skin, cv2.DIST_L2, 3)
    y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
    mask[y:y + 2, x:x + 2] = 0
    return mask


def _tiny(mask: npt.NDArray[np.uint8], lm: LabelMap) -> npt.NDArray[np.uint8]:
    absent = next(lm.id_of(n) for n in ("hat", "eye_g", "ear_r", "neck_l") if not (mask == lm.id_of(n)).any())
    x, y = _empty_spot(mask)
    mask[y:y + 2, x:x + 2] = absent
    return mask


def _eye_out(mask: npt.NDArray[np.uint8], lm: LabelMap) -> npt.NDArray[np.uint8]:
    eye = mask == lm.id_of("l_eye")
    ys, xs = np.nonzero(eye)
    mask[eye] = lm.id_of("skin")
    x, y = _empty_spot(mask, right_half=True)
    dy, dx = y - int(ys.mean()), x - int(xs.mean())
    ny, nx = np.clip(ys + dy, 0, mask.shape[0] - 1), np.clip(xs + dx, 0, mask.shape[1] - 1)
    mask[ny, nx] = lm.id_of("l_eye")
    return mask


def _celeba_order(mask: npt.NDArray[np.uint8], lm: LabelMap) -> npt.NDArray[np.uint8]:
    other = load_labelmap("celebamask-hq")
    lut = np.arange(256, dtype=np.uint8)
    for c in lm.classes:
        lut[c.id] = other.id_of(c.name)
    return lut[mask]


def _block(mask: npt.NDArray[np.uint8], value: int) -> npt.NDArray[np.uint8]:
    h, w = mask.shape
    mask[h // 2 - 5:h // 2 + 5, w // 2 - 5:w // 2 + 5] = value
    return mask


_DAMAGE: dict[str, Callable[[npt.NDArray[np.uint8], LabelMap], npt.NDArray[np.uint8]]] = {
    "size_mismatch": lambda m, lm: m[:-8].copy(),
    "mask_mode": lambda m, lm: m,
    "unknown_ids": lambda m, lm: _block(m, 40),
    "ignore_share": lambda m, lm: np.where(m == 0, np.uint8(255), m),
    "empty_mask": lambda m, lm: np.full_like(m, 255),
    "background_only": lambda m, lm: np.zeros_like(m),
    "fragment": _speck,
    "pinhole": _pinhole,
    "tiny_class": _tiny,
    "lr_swapped": lambda m, lm: lm.flip_lut()[m],
    "part_outside_skin": _eye_out,
    "hair_below_neck": lambda m, lm: m[::-1].copy(),
    "label_order": _celeba_order,
}
