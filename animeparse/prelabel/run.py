"""``prelabel``: parser (+ SAM) over selected samples into a ``prelabel/<run>`` layer; recorded, resumable.

Samples go through in batches: images are decoded one batch ahead in a thread, the parser and SAM's image encoder
each see the whole batch at once, SAM embeddings are cached per (sample, model SHA-256) under
``<store>/cache/sam/``, and each sample is committed as soon as it is done (the mask with its score, file first;
its per-pixel confidence as ``<store>/runs/<run>/confidence/<sample>.png``, 0..255). A run killed at any point is
finished by running it again with the same ``--run`` id: samples that already have the layer are skipped, and
embeddings already cached are not recomputed. Human layers are never written.

The per-batch compute (:class:`~animeparse.prelabel.labeler.Labeler`: images -> parser (+ SAM) -> label,
confidence, score) is one function both engines call; the commit (:func:`_write`) stays here, in the one process
that holds the store's writer lock. With ``engine=EngineConfig(engine="ray")`` the batches are computed by a Ray
actor pool (:mod:`animeparse.prelabel.remote`) and committed here as they stream back, in order.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from ..errors import AnimeparseError
from ..executor import EngineConfig, Executor
from ..fsutil import atomic_write_bytes
from ..parallel import executor_for
from ..store import Dataset, MaskInput, Sample, new_run_id
from ..store.records import check_layer
from ..store.selection import UnknownSelection
from .cleanup import CleanupConfig
from .device import device_name, resolve_device, torch_versions
from .labeler import Labeler, SampleLabel, read_batch
from .models import cached_path, check_cached
from .parser import Parser, load_parser
from .precision import resolve_precision
from .prompts import PromptConfig
from .remote import RemotePrelabel
from .sam import EmbeddingCache, SamEngine, load_sam
from .sam_speed import embedding_variant, speed_up

if TYPE_CHECKING:
    import torch

__all__ = ["PrelabelConfig", "PrelabelResult", "prelabel", "select_samples", "resolve_sam", "SAM_CHOICES", "MODES"]

log = logging.getLogger(__name__)
Progress = Callable[[int, int | None], None]
SAM_CHOICES = ("auto", "vit_h", "vit_l", "vit_b", "none")
MODES = ("prompt", "everything")
_MAX_FINISHERS = 4  # threads for clean-up and PNGs in a local run (one per spare core, at most this many)
# the selection terms --only takes (one at a time)
_ONLY_TERMS = ("all", "unlabeled", "low-confidence", "tag:", "split:", "character:", "hair_color:", "eye_color:",
               "skin_color:")


@dataclass(frozen=True)
class PrelabelConfig:
    """Options of ``prelabel`` (one field per CLI option; ``--gpu`` is ``device="cuda"``).

    ``sam``: ``auto`` uses ``checkpoint`` if given, else a fetched checkpoint (vit_h, vit_l, vit_b on a GPU;
    vit_b first on the CPU), else none (parser only). ``only``: ``unlabeled`` (no gt mask), ``all``,
    ``low-confidence`` (no gt and an earlier prelabel scored below ``low_confidence_below``), ``tag:NAME``,
    ``split:NAME``. ``agree_iou``: least IoU between SAM's mask and the parser's region for SAM's to be kept.
    Everything-mode: ``points_per_side`` (the point grid), ``min_mask_iou`` / ``min_mask_stability`` (SAM's
    mask filters). ``cleanup``: the clean-up stage (:mod:`animeparse.prelabel.cleanup`), on by default.
    ``precision``: ``auto`` (bf16 on a CUDA GPU that has it, else fp32), ``fp32``, ``tf32``, ``bf16``, ``fp16``
    (:mod:`animeparse.prelabel.precision`); ``sdpa``: SAM's encoder attention through
    ``scaled_dot_product_attention`` (:mod:`animeparse.prelabel.sam_speed`); ``compile``: ``torch.compile`` the SAM
    encoder (fixed shapes: the last batch is padded).
    """

    device: str = "auto"
    sam: str = "auto"
    checkpoint: str | None = None
    parser: str | None = None
    only: str = "unlabeled"
    limit: int | None = None
    batch_size: int = 4
    run_id: str | None = None
    mode: str = "prompt"
    agree_iou: float = 0.6
    low_confidence_below: float = 0.7
    points_per_side: int = 16
    min_mask_iou: float = 0.88
    min_mask_stability: float = 0.95
    prompts: PromptConfig = field(default_factory=PromptConfig)
    cleanup: CleanupConfig = field(default_factory=CleanupConfig)
    cache_embeddings: bool = True
    model_cache_dir: str | None = None
    precision: str = "auto"
    sdpa: bool = False
    compile: bool = False


@dataclass(frozen=True)
class PrelabelResult:
    """``computed``: samples prelabelled now; ``skipped_done``: already in the layer (resume); ``encoded``: SAM
    embeddings computed now (the rest came from the cache); ``images_per_s`` over the processing loop;
    ``timings``: seconds per stage (with ``ray``: summed over the workers, ``write`` is the driver's commits);
    ``engine``: ``local`` or ``ray``, ``workers``: Ray actors (None locally)."""

    run_id: str
    layer: str
    selected: int
    skipped_done: int
    computed: int
    encoded: int
    seconds: float
    images_per_s: float
    mean_score: float | None
    device: str
    sam: str | None
    timings: dict[str, float]
    engine: str = "local"
    workers: int | None = None
    pieces_per_image: float | None = None
    pieces_before_cleanup: float | None = None
    precision: str = "fp32"


def prelabel(ds: Dataset, config: PrelabelConfig = PrelabelConfig(), *, parser: Parser | None = None,
             sam: SamEngine | None = None, progress: Progress | None = None,
             engine: EngineConfig | Executor | None = None) -> PrelabelResult:
    """Prelabel ``ds`` (open for writing). ``parser`` / ``sam``: already loaded models to use instead of
    resolving ``config.parser`` / ``config.sam`` (interactive use, benchmarks). ``engine``: where the model work
    runs (default: here); with ``ray`` the models are loaded from their files by each Ray worker, and everything
    else (selection, resume, commits, the run record) is the same as locally."""
    _check_config(config)
    executor = executor_for(engine)
    engine = executor.config
    distributed = executor.remote
    if not distributed and engine.workers is not None:
        raise AnimeparseError("--workers sets the Ray actor pool; it needs --engine ray")
    if distributed:
        # the driver only identifies the models (SHA-256, architecture); the workers run them on their devices
        _check_ray_device(config, engine)
        device = resolve_device("cpu")
    else:
        device = resolve_device(config.device)
    config = replace(config, precision=resolve_precision(config.precision, device))
    parser = parser or load_parser(config.parser, ds, device)
    prefer_gpu = device.type == "cuda" or (distributed and (engine.gpus_per_worker > 0 or "cuda" in config.device))
    sam_engine = sam if sam is not None else resolve_sam(config, device, prefer_gpu=prefer_gpu)
    if sam_engine is not None and (config.sdpa or config.compile):
        speed_up(sam_engine, sdpa=config.sdpa, compile_encoder=config.compile, batch_size=config.batch_size)
    if sam_engine is None and config.mode == "everything":
        raise AnimeparseError("--mode everything needs SAM; pass --sam vit_b (fetched) or --checkpoint PATH")
    run_id = config.run_id or new_run_id("prelabel")
    layer = check_layer(f"prelabel/{run_id}")
    models = {"parser": parser.describe(), "sam": sam_engine.describe() if sam_engine else None}
    # engine is recorded but is no result-changing option: a run may be resumed on the other engine
    params = {**{k: v for k, v in asdict(config).items() if k not in ("run_id", "limit")}, "engine": engine.engine}
    _check_resume(ds, run_id, models, params)
    with contextlib.ExitStack() as stack:
        pool = None
        if distributed:
            # connects and proves the workers see the store and the model files, before anything is written
            pool = stack.enter_context(RemotePrelabel(ds, config, executor, parser=parser, sam=sam_engine))
        ds.start_run("prelabel", params=params, models=models, run_id=run_id)
        return _run(ds, config, run_id, layer, parser, sam_engine, pool, progress)


def _run(ds: Dataset, config: PrelabelConfig, run_id: str, layer: str, parser: Parser, sam: SamEngine | None,
         pool: RemotePrelabel | None, progress: Progress | None) -> PrelabelResult:
    """Select, skip what is done, compute (here or on the pool) and commit each batch as it arrives."""
    selected = select_samples(ds, config.only, low_confidence_below=config.low_confidence_below)
    done = {s.id for s in ds.samples(layer=layer)}
    todo = [s for s in selected if s.id not in done]
    skipped = len(selected) - len(todo)
    if config.limit is not None:
        todo = todo[: config.limit]
    cache = None
    if sam is not None and config.cache_embeddings:
        cache = EmbeddingCache(ds.root / "cache" / "sam", sam.sha256, variant=embedding_variant(config))
        cache.clean_temp()
    origin = {"kind": "machine", "tool": "animeparse prelabel", "run": run_id, "mode": config.mode,
              "parser": parser.sha256[:16], "sam": sam.sha256[:16] if sam else None}
    timings = {"read": 0.0, "parser": 0.0, "encode": 0.0, "decode": 0.0, "finish": 0.0, "write": 0.0}
    scores: list[float] = []
    pieces: list[tuple[int, int]] = []  # (before, after) the clean-up, per sample computed now
    encoded = 0
    device = device_name(sam.device if sam is not None else parser.device)
    if progress is not None:
        progress(skipped, len(selected))
    t_start = time.perf_counter()
    try:
        batches = [todo[i : i + config.batch_size] for i in range(0, len(todo), config.batch_size)]
        stream: Iterator[tuple[list[Sample], Iterable[SampleLabel], int, str]]
        if pool is not None:
            stream = pool.run(batches, timings)
        else:
            stream = _local(ds.root, batches, Labeler(parser, sam, cache, ds.labelmap, config,
                                                    lr_convention=ds.card.lr_convention,
                                                    precision=config.precision), timings, device)
        for batch, labels, encoded_now, device in stream:  # noqa: B007  (the last batch's device is reported)
            for sample, label in zip(batch, labels, strict=True):
                t = time.perf_counter()
                _write(ds, sample, layer, label, origin)
                timings["write"] += time.perf_counter() - t
                scores.append(label.score)
                pieces.append((label.cleanup.get("pieces_before", 0), label.cleanup.get("pieces_after", 0)))
            encoded += encoded_now
            if progress is not None:
                progress(skipped + len(scores), len(selected))
    except BaseException as err:
        ds.finish_run(run_id, status="failed", summary={"error": f"{type(err).__name__}: {err}",
                                                        "computed": len(scores)})
        raise
    seconds = time.perf_counter() - t_start
    result = PrelabelResult(
        run_id=run_id, layer=layer, selected=len(selected), skipped_done=skipped, computed=len(scores), encoded=encoded,
        seconds=round(seconds, 3), images_per_s=round(len(scores) / seconds, 3) if seconds > 0 and scores else 0.0,
        mean_score=round(float(np.mean(scores)), 4) if scores else None, device=device,
        sam=sam.name if sam else None, timings={k: round(v, 3) for k, v in timings.items()},
        engine="ray" if pool is not None else "local", workers=pool.workers if pool is not None else None,
        pieces_per_image=round(float(np.mean([p[1] for p in pieces])), 2) if pieces else None,
        pieces_before_cleanup=round(float(np.mean([p[0] for p in pieces])), 2) if pieces else None,
        precision=config.precision)
    # a resumed run's summary describes the invocation that finished it; layer_samples counts them all
    ds.finish_run(run_id, summary={**asdict(result), "versions": torch_versions(),
                                   "layer_samples": len(ds.samples(layer=layer))})
    return result


def _local(root: Path, batches: list[list[Sample]], labeler: Labeler, timings: dict[str, float],
           device: str) -> Iterator[tuple[list[Sample], Iterable[SampleLabel], int, str]]:
    """The local engine, pipelined: a reader thread decodes batch k+2, a model thread runs batch k+1 (parser,
    encoder, prompts, decoder, combining) while finishing threads finish batch k (clean-up, score, confidence PNG:
    about 0.2-0.35 s of CPU per 1024 px image, so one thread would cap a GPU run at a few images/s) and this thread
    commits each sample in order as soon as it is finished. The store is written only by this thread, as before; a
    killed run resumes the same."""
    if not batches:
        return
    finishing = max(1, min(_MAX_FINISHERS, (os.cpu_count() or 2) - 1))
    with cf.ThreadPoolExecutor(max_workers=1) as reader, cf.ThreadPoolExecutor(max_workers=1) as models, \
            cf.ThreadPoolExecutor(max_workers=finishing) as finishers:
        reads = {0: reader.submit(_read_batch, root, batches[0])}

        def compute(b: int) -> tuple[list[Any], int]:
            t = time.perf_counter()
            images = reads.pop(b).result()
            if b + 1 < len(batches):  # decode the next batch while this one is on the models
                reads[b + 1] = reader.submit(_read_batch, root, batches[b + 1])
            timings["read"] += time.perf_counter() - t
            return labeler.compute([s.id for s in batches[b]], images, timings)

        pending = models.submit(compute, 0)
        try:
            for b, batch in enumerate(batches):
                combined, encoded = pending.result()
                if b + 1 < len(batches):
                    pending = models.submit(compute, b + 1)
                done = [finishers.submit(labeler.finish, s.id, c, timings)
                        for s, c in zip(batch, combined, strict=True)]
                yield batch, (f.result() for f in done), encoded, device
        finally:
            pending.cancel()


def _write(ds: Dataset, sample: Sample, layer: str, label: SampleLabel, origin: dict[str, Any]) -> None:
    """Commit one sample (both engines): its confidence file, then its mask row."""
    if label.sample_id != sample.id:
        raise AnimeparseError(f"internal: result for {label.sample_id} arrived for sample {sample.id}",
                              path=ds.root, sample_id=sample.id)
    run_id = origin["run"]
    # the confidence map first: a sample counts as done only once its mask row is committed
    atomic_write_bytes(ds.root / "runs" / run_id / "confidence" / f"{sample.id}.png", label.confidence_png,
                       fsync=False)
    ds.put_mask(sample.id, layer, MaskInput(label.label_hw, origin={**origin, "regions": label.regions,
                                                                    "cleanup": label.cleanup},
                                            score=round(label.score, 4)), run_id=run_id)


def _read_batch(root: Path, batch: list[Sample]) -> list[npt.NDArray[np.uint8]]:
    return read_batch(root, [s.image for s in batch])


def select_samples(ds: Dataset, only: str, *, low_confidence_below: float = 0.7) -> list[Sample]:
    """The samples ``--only`` names, sorted by id (see :class:`PrelabelConfig`): one term of the store's selection
    grammar (:mod:`animeparse.store.selection`)."""
    try:
        return ds.select([only], allowed=_ONLY_TERMS, low_confidence_below=low_confidence_below)
    except UnknownSelection:
        raise AnimeparseError(f"--only {only!r}: use all, unlabeled, low-confidence, tag:NAME, split:NAME, "
                              "character:NAME or hair_color:NAME (eye_color:, skin_color:)") from None


def resolve_sam(config: PrelabelConfig, device: torch.device, *, prefer_gpu: bool) -> SamEngine | None:
    """``--sam`` / ``--checkpoint`` to a loaded SAM (or None). ``prefer_gpu``: with ``auto``, try the largest
    fetched checkpoint first (the smallest on the CPU)."""
    cache_dir = Path(config.model_cache_dir) if config.model_cache_dir else None
    if config.sam == "none":
        if config.checkpoint:
            raise AnimeparseError("--checkpoint was given with --sam none; drop one of them")
        return None
    if config.checkpoint:
        return load_sam(config.checkpoint, device, expect=config.sam)
    order = [config.sam] if config.sam != "auto" else (
        ["vit_h", "vit_l", "vit_b"] if prefer_gpu else ["vit_b", "vit_l", "vit_h"])
    for arch in order:
        path = cached_path(f"sam-{arch.replace('_', '-')}", cache_dir)
        if path is not None:
            log.info("using SAM %s from the model cache: %s", arch, path)
            check_cached(f"sam-{arch.replace('_', '-')}", path)  # a changed file is refused, not used
            return load_sam(path, device, expect=arch)
    if config.sam != "auto":
        name = f"sam-{config.sam.replace('_', '-')}"
        raise AnimeparseError(f"no {config.sam} checkpoint in the model cache; run `animeparse models fetch {name}` "
                              "or pass --checkpoint PATH")
    log.warning("no SAM checkpoint in the model cache: parser only (fetch one with `animeparse models fetch "
                "sam-vit-b`, or pass --checkpoint PATH)")
    return None


def _check_config(config: PrelabelConfig) -> None:
    if config.sam not in SAM_CHOICES:
        raise AnimeparseError(f"--sam {config.sam!r}: use one of {', '.join(SAM_CHOICES)}")
    if config.mode not in MODES:
        raise AnimeparseError(f"--mode {config.mode!r}: use one of {', '.join(MODES)}")
    if config.batch_size < 1 or (config.limit is not None and config.limit < 0):
        raise AnimeparseError(f"need --batch-size >= 1 and --limit >= 0; got {config.batch_size}, {config.limit}")
    if not 0.0 <= config.agree_iou <= 1.0:
        raise AnimeparseError(f"--agree-iou must be in [0, 1], got {config.agree_iou}")
    problems = config.cleanup.check()
    if problems:
        raise AnimeparseError("; ".join(problems))


def _check_ray_device(config: PrelabelConfig, engine: EngineConfig) -> None:
    """With ``--engine ray`` the device is the workers': a GPU needs ``--gpus-per-worker``, and CPU-only
    workers must not be given one."""
    device = config.device.strip().lower()
    if device.startswith("cuda") and engine.gpus_per_worker <= 0:
        raise AnimeparseError(f"--device {config.device} (or --gpu) with --engine ray runs the models on the Ray "
                              "workers' GPUs: pass --gpus-per-worker (e.g. 1 or 0.5)")
    if device == "cpu" and engine.gpus_per_worker > 0:
        raise AnimeparseError("--device cpu with --gpus-per-worker reserves GPUs the workers would not use; drop "
                              "one of them")


# options that change a sample's result: a resumed run must keep them (device, batch size, selection may change)
_RESULT_PARAMS = ("mode", "agree_iou", "points_per_side", "min_mask_iou", "min_mask_stability", "prompts",
                  "cleanup", "precision", "sdpa", "compile")


def _check_resume(ds: Dataset, run_id: str, models: dict[str, Any], params: dict[str, Any]) -> None:
    """A run resumed by id must use the same weights and result-changing options, or its layer would mix two
    configurations' output."""
    run = ds.run(run_id)
    if run is None:
        return
    if run.kind != "prelabel":
        raise AnimeparseError(f"run {run_id} is a {run.kind!r} run; choose another --run id", path=ds.root)
    for key in ("parser", "sam"):
        old, new = (run.models.get(key) or {}).get("sha256"), (models.get(key) or {}).get("sha256")
        if old != new:
            raise AnimeparseError(f"run {run_id} was started with another {key} (SHA-256 {str(old)[:12]}, now "
                                  f"{str(new)[:12]}); resume it with the same models, or use a new --run id",
                                  path=ds.root)
    changed = [k for k in _RESULT_PARAMS if k in run.params and run.params[k] != json.loads(json.dumps(params[k]))]
    if changed:
        was = ", ".join(f"{k}={run.params[k]}" for k in changed)
        raise AnimeparseError(f"run {run_id} was started with {was}; resume it with the same options, or use a new "
                              "--run id", path=ds.root)
