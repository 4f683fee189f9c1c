"""``prelabel`` (+ ``prelabel evaluate``), ``parser train``, ``models fetch`` / ``models list``.

Each command parses its options into the library's config, makes one library call and prints the result. torch
is imported only when a command runs, so ``animeparse --help`` stays fast without it.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from ..executor import EngineConfig
from .common import RunOrSubcommand, echo_table, engine_options, progress_bar, say

_DEVICE_HELP = "auto (CUDA when available, else CPU), cpu, cuda or cuda:N."
_DS = click.Path(path_type=Path, file_okay=False, exists=True)


def cleanup_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The clean-up stage's options, handed to the command as one ``cleanup`` CleanupConfig."""
    options = [
        click.option("--no-cleanup", is_flag=True, help="Write the raw argmax: no clean-up stage at all."),
        click.option("--min-area", type=click.FloatRange(0, 1), default=0.001, show_default=True,
                     help="Drop pieces smaller than this share of the image (they take the surrounding class)."),
        click.option("--no-fill-holes", is_flag=True,
                     help="Keep holes of lower-priority classes inside a class (e.g. background inside skin)."),
        click.option("--max-hole", type=click.FloatRange(0, 1), default=0.02, show_default=True,
                     help="Largest hole filled, as a share of the image."),
        click.option("--no-max-parts", is_flag=True,
                     help="Ignore the label map's max_parts (one nose, one mouth... per face)."),
        click.option("--no-lr-side", is_flag=True,
                     help="Do not swap l_/r_ pairs that contradict the store's lr_convention."),
        click.option("--min-confidence", type=click.FloatRange(0, 1), default=0.0, show_default=True,
                     help="Pixels less confident than this become the ignore index (255) for the annotator; 0 = off."),
    ]

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from ..prelabel.cleanup import CleanupConfig

        kwargs["cleanup"] = CleanupConfig(
            enabled=not kwargs.pop("no_cleanup"), min_area=kwargs.pop("min_area"),
            fill_holes=not kwargs.pop("no_fill_holes"), max_hole=kwargs.pop("max_hole"),
            max_parts=not kwargs.pop("no_max_parts"), lr_side=not kwargs.pop("no_lr_side"),
            min_confidence=kwargs.pop("min_confidence"))
        return func(*args, **kwargs)

    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper


def _device(device: str, gpu: bool) -> str:
    if gpu and device not in ("auto", "cuda") and not device.startswith("cuda:"):
        raise click.UsageError(f"--gpu and --device {device} contradict each other; give one")
    return "cuda" if gpu and device == "auto" else device


@click.group("prelabel", cls=RunOrSubcommand, usage=["DS [OPTIONS]", "|", "evaluate DS [OPTIONS]"])
@click.argument("ds", type=_DS, required=False)
@click.option("--gpu", is_flag=True, help="Run on the CUDA GPU (same as --device cuda); fails clearly without one.")
@click.option("--device", default="auto", show_default=True, metavar="DEVICE", help=_DEVICE_HELP)
@click.option("--sam", "sam", type=click.Choice(["auto", "vit_h", "vit_l", "vit_b", "none"]), default="auto",
              show_default=True, help="SAM architecture; auto: --checkpoint's, else a fetched one, else none (parser "
                                      "only).")
@click.option("--checkpoint", type=click.Path(path_type=Path, dir_okay=False, exists=True), default=None,
              help="A SAM checkpoint file (official layout) instead of the model cache.")
@click.option("--parser", "parser_spec", default=None, metavar="RUN|PATH",
              help="A parser run id of this store, a parser.pt, or a face-parsing BiSeNet state dict (default: the "
                   "newest finished parser run).")
@click.option("--only", default="unlabeled", show_default=True, metavar="SELECTION",
              help="Which samples: unlabeled (no gt), all, low-confidence, tag:NAME, split:NAME, character:NAME or "
                   "hair_color:NAME.")
