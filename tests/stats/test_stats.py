"""Statistics: exact numbers on a store with literal masks, the report folder, plots, the CLI."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

from animeparse import Dataset, StoreError
from animeparse.cli.main import cli
from animeparse.errors import AnimeparseError
from animeparse.stats import CSV_FILES, compute_stats, histograms, write_report
from animeparse.stats.plots import PLOTS

from . import Spec, make_store


def _tiny_masks() -> list[Spec]:
    """Three labelled 4x4 samples (2 train, 1 test) and one unlabelled 6x5 test sample, with known counts:

    A (train): 8 background, 8 skin.  B (train): 4 background, 12 hair.  C (test): 15 hair, 1 ignore.
    """
    a = np.zeros((4, 4), np.uint8)
    a[2:] = 1
    b = np.full((4, 4), 17, np.uint8)
    b[:, 0] = 0
    c = np.full((4, 4), 17, np.uint8)
    c[3, 3] = 255
    return [Spec(a), Spec(b), Spec(c, split="test"), Spec(None, split="test", size_hw=(5, 6))]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root, ids = make_store(tmp_path_factory.mktemp("tiny") / "ds", _tiny_masks())
    return root, ids


@pytest.fixture(scope="module")
def report(tiny, tmp_path_factory):
    with Dataset.open(tiny[0]) as ds:
        stats = compute_stats(ds)
    return write_report(stats, tmp_path_factory.mktemp("out") / "report")


def _csv(report, name: str) -> pd.DataFrame:
    return pd.read_csv(report.folder / name, keep_default_na=False, na_values=[""])


def test_class_table_exact(report):
    classes = _csv(report, "classes.csv").set_index("name")
    assert list(classes.columns) == ["id", "color", "pixels", "pixel_share", "samples", "presence"]
    assert len(classes) == 20 and classes.index[-1] == "ignore" and classes["id"].iloc[-1] == 255
    expected = {"background": (12, 2), "skin": (8, 1), "hair": (27, 2), "ignore": (1, 1), "hat": (0, 0)}
    for name, (pixels, samples) in expected.items():
        assert classes.loc[name, "pixels"] == pixels
        assert classes.loc[name, "samples"] == samples
        assert classes.loc[name, "pixel_share"] == pytest.approx(pixels / 48)
        assert classes.loc[name, "presence"] == pytest.approx(samples / 3)
    assert classes["pixels"].sum() == 48
    assert classes.loc["skin", "color"] == "#ff0000"


def test_area_table_exact(report):
    areas = _csv(report, "class_areas.csv").set_index("name")
    assert list(areas.columns) == ["id", "samples", "mean", "min", "p5", "p25", "p50", "p75", "p95", "max"]
    assert areas.loc["background", ["samples", "mean", "min", "p50", "max"]].tolist() == [2, 6, 4, 6, 8]
    assert areas.loc["hair", ["samples", "mean", "min", "p25", "max"]].tolist() == [2, 13.5, 12, 12.75, 15]
    assert areas.loc["skin", ["samples", "p5", "p95"]].tolist() == [1, 8, 8]
    assert areas.loc["hat"].drop(["id", "samples"]).isna().all() and areas.loc["hat", "samples"] == 0


def test_split_and_size_tables_exact(report):
    splits = _csv(report, "splits.csv")
    assert splits.to_dict("records") == [
        {"split": "train", "samples": 2, "labelled": 2, "pixels": 32},
        {"split": "test", "samples": 2, "labelled": 1, "pixels": 16}]
    sizes = _csv(report, "image_sizes.csv")
    assert sizes.to_dict("records") == [{"width": 4, "height": 4, "samples": 3},
                                        {"width": 6, "height": 5, "samples": 1}]
    presence = _csv(report, "split_presence.csv").set_index("name")
    assert list(presence.columns) == ["id", "train_samples", "train_presence", "test_samples", "test_presence"]
    assert presence.loc["background", ["train_samples", "train_presence", "test_samples"]].tolist() == [2, 1.0, 0]
    assert presence.loc["hair", ["train_presence", "test_presence"]].tolist() == [0.5, 1.0]
    assert presence.loc["ignore", ["train_samples", "test_samples"]].tolist() == [0, 1]
    per_sample = _csv(report, "sample_pixels.csv")
    assert len(per_sample) == 3 and per_sample[["skin", "hair", "ignore"]].sum().tolist() == [8, 27, 1]


def test_plots_are_pngs_and_summary_links_them(report):
    assert {p.name for p in report.plots} == set(PLOTS)
    for path in report.plots:
        with Image.open(path) as im:
            assert im.format == "PNG" and im.size[0] > 100
            im.verify()
    page = report.summary.read_text()
    assert report.summary.name == "report.html" and page.startswith("<!DOCTYPE html>")
    for name in [*PLOTS, *CSV_FILES]:
        assert f'"{name}"' in page
    assert not list(report.folder.parent.glob(".*.tmp")), "temp folders left behind"


def test_markdown_summary_and_split_filter(tiny, tmp_path):
    with Dataset.open(tiny[0]) as ds:
        stats = compute_stats(ds, splits=["test"])
    assert stats.splits == ("test",) and stats.samples == 2 and stats.labelled == 1
    out = write_report(stats, tmp_path / "md", "md")
    text = out.summary.read_text()
    assert out.summary.name == "report.md" and "](class_presence.png)" in text and "| test | 2 | 1 | 16 |" in text


def test_unknown_split_and_format_refused(tiny, tmp_path):
    with Dataset.open(tiny[0]) as ds:
        with pytest.raises(StoreError, match="no samples in split.*vall.*train, test"):
            compute_stats(ds, splits=["vall"])
        stats = compute_stats(ds)
    with pytest.raises(AnimeparseError, match="unknown report format"):
        write_report(stats, tmp_path / "x", "pdf")


def test_non_empty_out_refused_unless_force_and_output_deterministic(tiny, report, tmp_path):
    with Dataset.open(tiny[0]) as ds:
        stats = compute_stats(ds)
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(AnimeparseError, match="not empty.*--force"):
        write_report(stats, out)
    assert (out / "keep.txt").exists()
    again = write_report(stats, out, force=True)
    assert not (out / "keep.txt").exists() and (out / "classes.csv").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    # the same store gives the same bytes: no timestamps, no software versions
    for a, b in zip([*report.csv, *report.plots], [*again.csv, *again.plots]):
        assert a.read_bytes() == b.read_bytes(), a.name


def test_missing_layer_gives_empty_tables_not_an_error(tiny):
    with Dataset.open(tiny[0]) as ds:
        stats = compute_stats(ds, layer="prelabel/none")
    assert stats.labelled == 0 and stats.classes["pixels"].sum() == 0 and stats.classes["presence"].isna().all()
    for name in PLOTS:  # every plot draws with no data
        buf = io.BytesIO()
        PLOTS[name](stats).savefig(buf, format="png")
        assert buf.getvalue().startswith(b"\x89PNG")


def test_parallel_equals_serial_and_progress(tmp_path, monkeypatch):
    monkeypatch.setattr(histograms, "MIN_PARALLEL", 4)  # a pool even for a few masks
    rng = np.random.default_rng(0)
    specs = [Spec(rng.integers(0, 19, (4, 4), dtype=np.uint8), split=("train", "val")[i % 2])
             for i in range(2 * histograms.CHUNK + 3)]
    root, _ = make_store(tmp_path / "ds", specs)
    calls: list[tuple[int, int | None]] = []
    with Dataset.open(root) as ds:
        serial = compute_stats(ds, workers=0)
        parallel = compute_stats(ds, workers=2, progress=lambda done, total: calls.append((done, total)))
    for attr in CSV_FILES.values():
        pd.testing.assert_frame_equal(getattr(serial, attr), getattr(parallel, attr))
    assert calls[-1] == (len(specs), len(specs)) and len(calls) == len(specs)
    expected = sum(np.bincount(s.mask.ravel(), minlength=19)[:19] for s in specs)
    assert serial.classes["pixels"].tolist()[:19] == expected.tolist()


def test_cli_stats(tiny, tmp_path):
    runner = CliRunner()
    out = tmp_path / "cli"
    out.mkdir()
    (out / "old.txt").write_text("old")
    r = runner.invoke(cli, ["-q", "stats", str(tiny[0]), "--out", str(out)])
    assert r.exit_code == 1 and "--force" in r.output and (out / "old.txt").exists()
    r = runner.invoke(cli, ["stats", str(tiny[0]), "--out", str(out), "--split", "train", "--split", "test",
                            "--format", "md", "--layer", "gt", "--workers", "0", "--force"])
    assert r.exit_code == 0, r.output
    assert "report.md" in r.output and "classes.csv" in r.output and "class_area.png" in r.output
    assert (out / "report.md").exists() and not (out / "old.txt").exists()


def test_pixel_share_is_log_scaled_with_a_value_on_every_bar(tiny):
    with Dataset.open(tiny[0]) as ds:
        stats = compute_stats(ds)
    ax = PLOTS["class_pixel_share.png"](stats).axes[0]
    assert ax.get_xscale() == "log"
    labels = [t.get_text().strip() for t in ax.texts]
    assert len(labels) == len(ax.get_yticklabels())  # one value per class row
    # skin 8/48, hair 27/48, background 12/48, ignore 1/48; classes without pixels read "0"
    assert {"17%", "56%", "25%", "2.1%"} <= set(labels) and "0" in labels
    bars = [p for p in ax.patches if p.get_width() > 0]
    assert len(bars) == 4 and min(p.get_x() + p.get_width() for p in bars) == pytest.approx(1 / 48)
    assert ax.get_xlim()[0] < 1 / 48  # the smallest class has a visible bar to the right of the axis start


def test_image_sizes_plot_counts_each_size(tiny):
    with Dataset.open(tiny[0]) as ds:
        stats = compute_stats(ds)
    ax = PLOTS["image_sizes.png"](stats).axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["4x4", "6x5"]
    assert [t.get_text().strip() for t in ax.texts] == ["3 (75%)", "1 (25%)"]
    assert [p.get_width() for p in ax.patches] == [3, 1]
