"""``demo-data`` and ``demo``: synthetic faces with exact masks, and the whole pipeline on them."""

from __future__ import annotations

from pathlib import Path

import click

from .common import StageBars, echo_table, progress_bar, say


@click.command("demo-data")
@click.argument("out", type=click.Path(path_type=Path, file_okay=False))
@click.option("-n", "n", type=click.IntRange(min=1), default=50, show_default=True, help="Number of faces.")
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same faces, on every machine.")
@click.option("--size", type=click.IntRange(min=64, max=4096), default=512, show_default=True,
              help="Image side in pixels.")
@click.option("--defects", is_flag=True,
              help="Make a store at OUT with N clean faces plus every defect validate checks, seeded behind the "
                   "store's back.")
@click.option("--kind", type=click.Choice(["face", "character"]), default="face", show_default=True,
              help="face: portraits with Danbooru-Parsing masks; character: full-body figures with "
                   "anime-character-parsing-13 masks in the AnimeCharacterParsing layout (--size is their height).")
@click.option("--characters", "n_characters", type=click.IntRange(1, 6), default=4, show_default=True,
              help="--kind character: how many recurring characters the figures cycle through.")
def demo_data_cmd(out: Path, n: int, seed: int, size: int, defects: bool, kind: str, n_characters: int) -> None:
    """Draw N anime-like faces with exact 19-id Danbooru-Parsing masks into OUT/images and OUT/masks, or (--kind
    character) N full-body figures with exact anime-character-parsing-13 masks in the AnimeCharacterParsing layout.

    Masks are L-mode PNGs whose values are class ids. Existing files are kept, so an interrupted run resumes.

    \b
    Example:
      animeparse demo-data faces/ -n 50 --seed 0
      animeparse ingest faces/ --into my-ds
      animeparse demo-data broken-ds --defects && animeparse validate broken-ds
      animeparse demo-data figures/ --kind character -n 16 --size 384
    """
    if kind == "character":
        if defects:
            raise click.UsageError("--defects makes faces; drop --kind character")
        from ..demo.figures import write_figure_data

        with progress_bar("generate", total=n) as progress:
            records = write_figure_data(out, n, seed=seed, size=size, n_characters=n_characters, progress=progress)
        counts = {"labelled train": sum(r.split == "train" and r.labelled for r in records),
                  "unlabelled pool": sum(r.split == "train" and not r.labelled for r in records),
                  "val": sum(r.split == "val" for r in records), "test": sum(r.split == "test" for r in records)}
        say(f"wrote {len(records)} figures of {len({r.character for r in records})} characters to {out} "
            "(AnimeCharacterParsing layout; characters in characters.csv)")
        echo_table(list(counts.items()))
        return
    if defects:
        from ..demo.defects import make_defect_dataset

        seeded = make_defect_dataset(out, n_clean=n, seed=seed, size=size)
        say(f"made store {out} with {len(seeded.get('clean', []))} clean faces and these seeded defects:")
        echo_table(sorted((code, len(where)) for code, where in seeded.items() if code != "clean"))
        return
    from ..demo.synth import write_demo_data

    with progress_bar("generate", total=n) as progress:
        stems = write_demo_data(out, n, seed=seed, size=size, progress=progress)
    say(f"wrote {len(stems)} faces to {out / 'images'} and masks to {out / 'masks'}")


@click.command("demo")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False), default="animeparse-demo")
@click.option("-n", "n", type=click.IntRange(min=1), default=50, show_default=True, help="Number of faces.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--size", type=click.IntRange(min=64, max=4096), default=512, show_default=True)
def demo_cmd(directory: Path, n: int, seed: int, size: int) -> None:
    """Run the main job end to end on generated faces, with the embedded defaults (SQLite store).

    Every stage is resumable: if the demo is interrupted, run the same command again.

    \b
    Example:
      animeparse demo                 # into ./animeparse-demo
      animeparse demo /tmp/demo -n 20
    """
    from ..demo.pipeline import run_demo

    with StageBars(total=n) as bars:
        result = run_demo(directory, n=n, seed=seed, size=size, progress=bars)
    info = result.info
    say(f"demo finished: {info.samples} samples in store {result.store}")
    echo_table([(k, v) for k, v in info.by_layer.items()], title="mask layers")
    echo_table(list(result.facts.items()), title="stages")
    echo_table([(name, path) for name, path in result.outputs.items()], title="outputs")
    say(f"next: {_activate_hint()}animeparse info {result.store}")


def _activate_hint() -> str:
    """``source VENV/bin/activate && `` when the ``animeparse`` on PATH is not this one (scripts/demo.sh runs
    ``.venv/bin/animeparse`` without activating ``.venv``, so a bare ``animeparse`` is not found afterwards)."""
    import os
    import shutil
    import sys

    here = Path(sys.executable).parent
    found = shutil.which("animeparse")
    if found and Path(found).parent.resolve() == here.resolve():
        return ""
    activate = here / "activate"
    if not activate.is_file():  # not a virtual environment: name the script itself
        return f"PATH={here}{os.pathsep}$PATH "
    return f"source {activate} && "


COMMANDS = [demo_data_cmd, demo_cmd]
