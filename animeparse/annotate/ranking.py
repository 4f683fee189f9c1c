"""The order ``ls push`` creates tasks in (and what ``--limit`` keeps): the samples the model is least sure of
first, so annotators with sequential sampling see them first.

- ``low-confidence``: lowest prelabel score first (the score ``prelabel`` stored with each mask; samples without
  one last);
- ``uncertainty``: highest mean per-pixel entropy of the parser's class probabilities first (normalised by
  log C to 0..1; the parser runs over the selected samples now);
- ``id``: by sample id.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence

import numpy as np

from ..errors import AnimeparseError
from ..store import Dataset, Sample

__all__ = ["ORDERS", "order_samples", "parser_entropy"]

log = logging.getLogger(__name__)
ORDERS = ("low-confidence", "uncertainty", "id")
Progress = Callable[[int, int | None], None]


def order_samples(ds: Dataset, samples: Sequence[Sample], *, order: str = "low-confidence", layer: str | None = None,
                  parser: str | None = None, device: str = "auto", progress: Progress | None = None) -> list[Sample]:
    """``samples`` in ``order`` (ties by id). ``layer``: the prelabel layer whose scores ``low-confidence`` reads
    (None: by id); ``parser``: the parser ``uncertainty`` runs (run id or file; None: the store's newest)."""
    if order not in ORDERS:
        raise AnimeparseError(f"--order must be one of {', '.join(ORDERS)}, got {order!r}")
    chosen = sorted(samples, key=lambda s: s.id)
    if order == "low-confidence" and layer is not None:
        scores = {s.id: rec.score if (rec := ds.mask_record(s.id, layer)) else None for s in chosen}
        chosen.sort(key=lambda s: (scores[s.id] is None, scores[s.id] or 0.0))
    elif order == "uncertainty":
        entropy = parser_entropy(ds, chosen, parser=parser, device=device, progress=progress)
        chosen.sort(key=lambda s: -entropy[s.id])
    return chosen


def parser_entropy(ds: Dataset, samples: Sequence[Sample], *, parser: str | None = None, device: str = "auto",
                   batch_size: int = 8, progress: Progress | None = None) -> dict[str, float]:
    """Sample id -> mean per-pixel entropy of the parser's softmax, divided by log C (0 = certain, 1 = uniform)."""
    from ..prelabel import load_parser, resolve_device

    net = load_parser(parser, ds, resolve_device(device))
    norm = math.log(max(len(net.class_ids), 2))
    out: dict[str, float] = {}
    for start in range(0, len(samples), batch_size):
        batch = samples[start:start + batch_size]
        for sample, probs in zip(batch, net.predict([ds.read_image(s) for s in batch])):
            p = probs.clamp_min(1e-8).cpu().numpy()
            out[sample.id] = float(-(p * np.log(p)).sum(0).mean() / norm)
        if progress:
            progress(start + len(batch), len(samples))
    return out
