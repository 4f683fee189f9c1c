"""Manga pseudo-label datasets: translate a store's anime images into manga and carry their masks over exactly.

``make_manga(DS, DS_MANGA)`` writes a derived store (kind ``manga``, the parent's label map, the parent's path in
its card) whose samples point at their parent sample (``parent_id``) and at the pseudo run that made them
(``parent_run``), with meta: translator, its parameter SHA-256, seed, variant. The translator never moves pixels,
so each parent mask is stored unchanged with its translation; that is checked for every output before it is
committed. Re-running skips (parent, variant) pairs already made with the same translator, seed and colour option,
before translating anything. See docs/pseudo.md.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ..errors import AnimeparseError, StoreError
from ..executor import EngineConfig, Executor
from ..fsutil import atomic_write_bytes
from ..imageio import read_mask
from ..parallel import executor_for
from ..store import Dataset, PreparedSample, Sample
from ..store.records import MaskRecord, check_layer
from .batch import BatchContext, PlanItem, RemotePseudo, Translated, translate_batch

__all__ = ["LATEST_PRELABEL", "PseudoConfig", "PseudoResult", "SheetResult", "make_manga", "contact_sheet",
           "conditioning_layer", "BatchContext", "translate_batch"]

log = logging.getLogger(__name__)
Progress = Callable[[int, int | None], None]
LATEST_PRELABEL = "prelabel"  # --layer prelabel: each sample's latest prelabel/* layer
# ~20 float32 full-size temporaries per image in the translator: 16 Mpx per batch stays under ~1.5 GB
_MAX_BATCH_PIXELS = 64 * 512 * 512


@dataclass(frozen=True)
class PseudoConfig:
    """Options of ``animeparse pseudo manga`` (one field per CLI option).

    ``translator``: a :data:`animeparse.translate.TRANSLATORS` spec (``manga-v2``, ``torchscript:PATH``).
    ``variants``: renderings per image, each from its own seeded generator. ``layer``: the mask layer to carry
    (``gt``; a ``prelabel/RUN`` layer; or ``prelabel``, each sample's latest pre-label layer); samples without it
    are translated as one region and stored without a mask. Pre-labels are off by default: their noise would
    decide tones the art does not have.
    ``color``: colour manga instead of greyscale (R = G = B).
    """

    translator: str = "manga-v2"
    variants: int = 1
    seed: int = 0
    device: str = "auto"
    batch_size: int = 8
    layer: str = "gt"
    color: bool = False


@dataclass(frozen=True)
class PseudoResult:
    """What a run did. ``by_layer``: outputs written per carried mask layer (``-`` = single region, no mask);
    ``device``: where the translator ran (the workers' device with ``ray``); ``workers``: Ray actors (None
    locally)."""

    out: str
    parent: str
    run_id: str | None
    translator: str
    translator_sha256: str
    device: str
    planned: int
    translated: int
    skipped_existing: int
    duplicates: int
    by_layer: dict[str, int]
    seconds: float
    engine: str = "local"
    workers: int | None = None


@dataclass(frozen=True)
class SheetResult:
    path: str
    rows: int
    columns: int


def conditioning_layer(ds: Dataset, sample_id: str, *, layer: str = "gt") -> str | None:
    """The layer a translation uses: ``layer`` when the sample has it (``prelabel``: its latest ``prelabel/*``
    layer by creation time), else None (translated as a single region, stored without a mask)."""
    record = _conditioning_record(ds.masks_of(sample_id), layer)
    return record.layer if record else None


def _conditioning_record(records: list[MaskRecord], layer: str) -> MaskRecord | None:
    if layer == LATEST_PRELABEL:
        prelabels = [r for r in records if r.layer.startswith("prelabel/")]
        return max(prelabels, key=lambda r: (r.created_at, r.layer)) if prelabels else None
    return next((r for r in records if r.layer == layer), None)


def make_manga(source: Path | str, out: Path | str, *, config: PseudoConfig = PseudoConfig(),
               progress: Progress | None = None, engine: EngineConfig | Executor | None = None) -> PseudoResult:
    """Translate every sample of the store ``source`` ``config.variants`` times into the derived store ``out``.

    ``engine``: where the translations are computed (default: here). With ``ray`` they run on a Ray actor pool
    (each worker loads the translator once) and are committed here, in order, with the same checks; the outputs
    are the same bytes. Raises AnimeparseError (bad options, a translator that changes the image size, a mask
    that would not carry over, a Ray worker that cannot read the parent store); a failed run is recorded as
    ``failed`` and what was committed before stays (re-run to finish).
    """
    from . import load_translator

    if config.variants < 1 or config.batch_size < 1:
        raise AnimeparseError(f"variants and batch size must be >= 1, got {config.variants} and "
                              f"{config.batch_size}")
    if config.layer != LATEST_PRELABEL:
        check_layer(config.layer)
    executor = executor_for(engine)
    engine = executor.config
    distributed = executor.remote
    if not distributed and engine.workers is not None:
        raise AnimeparseError("--workers sets the Ray actor pool; it needs --engine ray")
    if distributed and config.device == "cuda" and engine.gpus_per_worker <= 0:
        raise AnimeparseError("--device cuda with --engine ray runs the translator on the Ray workers' GPUs: pass "
                              "--gpus-per-worker (e.g. 1 or 0.5)")
    if distributed and config.device == "cpu" and engine.gpus_per_worker > 0:
        raise AnimeparseError("--device cpu with --gpus-per-worker reserves GPUs the workers would not use; drop "
                              "one of them")
    # with ray the driver only identifies the translator (name, SHA-256); the workers run it
    translator = load_translator(config.translator, device="cpu" if distributed else config.device)
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        src = stack.enter_context(Dataset.open(source))
        pool = None
        if distributed:
            # connects and proves the workers see the parent store, before the derived store is touched
            pool = stack.enter_context(RemotePseudo(src.root, translator, config, executor))
        dst = stack.enter_context(_open_derived(Path(out), src))
        done = _existing(dst, translator.sha256, config)
        items: list[PlanItem] = []
        skipped = 0
        for sample in src.samples():
            record = _conditioning_record(src.masks_of(sample.id), config.layer)
            for variant in range(config.variants):
                if (sample.id, variant) in done:
                    skipped += 1
                else:
                    items.append(PlanItem(sample, variant, record.layer if record else None, record))
        counts: dict[str, int] = defaultdict(int)
        run_id, duplicates = None, 0
        device = str(translator.device)
        if items:
            params = {**asdict(config), "parent": str(src.root), "engine": engine.engine}
            run_id = dst.start_run("pseudo", params=params, models={translator.name: translator.sha256})
            context = BatchContext(root=str(src.root), parent_root=str(src.root), labelmap=src.labelmap,
                                   out_labelmap=dst.labelmap, translator_name=translator.name, config=config,
                                   run_id=run_id)
            batches = list(_batches(items, config.batch_size))
            try:
                stream = pool.run(batches, context) if pool is not None else _ahead(
                    batches, lambda batch: translate_batch(context, translator, batch), device)
                for _batch, translated, device in stream:  # noqa: B007 - the device is recorded after the loop
                    for item, fresh in _commit(dst, translated, run_id):
                        counts[item.layer or "-"] += int(fresh)
                        duplicates += int(not fresh)
                    if progress:
                        progress(sum(counts.values()) + duplicates, len(items))
            except BaseException as err:
                dst.finish_run(run_id, status="failed", summary={"error": str(err), **counts})
                raise
            dst.finish_run(run_id, summary={"translated": sum(counts.values()), "duplicates": duplicates,
                                            "skipped_existing": skipped, "by_layer": dict(counts),
                                            "engine": engine.engine, "workers": pool.workers if pool else None})
        return PseudoResult(out=str(dst.root), parent=str(src.root), run_id=run_id, translator=translator.name,
                            translator_sha256=translator.sha256, device=device,
                            planned=len(items) + skipped, translated=sum(counts.values()), skipped_existing=skipped,
                            duplicates=duplicates, by_layer=dict(sorted(counts.items())),
                            seconds=time.perf_counter() - started, engine=engine.engine,
                            workers=pool.workers if pool is not None else None)


def _ahead(batches: list[list[PlanItem]], work: Callable[[list[PlanItem]], list[Translated]], device: str
           ) -> Iterator[tuple[list[PlanItem], list[Translated], str]]:
    """The local engine: batch k+1 is read, translated and PNG-encoded in a thread while batch k is checked and
    committed here (the derived store is written by this thread only, as before)."""
    import concurrent.futures as cf

    if not batches:
        return
    with cf.ThreadPoolExecutor(max_workers=1) as ahead:
        pending = ahead.submit(work, batches[0])
        try:
            for k, batch in enumerate(batches):
                done = pending.result()
                if k + 1 < len(batches):
                    pending = ahead.submit(work, batches[k + 1])
                yield batch, done, device
        finally:
            pending.cancel()


def _commit(dst: Dataset, translated: list[Translated], run_id: str) -> list[tuple[PlanItem, bool]]:
    """Commit one batch (both engines): every output's mask checked against its parent's, pixel for pixel, then
    the batch in one transaction, then each new row checked to point at the checked bytes. Returns
    (item, added) per output."""
    for p, item, mask in translated:
        _check_carry(p, item, mask)
    prepared = [(p, item) for p, item, _ in translated]
    added = dst.add_prepared([p for p, _ in prepared], run_id=run_id)
    _check_committed(dst, prepared, added)
    return [(item, fresh) for (_, item), fresh in zip(prepared, added, strict=True)]


def _open_derived(out: Path, src: Dataset) -> Dataset:
    """Open (or create) the derived store: kind ``manga``, the parent's label map, ``parent`` = the parent's path."""
    out = out.absolute()
    if out == src.root:
        raise StoreError("the derived store must be another folder than its parent; pass --out DS_MANGA", path=out)
    dst = Dataset.create(out, labelmap=src.labelmap, name=f"{src.card.name}-manga",
                         lr_convention=src.card.lr_convention, kind="manga",
                         description=f"manga pseudo data translated from {src.root}", exist_ok=True,
                         parent=str(src.root))
    try:
        parent = dst.card.parent
        if dst.card.kind != "manga":
            raise StoreError(f"{out} is a {dst.card.kind} store, not a derived manga store; choose a new --out",
                             path=out)
        if parent is not None and Path(parent) != src.root:
            raise StoreError(f"this store was derived from {parent}, not {src.root}; choose another --out", path=out)
    except BaseException:
        dst.close()
        raise
    return dst


def _existing(dst: Dataset, sha256: str, config: PseudoConfig) -> set[tuple[str, int]]:
    """(parent id, variant) pairs already made with this translator file, seed and colour option."""
    found = set()
    for s in dst.samples():
        m = s.meta
        if s.parent_id and m.get("translator_sha256") == sha256 and m.get("seed") == config.seed \
                and bool(m.get("color", False)) == config.color:
            found.add((s.parent_id, int(m.get("variant", 0))))
    return found


def _batches(items: list[PlanItem], size: int) -> Iterator[list[PlanItem]]:
    """Batches of same-size images (a batch is one tensor); a parent's variants stay together (one decode).

    Large images get smaller batches (at most ``_MAX_BATCH_PIXELS`` per batch) to bound memory; outputs do not
    depend on the batch, so this changes no pixel."""
    by_shape: dict[tuple[int, int], list[PlanItem]] = defaultdict(list)
    for item in items:
        by_shape[(item.parent.height, item.parent.width)].append(item)
    for shape in sorted(by_shape):
        group = sorted(by_shape[shape], key=lambda it: (it.parent.id, it.variant))
        step = max(1, min(size, _MAX_BATCH_PIXELS // (shape[0] * shape[1])))
        for i in range(0, len(group), step):
            yield group[i:i + step]


def _check_carry(p: PreparedSample, item: PlanItem, mask: npt.NDArray[np.uint8] | None) -> None:
    """Refuse an output whose size differs from its parent's or whose encoded mask is not the parent's, pixel
    for pixel (decoded back from the bytes about to be written)."""
    parent = item.parent
    if (p.height, p.width) != (parent.height, parent.width):
        raise StoreError(f"translation of {parent.id} is {p.width}x{p.height}, its parent {parent.width}x"
                         f"{parent.height}; nothing of this batch was written", sample_id=parent.id)
    if mask is None:
        if p.masks:
            raise StoreError(f"translation of {parent.id} has masks but its parent has none", sample_id=parent.id)
        return
    if len(p.masks) != 1 or p.masks[0].layer != item.layer or \
            not np.array_equal(read_mask(Path(p.name), data=p.masks[0].png), mask):
        raise StoreError(f"the {item.layer} mask of the translation of {parent.id} differs from its parent's; "
                         "nothing of this batch was written", sample_id=parent.id)


def _check_committed(dst: Dataset, prepared: list[tuple[PreparedSample, PlanItem]], added: list[bool]) -> None:
    """After the commit: every new sample's mask row points at exactly the bytes checked before it."""
    for (p, item), fresh in zip(prepared, added):
        if not fresh or not p.masks:
            continue
        rec = dst.mask_record(p.id, p.masks[0].layer)
        if rec is None or rec.sha256 != p.masks[0].sha256:
            raise StoreError(f"sample {p.id} (from {item.parent.id}) was committed without its checked "
                             f"{p.masks[0].layer} mask", path=dst.root, sample_id=p.id)


def contact_sheet(derived: Path | str, out_png: Path | str, *, rows: int | None = 8, tile: int = 256
                  ) -> SheetResult:
    """A PNG grid: per parent (the first ``rows`` by id; ``None``: every parent) its input image (from the parent
    store named in the derived card), its mask coloured by the label map with class outlines (the ignore index in
    :func:`animeparse.colours.ignore_colour`), and its manga variants; below, a legend of the classes in the
    shown masks. A parent store that cannot be opened leaves the input column empty (logged), the rest still
    shows."""
    from ..colours import ignore_colour
    from .sheet import colorize_mask, compose_sheet, legend, outline_classes

    with Dataset.open(derived) as dst:
        groups: dict[str, list[Sample]] = defaultdict(list)
        for s in dst.samples():
            if s.parent_id:
                groups[s.parent_id].append(s)
        if not groups:
            raise StoreError("no translated samples to show; run animeparse pseudo manga first", path=dst.root)
        chosen = sorted(groups) if rows is None else sorted(groups)[:max(1, rows)]
        src = _open_parent(dst)
        lm = dst.labelmap
        colors = lm.colors_array().copy()
        ignore_rgb = ignore_colour([c.color for c in lm.classes])
        colors[lm.ignore_index] = ignore_rgb
        grid: list[list[npt.NDArray[np.uint8] | None]] = []
        shown: set[int] = set()
        try:
            for pid in chosen:
                variants = sorted(groups[pid], key=lambda s: (s.meta.get("seed", 0), s.meta.get("variant", 0), s.id))
                layer = variants[0].meta.get("source_layer")
                mask = dst.read_mask(variants[0].id, layer) if layer else None
                image = src.read_image(pid) if src is not None and pid in src else None
                painted = None
                if mask is not None:
                    shown |= {int(v) for v in np.unique(mask)}
                    # lines about 1.5 px wide once the mask is scaled into its tile
                    width_px = max(1, round(1.5 * max(mask.shape) / tile))
                    painted = outline_classes(colorize_mask(mask, colors), mask, width_px=width_px)
                grid.append([image, painted, *(dst.read_image(v) for v in variants)])
        finally:
            if src is not None:
                src.close()
    cols = max(len(r) for r in grid)
    titles = ["input", "mask", *(f"manga {i}" for i in range(cols - 2))]
    sheet = compose_sheet(grid, titles, tile=tile, empty_note="none")
    strip = legend([(f"{lm.name}: classes in the masks above (outlined where the class changes)", lm,
                     shown or None)], width=sheet.shape[1], ignore_rgb=ignore_rgb)
    sheet = np.concatenate([sheet, strip], axis=0)
    import cv2

    ok, encoded = cv2.imencode(".png", cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    if not ok:
        raise StoreError("could not encode the contact sheet", path=out_png)
    atomic_write_bytes(Path(out_png), encoded.tobytes())
    return SheetResult(path=str(Path(out_png).absolute()), rows=len(grid), columns=cols)


def _open_parent(dst: Dataset) -> Dataset | None:
    if not dst.card.parent:
        log.warning("%s: the card names no parent store; the input column stays empty", dst.root)
        return None
    try:
        return Dataset.open(dst.card.parent)
    except AnimeparseError as err:
        log.warning("parent store %s cannot be opened (%s); the input column stays empty", dst.card.parent, err)
        return None
