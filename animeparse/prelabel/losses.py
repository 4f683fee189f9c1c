"""Losses and running scores of ``parser train``: supervised, semi-supervised (mean teacher), and the metrics."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .augment import IGNORE

if TYPE_CHECKING:
    import torch

__all__ = ["supervised_loss", "pseudo_labels", "ema_update", "scores"]


def supervised_loss(logits: torch.Tensor, y: torch.Tensor, weights: torch.Tensor, *, dice: float) -> torch.Tensor:
    """Weighted cross-entropy + ``dice`` x (1 - soft Dice averaged over the classes present in the batch).

    ``logits``: BxCxHxW; ``y``: BxHxW int64 channel indices or IGNORE; ``weights``: C float32.
    """
    import torch.nn.functional as F

    logits = logits.float()
    valid_px = y >= 0
    if not bool(valid_px.any()):
        # every pixel ignored (a teacher unsure everywhere): no signal, and cross-entropy's mean would be 0/0 = NaN
        return logits.sum() * 0.0
    loss = F.cross_entropy(logits, y, weight=weights, ignore_index=IGNORE)
    if dice > 0:
        valid = valid_px.unsqueeze(1)
        probs = logits.softmax(1) * valid
        onehot = F.one_hot(y.clamp(min=0), logits.shape[1]).permute(0, 3, 1, 2).to(probs.dtype) * valid
        inter = (probs * onehot).sum((0, 2, 3))
        denom = probs.sum((0, 2, 3)) + onehot.sum((0, 2, 3))
        present = onehot.sum((0, 2, 3)) > 0
        loss = loss + dice * (1 - (2 * inter + 1) / (denom + 1))[present].mean()
    return loss


def pseudo_labels(teacher_logits: torch.Tensor, *, threshold: float) -> tuple[torch.Tensor, float]:
    """The teacher's argmax where its softmax probability reaches ``threshold``, IGNORE elsewhere.

    ``teacher_logits``: BxCxHxW. Returns (BxHxW int64, the share of pixels kept).
    """
    probs = teacher_logits.float().softmax(1)
    conf, label = probs.max(1)
    keep = conf >= threshold
    label[~keep] = IGNORE
    return label, float(keep.float().mean())


def ema_update(teacher: torch.nn.Module, student: torch.nn.Module, *, decay: float) -> None:
    """teacher <- decay x teacher + (1 - decay) x student, for parameters and float buffers (BatchNorm's running
    statistics); integer buffers (batch counters) are copied."""
    import torch

    with torch.no_grad():
        for tp, sp in zip(teacher.parameters(), student.parameters(), strict=True):
            tp.mul_(decay).add_(sp.detach(), alpha=1 - decay)
        for tb, sb in zip(teacher.buffers(), student.buffers(), strict=True):
            if tb.dtype.is_floating_point:
                tb.mul_(decay).add_(sb, alpha=1 - decay)
            else:
                tb.copy_(sb)


def scores(confusion: torch.Tensor, n: int) -> dict[str, float]:
    """Pixel accuracy and mIoU (over the classes with a non-empty union) from an n*n confusion vector."""
    cm = confusion.view(n, n).double().cpu()
    inter = cm.diag()
    union = cm.sum(0) + cm.sum(1) - inter
    present = union > 0
    return {"pixel_accuracy": float(inter.sum() / cm.sum().clamp(min=1)),
            "miou": float((inter[present] / union[present]).mean()) if present.any() else 0.0}
