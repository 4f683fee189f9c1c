"""PNG plots of :class:`DatasetStats`, drawn with matplotlib's Agg canvas.

Figures are built with ``matplotlib.figure.Figure`` and an explicit ``FigureCanvasAgg`` rather than pyplot: no
global backend switch, no figure registry to leak from a long-running process, and the same bytes on every run.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .compute import DatasetStats

__all__ = ["PLOTS", "write_plots"]

_MAX_SIZE_BARS = 20
_EDGE = "#404040"  # class colours include black and white: an outline keeps every bar visible
# matplotlib 3.10 renamed boxplot's vert=False to orientation="horizontal" (and deprecated the old spelling)
_HORIZONTAL: dict[str, Any] = ({"orientation": "horizontal"} if tuple(int(v) for v in
                               matplotlib.__version__.split(".")[:2]) >= (3, 10) else {"vert": False})


def _rgb(c: tuple[int, int, int]) -> tuple[float, float, float]:
    return (c[0] / 255, c[1] / 255, c[2] / 255)


def _figure(rows: int) -> tuple[Figure, Axes]:
    fig = Figure(figsize=(8, max(3.0, 0.32 * rows + 1.2)), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _share(v: float) -> str:
    """A share as a percentage with enough digits to tell small classes apart (0.0042 -> "0.42%")."""
    if v <= 0:
        return "0"
    pct = 100 * v
    return f"{pct:.0f}%" if pct >= 10 else f"{pct:.1f}%" if pct >= 1 else f"{pct:.2g}%"


def _class_bars(stats: DatasetStats, column: str, xlabel: str, title: str, *, log: bool = False) -> Figure:
    """Horizontal bars per class in the class colours, each labelled with its value. ``log``: a log x axis from
    a decade below the smallest nonzero value, so classes of a few pixels (brows, lips) get a visible bar."""
    table = _plotted_classes(stats.classes)
    fig, ax = _figure(len(table))
    y = np.arange(len(table))
    values = table[column].fillna(0).to_numpy(np.float64)
    nonzero = values[values > 0]
    floor = 10 ** np.floor(np.log10(nonzero.min())) / 10 if log and nonzero.size else 0.0
    ax.barh(y, np.where(values > 0, values - floor, 0.0), left=floor,
            color=[_rgb(stats.colors[n]) for n in table["name"]], edgecolor=_EDGE, linewidth=0.6)
    ax.set_yticks(y, [f"{i} {n}" for i, n in zip(table["id"], table["name"])])
    ax.invert_yaxis()
    ax.set_xlabel(xlabel + (" (log scale)" if log and nonzero.size else ""))
    ax.set_title(title)
    if log and nonzero.size:
        ax.set_xscale("log")
        ax.set_xlim(floor, max(1.0, nonzero.max() * 3))
        ax.xaxis.set_major_formatter(lambda v, _pos: _share(v))
    else:
        ax.set_xlim(0, max(1e-9, values.max()) * 1.15)
        ax.xaxis.set_major_formatter(lambda v, _pos: f"{v:.0%}")
    for yi, v in zip(y, values):
        ax.text(v if v > 0 else (floor or 0.0), float(yi), " " + _share(v), va="center", ha="left", fontsize=7)
    return fig


def pixel_share_plot(stats: DatasetStats) -> Figure:
    return _class_bars(stats, "pixel_share", "share of labelled pixels",
                       f"Pixel share per class ({stats.layer}, {stats.labelled} labelled samples)", log=True)


def presence_plot(stats: DatasetStats) -> Figure:
    return _class_bars(stats, "presence", "share of labelled samples containing the class",
                       f"Class presence ({stats.layer})")


def area_plot(stats: DatasetStats) -> Figure:
    """Box plots of pixels per sample for each class, over the samples that contain it (log scale)."""
    table = _plotted_classes(stats.classes)
    fig, ax = _figure(len(table))
    data = [stats.sample_pixels[n].to_numpy() for n in table["name"]]
    data = [d[d > 0] for d in data]
    keep = [i for i, d in enumerate(data) if d.size]
    if keep:
        boxes = ax.boxplot([data[i] for i in keep], positions=keep, patch_artist=True, widths=0.6,
                           flierprops={"markersize": 2}, medianprops={"color": "black"}, **_HORIZONTAL)
        for patch, i in zip(boxes["boxes"], keep):
            patch.set_facecolor(_rgb(stats.colors[table["name"].iloc[i]]))
            patch.set_edgecolor(_EDGE)
        ax.set_xscale("log")
    else:
        ax.text(0.5, 0.5, "no labelled samples", ha="center", va="center", transform=ax.transAxes)
    ax.set_yticks(np.arange(len(table)), [f"{i} {n}" for i, n in zip(table["id"], table["name"])])
    ax.set_ylim(len(table) - 0.5, -0.5)
    ax.set_xlabel("pixels per sample (samples containing the class)")
    ax.set_title(f"Mask area per class ({stats.layer})")
    return fig


def image_size_plot(stats: DatasetStats) -> Figure:
    """Samples per image size: bars per ``WxH`` (most common first) for up to 20 distinct sizes, where a scatter
    would be a dot or two; beyond that, width against height with marker area by the number of samples."""
    sizes = stats.image_sizes
    if 0 < len(sizes) <= _MAX_SIZE_BARS:
        fig, ax = _figure(len(sizes))
        order = sizes.sort_values(["samples", "width", "height"], ascending=[False, True, True])
        counts = order["samples"].to_numpy(np.int64)
        y = np.arange(len(order))
        ax.barh(y, counts, color="#0072b2", edgecolor=_EDGE, linewidth=0.6)
        ax.set_yticks(y, [f"{w}x{h}" for w, h in zip(order["width"], order["height"])])
        ax.invert_yaxis()
        ax.set_xlim(0, counts.max() * 1.15)
        for yi, n in zip(y, counts):
            ax.text(float(n), float(yi), f" {n} ({n / max(1, stats.samples):.0%})", va="center", ha="left", fontsize=7)
        ax.set_xlabel("samples")
        ax.set_ylabel("width x height (px)")
        ax.set_title(f"Image sizes ({stats.samples} samples, {len(sizes)} distinct)")
        return fig
    fig = Figure(figsize=(6, 5), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    if len(sizes):
        counts = sizes["samples"].to_numpy(np.float64)
        ax.scatter(sizes["width"], sizes["height"], s=20 + 300 * counts / counts.max(), alpha=0.6,
                   color="#4c72b0", edgecolor=_EDGE)
        for w, h, n in sizes.head(10).itertuples(index=False):
            ax.annotate(str(n), (w, h), ha="center", va="center", fontsize=7)
    else:
        ax.text(0.5, 0.5, "no samples", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("width (px)")
    ax.set_ylabel("height (px)")
    ax.set_title(f"Image sizes ({stats.samples} samples, {len(sizes)} distinct)")
    return fig


def split_presence_plot(stats: DatasetStats) -> Figure:
    """Per class, the share of each split's labelled samples that contain it (one bar per split)."""
    table = _plotted_classes(stats.classes)
    k = max(1, len(stats.splits))
    fig, ax = _figure(int(len(table) * (1 + 0.3 * k)))
    y = np.arange(len(table))
    height = 0.8 / k
    presence = stats.split_presence.set_index("id")
    for j, split in enumerate(stats.splits):
        values = presence.loc[table["id"], f"{split}_presence"].fillna(0).to_numpy()
        ax.barh(y - 0.4 + height * (j + 0.5), values, height=height, label=split, color=f"C{j % 10}",
                edgecolor=_EDGE, linewidth=0.4)
    ax.set_yticks(y, [f"{i} {n}" for i, n in zip(table["id"], table["name"])])
    ax.invert_yaxis()
    ax.xaxis.set_major_formatter(lambda v, _pos: f"{v:.0%}")
    ax.set_xlabel("share of the split's labelled samples containing the class")
    ax.set_title("Class presence by split")
    if stats.splits:
        ax.legend(loc="lower right", fontsize=8)
    return fig


