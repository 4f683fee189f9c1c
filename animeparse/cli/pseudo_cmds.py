"""``pseudo manga`` and ``pseudo sheet``: manga pseudo-label stores translated from anime stores, and a quick look."""

from __future__ import annotations

from pathlib import Path

import click

from ..executor import EngineConfig
from .common import echo_table, engine_options, progress_bar


@click.group("pseudo")
def pseudo_group() -> None:
    """Pseudo-labelled data derived from a store: anime -> manga translations whose masks carry over exactly.

    \b
    Example:
      animeparse pseudo manga my-ds --out my-ds-manga --variants 2
      animeparse pseudo sheet my-ds-manga --out sheet.png
    """


@pseudo_group.command("manga")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option("--out", "out", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="The derived store to create or extend (kind manga, the parent's label map).")
@click.option("--translator", default="manga-v2", show_default=True,
              help="manga-v2 (bundled) or torchscript:PATH (your generator: N x 3 x H x W in 0..1 -> same size).")
@click.option("--variants", type=click.IntRange(min=1), default=1, show_default=True,
              help="Renderings per image, each with its own style drawn from the seed.")
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same pixels.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
              help="Where the translator runs (auto: CUDA when available).")
@click.option("--batch-size", type=click.IntRange(min=1), default=8, show_default=True,
              help="Images per batch (same-size images are batched together).")
@click.option("--layer", default="gt", show_default=True,
              help="Mask layer to carry: gt, prelabel/RUN, or prelabel (each sample's latest pre-label; off by "
                   "default: pre-label noise would decide tones). Samples without it: one region, no mask.")
@click.option("--color", is_flag=True, help="Colour manga (tinted paper) instead of greyscale.")
@engine_options()
def manga_cmd(directory: Path, out: Path, translator: str, variants: int, seed: int, device: str, batch_size: int,
              layer: str, color: bool, engine_config: EngineConfig) -> None:
    """Translate every image of the store DIRECTORY into manga in the derived store OUT, with the same masks.

    Each output keeps its parent's mask layer pixel for pixel (checked before writing) and records its parent
    sample, run, translator, parameter SHA-256, seed and variant. Re-running skips what exists.

    \b
    Example:
      animeparse pseudo manga my-ds --out my-ds-manga --variants 3 --seed 0
      animeparse pseudo manga my-ds --out my-ds-manga --translator torchscript:gen.pt --device cuda
      animeparse pseudo manga /shared/my-ds --out /shared/my-ds-manga --engine ray --ray-address auto
    """
    from ..translate.pseudo import PseudoConfig, make_manga

    config = PseudoConfig(translator=translator, variants=variants, seed=seed, device=device, batch_size=batch_size,
                          layer=layer, color=color)
    with progress_bar("translate") as progress:
        result = make_manga(directory, out, config=config, progress=progress, engine=engine_config)
    rate = f"{result.translated / result.seconds:.1f} images/s" if result.translated else "-"
    click.echo(f"{result.translated} translated, {result.skipped_existing} already there, {result.duplicates} "
               f"duplicate images skipped -> {result.out}")
    echo_table([("translator", f"{result.translator} (sha256 {result.translator_sha256[:12]})"),
                ("device", result.device + (f" x {result.workers} Ray workers" if result.workers else "")),
                ("run", result.run_id or "(nothing to do)"), ("speed", rate)])
    if result.by_layer:
        echo_table(list(result.by_layer.items()), title="by carried layer (- = no mask, single region)")


@pseudo_group.command("sheet")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option("--out", "out", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="PNG file to write.")
@click.option("--rows", type=click.IntRange(min=1), default=8, show_default=True, help="Parents shown (by id).")
@click.option("--tile", type=click.IntRange(min=32, max=1024), default=256, show_default=True,
              help="Cell size in pixels.")
def sheet_cmd(directory: Path, out: Path, rows: int, tile: int) -> None:
    """Contact sheet of a derived manga store: input (from the parent store), mask, manga variants per row.

    \b
    Example:
      animeparse pseudo sheet my-ds-manga --out sheet.png --rows 6
    """
    from ..translate.pseudo import contact_sheet

    result = contact_sheet(directory, out, rows=rows, tile=tile)
    click.echo(f"wrote {result.path} ({result.rows} rows x {result.columns} columns)")


COMMANDS = [pseudo_group]
