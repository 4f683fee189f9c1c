#!/usr/bin/env python
"""Benchmark: ``--engine ray`` with 1 and 2 workers against the local engine, and the driver's commit ceiling.

On one machine (a local Ray instance with this machine's cores), in one run:

* ``prelabel`` (parser only, ``--sam none``) and ``pseudo manga`` (bundled translator), local engine (torch's
  default thread count, and 1 thread) vs Ray with 1 and 2 workers (each worker 1 thread). ``wall`` is the whole
  call (Ray: actor start and model load included); ``steady`` is the rate from the first committed batch to the
  last, what a long run approaches.
* The driver's commit rate with no model at all: ``prelabel``'s commit (confidence PNG file + ``put_mask``, which
  encodes and writes the mask file and its row) and ``pseudo``'s (carry check + ``add_prepared`` + row check) on
  results computed beforehand. It bounds any cluster: the single writer commits at most this many rows/s.

Synthetic faces (``animeparse.demo.synth``) with exact masks; the parser is trained 1 epoch (speed does not depend on
the weights). On a shared machine the runs see different loads: rerun, or read the ratios with that in mind.

    python scripts/bench_scaling.py                   # 64 images, 256 px
    python scripts/bench_scaling.py -n 128 --size 512
    python scripts/bench_scaling.py --commit-only --size 1024 --dir /shared/scratch   # the store's filesystem
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench_prelabel import make_store  # noqa: E402 - the same generated store (scripts/ is on sys.path)


class Clock:
    """A progress callback that remembers when work was first and last committed."""

    def __init__(self) -> None:
        self.first: tuple[float, int] | None = None
        self.last: tuple[float, int] = (0.0, 0)

    def __call__(self, done: int, total: int | None) -> None:
        now = time.perf_counter()
        if done and self.first is None:
            self.first = (now, done)
        self.last = (now, done)

    def steady(self) -> float | None:
        if self.first is None or self.last[1] <= self.first[1]:
            return None
        return (self.last[1] - self.first[1]) / (self.last[0] - self.first[0])


def timed(fn: Callable[[Clock], int]) -> tuple[float, float | None, int]:
    clock = Clock()
    t = time.perf_counter()
    n = fn(clock)
    return time.perf_counter() - t, clock.steady(), n


def commit_rates(ds, tmp: Path, size: int) -> tuple[float, float, int]:  # noqa: ANN001 - script helper
    """Rows/s of the two commits alone, on results computed before the clock starts."""
    import numpy as np

    from animeparse.imageio import encode_mask_png
    from animeparse.prelabel.labeler import SampleLabel
    from animeparse.prelabel.run import _write
    from animeparse.translate import load_translator
    from animeparse.translate.batch import BatchContext, PlanItem, translate_batch
    from animeparse.translate.pseudo import PseudoConfig, _batches, _commit, _open_derived

    samples = ds.samples()
    labels = []
    for s in samples:
        mask = ds.read_mask(s.id)
        conf = np.full(mask.shape, 200, np.uint8)
        labels.append(SampleLabel(s.id, mask, encode_mask_png(conf), 0.8, {}))
    ds.start_run("prelabel", run_id="bench-commit")
    origin = {"kind": "machine", "tool": "bench", "run": "bench-commit"}
    t = time.perf_counter()
    for s, label in zip(samples, labels):
        _write(ds, s, "prelabel/bench-commit", label, origin)
    prelabel_rate = len(samples) / (time.perf_counter() - t)

    config = PseudoConfig(device="cpu")
    translator = load_translator(config.translator, device="cpu")
    dst = _open_derived(tmp / "commit-manga", ds)
    try:
        items = [PlanItem(s, 0, "gt", ds.mask_record(s.id, "gt")) for s in samples]
        ctx = BatchContext(root=str(ds.root), parent_root=str(ds.root), labelmap=ds.labelmap,
                           out_labelmap=dst.labelmap, translator_name=translator.name, config=config, run_id="bench")
        translated = [translate_batch(ctx, translator, batch) for batch in _batches(items, 8)]
        t = time.perf_counter()
        for batch in translated:
            _commit(dst, batch, "bench")
        pseudo_rate = len(items) / (time.perf_counter() - t)
    finally:
        dst.close()
    return prelabel_rate, pseudo_rate, len(samples)


def print_commits(prelabel_rate: float, pseudo_rate: float, n: int, size: int) -> None:
    print(f"\ndriver commit alone ({n} rows, {size}x{size}, no model):")
    print(f"  prelabel (confidence file + put_mask)            {prelabel_rate:8.1f} rows/s")
    print(f"  pseudo (carry check + add_prepared + row check)  {pseudo_rate:8.1f} rows/s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=64, help="images (default 64)")
    ap.add_argument("--size", type=int, default=256, help="image side (default 256)")
    ap.add_argument("--workers", default="1,2", help="Ray pool sizes to try (default 1,2)")
    ap.add_argument("--prelabel-batch", type=int, default=4)
    ap.add_argument("--pseudo-batch", type=int, default=8)
    ap.add_argument("--commit-only", action="store_true", help="measure only the driver's commit rates")
    ap.add_argument("--dir", type=Path, default=None,
                    help="where to put the data (default: a temp folder); a shared filesystem measures its commits")
    args = ap.parse_args()

    import torch

    from animeparse import Dataset
    from animeparse.distributed import EngineConfig, ray_session
    from animeparse.prelabel import PrelabelConfig, TrainConfig, prelabel, train_parser
    from animeparse.translate.pseudo import PseudoConfig, make_manga

    cores = os.cpu_count() or 1
    default_threads = torch.get_num_threads()
    tmp = Path(tempfile.mkdtemp(prefix="bench-scaling-", dir=args.dir))
    load = os.getloadavg()[0]
    print(f"{args.n} images {args.size}x{args.size}, {cores} cores, torch {default_threads} threads by default, "
          f"load average {load:.1f} at start; data in {tmp}")
    with make_store(tmp, args.n, args.size) as ds:
        if not args.commit_only:
            train_parser(ds, TrainConfig(epochs=1, size=128, device="cpu", run_id="bench-parser"))
    store = tmp / "store"
    if args.commit_only:
        with Dataset.open(store, write=True) as ds:
            prelabel_commit, pseudo_commit, n_commit = commit_rates(ds, tmp, args.size)
        print_commits(prelabel_commit, pseudo_commit, n_commit, args.size)
        return
    rows: list[tuple[str, str, float, float | None]] = []
    run_no = 0

    def do_prelabel(engine: EngineConfig) -> Callable[[Clock], int]:
        def run(clock: Clock) -> int:
            nonlocal run_no
            run_no += 1
            config = PrelabelConfig(device="cpu" if engine.engine == "local" else "auto", sam="none", only="all",
                                    batch_size=args.prelabel_batch, run_id=f"bench-{run_no}", parser="bench-parser")
            with Dataset.open(store, write=True) as ds:
                return prelabel(ds, config, progress=clock, engine=engine).computed
        return run

    def do_pseudo(engine: EngineConfig) -> Callable[[Clock], int]:
        def run(clock: Clock) -> int:
            nonlocal run_no
            run_no += 1
            config = PseudoConfig(device="cpu" if engine.engine == "local" else "auto", batch_size=args.pseudo_batch)
            return make_manga(store, tmp / f"manga-{run_no}", config=config, progress=clock, engine=engine).translated
        return run

    pools = [int(w) for w in args.workers.split(",")]
    with ray_session(EngineConfig(engine="ray"), num_cpus=cores):
        for command, make in (("prelabel (parser only)", do_prelabel), ("pseudo manga", do_pseudo)):
            for threads in sorted({default_threads, 1}, reverse=True):
                torch.set_num_threads(threads)
                wall, steady, n = timed(make(EngineConfig()))
                rows.append((command, f"local, {threads} thread{'s' if threads > 1 else ''}", n / wall, steady))
            torch.set_num_threads(default_threads)
            for w in pools:
                wall, steady, n = timed(make(EngineConfig(engine="ray", workers=w, cpus_per_worker=0.5)))
                rows.append((command, f"ray, {w} worker{'s' if w > 1 else ''}", n / wall, steady))
    with Dataset.open(store, write=True) as ds:
        prelabel_commit, pseudo_commit, n_commit = commit_rates(ds, tmp, args.size)

    print(f"\n{'command':<24} {'engine':<18} {'wall img/s':>10} {'steady img/s':>12} {'ratio':>7}")
    best_local: dict[str, float] = {}
    for command, engine, wall_rate, steady in rows:
        rate = steady or wall_rate
        if engine.startswith("local"):
            best_local[command] = max(best_local.get(command, 0.0), rate)
        ratio = rate / best_local[command] if best_local.get(command) else float("nan")
        print(f"{command:<24} {engine:<18} {wall_rate:>10.2f} {steady or float('nan'):>12.2f} {ratio:>6.2f}x")
    print_commits(prelabel_commit, pseudo_commit, n_commit, args.size)
    print("ratio: steady rate (wall where none) / the faster local run of the same command; load average now "
          f"{os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
