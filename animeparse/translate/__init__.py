"""Anime -> manga translators for pseudo-labelled manga data (``animeparse pseudo manga``).

``TRANSLATORS`` maps a name to a loader. A spec is ``NAME`` or ``NAME:ARG``: ``manga-v2`` (the bundled,
parsing-conditioned translator, the default) or ``torchscript:PATH`` (your own generator). torch is imported only
when a translator is loaded.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import AnimeparseError
from .base import (
    Translator,
    file_sha256,
    generator_for,
    images_to_tensor,
    require_torch,
    resolve_device,
    tensor_to_images,
)
from .roles import ROLES, role_lut, single_region_lut

if TYPE_CHECKING:
    import torch

__all__ = ["DEFAULT_TRANSLATOR", "TRANSLATORS", "Translator", "load_translator", "generator_for", "file_sha256",
           "images_to_tensor", "tensor_to_images", "resolve_device", "role_lut", "single_region_lut", "ROLES"]

DEFAULT_TRANSLATOR = "manga-v2"
# earlier bundled translators whose parameters are no longer shipped: name -> why
_RETIRED = {"manga-v1": "manga-v1 inked every mask boundary into the picture; manga-v2 replaced it (its lines "
                        "come from the art)"}


def _bundled(arg: str, device: torch.device) -> Translator:
    if arg:
        raise AnimeparseError(f"translator manga-v2 takes no argument, got {arg!r}; use --translator manga-v2")
    from .bundled import BundledTranslator

    return BundledTranslator(device=device)


def _torchscript(arg: str, device: torch.device) -> Translator:
    if not arg:
        raise AnimeparseError("give the TorchScript file: --translator torchscript:PATH")
    from .torchscript import TorchScriptTranslator

    return TorchScriptTranslator(Path(arg), device=device)


TRANSLATORS: dict[str, Callable[[str, torch.device], Translator]] = {
    "manga-v2": _bundled,
    "torchscript": _torchscript,
}


def load_translator(spec: str = DEFAULT_TRANSLATOR, *, device: str = "auto") -> Translator:
    """Load ``NAME`` or ``NAME:ARG`` from :data:`TRANSLATORS` onto ``device`` (``auto``, ``cpu``, ``cuda``)."""
    name, _, arg = spec.partition(":")
    if name in _RETIRED:
        raise AnimeparseError(f"translator {name} is retired: {_RETIRED[name]}; use --translator {DEFAULT_TRANSLATOR} "
                              "(stores made with it keep their images; a re-run adds new renderings)")
    if name not in TRANSLATORS:
        raise AnimeparseError(f"unknown translator {spec!r}; use one of: manga-v2 (bundled), torchscript:PATH")
    require_torch()
    return TRANSLATORS[name](arg, resolve_device(device))
