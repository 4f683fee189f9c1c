#!/usr/bin/env python
"""Benchmark: the CPU work ``prelabel`` does per image around the models, stage by stage, at 1024 px.

A generated 1024x1024 face (its gt mask has 16 regions besides the background) stands in for one image; the
parser's output is that mask made soft (noise logits + a strong vote for the gt class, softmax over the 19 classes,
float32 CxHxW on the CPU); SAM is a small randomly initialised model in the official layout (speed of the CPU stages
does not depend on its weights). Stages, each the median of ``--repeat`` runs, one torch thread:

- ``argmax``: the parser's label and confidence from the probabilities (``combine.parser_only``'s argmax);
- ``prompts``: boxes and points per region (``prompts.region_prompts``), and ``prompts (grid 256)``
  (``prompts.image_prompts`` with ``--prompt-grid 256``);
- ``sam decoder``: one decoder pass for all regions (model work: listed, not counted as CPU post-processing);
- ``combine``: ``combine.combine_prompted`` on the SAM masks (the CPU implementation), and ``combine (torch)``
  (``combine_torch.combine_prompted_torch``: the same result, computed by torch on the model's device);
- ``cleanup``: ``cleanup.clean_label``; ``confidence png`` / ``mask png``: the two PNG encodings.

The serial figure is the CPU work the GPU waits for per image: in the pipelined run (``prelabel.run._local``) the
clean-up, the PNG encodings and the commit overlap with the next batch's model work on the calling thread, and
argmax and combining run on the GPU, so the model thread keeps the prompts (full size, or on a 256 px grid with
``--prompt-grid 256``).

    python scripts/bench_cpu_stages.py [--size 1024] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    import torch

    from animeparse import load_labelmap
    from animeparse.demo.synth import generate_face
    from animeparse.imageio import encode_mask_png
    from animeparse.prelabel.cleanup import clean_label
    from animeparse.prelabel.combine import combine_prompted, parser_only
    from animeparse.prelabel.combine_torch import combine_prompted_torch, parser_only_torch
    from animeparse.prelabel.prompts import PromptConfig, image_prompts, region_prompts, stack_prompts
    from animeparse.prelabel.sam import SamArch, SamEngine, build_sam

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(1)
    labelmap = load_labelmap("danbooru-parsing")
    image, gt = generate_face(7, 0, size=args.size)
    class_ids = np.array(labelmap.ids, np.uint8)
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 1, (len(class_ids), *gt.shape)).astype(np.float32)
    logits[np.searchsorted(class_ids, gt), np.arange(gt.shape[0])[:, None], np.arange(gt.shape[1])[None]] += 4.0
    probs = torch.from_numpy(logits).softmax(0).numpy()
    regions = len([c for c in np.unique(gt) if c not in (0, 255)])
    torch.manual_seed(0)
    arch = SamArch(embed_dim=64, depth=2, num_heads=2, global_attn_indexes=(1,))
    engine = SamEngine(build_sam(arch, device="cpu").eval(), arch=arch, sha256="0" * 64, source="bench")
    entry = engine.encode([image])[0]

    def timed(fn):  # noqa: ANN001, ANN202 - script helper
        times, out = [], None
        for _ in range(args.repeat):
            t = time.perf_counter()
            out = fn()
            times.append(time.perf_counter() - t)
        return out, 1000 * statistics.median(times)

    ms: dict[str, float] = {}
    (label, _conf), ms["argmax"] = timed(lambda: (parser_only(probs, class_ids).label_hw, None))
    probs_t = torch.from_numpy(probs)
    _, ms["argmax (torch)"] = timed(lambda: parser_only_torch(probs_t, torch.from_numpy(class_ids)))
    prompts, ms["prompts"] = timed(lambda: region_prompts(label))
    _, ms["prompts (grid 256)"] = timed(lambda: image_prompts(label, config=PromptConfig(grid=256)))
    (masks, ious), ms["sam decoder"] = timed(lambda: engine.segment(entry, *stack_prompts(prompts)))
    # a random SAM's masks are noise; combining and cleaning are timed on masks a good SAM would give: each
    # region's gt mask grown by a pixel (so SAM and the parser disagree along every boundary)
    import cv2

    masks = torch.from_numpy(np.stack([cv2.dilate((gt == p.class_id).astype(np.uint8), np.ones((3, 3), np.uint8))
                                       for p in prompts]).astype(bool))
    masks_np, ious_np = masks.numpy(), ious.numpy()
    sam_masks = {p.class_id: (masks_np[i], float(ious_np[i])) for i, p in enumerate(prompts)}
    combined, ms["combine"] = timed(lambda: combine_prompted(probs, class_ids, sam_masks, labelmap, agree_iou=0.6))
    ids_t = torch.tensor([p.class_id for p in prompts])
    torch_out, ms["combine (torch)"] = timed(lambda: combine_prompted_torch(
        probs_t, torch.from_numpy(class_ids), ids_t, masks, ious, labelmap, agree_iou=0.6))
    same = np.array_equal(torch_out.label_hw, combined.label_hw) and np.array_equal(
        torch_out.confidence_u8, np.clip(np.rint(combined.confidence_hw * 255.0), 0, 255).astype(np.uint8))
    cleaned, ms["cleanup"] = timed(lambda: clean_label(combined.label_hw, combined.confidence_hw, labelmap))
    conf_u8 = np.clip(np.rint(combined.confidence_hw * 255.0), 0, 255).astype(np.uint8)
    _, ms["confidence png"] = timed(lambda: encode_mask_png(conf_u8))
    _, ms["mask png"] = timed(lambda: encode_mask_png(cleaned.label_hw))

    print(f"{args.size}x{args.size}, {regions} regions, {len(prompts)} prompts, median of {args.repeat}, 1 thread; "
          f"torch combine identical to the CPU one: {same}")
    for name, value in ms.items():
        print(f"  {name:<18} {value:8.1f} ms")
    before = ms["argmax"] + ms["prompts"] + ms["combine"] + ms["cleanup"] + ms["confidence png"] + ms["mask png"]
    print(f"CPU per image between model passes, one stage as before this change: {before:.1f} ms")
    print(f"serial CPU per image in the model thread of the pipelined run (argmax and combining on the GPU; clean-up,"
          f" PNGs and commit overlap on the calling thread): prompts {ms['prompts']:.1f} ms, with --prompt-grid 256 "
          f"{ms['prompts (grid 256)']:.1f} ms")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
