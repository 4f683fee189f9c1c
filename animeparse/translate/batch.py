"""The per-batch compute of ``pseudo manga``, the same on every executor, and :class:`RemotePseudo`, which runs it on a
remote one (``--engine ray``: an actor pool; each worker loads the translator once).

:func:`animeparse.translate.pseudo.make_manga` plans the (parent, variant) items and skips those already made
exactly as it does locally, groups them into the same batches, and hands them to :class:`RemotePseudo`. Each worker
loads the translator (``load_translator``; a ``torchscript:PATH`` file is checked by SHA-256 against the driver's)
and runs the same :func:`translate_batch`, reading the parent store at its path as the workers see it. The outputs
(PNG bytes, carried masks) stream back in order; the driver checks each carried mask pixel for pixel and commits
the batch into the derived store, which only it writes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from ..errors import AnimeparseError, StoreError
from ..executor import Executor
from ..imageio import read_image, read_mask
from ..labelmap import LabelMap
from ..store import MaskInput, PreparedSample, Sample, prepare_sample
from ..store.records import MaskRecord

if TYPE_CHECKING:
    from .base import Translator
    from .pseudo import PseudoConfig

__all__ = ["PlanItem", "BatchContext", "Translated", "translate_batch", "RemotePseudo"]


@dataclass(frozen=True)
class PlanItem:
    parent: Sample
    variant: int
    layer: str | None  # the mask layer that conditions the translation and is carried over; None = single region
    mask: MaskRecord | None = None  # that layer's record in the parent store


@dataclass(frozen=True)
class BatchContext:
    """What the per-batch compute needs besides the translator (picklable: it travels to remote workers).

    ``root``: where the parent store's files are read (the driver's path, or the workers' ``--worker-store``);
    ``parent_root``: the parent store's path as the outputs record it (always the driver's); ``translator_name``:
    the translator spec as recorded; ``labelmap`` / ``out_labelmap``: the parent's and the derived store's."""

    root: str
    parent_root: str
    labelmap: LabelMap
    out_labelmap: LabelMap
    translator_name: str
    config: PseudoConfig
    run_id: str


# one output ready to commit: the prepared sample, its plan item, and the parent mask it must carry (or None)
Translated = tuple[PreparedSample, PlanItem, "npt.NDArray[np.uint8] | None"]


def translate_batch(ctx: BatchContext, translator: Translator, batch: list[PlanItem]) -> list[Translated]:
    """The per-batch compute of ``pseudo manga``, the same for both engines: read each parent image and its
    conditioning mask (under ``ctx.root``), translate the batch in one pass, encode each output as PNG and prepare
    it with its carried mask. Returns (prepared sample, item, the parent mask it must carry or None) per item;
    nothing is written."""
    import cv2
    import torch

    from . import generator_for, images_to_tensor, role_lut, single_region_lut, tensor_to_images

    config, root = ctx.config, Path(ctx.root)
    images: dict[str, npt.NDArray[np.uint8]] = {}
    masks: dict[str, npt.NDArray[np.uint8] | None] = {}
    for item in batch:
        pid = item.parent.id
        if pid not in images:
            images[pid] = read_image(root / item.parent.image)
            masks[pid] = read_mask(root / item.mask.path) if item.layer and item.mask else None
    h, w = images[batch[0].parent.id].shape[:2]
    device = translator.device
    x = images_to_tensor([images[it.parent.id] for it in batch], device)
    zeros = np.zeros((h, w), np.uint8)
    ids = torch.from_numpy(np.stack([_or(masks[it.parent.id], zeros) for it in batch]).astype(np.int64)).to(device)
    mask_lut, flat_lut = role_lut(ctx.labelmap), single_region_lut()
    luts = torch.from_numpy(np.stack([mask_lut if it.layer else flat_lut for it in batch])).to(device)
    gens = [generator_for(config.seed, it.parent.id, it.variant) for it in batch]
    outputs = tensor_to_images(translator.translate(x, ids, role_lut=luts, generators=gens, color=config.color))
    prepared: list[Translated] = []
    for item, pixels in zip(batch, outputs):
        parent = item.parent
        if pixels.shape[:2] != images[parent.id].shape[:2]:
            raise AnimeparseError(f"translator {ctx.translator_name} made a {pixels.shape[1]}x{pixels.shape[0]} "
                                  f"image from {parent.id} ({w}x{h}); translations must keep the size",
                                  sample_id=parent.id)
        ok, encoded = cv2.imencode(".png", cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR),
                                   [cv2.IMWRITE_PNG_COMPRESSION, 3])
        if not ok:
            raise StoreError(f"could not encode the translation of {parent.id} as PNG", sample_id=parent.id)
        png = encoded.tobytes()
        mask = masks[parent.id]
        carried = {}
        if item.layer and mask is not None:
            rec = item.mask
            origin = {**(rec.origin if rec else {}), "carried_from": {"sample": parent.id, "layer": item.layer,
                                                                       "sha256": rec.sha256 if rec else None},
                      "run": ctx.run_id}
            carried[item.layer] = MaskInput(mask, origin=origin, score=rec.score if rec else None,
                                            source=f"{ctx.parent_root}/{rec.path if rec else parent.id}")
        meta = {"translator": ctx.translator_name, "translator_sha256": translator.sha256, "seed": config.seed,
                "variant": item.variant, "color": config.color, "source_layer": item.layer}
        stem = Path(parent.name).stem
        p = prepare_sample(Path(f"{stem}.manga{item.variant}.png"), labelmap=ctx.out_labelmap, masks=carried,
                           source=f"{ctx.parent_root}#{parent.id}", split=parent.split, tags=parent.tags, meta=meta,
                           pixels=pixels, file_bytes=png, parent_id=parent.id, parent_run=ctx.run_id)
        prepared.append((p, item, mask))
    return prepared


def _or(mask: npt.NDArray[np.uint8] | None, default: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    return default if mask is None else mask


class RemotePseudo(contextlib.AbstractContextManager[Any]):
    """Entering connects ``executor`` and proves the workers see the parent store ``src_root`` (and a TorchScript
    translator file) before anything is written, and sizes the pool (``workers``); then :meth:`run` translates
    batches on it."""

    def __init__(self, src_root: Path, translator: Translator, config: PseudoConfig, executor: Executor) -> None:
        self.src_root, self.translator, self.config, self.executor = src_root, translator, config, executor
        self.workers = 0
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> RemotePseudo:
        try:
            self._stack.enter_context(self.executor.open(self.src_root))
            self.spec = self.translator.name
            path = getattr(self.translator, "path", None)
            if path is not None:  # a file the workers load: where they see it
                there = self.executor.file_on_workers(path, "translator file")
                self.spec = f"{self.translator.name.partition(':')[0]}:{there}"
            self.workers = self.executor.size_pool(1 << 30)
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def run(self, batches: list[list[PlanItem]], context: BatchContext) -> Iterator[
            tuple[list[PlanItem], list[Translated], str]]:
        """Yield ``(batch, translated, worker device)`` per batch, in order."""
        if not batches:
            return
        self.workers = self.executor.size_pool(len(batches))
        root = self.executor.worker_path(str(Path(self.src_root).absolute()))
        spec = {"translator": self.spec, "sha256": self.translator.sha256, "device": self.config.device,
                "context": replace(context, root=root)}
        results = self.executor.ordered_map(_translate_on_worker, batches, context=spec, init=_load_on_worker,
                                            what="pseudo manga", actors=True)
        with contextlib.closing(results):
            for batch, (translated, device) in results:
                yield batch, translated, device


def _load_on_worker(spec: dict[str, Any]) -> tuple[Translator, BatchContext]:
    """Run once on each worker: the translator on its device, checked against the driver's."""
    from . import load_translator

    translator = load_translator(spec["translator"], device=spec["device"])
    if translator.sha256 != spec["sha256"]:
        raise AnimeparseError(f"the translator a worker loads ({spec['translator']}, SHA-256 "
                              f"{translator.sha256[:12]}) is not the driver's ({spec['sha256'][:12]}); every "
                              "node must see the same translator file and animeparse version")
    return translator, spec["context"]


def _translate_on_worker(state: tuple[Translator, BatchContext], batch: list[PlanItem]
                         ) -> tuple[list[Translated], str]:
    translator, context = state
    return translate_batch(context, translator, batch), str(translator.device)
