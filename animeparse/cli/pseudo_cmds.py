"""``pseudo manga`` and ``pseudo sheet``: manga pseudo-label stores translated from anime stores, and a quick look;
``pseudo page`` and ``pseudo page-sheet``: manga pages composed from a store, and their contact sheet."""

from __future__ import annotations

from pathlib import Path

import click

from ..executor import EngineConfig
from .common import echo_table, engine_options, progress_bar, say


@click.group("pseudo")
def pseudo_group() -> None:
    """Pseudo-labelled data derived from a store: anime -> manga translations whose masks carry over exactly.

    \b
    Example:
      animeparse pseudo manga my-ds --out my-ds-manga --variants 2
      animeparse pseudo sheet my-ds-manga --out sheet.png
      animeparse pseudo page my-ds-manga --out my-ds-pages --pages 20
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
    say(f"{result.translated} translated, {result.skipped_existing} already there, {result.duplicates} "
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
@click.option("-n", "--n", "--rows", "rows", type=click.IntRange(min=1), default=8, show_default=True,
              help="Parents shown (the first N by id); --rows is the old spelling.")
@click.option("--all", "show_all", is_flag=True, help="Show every parent (overrides --n).")
@click.option("--tile", type=click.IntRange(min=32, max=1024), default=256, show_default=True,
              help="Cell size in pixels.")
def sheet_cmd(directory: Path, out: Path, rows: int, show_all: bool, tile: int) -> None:
    """Contact sheet of a derived manga store: input (from the parent store), outlined mask, manga variants per
    row, and a legend of the classes shown.

    \b
    Example:
      animeparse pseudo sheet my-ds-manga --out sheet.png --all --tile 128
    """
    from ..translate.pseudo import contact_sheet

    result = contact_sheet(directory, out, rows=None if show_all else rows, tile=tile)
    say(f"wrote {result.path} ({result.rows} rows x {result.columns} columns)")


def _size(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, int]:
    w, sep, h = value.lower().partition("x")
    if not sep or not w.isdigit() or not h.isdigit():
        raise click.BadParameter(f"expected WxH in pixels such as 724x1024, got {value!r}")
    return int(w), int(h)


def _range(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, int]:
    lo, sep, hi = value.partition("-")
    if not lo.isdigit() or (sep and not hi.isdigit()):
        raise click.BadParameter(f"expected MIN-MAX such as 2-7 (or one number), got {value!r}")
    return int(lo), int(hi) if sep else int(lo)


@pseudo_group.command("page")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option("--out", "out", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="The page store to create or extend (kind manga, the manga-page label map).")
@click.option("--pages", type=click.IntRange(min=0), default=8, show_default=True,
              help="Pages to have: indices 0..N-1 (each the same bytes however many are made).")
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same pages.")
@click.option("--size", "size_wh", default="724x1024", show_default=True, callback=_size,
              help="Page size WxH in pixels (256..8192 a side).")
@click.option("--panels", default="2-7", show_default=True, callback=_range,
              help="Panels per page, MIN-MAX within 1-7.")
@click.option("--font", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="TrueType/OpenType file for the text [default: IPAexGothic from the japanize-matplotlib package].")
@click.option("--layer", default="gt", show_default=True,
              help="Source mask layer giving body / face / carried ids (samples without it are unlabelled).")
@click.option("--unlabeled", type=click.Choice(["ignore", "body"]), default="ignore", show_default=True,
              help="Page-mask class of art from unlabelled sources: ignore (255) or body.")
@click.option("--parts-out", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Companion store for the carried face-level ids [default: OUT-parts].")
def page_cmd(directory: Path, out: Path, pages: int, seed: int, size_wh: tuple[int, int], panels: tuple[int, int],
             font: Path | None, layer: str, unlabeled: str, parts_out: Path | None) -> None:
    """Compose manga pages from the samples of the store DIRECTORY into the page store OUT.

    Panels with frames and gutters, characters cropped into them, speech balloons with tails and vertical text,
    onomatopoeia; the page mask (gt, manga-page: frame, body, face, balloon, text, onomatopoeia) is exactly what
    was drawn. The sources' own class ids, cropped and scaled like the art, go to the store --parts-out. Each page
    records its sources, panel boxes, seed and run. Re-running skips pages made with the same seed and options.

    \b
    Example:
      animeparse pseudo page my-ds-manga --out my-ds-pages --pages 20 --seed 0
      animeparse pseudo page my-ds-manga --out my-ds-pages --size 1024x1448 --panels 3-5
    """
    from ..translate.page import PageConfig, make_pages

    config = PageConfig(pages=pages, seed=seed, size_wh=size_wh, panels=panels,
                        font=str(font) if font is not None else None, layer=layer, unlabeled=unlabeled,
                        parts_out=str(parts_out) if parts_out is not None else None)
    with progress_bar("compose", unit="page") as progress:
        result = make_pages(directory, out, config=config, progress=progress)
    say(f"{result.made} pages made, {result.skipped_existing} already there -> {result.out}")
    echo_table([("carried ids", f"{result.with_parts} panels -> {result.parts_out or '(none: no labelled source)'}"),
                ("font", result.font), ("run", result.run_id or "(nothing to do)")])


@pseudo_group.command("page-sheet")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option("--out", "out", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="PNG file to write.")
@click.option("-n", "--n", "--rows", "rows", type=click.IntRange(min=1), default=4, show_default=True,
              help="Pages shown (the first N); --rows is the old spelling.")
@click.option("--all", "show_all", is_flag=True, help="Show every page (overrides --n).")
@click.option("--tile", type=click.IntRange(min=64, max=2048), default=360, show_default=True,
              help="Cell size in pixels.")
def page_sheet_cmd(directory: Path, out: Path, rows: int, show_all: bool, tile: int) -> None:
    """Contact sheet of a page store: page | page mask over it | carried face-level ids, with a legend.

    \b
    Example:
      animeparse pseudo page-sheet my-ds-pages --out pages.png --rows 3
    """
    from ..translate.page import page_sheet

    result = page_sheet(directory, out, rows=None if show_all else rows, tile=tile)
    say(f"wrote {result.path} ({result.rows} pages; carried ids from {result.parts_store or 'no parts store'})")


COMMANDS = [pseudo_group]
