#!/usr/bin/env python
"""Benchmark: ingest N synthetic 512x512 image+mask pairs; compare with the floor, and check memory is flat.

Floor = decoding the same image files with Pillow on all cores (what any ingest must at least do). Store floor =
that plus copying each image and mask file into a new folder (what any ingest that keeps the files must also do;
on slow disks the copy is a large share). Ours = the full `ingest` (decode, hash, mask decode/check/encode,
dedupe, commit) into a fresh store. All run in this process's children, in the same run, on the same files.
Peak RSS is read from the ingest's own process and its workers.

    python scripts/bench_ingest.py -n 200          # also runs 10N unless --no-scale
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import io
import multiprocessing as mp
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image


def _make(args: tuple[Path, int, int]) -> None:
    from animeparse.demo.synth import generate_face

    out, i, size = args
    image, mask = generate_face(1234, i, size=size)
    Image.fromarray(image).save(out / "images" / f"f{i:06d}.png", compress_level=1)
    Image.fromarray(mask, mode="L").save(out / "masks" / f"f{i:06d}.png")


def make_data(out: Path, n: int, size: int) -> None:
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    with cf.ProcessPoolExecutor() as pool:
        list(pool.map(_make, [(out, i, size) for i in range(n)], chunksize=16))


def _decode(path: str) -> int:
    with Image.open(path) as img:
        return int(np.asarray(img.convert("RGB")).shape[0])


def _decode_copy(args: tuple[str, str]) -> int:
    path, out = args
    data = Path(path).read_bytes()
    with Image.open(io.BytesIO(data)) as img:
        h = int(np.asarray(img.convert("RGB")).shape[0])
    Path(out).write_bytes(data)
    mask = Path(path).parent.parent / "masks" / Path(path).name
    Path(out + ".mask.png").write_bytes(mask.read_bytes())
    return h


def store_floor(src: Path, work: Path) -> float:
    out = work / "copy"
    out.mkdir()
    files = sorted(str(p) for p in (src / "images").iterdir())
    t = time.perf_counter()
    with cf.ProcessPoolExecutor(max_workers=os.cpu_count()) as pool:
        list(pool.map(_decode_copy, [(f, str(out / Path(f).name)) for f in files], chunksize=8))
    rate = len(files) / (time.perf_counter() - t)
    shutil.rmtree(out)
    return rate


def floor(src: Path) -> float:
    files = sorted(str(p) for p in (src / "images").iterdir())
    t = time.perf_counter()
    with cf.ProcessPoolExecutor(max_workers=os.cpu_count()) as pool:
        list(pool.map(_decode, files, chunksize=8))
    return len(files) / (time.perf_counter() - t)


def _ours_child(src: str, store: str, conn) -> None:  # type: ignore[no-untyped-def]
    from animeparse import Dataset, load_labelmap
    from animeparse.ingest import IngestConfig, ingest

    with Dataset.create(store, labelmap=load_labelmap("danbooru-parsing")) as ds:
        t = time.perf_counter()
        report = ingest(ds, src, IngestConfig(format="index-folder"))
        dt = time.perf_counter() - t
    conn.send((report.added / dt, report.added, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
               resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))


def ours(src: Path, store: Path) -> tuple[float, int, int, int]:
    ctx = mp.get_context("spawn")  # a fresh interpreter: its peak RSS is the ingest's alone
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_ours_child, args=(str(src), str(store), child))
    proc.start()
    result = parent.recv()
    proc.join()
    return result


def run(n: int, size: int, work: Path) -> dict[str, float]:
    src, store = work / f"src{n}", work / f"store{n}"
    make_data(src, n, size)
    f, sf = floor(src), store_floor(src, work)
    rate, added, driver_kb, worker_kb = ours(src, store)
    assert added == n, f"only {added} of {n} added"
    shutil.rmtree(store)
    f2, sf2 = floor(src), store_floor(src, work)  # again after ours: a busy moment must not favour either side
    return {"n": n, "floor": max(f, f2), "store_floor": max(sf, sf2), "ours": rate, "driver_mb": driver_kb / 1024,
            "workers_mb": worker_kb / 1024}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=200)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--no-scale", action="store_true", help="skip the 10N run")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    try:
        rows = [run(args.n, args.size, work)]
        if not args.no_scale:
            rows.append(run(10 * args.n, args.size, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"ingest of {args.size}x{args.size} PNG image + L-mode mask pairs, {os.cpu_count()} cores")
    print(f"{'N':>6}  {'floor img/s':>11}  {'store floor':>11}  {'ours img/s':>10}  {'ours/floor':>10}  "
          f"{'ours/store floor':>16}  {'driver RSS MB':>13}  {'worker RSS MB':>13}")
    for r in rows:
        print(f"{r['n']:>6}  {r['floor']:>11.1f}  {r['store_floor']:>11.1f}  {r['ours']:>10.1f}  "
              f"{r['ours'] / r['floor']:>10.2f}  {r['ours'] / r['store_floor']:>16.2f}  {r['driver_mb']:>13.1f}  "
              f"{r['workers_mb']:>13.1f}")
    if len(rows) == 2:
        print(f"driver peak RSS 10N / N = {rows[1]['driver_mb'] / rows[0]['driver_mb']:.2f} (flat memory: ~1.0)")


if __name__ == "__main__":
    main()
