"""Lazy imports of the heavy optional dependencies, device selection, and file hashes.

torch and segment_anything are imported only inside functions (``import animeparse`` stays light); a missing one
raises :class:`MissingDependencyError` naming the ``sam`` extra. The device is always a parameter: the same code
runs on ``cpu`` and ``cuda``.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ..errors import AnimeparseError, MissingDependencyError

if TYPE_CHECKING:
    import torch

__all__ = ["DEVICES", "require_torch", "require_segment_anything", "resolve_device", "device_name", "file_sha256",
           "torch_versions", "load_torch_file"]

DEVICES = ("auto", "cpu", "cuda")


def require_torch() -> ModuleType:
    """The ``torch`` module, or MissingDependencyError naming the ``sam`` extra."""
    try:
        import torch
    except ImportError as err:
        raise MissingDependencyError("torch", "sam") from err
    return torch


def require_segment_anything() -> ModuleType:
    """The ``segment_anything`` module, or MissingDependencyError naming the ``sam`` extra."""
    require_torch()
    try:
        import segment_anything
    except ImportError as err:
        raise MissingDependencyError("segment_anything", "sam") from err
    return segment_anything


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` -> ``cuda`` when available, else ``cpu``; ``cuda`` (or ``cuda:N``) without CUDA is refused.

    Raises AnimeparseError with the reason and the fix when CUDA was asked for and torch cannot use it.
    """
    torch = require_torch()
    name = (device or "auto").strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            built = torch.version.cuda or "no CUDA (a CPU-only build)"
            raise AnimeparseError(
                f"--gpu / --device {name} asked for a CUDA GPU, but torch {torch.__version__} (built for CUDA "
                f"{built}) finds none: torch.cuda.is_available() is False. Check the driver (nvidia-smi) and "
                "CUDA_VISIBLE_DEVICES, or run on the CPU with --device cpu (or auto)")
        dev = torch.device(name)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise AnimeparseError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA device(s); "
                                  "use cuda:0 .. cuda:N-1")
        return dev
    raise AnimeparseError(f"unknown device {device!r}; use one of {', '.join(DEVICES)} (or cuda:N)")


def device_name(device: torch.device) -> str:
    """``cpu`` or ``cuda:0 (NVIDIA H100 80GB HBM3)``: what the run record says the work ran on."""
    torch = require_torch()
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    return str(device)


def torch_versions() -> dict[str, str]:
    """Versions of torch, torchvision and segment-anything (those installed), for run records."""
    from importlib import metadata

    out: dict[str, str] = {}
    for dist in ("torch", "torchvision", "segment-anything"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return out


def file_sha256(path: Path | str, *, chunk: int = 1 << 22) -> str:
    """SHA-256 hex digest of a file, read in 4 MiB chunks (a 2.5 GB vit_h checkpoint hashes in seconds)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def load_torch_file(path: Path | str) -> Any:
    """``torch.load(path, map_location="cpu", weights_only=True)``: tensors and plain containers only, never code.

    Raises AnimeparseError naming the file when it is not a torch file or holds pickled code.
    """
    torch = require_torch()
    path = Path(path)
    if not path.is_file():
        raise AnimeparseError("checkpoint not found; check the path", path=path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises UnpicklingError, RuntimeError, EOFError... for bad files
        text = str(err)
        blocked = re.search(r"unsupported GLOBAL (\S+)", text)
        if blocked:  # a pickle that would import (and could run) code: torch's advice to retry unsafely is not ours
            raise AnimeparseError(f"holds pickled Python objects (it would import {blocked.group(1)}); refused "
                                  "without running anything: a checkpoint must be a weights-only state dict of "
                                  "tensors", path=path) from err
        detail = next((ln.strip() for ln in text.splitlines() if "Unsupported operand" in ln), None) \
            if "Weights only load failed" in text else (text.splitlines() or [""])[0]
        if isinstance(err, EOFError):
            detail = "the file is empty or ends early"
        raise AnimeparseError(f"cannot be read as a torch checkpoint of tensors ({type(err).__name__}: "
                              f"{detail or 'not a pickle of tensors'}); is it a complete, weights-only state dict?",
                              path=path) from err
