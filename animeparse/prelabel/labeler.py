"""The per-batch compute of ``prelabel``, the same for both engines: decode a batch's images, run the parser (and
SAM's encoder) on the whole batch at once, then each image's prompts, SAM decoder and combination into a label map,
a per-pixel confidence (as PNG bytes) and a score. Nothing here writes the store: the local engine calls
:class:`Labeler` in the process that commits, ``--engine ray`` in Ray actors
(:mod:`animeparse.prelabel.remote`) whose results the driver commits.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from ..imageio import read_image
from ..labelmap import LabelMap
from .cleanup import clean_label
from .combine import Combined, combine_everything, combine_prompted, parser_only, sample_score
from .combine_torch import DeviceCombined, combine_prompted_torch, parser_argmax, parser_only_torch
from .parser import Parser
from .precision import autocast
from .prompts import image_prompts, stack_prompts
from .sam import EmbeddingCache, SamEngine

if TYPE_CHECKING:
    import torch

    from .run import PrelabelConfig

_TIMINGS = threading.Lock()

__all__ = ["SampleLabel", "Labeler", "combine", "combine_on_device", "read_batch"]


@dataclass(frozen=True)
class SampleLabel:
    """One sample's prelabel as the compute step hands it to the commit (small enough to ship from a Ray worker).

    ``label_hw``: HxW uint8 class ids; ``confidence_png``: the per-pixel confidence, HxW uint8 (0..255 for
    0..1), as PNG bytes; ``score``: the sample score; ``regions``: per class id (str), how it was decided;
    ``cleanup``: the clean-up stage's counts (``pieces_before``, ``pieces_after``, pixels changed by each step)."""

    sample_id: str
    label_hw: npt.NDArray[np.uint8]
    confidence_png: bytes
    score: float
    regions: dict[str, dict[str, Any]]
    cleanup: dict[str, int] = field(default_factory=dict)


@dataclass
class Labeler:
    """The per-batch compute of ``prelabel``, the same for both engines: a batch of images through the parser
    (and SAM's encoder) at once, then each image's prompts, SAM decoder, combination and clean-up. ``cache``: SAM
    embeddings on disk, read and written (None: always encode); ``lr_convention``: the store's, for the clean-up;
    ``precision``: the resolved forward-pass precision (:mod:`animeparse.prelabel.precision`).

    Two stages, so a run can overlap them: :meth:`compute` (the models and what needs their outputs: parser,
    encoder, prompts, decoder, combining, on the models' device) and :meth:`finish` (host work: clean-up, score,
    confidence PNG)."""

    parser: Parser
    sam: SamEngine | None
    cache: EmbeddingCache | None
    labelmap: LabelMap
    config: PrelabelConfig
    lr_convention: str = "subject"
    precision: str = "fp32"

    def __call__(self, ids: Sequence[str], images: Sequence[npt.NDArray[np.uint8]],
                 timings: dict[str, float]) -> tuple[Iterator[SampleLabel], int]:
        """``images``: HxWx3 uint8 RGB named by sample ``ids``; adds seconds per stage to ``timings``. Runs the
        parser and SAM's encoder on the whole batch now, and returns the labels as a lazy iterator (in order; each
        image's prompts, decoder and combination run as it is taken, so the consumer commits each sample as soon
        as it is done) and how many SAM embeddings were computed (the rest came from the cache)."""
        probs, entries, encoded = self._models(ids, images, timings)

        def labels() -> Iterator[SampleLabel]:
            for k, sample_id in enumerate(ids):
                combined = self._combine(k, images, probs, entries, timings)
                yield self.finish(sample_id, combined, timings)

        return labels(), encoded

    def compute(self, ids: Sequence[str], images: Sequence[npt.NDArray[np.uint8]],
                timings: dict[str, float]) -> tuple[list[Combined | DeviceCombined], int]:
        """The model stage for a whole batch: each image's combined label and confidence (host arrays), and how
        many SAM embeddings were computed now."""
        probs, entries, encoded = self._models(ids, images, timings)
        return [self._combine(k, images, probs, entries, timings) for k in range(len(ids))], encoded

    def finish(self, sample_id: str, combined: Combined | DeviceCombined, timings: dict[str, float]) -> SampleLabel:
        """The host stage for one image: clean-up, the score of the label that is written, the confidence PNG."""
        from ..imageio import encode_mask_png

        t = time.perf_counter()
        cleaned = clean_label(combined.label_hw, combined.confidence_hw, self.labelmap,
                              config=self.config.cleanup, lr_convention=self.lr_convention)
        # the score describes the label that is written (per final class, ignored pixels left out); on an
        # unchanged label it equals the combination's own score
        valid = cleaned.label_hw != self.labelmap.ignore_index
        score = sample_score(cleaned.label_hw[valid], combined.confidence_hw[valid])
        conf = combined.confidence_u8 if isinstance(combined, DeviceCombined) else \
            np.clip(np.rint(combined.confidence_hw * 255.0), 0, 255).astype(np.uint8)
        label = SampleLabel(sample_id, cleaned.label_hw, encode_mask_png(conf), score,
                            {str(c): v for c, v in sorted(combined.regions.items())}, cleaned.stats)
        with _TIMINGS:  # finishing may run on several threads at once
            timings["finish"] = timings.get("finish", 0.0) + time.perf_counter() - t
        return label

    def _models(self, ids: Sequence[str], images: Sequence[npt.NDArray[np.uint8]], timings: dict[str, float]
                ) -> tuple[list[Any], list[dict[str, Any]], int]:
        """Parser probabilities (tensors on the device where combining runs there, else host arrays) and SAM
        embeddings for the batch."""
        t = time.perf_counter()
        device = self.parser.device
        with autocast(device, self.precision):
            raw = self.parser.predict(images)
        probs: list[Any] = raw if self._on_device() else [p.cpu().numpy() for p in raw]
        timings["parser"] += time.perf_counter() - t
        entries: list[dict[str, Any]] = []
        encoded = 0
        if self.sam is not None:
            t = time.perf_counter()
            with autocast(self.sam.device, self.precision):
                entries, encoded = self.sam.embeddings(images, list(ids), self.cache)
            timings["encode"] += time.perf_counter() - t
        return probs, entries, encoded

    def _on_device(self) -> bool:
        """Combine on the models' device (a GPU: the probabilities and SAM's masks stay there); on the CPU the
        NumPy combination is the faster of the two (same result)."""
        return self.parser.device.type != "cpu" and self.config.mode == "prompt"

    def _combine(self, k: int, images: Sequence[npt.NDArray[np.uint8]], probs: list[Any],
                 entries: list[dict[str, Any]], timings: dict[str, float]) -> Combined | DeviceCombined:
        t = time.perf_counter()
        entry = entries[k] if entries else None
        if self._on_device():
            out: Combined | DeviceCombined = combine_on_device(probs[k], entry, self.parser, self.sam,
                                                               self.labelmap, self.config, self.precision)
        else:
            with autocast(self.sam.device if self.sam else self.parser.device, self.precision):
                out = combine(probs[k], images[k], entry, self.parser, self.sam, self.labelmap, self.config)
        timings["decode"] += time.perf_counter() - t
        return out


