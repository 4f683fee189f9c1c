"""Mask layers against the sample's state: stale pre-labels and annotated samples without a human mask.

Codes: ``stale_prelabel`` (warning), ``missing_gt`` (error).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime

from ..store import Dataset
from .config import QAConfig
from .findings import Finding, Severity
from .sample_view import SampleFacts

__all__ = ["check_layers"]


def _epoch(stamp: str) -> float | None:
    """Seconds since the epoch of a manifest time (``2026-01-02T03:04:05Z``), or None when it does not parse."""
    try:
        dt = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except (TypeError, ValueError):
        return None
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()


def check_layers(ds: Dataset, cfg: QAConfig, facts: Mapping[str, SampleFacts]) -> Iterator[Finding]:
    """A ``prelabel/*`` layer made (origin ``created_at``, else the row's) before its image file was last changed
    (mtime) predicts another picture; an ``annotated``/``reviewed`` sample must have a ``gt`` layer."""
    masks = ds.all_mask_records()
    for s in ds.samples():
        layers = {m.layer: m for m in masks.get(s.id, [])}
        if s.status in ("annotated", "reviewed") and "gt" not in layers:
            yield Finding(Severity.ERROR, "missing_gt", s.id,
                          f"sample {s.id} ({s.image}) has status {s.status} but no gt mask (masks/gt/{s.id}.png); "
                          "import its annotation, or set its status back to "
                          f"{'prelabeled' if any(k.startswith('prelabel/') for k in layers) else 'unlabeled'}",
                          file=s.image, data={"status": s.status, "layers": sorted(layers)})
        stale = [m for name, m in layers.items() if name.startswith("prelabel/")]
        if not stale:
            continue
        try:
            mtime = (ds.root / s.image).stat().st_mtime
        except OSError:
            continue  # a missing image is reported by the integrity check
        for m in stale:
            made = _epoch(str(m.origin.get("created_at") or m.created_at))
            if made is None or mtime - made <= cfg.stale_tolerance_s:
                continue
            changed, made_at = (datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                                for t in (mtime, made))
            yield Finding(Severity.WARNING, "stale_prelabel", s.id,
                          f"layer {m.layer} ({m.path}) was made {made_at}, before its image {s.image} last changed "
                          f"({changed}); it may predict another picture: run the pre-labeler on this sample again",
                          file=m.path,
                          data={"layer": m.layer, "made": made, "image_mtime": mtime})
