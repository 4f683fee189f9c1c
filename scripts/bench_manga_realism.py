"""How manga-like are the bundled translator's outputs, and do their lines follow the art or the labels?

Translates the 36 TADNE anime illustrations (the 512x512 tiles of ../shared/data/anime-illustrations/
tadne-grid-6x6.jpg), each in variants 0 and 1, two ways:

- **single region** (no mask: what `pseudo manga` does for a sample without the carried layer);
- **with a portrait parse**: on the tiles where the anime face cascade (../shared/models/lbpcascade_animeface.xml)
  finds a face, a danbooru-parsing map laid out with a human face's proportions (scripts/manga_metrics.py), so most
  of its boundaries (nose, lips, a hair line across the forehead) have no edge in the art: the case of a label whose
  boundaries the art does not have.

and compares them, and a plain greyscale conversion (the baseline a user would otherwise take), with the real
Manga109 page ../shared/data/manga-page/001a.jpg:

- ink on label-only boundaries: line share on mask boundaries without an art edge / line share elsewhere in the
  edge-free art (masked renderings; acceptance: at most 2);
- near-black share relative to the page's (acceptance 0.5..2), near-white share, renderings over 90 % white;
- grey histogram L1 distance to the page (acceptance at most 0.6), Canny edge density;
- variant difference: share of pixels differing by more than 64 grey levels between variants 0 and 1.

Writes contact sheets (input, mask, greyscale, two variants single-region, two variants masked) whose paths it
prints, and times the translator and the whole `pseudo manga` job (store in, store out) on the CPU.

    .venv/bin/python scripts/bench_manga_realism.py [--out bench-manga] [--translator manga-v2] [--threads 1]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from manga_metrics import (  # noqa: E402 - the sibling module of this script
    face_boxes,
    hist_l1,
    label_only_ratio,
    portrait_parse,
    tone_stats,
    variant_difference,
)

from animeparse import Dataset, load_labelmap  # noqa: E402
from animeparse.imageio import read_image  # noqa: E402
from animeparse.translate import (  # noqa: E402
    DEFAULT_TRANSLATOR,
    Translator,
    generator_for,
    images_to_tensor,
    load_translator,
    role_lut,
    single_region_lut,
    tensor_to_images,
)
from animeparse.translate.pseudo import PseudoConfig, make_manga  # noqa: E402
from animeparse.translate.sheet import colorize_mask, compose_sheet  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
GRID = SHARED / "data" / "anime-illustrations" / "tadne-grid-6x6.jpg"
PAGE = SHARED / "data" / "manga-page" / "001a.jpg"
CASCADE = SHARED / "models" / "lbpcascade_animeface.xml"
Grey = npt.NDArray[np.uint8]


def tiles_of(grid: npt.NDArray[np.uint8], n: int = 6) -> list[npt.NDArray[np.uint8]]:
    side = grid.shape[0] // n
    return [grid[r * side:(r + 1) * side, c * side:(c + 1) * side].copy() for r in range(n) for c in range(n)]


def render(translator: Translator, tiles: list[npt.NDArray[np.uint8]], masks: list[Grey | None], *,
           variant: int, batch: int) -> list[Grey]:
    """Greyscale renderings, one per tile: with its mask (danbooru-parsing roles) or as one region when None."""
    lut_masked, lut_flat = role_lut(load_labelmap("danbooru-parsing")), single_region_lut()
    out: list[Grey] = []
    for i in range(0, len(tiles), batch):
        chunk, chunk_masks = tiles[i:i + batch], masks[i:i + batch]
        x = images_to_tensor(chunk, translator.device)
        n, _, h, w = x.shape
        ids = torch.from_numpy(np.stack([m if m is not None else np.zeros((h, w), np.uint8)
                                         for m in chunk_masks]).astype(np.int64))
        luts = torch.from_numpy(np.stack([lut_masked if m is not None else lut_flat for m in chunk_masks]))
        gens = [generator_for(0, f"tadne-{i + k}", variant) for k in range(n)]
        y = translator.translate(x, ids, role_lut=luts, generators=gens)
        out.extend(im[..., 0] for im in tensor_to_images(y))
    return out


def end_to_end(tiles: list[npt.NDArray[np.uint8]], batch: int) -> tuple[float, int]:
    """images/s of the whole job: a store of the tiles -> pseudo manga -> derived store (decode, translate,
    PNG encode, checks, commit)."""
    from PIL import Image

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        with Dataset.create(root / "anime", labelmap=load_labelmap("danbooru-parsing")) as ds:
            for i, tile in enumerate(tiles):
                Image.fromarray(tile).save(root / f"tadne_{i:02d}.png")
                ds.add_sample(root / f"tadne_{i:02d}.png")
        result = make_manga(root / "anime", root / "manga", config=PseudoConfig(device="cpu", batch_size=batch))
        return result.translated / result.seconds, result.translated


def summarise(name: str, renders: list[Grey], ref: dict[str, float], page: dict[str, float]) -> dict[str, float]:
    s = [tone_stats(g) for g in renders]
    black = float(np.mean([v["black"] for v in s]))
    return {"black": black, "black/page": black / page["black"], "max black": max(v["black"] for v in s),
            "white": float(np.mean([v["white"] for v in s])),
            "over90white": float(sum(v["white"] > 0.9 for v in s)), "hist L1": float(np.mean([hist_l1(v, ref)
                                                                                         for v in s])),
            "edges": float(np.mean([v["edges"] for v in s])), "n": float(len(s))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("bench-manga"), help="folder for the contact sheets")
    parser.add_argument("--translator", default=DEFAULT_TRANSLATOR)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1: on a busy shared machine more threads are slower)")
    parser.add_argument("--batch-size", type=int, default=6)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    tiles = tiles_of(read_image(GRID))
    page_grey = cv2.cvtColor(read_image(PAGE), cv2.COLOR_RGB2GRAY)
    page = tone_stats(page_grey)
    cascade = cv2.CascadeClassifier(str(CASCADE))
    if cascade.empty():
        print(f"cannot load the face cascade {CASCADE}", file=sys.stderr)
        return 2
    boxes = [face_boxes(t, cascade) for t in tiles]
    parses: list[Grey | None] = [portrait_parse(t.shape[:2], max(b, key=lambda v: v[2] * v[3])) if b else None
                                 for t, b in zip(tiles, boxes)]
    with_face = [i for i, p in enumerate(parses) if p is not None]
    greys = [cv2.cvtColor(t, cv2.COLOR_RGB2GRAY) for t in tiles]

    translator = load_translator(args.translator, device="cpu")
    render(translator, tiles[:2], [None, None], variant=0, batch=2)  # warm-up
    started = time.perf_counter()
    flat = [render(translator, tiles, [None] * len(tiles), variant=v, batch=args.batch_size) for v in (0, 1)]
    rate = 2 * len(tiles) / (time.perf_counter() - started)
    face_tiles = [tiles[i] for i in with_face]
    face_parses = [parses[i] for i in with_face]
    masked = [render(translator, face_tiles, face_parses, variant=v, batch=args.batch_size) for v in (0, 1)]

    rows = {"greyscale": summarise("greyscale", greys, page, page),
            f"{args.translator} single region": summarise("flat", flat[0] + flat[1], page, page),
            f"{args.translator} portrait parse": summarise("masked", masked[0] + masked[1], page, page)}
    ratios = {}
    for name, renders, arts, ms in (
            ("greyscale", [greys[i] for i in with_face], face_tiles, face_parses),
            (f"{args.translator} portrait parse", masked[0] + masked[1], face_tiles * 2, face_parses * 2)):
        on, off, n = zip(*(label_only_ratio(g, a, m) for g, a, m in zip(renders, arts, ms)))
        # pooled over renderings, weighted by pixel counts of the label-only band
        ratios[name] = (float(np.average(on, weights=n)), float(np.mean(off)))
    diffs = {"single region": float(np.mean([variant_difference(a, b) for a, b in zip(*flat)])),
             "portrait parse": float(np.mean([variant_difference(a, b) for a, b in zip(*masked)]))}

    print(f"36 TADNE tiles (512x512), variants 0 and 1; faces found on {len(with_face)}; page {PAGE.name}: "
          f"near-black {page['black']:.3f}, near-white {page['white']:.3f}, edges {page['edges']:.3f}")
    print(f"{'rendering':<34} {'black':>6} {'x page':>6} {'max':>6} {'white':>6} {'>90%w':>5} {'histL1':>6} "
          f"{'edges':>6}")
    for name, r in rows.items():
        print(f"{name:<34} {r['black']:>6.3f} {r['black/page']:>6.2f} {r['max black']:>6.3f} {r['white']:>6.3f} "
              f"{int(r['over90white']):>5d} {r['hist L1']:>6.3f} {r['edges']:>6.3f}")
    for name, (on, off) in ratios.items():
        ratio = f"{on / off:.2f}" if off > 0 else "n/a (no lines drawn)"
        print(f"lines on label-only boundaries, {name}: {on:.5f} vs {off:.5f} elsewhere in edge-free art -> "
              f"ratio {ratio}")
    for name, d in diffs.items():
        print(f"variant 0 vs 1, {name}: {d:.3f} of pixels differ by > 64 grey levels")
    e2e, n = end_to_end(tiles, args.batch_size)
    print(f"CPU ({torch.get_num_threads()} thread(s)): translator {rate:.2f} images/s (512x512, batch "
          f"{args.batch_size}, single region); whole pseudo-manga job {e2e:.2f} images/s ({n} images, store in -> "
          "store out)")

    args.out.mkdir(parents=True, exist_ok=True)
    colors = load_labelmap("danbooru-parsing").colors_array()
    rgb = lambda g: np.repeat(g[..., None], 3, 2)  # noqa: E731
    for part, picks in (("a", with_face[:8]), ("b", with_face[8:16]), ("c", with_face[16:])):
        sheet_rows = [[tiles[i], colorize_mask(parses[i], colors), rgb(greys[i]), rgb(flat[0][i]), rgb(flat[1][i]),
                       rgb(masked[0][with_face.index(i)]), rgb(masked[1][with_face.index(i)])] for i in picks]
        sheet = compose_sheet(sheet_rows, ["input", "portrait parse", "greyscale", "single v0", "single v1",
                                           "parse v0", "parse v1"], tile=300, empty_note="")
        path = (args.out / f"manga_realism_{part}.png").absolute()
        cv2.imwrite(str(path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
        print(f"contact sheet: {path}")
    pale = sorted(range(len(tiles)), key=lambda i: -float((greys[i] >= 224).mean()))[:4]
    sheet = compose_sheet([[tiles[i], rgb(greys[i]), rgb(flat[0][i]), rgb(flat[1][i])] for i in pale],
                          ["input (palest)", "greyscale", "single v0", "single v1"], tile=300, empty_note="")
    cv2.imwrite(str(args.out / "manga_realism_pale.png"), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    i0 = with_face[0]
    cv2.imwrite(str(args.out / "manga_full_tile.png"),
                np.concatenate([greys[i0], masked[0][0], flat[0][i0]], 1))
    print(f"palest tiles: {args.out / 'manga_realism_pale.png'}; full size (greyscale | parse v0 | single v0): "
          f"{args.out / 'manga_full_tile.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
