"""Clean up after a killed writer: temp files, staging folders, files no row points to, runs left ``running``.

Part of :class:`~animeparse.store.Dataset`; run by every ``Dataset.open(..., write=True)``.
"""

from __future__ import annotations

import logging
import shutil

from ..fsutil import TMP_SUFFIX
from .manifest import now_utc
from .writes import DatasetWrites

__all__ = ["DatasetRepair"]

log = logging.getLogger("animeparse.store.dataset")  # the logger these warnings always came from


class DatasetRepair(DatasetWrites):
    """The repair method of :class:`~animeparse.store.Dataset`."""

    def repair(self) -> dict[str, int]:
        """Remove what a killed writer left: temp files, and image/mask files no row points to."""
        self._need_write()
        counts = {"temp_files": 0, "orphan_images": 0, "orphan_masks": 0}
        for folder in (self.root / "images", self.root / "masks", self.root / "runs", self.root / "cache", self.root):
            for p in folder.rglob(f".*{TMP_SUFFIX}") if folder != self.root else folder.glob(f".*{TMP_SUFFIX}"):
                if p.is_dir():
                    continue
                p.unlink(missing_ok=True)
                counts["temp_files"] += 1
        for staging in self.root.glob(f".staging-*{TMP_SUFFIX}"):
            shutil.rmtree(staging, ignore_errors=True)
            counts["temp_files"] += 1
        known_images = {r[0] for r in self._db.execute("SELECT image FROM samples")}
        for p in (self.root / "images").iterdir():
            if p.is_file() and f"images/{p.name}" not in known_images:
                p.unlink()
                counts["orphan_images"] += 1
        known_masks = {r[0] for r in self._db.execute("SELECT path FROM masks UNION SELECT path FROM mask_history")}
        for p in (self.root / "masks").rglob("*.png"):
            if p.relative_to(self.root).as_posix() not in known_masks:
                p.unlink()
                counts["orphan_masks"] += 1
        if any(counts.values()):
            log.warning("%s: cleaned up after an interrupted run: %s", self.root, counts)
        # we hold the writer lock, so a run still marked running was left by a process that died: say so (a run
        # resumed by id is marked finished again when it completes)
        interrupted = [r[0] for r in self._db.execute("SELECT id FROM runs WHERE status = 'running'")]
        if interrupted:
            with self.transaction() as db:
                db.execute("UPDATE runs SET status = 'failed', finished_at = ?, summary = json_set(summary, "
                           "'$.error', 'interrupted: the process ended before the run finished') "
                           "WHERE status = 'running'", (now_utc(),))
            log.warning("%s: runs interrupted earlier, now marked failed: %s", self.root, ", ".join(interrupted))
        return counts
