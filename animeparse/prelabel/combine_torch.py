"""The combination of :mod:`animeparse.prelabel.combine`, computed by torch on the models' device.

The parser's C x H x W probabilities and SAM's N full-size masks stay where they were made; only the HxW uint8 label,
the HxW float32 confidence (1/C of the probabilities' bytes) and the per-region decisions come back to the host.
The rules and the float operations are those of ``parser_only`` / ``combine_prompted`` in the same order, so on the
CPU in float32 the result is the same bytes (tested); on a GPU the argmax ties and the last float bits may differ.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from ..labelmap import LabelMap

if TYPE_CHECKING:
    import torch

__all__ = ["DeviceCombined", "parser_argmax", "parser_only_torch", "combine_prompted_torch"]


@dataclass(frozen=True)
class DeviceCombined:
    """``label_hw``: HxW uint8 class ids; ``confidence_hw``: HxW float32 in [0, 1]; ``confidence_u8``: the same
    quantised to 0..255 (rounded half to even, as ``np.rint``); ``regions``: per class id, how it was decided."""

    label_hw: npt.NDArray[np.uint8]
    confidence_hw: npt.NDArray[np.float32]
    confidence_u8: npt.NDArray[np.uint8]
    regions: dict[int, dict[str, Any]] = field(default_factory=dict)


def _host(label: torch.Tensor, conf: torch.Tensor, regions: dict[int, dict[str, Any]]) -> DeviceCombined:
    import torch

    u8 = torch.round(conf * 255.0).clamp(0, 255).to(torch.uint8)
    return DeviceCombined(label.cpu().numpy(), conf.float().cpu().numpy(), u8.cpu().numpy(), regions)


def parser_argmax(probs: torch.Tensor, class_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The parser's label (HxW uint8 class ids) and its probability (HxW float32), on the probabilities' device.
    ``probs``: C x H x W float32; ``class_ids``: C uint8 (any device)."""
    best = probs.argmax(0)
    return class_ids.to(probs.device)[best], probs.gather(0, best[None])[0]


def parser_only_torch(probs: torch.Tensor, class_ids: torch.Tensor, *,
                      argmax: tuple[torch.Tensor, torch.Tensor] | None = None) -> DeviceCombined:
    """The parser's argmax. ``probs``: C x H x W float32 on the device; ``class_ids``: C uint8 (any device);
    ``argmax``: :func:`parser_argmax` of them when the caller has it already."""
    label, conf = argmax if argmax is not None else parser_argmax(probs, class_ids)
    return _host(label, conf, {})


def combine_prompted_torch(probs: torch.Tensor, class_ids: torch.Tensor, sam_ids: torch.Tensor,
                           sam_masks: torch.Tensor, sam_ious: torch.Tensor, labelmap: LabelMap, *,
                           agree_iou: float = 0.6,
                           argmax: tuple[torch.Tensor, torch.Tensor] | None = None) -> DeviceCombined:
    """:func:`animeparse.prelabel.combine.combine_prompted` on the device.

    ``probs``: C x H x W float32; ``class_ids``: C uint8; ``sam_ids``: N int64 class id of each SAM mask;
    ``sam_masks``: N x H x W bool; ``sam_ious``: N float32 predicted IoUs (all on the probabilities' device);
    ``argmax``: :func:`parser_argmax` of ``probs`` when the caller has it already."""
    import torch

    dev = probs.device
    class_ids = class_ids.to(dev)
    parser_label, parser_conf = argmax if argmax is not None else parser_argmax(probs, class_ids)
    channel = {int(c): k for k, c in enumerate(class_ids.tolist())}
    prio_host = labelmap.priority_lut()  # read on the host: no device round trip per class
    prio = torch.from_numpy(prio_host).to(dev)
    ious_host = sam_ious.float().cpu().tolist()
    ids_host = [int(c) for c in sam_ids.tolist()]
    # one pass for every mask's intersection and union with its class's parser region
    regions_t = parser_label[None] == sam_ids.to(dev, torch.uint8)[:, None, None]
    inter = (sam_masks & regions_t).flatten(1).sum(1).tolist()
    union = (sam_masks | regions_t).flatten(1).sum(1).tolist()
    regions: dict[int, dict[str, Any]] = {}
    kept: dict[int, tuple[int, float]] = {}
    for i, c in enumerate(ids_host):
        iou = float(inter[i]) / union[i] if union[i] else 0.0
        use = iou >= agree_iou
        regions[c] = {"source": "sam" if use else "parser", "iou": round(iou, 4), "sam_iou": round(ious_host[i], 4)}
        if use:
            kept[c] = (i, ious_host[i])
    out = parser_label.clone()
    conf = parser_conf.clone()
    if not kept:
        return _host(out, conf, regions)
    kept_ids = torch.tensor(sorted(kept), dtype=torch.uint8, device=dev)
    claim_prio = torch.full(out.shape, torch.iinfo(torch.int64).min, dtype=torch.int64, device=dev)
    free = ~torch.isin(parser_label, kept_ids)
    claim_prio = torch.where(free, prio[parser_label.long()], claim_prio)
    claimed = free.clone()
    for c in sorted(kept, key=lambda k: (int(prio_host[k]), k)):
        i, sam_iou = kept[c]
        p = int(prio_host[c])
        take = sam_masks[i] & (p > claim_prio)
        out = torch.where(take, torch.tensor(c, dtype=torch.uint8, device=dev), out)
        claim_prio = torch.where(take, torch.tensor(p, dtype=torch.int64, device=dev), claim_prio)
        conf = torch.where(take, 0.5 * (probs[channel[c]] + sam_iou), conf)
        claimed |= take
    orphan = ~claimed
    if bool(orphan.any()):
        rest = [k for k, c in enumerate(class_ids.tolist()) if int(c) not in kept]
        if rest:
            sub = probs[torch.tensor(rest, device=dev)][:, orphan]
            best = sub.argmax(0)
            out[orphan] = class_ids[torch.tensor(rest, device=dev)[best]]
            conf[orphan] = sub.gather(0, best[None])[0]
    return _host(out, conf, regions)
