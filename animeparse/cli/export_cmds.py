"""``export``: write a store's masks in a format training code or an annotation tool reads."""

from __future__ import annotations

from pathlib import Path

import click

from ..executor import EngineConfig
from ..export import EXPORTERS, ExportConfig, export
from ..export.base import IMAGE_MODES
from ..export.engine import describe
from ..store import Dataset
from .common import echo_table, engine_options, progress_bar


@click.command("export")
@click.argument("ds", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option("--format", "fmt", required=True, type=click.Choice(list(EXPORTERS)),
              help="Output format (see docs/export.md for each layout and what is lossy).")
@click.option("--out", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="New (or empty) folder to write; built beside it and renamed into place when complete.")
@click.option("--layer", default=None,
              help="Mask layer to export: gt or prelabel/RUN (default: gt; parquet: every layer).")
@click.option("--split", "splits", multiple=True, metavar="NAME",
              help="Only samples of this split; repeatable (default: every split).")
@click.option("--images", type=click.Choice(IMAGE_MODES), default="copy", show_default=True,
              help="copy the stored image files, hard-link them (no extra space; a copy across filesystems), or "
                   "write labels only.")
@click.option("--instances", is_flag=True, help="coco: one annotation per connected component, not per class.")
@click.option("--polygons", is_flag=True,
              help="coco: polygon segmentations (lossy; regions with holes stay RLE).")
@click.option("--include-background", is_flag=True, help="coco: export background (id 0) as a category too.")
@click.option("--info", is_flag=True, help="coco: add an info block with the date (off: byte-identical reruns).")
@click.option("--palette-mode", type=click.Choice(["l", "p"]), default="l", show_default=True,
              help="index-png: L-mode (greyscale ids, for training) or P-mode (ids with the label map's colours).")
@click.option("--as", "ls_as", type=click.Choice(["predictions", "annotations"]), default=None,
              help="labelstudio: regions as predictions or annotations (default: annotations for gt, else "
                   "predictions).")
@click.option("--class-line", default="{stem} {index}", show_default=True,
              help="sis-anime: the line class.txt gets per image ({stem}, {name}, {index}, {character}); the seed's "
                   "exact format is not public.")
@click.option("--workers", type=click.IntRange(0, 4096), default=None,
              help="Encoding processes (default: one per core; 0 = in the main process); with --engine ray, Ray "
                   "tasks in flight (default: the cluster's CPUs / --cpus-per-worker).")
@engine_options(workers=False)
def export_cmd(ds: Path, fmt: str, out: Path, layer: str | None, splits: tuple[str, ...], images: str,
               instances: bool, polygons: bool, include_background: bool, info: bool, palette_mode: str,
               ls_as: str | None, class_line: str, workers: int | None, engine_config: EngineConfig) -> None:
    """Export a store's masks to OUT as COCO, Danbooru-Parsing or AnimeCharacterParsing folders, CelebAMask-HQ
    parts, index PNGs, LabelMe, Label Studio or SIS-anime (with class.txt; prints K, the seed's --class_num), or its
    manifest as Parquet tables.

    The store is only read (an export can run beside an ingest). OUT must be new or empty; nothing appears there
    until the export is complete.

    \b
    Example:
      animeparse export my-ds --format coco --out exports/coco
      animeparse export my-ds --format danbooru-parsing --out exports/dp --split train --split test
      animeparse export my-ds --format labelstudio --layer prelabel/run1 --out exports/ls --images link
      animeparse export my-ds --format parquet --out exports/manifest
      animeparse export acp-ds --format anime-character-parsing --out exports/acp
      animeparse export my-ds --format sis-anime --out exports/sis --split train --split val
      animeparse export /shared/my-ds --format coco --out /shared/exports/coco --engine ray --ray-address auto
    """
    config = ExportConfig(format=fmt, layer=layer, splits=tuple(splits), images=images, instances=instances,
                          polygons=polygons, include_background=include_background, info=info,
                          palette_mode=palette_mode, ls_as=ls_as, class_line=class_line,
                          **({"workers": workers} if workers is not None and engine_config.engine == "local" else {}))
    engine_config.check()
    with Dataset.open(ds) as store, progress_bar(f"export {fmt}") as progress:
        result = export(store, out, config, progress=progress, engine=engine_config)
    echo_table(describe(result), title=f"exported {result.samples} samples")


COMMANDS = [export_cmd]
