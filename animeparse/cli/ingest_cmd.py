"""``ingest``: bring images and existing labels into a store."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import AnimeparseError, LabelMapError
from ..executor import EngineConfig
from ..formats import READERS as FORMATS
from ..formats import detect_scores
from ..formats.base import ReadOptions, class_map_from_pairs
from ..formats.palette import load_palette
from ..ingest import IngestConfig, IngestError, ingest
from ..ingest.neardup import DEFAULT_NEAR_DUP_BITS, MAX_NEAR_DUP_BITS
from ..labelmap import load_remap
from ..store import Dataset
from .common import StageBars, engine_options, say


@click.command("ingest")
@click.argument("src", type=click.Path(path_type=Path, exists=True))
@click.option("--into", "into", required=True, type=click.Path(path_type=Path, file_okay=False, exists=True),
              help="The store to add to (made with animeparse init).")
@click.option("--format", "fmt", type=click.Choice(["auto", *FORMATS]), default="auto", show_default=True,
              help="Source format; auto picks the most confident reader and says which.")
@click.option("--split", default=None, help="Put every sample in this split (default: from the layout, else train).")
@click.option("--map", "maps", multiple=True, metavar="OLD=NEW",
              help="Rename a source class (name, or id for index masks) to a label-map class; NEW may be 'ignore'. "
                   "Repeatable.")
@click.option("--remap", default=None, metavar="NAME|FILE",
              help="Source index masks use another label map's ids: a bundled map name (celebamask-hq) or a remap "
                   "JSON file (schemas/remap.schema.json).")
@click.option("--source-labelmap", default=None, metavar="NAME",
              help="The label map the source's mask ids are in, for layouts that do not say (anime-character-parsing: "
                   "anime-character-parsing-13 or -16); default: the store's, or what --remap maps from.")
@click.option("--palette", type=click.Path(path_type=Path, dir_okay=False, exists=True), default=None,
              help="Colour -> class JSON for colour-coded masks (default: the label map's colours).")
@click.option("--resize-masks", type=click.Choice(["nearest"]), default=None,
              help="Resize masks whose size differs from their image (NEAREST keeps ids); default: refuse.")
@click.option("--alpha-threshold", type=click.IntRange(1, 255), default=128, show_default=True,
              help="Label Studio brush alpha at or above which a pixel is painted (strokes are anti-aliased).")
@click.option("--images", "images_dir", type=click.Path(path_type=Path, file_okay=False, exists=True), default=None,
              help="Folder to look up images that annotation files name but that are not beside them.")
@click.option("--crop-faces", type=click.Path(path_type=Path, dir_okay=False, exists=True), default=None,
              metavar="CASCADE.xml", help="Cut anime face crops with this OpenCV cascade (plain images).")
@click.option("--crop-margin", type=click.FloatRange(0, 5), default=0.5, show_default=True,
              help="Extra space around each face box, as a share of the box side on each side.")
@click.option("--recursive/--no-recursive", default=True, show_default=True, help="Plain images: walk subfolders.")
@click.option("--on-error", type=click.Choice(["fail", "skip"]), default="fail", show_default=True,
              help="fail: any bad item refuses the run and nothing is written; skip: add the good items.")
@click.option("--strict", is_flag=True, help="Warnings (near duplicates, suspect label order) refuse the run too.")
@click.option("--report", "report_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Write the full report (every finding) as JSON.")
@click.option("--workers", type=click.IntRange(0, 4096), default=None,
              help="Decoding processes (default: one per core; 0 = none); with --engine ray, Ray tasks in flight "
                   "(default: the cluster's CPUs / --cpus-per-worker).")
@click.option("--near-dup-bits", type=click.IntRange(-1, MAX_NEAR_DUP_BITS), default=DEFAULT_NEAR_DUP_BITS,
              show_default=True, help="dHash bits (of 256) that may differ for near duplicates; -1 turns the check "
                                      "off.")
@click.option("--character-from", default=None, metavar="dirname|regex:PATTERN|csv:FILE",
              help="Each sample's character id: the image's folder name, a regex over its path in SRC (group "
                   "'character' or 1), or a CSV with columns image,character[,name]. Default: from the layout "
                   "(SIS-anime class.txt), else none.")
@engine_options(workers=False)
def ingest_cmd(src: Path, into: Path, fmt: str, split: str | None, maps: tuple[str, ...], remap: str | None,
               source_labelmap: str | None, palette: Path | None, resize_masks: str | None, alpha_threshold: int,
               images_dir: Path | None,
               crop_faces: Path | None, crop_margin: float, recursive: bool, on_error: str, strict: bool,
               report_path: Path | None, workers: int | None, near_dup_bits: int, character_from: str | None,
               engine_config: EngineConfig) -> None:
    """Add images and their labels from SRC to a store: checked, deduplicated, resumable.

    Exit code 0 when everything was added; 1 when the run was refused (nothing written) or, with
    --on-error skip, when some items were skipped.

    \b
    Example:
      animeparse ingest Danbooru-Parsing/ --into my-ds
      animeparse ingest export.json --into my-ds --images uploads/ --report ingest.json
      animeparse ingest CelebAMask-HQ/ --into my-ds --resize-masks nearest --on-error skip
      animeparse ingest AnimeCharacterParsing/ --into acp-ds --source-labelmap anime-character-parsing-13
      animeparse ingest quintuplets/ --into my-ds --character-from dirname
      animeparse ingest /shared/danbooru/ --into /shared/my-ds --engine ray --ray-address auto
    """
    engine_config.check()
    with Dataset.open(into, write=True) as ds:
        remap_table = None
        if remap:
            remap_table = load_remap(remap, ds.labelmap.name)
            if remap_table.target != ds.labelmap.name:
                raise LabelMapError(f"--remap {remap} maps to {remap_table.target}, but the store uses "
                                    f"{ds.labelmap.name}")
        read = ReadOptions(resize_masks=resize_masks, class_map=class_map_from_pairs(maps),
                           palette=load_palette(palette, ds.labelmap) if palette else None,
                           alpha_threshold=alpha_threshold, images_dir=images_dir, crop_faces=crop_faces,
                           crop_margin=crop_margin, recursive=recursive, source_labelmap=source_labelmap)
        config = IngestConfig(format=fmt, split=split, on_error=on_error, strict=strict, read=read,
                              remap=remap_table, near_dup_bits=near_dup_bits, character_from=character_from,
                              **({"workers": workers} if workers is not None else {}))
        if fmt == "auto":
            scores = detect_scores(src)
            best = max(scores, key=lambda n: scores[n])
            if scores[best] > 0:
                say(f"format: {best} (confidence {scores[best]:.2f}; force another with --format)", err=True)
        with StageBars() as bars:
            try:
                report = ingest(ds, src, config, progress=bars, engine=engine_config)
            except IngestError as err:
                bars.close()
                _finish(err.report, report_path, failed=True)
                raise
    _finish(report, report_path, failed=bool(report.refused))
    if report.refused:  # --on-error skip: committed, but exit 1 with one line naming the first skipped item
        raise AnimeparseError(report.skipped_message())


def _finish(report, report_path: Path | None, *, failed: bool) -> None:  # type: ignore[no-untyped-def]
    # a refused run's report is about errors, so -q (errors only) prints it too
    (click.echo if failed else say)(report.render())
    if report_path:
        report.write_json(report_path)
        say(f"report: {report_path}")


COMMANDS = [ingest_cmd]
