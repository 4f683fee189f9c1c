"""Faster SAM image encoders: attention through ``scaled_dot_product_attention``, and ``torch.compile``.

``--sdpa`` replaces the attention of each of segment-anything's ViT blocks with ``F.scaled_dot_product_attention``,
the decomposed relative-position bias passed as an additive mask (the same maths: softmax(q k^T * scale + bias) v;
equal to the original within 1e-5 in float32, tested), so PyTorch can pick a fused kernel. ``--compile`` wraps the
image encoder in ``torch.compile`` with fixed shapes; :class:`~animeparse.prelabel.sam.SamEngine` pads the last
batch to the batch size so one graph serves the run. Both change the last float bits of the embeddings, so they
are part of the embedding cache key (:func:`embedding_variant`) and of the run's result-changing options.
"""

from __future__ import annotations

import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from .run import PrelabelConfig
    from .sam import SamEngine

__all__ = ["sdpa_attention", "use_sdpa", "speed_up", "embedding_variant"]


def sdpa_attention(self: Any, x: torch.Tensor) -> torch.Tensor:
    """segment-anything's ``image_encoder.Attention.forward`` with ``F.scaled_dot_product_attention``.

    ``x``: B x H x W x C; returns B x H x W x C. ``self`` is the Attention module (qkv, proj, num_heads,
    use_rel_pos, rel_pos_h, rel_pos_w)."""
    import torch
    import torch.nn.functional as F
    from segment_anything.modeling.image_encoder import get_rel_pos

    b, h, w, _ = x.shape
    heads = self.num_heads
    qkv = self.qkv(x).reshape(b, h * w, 3, heads, -1).permute(2, 0, 3, 1, 4)
    q, k, v = qkv.reshape(3, b * heads, h * w, -1).unbind(0)
    bias = None
    if self.use_rel_pos:
        rel_h_table = get_rel_pos(h, h, self.rel_pos_h)
        rel_w_table = get_rel_pos(w, w, self.rel_pos_w)
        r_q = q.reshape(b * heads, h, w, -1)
        rel_h = torch.einsum("bhwc,hkc->bhwk", r_q, rel_h_table)
        rel_w = torch.einsum("bhwc,wkc->bhwk", r_q, rel_w_table)
        bias = (rel_h[:, :, :, :, None] + rel_w[:, :, :, None, :]).reshape(b * heads, h * w, h * w).to(q.dtype)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=self.scale)
    out = out.view(b, heads, h, w, -1).permute(0, 2, 3, 1, 4).reshape(b, h, w, -1)
    return self.proj(out)  # type: ignore[no-any-return]


def use_sdpa(image_encoder: torch.nn.Module) -> int:
    """Switch every ViT block's attention of a SAM image encoder to :func:`sdpa_attention`; returns how many."""
    count = 0
    for block in getattr(image_encoder, "blocks", []):
        block.attn.forward = types.MethodType(sdpa_attention, block.attn)
        count += 1
    return count


def speed_up(engine: SamEngine, *, sdpa: bool, compile_encoder: bool, batch_size: int,
             backend: str = "inductor") -> None:
    """Apply ``--sdpa`` / ``--compile`` to a loaded SAM (in place). ``backend``: torch.compile's backend."""
    import torch

    if sdpa:
        use_sdpa(engine.model.image_encoder)
    if compile_encoder:
        engine.model.image_encoder = torch.compile(engine.model.image_encoder, dynamic=False,  # type: ignore[assignment]
                                                   backend=backend)
        engine.pad_batch_to = batch_size


def embedding_variant(config: PrelabelConfig) -> str:
    """The embedding cache's variant for a (resolved) config: empty for today's fp32 encoder, else e.g. ``bf16``,
    ``fp32-sdpa``, ``bf16-sdpa-compile``."""
    extras = [name for name, on in (("sdpa", config.sdpa), ("compile", config.compile)) if on]
    if config.precision == "fp32" and not extras:
        return ""
    return "-".join([config.precision, *extras])