def character_plot(stats: DatasetStats) -> Figure:
    """Samples per character, labelled ones darker."""
    table = stats.characters
    fig, ax = _figure(len(table))
    y = np.arange(len(table))
    ax.barh(y, table["samples"].to_numpy(), color="#b0c4de", edgecolor=_EDGE, linewidth=0.6, label="samples")
    ax.barh(y, table["labelled"].to_numpy(), color="#4682b4", edgecolor=_EDGE, linewidth=0.6, label="labelled")
    ax.set_yticks(y, [f"{c} ({n})" if n else str(c) for c, n in zip(table["character"], table["name"])])
    ax.invert_yaxis()
    ax.set_xlabel("samples")
    ax.set_title(f"Samples per character ({len(table)} rows)")
    if len(table):
        ax.legend(loc="lower right", fontsize=8)
    else:
        ax.text(0.5, 0.5, "no samples", ha="center", va="center", transform=ax.transAxes)
    return fig


def colour_plot(stats: DatasetStats) -> Figure:
    """Samples per colour name, one group of bars per role (hair, eye, skin), each bar in its palette colour."""
    from .attributes import PALETTE

    table = stats.colour_counts
    fig, ax = _figure(len(table))
    y = np.arange(len(table))
    colours = [_rgb(PALETTE[c]) if c in PALETTE else (1.0, 1.0, 1.0) for c in table["color"]]
    ax.barh(y, table["samples"].to_numpy(), color=colours, edgecolor=_EDGE, linewidth=0.6)
    ax.set_yticks(y, [f"{r}: {c}" for r, c in zip(table["role"], table["color"])])
    ax.invert_yaxis()
    ax.set_xlabel("samples")
    ax.set_title(f"Colours from the masks ({len(stats.attributes)} samples)")
    if not len(table):
        ax.text(0.5, 0.5, "no attributes", ha="center", va="center", transform=ax.transAxes)
    return fig


def _plotted_classes(classes: pd.DataFrame) -> pd.DataFrame:
    """Every label-map class; the ignore row only when some ignore pixels exist."""
    return classes[(classes["name"] != "ignore") | (classes["pixels"] > 0)].reset_index(drop=True)


PLOTS: dict[str, Callable[[DatasetStats], Figure]] = {
    "class_pixel_share.png": pixel_share_plot,
    "class_presence.png": presence_plot,
    "class_area.png": area_plot,
    "image_sizes.png": image_size_plot,
    "split_presence.png": split_presence_plot,
    "characters.png": character_plot,
    "attribute_colours.png": colour_plot,
}


def write_plots(stats: DatasetStats, folder: Path) -> list[Path]:
    """Draw every plot of :data:`PLOTS` into ``folder``; return the paths in that order."""
    paths = []
    for name, draw in PLOTS.items():
        fig = draw(stats)
        # no Software/date metadata: the same statistics give the same bytes
        fig.savefig(folder / name, format="png", metadata={"Software": None})
        paths.append(folder / name)
    return paths
