"""``stats`` and ``split``: dataset statistics with plots, and deterministic group-aware stratified splits."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import AnimeparseError
from ..store import Dataset
from .common import echo_table, progress_bar, say

_DEFAULT_NAMES = ("train", "val", "test")


@click.command("stats")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option("--out", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="Folder for the CSVs, plots and summary (new or empty unless --force).")
@click.option("--layer", default="gt", show_default=True, help="Mask layer to count (gt, prelabel/RUN, ...).")
@click.option("--split", "splits", multiple=True, metavar="NAME",
              help="Only samples in this split; repeatable (default: every split).")
@click.option("--format", "fmt", type=click.Choice(["html", "md"]), default="html", show_default=True,
              help="Summary page: report.html or report.md, linking the plots beside it.")
@click.option("--force", is_flag=True, help="Replace the contents of a non-empty --out folder.")
@click.option("--workers", type=click.IntRange(0, 64), default=None,
              help="Mask-reading processes (default: one per core; 0 = none).")
@click.option("--attributes/--no-attributes", default=True, show_default=True,
              help="Tabulate face attributes and hair/eye/skin colours (stored by animeparse attributes; others "
                   "are computed, reading their images).")
def stats_cmd(directory: Path, out: Path, layer: str, splits: tuple[str, ...], fmt: str, force: bool,
              workers: int | None, attributes: bool) -> None:
    """Class pixel shares, presence, mask areas, image sizes, split counts, samples and class shares per
    character, and hair/eye/skin colours of a store, as CSV, PNG plots and a one-page summary.

    \b
    Example:
      animeparse stats my-ds --out my-ds-stats
      animeparse stats my-ds --out stats-test --split test --format md --force
    """
    from ..stats import compute_stats, write_report

    if out.exists() and out.is_dir() and any(out.iterdir()) and not force:
        # refused before any mask is read, not after minutes of work; write_report checks again
        raise AnimeparseError("output folder is not empty; choose another or pass --force to replace it", path=out)
    with Dataset.open(directory) as ds, progress_bar("read masks", total=len(ds)) as progress:
        stats = compute_stats(ds, layer=layer, splits=splits or None, progress=progress, workers=workers,
                              attributes=attributes)
    report = write_report(stats, out, fmt, force=force)
    say(f"{stats.samples} samples, {stats.labelled} with a {layer!r} mask, splits: "
        f"{', '.join(stats.splits) or '(none)'}")
    echo_table([("summary", report.summary), ("tables", ", ".join(p.name for p in report.csv)),
                ("plots", ", ".join(p.name for p in report.plots))], title=f"wrote {report.folder}")


def _ratios(_ctx: click.Context, _param: click.Parameter, text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError as err:
        raise click.BadParameter(f"expected numbers separated by commas such as 0.8,0.1,0.1, got {text!r}") from err


@click.command("split")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option("--ratios", default="0.8,0.1,0.1", show_default=True, callback=_ratios,
              help="Target share of samples per split, comma separated (normalised to sum 1).")
@click.option("--names", default=None, help="Split names, one per ratio (default: train,val,test; or train,val "
                                            "for two ratios).")
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed and store, same split.")
@click.option("--group", "groups", multiple=True, metavar="near-duplicates|source|tag:NAME|character|hair_color",
              help="Keep these groups in one split; repeatable. Near duplicates are always kept together; source: "
                   "crops of one picture, else samples from one folder; tag:NAME: samples sharing a tag NAME:value; "
                   "character: samples of one character; hair_color, eye_color, skin_color: samples whose mask "
                   "gives the same colour name.")
@click.option("--keep-fixed/--reassign-fixed", default=True, show_default=True,
              help="Keep fixed samples (tag split-fixed, or a split other than train not set by an earlier split "
                   "run) where they are, or place them like the others.")
@click.option("--layer", default="gt", show_default=True, help="Mask layer whose class presence is balanced.")
@click.option("--dry-run", is_flag=True, help="Print the split without writing it.")
@click.option("--workers", type=click.IntRange(0, 64), default=None,
              help="Mask-reading processes (default: one per core; 0 = none).")
def split_cmd(directory: Path, ratios: tuple[float, ...], names: str | None, seed: int, groups: tuple[str, ...],
              keep_fixed: bool, layer: str, dry_run: bool, workers: int | None) -> None:
    """Assign samples to splits: deterministic by seed, groups kept together, class presence balanced, fixed
    splits (such as a dataset's own test set) kept.

    \b
    Example:
      animeparse split my-ds --ratios 0.8,0.1,0.1 --seed 0 --dry-run
      animeparse split my-ds --ratios 0.9,0.1 --names train,val --group source
      animeparse split my-ds --ratios 0.8,0.2 --names train,val --group character
    """
    from ..stats.split import SplitConfig, split_dataset

    if names is None and len(ratios) > len(_DEFAULT_NAMES):
        raise click.BadParameter(f"{len(ratios)} ratios: name the splits with --names", param_hint="--names")
    split_names = tuple(n.strip() for n in names.split(",")) if names else _DEFAULT_NAMES[:len(ratios)]
    config = SplitConfig(ratios=ratios, names=split_names, seed=seed, group=groups or ("near-duplicates",),
                         reassign_fixed=not keep_fixed, layer=layer)
    with Dataset.open(directory, write=not dry_run) as ds, progress_bar("read masks", total=len(ds)) as progress:
        plan = split_dataset(ds, config, dry_run=dry_run, progress=progress, workers=workers)
    for warning in plan.warnings:
        say(f"warning: {warning}", err=True)
    show = click.echo if dry_run else say  # a dry run's plan is what it was asked for: printed even with -q
    show(plan.summary.to_string(index=False, na_rep="", float_format=lambda v: f"{v:.3f}"))
    classes = plan.class_shares[plan.class_shares["samples"] > 0]
    show("\nshare of each class's labelled samples per split:")
    show(classes.to_string(index=False, na_rep="", float_format=lambda v: f"{v:.3f}"))
    show(f"\nclass deviation {plan.deviation:.3f} (0 = every class split exactly by the ratios); "
         f"{len(plan.moved)} samples change split, {len(plan.assignment) - len(plan.free)} fixed")
    if dry_run:
        show("dry run: nothing written")
    else:
        say(f"written (run {plan.run_id})")


COMMANDS = [stats_cmd, split_cmd]
