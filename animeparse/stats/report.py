"""Write :class:`DatasetStats` to a folder: CSV tables, PNG plots and a one-page HTML or Markdown summary.

The folder is built under a temp name beside the target and renamed into place when complete, so a reader (or
a run killed half way) never sees a partial report.
"""

from __future__ import annotations

import html
import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..errors import AnimeparseError
from ..fsutil import TMP_SUFFIX, fsync_dir
from .compute import AREA_PERCENTILES, DatasetStats
from .plots import write_plots

__all__ = ["FORMATS", "CSV_FILES", "StatsReport", "write_report"]

FORMATS = ("html", "md")
# file name -> DatasetStats attribute
CSV_FILES = {
    "classes.csv": "classes",
    "class_areas.csv": "areas",
    "image_sizes.csv": "image_sizes",
    "splits.csv": "split_counts",
    "split_presence.csv": "split_presence",
    "sample_pixels.csv": "sample_pixels",
    "characters.csv": "characters",
    "attributes.csv": "attributes",
    "colours.csv": "colour_counts",
}


@dataclass(frozen=True)
class StatsReport:
    """Where :func:`write_report` put things: ``summary`` (report.html / report.md), ``csv`` and ``plots``."""

    folder: Path
    summary: Path
    csv: tuple[Path, ...]
    plots: tuple[Path, ...]


