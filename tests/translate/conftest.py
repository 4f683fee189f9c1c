"""Fixtures for the translator tests: small synthetic faces with exact masks, a parent store, TorchScript files."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from animeparse import Dataset, MaskInput
from animeparse.demo.synth import generate_face

from ..conftest import require

torch = require("torch", extra="sam")

SIZE = 96


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread: None) -> None:
    """Every translate test on one torch thread (the root conftest's fixture, for the whole module)."""


@pytest.fixture(scope="session")
def faces() -> list[tuple[np.ndarray, np.ndarray]]:
    """Three 96x96 faces: (HxWx3 uint8 RGB, HxW uint8 danbooru-parsing ids)."""
    return [generate_face(11, i, size=SIZE) for i in range(3)]


@pytest.fixture()
def parent_store(tmp_path: Path, danbooru, faces) -> Path:
    """A store of 4 samples: two with ``gt``, one with only ``prelabel/run1``, one 80x64 picture with no mask."""
    src = tmp_path / "src"
    src.mkdir()
    root = tmp_path / "anime"
    with Dataset.create(root, labelmap=danbooru, name="anime") as ds:
        for i, (image, mask) in enumerate(faces):
            path = src / f"face{i}.png"
            Image.fromarray(image).save(path)
            if i < 2:
                layers = {"gt": MaskInput(mask, origin={"kind": "human", "annotator": "t"})}
            else:
                layers = {"prelabel/run1": MaskInput(mask, origin={"kind": "machine", "run": "run1"}, score=0.5)}
            ds.add_sample(path, masks=layers, split="val" if i == 1 else "train")
        plain = np.random.default_rng(5).integers(0, 256, (64, 80, 3), dtype=np.uint8)
        Image.fromarray(plain).save(src / "plain.png")
        ds.add_sample(src / "plain.png")
    return root


def _save_script(module: torch.nn.Module, path: Path, example: tuple[torch.Tensor, ...]) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch 2.14 deprecates TorchScript; users still have files
        torch.jit.save(torch.jit.trace(module, example), str(path))
    return path


class _Halve(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.avg_pool2d(x, 2)


class _InvertWithMask(torch.nn.Module):
    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        grey = 1 - x.mean(1, keepdim=True)
        return torch.where(mask > 0, grey, torch.ones_like(grey))


@pytest.fixture()
def halving_script(tmp_path: Path) -> Path:
    """A TorchScript generator whose output is half the input's size (must be refused)."""
    return _save_script(_Halve(), tmp_path / "halve.pt", (torch.zeros(1, 3, 16, 16),))


@pytest.fixture()
def masked_script(tmp_path: Path) -> Path:
    """A TorchScript generator taking (image, mask) and returning N x 1 x H x W."""
    return _save_script(_InvertWithMask(), tmp_path / "invert.pt", (torch.zeros(1, 3, 16, 16),
                                                                    torch.zeros(1, 1, 16, 16)))
