"""Start a trainable BiSeNet: seeded default init, ImageNet ResNet-18 backbone weights, the three-output loss.

``init_bisenet`` builds :class:`~animeparse.prelabel.bisenet.BiSeNet` under a forked, seeded RNG (the caller's
global RNG is untouched) and optionally loads a torchvision ImageNet ResNet-18 state dict into ``model.cp.resnet``
with :func:`load_backbone_weights`, which checks key by key that the whole backbone is covered. ``bisenet_loss``
combines the main and the two auxiliary heads as face-parsing.PyTorch's ``train.py`` does. torch is imported only
inside the functions, like the rest of ``prelabel``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import AnimeparseError
from .device import file_sha256, load_torch_file, require_torch

if TYPE_CHECKING:
    import torch

    from .bisenet import BiSeNet

__all__ = ["load_backbone_weights", "init_bisenet", "bisenet_loss"]

_FIX = ("pass torchvision's resnet18 ImageNet weights, e.g. resnet18-f37072fd.pth (torchvision's current "
        "IMAGENET1K_V1 file; face-parsing.PyTorch used the older resnet18-5c106cde.pth, same layout)")
# checkpoint wrappers seen in the wild: {"state_dict": sd} (Lightning, mmcv), {"model": sd} (DeiT, detectron-style)
_WRAPPERS = ("state_dict", "model")
_IGNORED_PREFIXES = ("fc.",)  # torchvision's 1000-way ImageNet classifier; BiSeNet's ResNet-18 has none
_OPTIONAL_SUFFIX = "num_batches_tracked"  # older torchvision files lack it; BatchNorm only uses it with momentum=None
_SHOW = 5  # keys named in a message before "..."


def _unwrap(obj: Any) -> Any:
    for _ in range(3):  # {"model": {"state_dict": ...}} is as deep as anyone nests
        if isinstance(obj, Mapping):
            inner = next((obj[k] for k in _WRAPPERS if isinstance(obj.get(k), Mapping)), None)
            if inner is not None:
                obj = inner
                continue
        break
    return obj


def _strip_module(key: str) -> str:
    while key.startswith("module."):  # DataParallel / DistributedDataParallel, possibly nested
        key = key[len("module."):]
    return key


def _listed(keys: list[str]) -> str:
    return ", ".join(keys[:_SHOW]) + (", ..." if len(keys) > _SHOW else "")


def load_backbone_weights(model: BiSeNet, path: Path) -> dict:
    """Copy a torchvision ImageNet ResNet-18 state dict into ``model.cp.resnet``, in place.

    The file is read with ``torch.load(path, map_location="cpu", weights_only=True)``. Accepted: a flat state dict
    with torchvision's keys (``conv1.weight`` 64x3x7x7, ``bn1.*``, ``layer1.0.conv1.weight``, ...,
    ``layer2.0.downsample.0.weight`` / ``downsample.1.*``), possibly wrapped as ``{"state_dict": sd}`` or
    ``{"model": sd}`` and possibly with ``module.`` prefixes. ``fc.*`` is ignored. Every parameter and BatchNorm
    buffer of the backbone must be in the file with the same shape (``num_batches_tracked`` may be missing: the
    model's own value is kept); keys the backbone does not have (a ResNet-34's ``layer1.2.*``) are refused rather
    than dropped. Tensors are cast to the model's dtype on copy.

    Returns ``{"path": str, "sha256": hex digest of the file, "keys": number of tensors taken from the file}``.
    Raises AnimeparseError naming the file, what is wrong (not a state dict; missing / unexpected keys with a count
    and the first few; a shape mismatch with both shapes) and the fix.
    """
    torch = require_torch()
    path = Path(path)
    raw = _unwrap(load_torch_file(path))
    if not isinstance(raw, Mapping):
        raise AnimeparseError(f"is not a state dict: it holds a {type(raw).__name__}, expected a dict of parameter "
                              f"name -> tensor; {_FIX}", path=path)
    source: dict[str, Any] = {}
    for key, value in raw.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            continue  # metadata beside the tensors (epoch, arch, ...) is not ours to judge
        name = _strip_module(key)
        if not name.startswith(_IGNORED_PREFIXES):
            source[name] = value
    if not source:
        keys = [str(k) for k in raw][: _SHOW + 1]
        raise AnimeparseError(f"is not a state dict of tensors: none of its {len(raw)} entries is a tensor "
                              f"(keys: {_listed(keys) or 'none'}); {_FIX}", path=path)

    target = model.cp.resnet.state_dict()
    required = [k for k in target if not k.endswith(_OPTIONAL_SUFFIX)]
    missing = [k for k in required if k not in source]
    if missing:
        raise AnimeparseError(f"is missing {len(missing)} of the {len(required)} ResNet-18 backbone tensors BiSeNet "
                              f"needs ({_listed(missing)}); is it a ResNet-18 state dict? {_FIX}", path=path)
    unexpected = sorted(k for k in source if k not in target)
    if unexpected:
        raise AnimeparseError(f"has {len(unexpected)} tensors a ResNet-18 backbone does not have "
                              f"({_listed(unexpected)}); is it another ResNet (34, 50, ...)? {_FIX}", path=path)
    for key, value in source.items():
        if tuple(value.shape) != tuple(target[key].shape):
            raise AnimeparseError(f"tensor {key} has shape {tuple(value.shape)}, BiSeNet's ResNet-18 expects "
                                  f"{tuple(target[key].shape)}; {_FIX}", path=path)
        if not (value.is_floating_point() or key.endswith(_OPTIONAL_SUFFIX)):
            raise AnimeparseError(f"tensor {key} is {value.dtype}, expected floating point weights; {_FIX}",
                                  path=path)

    complete = {key: source.get(key, target[key]) for key in target}
    model.cp.resnet.load_state_dict(complete, strict=True)
    return {"path": str(path), "sha256": file_sha256(path), "keys": len(source)}


def init_bisenet(num_classes: int, *, backbone_weights: Path | None, seed: int) -> tuple[BiSeNet, dict | None]:
    """A fresh BiSeNet(num_classes) in train mode, float32 on the CPU, reproducible by ``seed``.

    Every layer gets torch's default init drawn from a forked CPU RNG seeded with ``seed``, so the caller's global
    RNG state is unchanged. With ``backbone_weights`` the ResNet-18 is then overwritten by
    :func:`load_backbone_weights`, whose info dict is returned beside the model (None without weights).
    """
    torch = require_torch()
    from .bisenet import BiSeNet

    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise AnimeparseError(f"BiSeNet needs num_classes >= 1 (an int), got {num_classes!r}; pass the label "
                              "map's class count")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = BiSeNet(num_classes)
    info = load_backbone_weights(model, backbone_weights) if backbone_weights is not None else None
    return model, info


def bisenet_loss(outputs: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
                 main_loss: Callable[[torch.Tensor], torch.Tensor], aux_weight: float = 1.0) -> torch.Tensor:
    """``main_loss(out) + aux_weight * (main_loss(out16) + main_loss(out32))``: a 0-dim float tensor.

    ``outputs`` is what :meth:`BiSeNet.forward` returns: three BxCxHxW float logits, all already upsampled
    (bilinear) to the input's HxW, so one loss closure over the BxHxW int64 targets serves every head.
    face-parsing.PyTorch's ``train.py`` sums the three heads with weight 1 (the default here), each an
    OHEM cross-entropy (score threshold 0.7, at least B*H*W/16 pixels); ``main_loss`` decides that.
    The auxiliary heads only shape training; inference reads ``out``.
    """
    out, out16, out32 = outputs
    return main_loss(out) + aux_weight * (main_loss(out16) + main_loss(out32))