@click.option("--limit", type=click.IntRange(min=0), default=None, help="At most N samples this time.")
@click.option("--batch-size", type=click.IntRange(min=1), default=4, show_default=True,
              help="Images per parser / SAM encoder pass.")
@click.option("--run", "run_id", default=None, metavar="RUN_ID",
              help="Name the run; running the same id again resumes it (finished samples are skipped).")
@click.option("--mode", type=click.Choice(["prompt", "everything"]), default="prompt", show_default=True,
              help="prompt: SAM prompted per parser region; everything: SAM's automatic masks, classes by majority.")
@click.option("--agree-iou", type=click.FloatRange(0, 1), default=0.6, show_default=True,
              help="Keep SAM's mask for a class only if its IoU with the parser's region is at least this.")
@click.option("--low-confidence-below", type=click.FloatRange(0, 1), default=0.7, show_default=True,
              help="--only low-confidence: earlier prelabel score below which a sample is redone.")
@click.option("--points-per-side", type=click.IntRange(min=1), default=16, show_default=True,
              help="Everything-mode point grid.")
@click.option("--min-mask-iou", type=float, default=0.88, show_default=True,
              help="Everything-mode: SAM's predicted-IoU filter.")
@click.option("--min-mask-stability", type=float, default=0.95, show_default=True,
              help="Everything-mode: SAM's stability-score filter.")
@click.option("--no-cache", is_flag=True, help="Do not read or write cached SAM embeddings (<store>/cache/sam).")
@click.option("--cache-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Model cache folder (default: see `animeparse models list`).")
@click.option("--precision", type=click.Choice(["auto", "fp32", "tf32", "bf16", "fp16"]), default="auto",
              show_default=True, help="Forward passes of the parser and SAM: auto = bf16 on a CUDA GPU that has it, "
                                      "else fp32 (today's results, byte for byte); recorded with the run.")
@click.option("--prompt-grid", type=click.IntRange(min=0), default=0, show_default=True, metavar="N",
              help="Prompts from the parser's label scaled to N px on its longer side (0 = full size): far less CPU "
                   "per image on large images; other points, so recorded as a result-changing option.")
@click.option("--sdpa", is_flag=True, help="SAM encoder attention through scaled_dot_product_attention (fused "
                                           "kernels; equal within 1e-5, so another embedding cache).")
@click.option("--compile", "compile_encoder", is_flag=True,
              help="torch.compile the SAM encoder (fixed shapes: the last batch is padded); pays off on long GPU runs.")
