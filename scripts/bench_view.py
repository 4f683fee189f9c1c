#!/usr/bin/env python
"""Benchmark: building the FiftyOne mirror of N synthetic samples, and re-syncing after 1% of them changed.

The store holds N generated 512x512 faces (animeparse.demo.synth) with their exact gt masks and a pre-label layer
(the gt shifted a few pixels, so every sample has a non-trivial IoU). Timed, in a fresh FiftyOne database folder:

- start: MongoDB start + FiftyOne import (once per process);
- build: the first sync (validate on all samples, IoU for each, every sample written);
- no-op re-sync: nothing changed (validate still runs: its findings are part of the fingerprint);
- 1% re-sync: new gt masks for 1% of the samples, then a sync (only those are rewritten);
- the same two re-syncs with ``--no-validate``, and validate alone, to show its share.

    python scripts/bench_view.py            # N = 500
    python scripts/bench_view.py -n 2000 --size 256
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image


def _face(args: tuple[Path, int, int, int]) -> tuple[str, str, str]:
    """Write face ``i``: image, gt mask and a pre-label mask (the gt shifted right) as PNGs; return their paths."""
    out, seed, i, size = args
    from animeparse.demo.synth import generate_face

    image, mask = generate_face(seed, i, size=size)
    paths = (out / f"face_{i:04d}.png", out / f"face_{i:04d}_gt.png", out / f"face_{i:04d}_pre.png")
    Image.fromarray(image).save(paths[0])
    Image.fromarray(mask, mode="L").save(paths[1])
    Image.fromarray(np.roll(mask, 2 + i % 5, axis=1), mode="L").save(paths[2])
    return tuple(str(p) for p in paths)  # type: ignore[return-value]


def build_store(root: Path, n: int, size: int, seed: int) -> list[str]:
    from animeparse import Dataset, MaskInput, load_labelmap, read_mask

    src = root.parent / "src"
    src.mkdir()
    with cf.ProcessPoolExecutor(max_workers=os.cpu_count()) as pool:
        files = list(pool.map(_face, [(src, seed, i, size) for i in range(n)], chunksize=8))
    ids = []
    with Dataset.create(root, labelmap=load_labelmap("danbooru-parsing")) as ds:
        for k, (image, gt, pre) in enumerate(files):
            masks = {"gt": MaskInput(mask_hw=read_mask(gt), origin={"kind": "human"}),
                     "prelabel/bench": MaskInput(mask_hw=read_mask(pre), origin={"kind": "machine", "run": "bench"},
                                                 score=round(0.5 + (k % 50) / 100, 2))}
            sample, _ = ds.add_sample(image, masks=masks, split=("train", "val", "test")[k % 3])
            ids.append(sample.id)
    return ids


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=500, help="samples (default 500)")
    ap.add_argument("--size", type=int, default=512, help="image side in pixels (default 512)")
    ap.add_argument("--changed", type=float, default=0.01, help="share of samples changed before the re-sync")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from animeparse import Dataset, MaskInput
    from animeparse.qa import QAConfig, validate
    from animeparse.view import FiftyOneDB, sync_store

    work = Path(tempfile.mkdtemp(prefix="bench-view-"))
    figures: list[tuple[str, float, str]] = []
    try:
        t = time.perf_counter()
        ids = build_store(work / "store", args.n, args.size, args.seed)
        print(f"built a store of {args.n} {args.size}x{args.size} faces (gt + prelabel/bench) in "
              f"{time.perf_counter() - t:.1f} s", file=sys.stderr)
        t = time.perf_counter()
        with FiftyOneDB(work / "db") as db:
            figures.append(("start (mongod + fiftyone import)", time.perf_counter() - t, ""))

            def timed(label: str, **kw: object) -> None:
                t0 = time.perf_counter()
                with Dataset.open(work / "store") as ds:
                    r = sync_store(ds, db, **kw)  # type: ignore[arg-type]
                figures.append((label, time.perf_counter() - t0,
                                f"{r.added} added, {r.updated} updated, {r.removed} removed"))

            timed(f"build ({args.n} samples)")
            timed("no-op re-sync")
            timed("no-op re-sync, --no-validate", findings=False)
            changed = ids[:: max(1, round(1 / args.changed))][: max(1, round(args.n * args.changed))]
            with Dataset.open(work / "store", write=True) as ds:
                for sid in changed:
                    mask = ds.read_mask(sid, "gt")
                    mask[:, :32] = 17  # a visible edit: the left columns become hair
                    ds.put_mask(sid, "gt", MaskInput(mask_hw=mask, origin={"kind": "human"}), replace=True)
            timed(f"re-sync after {len(changed)} changed ({args.changed:.0%})")
            with Dataset.open(work / "store", write=True) as ds:
                for sid in changed:
                    ds.add_tags(sid, ["bench"])
            timed(f"re-sync after {len(changed)} re-tagged, --no-validate", findings=False)
            with Dataset.open(work / "store") as ds:
                t0 = time.perf_counter()
                validate(ds, QAConfig())
                figures.append((f"validate alone ({args.n} samples)", time.perf_counter() - t0, ""))
            t = time.perf_counter()
        figures.append(("stop (mongod shutdown)", time.perf_counter() - t, ""))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"animeparse view: {args.n} samples of {args.size}x{args.size}, {os.cpu_count()} cores")
    width = max(len(label) for label, _, _ in figures)
    for label, seconds, note in figures:
        print(f"  {label:<{width}}  {seconds:7.2f} s  {note}")


if __name__ == "__main__":
    main()
