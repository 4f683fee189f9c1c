"""``init`` and ``info``: create a store, show what is in it."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import click

from ..errors import LabelMapError
from ..labelmap import LabelMap, load_labelmap
from ..store import Dataset, stores_below
from .common import echo_table, say


@click.command("init")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@click.option("--labelmap", "labelmap_name", default=None,
              help="Bundled label map name (danbooru-parsing, celebamask-hq, manga-page, anime-character-parsing-13, "
                   "anime-character-parsing-16, character-parsing) or a "
                   "label map JSON file. Default: danbooru-parsing.")
@click.option("--classes", default=None, help="Make a label map from class names instead: 'skin,hair,eyes' "
                                              "(background is id 0).")
@click.option("--name", default=None, help="Dataset name (default: the folder name).")
@click.option("--lr-convention", type=click.Choice(["subject", "image"]), default="subject", show_default=True,
              help="What l_/r_ mean: the depicted subject's left, or the image's left.")
@click.option("--kind", type=click.Choice(["face", "character", "manga", "other"]), default="face", show_default=True)
def init_cmd(directory: Path, labelmap_name: str | None, classes: str | None, name: str | None,
             lr_convention: str, kind: str) -> None:
    """Create an empty store in DIRECTORY with a locked label map.

    \b
    Example:
      animeparse init my-ds --labelmap danbooru-parsing
      animeparse init figures --classes hair,face,top,bottom --kind character
    """
    if labelmap_name and classes:
        raise LabelMapError("give --labelmap or --classes, not both")
    labelmap = LabelMap.from_classes(classes.split(","), name=name or directory.name.lower() or "custom") \
        if classes else load_labelmap(labelmap_name or "danbooru-parsing")
    with Dataset.create(directory, labelmap=labelmap, name=name, lr_convention=lr_convention, kind=kind) as ds:
        say(f"created store {ds.root} with label map {labelmap.name} v{labelmap.version} "
            f"({len(labelmap)} classes)")


@click.command("info")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
def info_cmd(directory: Path, as_json: bool) -> None:
    """Show counts by split, status and mask layer. DIRECTORY may also be a folder holding one store (such as
    the demo's folder, whose store is DIR/store).

    \b
    Example:
      animeparse info my-ds
      animeparse info animeparse-demo      # finds animeparse-demo/store
      animeparse info my-ds --json | jq .by_layer
    """
    below = stores_below(directory.absolute())
    if len(below) == 1:
        directory = below[0]
        say(f"(the store in that folder: {directory})", err=True)
    with Dataset.open(directory) as ds:
        info = ds.info()
    if as_json:
        click.echo(json.dumps(asdict(info), indent=2, sort_keys=True))
        return
    echo_table([("store", info.root), ("name", info.name), ("label map", info.labelmap),
                ("l/r convention", info.lr_convention), ("samples", info.samples), ("runs", info.runs)], always=True)
    for title, counts in (("by split", info.by_split), ("by status", info.by_status), ("by layer", info.by_layer)):
        echo_table(list(counts.items()) or [("(none)", 0)], title=title, always=True)


COMMANDS = [init_cmd, info_cmd]
