"""Values of the checked mask layer: ids the label map lacks, too much ignore, nothing labelled, background only;
and masks that look like another label map's id order.

Codes: ``unknown_ids`` (error), ``ignore_share`` (warning), ``empty_mask`` (error), ``background_only``
(warning), ``label_order`` (warning).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ..labelmap import IGNORE_INDEX
from ..labelorder import suspect_label_order
from .config import QAConfig
from .findings import Finding, Severity
from .sample_view import SampleView

__all__ = ["check_values", "check_label_order"]


def check_values(view: SampleView, cfg: QAConfig) -> Iterator[Finding]:
    """Pixel values of the ``cfg.layer`` mask against the store's label map."""
    if view.mask is None:
        return
    s, rel, counts, lm = view.sample, view.mask_rel, view.counts, view.labelmap
    total = int(counts.sum())
    bad = np.nonzero((counts > 0) & ~lm.valid_lut())[0]
    if bad.size:
        ids = [int(v) for v in bad]
        yield Finding(Severity.ERROR, "unknown_ids", s.id,
                      f"mask {rel} has ids {ids} ({int(counts[bad].sum())} px) that are not in the label map "
                      f"{lm.name} (ids {lm.ids[0]}..{lm.ids[-1]}, 255 ignore); re-import it with --map OLD=NEW or "
                      "--remap", file=rel, data={"ids": ids, "pixels": int(counts[bad].sum())})
    ignore = int(counts[IGNORE_INDEX])
    labelled = total - ignore - int(counts[0])
    if total == 0 or ignore == total:
        yield Finding(Severity.ERROR, "empty_mask", s.id,
                      f"mask {rel} labels nothing ({'no pixels' if total == 0 else 'every pixel is ignore (255)'}); "
                      "annotate the sample or remove its mask layer", file=rel)
        return
    if ignore > cfg.max_ignore_share * total:
        yield Finding(Severity.WARNING, "ignore_share", s.id,
                      f"mask {rel} is {ignore / total:.0%} ignore (255), more than {cfg.max_ignore_share:.0%}; "
                      "finish the annotation or raise --max-ignore-share", file=rel,
                      data={"share": round(ignore / total, 4)})
    if labelled == 0:
        yield Finding(Severity.WARNING, "background_only", s.id,
                      f"mask {rel} is background only (no class but 0{' and ignore' if ignore else ''}); annotate "
                      "it, or set its status back to unlabeled if it was never annotated", file=rel)


def check_label_order(view: SampleView, cfg: QAConfig) -> Iterator[Finding]:
    """A large region high up carrying another bundled map's hair id (:func:`suspect_label_order`)."""
    if view.mask is None or not view.counts.any():
        return
    other = suspect_label_order(view.mask, view.labelmap, view.counts)
    if other:
        rel = view.mask_rel
        yield Finding(Severity.WARNING, "label_order", view.sample.id,
                      f"mask {rel} looks like the {other} id order (its hair id fills the top of the image); if so, "
                      f"re-import it with --remap {other}", file=rel, data={"looks_like": other})
