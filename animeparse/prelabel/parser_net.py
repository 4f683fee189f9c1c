"""The compact parser: a small U-Net (~0.5 M parameters) that trains on the CPU in minutes.

Pure ``nn.Module`` code: no I/O, no normalisation (the :class:`~animeparse.prelabel.parser.Parser` wrapper does
that). Two coordinate channels (x, y in [-1, 1]) are appended to the input so the net can tell the image's left
from its right: l_/r_ classes look alike and differ only by where they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ParserArch", "ParserNet"]


@dataclass(frozen=True)
class ParserArch:
    """Hyperparameters of :class:`ParserNet`; stored in every checkpoint so it rebuilds the same net.

    ``widths``: channels at 1/1, 1/2, 1/4 and 1/8 of the input side. ``coords``: append x/y coordinate channels.
    """

    num_classes: int
    widths: tuple[int, int, int, int] = (16, 32, 64, 96)
    coords: bool = True
    dilations: tuple[int, ...] = field(default=(2, 4))

    def to_json(self) -> dict[str, Any]:
        return {"num_classes": self.num_classes, "widths": list(self.widths), "coords": self.coords,
                "dilations": list(self.dilations)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ParserArch:
        w = tuple(int(v) for v in data["widths"])
        return cls(num_classes=int(data["num_classes"]), widths=(w[0], w[1], w[2], w[3]),
                   coords=bool(data.get("coords", True)),
                   dilations=tuple(int(v) for v in data.get("dilations", (2, 4))))


def _cbr(c_in: int, c_out: int, *, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, padding=dilation, dilation=dilation, bias=False),
                         nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class ParserNet(nn.Module):
    """Encoder 1/1 -> 1/2 -> 1/4 -> 1/8 (dilated convs there widen the view to the whole face), decoder with skips.

    forward: ``x`` Bx3xHxW float32 (normalised RGB), H and W any size (multiples of 8 avoid rounding) ->
    logits BxCxHxW float32, C = ``arch.num_classes`` (channel k is the k-th class of the label map, by id).
    """

    def __init__(self, arch: ParserArch) -> None:
        super().__init__()
        self.arch = arch
        w0, w1, w2, w3 = arch.widths
        self.enc0 = _cbr(3 + (2 if arch.coords else 0), w0)
        self.enc1 = nn.Sequential(_cbr(w0, w1, stride=2), _cbr(w1, w1))
        self.enc2 = nn.Sequential(_cbr(w1, w2, stride=2), _cbr(w2, w2))
        self.enc3 = nn.Sequential(_cbr(w2, w3, stride=2), _cbr(w3, w3),
                                  *(_cbr(w3, w3, dilation=d) for d in arch.dilations))
        self.dec2 = _cbr(w3 + w2, w2)
        self.dec1 = _cbr(w2 + w1, w1)
        self.dec0 = _cbr(w1 + w0, w0)
        self.head = nn.Conv2d(w0, arch.num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.arch.coords:
            n, _, h, w = x.shape
            ys = torch.linspace(-1.0, 1.0, h, device=x.device, dtype=x.dtype).view(1, 1, h, 1).expand(n, 1, h, w)
            xs = torch.linspace(-1.0, 1.0, w, device=x.device, dtype=x.dtype).view(1, 1, 1, w).expand(n, 1, h, w)
            x = torch.cat([x, xs, ys], dim=1)
        x0 = self.enc0(x)
        x1 = self.enc1(x0)
        x2 = self.enc2(x1)
        x3 = self.enc3(x2)
        y = self.dec2(torch.cat([_up(x3, x2), x2], dim=1))
        y = self.dec1(torch.cat([_up(y, x1), x1], dim=1))
        y = self.dec0(torch.cat([_up(y, x0), x0], dim=1))
        return self.head(y)


def _up(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)
