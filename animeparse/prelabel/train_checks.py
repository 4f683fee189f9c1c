"""The checks ``parser train`` runs on its options before anything is read or written."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import AnimeparseError

if TYPE_CHECKING:
    from .train import TrainConfig

__all__ = ["ARCHS", "check_config", "init_checkpoint"]

ARCHS = ("unet", "bisenet")


def check_config(config: TrainConfig) -> None:
    """Refuse ``parser train`` options that cannot work, with the option named and what it needs."""
    if config.epochs < 1 or config.batch_size < 1 or config.size < 32 or config.size % 8:
        raise AnimeparseError(f"parser train: need epochs >= 1, batch size >= 1 and a size >= 32 that is a "
                              f"multiple of 8; got epochs={config.epochs}, batch size={config.batch_size}, "
                              f"size={config.size}")
    if config.arch not in ARCHS:
        raise AnimeparseError(f"--arch {config.arch!r}: use one of {', '.join(ARCHS)}")
    if config.backbone_weights and config.arch != "bisenet":
        raise AnimeparseError("--backbone-weights starts BiSeNet's ResNet-18; it needs --arch bisenet")
    if not 0.0 <= config.ssl_threshold <= 1.0 or not 0.0 <= config.ema_decay < 1.0 or config.ssl_weight < 0:
        raise AnimeparseError(f"need --ssl-threshold in [0, 1], --ema-decay in [0, 1) and --ssl-weight >= 0; got "
                              f"{config.ssl_threshold}, {config.ema_decay}, {config.ssl_weight}")
    if config.time_budget is not None and config.time_budget < 0:
        raise AnimeparseError(f"--time-budget is in minutes and must be >= 0 (0 = none), got {config.time_budget}")




def init_checkpoint(root: Path, init_from: str) -> Path:
    """``--init-from``: a parser run id of the store at ``root`` (its ``runs/<id>/parser.pt``) or a checkpoint path."""
    candidate = root / "runs" / init_from / "parser.pt"
    if "/" not in init_from and candidate.is_file():
        return candidate
    path = Path(init_from).expanduser()
    if not path.is_file():
        raise AnimeparseError("--init-from is neither a parser run of this store nor a file; give a run id (animeparse "
                              "info lists them) or a parser.pt path", path=init_from)
    return path
