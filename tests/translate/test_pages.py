"""``make_pages`` / ``compose_page``: determinism, resume, lineage, page masks against the drawn pixels, the
carried face-level ids, panel counts, refusals."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from animeparse import Dataset, MaskInput
from animeparse.errors import AnimeparseError, MissingDependencyError
from animeparse.labelmap import load_labelmap
from animeparse.translate.page import PageConfig, compose_page, load_font, make_pages, page_lut, page_sheet
from animeparse.translate.page.compose import BALLOON, FRAME, IGNORE, ONOMATOPOEIA, TEXT, SourceArt
from animeparse.translate.page.layout import Panel, panel_mask

from ..conftest import require

if importlib.util.find_spec("japanize_matplotlib") is None:  # found, not imported: importing restyles matplotlib
    require("japanize_matplotlib", extra="pages")  # skips here, fails under CI

SIZE = (400, 560)  # small pages keep the tests fast; the drawing is the same at any size


@pytest.fixture(scope="module")
def manga_store(tmp_path_factory) -> Path:
    """A greyscale 'manga' store: five 128 px synthetic faces with danbooru-parsing ``gt``, one without a mask."""
    from animeparse.demo.synth import generate_face

    tmp = tmp_path_factory.mktemp("src")
    root = tmp / "manga"
    with Dataset.create(root, labelmap=load_labelmap("danbooru-parsing"), name="manga", kind="manga") as ds:
        for i in range(6):
            image, mask = generate_face(7, i, size=128)
            grey = np.asarray(Image.fromarray(image).convert("L"))
            path = tmp / f"m{i}.png"
            Image.fromarray(np.repeat(grey[:, :, None], 3, 2)).save(path)
            ds.add_sample(path, masks={"gt": MaskInput(mask, origin={"kind": "human"})} if i < 5 else None)
    return root


@pytest.fixture(scope="module")
def pages(manga_store, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("pages") / "pages"
    make_pages(manga_store, out, config=PageConfig(pages=6, seed=3, size_wh=SIZE))
    return out


def _by_index(root: Path) -> dict[int, tuple[bytes, bytes]]:
    """page index -> (image file bytes, gt mask file bytes)."""
    with Dataset.open(root) as ds:
        out = {}
        for s in ds.samples():
            rec = ds.mask_record(s.id, "gt")
            assert rec is not None
            out[s.meta["page_index"]] = ((ds.root / s.image).read_bytes(), (ds.root / rec.path).read_bytes())
        return out


def test_same_seed_same_bytes_and_pages_independent_of_count(manga_store, pages, tmp_path):
    make_pages(manga_store, tmp_path / "two", config=PageConfig(pages=2, seed=3, size_wh=SIZE))
    first, again = _by_index(pages), _by_index(tmp_path / "two")
    assert set(again) == {0, 1} and all(again[i] == first[i] for i in again)
    make_pages(manga_store, tmp_path / "other", config=PageConfig(pages=2, seed=4, size_wh=SIZE))
    assert _by_index(tmp_path / "other")[0][0] != first[0][0]


def test_resume_skips_pages_made_with_the_same_options(manga_store, tmp_path):
    out = tmp_path / "p"
    cfg = PageConfig(pages=2, seed=1, size_wh=SIZE)
    assert make_pages(manga_store, out, config=cfg).made == 2
    calls: list[tuple[int, int | None]] = []
    r = make_pages(manga_store, out, config=PageConfig(pages=3, seed=1, size_wh=SIZE),
                   progress=lambda done, total: calls.append((done, total)))
    assert (r.made, r.skipped_existing) == (1, 2) and calls == [(1, 1)]
    r = make_pages(manga_store, out, config=PageConfig(pages=3, seed=1, size_wh=SIZE))
    assert (r.made, r.skipped_existing, r.run_id) == (0, 3, None)
    r = make_pages(manga_store, out, config=PageConfig(pages=3, seed=1, size_wh=SIZE, panels=(2, 3)))
    assert r.made == 3  # other options, other pages


def test_a_page_store_made_with_an_older_manga_page_map_keeps_growing(manga_store, tmp_path):
    """manga-page v2 changed only colours: a page store locked to v1 (same ids and names) takes more pages."""
    from animeparse.labelmap import LabelMap

    old = load_labelmap("manga-page").to_json()
    old["version"] = 1
    for k, c in enumerate(old["classes"]):
        c["color"] = [255, 255, 255] if c["id"] == 0 else [40 * k, 200 - 20 * k, 100]
    out = tmp_path / "old-pages"
    Dataset.create(out, labelmap=LabelMap.from_json(old), kind="manga", parent=str(manga_store)).close()
    assert make_pages(manga_store, out, config=PageConfig(pages=1, seed=1, size_wh=SIZE)).made == 1
    with Dataset.open(out) as ds:
        assert ds.labelmap.version == 1 and len(ds) == 1


def test_lineage(manga_store, pages):
    with Dataset.open(manga_store) as src:
        source_ids = {s.id for s in src.samples()}
    with Dataset.open(pages) as ds:
        assert ds.card.parent == str(manga_store) and ds.labelmap.name == "manga-page"
        runs = {r.id: r for r in ds.runs()}
        (run,) = runs.values()
        assert run.kind == "pseudo-page" and run.status == "finished" and run.params["seed"] == 3
        assert run.params["font_sha256"] and run.params["parent"] == str(manga_store)
        for s in ds.samples():
            m = s.meta
            assert s.parent_id == m["sources"][0] and set(m["sources"]) <= source_ids
            assert len(m["panels"]) == len(m["sources"]) and m["seed"] == 3
            assert all(p["source"] in source_ids and len(p["box_xyxy"]) == 4 for p in m["panels"])
            assert s.parent_run == run.id
    with Dataset.open(Path(str(pages) + "-parts")) as parts:
        assert parts.card.parent == str(pages) and parts.labelmap.name == "danbooru-parsing"
        assert len(parts) > 0


def _holes(region: np.ndarray) -> np.ndarray:
    """Pixels not reachable from outside the page without crossing ``region`` (region included)."""
    padded = np.pad(region.astype(np.uint8), 1)
    flood = padded.copy()
    cv2.floodFill(flood, None, (0, 0), 2)
    return (flood != 2)[1:-1, 1:-1]


def _check_page(image: np.ndarray, gt: np.ndarray, meta: dict) -> None:
    page = image[:, :, 0]
    assert (image == page[:, :, None]).all()  # greyscale
    frame, balloon, text, ono = (gt == c for c in (FRAME, BALLOON, TEXT, ONOMATOPOEIA))
    # frames and text are ink, and every text pixel sits inside a balloon
    assert (page[frame] == 0).all() and (page[text] == 0).all()
    assert (_holes(balloon) >= text).all()  # enclosed: no path from outside the page reaches text off-balloon
    speech = balloon | text
    # a balloon is black outline round a white inside: only 0 / 255, its rim is ink, and it has white pixels
    assert set(np.unique(page[balloon])) <= {0, 255}
    rim = speech & ~cv2.erode(speech.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    assert (page[rim] == 0).all()
    if balloon.any():
        assert (page[balloon] == 255).sum() > (page[balloon] == 0).sum() / 4
    # onomatopoeia: black glyphs in a white outline; every labelled pixel is near glyph ink
    assert set(np.unique(page[ono])) <= {0, 255}
    ink = (ono & (page == 0)).astype(np.uint8)
    assert (cv2.dilate(ink, np.ones((17, 17), np.uint8)).astype(bool) >= ono).all()
    # nothing drawn is unlabelled: outside the panels, every pixel labelled background is white paper
    h, w = gt.shape
    panels = np.zeros((h, w), bool)
    for p in meta["panels"]:
        panels |= panel_mask(Panel(tuple(tuple(v) for v in p["polygon"])), (h, w))
    assert (page[(gt == 0) & ~panels] == 255).all()
    # and inside the panels, page furniture is only where the mask says
    assert not ((gt == FRAME) & ~frame).any()


def test_page_masks_are_what_was_drawn(pages):
    with Dataset.open(pages) as ds:
        samples = ds.samples()
        assert len(samples) == 6
        seen = set()
        for s in samples:
            gt = ds.read_mask(s.id, "gt")
            assert gt is not None
            _check_page(ds.read_image(s), gt, s.meta)
            seen |= {int(v) for v in np.unique(gt)}
    assert {FRAME, BALLOON, TEXT, 2, 3} <= seen  # frames, balloons, text, body and face all drawn


def test_page_masks_many_seeds():
    """The same checks over 25 pages composed directly (more balloons, shouts, sounds, slanted panels)."""
    font = load_font()
    lm = load_labelmap("danbooru-parsing")
    from animeparse.demo.synth import generate_face

    srcs = []
    for i in range(4):
        image, mask = generate_face(2, i, size=96)
        srcs.append(SourceArt(f"s{i}", cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), mask if i else None, page_lut(lm)))
    counts, kinds, sounds = [], set(), 0
    for seed in range(25):
        page = compose_page(np.random.default_rng([seed, 0]), PageConfig(size_wh=SIZE), n_sources=len(srcs),
                            load=lambda k: srcs[k], font=font)
        _check_page(page.image, page.gt, page.meta)
        counts.append(len(page.meta["panels"]))
        kinds |= {b["kind"] for b in page.meta["balloons"]}
        sounds += len(page.meta["sounds"])
        assert not (page.gt[page.parts == IGNORE] != IGNORE).any()  # unlabelled art is ignore in both
        if seed < 3:  # --unlabeled body: the same page, unlabelled art as body
            body = compose_page(np.random.default_rng([seed, 0]), PageConfig(size_wh=SIZE, unlabeled="body"),
                                n_sources=len(srcs), load=lambda k: srcs[k], font=font)
            assert not (body.gt == IGNORE).any()  # (balloon tails may differ: they point at the body now)
            art = (page.gt == IGNORE) & ~np.isin(body.gt, [FRAME, BALLOON, TEXT, ONOMATOPOEIA])
            assert art.any() and (body.gt[art] == 2).all()
    assert min(counts) >= 2 and max(counts) <= 7 and len(set(counts)) >= 3
    assert kinds == {"ellipse", "rounded", "shout"} and sounds > 0


def _nearest(mask: np.ndarray, crop, out_wh) -> np.ndarray:
    """Nearest neighbour, pixel by pixel in exact fractions: output (i, j) <- crop pixel under its centre."""
    from fractions import Fraction

    x0, y0, x1, y1 = crop
    ow, oh = out_wh
    rows = [y0 + int((i + Fraction(1, 2)) * (y1 - y0) / oh) for i in range(oh)]
    cols = [x0 + int((j + Fraction(1, 2)) * (x1 - x0) / ow) for j in range(ow)]
    return mask[np.ix_(rows, cols)]


def test_nearest_agrees_with_pil_off_ties():
    """Where no pixel centre falls on a source pixel edge, the carry is PIL's nearest-neighbour resize."""
    from animeparse.translate.page import nearest_crop

    m = np.random.default_rng(0).integers(0, 19, (128, 128)).astype(np.uint8)
    for crop, out in [((5, 7, 50, 61), (31, 40)), ((3, 0, 120, 128), (77, 301)), ((0, 9, 101, 110), (157, 203))]:
        pil = np.asarray(Image.fromarray(m).resize(out, Image.Resampling.NEAREST, box=crop))
        assert (nearest_crop(m, crop, out) == pil).all() and (_nearest(m, crop, out) == pil).all()