def write_report(stats: DatasetStats, out: Path | str, fmt: str = "html", *, force: bool = False) -> StatsReport:
    """Write the CSVs, plots and summary of ``stats`` into the folder ``out``.

    ``out`` must be absent or empty unless ``force`` (its contents are then replaced). ``fmt``: ``html`` (tables
    and ``<img>`` links to the PNGs beside it) or ``md``. Raises AnimeparseError for a bad ``fmt`` or a non-empty
    ``out``.
    """
    out = Path(out).absolute()
    if fmt not in FORMATS:
        raise AnimeparseError(f"unknown report format {fmt!r}; use one of {', '.join(FORMATS)}")
    if out.exists() and not out.is_dir():
        raise AnimeparseError("output exists and is not a folder; choose a folder path", path=out)
    if out.is_dir() and any(out.iterdir()) and not force:
        raise AnimeparseError("output folder is not empty; choose another or pass --force to replace it", path=out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.stats-", suffix=TMP_SUFFIX, dir=out.parent))
    try:
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700 folders; a report is for sharing
        csv = []
        for name, attr in CSV_FILES.items():
            frame: pd.DataFrame = getattr(stats, attr)
            if attr == "attributes":  # boxes and points as JSON lists in one cell each
                frame = frame.map(lambda v: json.dumps(v) if isinstance(v, list) else v)
            frame.to_csv(tmp / name, index=False, lineterminator="\n")
            csv.append(name)
        plots = [p.name for p in write_plots(stats, tmp)]
        summary = "report.html" if fmt == "html" else "report.md"
        text = _html(stats, plots) if fmt == "html" else _markdown(stats, plots)
        (tmp / summary).write_text(text, encoding="utf-8")
        _replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return StatsReport(folder=out, summary=out / summary, csv=tuple(out / n for n in csv),
                       plots=tuple(out / n for n in plots))


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _replace_dir(tmp: Path, out: Path) -> None:
    """Move the finished ``tmp`` onto ``out``; an existing ``out`` is set aside first and removed after."""
    old: Path | None = None
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", suffix=TMP_SUFFIX, dir=out.parent))
        os.replace(out, old / "report")
    os.replace(tmp, out)
    fsync_dir(out.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# -- summaries ----------------------------------------------------------------------------------------------------
_CAPTIONS = {
    "class_pixel_share.png": "Pixel share per class",
    "class_presence.png": "Share of labelled samples containing each class",
    "class_area.png": "Pixels per sample, per class",
    "image_sizes.png": "Image sizes",
    "split_presence.png": "Class presence by split",
    "characters.png": "Samples per character",
    "attribute_colours.png": "Hair, eye and skin colour names (from the masks)",
}


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def _overview(stats: DatasetStats) -> list[tuple[str, str]]:
    return [("store", stats.store), ("label map", stats.labelmap), ("layer", stats.layer),
            ("splits", ", ".join(stats.splits) or "(none)"), ("samples", str(stats.samples)),
            ("labelled", str(stats.labelled))]


def _sections(stats: DatasetStats) -> list[tuple[str, pd.DataFrame, str]]:
    """(title, table, CSV file) in page order; the class table drops its colour column (shown by the plots)."""
    pcts = ", ".join(f"p{p}" for p in AREA_PERCENTILES)
    return [
        ("Splits", stats.split_counts, "splits.csv"),
        ("Classes", stats.classes.drop(columns=["color"]), "classes.csv"),
        (f"Mask area per class (pixels per sample containing it: mean, min, {pcts}, max)", stats.areas,
         "class_areas.csv"),
        ("Class presence by split", stats.split_presence, "split_presence.csv"),
        ("Image sizes (most common first)", stats.image_sizes.head(20), "image_sizes.csv"),
        ("Characters (samples, and each class's share of the character's labelled pixels)", stats.characters,
         "characters.csv"),
        ("Colours computed from the masks (hair, eye, skin)", stats.colour_counts, "colours.csv"),
    ]


def _html(stats: DatasetStats, plots: list[str]) -> str:
    esc = html.escape
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>animeparse stats: {esc(Path(stats.store).name)}</title>",
             "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
             "table{border-collapse:collapse;font-size:13px;margin-bottom:1em}"
             "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}"
             "th{background:#f0f0f0}img{max-width:100%}figure{margin:1em 0}</style></head><body>",
             f"<h1>Dataset statistics: {esc(Path(stats.store).name)}</h1>", "<table>"]
    parts += [f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in _overview(stats)]
    parts.append("</table>")
    for title, table, csv in _sections(stats):
        parts.append(f'<h2>{esc(title)}</h2><p><a href="{csv}">{csv}</a></p>')
        parts.append(table.to_html(index=False, na_rep="", float_format=lambda v: f"{v:.4g}", border=0))
    parts.append("<h2>Plots</h2>")
    for name in plots:
        caption = esc(_CAPTIONS.get(name, name))
        parts.append(f'<figure><img src="{name}" alt="{caption}"><figcaption>{caption}</figcaption></figure>')
    parts.append('<p>Per-sample pixel counts: <a href="sample_pixels.csv">sample_pixels.csv</a>; per-sample face '
                 'attributes (box, eye / nose / mouth centres, colours): <a href="attributes.csv">attributes.csv</a>.'
                 '</p>')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _md_table(table: pd.DataFrame) -> str:
    def cell(v: object) -> str:
        return _fmt(v).replace("|", "\\|")

    lines = ["| " + " | ".join(cell(c) for c in table.columns) + " |",
             "|" + "|".join("---:" if pd.api.types.is_numeric_dtype(table[c]) else "---" for c in table.columns) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines)


def _markdown(stats: DatasetStats, plots: list[str]) -> str:
    parts = [f"# Dataset statistics: {Path(stats.store).name}", ""]
    parts += [f"- **{k}**: {v}" for k, v in _overview(stats)]
    for title, table, csv in _sections(stats):
        parts += ["", f"## {title}", "", f"[{csv}]({csv})", "", _md_table(table)]
    parts += ["", "## Plots", ""]
    for name in plots:
        parts += [f"![{_CAPTIONS.get(name, name)}]({name})", ""]
    parts.append("Per-sample pixel counts: [sample_pixels.csv](sample_pixels.csv); per-sample face attributes (box, "
                 "eye / nose / mouth centres, colours): [attributes.csv](attributes.csv).")
    return "\n".join(parts) + "\n"
