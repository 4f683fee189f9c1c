"""Per-item work that runs in worker processes: decode mask files (index or colour-coded), remap ids, resize,
crop, then decode/hash/check/encode through :func:`animeparse.store.prepare_sample`.

Nothing here touches the store, so it is safe on both cores; results go back to the single writer.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from ..errors import AnimeparseError, FormatError
from ..facecrop import crop
from ..formats.base import Item, ReadOptions
from ..imageio import png_with_palette, read_image, read_mask
from ..labelmap import LabelMap
from ..labelorder import suspect_label_order
from ..store import MaskInput, PreparedSample, prepare_sample
from .report import Finding

__all__ = ["WorkerContext", "prepare_item", "decode_colour_mask", "UnknownColours"]


@dataclass(frozen=True)
class WorkerContext:
    """What every worker needs; pickled once per worker process."""

    labelmap: LabelMap
    options: ReadOptions
    format: str
    run_id: str
    split: str | None = None
    id_lut: npt.NDArray[np.int16] | None = None  # 256 entries, -1 = not covered; from --remap / numeric --map
    colours: Mapping[int, int] = field(default_factory=dict)  # packed 0xRRGGBB -> id
    staging: str | None = None  # a folder inside the store where workers write files ahead of the commit


class UnknownColours(FormatError):
    """A colour-coded mask has colours that neither the label map nor the palette file names."""

    def __init__(self, message: str, *, path: Path | str, colours: dict[str, int]) -> None:
        self.colours = colours
        super().__init__(message, path=path)


def decode_colour_mask(path: Path, colours: Mapping[int, int]) -> npt.NDArray[np.uint8]:
    """An RGB(A) colour-coded mask -> HxW uint8 ids; unknown colours raise UnknownColours with pixel counts."""
    rgb = read_image(path)
    packed = (rgb[..., 0].astype(np.int32) << 16) | (rgb[..., 1].astype(np.int32) << 8) | rgb[..., 2]
    uniq, inverse = np.unique(packed.reshape(-1), return_inverse=True)
    ids = np.array([colours.get(int(c), -1) for c in uniq], np.int16)
    if (ids < 0).any():
        counts = np.bincount(inverse, minlength=len(uniq))
        unknown = {f"#{int(c):06x}": int(n) for c, n, i in zip(uniq, counts, ids) if i < 0}
        listed = ", ".join(f"{c} ({n} px)" for c, n in sorted(unknown.items(), key=lambda kv: -kv[1])[:8])
        raise UnknownColours(f"colours not in the label map or palette: {listed}; add them to a --palette FILE "
                             "(colour -> class name)", path=path, colours=unknown)
    return ids[inverse].reshape(rgb.shape[:2]).astype(np.uint8)


def _mask_from_item(item: Item, ctx: WorkerContext, size_wh: tuple[int, int]
                    ) -> tuple[npt.NDArray[np.uint8] | None, bytes | None]:
    """The item's mask as HxW ids of the target map, plus its store PNG when it could be made without
    re-encoding (an 8-bit index PNG used as is)."""
    png = None
    if item.mask_hw is not None:
        mask = item.mask_hw
    elif item.mask_path is not None:
        if item.mask_kind == "palette":
            mask = decode_colour_mask(item.mask_path, ctx.colours)
        else:
            raw = _read_bytes(item.mask_path)
            mask = read_mask(item.mask_path, data=raw)
            if ctx.id_lut is not None:
                mapped = ctx.id_lut[mask]
                if (mapped < 0).any():
                    missing = sorted(int(v) for v in np.unique(mask[mapped < 0]))
                    raise FormatError(f"ids {missing} are not covered by --remap/--map", path=item.mask_path)
                mask = mapped.astype(np.uint8)
            else:
                png = png_with_palette(raw, ctx.labelmap.palette())
    else:
        return None, None
    w, h = size_wh
    if mask.shape != (h, w) and ctx.options.resize_masks == "nearest":
        mask = np.asarray(Image.fromarray(mask).resize((w, h), Image.Resampling.NEAREST))
        png = None
    return mask, png


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise FormatError(f"could not be read ({err.strerror or err})", path=path) from err


def prepare_item(item: Item, ctx: WorkerContext) -> tuple[PreparedSample | None, list[Finding]]:
    """Turn one reader Item into a PreparedSample plus findings; never raises for bad input (error findings)."""
    where = str(item.mask_source or item.image_path)
    undecodable = _undecodable_name(item)
    if undecodable is not None:
        return None, [undecodable]
    if item.error is not None:
        if item.meta.get("no_face"):  # --crop-faces found nothing: reported, not a reason to refuse the run
            return None, [Finding("info", "no_face", str(item.image_path), str(item.error))]
        return None, [_error_finding(item.error, str(item.image_path))]
    try:
        file_bytes = _read_bytes(item.image_path)
        pixels = read_image(item.image_path, data=file_bytes)
        h, w = pixels.shape[:2]
        mask, png = _mask_from_item(item, ctx, (w, h))
        findings: list[Finding] = []
        # a wrong-size mask is reported by the size check, uncropped
        if mask is not None and item.crop_xyxy is not None and mask.shape == (h, w):
            mask, png = crop(mask, item.crop_xyxy), None
        origin: dict[str, Any] = {"kind": "import", "run": ctx.run_id, "format": ctx.format}
        if item.mask_source:
            origin["file"] = item.mask_source
        origin.update({k: v for k, v in item.meta.items() if k.startswith(("ls_", "annotator", "updated_at"))})
        masks = {} if mask is None else {"gt": MaskInput(mask, origin=origin, source=where, png=png)}
        prepared = prepare_sample(item.image_path, labelmap=ctx.labelmap, masks=masks, name=item.name,
                                  source=str(item.image_path), split=ctx.split or item.split or "train",
                                  meta=dict(item.meta), crop_xyxy=item.crop_xyxy, pixels=pixels,
                                  file_bytes=file_bytes, character=item.character)
        if mask is not None:
            suspect = suspect_label_order(mask, ctx.labelmap, prepared.class_counts)
            if suspect:
                findings.append(Finding("warning", "label_order", where,
                                        f"{where}: mask ids look like the {suspect} order (its hair id fills the top "
                                        f"of the image); if so, ingest again with --remap {suspect}",
                                        {"looks_like": suspect}))
    except UnknownColours as err:
        f = _error_finding(err, where)
        return None, [Finding(f.severity, "unknown_colours", f.file, f.message, {"colours": err.colours})]
    except AnimeparseError as err:
        return None, [_error_finding(err, where)]
    except OSError as err:
        return None, [Finding("error", "unreadable", str(item.image_path),
                              f"{item.image_path}: could not be read ({err.strerror or err})")]
    if ctx.staging:
        # outside the try: a failed write into the store (a full disk) stops the run, it is not a bad item
        prepared = _stage(prepared, file_bytes, Path(ctx.staging))
    return prepared, findings


def _stage(p: PreparedSample, file_bytes: bytes, staging: Path) -> PreparedSample:
    """Write the image and mask files into the store's staging folder now, on this core, so the single writer
    only renames them into place at commit (a refused run deletes the folder: the store is left as it was).

    Plain writes, no temp file and no fsync: the staging folder is private to this run and only files of items
    that came back complete are committed; the commit syncs each batch once before its rows are written."""
    # names carry the content hash: two items with the same pixels (same id) but different file bytes never
    # write the same staged file
    image = staging / f"{p.id}-{p.file_sha256[:16]}{p.ext}"
    _write(image, p.data if p.data is not None else file_bytes)
    masks = []
    for m in p.masks:
        path = staging / f"{p.id}-{m.sha256[:16]}.{m.layer.replace('/', '~')}.png"
        _write(path, m.png)
        masks.append(replace(m, png=b"", staged=str(path)))
    return replace(p, data=None, staged=str(image), masks=tuple(masks))


def _write(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as err:
        if err.filename is None:  # a full disk fails the write, which names no file
            err.filename = str(path)
        raise


def _undecodable_name(item: Item) -> Finding | None:
    """An error finding when a file name of the item is not valid UTF-8 (Linux names are bytes): such a name
    cannot be stored as text in the manifest, written into reports or exported without guessing an encoding."""
    for value in (item.image_path, item.mask_path, item.name, item.mask_source):
        text = str(value) if value is not None else ""
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            shown = os.fsencode(text).decode("utf-8", "backslashreplace")
            return Finding("error", "bad_name", shown, f"{shown}: file name is not valid UTF-8; rename it to UTF-8 "
                                                       "(e.g. convmv -f latin1 -t utf8 --notest FILE) and ingest again")
    return None


def _error_finding(err: Exception, where: str) -> Finding:
    message = str(err)
    code = _code_for(message)
    return Finding("error", code, str(getattr(err, "path", None) or where), message)


def _code_for(message: str) -> str:
    """A stable finding code from the error message, for the summary table."""
    table = [("decompression-bomb", "decompression_bomb"), ("--resize-masks", "size_mismatch"),
             ("not in the label map", "unknown_ids"), ("not covered by --remap", "unknown_ids"),
             ("outside the source", "path_outside"), ("symlink", "path_outside"), ("not found", "missing_file"),
             ("class names not in", "unknown_classes"), ("have no image", "missing_file"), ("decoded", "corrupt_image"),
             ("not an image", "corrupt_image"), ("the file is corrupt", "corrupt_image"),
             ("not a readable image", "corrupt_image"), ("mode", "mask_mode"), ("RLE", "bad_rle"),
             ("polygon", "bad_shape")]
    for needle, code in table:
        if needle in message:
            return code
    return "bad_input"