def test_parts_are_the_source_ids_cropped_and_scaled_nearest(manga_store, pages):
    lut = page_lut(load_labelmap("danbooru-parsing"))
    with Dataset.open(manga_store) as src, Dataset.open(pages) as pg, \
            Dataset.open(Path(str(pages) + "-parts")) as parts:
        checked = 0
        for p in parts.samples():
            m = p.meta
            source_mask = src.read_mask(m["source"], "gt")
            ids = parts.read_mask(p.id, "gt")
            page = pg.sample(m["page"])
            gt = pg.read_mask(page.id, "gt")
            assert source_mask is not None and ids is not None and gt is not None
            x0, y0, x1, y1 = m["box_xyxy"]
            expected = _nearest(source_mask, m["crop_xyxy"], (x1 - x0, y1 - y0))
            inside = panel_mask(Panel(tuple(tuple(v) for v in m["polygon"])), gt.shape)[y0:y1, x0:x1]
            art = inside & np.isin(gt[y0:y1, x0:x1], [0, 2, 3])
            assert (ids[art] == expected[art]).all() and (gt[y0:y1, x0:x1][art] == lut[expected[art]]).all()
            assert (ids[inside & ~art] == 0).all() and (ids[~inside] == IGNORE).all()
            assert (parts.read_image(p) == pg.read_image(page)[y0:y1, x0:x1]).all()
            checked += int(art.sum() > 0)
        assert checked >= 6


