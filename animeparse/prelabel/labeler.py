"""The per-batch compute of ``prelabel``, the same for both engines: decode a batch's images, run the parser (and
SAM's encoder) on the whole batch at once, then each image's prompts, SAM decoder and combination into a label map,
a per-pixel confidence (as PNG bytes) and a score. Nothing here writes the store: the local engine calls
:class:`Labeler` in the process that commits, ``--engine ray`` in Ray actors
(:mod:`animeparse.prelabel.remote`) whose results the driver commits.
"""

from __future__ import annotations

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
from .parser import Parser
from .prompts import region_prompts, stack_prompts
from .sam import EmbeddingCache, SamEngine

if TYPE_CHECKING:
    from .run import PrelabelConfig

__all__ = ["SampleLabel", "Labeler", "combine", "read_batch"]


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
    embeddings on disk, read and written (None: always encode); ``lr_convention``: the store's, for the clean-up."""

    parser: Parser
    sam: SamEngine | None
    cache: EmbeddingCache | None
    labelmap: LabelMap
    config: PrelabelConfig
    lr_convention: str = "subject"

    def __call__(self, ids: Sequence[str], images: Sequence[npt.NDArray[np.uint8]],
                 timings: dict[str, float]) -> tuple[Iterator[SampleLabel], int]:
        """``images``: HxWx3 uint8 RGB named by sample ``ids``; adds seconds per stage to ``timings``. Runs the
        parser and SAM's encoder on the whole batch now, and returns the labels as a lazy iterator (in order; each
        image's prompts, decoder and combination run as it is taken, so the local engine commits each sample as
        soon as it is done) and how many SAM embeddings were computed (the rest came from the cache)."""
        t = time.perf_counter()
        probs = [p.cpu().numpy() for p in self.parser.predict(images)]
        timings["parser"] += time.perf_counter() - t
        entries: list[dict[str, Any]] = []
        encoded = 0
        if self.sam is not None:
            t = time.perf_counter()
            entries, encoded = self.sam.embeddings(images, list(ids), self.cache)
            timings["encode"] += time.perf_counter() - t
        return self._labels(ids, images, probs, entries, timings), encoded

    def _labels(self, ids: Sequence[str], images: Sequence[npt.NDArray[np.uint8]],
                probs: list[npt.NDArray[np.float32]], entries: list[dict[str, Any]],
                timings: dict[str, float]) -> Iterator[SampleLabel]:
        from ..imageio import encode_mask_png

        for k, sample_id in enumerate(ids):
            t = time.perf_counter()
            combined = combine(probs[k], images[k], entries[k] if entries else None, self.parser, self.sam,
                               self.labelmap, self.config)
            cleaned = clean_label(combined.label_hw, combined.confidence_hw, self.labelmap,
                                  config=self.config.cleanup, lr_convention=self.lr_convention)
            # the score describes the label that is written (per final class, ignored pixels left out); on an
            # unchanged label it equals the combination's own score
            valid = cleaned.label_hw != self.labelmap.ignore_index
            score = sample_score(cleaned.label_hw[valid], combined.confidence_hw[valid])
            conf = np.clip(np.rint(combined.confidence_hw * 255.0), 0, 255).astype(np.uint8)
            label = SampleLabel(sample_id, cleaned.label_hw, encode_mask_png(conf), score,
                                {str(c): v for c, v in sorted(combined.regions.items())}, cleaned.stats)
            timings["decode"] += time.perf_counter() - t
            yield label


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
    prompts = region_prompts(label, config=config.prompts)
    sam_masks: dict[int, tuple[npt.NDArray[np.bool_], float]] = {}
    if prompts:
        masks, ious = engine.segment(entry, *stack_prompts(prompts))
        masks_np, ious_np = masks.cpu().numpy(), ious.cpu().numpy()
        sam_masks = {p.class_id: (masks_np[i], float(ious_np[i])) for i, p in enumerate(prompts)}
    return combine_prompted(probs, parser.class_ids, sam_masks, labelmap, agree_iou=config.agree_iou)


def read_batch(root: Path | str, image_paths: Sequence[str]) -> list[npt.NDArray[np.uint8]]:
    """Decode a batch's images (paths relative to the store at ``root``): HxWx3 uint8 RGB each."""
    return [read_image(Path(root) / p) for p in image_paths]
