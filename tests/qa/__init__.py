"""Helpers shared by the QA tests: stores built once per test session (generating and ingesting faces is the slow
part), and small stores from literal masks."""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image

from animeparse import Dataset, MaskInput, load_labelmap
from animeparse.demo.defects import make_defect_dataset
from animeparse.qa import QAConfig, QAReport, validate
from animeparse.store import prepare_sample


@functools.cache
def session_dir() -> Path:
    path = Path(tempfile.mkdtemp(prefix="animeparse-qa-tests-"))
    atexit.register(shutil.rmtree, path, True)
    return path


@functools.cache
def defects() -> tuple[Path, dict[str, list[str]]]:
    """(root, expected): a 256 px store with every defect seeded once; expected = code -> ids/paths, and clean."""
    root = session_dir() / "defects"
    return root, make_defect_dataset(root, n_clean=24, seed=0, size=256)


@functools.cache
def defect_report() -> QAReport:
    root, _ = defects()
    with Dataset.open(root) as ds:
        return validate(ds, QAConfig())


def literal_store(root: Path, masks: list[npt.NDArray[np.uint8]], *, splits: list[str] | None = None) -> list[str]:
    """A new danbooru-parsing store at ``root`` with one sample per literal HxW mask (random RGB pixels, so no two
    samples are near duplicates); returns the sample ids in order."""
    src = root.parent / f"{root.name}-src"
    src.mkdir(parents=True)
    with Dataset.create(root, labelmap=load_labelmap("danbooru-parsing")) as ds:
        batch = []
        for i, mask in enumerate(masks):
            pixels = np.random.default_rng([7, i]).integers(0, 256, (*mask.shape, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(src / f"s{i}.png")
            batch.append(prepare_sample(src / f"s{i}.png", labelmap=ds.labelmap, masks={"gt": MaskInput(mask)},
                                        split=(splits or ["train"] * len(masks))[i]))
        ds.add_prepared(batch)
    return [p.id for p in batch]


def run(root: Path, **config: object) -> QAReport:
    """validate ``root`` in this process with QAConfig(**config)."""
    with Dataset.open(root) as ds:
        return validate(ds, QAConfig(workers=0, **config))  # type: ignore[arg-type]
