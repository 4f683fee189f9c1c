#!/usr/bin/env python
"""GPU benchmark of SAM's image encoder and decoder at each precision, against fp32 in the same call.

Random weights in a vit_h-shaped model (speed does not depend on the weights; no checkpoint can be downloaded
here). For each configuration: encoder images/s and peak GPU memory over ``--images`` 1024 px images in batches of
``--batch-size`` (after a warm-up batch), and the ratio to fp32:

    fp32 | tf32 | bf16 | bf16 + SDPA | bf16 + SDPA + compile (``--no-compile`` skips the last)

then the prompted decoder's ms per image (16 prompts: boxes and points, one pass) at fp32 and bf16, and the
number of host-device synchronisations per image of ``prelabel``'s model stage (``Labeler.compute``: parser, encoder,
prompts, decoder, combining on the device) counted with ``torch.cuda.set_sync_debug_mode("warn")``.

    python scripts/bench_gpu.py                       # on a CUDA GPU (scripts/bench_gpu.sh runs this and more)
    python scripts/bench_gpu.py --device cpu --tiny   # a smoke test of the script itself on the CPU
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    import torch

    from animeparse.prelabel.precision import autocast
    from animeparse.prelabel.sam import SAM_ARCHS, SamArch, SamEngine, build_sam
    from animeparse.prelabel.sam_speed import speed_up

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--arch", default="vit_h", choices=sorted(SAM_ARCHS))
    ap.add_argument("--tiny", action="store_true", help="a tiny SAM at 256 px (smoke test on the CPU)")
    ap.add_argument("--images", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--no-compile", action="store_true")
    args = ap.parse_args()
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    if args.tiny:
        arch = SamArch(embed_dim=64, depth=2, num_heads=2, global_attn_indexes=(1,), img_size=256, window_size=4,
                       out_chans=32, decoder_mlp_dim=64, iou_head_hidden_dim=32)
    else:
        arch = SAM_ARCHS[args.arch]
    name = torch.cuda.get_device_name(device) if cuda else "CPU"
    print(f"device {name}; torch {torch.__version__}; SAM {'tiny' if args.tiny else args.arch} (embed "
          f"{arch.embed_dim}, depth {arch.depth}), {arch.img_size} px, batch {args.batch_size}, {args.images} images")

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize(device)

    rng = np.random.default_rng(0)
    side = arch.img_size
    images = [rng.integers(0, 256, (side, side, 3), dtype=np.uint8) for _ in range(args.images)]
    batches = [images[i:i + args.batch_size] for i in range(0, len(images), args.batch_size)]

    def fresh() -> SamEngine:
        torch.manual_seed(0)
        return SamEngine(build_sam(arch, device="cpu").to(device).eval(), arch=arch, sha256="0" * 64, source="rand")

    configs = [("fp32", "fp32", False, False), ("tf32", "tf32", False, False), ("bf16", "bf16", False, False),
               ("bf16 + SDPA", "bf16", True, False)]
    if not args.no_compile:
        configs.append(("bf16 + SDPA + compile", "bf16", True, True))
    rows = []
    for label, precision, sdpa, compiled in configs:
        engine = fresh()
        if sdpa or compiled:
            speed_up(engine, sdpa=sdpa, compile_encoder=compiled, batch_size=args.batch_size)
        try:
            with autocast(device, precision):
                engine.encode(batches[0])  # warm-up (and the compile)
                sync()
                if cuda:
                    torch.cuda.reset_peak_memory_stats(device)
                t = time.perf_counter()
                for batch in batches:
                    engine.encode(batch)
                sync()
            rate = len(images) / (time.perf_counter() - t)
            peak = torch.cuda.max_memory_allocated(device) / 2**30 if cuda else float("nan")
            rows.append((label, rate, peak))
        except Exception as err:  # a configuration this card or build cannot run is reported, not fatal
            rows.append((label, float("nan"), float("nan")))
            print(f"  {label}: failed ({type(err).__name__}: {str(err).splitlines()[0][:120]})")
        del engine
        if cuda:
            torch.cuda.empty_cache()
    base = rows[0][1]
    print(f"{'encoder':<24} {'images/s':>9} {'x fp32':>7} {'peak GiB':>9}")
    for label, rate, peak in rows:
        print(f"{label:<24} {rate:>9.2f} {rate / base:>7.2f} {peak:>9.2f}")

    engine = fresh()
    (entry,) = engine.encode(images[:1])
    boxes = np.array([[20 + 8 * i, 30 + 6 * i, 300 + 10 * i, 320 + 9 * i] for i in range(16)], np.float32) * side / 1024
    points = (rng.uniform(0.1, 0.9, (16, 6, 2)) * side).astype(np.float32)
    labels = np.tile(np.array([1, 1, 1, 0, 0, 0]), (16, 1))
    for precision in ("fp32", "bf16"):
        times = []
        with autocast(device, precision):
            for _ in range(6):
                sync()
                t = time.perf_counter()
                engine.segment(entry, boxes, points, labels)
                sync()
                times.append(time.perf_counter() - t)
        print(f"decoder, 16 prompts, {precision}: {1000 * statistics.median(times[1:]):.1f} ms per image")

    syncs = syncs_per_image(engine, images[:4], device)
    print("host-device syncs per image in the model stage: "
          + (f"{syncs:.1f}" if cuda else "counted on CUDA only (the stage ran once here)"))
    return 0


def syncs_per_image(engine, images, device) -> float:  # noqa: ANN001 - script helper
    """Synchronisations torch reports (sync debug mode "warn") while ``prelabel``'s model stage labels a batch."""
    import torch

    from animeparse import load_labelmap
    from animeparse.prelabel.labeler import Labeler
    from animeparse.prelabel.parser import Parser
    from animeparse.prelabel.parser_net import ParserArch, ParserNet
    from animeparse.prelabel.run import PrelabelConfig

    labelmap = load_labelmap("danbooru-parsing")
    net = ParserNet(ParserArch(num_classes=len(labelmap.ids))).to(device).eval()
    parser = Parser(net, kind="animeparse", class_ids=np.array(labelmap.ids, np.uint8), input_size=256,
                    mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25), device=device, sha256="0" * 64,
                    source="random init")
    labeler = Labeler(parser, engine, None, labelmap, PrelabelConfig(device=str(device)), precision="bf16")
    timings = dict.fromkeys(("read", "parser", "encode", "decode"), 0.0)
    labeler.compute([str(i) for i in range(len(images))], images, timings)  # warm-up
    if device.type != "cuda":
        return float("nan")
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            labeler.compute([str(i) for i in range(len(images))], images, timings)
    finally:
        torch.cuda.set_sync_debug_mode(0)
    return sum("synchroniz" in str(w.message) for w in caught) / len(images)


if __name__ == "__main__":
    sys.exit(main())
