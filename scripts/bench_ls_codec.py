#!/usr/bin/env python
"""Benchmark: Label Studio brush RLE, ours vs label-studio-sdk's converter (``label_studio_sdk.converter.brush``).

Inputs are what ``ls push`` encodes and ``ls pull`` decodes: one 512x512 mask per class present in synthetic faces
(0 outside, 255 inside), plus one noise mask (random values 0..255: the incompressible worst case).

- encode: ``animeparse.formats.lsrle.encode_mask_rle`` (what push sends) and ``animeparse.formats.lsrle.encode_rle``
  vs the SDK's ``mask2rle``;
- decode: ``animeparse.formats.lsrle.decode_flat`` (what pull and ingest use) vs the SDK's ``decode_rle``.

All outputs must be identical (exit 1 otherwise). Times: best of ``--repeat`` runs for ours, one run for the SDK
(it is slow), summed over the class masks and divided by their number. Needs label-studio-sdk.

    python scripts/bench_ls_codec.py --faces 2
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from animeparse.demo.synth import generate_face
from animeparse.formats.lsrle import decode_flat, encode_mask_rle, encode_rle


def _timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """(best seconds over ``repeat`` runs, the last output)."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--faces", type=int, default=2, help="synthetic faces whose class masks are coded")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=5, help="runs of ours (best taken)")
    args = parser.parse_args()
    try:
        from label_studio_sdk.converter import brush
    except ImportError:
        print("needs label-studio-sdk: pip install 'animeparse[labelstudio]'", file=sys.stderr)
        return 2

    masks: list[tuple[str, np.ndarray]] = []
    for i in range(args.faces):
        _, mask = generate_face(0, i, size=args.size)
        masks += [(f"face{i}/class{c}", np.where(mask == c, 255, 0).astype(np.uint8))
                  for c in np.unique(mask) if c != 0]
    masks.append(("noise", np.random.default_rng(0).integers(0, 256, (args.size, args.size), dtype=np.uint8)))

    coders: dict[str, Callable[[np.ndarray], Any]] = {
        "encode: lsrle mask": encode_mask_rle, "encode: lsrle": encode_rle, "encode: SDK mask2rle": brush.mask2rle}
    times: dict[tuple[str, str], float] = {}
    ok = True
    for name, alpha in masks:
        group = "noise" if name == "noise" else "classes"
        outs = {}
        for label, fn in coders.items():
            t, outs[label] = _timed(lambda f=fn, a=alpha: f(a), 1 if "SDK" in label else args.repeat)
            times[label, group] = times.get((label, group), 0.0) + t
        rle = outs["encode: SDK mask2rle"]
        t, flat = _timed(lambda r=rle: decode_flat(r, source="bench"), args.repeat)
        times["decode: lsrle", group] = times.get(("decode: lsrle", group), 0.0) + t
        t, flat_sdk = _timed(lambda r=rle: brush.decode_rle(r), 1)
        times["decode: SDK decode_rle", group] = times.get(("decode: SDK decode_rle", group), 0.0) + t
        same = all(list(o) == list(rle) for o in outs.values()) and np.array_equal(flat, flat_sdk) \
            and np.array_equal(flat.reshape(*alpha.shape, 4)[..., 3], alpha)
        if not same:
            print(f"MISMATCH on {name}", file=sys.stderr)
        ok &= same
    n = len(masks) - 1
    print(f"{n} class masks {args.size}x{args.size} from {args.faces} synthetic faces + 1 noise mask; "
          f"numpy {np.__version__}")
    print(f"{'ms per mask':24}{'classes':>10}{'x SDK':>8}{'noise':>11}{'x SDK':>8}")
    for kind, sdk in (("encode", "encode: SDK mask2rle"), ("decode", "decode: SDK decode_rle")):
        for label in [k for k in dict.fromkeys(lab for lab, _ in times) if k.startswith(kind)]:
            c, z = times[label, "classes"] / n, times[label, "noise"]
            sc, sz = times[sdk, "classes"] / n, times[sdk, "noise"]
            print(f"{label:24}{c * 1e3:10.3f}{sc / c:7.0f}x{z * 1e3:11.1f}{sz / z:7.0f}x")
    print("outputs identical: " + ("yes" if ok else "NO"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
