"""Tests of the pre-labeler; shared builders for synthetic stores and a tiny segment-anything model."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from animeparse import Dataset, MaskInput, load_labelmap
from animeparse.demo.synth import generate_face


def make_face_store(root: Path, *, n_train: int, n_val: int = 0, n_unlabeled: int = 0, size: int = 128,
                    seed: int = 0) -> Dataset:
    """A store (open for writing) of generated faces: n_train 'train' + n_val 'val' with gt, then unlabelled ones.

    Face i is ``generate_face(seed, i, size=size)``; the caller closes the store.
    """
    ds = Dataset.create(root / "store", labelmap=load_labelmap("danbooru-parsing"))
    src = root / "src"
    src.mkdir(parents=True, exist_ok=True)
    for i in range(n_train + n_val + n_unlabeled):
        image, mask = generate_face(seed, i, size=size)
        path = src / f"face_{i:04d}.png"
        Image.fromarray(image).save(path, compress_level=1)
        split = "train" if i < n_train else "val" if i < n_train + n_val else "new"
        masks = {"gt": MaskInput(mask, origin={"kind": "human"})} if i < n_train + n_val else None
        ds.add_sample(path, split=split, masks=masks)
    return ds


def tiny_sam_arch():
    """A SAM small enough for tests (~0.2 M parameters, 256 px input): same modules, same state-dict layout."""
    from animeparse.prelabel.sam import SamArch

    return SamArch(embed_dim=64, depth=2, num_heads=2, global_attn_indexes=(1,), img_size=256, patch_size=16,
                   window_size=4, out_chans=32, decoder_mlp_dim=64, iou_head_hidden_dim=32)


def save_tiny_sam(path: Path, *, seed: int = 0) -> Path:
    """A randomly initialised tiny SAM saved as a plain state dict (the official checkpoints' layout)."""
    import torch

    from animeparse.prelabel.sam import build_sam

    torch.manual_seed(seed)
    model = build_sam(tiny_sam_arch(), device="cpu")
    torch.save(model.state_dict(), path)
    return path
