#!/usr/bin/env python
"""Benchmark: COCO export of N synthetic 512x512 faces (19-id Danbooru-Parsing masks) against its floor and the
tools users have now.

- floor: decode the same stored masks and pycocotools-encode each class present, in a tight loop on all cores
  (no JSON, no files): what any pixel-exact COCO RLE export must at least do;
- ours: ``export(ds, out, ExportConfig(format="coco", images="none"))`` (labels only, like the floor), and once
  more with the images copied;
- FiftyOne's way: a dataset of ``fo.Segmentation(mask_path=...)`` samples, ``segmentations_to_detections(...,
  mask_types="stuff")`` and ``export(dataset_type=fo.types.COCODetectionDataset, export_media=False)``;
- label-studio-sdk: ``Converter(...).convert(tasks.json, out, "BRUSH_TO_COCO")`` on the same masks as a Label Studio
  JSON export (written by our ``labelstudio`` exporter).

Competitors run on the first K samples (``--competitor-n``, default 200: FiftyOne and the converter are slow) and
are compared with ours on the same K samples (a rate over N would carry ours' fixed costs differently). The floor
and ours alternate three times in one window and the ratio is their total times' (every round counts, so a busy
moment on a shared machine falls on both); a ratio above 1 is noise (the floor does strictly less) and prints as
"at the floor, within noise". Missing competitors are skipped with a printed line.

    python scripts/bench_export.py            # N = 2000
    python scripts/bench_export.py -n 500 --competitor-n 100 --data /tmp/bench-data   # keep the data for reruns
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import multiprocessing as mp
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _floor import of_floor  # scripts/_floor.py
from PIL import Image

SUB, REST = "sub", "rest"  # the first K samples are split "sub", so every tool can be run on exactly those


def _make(args: tuple[Path, int, int]) -> int:
    from animeparse.demo.synth import generate_face

    out, i, size = args
    image_path, mask_path = out / "images" / f"f{i:06d}.png", out / "masks" / f"f{i:06d}.png"
    if image_path.is_file() and mask_path.is_file():  # resuming an interrupted generation with --data
        with Image.open(mask_path) as img:
            return int(len(np.unique(np.asarray(img))))
    image, mask = generate_face(2026, i, size=size)
    tmp = image_path.parent / f".{image_path.name}.tmp"  # hidden: readers skip it if a run is killed here
    Image.fromarray(image).save(tmp, format="PNG", compress_level=1)
    Image.fromarray(mask, mode="L").save(mask_path)
    tmp.rename(image_path)  # the image last: its presence means both files are whole
    return int(len(np.unique(mask)))


def make_store(data: Path, n: int, k: int, size: int) -> tuple[Path, float]:
    """Generate the faces (first k into src-sub/) and ingest them; returns (store, mean classes per mask)."""
    from animeparse import Dataset, load_labelmap
    from animeparse.ingest import IngestConfig, ingest

    store = data / f"store-{n}-{k}-{size}"
    classes_file = store.with_suffix(".classes")
    if store.exists() and classes_file.exists():
        return store, float(classes_file.read_text())
    shutil.rmtree(store, ignore_errors=True)
    jobs = []
    for split, lo, hi in ((SUB, 0, k), (REST, k, n)):
        src = data / f"src-{split}"
        (src / "images").mkdir(parents=True, exist_ok=True)
        (src / "masks").mkdir(exist_ok=True)
        jobs += [(src, i, size) for i in range(lo, hi)]
    with cf.ProcessPoolExecutor() as pool:
        classes = list(pool.map(_make, jobs, chunksize=16))
    with Dataset.create(store, labelmap=load_labelmap("danbooru-parsing")) as ds:
        for split in (SUB, REST):
            if any((data / f"src-{split}" / "masks").iterdir()):
                ingest(ds, data / f"src-{split}", IngestConfig(format="index-folder", split=split, near_dup_bits=-1))
    classes_file.write_text(str(float(np.mean(classes))))
    return store, float(np.mean(classes))


# -- floor -----------------------------------------------------------------------------------------------------------
def _floor_one(paths: list[str]) -> int:
    import cv2
    from pycocotools import mask as coco_mask

    from animeparse.export.base import read_store_mask

    n = 0
    for path in paths:
        mask = read_store_mask(path)  # the fastest decode of a store mask, as ours uses
        # which classes are present, the same (fastest found) way as ours
        ids = np.flatnonzero(cv2.calcHist([mask], [0], None, [256], [0, 256]).reshape(-1)[1:255]) + 1
        # the fastest way to call the encoder (no copy between compare and encode), as ours does
        mask_t = np.ascontiguousarray(mask.T)
        stack = (mask_t[None] == ids.astype(np.uint8)[:, None, None]).view(np.uint8).transpose(2, 1, 0)
        n += len(coco_mask.encode(stack))
    return n


def floor(mask_paths: list[str], workers: int) -> float:
    chunks = [mask_paths[i:i + 8] for i in range(0, len(mask_paths), 8)]
    t = time.perf_counter()
    with cf.ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("fork")) as pool:
        sum(pool.map(_floor_one, chunks))
    return time.perf_counter() - t


# -- ours ------------------------------------------------------------------------------------------------------------
def ours(store: Path, out: Path, workers: int, **options: Any) -> float:
    from animeparse import Dataset
    from animeparse.export import ExportConfig, export

    shutil.rmtree(out, ignore_errors=True)
    with Dataset.open(store) as ds:
        t = time.perf_counter()
        export(ds, out, ExportConfig(format="coco", workers=workers, **options))
        return time.perf_counter() - t


# -- FiftyOne ------------------------------------------------------------------------------------------------------
def _fiftyone_child(pairs: list[tuple[str, str]], work: str, conn: Any) -> None:
    """In a fresh interpreter: FiftyOne reads its settings from the environment at import."""
    os.environ["FIFTYONE_DO_NOT_TRACK"] = "true"
    os.environ["FIFTYONE_DATABASE_DIR"] = str(Path(work) / "fo-db")
    os.environ["FIFTYONE_SHOW_PROGRESS_BARS"] = "false"
    os.environ["FIFTYONE_DATABASE_VALIDATION"] = "false"
    result: dict[str, Any] = {}
    try:
        import fiftyone as fo
        import fiftyone.utils.labels as foul

        from animeparse import load_labelmap

        lm = load_labelmap("danbooru-parsing")
        t = time.perf_counter()
        dataset = fo.Dataset(f"bench-export-{os.getpid()}")
        dataset.add_samples([fo.Sample(filepath=img, gt=fo.Segmentation(mask_path=msk)) for img, msk in pairs])
        result["build"] = time.perf_counter() - t
        t = time.perf_counter()
        foul.segmentations_to_detections(dataset, "gt", "dets", mask_targets={c.id: c.name for c in lm.classes
                                                                               if c.id}, mask_types="stuff")
        dataset.export(export_dir=str(Path(work) / "fo-out"), dataset_type=fo.types.COCODetectionDataset,
                       label_field="dets", export_media=False)
        result["export"] = time.perf_counter() - t
        dataset.delete()
    except Exception as err:  # noqa: BLE001 - any failure is reported as a skipped competitor
        result["error"] = f"{type(err).__name__}: {err}"
    try:  # the MongoDB this process started: the parent stops what is left of it once this process has exited
        import psutil

        result["spawned"] = [(p.pid, p.create_time()) for p in psutil.Process().children(recursive=True)]
    except Exception:  # noqa: BLE001
        result["spawned"] = []
    conn.send(result)


def _stop(spawned: list[tuple[int, float]]) -> None:
    """Terminate the processes the FiftyOne child started (by pid, checked against their start time)."""
    try:
        import psutil
    except ImportError:
        return
    procs = []
    for pid, created in spawned:
        try:
            proc = psutil.Process(pid)
            if proc.create_time() == created:
                proc.terminate()
                procs.append(proc)
        except psutil.Error:
            continue
    _, alive = psutil.wait_procs(procs, timeout=10)
    for proc in alive:
        proc.kill()


def fiftyone_way(pairs: list[tuple[str, str]], work: Path) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_fiftyone_child, args=(pairs, str(work), child))
    proc.start()
    result = parent.recv() if parent.poll(1800) else {"error": "no answer within 30 minutes"}
    proc.join(60)
    if proc.is_alive():
        proc.kill()
    _stop(result.get("spawned", []))
    return result


# -- label-studio-sdk ----------------------------------------------------------------------------------------------
def labelstudio_way(store: Path, work: Path) -> dict[str, Any]:
    from animeparse import Dataset
    from animeparse.export import ExportConfig, export

    try:
        from label_studio_sdk.converter import Converter
    except ImportError as err:
        return {"error": f"label-studio-sdk not installed ({err}); pip install -e '.[labelstudio]'"}
    ls = work / "ls-in"
    shutil.rmtree(ls, ignore_errors=True)
    with Dataset.open(store) as ds:
        export(ds, ls, ExportConfig(format="labelstudio", splits=(SUB,), images="none", ls_as="annotations"))
    out = work / "ls-out"
    shutil.rmtree(out, ignore_errors=True)
    t = time.perf_counter()
    converter = Converter(config=str(ls / "label_config.xml"), project_dir=str(ls), download_resources=False)
    converter.convert(str(ls / "tasks.json"), str(out), "BRUSH_TO_COCO", is_dir=False)
    return {"export": time.perf_counter() - t}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=2000, help="samples (default 2000)")
    ap.add_argument("--competitor-n", type=int, default=200, help="samples for FiftyOne and label-studio-sdk")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--data", type=Path, default=None, help="keep the generated store here (reused by reruns)")
    ap.add_argument("--skip-competitors", action="store_true")
    args = ap.parse_args()
    k = min(args.competitor_n, args.n)
    work = Path(tempfile.mkdtemp(prefix="bench-export-"))
    data = args.data or work
    data.mkdir(parents=True, exist_ok=True)
    try:
        store, classes = make_store(data, args.n, k, args.size)
        from animeparse import Dataset

        with Dataset.open(store) as ds:
            samples = ds.samples()
            masks = [str(ds.root / ds.mask_record(s.id).path) for s in samples]
            # FiftyOne reads masks with OpenCV, which turns the store's palette PNGs into colours: give it L-mode
            pairs = [(str(ds.image_path(s)), str(data / f"src-{SUB}" / "masks" / (Path(s.name).stem + ".png")))
                     for s in samples if s.split == SUB]
        # floor and ours alternate three times in one window; the ratio is over all rounds (no best-of-each)
        floors, ourses = [], []
        for _ in range(3):
            floors.append(floor(masks, args.workers))
            ourses.append(ours(store, work / "ours", args.workers, images="none"))
        t_copy = ours(store, work / "ours-copy", args.workers, images="copy")
        t_floor, t_ours = sum(floors) / len(floors), sum(ourses) / len(ourses)
        n = len(masks)
        print(f"COCO export of {n} synthetic {args.size}x{args.size} faces (mean {classes:.1f} classes per mask, "
              f"danbooru-parsing map), {args.workers} workers on {os.cpu_count()} cores; mean of 3 alternating rounds")
        print(f"  floor  decode + pycocotools encode per class  {t_floor:7.2f} s  {n / t_floor:8.1f} img/s  "
              f"(runs: {', '.join(f'{t:.2f}' for t in floors)} s)")
        print(f"  ours   export --format coco --images none     {t_ours:7.2f} s  {n / t_ours:8.1f} img/s  "
              f"(runs: {', '.join(f'{t:.2f}' for t in ourses)} s)")
        print(f"  ours / floor: {of_floor(t_floor / t_ours)}  (per round: "
              f"{', '.join(f'{f / o:.2f}' for f, o in zip(floors, ourses))}; above 1 is noise)")
        print(f"  ours   export --format coco --images copy     {t_copy:7.2f} s  {n / t_copy:8.1f} img/s")
        if args.skip_competitors:
            return
        t_ours_k = ours(store, work / "ours-k", args.workers, images="none", splits=(SUB,))
        rate_ours_k = k / t_ours_k  # competitors are compared with ours on the very samples they ran on
        print(f"competitors on the first {k} samples (ours on the same {k}: {t_ours_k:.2f} s, "
              f"{rate_ours_k:.1f} img/s):")
        fo_result = fiftyone_way(pairs, work)
        if "error" in fo_result:
            print(f"  FiftyOne: skipped ({fo_result['error']})")
        else:
            rate = k / fo_result["export"]
            print(f"  FiftyOne segmentations_to_detections + COCODetectionDataset export  {fo_result['export']:7.2f} s "
                  f"{rate:8.1f} img/s (dataset build {fo_result['build']:.2f} s not counted); ours is "
                  f"{rate_ours_k / rate:.1f}x faster on the same {k}")
        ls_result = labelstudio_way(store, work)
        if "error" in ls_result:
            print(f"  label-studio-sdk: skipped ({ls_result['error']})")
        else:
            rate = k / ls_result["export"]
            print(f"  label-studio-sdk Converter BRUSH_TO_COCO (polygons)               {ls_result['export']:7.2f} s "
                  f"{rate:8.1f} img/s; ours is {rate_ours_k / rate:.1f}x faster on the same {k}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
