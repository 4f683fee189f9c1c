"""How manga-like are the bundled translator's outputs? Tone statistics against a real manga page, and speed.

Translates the 36 TADNE anime illustrations (the 512x512 tiles of ../shared/data/anime-illustrations/
tadne-grid-6x6.jpg; they have no masks, so each is one region: the single-region rule of `pseudo manga`) and
compares, per tile, with the real Manga109 page ../shared/data/manga-page/001a.jpg:

- grey-level histogram: L1 distance and EMD between normalised 32-bin histograms (EMD in grey levels / 255)
- share of near-black (< 64) and near-white (>= 224) pixels
- screentone band energy: share of the (Hann-windowed, mean-removed) spectrum's energy at periods 2.5..6 px
- edge density: share of Canny (100, 200) edge pixels

for (a) plain greyscale conversion and (b) the translator, as the mean over tiles of |tile - page|. Then times
the translator alone and the whole `pseudo manga` job (store in, store out) on the CPU, and writes a contact
sheet (input, greyscale, two manga variants; the real page beside) whose path it prints.

    .venv/bin/python scripts/bench_manga_realism.py [--out bench-manga] [--threads 1] [--batch-size 6]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import torch

from animeparse import Dataset, load_labelmap
from animeparse.imageio import read_image
from animeparse.translate import (
    Translator,
    generator_for,
    images_to_tensor,
    load_translator,
    single_region_lut,
    tensor_to_images,
)
from animeparse.translate.pseudo import PseudoConfig, make_manga
from animeparse.translate.sheet import compose_sheet

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
GRID = DATA / "anime-illustrations" / "tadne-grid-6x6.jpg"
PAGE = DATA / "manga-page" / "001a.jpg"
Grey = npt.NDArray[np.uint8]
BAND_PERIODS = (2.5, 6.0)


def tiles_of(grid: npt.NDArray[np.uint8], n: int = 6) -> list[npt.NDArray[np.uint8]]:
    side = grid.shape[0] // n
    return [grid[r * side:(r + 1) * side, c * side:(c + 1) * side].copy() for r in range(n) for c in range(n)]


def stats(grey: Grey) -> dict[str, Any]:
    """Tone statistics of an HxW uint8 greyscale image."""
    hist = np.bincount(grey.ravel() // 8, minlength=32).astype(np.float64)
    x = grey.astype(np.float64) - grey.mean()
    window = np.outer(np.hanning(grey.shape[0]), np.hanning(grey.shape[1]))
    power = np.abs(np.fft.fft2(x * window)) ** 2
    fy = np.fft.fftfreq(grey.shape[0])[:, None]
    fx = np.fft.fftfreq(grey.shape[1])[None, :]
    radius = np.sqrt(fy ** 2 + fx ** 2)
    band = (radius >= 1 / BAND_PERIODS[1]) & (radius <= 1 / BAND_PERIODS[0])
    total = power[radius > 0].sum()
    return {
        "hist": hist / hist.sum(),
        "black": float((grey < 64).mean()),
        "white": float((grey >= 224).mean()),
        "band": float(power[band].sum() / total) if total > 0 else 0.0,
        "edges": float((cv2.Canny(grey, 100, 200) > 0).mean()),
    }


def distances(s: dict[str, Any], ref: dict[str, Any]) -> dict[str, float]:
    h, r = np.asarray(s["hist"]), np.asarray(ref["hist"])
    return {
        "hist L1": float(np.abs(h - r).sum()),
        "hist EMD": float(np.abs(np.cumsum(h) - np.cumsum(r)).sum() * 8 / 255),
        "near-black": abs(s["black"] - ref["black"]),
        "near-white": abs(s["white"] - ref["white"]),
        "tone band": abs(s["band"] - ref["band"]),
        "edges": abs(s["edges"] - ref["edges"]),
    }


def translate(translator: Translator, tiles: list[npt.NDArray[np.uint8]], *, variant: int, batch: int) -> list[Grey]:
    out: list[Grey] = []
    for i in range(0, len(tiles), batch):
        chunk = tiles[i:i + batch]
        x = images_to_tensor(chunk, translator.device)
        n, _, h, w = x.shape
        ids = torch.zeros((n, h, w), dtype=torch.int64)
        luts = torch.from_numpy(np.stack([single_region_lut()] * n))
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("bench-manga"), help="folder for the contact sheet")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1: on a busy shared machine more threads are slower)")
    parser.add_argument("--batch-size", type=int, default=6)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    tiles = tiles_of(read_image(GRID))
    page = cv2.cvtColor(read_image(PAGE), cv2.COLOR_RGB2GRAY)
    ref = stats(page)
    greys = [cv2.cvtColor(t, cv2.COLOR_RGB2GRAY) for t in tiles]
    translator = load_translator("manga-v1", device="cpu")
    translate(translator, tiles[:2], variant=0, batch=2)  # warm-up
    started = time.perf_counter()
    manga = translate(translator, tiles, variant=0, batch=args.batch_size)
    rate = len(tiles) / (time.perf_counter() - started)
    manga1 = translate(translator, tiles, variant=1, batch=args.batch_size)

    rows = {"greyscale": [distances(stats(g), ref) for g in greys],
            "manga-v1": [distances(stats(m), ref) for m in manga + manga1]}
    mean = {k: {d: float(np.mean([r[d] for r in v])) for d in v[0]} for k, v in rows.items()}
    print(f"36 TADNE tiles (512x512, no masks: single region) vs {PAGE.name}; mean |tile - page| over tiles "
          f"(manga-v1: variants 0 and 1)")
    print(f"{'statistic':<12} {'greyscale':>10} {'manga-v1':>10}  closer")
    ok = True
    for d in mean["greyscale"]:
        g, m = mean["greyscale"][d], mean["manga-v1"][d]
        ok &= m < g
        print(f"{d:<12} {g:>10.4f} {m:>10.4f}  {'manga-v1' if m < g else 'GREYSCALE'}")
    page_vals = f"black {ref['black']:.3f}, white {ref['white']:.3f}, band {ref['band']:.3f}, edges {ref['edges']:.3f}"
    print(f"page: {page_vals}")
    for name, imgs in (("greyscale", greys), ("manga-v1", manga)):
        s = [stats(x) for x in imgs]
        print(f"{name} (mean): " + ", ".join(f"{k} {np.mean([v[k] for v in s]):.3f}"
                                             for k in ("black", "white", "band", "edges")))
    e2e, n = end_to_end(tiles, args.batch_size)
    print(f"CPU ({torch.get_num_threads()} thread(s)): translator {rate:.2f} images/s (512x512, batch "
          f"{args.batch_size}); whole pseudo-manga job {e2e:.2f} images/s ({n} images, store in -> store out)")

    args.out.mkdir(parents=True, exist_ok=True)
    picks = [0, 3, 7, 9, 13, 20, 24, 29]
    page_crop = cv2.cvtColor(page[300:300 + 512, 290:290 + 512], cv2.COLOR_GRAY2RGB)
    blank = np.full_like(page_crop, 255)
    sheet_rows = [[tiles[i], *(np.repeat(x[i][..., None], 3, 2) for x in (greys, manga, manga1)),
                   page_crop if k == 0 else blank] for k, i in enumerate(picks)]
    sheet = compose_sheet(sheet_rows, ["input", "greyscale", "manga-v1 v0", "manga-v1 v1", "real page (crop)"],
                          tile=320, empty_note="")
    path = (args.out / "manga_realism_sheet.png").absolute()
    cv2.imwrite(str(path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    full = (args.out / "manga_v1_tile00.png").absolute()
    cv2.imwrite(str(full), np.concatenate([greys[picks[1]], manga[picks[1]]], 1))
    print(f"contact sheet: {path}\nfull-size pair (greyscale | manga-v1): {full}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
