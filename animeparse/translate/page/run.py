"""``make_pages(DS, DS_PAGES)``: compose manga pages from a store's samples into a page store, with lineage.

The page store (kind ``manga``, the bundled ``manga-page`` label map, its card's ``parent`` = DS) gets one sample
per page: the page image, its ``gt`` mask, ``parent_id`` = the first panel's source sample, and meta with every
source id, the panel boxes and crops, balloons, sounds, the seed, page index, options and their fingerprint.

The face-level ids carried from the sources cannot live in the page store: a store holds the ids of its one
locked label map in every layer (the write path refuses others, and ``validate`` would read them as manga-page
classes). They go to a companion store (default ``DS_PAGES-parts``, the source's label map, its card's ``parent``
= DS_PAGES) with one sample per panel that shows a labelled source: the page's pixels in the panel's box, and as
``gt`` the source's ids there (0 where frames, balloons, text or sounds cover the art, 255 outside the panel's
polygon). One character per sample keeps ``validate``'s face-layout checks (left/right vote, hair above neck)
meaningful; a whole page with several faces would trip them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ...errors import AnimeparseError, StoreError
from ...labelmap import LabelMap, load_labelmap
from ...store import Dataset, MaskInput, PreparedSample, prepare_sample
from ...store.records import check_layer
from ..roles import role_of
from .compose import BACKGROUND, BODY, FACE, IGNORE, ComposedPage, PageConfig, SourceArt, compose_page, panel_parts
from .text import load_font

__all__ = ["PagesResult", "make_pages", "page_lut", "parts_path", "PAGE_LABELMAP"]

PAGE_LABELMAP = "manga-page"
Progress = Callable[[int, int | None], None]
_FACE_ROLES = ("skin", "eye", "brow", "mouth")
_CACHE = 24  # decoded sources kept (a page has at most 7)


@dataclass(frozen=True)
class PagesResult:
    """What a run did: pages ``made`` (new in the page store), ``skipped_existing`` (made before with the same
    fingerprint), ``with_parts`` (panels added to the parts store), ``duplicates`` (composed pages whose pixels
    the page store already held: another page, or this one when only its parts were missing)."""

    out: str
    parts_out: str | None
    parent: str
    run_id: str | None
    fingerprint: str
    font: str
    planned: int
    made: int
    skipped_existing: int
    with_parts: int
    duplicates: int
    seconds: float


def page_lut(labelmap: LabelMap) -> npt.NDArray[np.uint8]:
    """256 uint8: source class id -> manga-page id. Face = classes whose role is skin, eye, brow or mouth, except
    neck and body skin; background = id 0 and background classes; 255 stays ignore; every other class (hair,
    cloth, accessories, unknown names) is body."""
    lut = np.full(256, BODY, np.uint8)
    for c in labelmap.classes:
        role, name = role_of(c.name), c.name.lower()
        if role == "background" or c.id == 0:
            lut[c.id] = BACKGROUND
        elif role in _FACE_ROLES and "neck" not in name and "body" not in name:
            lut[c.id] = FACE
    lut[IGNORE] = IGNORE
    return lut


def parts_path(out: Path | str, config: PageConfig) -> Path:
    """The companion store of carried ids: ``config.parts_out`` or ``OUT-parts`` beside OUT."""
    out = Path(out).absolute()
    return Path(config.parts_out).absolute() if config.parts_out else out.with_name(out.name + "-parts")


def _check(config: PageConfig) -> None:
    lo, hi = config.panels
    if not 1 <= lo <= hi <= 7:
        raise AnimeparseError(f"panels must be MIN-MAX within 1-7, got {lo}-{hi}; e.g. --panels 2-7")
    w, h = config.size_wh
    if not (256 <= w <= 8192 and 256 <= h <= 8192):
        raise AnimeparseError(f"page size must be 256..8192 px a side, got {w}x{h}; e.g. --size 724x1024")
    if config.pages < 0:
        raise AnimeparseError(f"pages must be >= 0, got {config.pages}")
    if config.unlabeled not in ("ignore", "body"):
        raise AnimeparseError(f"unlabeled must be ignore or body, got {config.unlabeled!r}")
    check_layer(config.layer)


def _fingerprint(config: PageConfig, font_sha: str, source_ids: list[str]) -> str:
    """What decides a page's pixels besides its index: the options (not the page count, font path or parts
    store), the font file and the source samples."""
    fields = {k: v for k, v in asdict(config).items() if k not in ("pages", "font", "parts_out")}
    blob = json.dumps({"config": fields, "font": font_sha, "sources": source_ids, "v": 1}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def _open_child(out: Path, parent: Path, labelmap: LabelMap, *, name: str, description: str) -> Dataset:
    out = out.absolute()
    if out == parent:
        raise StoreError("the page store must be another folder than its parent; pass --out DS_PAGES", path=out)
    labelmap = _same_map_as_stored(out, labelmap)
    dst = Dataset.create(out, labelmap=labelmap, name=name, kind="manga", description=description,
                         exist_ok=True, parent=str(parent))
    if dst.card.parent is not None and Path(dst.card.parent) != parent:
        dst.close()
        raise StoreError(f"this store was made from {dst.card.parent}, not {parent}; choose another --out",
                         path=out)
    return dst


def _same_map_as_stored(out: Path, labelmap: LabelMap) -> LabelMap:
    """The page store's own locked map when it is an older version of ``labelmap`` with the same ids and names
    (manga-page v2 changed only colours), so a page store made before keeps growing; else ``labelmap``."""
    try:
        with Dataset.open(out) as existing:
            locked = existing.labelmap
    except AnimeparseError:  # no store there yet (or not one: Dataset.create says so)
        return labelmap
    same = locked.name == labelmap.name and [(c.id, c.name) for c in locked.classes] == \
        [(c.id, c.name) for c in labelmap.classes]
    return locked if same else labelmap


def make_pages(source: Path | str, out: Path | str, *, config: PageConfig | None = None,
               progress: Progress | None = None) -> PagesResult:
    """Compose pages ``0..config.pages-1`` from the samples of ``source`` into the page store ``out`` (and the
    carried ids into :func:`parts_path`). Page ``i`` comes from a generator seeded with (seed, i), so it is the
    same bytes however many pages a run makes; re-running skips pages already made with the same fingerprint.
    Raises AnimeparseError: bad options, an empty source store, an unreadable font, another store at OUT.
    ``config`` None: :class:`PageConfig` defaults."""
    config = config or PageConfig()
    _check(config)
    font = load_font(config.font)
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        src = stack.enter_context(Dataset.open(source))
        ids = sorted(s.id for s in src.samples())
        if not ids:
            raise StoreError("the store has no samples to compose pages from; ingest images (animeparse ingest) "
                             "or translate a store (animeparse pseudo manga) first", path=src.root)
        fingerprint = _fingerprint(config, font.sha256, ids)
        dst = stack.enter_context(_open_child(Path(out), src.root, load_labelmap(PAGE_LABELMAP),
                                              name=f"{src.card.name}-pages",
                                              description=f"manga pages composed from {src.root}"))
        ppath = parts_path(dst.root, config)
        parts_ids = _ids_in(ppath)
        done, skipped = set(), 0
        for s in dst.samples():
            m = s.meta
            if m.get("fingerprint") == fingerprint and m.get("seed") == config.seed and \
                    (not m.get("labelled_panels") or s.id in parts_ids):
                done.add(int(m["page_index"]))
        todo = [i for i in range(config.pages) if i not in done]
        skipped = config.pages - len(todo)
        lut = page_lut(src.labelmap)
        cache: OrderedDict[int, SourceArt] = OrderedDict()

        def load(k: int) -> SourceArt:
            if k not in cache:
                cache[k] = _source_art(src, ids[k], config.layer, lut)
                if len(cache) > _CACHE:
                    cache.popitem(last=False)
            return cache[k]

        run_id, made, with_parts, duplicates = None, 0, 0, 0
        parts: Dataset | None = None
        if todo:
            params = {**asdict(config), "parent": str(src.root), "font": font.path, "font_sha256": font.sha256,
                      "fingerprint": fingerprint, "parts_out": str(ppath)}
            run_id = dst.start_run("pseudo-page", params=params)
            try:
                for n, i in enumerate(todo):
                    page = compose_page(np.random.default_rng([config.seed, i]), config, n_sources=len(ids),
                                        load=load, font=font)
                    prepared = _prepare(page, i, config, fingerprint, font.sha256, src, dst.labelmap, run_id)
                    fresh = dst.add_prepared([prepared], run_id=run_id)[0]
                    made += int(fresh)
                    duplicates += int(not fresh)
                    if page.labelled_panels:
                        if parts is None:
                            parts = stack.enter_context(_open_child(
                                ppath, dst.root, src.labelmap, name=f"{src.card.name}-page-parts",
                                description=f"face-level ids of {src.labelmap.name} carried onto the pages of "
                                            f"{dst.root}"))
                        added = parts.add_prepared(_prepare_parts(page, prepared, src, run_id), run_id=None)
                        with_parts += sum(added)
                    if progress:
                        progress(n + 1, len(todo))
            except BaseException as err:
                dst.finish_run(run_id, status="failed", summary={"error": str(err), "made": made})
                raise
            dst.finish_run(run_id, summary={"made": made, "skipped_existing": skipped, "with_parts": with_parts,
                                            "duplicates": duplicates})
        return PagesResult(out=str(dst.root), parts_out=str(ppath) if ppath.exists() else None,
                           parent=str(src.root), run_id=run_id, fingerprint=fingerprint, font=font.path,
                           planned=config.pages, made=made, skipped_existing=skipped, with_parts=with_parts,
                           duplicates=duplicates, seconds=time.perf_counter() - started)


def _ids_in(root: Path) -> set[str]:
    """Page sample ids whose panels are in the parts store at ``root`` (none when there is no store)."""
    if not (root / "animeparse.json").exists():
        return set()
    with Dataset.open(root) as ds:
        return {str(s.meta.get("page")) for s in ds.samples()}


def _source_art(src: Dataset, sample_id: str, layer: str, lut: npt.NDArray[np.uint8]) -> SourceArt:
    import cv2

    rgb = src.read_image(sample_id)
    grey = np.asarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), dtype=np.uint8)
    return SourceArt(sample_id, grey, src.read_mask(sample_id, layer), lut)


def _png(image: npt.NDArray[np.uint8]) -> bytes:
    import cv2

    ok, encoded = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 6])
    if not ok:
        raise StoreError("could not encode a page as PNG")
    return encoded.tobytes()


def _prepare(page: ComposedPage, index: int, config: PageConfig, fingerprint: str, font_sha: str, src: Dataset,
             labelmap: LabelMap, run_id: str) -> PreparedSample:
    meta = {"seed": config.seed, "page_index": index, "fingerprint": fingerprint, "font_sha256": font_sha,
            "sources": page.sources, "labelled_panels": page.labelled_panels, "source_layer": config.layer,
            "config": {k: v for k, v in asdict(replace(config, pages=0)).items() if k != "pages"},
            **page.meta}
    origin = {"kind": "synthetic", "maker": "pseudo page", "run": run_id}
    return prepare_sample(Path(f"page-s{config.seed}-{index:05d}.png"), labelmap=labelmap,
                          masks={"gt": MaskInput(page.gt, origin=origin, source=f"page {index}")},
                          source=f"{src.root}#page-s{config.seed}-{index}", meta=meta, pixels=page.image,
                          file_bytes=_png(page.image), parent_id=page.sources[0], parent_run=run_id)


def _prepare_parts(page: ComposedPage, prepared: PreparedSample, src: Dataset, run_id: str
                   ) -> list[PreparedSample]:
    """One parts sample per panel with a labelled source."""
    out = []
    for k, info in enumerate(page.meta["panels"]):
        if not info["labelled"]:
            continue
        image, ids = panel_parts(page, k)
        origin = {"kind": "carried", "from": info["source"], "labelmap": src.labelmap.name, "page_run": run_id}
        meta = {"page": prepared.id, "panel": k, "page_index": prepared.meta["page_index"],
                "seed": prepared.meta["seed"], "fingerprint": prepared.meta["fingerprint"], "source": info["source"],
                "crop_xyxy": info["crop_xyxy"], "box_xyxy": info["box_xyxy"], "polygon": info["polygon"]}
        stem = Path(prepared.name).stem
        out.append(prepare_sample(Path(f"{stem}.panel{k}.png"), labelmap=src.labelmap,
                                  masks={"gt": MaskInput(ids, origin=origin, source=f"panel {k} of {prepared.name}")},
                                  source=f"{prepared.source}#panel{k}", meta=meta, pixels=image,
                                  file_bytes=_png(image), parent_id=prepared.id))
    return out