@cleanup_options
@click.option("--json", "as_json", is_flag=True, help="Print the run summary as JSON.")
@engine_options()
@click.pass_context
def prelabel_cmd(ctx: click.Context, ds: Path | None, gpu: bool, device: str, sam: str, checkpoint: Path | None,
                 parser_spec: str | None, only: str, limit: int | None, batch_size: int, run_id: str | None,
                 mode: str, agree_iou: float, low_confidence_below: float, points_per_side: int, min_mask_iou: float,
                 min_mask_stability: float, no_cache: bool, cache_dir: Path | None, precision: str, prompt_grid: int,
                 sdpa: bool,
                 compile_encoder: bool, cleanup: Any, as_json: bool, engine_config: EngineConfig) -> None:
    """Write a prelabel/<run> mask layer: parser class names, SAM boundaries, a confidence per pixel.

    Human layers are never touched. Each sample's score (mean confidence per class) is stored with its mask, and
    the per-pixel confidence as <store>/runs/<run>/confidence/<sample>.png. Re-run with the same --run to resume.

    \b
    Example:
      animeparse models fetch sam-vit-b
      animeparse prelabel my-ds --gpu --sam vit_b --run first
      animeparse prelabel my-ds --gpu --sam vit_h --precision bf16 --sdpa --batch-size 8
      animeparse prelabel evaluate my-ds --layer prelabel/first
      animeparse prelabel /shared/my-ds --engine ray --ray-address auto --gpus-per-worker 1 --run big
    """
    if ctx.invoked_subcommand is not None:
        return
    if ds is None:
        raise click.UsageError("Missing argument 'DS' (the store to prelabel), or a subcommand (evaluate).", ctx)
    from ..prelabel import PrelabelConfig, prelabel
    from ..prelabel.prompts import PromptConfig
    from ..store import Dataset

    config = PrelabelConfig(
        device=_device(device, gpu), sam=sam, checkpoint=str(checkpoint) if checkpoint else None, parser=parser_spec,
        only=only, limit=limit, batch_size=batch_size, run_id=run_id, mode=mode, agree_iou=agree_iou,
        low_confidence_below=low_confidence_below, points_per_side=points_per_side, min_mask_iou=min_mask_iou,
        min_mask_stability=min_mask_stability, cache_embeddings=not no_cache, cleanup=cleanup,
        model_cache_dir=str(cache_dir) if cache_dir else None, precision=precision, sdpa=sdpa,
        compile=compile_encoder, prompts=PromptConfig(grid=prompt_grid))
    with Dataset.open(ds, write=True) as store, progress_bar("prelabel") as progress:
        result = prelabel(store, config, progress=progress, engine=engine_config)
    if as_json:
        click.echo(json.dumps(asdict(result), indent=2, sort_keys=True))
        return
    say(f"prelabelled {result.computed} samples into layer {result.layer} "
        f"({result.skipped_done} already done, {result.selected} selected) in {result.seconds:.1f}s, "
        f"{result.images_per_s:.2f} images/s on {result.device}"
        + (f" x {result.workers} Ray workers" if result.workers else ""))
    if result.sam:
        say(f"  parser + SAM {result.sam} ({mode} mode, {result.precision})")
    elif sam == "auto":
        say("  parser only: no SAM checkpoint found (`animeparse models fetch sam-vit-b`, or --checkpoint)")
    else:
        say("  parser only")
    if result.mean_score is not None:
        say(f"  mean score {result.mean_score:.3f}; SAM embeddings computed: {result.encoded}")
    if result.pieces_per_image is not None:
        say(f"  pieces per image {result.pieces_per_image:.1f} (before clean-up "
            f"{result.pieces_before_cleanup:.1f})")
    say(f"next: animeparse prelabel evaluate {ds} --layer {result.layer}")


@prelabel_cmd.command("evaluate")
@click.argument("ds", type=_DS)
@click.option("--layer", default=None, help="The layer to score (default: the newest finished prelabel run's).")
@click.option("--against", default="gt", show_default=True, help="The reference layer.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def evaluate_cmd(ds: Path, layer: str | None, against: str, as_json: bool) -> None:
    """Score a prelabel layer against the human gt layer: per-class IoU, mIoU, pixel accuracy, pixels to change.

    \b
    Example:
      animeparse prelabel evaluate my-ds --layer prelabel/first
      animeparse prelabel evaluate my-ds --json | jq .miou
    """
    from ..prelabel import evaluate_layer
    from ..store import Dataset

    with Dataset.open(ds) as store, progress_bar("evaluate") as progress:
        report = evaluate_layer(store, layer, against=against, progress=progress)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2, sort_keys=True))
        return
    click.echo(f"{report.layer} vs {report.against} on {report.samples} samples"
               + (f" ({report.missing} with {report.against} but not prelabelled)" if report.missing else ""))
    echo_table([(f"{c.id:>3} {c.name}", "-" if c.iou is None else f"{c.iou:.3f}") for c in report.per_class],
               title="IoU per class", always=True)
    echo_table([("mIoU (pooled)", f"{report.miou:.4f}"), ("mIoU (mean per image)", f"{report.miou_per_image:.4f}"),
                ("pixel accuracy", f"{report.pixel_accuracy:.4f}"),
                ("pixels to change", f"{100 * report.changed_share:.2f}%"),
                ("pieces per image", f"{report.pieces_per_image:.1f} ({report.against}: "
                                     f"{report.gt_pieces_per_image:.1f})")], title="overall", always=True)


