"""Per-sample class histograms of one mask layer, read on every core with memory flat in the number of samples.

Statistics and splits need only how many pixels of each id a mask holds, never the mask itself, so each worker
decodes a mask, reduces it to 256 counts and drops the pixels; the driver keeps a bounded window of pending
chunks, so at most ``window x chunk`` masks are ever decoded and unconsumed at once.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import numpy.typing as npt

from ..imageio import read_mask
from ..parallel import ordered_map
from ..store import Dataset
from ..store.prepare import class_counts

__all__ = ["Progress", "mask_histograms", "default_workers"]

Progress = Callable[[int, int | None], None]
# masks per task: small masks decode in well under a millisecond, so one task per mask would be mostly IPC
CHUNK = 16
# below this many masks a process pool costs more to start than it saves
MIN_PARALLEL = 64


def default_workers() -> int:
    """One process per core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def mask_histograms(ds: Dataset, sample_ids: Sequence[str], *, layer: str = "gt", workers: int | None = None,
                    progress: Progress | None = None) -> Iterator[tuple[str, npt.NDArray[np.int64] | None]]:
    """Yield ``(sample_id, counts)`` in the order of ``sample_ids``.

    ``counts`` is a length-256 int64 array: pixels per class id 0..255 (255 = ignore) of the sample's mask in
    ``layer``, or None when the sample has no mask in that layer. ``workers``: processes (default one per core;
    0 = read in this process). ``progress(done, total)`` is called as samples complete.
    Raises FormatError naming the file when a mask does not decode.
    """
    workers = default_workers() if workers is None else workers
    total = len(sample_ids)
    # paths are looked up here: the workers get plain strings and never touch SQLite
    jobs: list[tuple[str, str | None]] = []
    for sid in sample_ids:
        rec = ds.mask_record(sid, layer)
        jobs.append((sid, None if rec is None else str(ds.root / rec.path)))
    for done, (sid, counts) in enumerate(_counts_in_order(jobs, workers if total >= MIN_PARALLEL else 0), 1):
        if progress is not None:
            progress(done, total)
        yield sid, counts


def _counts_in_order(jobs: list[tuple[str, str | None]], workers: int
                     ) -> Iterator[tuple[str, npt.NDArray[np.int64] | None]]:
    if workers <= 0:
        for sid, path in jobs:
            yield sid, _histogram(path)
        return
    chunks = [jobs[i:i + CHUNK] for i in range(0, len(jobs), CHUNK)]
    for chunk, counts in ordered_map(_histogram_chunk, chunks, workers=workers, window=2 * workers):
        for (sid, _), c in zip(chunk, counts):
            yield sid, c


def _histogram_chunk(chunk: list[tuple[str, str | None]]) -> list[npt.NDArray[np.int64] | None]:
    return [_histogram(p) for _, p in chunk]


def _histogram(path: str | None) -> npt.NDArray[np.int64] | None:
    """256 int64 pixel counts of the index mask at ``path`` (None for no mask)."""
    if path is None:
        return None
    return class_counts(read_mask(path))
