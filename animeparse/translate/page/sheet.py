"""Contact sheet of a page store: per page, the page, its ``manga-page`` mask over it, and the carried
face-level ids (from the parts store), above a legend of class colours and names."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ...errors import AnimeparseError, StoreError
from ...fsutil import atomic_write_bytes
from ...labelmap import LabelMap
from ...store import Dataset
from ..sheet import colorize_mask, compose_sheet, legend
from .compose import IGNORE, PageConfig

__all__ = ["PageSheetResult", "page_sheet", "overlay", "legend"]  # legend: from ..sheet, kept importable here

_IGNORE_RGB = (190, 190, 190)


@dataclass(frozen=True)
class PageSheetResult:
    path: str
    rows: int
    parts_store: str | None


def overlay(page: npt.NDArray[np.uint8], mask_hw: npt.NDArray[np.uint8], labelmap: LabelMap
            ) -> npt.NDArray[np.uint8]:
    """HxWx3 uint8 page + HxW uint8 ids -> HxWx3 uint8: classes other than 0 blended half and half with their
    colour, the ignore index in grey."""
    colors = labelmap.colors_array().copy()
    colors[labelmap.ignore_index] = _IGNORE_RGB
    out = page.astype(np.uint16)
    painted = mask_hw != 0
    out[painted] = (out[painted] + colors[mask_hw[painted]]) // 2
    return out.astype(np.uint8)


def page_sheet(pages: Path | str, out_png: Path | str, *, rows: int | None = 4, tile: int = 360
               ) -> PageSheetResult:
    """A PNG: per page (the first ``rows`` by seed and page index; ``None``: every page) the page | its
    manga-page mask over it | the carried ids of its labelled panels (from the parts store, put back in place)
    coloured with the source label map (an empty cell when no panel of the page is there), and a legend of both
    maps' classes."""
    import cv2

    from .run import parts_path

    with Dataset.open(pages) as dst:
        samples = sorted(dst.samples(), key=lambda s: (s.meta.get("seed", 0), s.meta.get("page_index", 0), s.id))
        if not samples:
            raise StoreError("no pages to show; run animeparse pseudo page first", path=dst.root)
        chosen = samples if rows is None else samples[:max(1, rows)]
        parts_root = parts_path(dst.root, _config_of(chosen[0].meta))
        parts = _open_parts(parts_root)
        grid: list[list[npt.NDArray[np.uint8] | None]] = []
        shown: set[int] = set()
        try:
            for s in chosen:
                image = dst.read_image(s)
                gt = dst.read_mask(s.id, "gt")
                cells: list[npt.NDArray[np.uint8] | None] = [image, None if gt is None else
                                                              overlay(image, gt, dst.labelmap)]
                ids = _page_parts(parts, s.id, gt) if parts is not None and gt is not None else None
                if ids is not None and parts is not None:
                    shown |= {int(v) for v in np.unique(ids)}
                    colors = parts.labelmap.colors_array().copy()
                    colors[parts.labelmap.ignore_index] = _IGNORE_RGB
                    cells.append(colorize_mask(ids, colors))
                else:
                    cells.append(None)
                grid.append(cells)
            sheet = compose_sheet(grid, ["page", "manga-page mask", "carried face-level ids"], tile=tile,
                                  empty_note="no labelled panel")
            maps: list[tuple[str, LabelMap, set[int] | None]] = [("manga-page (page mask)", dst.labelmap, None)]
            if parts is not None:
                maps.append((f"{parts.labelmap.name} (carried ids)", parts.labelmap, shown or None))
            strip = legend(maps, width=sheet.shape[1], ignore_rgb=_IGNORE_RGB)
        finally:
            if parts is not None:
                parts.close()
    full = np.concatenate([sheet, strip], axis=0)
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(full, cv2.COLOR_RGB2BGR))
    if not ok:
        raise StoreError("could not encode the contact sheet", path=out_png)
    atomic_write_bytes(Path(out_png), encoded.tobytes())
    return PageSheetResult(path=str(Path(out_png).absolute()), rows=len(grid),
                           parts_store=str(parts_root) if parts is not None else None)


def _page_parts(parts: Dataset, page_id: str, gt: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8] | None:
    """The page's panels from the parts store put back in place: HxW uint8 source ids, 0 between panels, 255
    where the page mask is ignore (art from unlabelled sources); None when no panel of this page is there."""
    panels = [p for p in parts.samples() if p.meta.get("page") == page_id]
    if not panels:
        return None
    out = np.where(gt == IGNORE, IGNORE, 0).astype(np.uint8)
    for p in panels:
        ids = parts.read_mask(p.id, "gt")
        if ids is None:
            continue
        x0, y0, x1, y1 = p.meta["box_xyxy"]
        region = out[y0:y1, x0:x1]
        keep = ids != parts.labelmap.ignore_index
        region[keep] = ids[keep]
    return out


def _config_of(meta: Mapping[str, Any]) -> PageConfig:
    cfg = meta.get("config")
    parts_out = cfg.get("parts_out") if isinstance(cfg, dict) else None
    return PageConfig(parts_out=parts_out if isinstance(parts_out, str) else None)


def _open_parts(root: Path) -> Dataset | None:
    try:
        return Dataset.open(root) if (root / "animeparse.json").exists() else None
    except AnimeparseError:
        return None