@click.group("parser")
def parser_group() -> None:
    """The compact segmentation net the pre-labeler gets its class names from.

    \b
    Example:
      animeparse parser train my-ds --epochs 40 --size 256
    """


@parser_group.command("train")
@click.argument("ds", type=_DS)
@click.option("--epochs", type=click.IntRange(min=1), default=40, show_default=True)
@click.option("--size", type=click.IntRange(min=32), default=256, show_default=True,
              help="Training and inference side in pixels (a multiple of 8).")
@click.option("--gpu", is_flag=True, help="Train on the CUDA GPU (same as --device cuda).")
@click.option("--device", default="auto", show_default=True, metavar="DEVICE", help=_DEVICE_HELP)
@click.option("--batch-size", type=click.IntRange(min=1), default=2, show_default=True,
              help="Images per step (small batches train small data sets best).")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=4e-3, show_default=True,
              help="Peak learning rate (one-cycle schedule).")
@click.option("--split", default="train", show_default=True,
              help="Train on this split's gt samples (all: every split).")
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same data order and augmentation.")
@click.option("--run", "run_id", default=None, metavar="RUN_ID",
              help="Name or resume a run (default: resume the newest unfinished run with the same options).")
@click.option("--arch", type=click.Choice(["unet", "bisenet"]), default="unet", show_default=True,
              help="unet: the compact ParserNet; bisenet: face-parsing.PyTorch's BiSeNet (ResNet-18).")
@click.option("--init-from", default=None, metavar="RUN|PATH",
              help="Start from this parser's weights (a run id of this store or a parser.pt): fine-tuning.")
@click.option("--backbone-weights", type=click.Path(path_type=Path, dir_okay=False, exists=True), default=None,
              help="--arch bisenet: start its ResNet-18 from this torchvision ImageNet state dict (SHA-256 recorded).")
@click.option("--unlabeled", default="all", show_default=True, metavar="none|all|split:NAME",
              help="Unlabelled images for the semi-supervised (mean teacher) branch; none turns it off.")
@click.option("--ssl-weight", type=click.FloatRange(min=0), default=0.3, show_default=True,
              help="Weight of the unlabelled images' loss (ramped up over the first 30 % of the epochs).")
@click.option("--ssl-threshold", type=click.FloatRange(0, 1), default=0.9, show_default=True,
              help="Least teacher probability for a pixel of an unlabelled image to be learnt.")
@click.option("--ema-decay", type=click.FloatRange(0, 1, max_open=True), default=0.99, show_default=True,
              help="The teacher's moving average of the student's weights, per step.")
@click.option("--no-style", is_flag=True,
              help="Train without the style augmentation (recolouring, backdrops, ink, tone, blur, noise, JPEG).")
