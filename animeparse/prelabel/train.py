"""``parser train``: fit a parser on the store's human (``gt``) masks and its unlabelled images; resumable by epoch.

Supervised part: flips that swap l_/r_ classes, zoom/shift/rotation, and style transforms
(:mod:`~animeparse.prelabel.style`: region recolouring, backdrops from the store's unlabelled images, ink from the
picture's edges, posterising, greyscale and screentone, blur, noise, JPEG), class-weighted cross-entropy plus soft
Dice. Semi-supervised part (when ``unlabeled`` selects images): a mean teacher, the exponential moving average of the
student's weights, labels the unlabelled images where it is confident; the student learns those labels on a
differently augmented and restyled copy, so it must give the same answer on real art in other styles. The teacher is
the model that is kept (it is the smoother of the two).

The run is recorded with ``start_run("parser", ...)``; its checkpoint ``<store>/runs/<run_id>/parser.pt`` is
rewritten after every epoch (``torch.save`` to a temp file, then ``os.replace``), with the optimizer, scheduler and
teacher state, so a run killed at any moment resumes from its last finished epoch and ends where an uninterrupted run
would: every epoch's shuffling and augmentation are drawn from a generator seeded with (seed, epoch). ``time_budget``
(minutes): after each epoch the run re-plans its number of epochs to end within the budget (the learning-rate
schedule is re-fitted to the new length); the plan is stored in the checkpoint, so a resumed run keeps it. Without a
budget the run is exactly reproducible; with one, the number of epochs depends on the machine.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import AnimeparseError
from ..fsutil import atomic_open
from ..store import Dataset, new_run_id
from .device import device_name, file_sha256, load_torch_file, require_torch, resolve_device, torch_versions
from .nets import autocast_dtype, build_net
from .parser import CHECKPOINT_FORMAT, checkpoint_path
from .train_checks import ARCHS, check_config, init_checkpoint
from .trainset import class_weights, load_images, load_pairs, training_samples, unlabeled_samples

if TYPE_CHECKING:
    import torch

__all__ = ["TrainConfig", "TrainResult", "train_parser", "ARCHS"]

log = logging.getLogger(__name__)
Progress = Callable[[int, int | None], None]


def _default_augment() -> dict[str, float]:
    return {"flip": 0.5, "scale": 0.15, "shift": 0.08, "colour": 0.15, "zoom_in": 0.8, "rotate": 15.0}


def _default_style() -> dict[str, float]:
    from .style import StyleConfig

    return asdict(StyleConfig())


@dataclass(frozen=True)
class TrainConfig:
    """Options of ``parser train`` (one field per CLI option).

    ``size``: side the images are resized to (inference uses the same); ``split``: train on this split's ``gt``
    samples (``all``: every split); ``run_id``: resume or name the run (default: resume the newest unfinished run
    with the same options, else a new id); ``dice``: weight of the soft-Dice term; ``arch``: ``unet`` (the compact
    ParserNet) or ``bisenet`` (face-parsing.PyTorch's, ResNet-18 backbone, from ``backbone_weights`` when given);
    ``unlabeled``: the semi-supervised branch's images (``none``, ``all``, ``split:NAME``); ``ssl_weight``: its
    loss weight (ramped up over the first 30 % of the epochs); ``ssl_threshold``: least teacher probability for a
    pseudo-label; ``ema_decay``: the teacher's averaging; ``time_budget``: minutes (None or 0: no budget);
    ``augment`` / ``style``: see :class:`~.augment.AugmentConfig` / :class:`~.style.StyleConfig`; ``init_from``:
    a parser checkpoint of this store's label map and architecture to start from (fine-tuning) instead of ``seed``.
    """

    epochs: int = 40
    size: int = 256
    batch_size: int = 2
    lr: float = 4e-3
    device: str = "auto"
    split: str = "train"
    seed: int = 0
    run_id: str | None = None
    widths: tuple[int, int, int, int] = (16, 32, 64, 96)
    dice: float = 1.0
    augment: dict[str, float] = field(default_factory=_default_augment)
    style: dict[str, float] = field(default_factory=_default_style)
    arch: str = "unet"
    backbone_weights: str | None = None
    unlabeled: str = "all"
    ssl_weight: float = 0.3
    ssl_threshold: float = 0.9
    ema_decay: float = 0.99
    time_budget: float | None = 9.0
    init_from: str | None = None

    def run_params(self) -> dict[str, Any]:
        """What identifies the training (device and run id excluded: a run may resume elsewhere; the backbone
        file is identified by its SHA-256 in the run's models, not by its path)."""
        params = asdict(self)
        for key in ("device", "run_id", "backbone_weights"):
            params.pop(key)
        params["widths"] = list(self.widths)
        return params


@dataclass(frozen=True)
class TrainResult:
    """``checkpoint``: the parser.pt path; ``metrics``: the last epoch's loss / pixel_accuracy / miou (on the
    augmented training batches) and, with unlabelled images, ``pseudo_share`` (pixels the teacher labelled);
    ``resumed_from``: the epoch the run resumed after (0 = fresh); ``epochs``: epochs trained in all (fewer than
    asked when the time budget re-planned the run)."""

    run_id: str
    checkpoint: Path
    epochs: int
    resumed_from: int
    metrics: dict[str, float]
    sha256: str
    seconds: float


def train_parser(ds: Dataset, config: TrainConfig = TrainConfig(), *,
                 progress: Progress | None = None) -> TrainResult:
    """Train (or resume) a parser on ``ds``'s gt masks; ``progress(epochs_done, epochs)`` after each epoch."""
    require_torch()
    check_config(config)
    if config.init_from:
        config = replace(config, init_from=str(init_checkpoint(ds.root, config.init_from)))
    device = resolve_device(config.device)
    params = config.run_params()
    run_id = _pick_run(ds, config, params)
    ckpt_path = checkpoint_path(ds, run_id)
    state = load_torch_file(ckpt_path) if ckpt_path.exists() else None
    if state is not None and state.get("done"):
        return _result(ds, run_id, ckpt_path, state, resumed_from=int(state["epoch"]), seconds=0.0)
    sample_ids = list(state["samples"]) if state else training_samples(ds, config.split)
    unl_ids = list(state.get("unlabeled_samples", [])) if state else unlabeled_samples(ds, config.unlabeled)
    trainer = _Trainer(ds, config, device, sample_ids, unl_ids)
    ds.start_run("parser", params={**params, "samples": len(sample_ids), "unlabeled_samples": len(unl_ids)},
                 models={"parser": trainer.describe()}, run_id=run_id)
    try:
        start = trainer.restore(state) if state is not None else 0
        seconds = trainer.fit(ckpt_path, run_id, start, progress)
    except BaseException as err:
        ds.finish_run(run_id, status="failed", summary={"error": f"{type(err).__name__}: {err}",
                                                        "epoch": trainer.epoch})
        raise
    final = load_torch_file(ckpt_path)
    result = _result(ds, run_id, ckpt_path, final, resumed_from=start, seconds=seconds)
    ds.finish_run(run_id, summary={"epochs": result.epochs, "epochs_asked": config.epochs, "resumed_from": start,
                                   "metrics": result.metrics, "checkpoint": ckpt_path.relative_to(ds.root).as_posix(),
                                   "sha256": result.sha256, "device": device_name(device),
                                   "versions": torch_versions(), "seconds": round(seconds, 2),
                                   "samples": len(sample_ids), "unlabeled_samples": len(unl_ids)})
    return result


class _Trainer:
    """One training run's state: data, nets (student, teacher), optimizer, schedule, plan."""

    def __init__(self, ds: Dataset, config: TrainConfig, device: torch.device, sample_ids: list[str],
                 unl_ids: list[str]) -> None:
        torch = require_torch()
        from .augment import AugmentConfig, channel_flip_lut
        from .style import RECOLOUR_CLASSES, SHADE_CLASSES, StyleConfig

        self.ds, self.config, self.device = ds, config, device
        self.sample_ids, self.unl_ids = sample_ids, unl_ids
        self.n_classes = len(ds.labelmap)
        self.images, self.targets = load_pairs(ds, sample_ids, config.size)
        self.unlabeled = load_images(ds, unl_ids, config.size) if unl_ids else None
        self.model, self.arch_json, self.norm, self.backbone = build_net(
            config.arch, self.n_classes, seed=config.seed, widths=config.widths,
            backbone_weights=config.backbone_weights, init_from=config.init_from, labelmap=ds.labelmap)
        # channels-last convolutions are ~20 % faster on the CPU (oneDNN) and no slower on CUDA
        self.model.to(device, memory_format=torch.channels_last)
        self.teacher = copy.deepcopy(self.model).eval() if unl_ids and config.ssl_weight > 0 else None
        self.steps = (len(sample_ids) + config.batch_size - 1) // config.batch_size
        self.planned = config.epochs
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.lr, weight_decay=1e-4)
        self.scheduler = self._schedule(0)
        self.history: list[dict[str, float]] = []
        self.spent = 0.0  # seconds of training over all invocations (the budget counts them all)
        self.epoch_times: list[float] = []  # this invocation's epochs, for the time budget
        self.epoch = 0
        self.weights = class_weights(self.targets, self.n_classes).to(device)
        self.flip_lut = torch.from_numpy(channel_flip_lut(ds.labelmap)).to(device)
        self.augment = AugmentConfig(**config.augment)
        self.style = StyleConfig(**config.style)
        names = ds.labelmap.names
        self.recolour = torch.tensor([k for k, n in enumerate(names) if n in RECOLOUR_CLASSES], dtype=torch.long)
        self.background, self.hair = (names.index(n) if n in names else None for n in ("background", "hair"))
        self.shade = [k for k, n in enumerate(names) if n in SHADE_CLASSES]
        self.mean = torch.tensor(self.norm[0], device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(self.norm[1], device=device).view(1, 3, 1, 1)
        self.amp = autocast_dtype(device)

    def describe(self) -> dict[str, Any]:
        return {"kind": "animeparse", "arch": self.arch_json.get("kind", "unet"),
                "init": ("checkpoint" if "init_from" in self.backbone else "backbone") if self.backbone else "random",
                "backbone": self.backbone}

    def _schedule(self, done_steps: int) -> Any:
        """A one-cycle schedule over the planned epochs, positioned after ``done_steps`` optimizer steps."""
        torch = require_torch()
        total = max(self.planned * self.steps, done_steps + 1)
        return torch.optim.lr_scheduler.OneCycleLR(self.optimizer, max_lr=self.config.lr, total_steps=total,
                                                   pct_start=0.15, last_epoch=done_steps - 1)

    def restore(self, state: dict[str, Any]) -> int:
        self.model.load_state_dict(state.get("student", state["state_dict"]))
        if self.teacher is not None:
            self.teacher.load_state_dict(state["state_dict"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.planned = int(state.get("planned", state["epochs"]))
        self.scheduler.load_state_dict(state["scheduler"])
        self.epoch, self.history = int(state["epoch"]), list(state["history"])
        self.spent = float(state.get("spent", 0.0))
        log.info("resuming parser run after epoch %d/%d", self.epoch, self.planned)
        return self.epoch

    def fit(self, ckpt_path: Path, run_id: str, start: int, progress: Progress | None) -> float:
        """Train from epoch ``start`` to the plan; returns the seconds this invocation trained."""
        torch = require_torch()
        t_invocation = time.perf_counter()
        while self.epoch < self.planned:
            t0 = time.perf_counter()
            gen = torch.Generator().manual_seed(self.config.seed * 100_003 + self.epoch)
            metrics = self._epoch(gen)
            self.epoch += 1
            self.spent += time.perf_counter() - t0
            self._replan(time.perf_counter() - t0)
            self.history.append(metrics)
            self._save(ckpt_path, metrics)
            log.info("parser %s epoch %d/%d loss %.3f miou %.3f", run_id, self.epoch, self.planned,
                     metrics["loss"], metrics["miou"])
            if progress is not None:
                progress(self.epoch, self.planned)
        return time.perf_counter() - t_invocation

    def _replan(self, epoch_seconds: float) -> None:
        """With a time budget, fit the plan to the time left: the median of the last three epochs' durations
        (robust to one slow epoch on a busy machine) says how many more fit, up to ``epochs``; the schedule is
        re-fitted whenever the plan changes."""
        budget = (self.config.time_budget or 0.0) * 60.0
        self.epoch_times.append(epoch_seconds)
        if budget <= 0 or self.epoch >= self.planned:
            return
        per_epoch = float(np.median(self.epoch_times[-3:]))
        fits = self.epoch + int(max(0.0, budget - self.spent) // max(per_epoch, 1e-6))
        new = min(self.config.epochs, max(fits, self.epoch + 1 if fits > self.epoch else self.epoch))
        if new != self.planned:
            log.info("time budget: %d epochs instead of %d", new, self.planned)
            self.planned = new
            if new > self.epoch:
                self.scheduler = self._schedule(self.epoch * self.steps)

    def _forward(self, model: torch.nn.Module, x: torch.Tensor) -> Any:
        torch = require_torch()
        x = ((x - self.mean) / self.std).contiguous(memory_format=torch.channels_last)
        if self.amp is None:
            return model(x)
        with torch.autocast(device_type=self.device.type, dtype=self.amp):
            return model(x)

    def _epoch(self, gen: torch.Generator) -> dict[str, float]:
        torch = require_torch()
        from .augment import augment_batch
        from .losses import ema_update, pseudo_labels, scores, supervised_loss
        from .style import style_batch

        cfg, n = self.config, self.n_classes
        order = torch.randperm(len(self.sample_ids), generator=gen)
        unl_order = torch.randperm(len(self.unl_ids), generator=gen) if self.teacher is not None else None
        # the unlabelled branch starts after the first epoch (the teacher knows nothing before) and ramps up
        ramp = min(1.0, self.epoch / max(1.0, 0.3 * self.planned)) if self.teacher is not None else 0.0
        self.model.train()
        confusion = torch.zeros(n * n, dtype=torch.int64, device=self.device)
        losses, kept = [], []
        skipped = 0

        def restyle(x: Any, y: Any) -> Any:
            return style_batch(x, y, generator=gen, config=self.style, recolour_channels=self.recolour,
                               background_channel=self.background, backgrounds=self.unlabeled,
                               shade_channels=self.shade, hair_channel=self.hair)

        for k in range(0, len(order), cfg.batch_size):
            idx = order[k : k + cfg.batch_size]
            x = self.images[idx].to(self.device).float() / 255.0
            y = self.targets[idx].to(self.device).long()
            x, y = augment_batch(x, y, flip_lut=self.flip_lut, generator=gen, config=self.augment)
            x = restyle(x, y)
            out = self._forward(self.model, x)
            loss = self._loss(out, y)
            logits = out[0] if isinstance(out, tuple) else out
            if ramp > 0 and unl_order is not None and self.teacher is not None and self.unlabeled is not None:
                j = (k // cfg.batch_size) * cfg.batch_size
                uidx = unl_order[torch.arange(j, j + cfg.batch_size) % len(unl_order)]
                ux = self.unlabeled[uidx].to(self.device).float() / 255.0
                with torch.no_grad():
                    t_out = self._forward(self.teacher, ux)
                    pl, share = pseudo_labels(t_out[0] if isinstance(t_out, tuple) else t_out,
                                              threshold=cfg.ssl_threshold)
                kept.append(share)
                ux, pl = augment_batch(ux, pl, flip_lut=self.flip_lut, generator=gen, config=self.augment)
                ux = restyle(ux, pl)
                u_out = self._forward(self.model, ux)
                u_logits = u_out[0] if isinstance(u_out, tuple) else u_out
                loss = loss + cfg.ssl_weight * ramp * supervised_loss(u_logits, pl, self.weights, dice=0.0)
            self.optimizer.zero_grad(set_to_none=True)
            if not bool(torch.isfinite(loss)):
                # one bad batch must not poison the weights: skip its step (counted in the epoch's metrics)
                skipped += 1
                self.scheduler.step()
                continue
            loss.backward()
            self.optimizer.step()
            self.scheduler.step()
            if self.teacher is not None:
                # the usual warm-up: early on the teacher follows the student closely, later it averages
                step = self.epoch * self.steps + k // cfg.batch_size
                ema_update(self.teacher, self.model, decay=min(cfg.ema_decay, (1 + step) / (10 + step)))
            losses.append(float(loss.detach()))
            valid = y >= 0
            confusion += torch.bincount(y[valid] * n + logits.detach().argmax(1)[valid], minlength=n * n)
        metrics = {"epoch": self.epoch + 1, "loss": float(np.mean(losses)) if losses else float("nan"),
                   **scores(confusion, n)}
        if kept:
            metrics["pseudo_share"] = float(np.mean(kept))
        if skipped:
            metrics["skipped_steps"] = skipped
            log.warning("epoch %d: %d steps skipped (non-finite loss)", self.epoch + 1, skipped)
        return metrics

    def _loss(self, out: Any, y: torch.Tensor) -> torch.Tensor:
        from .losses import supervised_loss

        def main(logits: torch.Tensor) -> torch.Tensor:
            return supervised_loss(logits, y, self.weights, dice=self.config.dice)

        if isinstance(out, tuple):  # BiSeNet in training mode: (out, out16, out32)
            from .bisenet_init import bisenet_loss

            return bisenet_loss(out, main)
        return main(out)

    def _save(self, path: Path, metrics: dict[str, float]) -> None:
        """torch.save into a temp file beside ``path``, fsync, ``os.replace``: a kill leaves the old or the new."""
        torch = require_torch()
        import json

        final = self.teacher if self.teacher is not None else self.model
        data = {
            "format": CHECKPOINT_FORMAT, "format_version": 1, "arch": self.arch_json, "size": self.config.size,
            "mean": list(self.norm[0]), "std": list(self.norm[1]),
            "labelmap": json.dumps(self.ds.labelmap.to_json(), sort_keys=True), "state_dict": final.state_dict(),
            "epoch": self.epoch, "epochs": self.config.epochs, "planned": self.planned,
            "done": self.epoch >= self.planned, "metrics": metrics, "history": self.history,
            "samples": self.sample_ids, "unlabeled_samples": self.unl_ids, "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(), "params": self.config.run_params(), "spent": self.spent}
        if self.teacher is not None:
            data["student"] = self.model.state_dict()
        with atomic_open(path, "wb") as fh:
            torch.save(data, fh)


def _pick_run(ds: Dataset, config: TrainConfig, params: dict[str, Any]) -> str:
    """An explicit id (its options must match if it exists), else the newest unfinished run with these options."""
    def same(run_params: dict[str, Any]) -> bool:
        return {k: v for k, v in run_params.items() if k not in ("samples", "unlabeled_samples")} == params

    if config.run_id:
        run = ds.run(config.run_id)
        if run is not None and (run.kind != "parser" or not same(run.params)):
            old = {k: v for k, v in run.params.items() if k not in ("samples", "unlabeled_samples")}
            raise AnimeparseError(f"run {config.run_id} exists with other options ({run.kind}: {old}); choose "
                                  "another --run id, or repeat that run's options to resume it", path=ds.root)
        return config.run_id
    for run in reversed(ds.runs(kind="parser")):
        if run.status != "finished" and same(run.params):
            return run.id
    return new_run_id("parser")


def _result(ds: Dataset, run_id: str, path: Path, state: dict[str, Any], *, resumed_from: int,
            seconds: float) -> TrainResult:
    metrics = {k: float(v) for k, v in state["metrics"].items() if k != "epoch"}
    return TrainResult(run_id=run_id, checkpoint=path, epochs=int(state["epoch"]), resumed_from=resumed_from,
                       metrics=metrics, sha256=file_sha256(path), seconds=seconds)
