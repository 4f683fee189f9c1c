"""Pre-labels on real anime art: an ablation of the training recipe and the clean-up, measured where we can.

    python scripts/bench_real_art.py [--out DIR] [--labelled 50] [--budget 5] [--arms default,no-ssl,...]

A store of ``--labelled`` generated faces (512 px, the demo's generator) + 10 held-out generated faces + the 36
TADNE tiles and the Manga109-s page from ../shared/data as unlabelled images. Each arm trains a parser with
``--budget`` minutes and prelabels the tiles, the page and the held-out faces with and without the clean-up.
Printed per arm: held-out mIoU (pooled and mean per image), pieces per image on the tiles (raw -> cleaned), the
page's pieces, the tiles' score distribution. Overlays (image + label colours, legend) of every arm's tiles go to
``DIR/<arm>-tiles.png``. No IoU on real art: the project has no parsing maps of real art (the team measures that).
The third-party images stay outside the repository (DIR defaults to a temporary folder).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from animeparse import Dataset, MaskInput, load_labelmap  # noqa: E402
from animeparse.demo.synth import generate_face  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"

ARMS = {
    # name: (TrainConfig changes, description)
    "baseline": ({"unlabeled": "none", "style": "off", "augment": "old"}, "the recipe before: old augmentation only"),
    "style": ({"unlabeled": "none"}, "+ zoom/rotation + style augmentation"),
    "default": ({}, "+ semi-supervised mean teacher on the unlabelled art (the default)"),
    "bisenet": ({"arch": "bisenet"}, "default recipe, BiSeNet (ResNet-18 from scratch: no ImageNet file here)"),
    "style-shade": ({"unlabeled": "none"}, "style augmentation with painted light and hair strands"),
    "final": ({}, "style (with shading) + semi-supervised at weight 0.3, threshold 0.9: the default"),
}


def build_store(root: Path, labelled: int) -> tuple[Dataset, list[str], list[str], list[str]]:
    """(store, held-out face ids, tile ids, page ids); an existing store at ``root`` is reused (its finished parser
    runs are not trained again)."""
    if (root / "store").exists():
        ds = Dataset.open(root / "store", write=True)
        return (ds, [s.id for s in ds.samples(split="val")], [s.id for s in ds.samples(split="art")],
                [s.id for s in ds.samples(split="manga")])
    lm = load_labelmap("danbooru-parsing")
    ds = Dataset.create(root / "store", labelmap=lm)
    src = root / "src"
    src.mkdir(parents=True, exist_ok=True)
    held, tiles, page = [], [], []
    for i in range(labelled + 10):
        image, mask = generate_face(0, i, size=512)
        path = src / f"face_{i:04d}.png"
        Image.fromarray(image).save(path, compress_level=1)
        split = "train" if i < labelled else "val"
        s, _ = ds.add_sample(path, split=split, masks={"gt": MaskInput(mask, origin={"kind": "human"})})
        if split == "val":
            held.append(s.id)
    grid = np.asarray(Image.open(SHARED / "anime-illustrations" / "tadne-grid-6x6.jpg").convert("RGB"))
    for k in range(36):
        r, c = divmod(k, 6)
        path = src / f"tile_{k:02d}.png"
        Image.fromarray(grid[r * 512:(r + 1) * 512, c * 512:(c + 1) * 512]).save(path, compress_level=1)
        tiles.append(ds.add_sample(path, split="art")[0].id)
    manga = src / "manga_001a.png"
    Image.open(SHARED / "manga-page" / "001a.jpg").convert("RGB").save(manga)
    page.append(ds.add_sample(manga, split="manga")[0].id)
    return ds, held, tiles, page


def train_config(changes: dict, budget: float, size: int):
    from animeparse.prelabel import TrainConfig
    from animeparse.prelabel.style import StyleConfig

    kw = dict(changes)
    if kw.pop("style", None) == "off":
        kw["style"] = asdict(StyleConfig.off())
    if kw.pop("augment", None) == "old":
        kw["augment"] = {"flip": 0.5, "scale": 0.15, "shift": 0.08, "colour": 0.15}
    return TrainConfig(size=size, device="cpu", time_budget=budget, **kw)


def overlay_sheet(ds: Dataset, ids: list[str], layer: str, path: Path, *, cols: int = 6, side: int = 192) -> None:
    """Image blended with a display palette (tab20: the label map's own colours make hair, cloth and hat three
    near-identical yellows), a grid of tiles, and a legend of the classes shown."""
    import matplotlib

    lm = ds.labelmap
    cmap = matplotlib.colormaps["tab20"]
    colours = np.zeros((256, 3), np.uint8)
    for k, cid in enumerate(lm.ids):
        colours[cid] = (np.array(cmap(k % 20)[:3]) * 255).astype(np.uint8)
    colours[lm.id_of("background")] = (40, 40, 40)
    colours[255] = (255, 255, 255)
    cells, seen = [], set()
    for sid in ids:
        image = ds.read_image(sid)
        mask = ds.read_mask(sid, layer)
        seen |= set(np.unique(mask).tolist())
        blend = (0.45 * image + 0.55 * colours[mask]).astype(np.uint8)
        cells.append(np.asarray(Image.fromarray(blend).resize((side, side), Image.NEAREST)))
    rows = (len(cells) + cols - 1) // cols
    sheet = Image.new("RGB", (cols * side, rows * side + 40), "white")
    for k, cell in enumerate(cells):
        sheet.paste(Image.fromarray(cell), ((k % cols) * side, (k // cols) * side))
    draw = ImageDraw.Draw(sheet)
    x = 4
    for cid in sorted(c for c in seen if c in lm):
        draw.rectangle([x, rows * side + 8, x + 14, rows * side + 22], fill=tuple(int(v) for v in colours[cid]))
        draw.text((x + 18, rows * side + 9), lm.name_of(cid), fill="black")
        x += 24 + 7 * len(lm.name_of(cid))
    sheet.save(path)


def run_arm(ds: Dataset, name: str, changes: dict, args, held, tiles, page, out: Path) -> dict:
    from animeparse.prelabel import PrelabelConfig, evaluate_layer, prelabel, train_parser
    from animeparse.prelabel.cleanup import CleanupConfig

    t0 = time.perf_counter()
    result = train_parser(ds, replace(train_config(changes, args.budget, args.size), run_id=f"p-{name}"))
    train_s = time.perf_counter() - t0
    row = {"arm": name, "epochs": result.epochs, "train_s": round(train_s, 1)}
    for clean in (False, True):
        tag = "clean" if clean else "raw"
        config = PrelabelConfig(device="cpu", sam="none", parser=f"p-{name}", only="unlabeled", batch_size=4,
                                run_id=f"{name}-{tag}-{args.tag}", cleanup=CleanupConfig(enabled=clean))
        prelabel(ds, config)
        prelabel(ds, replace(config, only="split:val"))
        layer = f"prelabel/{name}-{tag}-{args.tag}"
        report = evaluate_layer(ds, layer)
        rows = {s.id: s for s in ds.samples(layer=layer)}
        from animeparse.prelabel.cleanup import count_pieces

        tile_pieces = [count_pieces(ds.read_mask(t, layer)) for t in tiles]
        scores = [m.score for t in tiles for m in ds.masks_of(t) if m.layer == layer]
        row[tag] = {"heldout_miou": report.miou, "heldout_miou_per_image": report.miou_per_image,
                    "heldout_pieces": report.pieces_per_image, "gt_pieces": report.gt_pieces_per_image,
                    "per_class": {c.name: c.iou for c in report.per_class},
                    "tile_pieces_mean": round(float(np.mean(tile_pieces)), 1),
                    "tile_pieces_max": int(np.max(tile_pieces)),
                    "page_pieces": count_pieces(ds.read_mask(page[0], layer)),
                    "tile_score_q": [round(float(q), 3) for q in np.quantile(scores, [0.1, 0.5, 0.9])],
                    "tiles_under_0.7": int(sum(s < 0.7 for s in scores))}
        assert len(rows) >= len(tiles)
        overlay_sheet(ds, tiles + page, layer, out / f"{name}-{tag}-tiles.png")
        overlay_sheet(ds, held, layer, out / f"{name}-{tag}-heldout.png", cols=5)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--labelled", type=int, default=50)
    parser.add_argument("--budget", type=float, default=5.0, help="training minutes per arm")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--arms", default=",".join(ARMS))
    parser.add_argument("--tag", default="a", help="names this pass's prelabel runs (a reused store keeps old ones)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(2)
    out = args.out or Path(tempfile.mkdtemp(prefix="bench-real-art-"))
    out.mkdir(parents=True, exist_ok=True)
    ds, held, tiles, page = build_store(out / "work", args.labelled)
    rows = []
    with ds:
        for name in args.arms.split(","):
            row = run_arm(ds, name, ARMS[name][0], args, held, tiles, page, out)
            rows.append(row)
            print(json.dumps(row), flush=True)
    print(f"\n{'arm':<10} {'epochs':>6} {'train s':>8} | {'held-out mIoU pooled/per img':>28} | "
          f"{'tile pieces raw -> clean':>24} | {'page':>9} | tile score q10/q50/q90 (clean)")
    for r in rows:
        raw, clean = r["raw"], r["clean"]
        print(f"{r['arm']:<10} {r['epochs']:>6} {r['train_s']:>8} | "
              f"{clean['heldout_miou']:.3f}/{clean['heldout_miou_per_image']:.3f} (raw {raw['heldout_miou']:.3f})"
              f" | {raw['tile_pieces_mean']:>7} -> {clean['tile_pieces_mean']:<5} (max {clean['tile_pieces_max']})"
              f" | {raw['page_pieces']:>3} -> {clean['page_pieces']:<3} | {clean['tile_score_q']}")
    (out / "results.json").write_text(json.dumps(rows, indent=2))
    print(f"\noverlays and results.json in {out}")


if __name__ == "__main__":
    main()