@click.option("--time-budget", type=click.FloatRange(min=0), default=9.0, show_default=True, metavar="MIN",
              help="Fit the run into this many minutes (re-plans the epochs after each one); 0 = no budget.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def train_cmd(ds: Path, epochs: int, size: int, gpu: bool, device: str, batch_size: int, lr: float, split: str,
              seed: int, run_id: str | None, arch: str, init_from: str | None, backbone_weights: Path | None,
              unlabeled: str,
              ssl_weight: float, ssl_threshold: float, ema_decay: float, no_style: bool, time_budget: float,
              as_json: bool) -> None:
    """Train the parser on the store's human (gt) masks; saved as a run, resumable after an interruption.

    \b
    Example:
      animeparse parser train my-ds --epochs 40 --size 256 --gpu
      animeparse parser train my-ds --run parser-1   # resumes parser-1 from its last epoch
      animeparse parser train my-ds --arch bisenet --backbone-weights resnet18-f37072fd.pth --time-budget 30
      animeparse parser train my-ds --init-from parser-1 --epochs 10   # fine-tune parser-1 on the new gt
    """
    from dataclasses import asdict as as_dict

    from ..prelabel import TrainConfig, train_parser
    from ..prelabel.style import StyleConfig
    from ..store import Dataset

    config = TrainConfig(epochs=epochs, size=size, batch_size=batch_size, lr=lr, device=_device(device, gpu),
                         split=split, seed=seed, run_id=run_id, arch=arch,
                         backbone_weights=str(backbone_weights) if backbone_weights else None, unlabeled=unlabeled,
                         ssl_weight=ssl_weight, ssl_threshold=ssl_threshold, ema_decay=ema_decay,
                         time_budget=time_budget, style=as_dict(StyleConfig.off() if no_style else StyleConfig()),
                         init_from=init_from)
    with Dataset.open(ds, write=True) as store, progress_bar("train", unit="epoch") as progress:
        result = train_parser(store, config, progress=progress)
    if as_json:
        click.echo(json.dumps({**asdict(result), "checkpoint": str(result.checkpoint)}, indent=2, sort_keys=True))
        return
    resumed = f", resumed after epoch {result.resumed_from}" if result.resumed_from else ""
    planned = f" (of {epochs}: time budget)" if result.epochs < epochs else ""
    say(f"parser run {result.run_id}: {result.epochs} epochs{planned}{resumed} in {result.seconds:.1f}s; "
        f"training mIoU {result.metrics.get('miou', 0):.3f}, loss {result.metrics.get('loss', 0):.3f}")
    say(f"  checkpoint {result.checkpoint} (SHA-256 {result.sha256[:16]})")
    say(f"next: animeparse prelabel {ds} --parser {result.run_id}")


@click.group("models")
def models_group() -> None:
    """Download and list the model checkpoints the pre-labeler uses (official segment-anything weights).

    \b
    Example:
      animeparse models fetch sam-vit-b
      animeparse models list
    """


@models_group.command("fetch")
@click.argument("name", type=click.Choice(["sam-vit-h", "sam-vit-l", "sam-vit-b"]))
@click.option("--cache-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Where to keep models (default: $ANIMEPARSE_CACHE_DIR, else ~/.cache/animeparse/models).")
@click.option("--url", default=None, help="Download from this mirror instead; size and SHA-256 must still match.")
def fetch_cmd(name: str, cache_dir: Path | None, url: str | None) -> None:
    """Download a checkpoint into the model cache: resumes a partial download, verifies the SHA-256.

    \b
    Example:
      animeparse models fetch sam-vit-b
      animeparse models fetch sam-vit-h --cache-dir /data/models
    """
    from ..prelabel import MODELS, fetch_model

    with progress_bar(name, MODELS[name].size, unit="B", scale=True) as progress:
        path = fetch_model(name, cache_dir=cache_dir, url=url, progress=progress)
    say(f"{name}: {path} (SHA-256 verified)")


@models_group.command("list")
@click.option("--cache-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="The model cache to list (default: $ANIMEPARSE_CACHE_DIR, else ~/.cache/animeparse/models).")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
def list_cmd(cache_dir: Path | None, as_json: bool) -> None:
    """Show the known checkpoints and which are in the model cache (present, partial or absent).

    \b
    Example:
      animeparse models list
    """
    from ..prelabel import default_cache_dir, list_models

    rows = list_models(cache_dir)
    if as_json:
        click.echo(json.dumps([{**asdict(r), "path": str(r.path)} for r in rows], indent=2, sort_keys=True))
        return
    click.echo(f"model cache: {cache_dir or default_cache_dir()}")
    table: list[tuple[str, Any]] = []
    for r in rows:
        state = r.state if r.state != "partial" else f"partial ({100 * r.bytes_on_disk / r.size:.0f}%)"
        table.append((r.name, f"{state:<16} {r.arch:<6} {r.size / 2**20:8.0f} MiB  {r.path.name}"))
    echo_table(table, always=True)


COMMANDS: list[click.Command] = [prelabel_cmd, parser_group, models_group]
