"""Shape sanity per class: stray fragments, pin-holes, classes with almost no pixels.

What a clean mask may legitimately hold decides the rules (measured on the synthetic faces, whose masks are exact):
a class cut into pieces by something in front of it (cloth showing between hair strands, an ear pixel beside a
sidelock, a mouth between the lips) is normal. So a small piece is only a *fragment* when nothing explains it: it
lies wholly inside one other class whose priority is not higher than its own (a speck of hair in the background,
of an eye in the hair). Codes (all warnings): ``fragment``, ``pinhole``, ``tiny_class``.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .config import QAConfig
from .findings import Finding, Severity
from .sample_view import ClassStats, SampleView, ring_values

__all__ = ["check_shapes"]

W = Severity.WARNING
# a tiny class is let off when at least this share of its border touches classes of higher priority: it is mostly
# hidden behind them (a 3-pixel mouth between the lips of a 128 px face)
_OCCLUDED_SHARE = 0.5


def check_shapes(view: SampleView, cfg: QAConfig) -> Iterator[Finding]:
    """Fragments and tiny classes for every class of the ``cfg.layer`` mask, then background pin-holes."""
    mask = view.mask
    if mask is None:
        return
    pri = view.labelmap.priority_lut()
    for cid in view.present_classes():
        stats = view.class_stats(cid)
        assert stats is not None  # present
        name = _name(view, cid)
        if stats.area < cfg.min_class_px:
            band = ring_values(mask, _region(stats, mask, cid), stats.bbox[:2])
            occluded = float((pri[band] > pri[cid]).mean()) if band.size else 0.0
            if occluded < _OCCLUDED_SHARE:
                x, y = (round(v) for v in stats.centroid_xy)
                yield Finding(W, "tiny_class", view.sample.id,
                              f"mask {view.mask_rel} has only {stats.area} px of {name} (id {cid}) near ({x}, {y}), "
                              f"fewer than {cfg.min_class_px}; erase them or label the part fully",
                              file=view.mask_rel, data={"class": name, "id": cid, "pixels": stats.area, "xy": [x, y]})
            continue
        if cfg.min_fragment_px and len(stats.outer) > 1:
            yield from _fragments(view, stats, name, pri, cfg)
    if cfg.max_pinhole_px:
        yield from _pinholes(view, cfg)


def _name(view: SampleView, cid: int) -> str:
    return view.labelmap[cid].name if cid in view.labelmap else f"id {cid}"


def _region(stats: ClassStats, mask: np.ndarray, cid: int) -> np.ndarray:
    x, y, w, h = stats.bbox
    return mask[y:y + h, x:x + w] == cid


def _fragments(view: SampleView, stats: ClassStats, name: str, pri: np.ndarray, cfg: QAConfig) -> Iterator[Finding]:
    mask = view.mask
    assert mask is not None
    largest = int(np.argmax(stats.polygon_areas))
    # an 8-connected piece of fewer than N pixels spans fewer than N pixels each way: only those need counting
    for k in np.nonzero(stats.boxes[:, 2:].max(axis=1) < cfg.min_fragment_px)[0]:
        if k == largest:
            continue
        region, (x, y) = stats.region(int(k), mask)
        area = int(region.sum())
        if area >= cfg.min_fragment_px:
            continue
        around = np.unique(ring_values(mask, region, (x, y)))
        # only a wholly enclosed piece whose surroundings cannot be in front of it is unexplained
        if around.size != 1 or pri[around[0]] > pri[stats.id]:
            continue
        other = _name(view, int(around[0]))
        h, w = region.shape
        yield Finding(W, "fragment", view.sample.id,
                      f"mask {view.mask_rel} has a detached {area} px piece of {name} at ({x}, {y}) inside {other}; "
                      f"erase it or relabel it (pieces under {cfg.min_fragment_px} px are checked)",
                      file=view.mask_rel, data={"class": name, "id": stats.id, "pixels": area, "xywh": [x, y, w, h],
                                                "inside": other})


def _pinholes(view: SampleView, cfg: QAConfig) -> Iterator[Finding]:
    """Background components that do not touch the image border, are small, and are ringed by a single class."""
    mask = view.mask
    assert mask is not None
    stats = view.class_stats(0)
    if stats is None or len(stats.outer) < 2:
        return
    H, W_ = mask.shape
    b = stats.boxes
    inside = (b[:, 0] > 0) & (b[:, 1] > 0) & (b[:, 0] + b[:, 2] < W_) & (b[:, 1] + b[:, 3] < H)
    for k in np.nonzero(inside & (b[:, 2:].max(axis=1) < cfg.max_pinhole_px))[0]:
        region, (x, y) = stats.region(int(k), mask)
        area = int(region.sum())
        if not cfg.min_pinhole_px <= area < cfg.max_pinhole_px:
            continue
        band = np.unique(ring_values(mask, region, (x, y)))
        if band.size != 1 or band[0] in (0, 255):
            continue
        cls = _name(view, int(band[0]))
        h, w = region.shape
        yield Finding(W, "pinhole", view.sample.id,
                      f"mask {view.mask_rel} has a {area} px hole of background at ({x}, {y}) inside {cls}; "
                      f"fill it with {cls} (holes under {cfg.max_pinhole_px} px are checked)",
                      file=view.mask_rel, data={"pixels": area, "xywh": [x, y, w, h], "inside": cls})
