"""``ingest``: bring images and existing labels into a store."""

from __future__ import annotations

from pathlib import Path

import click

from ..formats import FORMATS
from ..formats.base import ReadOptions
from ..ingest import ingest
from ..store import Dataset
from .common import progress_bar


@click.command("ingest")
@click.argument("src", type=click.Path(path_type=Path, exists=True))
@click.option("--into", "into", required=True, type=click.Path(path_type=Path, file_okay=False, exists=True),
              help="The store to add to (made with animeparse init).")
@click.option("--format", "fmt", type=click.Choice(["auto", *FORMATS]), default="auto", show_default=True,
              help="Source format; auto picks the most confident reader.")
@click.option("--split", default=None, help="Put every sample in this split (default: from the layout, else train).")
@click.option("--resize-masks", type=click.Choice(["nearest"]), default=None,
              help="Resize masks whose size differs from their image (NEAREST keeps ids); default: refuse.")
@click.option("--on-error", type=click.Choice(["raise", "skip"]), default="raise", show_default=True,
              help="Stop at the first bad item, or skip bad items and list them.")
def ingest_cmd(src: Path, into: Path, fmt: str, split: str | None, resize_masks: str | None, on_error: str) -> None:
    """Add images and their masks from SRC to a store; re-running resumes and never duplicates.

    \b
    Example:
      animeparse ingest Danbooru-Parsing/ --into my-ds
      animeparse ingest labels/ --into my-ds --resize-masks nearest --on-error skip
    """
    with Dataset.open(into, write=True) as ds, progress_bar("ingest") as progress:
        report = ingest(ds, src, format=fmt, split=split, on_error=on_error,
                        options=ReadOptions(resize_masks=resize_masks), progress=progress)
    click.echo(f"ingested {src} ({report.format}): {report.added} added, {report.with_mask} with masks, "
               f"{report.duplicates} already present, {len(report.skipped)} skipped")
    for path, message in report.skipped:
        click.echo(f"  skipped {path}: {message}", err=True)
    if report.skipped:
        raise SystemExit(1)


COMMANDS = [ingest_cmd]
