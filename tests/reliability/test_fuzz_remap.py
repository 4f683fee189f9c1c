"""Fuzz: label-map remaps, the bundled tables (``schemas/labelmaps/*.to.*.json``, ``--remap``) and numeric ``--map``
id maps of ingest.

A remap never invents or loses a pixel: each target class gets exactly the pixels of the source classes mapped
onto it; ignore (255) stays 255 unless the table says otherwise; an id the table does not cover is refused, never
passed through. ``labelmap.py`` has no "bijective" flag: the bundled CelebAMask-HQ table maps class to class by
name, so the test checks that it is a bijection of the two maps' ids (names equal) and that its inverse gives every
mask back.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from animeparse import Dataset
from animeparse.cli.main import cli
from animeparse.errors import LabelMapError
from animeparse.formats.base import ReadOptions
from animeparse.ingest.run import IngestConfig, _id_lut
from animeparse.labelmap import IGNORE_INDEX, Remap, load_labelmap, load_remap
from animeparse.resources import schemas_dir

from ..conftest import make_pair
from .fuzzkit import fuzz, label_masks

BUNDLED = sorted(p.name.removesuffix(".json").split(".to.") for p in (schemas_dir() / "labelmaps").glob("*.to.*.json"))


def counts(mask: np.ndarray) -> np.ndarray:
    return np.bincount(mask.ravel(), minlength=256)


def assert_counts_follow(table_lut: np.ndarray, before: np.ndarray, after: np.ndarray) -> None:
    """Every target id holds exactly the pixels of the source ids the lookup sends to it."""
    expected = np.zeros(256, np.int64)
    np.add.at(expected, table_lut[np.flatnonzero(before)], before[np.flatnonzero(before)])
    assert np.array_equal(expected, after)


def test_bundled_tables_exist():
    assert ["celebamask-hq", "danbooru-parsing"] in BUNDLED


def _is_bijection(source: str, target: str) -> bool:
    values = list(load_remap(source, target).table.values())
    return len(values) == len(set(values))


@pytest.mark.parametrize(("source", "target"), BUNDLED, ids=lambda v: v)
def test_bundled_table_covers_both_maps(source, target):
    """Every source class has an entry and every target class is reached; a one-to-one table maps by name (the
    AnimeCharacterParsing 16 -> 13 table merges classes by meaning, so it is checked against its own listing)."""
    remap = load_remap(source, target)
    src, dst = load_labelmap(source), load_labelmap(target)
    assert sorted(remap.table) == src.ids  # every source class has an entry
    assert sorted(set(remap.table.values())) == dst.ids  # every target class is reached
    assert remap.lut()[IGNORE_INDEX] == IGNORE_INDEX
    if _is_bijection(source, target):
        assert all(src.name_of(k) == dst.name_of(v) for k, v in remap.table.items())
    else:
        merged = {src.name_of(k): dst.name_of(v) for k, v in remap.table.items() if src.name_of(k) != dst.name_of(v)}
        assert merged == {"hair_decoration": "accessories", "face_wearing": "accessories", "mouth": "face",
                          "stockings": "legs_wearing", "shoes": "feet"}, merged


@fuzz("remap_bundled_bijective")
@given(st.data())
def test_bundled_remap_round_trips_every_mask(data):
    for source, target in BUNDLED:
        remap = load_remap(source, target)
        mask = data.draw(label_masks(ids=(*load_labelmap(source).ids, IGNORE_INDEX)))
        there = remap.apply(mask, path="m.png")
        assert there.dtype == np.uint8 and there.shape == mask.shape
        assert np.array_equal(there == IGNORE_INDEX, mask == IGNORE_INDEX)
        assert_counts_follow(remap.lut(), counts(mask), counts(there))
        if _is_bijection(source, target):  # a merging table cannot be undone
            inverse = Remap(source=target, target=source, table={v: k for k, v in remap.table.items()})
            assert np.array_equal(inverse.apply(there), mask)


@st.composite
def tables(draw: st.DrawFn) -> dict[int, int]:
    """A random table: any source ids, targets from a few ids (so merges happen), sometimes listing 255."""
    keys = draw(st.lists(st.integers(0, 255), min_size=1, max_size=12, unique=True))
    targets = draw(st.lists(st.integers(0, 255), min_size=1, max_size=6))
    return {k: draw(st.sampled_from(targets)) for k in keys}


@fuzz("remap_random_tables")
@given(tables(), st.data())
def test_random_tables_keep_every_pixel_and_refuse_uncovered_ids(table, data):
    remap = Remap(source="a", target="b", table=table)
    covered = sorted({*table, IGNORE_INDEX})
    mask = data.draw(label_masks(ids=tuple(covered)))
    out = remap.apply(mask)
    assert_counts_follow(remap.lut(), counts(mask), counts(out))
    if IGNORE_INDEX not in table:
        assert np.array_equal(out == IGNORE_INDEX, (mask == IGNORE_INDEX) | np.isin(mask, [k for k, v in table.items()
                                                                                            if v == IGNORE_INDEX]))
    if len(set(table.values())) == len(table):  # injective: the inverse gives the mask back
        inverse = Remap(source="b", target="a", table={v: k for k, v in table.items()})
        if IGNORE_INDEX in table.values() and IGNORE_INDEX not in table:
            return  # 255 then has two preimages (itself and the key sent to 255): not invertible
        assert np.array_equal(inverse.apply(out), mask)
    uncovered = [i for i in range(256) if i not in covered]
    if uncovered:
        stray = data.draw(st.sampled_from(uncovered))
        y, x = data.draw(st.integers(0, mask.shape[0] - 1)), data.draw(st.integers(0, mask.shape[1] - 1))
        bad = mask.copy()
        bad[y, x] = stray
        with pytest.raises(LabelMapError, match=rf"ids \[{stray}\]") as err:
            remap.apply(bad, path="m.png")
        assert "m.png" in str(err.value)


@pytest.mark.parametrize("mask", [np.array([[0, -1]], np.int64), np.array([[0, 256]], np.int32),
                                  np.array([[0.0, 1.0]]), np.array([[1, 300]], np.uint16)],
                         ids=["negative", "over-255", "float", "uint16-300"])
def test_masks_that_are_not_ids_are_refused(mask):
    """A lookup with -1 would read entry 255 (ignore) and 256 would overrun: refused instead."""
    with pytest.raises(LabelMapError, match="ids 0..255"):
        Remap(source="a", target="b", table={0: 0, 1: 1, 255: 255}).apply(mask, path="m.png")


@pytest.mark.parametrize("table", [{300: 1}, {1: 256}, {-1: 0}, {1: -3}], ids=str)
def test_tables_with_non_ids_are_refused(table):
    with pytest.raises(LabelMapError, match="0..255"):
        Remap(source="a", target="b", table=table)


def test_remap_file_with_a_key_over_255_names_the_file(tmp_path):
    """The schema lets keys up to 999 through; the lookup has 256 entries."""
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"from": "mine", "to": "danbooru-parsing", "table": {"0": 0, "300": 1}}))
    with pytest.raises(LabelMapError, match="300") as err:
        load_remap(str(path), "danbooru-parsing")
    assert "mine.json" in str(err.value)


# -- numeric --map entries (ingest of index masks) ----------------------------------------------------------------
@st.composite
def id_maps(draw: st.DrawFn) -> dict[str, str]:
    """``--map OLD=NEW`` pairs for index masks: NEW an id, a class name or 'ignore'."""
    danbooru = load_labelmap("danbooru-parsing")
    olds = draw(st.lists(st.integers(0, 254), min_size=1, max_size=6, unique=True))
    news = st.one_of(st.sampled_from(danbooru.ids).map(str), st.sampled_from(danbooru.names),
                     st.sampled_from(["ignore", "255", "background"]))
    return {str(k): draw(news) for k in olds}


@fuzz("id_map_counts_preserved")
@given(maps=id_maps(), data=st.data())
def test_numeric_map_moves_pixels_and_keeps_the_rest(maps, data):
    danbooru = load_labelmap("danbooru-parsing")
    lut = _id_lut(SimpleNamespace(labelmap=danbooru), IngestConfig(read=ReadOptions(class_map=maps)))  # only the map
    assert lut is not None
    mask = data.draw(label_masks(ids=tuple(sorted({*map(int, maps), 0, 1, 17, IGNORE_INDEX}))))
    out = lut[mask]
    assert out.min() >= 0 and out.max() <= 255
    assert_counts_follow(lut, counts(mask), counts(out.astype(np.uint8)))
    for old, new in maps.items():
        target = IGNORE_INDEX if new in ("ignore", "255") else 0 if new == "background" else (
            int(new) if new.isdigit() else danbooru.id_of(new))
        assert lut[int(old)] == target
    untouched = ~np.isin(mask, [int(k) for k in maps])
    assert np.array_equal(out[untouched], mask[untouched])


@pytest.mark.parametrize(("pair", "match"), [
    ("3=273", "3=273"),  # 273 would wrap to 17 (hair) in uint8
    ("3=wings", "wings"),
], ids=["new-over-255", "unknown-name"])
def test_numeric_map_outside_the_ids_is_refused_by_ingest(tmp_path, pair, match):
    make_pair(tmp_path / "src", "a", ids=(0, 1, 3))
    runner = CliRunner()
    assert runner.invoke(cli, ["init", str(tmp_path / "ds"), "--labelmap", "danbooru-parsing"]).exit_code == 0
    result = runner.invoke(cli, ["ingest", str(tmp_path / "src"), "--into", str(tmp_path / "ds"), "--map", pair,
                                 "--workers", "0"])
    assert result.exit_code == 1, result.output
    assert match in result.output and "Traceback" not in result.output
    with Dataset.open(tmp_path / "ds") as ds:
        assert len(ds) == 0


def test_numeric_map_of_an_id_no_mask_has_is_left_alone(tmp_path):
    """``--map 300=1`` crashed ingest (IndexError: a 256-entry lookup). No uint8 mask holds 300; such keys are
    category ids of annotation formats (a COCO results list's), which their readers map."""
    make_pair(tmp_path / "src", "a", ids=(0, 1, 3))
    runner = CliRunner()
    runner.invoke(cli, ["init", str(tmp_path / "ds"), "--labelmap", "danbooru-parsing"])
    result = runner.invoke(cli, ["ingest", str(tmp_path / "src"), "--into", str(tmp_path / "ds"), "--map", "300=1",
                                 "--workers", "0"])
    assert result.exit_code == 0, result.output
    with Dataset.open(tmp_path / "ds") as ds:
        (sample,) = ds.samples()
        assert sorted(np.unique(ds.read_mask(sample.id)).tolist()) == [0, 1, 3]


def test_numeric_map_to_ignore_as_the_help_says(tmp_path):
    make_pair(tmp_path / "src", "a", ids=(0, 1, 3))
    runner = CliRunner()
    runner.invoke(cli, ["init", str(tmp_path / "ds"), "--labelmap", "danbooru-parsing"])
    result = runner.invoke(cli, ["ingest", str(tmp_path / "src"), "--into", str(tmp_path / "ds"), "--map", "3=ignore",
                                 "--workers", "0"])
    assert result.exit_code == 0, result.output
    with Dataset.open(tmp_path / "ds") as ds:
        (sample,) = ds.samples()
        assert sorted(np.unique(ds.read_mask(sample.id)).tolist()) == [0, 1, 255]