def test_refusals(tmp_path, manga_store, monkeypatch):
    with Dataset.create(tmp_path / "empty", labelmap=load_labelmap("danbooru-parsing")):
        pass
    with pytest.raises(AnimeparseError, match="no samples"):
        make_pages(tmp_path / "empty", tmp_path / "o1")
    with pytest.raises(AnimeparseError, match="font cannot be read"):
        make_pages(manga_store, tmp_path / "o2", config=PageConfig(font=str(tmp_path / "nope.ttf")))
    (tmp_path / "bad.ttf").write_bytes(b"not a font")
    with pytest.raises(AnimeparseError, match="not a font"):
        make_pages(manga_store, tmp_path / "o3", config=PageConfig(font=str(tmp_path / "bad.ttf")))
    with pytest.raises(AnimeparseError, match="1-7"):
        make_pages(manga_store, tmp_path / "o4", config=PageConfig(panels=(3, 9)))
    with pytest.raises(AnimeparseError, match="another folder"):
        make_pages(manga_store, manga_store)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "japanize_matplotlib" else real(name, *a))
    with pytest.raises(MissingDependencyError, match="japanize-matplotlib"):
        make_pages(manga_store, tmp_path / "o5")
    assert not (tmp_path / "o1").exists() and not (tmp_path / "o5").exists()


