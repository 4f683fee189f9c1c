"""The nets ``parser train`` can fit, built the same way for a fresh run and a resumed one."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from .device import require_torch

if TYPE_CHECKING:
    import torch

__all__ = ["build_net", "autocast_dtype"]

Norm = tuple[tuple[float, float, float], tuple[float, float, float]]


def build_net(arch: str, n_classes: int, *, seed: int, widths: tuple[int, int, int, int],
              backbone_weights: str | None) -> tuple[Any, dict[str, Any], Norm, dict[str, Any] | None]:
    """(model, arch JSON for the checkpoint, (mean, std) input normalisation, backbone info or None).

    ``unet``: :class:`~.parser_net.ParserNet` with ``widths``, initialised under ``seed`` (the global RNG is left
    alone); ``bisenet``: face-parsing.PyTorch's BiSeNet, its ResNet-18 from ``backbone_weights`` when given.
    """
    torch = require_torch()
    from .parser import PARSER_MEAN, PARSER_STD

    if arch == "bisenet":
        from .bisenet import IMAGENET_MEAN, IMAGENET_STD
        from .bisenet_init import init_bisenet

        weights = Path(backbone_weights) if backbone_weights else None
        model, info = init_bisenet(n_classes, backbone_weights=weights, seed=seed)
        return model, {"kind": "bisenet", "num_classes": n_classes}, (IMAGENET_MEAN, IMAGENET_STD), info
    from .parser_net import ParserArch, ParserNet

    spec = ParserArch(num_classes=n_classes, widths=widths)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = ParserNet(spec)
    return net, spec.to_json(), (PARSER_MEAN, PARSER_STD), None


def autocast_dtype(device: torch.device) -> Any:
    """Mixed precision on CUDA (bf16 where supported, else fp16); None (fp32) on the CPU."""
    torch = require_torch()
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
