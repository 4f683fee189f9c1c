#!/usr/bin/env python
"""Benchmark of ``ls serve``: what a click costs, how many clicks a part takes, and how the loop's retraining
cuts the pixels annotators correct. Generated faces only (``animeparse.demo.synth``); nothing is downloaded.

``latency``: a SAM in the official vit_b layout (segment-anything's own vit_b builder, random weights: the cost of a
pass does not depend on the weights) and the tiny test SAM, served by ``make_server`` on 127.0.0.1; per image the
first click (embedding computed: encoder + decoder, then cached in the store) and ``--clicks`` more (embedding
from the cache: one decoder pass), timed as whole HTTP requests to ``/predict`` and inside the backend.

``annotator``: a simulated annotator on held-out faces. Parsers are trained on 10, 20 and 40 annotated faces (the
loop's retraining points); for each, the pixels per image an annotator must correct in the parser's pre-label, and
per class present, clicks to reach IoU 0.9 (at most ``--max-clicks``; each click goes to the point deepest inside
the largest wrong area: positive where the class is missing, negative where it spills over):

- from nothing: clicks with the interactive tool alone;
- pre-label: the share of classes the pre-label already has at IoU >= 0.9 (0 clicks);
- pre-label + clicks: clicks only on the classes the pre-label misses (mean over all classes).

The interactive tool is SAM when ``--checkpoint`` names real weights, else the parser fallback (``--sam none``):
with random SAM weights click counts mean nothing, so none are reported for them.

    python scripts/bench_interactive.py latency
    python scripts/bench_interactive.py annotator --epochs 30
    python scripts/bench_interactive.py annotator --checkpoint ~/models/sam_vit_b_01ec64.pth
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from animeparse import Dataset, MaskInput, load_labelmap  # noqa: E402
from animeparse.annotate.backend import Backend, BackendConfig  # noqa: E402
from animeparse.annotate.serve import make_server, serve_in_thread  # noqa: E402
from animeparse.demo.synth import generate_face  # noqa: E402


def make_store(root: Path, n: int, size: int, *, seed: int, with_gt: int = 0) -> Path:
    ds = Dataset.create(root / "store", labelmap=load_labelmap("danbooru-parsing"))
    (root / "src").mkdir(exist_ok=True)
    with ds:
        for i in range(n):
            image, mask = generate_face(seed, i, size=size)
            path = root / "src" / f"face_{i:04d}.png"
            Image.fromarray(image).save(path, compress_level=1)
            split = "train" if i < with_gt else "val"
            ds.add_sample(path, split=split, masks={"gt": MaskInput(mask, origin={"kind": "human"})})
    return root / "store"


def click_context(x: float, y: float, w: int, h: int, label: str) -> dict[str, Any]:
    return {"type": "keypointlabels", "original_width": w, "original_height": h,
            "value": {"x": 100.0 * x / w, "y": 100.0 * y / h, "width": 1, "keypointlabels": [label]}}


# -- latency -------------------------------------------------------------------------------------------------------
def latency(args: argparse.Namespace) -> None:
    import torch

    from animeparse.prelabel.sam import SAM_ARCHS, build_sam

    torch.set_num_threads(args.threads)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-interactive-") as tmp:
        store = make_store(Path(tmp), args.images, args.size, seed=3)
        sams = {"vit_b layout (random weights)": SAM_ARCHS["vit_b"]}
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from tests.prelabel import tiny_sam_arch

        sams["tiny test SAM (256 px input)"] = tiny_sam_arch()
        for name, arch in sams.items():
            torch.manual_seed(0)
            ckpt = Path(tmp) / f"{name.split()[0]}.pth"
            torch.save(build_sam(arch, device="cpu").state_dict(), ckpt)
            with Dataset.open(store) as ds:
                ids = [s.id for s in ds.samples()]
            times: dict[str, list[float]] = {"computed": [], "store cache": [], "memory": [], "decoder": []}
            rng = np.random.default_rng(0)
            # a first server computes each embedding (first click) and answers the next clicks from memory; a
            # second one, started afresh, reads the embeddings the first put in the store's cache
            for phase, clicks in (("computed", 1 + args.clicks), ("store cache", 1)):
                server = make_server(BackendConfig(dataset=store, checkpoint=str(ckpt), device="cpu"), port=0)
                serve_in_thread(server)
                for sid in ids:
                    for k in range(clicks):
                        x, y = rng.uniform(0.2, 0.8, 2) * args.size
                        ctx = {"result": [click_context(x, y, args.size, args.size, "hair")]}
                        body = {"tasks": [{"id": 1, "data": {"sample_id": sid}}], "params": {"context": ctx}}
                        req = urllib.request.Request(server.url + "/predict", data=json.dumps(body).encode(),
                                                     headers={"Content-Type": "application/json"})
                        t0 = time.perf_counter()
                        with urllib.request.urlopen(req, timeout=600) as reply:
                            reply.read()
                        times[phase if k == 0 else "memory"].append(time.perf_counter() - t0)
                        times["decoder"].append(server.backend.last_timing["decoder_s"])
                server.shutdown()
                server.server_close()
            rows.append((name, *(1000 * statistics.median(times[k]) for k in times)))
    print(f"{args.images} images of {args.size}x{args.size}, CPU, {args.threads} torch thread(s); median ms per "
          "click, whole HTTP request to /predict")
    print("| SAM | embedding computed (first click) | embedding from the store's cache | embedding in memory "
          "(next clicks) | of which the decoder pass |")
    print("|---|---:|---:|---:|---:|")
    for name, computed, stored, memory, decoder in rows:
        print(f"| {name} | {computed:.0f} | {stored:.0f} | {memory:.0f} | {decoder:.0f} |")


# -- simulated annotator -------------------------------------------------------------------------------------------
def next_click(region: np.ndarray, truth: np.ndarray) -> tuple[float, float, bool] | None:
    """(x, y, positive) deepest inside the largest wrong area, or None when nothing is wrong."""
    best = None
    for wrong, positive in ((truth & ~region, True), (region & ~truth, False)):
        n, comp, stats, _ = cv2.connectedComponentsWithStats(wrong.view(np.uint8), connectivity=8)
        for k in range(1, n):
            if best is None or stats[k, cv2.CC_STAT_AREA] > best[0]:
                best = (stats[k, cv2.CC_STAT_AREA], comp == k, positive)
    if best is None:
        return None
    depth = cv2.distanceTransform(np.pad(best[1], 1).view(np.uint8), cv2.DIST_L2, 3)[1:-1, 1:-1]
    y, x = np.unravel_index(int(depth.argmax()), depth.shape)
    return float(x) + 0.5, float(y) + 0.5, best[2]


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = int((a | b).sum())
    return 1.0 if union == 0 else int((a & b).sum()) / union


def clicks_to(backend: Backend, ds: Dataset, sample: Any, name: str, truth: np.ndarray, limit: int) -> int | None:
    """Clicks until IoU >= 0.9 (None: not within ``limit``)."""
    from animeparse.formats.lsrle import rle_to_alpha

    h, w = truth.shape
    region = np.zeros_like(truth)
    marks: list[dict[str, Any]] = []
    for n in range(1, limit + 1):
        click = next_click(region, truth)
        if click is None:
            return n - 1
        x, y, positive = click
        marks.append(click_context(x, y, w, h, name if positive else "negative"))
        if not any(m["value"]["keypointlabels"] != ["negative"] for m in marks):
            continue  # only negative clicks so far: nothing to ask yet
        (result,) = backend.interactive(ds, sample, {"result": marks})["result"]
        region = rle_to_alpha(result["value"]["rle"], shape_hw=(h, w), source="bench") >= 128
        if iou(region, truth) >= 0.9:
            return n
    return None


def annotator(args: argparse.Namespace) -> None:
    import torch

    from animeparse.prelabel import PrelabelConfig, TrainConfig, prelabel, train_parser

    torch.set_num_threads(args.threads)
    labelmap = load_labelmap("danbooru-parsing")
    table = []
    with tempfile.TemporaryDirectory(prefix="bench-annotator-") as tmp:
        store = make_store(Path(tmp), max(args.points) + args.eval, args.size, seed=5, with_gt=max(args.points))
        with Dataset.open(store) as ds:
            train_ids = sorted(s.id for s in ds.samples(split="train"))
            eval_samples = sorted(ds.samples(split="val"), key=lambda s: s.id)
        for n in args.points:
            with Dataset.open(store, write=True) as ds:
                ds.set_split(train_ids[:n], "train")
                ds.set_split(train_ids[n:], "hold")  # not yet annotated at this point of the loop
                t0 = time.perf_counter()
                run = train_parser(ds, TrainConfig(epochs=args.epochs, size=args.size, device="cpu", time_budget=None,
                                                   unlabeled="none", run_id=f"parser-bench-{n}"))
                train_s = time.perf_counter() - t0
                done = prelabel(ds, PrelabelConfig(parser=run.run_id, sam="none", only="split:val", device="cpu",
                                                   run_id=f"bench-{n}"))
            backend = Backend(BackendConfig(dataset=store, sam="none" if not args.checkpoint else "auto",
                                            checkpoint=args.checkpoint, parser=run.run_id, device="cpu"))
            wrong_px, nothing, pre_ok, pre_plus, classes, unreached = [], [], 0, [], 0, 0
            with Dataset.open(store) as ds:
                for sample in eval_samples:
                    gt = ds.read_mask(sample.id, "gt")
                    pre = ds.read_mask(sample.id, done.layer)
                    wrong_px.append(int((gt != pre).sum()))
                    for cid in (int(c) for c in np.unique(gt) if c):
                        truth = gt == cid
                        classes += 1
                        k = clicks_to(backend, ds, sample, labelmap.name_of(cid), truth, args.max_clicks)
                        unreached += k is None
                        cost = args.max_clicks if k is None else k
                        nothing.append(cost)
                        good = iou(pre == cid, truth) >= 0.9
                        pre_ok += good
                        pre_plus.append(0 if good else cost)
            table.append((n, train_s, statistics.mean(wrong_px), statistics.mean(nothing), pre_ok / classes,
                          statistics.mean(pre_plus), unreached / classes))
    tool = "SAM" if args.checkpoint else "parser fallback (no SAM)"
    print(f"{args.eval} held-out faces of {args.size}x{args.size}; clicks with {tool}, at most {args.max_clicks} "
          f"(a class not reached counts {args.max_clicks}); parser {args.epochs} epochs on CPU")
    print("| annotated faces | training (s) | corrected pixels / image | clicks / class from nothing | "
          "classes right from the pre-label | clicks / class, pre-label + clicks | not reached |")
    print("|---|---|---|---|---|---|---|")
    for n, t, px, z, ok, pp, miss in table:
        print(f"| {n} | {t:.0f} | {px:.0f} | {z:.1f} | {100 * ok:.0f} % | {pp:.1f} | {100 * miss:.0f} % |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    lat = sub.add_parser("latency")
    lat.add_argument("--images", type=int, default=3)
    lat.add_argument("--size", type=int, default=512)
    lat.add_argument("--clicks", type=int, default=10)
    lat.add_argument("--threads", type=int, default=1)
    ann = sub.add_parser("annotator")
    ann.add_argument("--points", type=int, nargs="+", default=[10, 20, 40])
    ann.add_argument("--eval", type=int, default=10)
    ann.add_argument("--size", type=int, default=128)
    ann.add_argument("--epochs", type=int, default=30)
    ann.add_argument("--max-clicks", type=int, default=10)
    ann.add_argument("--checkpoint", default=None)
    ann.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    latency(args) if args.what == "latency" else annotator(args)


if __name__ == "__main__":
    main()