def test_sheet_has_the_legend(pages, tmp_path):
    r = page_sheet(pages, tmp_path / "sheet.png", rows=2, tile=128)
    sheet = np.asarray(Image.open(r.path).convert("RGB"))
    assert r.rows == 2 and r.parts_store == str(pages) + "-parts"
    legend = sheet[18 + 2 * (128 + 4) + 4:]  # below the title row and two rows of cells
    colours = {tuple(c.color) for c in load_labelmap("manga-page").classes if c.id}
    found = {tuple(int(v) for v in px) for px in legend.reshape(-1, 3)}
    assert colours <= found


def test_cli_page_then_sheet(manga_store, tmp_path):
    from click.testing import CliRunner

    from animeparse.cli.main import cli

    runner = CliRunner()
    out = tmp_path / "cli-pages"
    args = ["pseudo", "page", str(manga_store), "--out", str(out), "--pages", "2", "--size", "300x420",
            "--panels", "2-4", "--seed", "5"]
    r = runner.invoke(cli, args)
    assert r.exit_code == 0, r.output
    assert "2 pages made, 0 already there" in r.output and "ipaexg.ttf" in r.output
    r = runner.invoke(cli, args)
    assert r.exit_code == 0 and "0 pages made, 2 already there" in r.output
    with Dataset.open(out) as ds:
        assert all(2 <= len(s.meta["panels"]) <= 4 and (s.width, s.height) == (300, 420) for s in ds.samples())
    r = runner.invoke(cli, ["pseudo", "page-sheet", str(out), "--out", str(tmp_path / "s.png"), "--rows", "1"])
    assert r.exit_code == 0 and "(1 pages;" in r.output and (tmp_path / "s.png").is_file()
    r = runner.invoke(cli, [*args[:-2], "--font", str(tmp_path / "missing.ttf")])
    assert r.exit_code == 1 and "missing.ttf" in r.output
    assert len([line for line in r.output.splitlines() if line.strip()]) == 1
    r = runner.invoke(cli, [*args[:-2], "--size", "300"])
    assert r.exit_code == 2 and "WxH" in r.output


def test_a_missing_image_fails_the_run_naming_the_file(tmp_path):
    src = tmp_path / "src"
    with Dataset.create(src, labelmap=load_labelmap("danbooru-parsing")) as ds:
        for i in range(2):
            Image.fromarray(np.full((64, 64, 3), 60 * i, np.uint8)).save(tmp_path / f"p{i}.png")
            ds.add_sample(tmp_path / f"p{i}.png")
        lost = ds.root / ds.samples()[0].image
    lost.unlink()
    with pytest.raises(AnimeparseError, match=lost.name):
        make_pages(src, tmp_path / "out", config=PageConfig(pages=2, size_wh=(256, 360)))
    with Dataset.open(tmp_path / "out") as out:
        (run,) = out.runs()
        assert run.status == "failed" and lost.name in run.summary["error"]
