"""Shared fixtures: tiny images with literal masks, a fresh store, the real third-party data beside the checkout."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from animeparse import Dataset, load_labelmap

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("ANIMEPARSE_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (see its README). Missing data fails under CI rather than skipping silently."""
    if not SHARED_DATA.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"shared test data not found at {SHARED_DATA}")
        pytest.skip(f"shared test data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture()
def danbooru():
    return load_labelmap("danbooru-parsing")


def make_pair(folder: Path, stem: str, *, size_hw: tuple[int, int] = (24, 32), seed: int = 0,
              ids: tuple[int, ...] = (0, 1, 17)) -> tuple[Path, Path, np.ndarray]:
    """Write images/<stem>.png (random RGB) and masks/<stem>.png (L-mode ids, literal stripes); return paths + mask."""
    rng = np.random.default_rng(seed)
    h, w = size_hw
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    mask = np.zeros((h, w), np.uint8)
    for k, cid in enumerate(ids):
        mask[:, k * w // len(ids):] = cid
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "masks").mkdir(parents=True, exist_ok=True)
    ip, mp = folder / "images" / f"{stem}.png", folder / "masks" / f"{stem}.png"
    Image.fromarray(image).save(ip)
    Image.fromarray(mask, mode="L").save(mp)
    return ip, mp, mask


@pytest.fixture()
def store(tmp_path, danbooru):
    ds = Dataset.create(tmp_path / "store", labelmap=danbooru)
    yield ds
    ds.close()
