"""``torchscript:PATH``: a user's own image -> image generator saved with ``torch.jit.save``.

Called as ``module(images)`` with N x 3 x H x W float32 RGB in 0..1, or ``module(images, mask)`` when its forward
takes two arguments (``mask``: N x 1 x H x W float32 class ids, 255 = ignore). It must return N x 1 x H x W or
N x 3 x H x W in 0..1 at the input's size; anything else is refused naming the file, because a resized output
would no longer match the masks.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import torch

from ..errors import FormatError
from .base import file_sha256

__all__ = ["TorchScriptTranslator"]


class TorchScriptTranslator:
    """Runs a TorchScript file as a translator. The global RNG is seeded from the first image's generator inside
    ``fork_rng`` (restored after), so a stochastic generator is reproducible per batch."""

    def __init__(self, path: Path, *, device: torch.device) -> None:
        path = Path(path).expanduser()
        if not path.is_file():
            raise FormatError("TorchScript translator file not found; pass --translator torchscript:PATH to a file "
                              "saved with torch.jit.save", path=path)
        self.path = path
        self.name = f"torchscript:{path}"
        self.device = device
        self.sha256 = file_sha256(path)
        try:
            with warnings.catch_warnings():
                # torch 2.14 marks TorchScript deprecated in favour of torch.export; the format is what users have
                warnings.simplefilter("ignore", FutureWarning)
                self.module = torch.jit.load(str(path), map_location=device).eval()
        except Exception as err:  # torch raises RuntimeError, ValueError or pickle errors for a non-TorchScript file
            raise FormatError(f"is not a TorchScript file ({err}); save the model with "
                              "torch.jit.save(torch.jit.script(model), PATH)", path=path) from err
        arguments = self.module.forward.schema.arguments  # the first one is self
        self.takes_mask = len(arguments) >= 3

    def translate(self, images: torch.Tensor, class_ids: torch.Tensor, *, role_lut: torch.Tensor,
                  generators: Sequence[torch.Generator], color: bool = False) -> torch.Tensor:
        """See :class:`animeparse.translate.base.Translator`; ``role_lut`` and ``color`` are the model's own business
        and not passed. Raises FormatError naming the file when the output is not N x 1|3 x H x W."""
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices), torch.inference_mode():
            torch.manual_seed(generators[0].initial_seed() if generators else 0)
            try:
                out = self.module(images, class_ids[:, None].float()) if self.takes_mask else self.module(images)
            except RuntimeError as err:
                raise FormatError(f"TorchScript translator failed on a batch of shape {tuple(images.shape)} ({err})",
                                  path=self.path) from err
        n, _, h, w = images.shape
        if not isinstance(out, torch.Tensor) or out.ndim != 4 or out.shape[0] != n or out.shape[1] not in (1, 3) \
                or tuple(out.shape[2:]) != (h, w):
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise FormatError(f"TorchScript translator returned {got} for input {tuple(images.shape)}; it must "
                              f"return N x 1 or N x 3 x {h} x {w} (the input's size), or the masks would not fit "
                              "its images", path=self.path)
        return out.float().clamp(0, 1)
