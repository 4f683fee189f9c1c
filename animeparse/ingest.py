"""Bring images and their labels from a source folder or file into a store, through a format reader.

Every sample is checked on the way in (decode, mask size, ids in the label map), deduplicated by its decoded
pixels, and committed file-first in one transaction, so an interrupted ingest is resumed by running it again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .errors import AnimeparseError, FormatError
from .formats import FORMATS, detect_format
from .formats.base import ReadOptions
from .store import Dataset, MaskInput

__all__ = ["IngestReport", "ingest"]

log = logging.getLogger(__name__)
Progress = Callable[[int, int | None], None]


@dataclass
class IngestReport:
    """What an ingest did. ``skipped``: (file, message) for items refused with ``on_error="skip"``."""

    run_id: str
    format: str
    added: int = 0
    duplicates: int = 0
    with_mask: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)


def ingest(ds: Dataset, src: Path | str, *, format: str = "auto", split: str | None = None,
           on_error: str = "raise", options: ReadOptions = ReadOptions(), progress: Progress | None = None
           ) -> IngestReport:
    """Read ``src`` with a format reader (``auto``: the most confident) and add every item to ``ds``.

    ``split`` overrides the split a format reads from its layout (default ``train``). With ``on_error="raise"``
    the first bad item stops the run (items already committed stay; re-running resumes); with ``"skip"`` bad
    items are listed in the report and the rest are added.
    """
    src = Path(src)
    if not src.exists():
        raise FormatError("source not found; check the path", path=src)
    if on_error not in ("raise", "skip"):
        raise AnimeparseError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    name = detect_format(src) if format == "auto" else format
    if name is None:
        raise FormatError(f"no reader recognises this source; pass --format (one of {', '.join(FORMATS)})", path=src)
    if name not in FORMATS:
        raise FormatError(f"unknown format {name!r}; use one of {', '.join(FORMATS)}", path=src)
    run_id = ds.start_run("import", params={"src": str(src), "format": name, "split": split,
                                            "resize_masks": options.resize_masks})
    report = IngestReport(run_id=run_id, format=name)
    done = 0
    try:
        for item in FORMATS[name].read(src, labelmap=ds.labelmap, options=options):
            try:
                if item.error is not None:
                    raise item.error
                masks = {} if item.mask_hw is None else {
                    "gt": MaskInput(item.mask_hw, origin={"kind": "import", "run": run_id, "file": item.mask_source},
                                    source=item.mask_source)}
                _, added = ds.add_sample(item.image_path, name=item.name, split=split or item.split or "train",
                                         masks=masks, run_id=run_id)
            except AnimeparseError as err:
                if on_error == "raise":
                    raise
                log.warning("skipped %s: %s", item.image_path, err)
                report.skipped.append((str(item.image_path), str(err)))
            else:
                report.added += added
                report.duplicates += not added
                report.with_mask += added and item.mask_hw is not None
            done += 1
            if progress:
                progress(done, None)
    except BaseException as err:
        ds.finish_run(run_id, status="failed", summary={"added": report.added, "error": str(err)[:500]})
        raise
    ds.finish_run(run_id, summary={"added": report.added, "duplicates": report.duplicates,
                                   "with_mask": report.with_mask, "skipped": len(report.skipped)})
    return report
