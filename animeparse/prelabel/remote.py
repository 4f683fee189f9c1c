"""Prelabel batches on a remote executor (``--engine ray``): the parser (+ SAM) on an actor pool; the driver selects,
resumes and commits.

:func:`animeparse.prelabel.prelabel` does everything it does locally (model identification, resume checks, the
run record, selection, skipping done samples, every commit) and hands the batches to :class:`RemotePrelabel`, which
streams back each batch's :class:`~animeparse.prelabel.labeler.SampleLabel` list in order. Each worker loads the
parser and SAM once from their files (the driver's files, checked by SHA-256 on load) and runs the same
:class:`~animeparse.prelabel.labeler.Labeler` as the local engine. Workers read images at the store's path as they
see it (``--worker-store``); with SAM, they read and write the embedding cache under ``<store>/cache/sam/`` (a cache,
one file per sample and model, written atomically; never the manifest).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import AnimeparseError
from ..executor import Executor

if TYPE_CHECKING:
    from ..store import Dataset, Sample
    from .labeler import SampleLabel
    from .parser import Parser
    from .run import PrelabelConfig
    from .sam import SamEngine

__all__ = ["RemotePrelabel"]


class RemotePrelabel(contextlib.AbstractContextManager[Any]):
    """Entering connects ``executor`` and proves, before anything is written, that the workers see the store and the
    model files, and sizes the pool (``workers``: checked against the cluster; no more than batches); then
    :meth:`run` labels batches on it."""

    def __init__(self, ds: Dataset, config: PrelabelConfig, executor: Executor, *, parser: Parser,
                 sam: SamEngine | None) -> None:
        self.ds, self.config, self.executor = ds, config, executor
        self.workers = 0
        self.parser_file = _parser_file(ds, parser)
        self.sam_file = Path(sam.source) if sam is not None else None
        if self.sam_file is not None and not self.sam_file.is_file():
            raise AnimeparseError(f"--engine ray loads SAM from its checkpoint file on each worker, and SAM "
                                  f"{sam.name if sam else ''} came from {self.sam_file}, not a file; pass "
                                  "--checkpoint PATH", path=ds.root)
        self.parser_sha256, self.sam_sha256 = parser.sha256, sam.sha256 if sam is not None else None
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> RemotePrelabel:
        try:
            self._stack.enter_context(self.executor.open(self.ds.root))
            self.files: dict[str, str | None] = {"parser": None, "sam": None}
            for key, path, what in (("parser", self.parser_file, "parser checkpoint"),
                                    ("sam", self.sam_file, "SAM checkpoint")):
                if path is not None:
                    self.files[key] = self.executor.file_on_workers(path, what)
            self.workers = self.executor.size_pool(1 << 30)
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def run(self, batches: list[list[Sample]], timings: dict[str, float]) -> Iterator[
            tuple[list[Sample], list[SampleLabel], int, str]]:
        """Yield ``(batch, labels, embeddings encoded, worker device)`` per batch, in order; adds the workers'
        seconds per stage to ``timings``."""
        if not batches:
            return
        self.workers = self.executor.size_pool(len(batches))
        spec = {"root": self.executor.worker_path(str(Path(self.ds.root).absolute())), "config": self.config,
                "lr_convention": self.ds.card.lr_convention,
                "labelmap": self.ds.labelmap, "parser": self.files["parser"], "parser_sha256": self.parser_sha256,
                "sam": self.files["sam"], "sam_sha256": self.sam_sha256}
        tasks = [([s.id for s in batch], [s.image for s in batch]) for batch in batches]
        results = self.executor.ordered_map(_label_batch, tasks, context=spec, init=_load_models, what="prelabel",
                                            actors=True)
        with contextlib.closing(results):
            for (_, (labels, encoded, worker_timings, device)), batch in zip(results, batches):
                for key, seconds in worker_timings.items():
                    timings[key] = timings.get(key, 0.0) + seconds
                yield batch, labels, encoded, device


def _parser_file(ds: Dataset, parser: Parser) -> Path:
    """The file the parser was loaded from: a parser run's checkpoint, or the ``--parser`` path."""
    from .parser import checkpoint_path

    run = ds.run(parser.source)
    path = checkpoint_path(ds, run.id) if run is not None and run.kind == "parser" else Path(parser.source)
    if not path.is_file():
        raise AnimeparseError(f"--engine ray loads the parser from its file on each worker, and this parser came "
                              f"from {parser.source!r}, not a file; pass --parser RUN or --parser PATH", path=ds.root)
    return path


def _load_models(spec: dict[str, Any]) -> dict[str, Any]:
    """Run once on each worker: the parser (+ SAM) on its device; the state :func:`_label_batch` uses."""
    from .device import device_name, resolve_device
    from .labeler import Labeler
    from .parser import parser_from_checkpoint
    from .sam import EmbeddingCache, load_sam
    from .sam_speed import embedding_variant, speed_up

    root = spec["root"]
    config = spec["config"]
    device = resolve_device(config.device)
    parser = parser_from_checkpoint(Path(spec["parser"]), spec["labelmap"], device)
    _same_file(spec["parser"], parser.sha256, spec["parser_sha256"], "parser checkpoint")
    sam, cache = None, None
    if spec["sam"] is not None:
        sam = load_sam(spec["sam"], device)
        _same_file(spec["sam"], sam.sha256, spec["sam_sha256"], "SAM checkpoint")
        if config.sdpa or config.compile:
            speed_up(sam, sdpa=config.sdpa, compile_encoder=config.compile, batch_size=config.batch_size)
        if config.cache_embeddings:
            cache = EmbeddingCache(Path(root) / "cache" / "sam", sam.sha256, variant=embedding_variant(config))
    return {"root": root, "labeler": Labeler(parser, sam, cache, spec["labelmap"], config,
                                             lr_convention=spec.get("lr_convention", "subject"),
                                             precision=config.precision),
            "device": device_name(device)}


def _label_batch(state: dict[str, Any], task: tuple[list[str], list[str]]
                 ) -> tuple[list[SampleLabel], int, dict[str, float], str]:
    """Run on a worker: label a batch of (ids, image paths)."""
    from .labeler import read_batch

    ids, images = task
    timings = {"read": 0.0, "parser": 0.0, "encode": 0.0, "decode": 0.0, "finish": 0.0}
    t = time.perf_counter()
    pixels = read_batch(state["root"], images)
    timings["read"] += time.perf_counter() - t
    labels, encoded = state["labeler"](ids, pixels, timings)
    return list(labels), encoded, timings, state["device"]


def _same_file(path: str, got: str, want: str | None, what: str) -> None:
    if got != want:
        raise AnimeparseError(f"the {what} a worker reads (SHA-256 {got[:12]}) is not the driver's ({str(want)[:12]}); "
                              "every node must see the same model files (a shared filesystem)", path=path)
