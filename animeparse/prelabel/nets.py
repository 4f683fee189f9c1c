"""The nets ``parser train`` can fit, built the same way for a fresh run and a resumed one."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from .device import require_torch

if TYPE_CHECKING:
    import torch

    from ..labelmap import LabelMap

__all__ = ["build_net", "autocast_dtype"]

Norm = tuple[tuple[float, float, float], tuple[float, float, float]]


def build_net(arch: str, n_classes: int, *, seed: int, widths: tuple[int, int, int, int],
              backbone_weights: str | None, init_from: str | None = None, labelmap: LabelMap | None = None
              ) -> tuple[Any, dict[str, Any], Norm, dict[str, Any] | None]:
    """(model, arch JSON for the checkpoint, (mean, std) input normalisation, backbone info or None).

    ``unet``: :class:`~.parser_net.ParserNet` with ``widths``, initialised under ``seed`` (the global RNG is left
    alone); ``bisenet``: face-parsing.PyTorch's BiSeNet, its ResNet-18 from ``backbone_weights`` when given.
    ``init_from``: then load a parser checkpoint's weights (of ``labelmap``, same architecture): fine-tuning.
    """
    model, spec, norm, info = _build(arch, n_classes, seed=seed, widths=widths, backbone_weights=backbone_weights)
    if init_from:
        info = {**(info or {}), **_load_init(model, Path(init_from), labelmap)}
    return model, spec, norm, info


def _load_init(model: Any, path: Path, labelmap: LabelMap | None) -> dict[str, Any]:
    """Copy a parser checkpoint's weights into ``model`` (strictly); what to record about them."""
    import torch

    from ..errors import AnimeparseError
    from .parser import parser_from_checkpoint

    if labelmap is None:
        raise AnimeparseError("fine-tuning needs the store's label map", path=path)
    source = parser_from_checkpoint(path, labelmap, torch.device("cpu"))
    try:
        model.load_state_dict(source.model.state_dict(), strict=True)
    except RuntimeError as err:
        raise AnimeparseError(f"cannot fine-tune from this parser: its net is not the one being trained (other "
                              f"--arch or widths): {str(err).splitlines()[0]}", path=path) from err
    return {"init_from": str(path), "init_sha256": source.sha256}


def _build(arch: str, n_classes: int, *, seed: int, widths: tuple[int, int, int, int],
           backbone_weights: str | None) -> tuple[Any, dict[str, Any], Norm, dict[str, Any] | None]:
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
