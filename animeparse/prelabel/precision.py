"""Numeric precision of the models' forward passes: ``fp32``, ``tf32``, ``bf16``, ``fp16`` (``auto`` resolves).

``bf16`` / ``fp16`` run the forward passes under ``torch.autocast`` on the model's device (matmuls and convolutions
in the reduced type, reductions and softmax in float32); ``tf32`` lets CUDA matmuls and convolutions use TensorFloat-32
(on the CPU it is fp32); ``fp32`` changes nothing: the results are today's, byte for byte. ``auto`` is bf16 on a
CUDA GPU that supports it, else fp32. The precision is a result-changing option: it is recorded with the run and is
part of the SAM embedding cache key.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..errors import AnimeparseError

if TYPE_CHECKING:
    import torch

__all__ = ["PRECISIONS", "resolve_precision", "autocast"]

PRECISIONS = ("auto", "fp32", "tf32", "bf16", "fp16")


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto`` -> ``bf16`` on a CUDA device with bf16 support, else ``fp32``; other names are checked."""
    import torch

    if precision not in PRECISIONS:
        raise AnimeparseError(f"--precision {precision!r}: use one of {', '.join(PRECISIONS)}")
    if precision != "auto":
        return precision
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return "bf16"
    return "fp32"


@contextlib.contextmanager
def autocast(device: torch.device, precision: str) -> Iterator[None]:
    """Run the enclosed forward passes at ``precision`` (a resolved name) on ``device``."""
    import torch

    if precision == "fp32" or (precision == "tf32" and device.type != "cuda"):
        yield
        return
    if precision == "tf32":
        matmul, cudnn = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        try:
            yield
        finally:
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = matmul, cudnn
        return
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    with torch.autocast(device_type=device.type, dtype=dtype):
        yield
