"""``character`` (set, list, declare) and ``attributes``: who a sample shows, what its parsing says about the face."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..store import Dataset
from .common import echo_table, progress_bar, say


@click.group("character")
def character_group() -> None:
    """Character identity per sample: set it, list the characters, declare the list validate checks against.

    \b
    Example:
      animeparse character set my-ds tag:series:nino nino --name "Nakano Nino"
      animeparse character list my-ds
    """


@character_group.command("set")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.argument("target", metavar="SAMPLE_OR_SELECTION")
@click.argument("character")
@click.option("--name", default=None, help="Also record this display name for CHARACTER.")
def set_cmd(directory: Path, target: str, character: str, name: str | None) -> None:
    """Give one sample (its id) or every sample a selection picks (all, labeled, unlabeled, tag:NAME, split:NAME,
    status:NAME, character:NAME, hair_color:NAME, ...) the character id CHARACTER; 'none' clears it.

    \b
    Example:
      animeparse character set my-ds 3f2a9c0d11e4b7a2 zero_two
      animeparse character set my-ds split:test nino --name "Nakano Nino"
      animeparse character set my-ds character:nino none
    """
    with Dataset.open(directory, write=True) as ds:
        ids = ds.resolve_target(target)
        changed = ds.set_character(ids, None if character == "none" else character, name=name)
    say(f"{len(ids)} samples selected, {changed} changed to {character}")


@character_group.command("list")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option("--json", "as_json", is_flag=True, help="Print the characters as JSON.")
def list_cmd(directory: Path, as_json: bool) -> None:
    """List the characters: id, display name, whether declared, and sample count (plus samples without one).

    \b
    Example:
      animeparse character list my-ds --json
    """
    with Dataset.open(directory) as ds:
        chars = ds.characters()
        without = len(ds.select(["character:none"]))
    if as_json:
        click.echo(json.dumps({"characters": [{"id": c.id, "name": c.name, "declared": c.declared,
                                               "samples": c.samples} for c in chars], "without": without},
                              indent=2, sort_keys=True))
        return
    rows: list[tuple[str, object]] = [
        (c.id, ", ".join([f"{c.samples} samples", *(["declared"] * c.declared), *([c.name] if c.name else [])]))
        for c in chars]
    echo_table(rows + [("(none)", f"{without} samples")], title=f"{len(chars)} characters", always=True)


@character_group.command("declare")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.argument("characters", nargs=-1, required=True, metavar="ID[=NAME]...")
@click.option("--replace", is_flag=True, help="These ids become the whole list (others are undeclared).")
def declare_cmd(directory: Path, characters: tuple[str, ...], replace: bool) -> None:
    """Declare the store's character list; validate then reports samples with no character or one not on it.

    \b
    Example:
      animeparse character declare my-ds ichika nino miku yotsuba itsuki
      animeparse character declare my-ds "zero_two=Zero Two" --replace
    """
    names: dict[str, str | None] = {}
    for entry in characters:
        cid, eq, name = entry.partition("=")
        names[cid.strip()] = name.strip() if eq else None
    with Dataset.open(directory, write=True) as ds:
        ds.declare_characters(names, replace=replace)
        declared = ds.declared_characters()
    say(f"{len(declared)} characters declared: {', '.join(declared)}")


@click.command("attributes")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option("--layer", default="gt", show_default=True, help="Mask layer the attributes are computed from.")
def attributes_cmd(directory: Path, layer: str) -> None:
    """Compute and store each sample's face box, eye / nose / mouth centres and hair, eye and skin colour from its
    mask (recomputed only where the mask changed); --only hair_color:pink and split --group hair_color use them.

    \b
    Example:
      animeparse attributes my-ds
      animeparse attributes my-ds --layer prelabel/run1
    """
    from ..stats.attributes import update_attributes

    with Dataset.open(directory, write=True) as ds, progress_bar("attributes", total=None) as progress:
        result = update_attributes(ds, layer=layer, progress=progress)
    say(f"{result.samples} samples with a {layer!r} mask: {result.computed} computed, {result.current} "
               "already current")
    for role, counts in result.by_color.items():
        echo_table([(name, n) for name, n in counts.items()] or [("(none)", 0)], title=f"{role} colour")


COMMANDS = [character_group, attributes_cmd]
