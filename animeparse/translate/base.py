"""What every translator provides, and the helpers around it: devices, seeded generators, array <-> tensor.

A translator turns a batch of same-size anime images (and their class ids) into manga images of the same size.
It never moves pixels, so the masks of the inputs label the outputs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt

from ..errors import AnimeparseError, MissingDependencyError

if TYPE_CHECKING:
    import torch

__all__ = ["Translator", "require_torch", "resolve_device", "generator_for", "file_sha256", "images_to_tensor",
           "tensor_to_images"]


class Translator(Protocol):
    """A loaded translator. ``name``: the registry spec it was loaded from; ``sha256``: of its parameter file."""

    name: str
    sha256: str
    device: torch.device

    def translate(self, images: torch.Tensor, class_ids: torch.Tensor, *, role_lut: torch.Tensor,
                  generators: Sequence[torch.Generator], color: bool = False) -> torch.Tensor:
        """N x 3 x H x W float32 RGB 0..1 + N x H x W int64 ids + N x 256 int64 role lookup (on ``device``),
        one CPU generator per image -> N x C x H x W float32 0..1 (C = 1 grey or 3 RGB), same H x W."""
        ...


def require_torch() -> None:
    """Fail early, with the install line, when torch is missing."""
    try:
        import torch  # noqa: F401
    except ImportError as err:
        raise MissingDependencyError("torch", "sam") from err


def resolve_device(device: str) -> torch.device:
    """``auto`` (CUDA when available, else CPU), ``cpu``, ``cuda`` or ``cuda:N``; refuse CUDA when absent."""
    require_torch()
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as err:
        raise AnimeparseError(f"unknown device {device!r}; use cpu, cuda, cuda:N or auto") from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise AnimeparseError(f"device {device!r} asked for, but torch sees no CUDA GPU here; use --device cpu "
                              "or --device auto")
    return dev


def generator_for(seed: int, key: str, variant: int) -> torch.Generator:
    """A CPU generator seeded from (seed, key, variant): the same triple gives the same style on every machine,
    whatever the batch or device (styles are drawn on the CPU and then moved)."""
    import torch

    digest = hashlib.sha256(f"animeparse-manga:{seed}:{key}:{variant}".encode()).digest()
    gen = torch.Generator(device="cpu")
    gen.manual_seed(int.from_bytes(digest[:8], "little") & ((1 << 63) - 1))
    return gen


def file_sha256(path: Path) -> str:
    """SHA-256 hex of a file's bytes (streamed)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def images_to_tensor(images: Sequence[npt.NDArray[np.uint8]], device: torch.device) -> torch.Tensor:
    """Same-size HxWx3 uint8 RGB arrays -> N x 3 x H x W float32 0..1 on ``device``."""
    import torch

    batch = torch.from_numpy(np.ascontiguousarray(np.stack(images)))
    return batch.to(device).permute(0, 3, 1, 2).float().div_(255.0)


def tensor_to_images(out: torch.Tensor) -> list[npt.NDArray[np.uint8]]:
    """N x C x H x W float 0..1 (C = 1 or 3) -> HxWx3 uint8 RGB arrays (grey: R = G = B)."""
    import torch

    if out.shape[1] == 1:
        out = out.expand(-1, 3, -1, -1)
    arr = (out.clamp(0, 1) * 255.0).round().to("cpu", dtype=torch.uint8)
    return [np.ascontiguousarray(a) for a in arr.permute(0, 2, 3, 1).numpy()]