def combine_on_device(probs: torch.Tensor, entry: dict[str, Any] | None, parser: Parser, engine: SamEngine | None,
                      labelmap: LabelMap, config: PrelabelConfig, precision: str) -> DeviceCombined:
    """Prompt mode with the probabilities (CxHxW float32 tensor) and SAM's masks kept on the device: only the
    uint8 label (for the prompts), the label, confidence and decisions come back."""
    import torch

    class_ids = torch.from_numpy(parser.class_ids)
    argmax = parser_argmax(probs, class_ids)  # once: the prompts and the combination both start from it
    if engine is None or entry is None:
        return parser_only_torch(probs, class_ids, argmax=argmax)
    prompts = image_prompts(argmax[0].cpu().numpy(), config=config.prompts)
    if not prompts:
        return parser_only_torch(probs, class_ids, argmax=argmax)
    with autocast(engine.device, precision):
        masks, ious = engine.segment(entry, *stack_prompts(prompts))
    sam_ids = torch.tensor([p.class_id for p in prompts], device=probs.device)
    return combine_prompted_torch(probs, class_ids, sam_ids, masks.to(probs.device), ious.to(probs.device),
                                  labelmap, agree_iou=config.agree_iou, argmax=argmax)


def combine(probs: npt.NDArray[np.float32], image: npt.NDArray[np.uint8], entry: dict[str, Any] | None,
            parser: Parser, engine: SamEngine | None, labelmap: LabelMap, config: PrelabelConfig) -> Combined:
    """One image's label from the parser's CxHxW float32 probabilities, with SAM's masks when ``entry`` (its
    embedding) is given: prompted per parser region, or everything-mode (``config.mode``)."""
    if engine is None or entry is None:
        return parser_only(probs, parser.class_ids)
    if config.mode == "everything":
        records = engine.everything(entry, image, points_per_side=config.points_per_side,
                                    min_iou=config.min_mask_iou, min_stability=config.min_mask_stability)
        return combine_everything(probs, parser.class_ids, records, labelmap)
    label = parser.class_ids[probs.argmax(0)]
    prompts = image_prompts(label, config=config.prompts)
    sam_masks: dict[int, tuple[npt.NDArray[np.bool_], float]] = {}
    if prompts:
        masks, ious = engine.segment(entry, *stack_prompts(prompts))
        masks_np, ious_np = masks.cpu().numpy(), ious.cpu().numpy()
        sam_masks = {p.class_id: (masks_np[i], float(ious_np[i])) for i, p in enumerate(prompts)}
    return combine_prompted(probs, parser.class_ids, sam_masks, labelmap, agree_iou=config.agree_iou)


def read_batch(root: Path | str, image_paths: Sequence[str]) -> list[npt.NDArray[np.uint8]]:
    """Decode a batch's images (paths relative to the store at ``root``): HxWx3 uint8 RGB each."""
    return [read_image(Path(root) / p) for p in image_paths]
