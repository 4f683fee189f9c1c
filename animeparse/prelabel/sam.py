"""segment-anything behind one wrapper: built from a checkpoint file, batched image embeddings cached on disk,
prompted per class region, or run in everything-mode.

The architecture is read off the state dict (patch size, width, depth, heads, windowed/global blocks, decoder
sizes), so the official vit_h / vit_l / vit_b checkpoints and any model saved in their layout (a small one for
tests and benchmarks) load with ``load_state_dict(strict=True)``. Named architectures are built with
segment-anything's own ``sam_model_registry`` builders, others from its ``modeling`` classes; both on the ``meta``
device, so no memory or time goes into random weights the checkpoint replaces. The file is read with
``torch.load(map_location="cpu", weights_only=True)`` (segment-anything's builder passes no ``map_location``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from ..errors import AnimeparseError
from ..fsutil import TMP_SUFFIX, atomic_open
from .device import file_sha256, load_torch_file, require_segment_anything, require_torch

if TYPE_CHECKING:
    import torch
    from segment_anything.modeling import Sam
    from segment_anything.predictor import SamPredictor

__all__ = ["SamArch", "SAM_ARCHS", "SamEngine", "EmbeddingCache", "infer_sam_arch", "build_sam", "load_sam"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SamArch:
    """The hyperparameters that fix a SAM's state-dict layout (segment-anything's ``_build_sam`` defaults)."""

    embed_dim: int
    depth: int
    num_heads: int
    global_attn_indexes: tuple[int, ...]
    img_size: int = 1024
    patch_size: int = 16
    window_size: int = 14
    mlp_ratio: float = 4.0
    out_chans: int = 256
    mask_in_chans: int = 16
    decoder_depth: int = 2
    decoder_mlp_dim: int = 2048
    decoder_heads: int = 8
    attention_downsample_rate: int = 2
    num_multimask_outputs: int = 3
    iou_head_depth: int = 3
    iou_head_hidden_dim: int = 256


SAM_ARCHS: dict[str, SamArch] = {
    "vit_h": SamArch(embed_dim=1280, depth=32, num_heads=16, global_attn_indexes=(7, 15, 23, 31)),
    "vit_l": SamArch(embed_dim=1024, depth=24, num_heads=16, global_attn_indexes=(5, 11, 17, 23)),
    "vit_b": SamArch(embed_dim=768, depth=12, num_heads=12, global_attn_indexes=(2, 5, 8, 11)),
}


def infer_sam_arch(state: dict[str, Any], *, path: Path | str = "<checkpoint>") -> SamArch:
    """Read a :class:`SamArch` off an official-layout state dict (``image_encoder.*``, ``prompt_encoder.*``,
    ``mask_decoder.*``); AnimeparseError naming the missing key when the layout is not SAM's."""
    def shape(key: str) -> tuple[int, ...]:
        if key not in state:
            raise AnimeparseError(f"is not a segment-anything checkpoint in the official layout (no {key}); "
                                  "MobileSAM / SAM 2 layouts are not supported", path=path)
        if not hasattr(state[key], "shape"):
            raise AnimeparseError(f"is not a segment-anything checkpoint in the official layout ({key} holds a "
                                  f"{type(state[key]).__name__}, not a tensor)", path=path)
        return tuple(state[key].shape)

    def count(pattern: str) -> int:
        rx = re.compile(pattern)
        return len({m.group(1) for k in state if (m := rx.match(k))})

    try:
        return _arch_from_shapes(shape, count)
    except (ValueError, IndexError, ZeroDivisionError) as err:  # a tensor of the wrong rank or an empty one
        raise AnimeparseError(f"is not a segment-anything checkpoint in the official layout: its tensors have "
                              f"unexpected shapes ({err})", path=path) from err


def _arch_from_shapes(shape: Any, count: Any) -> SamArch:
    embed_dim, _, patch, _ = shape("image_encoder.patch_embed.proj.weight")
    grid = shape("image_encoder.pos_embed")[1]
    depth = count(r"image_encoder\.blocks\.(\d+)\.")
    head_dim = shape("image_encoder.blocks.0.attn.rel_pos_h")[1]
    windows = [(shape(f"image_encoder.blocks.{i}.attn.rel_pos_h")[0] + 1) // 2 for i in range(depth)]
    local = [w for w in windows if w != grid]
    out_chans = shape("image_encoder.neck.0.weight")[0]
    internal = shape("mask_decoder.transformer.layers.0.cross_attn_token_to_image.q_proj.weight")[0]
    return SamArch(
        embed_dim=embed_dim, depth=depth, num_heads=embed_dim // head_dim,
        global_attn_indexes=tuple(i for i, w in enumerate(windows) if w == grid),
        img_size=grid * patch, patch_size=patch, window_size=local[0] if local else 14,
        mlp_ratio=shape("image_encoder.blocks.0.mlp.lin1.weight")[0] / embed_dim, out_chans=out_chans,
        mask_in_chans=shape("prompt_encoder.mask_downscaling.3.weight")[0],
        decoder_depth=count(r"mask_decoder\.transformer\.layers\.(\d+)\."),
        decoder_mlp_dim=shape("mask_decoder.transformer.layers.0.mlp.lin1.weight")[0],
        attention_downsample_rate=out_chans // internal,
        num_multimask_outputs=shape("mask_decoder.mask_tokens.weight")[0] - 1,
        iou_head_depth=count(r"mask_decoder\.iou_prediction_head\.layers\.(\d+)\.weight"),
        iou_head_hidden_dim=shape("mask_decoder.iou_prediction_head.layers.0.weight")[0])


def arch_name(arch: SamArch) -> str:
    """``vit_h`` / ``vit_l`` / ``vit_b`` for the official architectures, else ``custom``."""
    return next((name for name, known in SAM_ARCHS.items() if known == arch), "custom")


def build_sam(arch: SamArch, *, device: str = "meta") -> Sam:
    """A SAM of this architecture. On ``meta`` (the default) it has no weights yet: load a state dict with
    ``assign=True``; on a real device it is randomly initialised (benchmarks, tests of the code paths)."""
    torch = require_torch()
    require_segment_anything()
    from functools import partial

    from segment_anything import sam_model_registry
    from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

    name = arch_name(arch)
    with torch.device(device):
        if name != "custom":
            return sam_model_registry[name]()
        grid = arch.img_size // arch.patch_size
        return Sam(
            image_encoder=ImageEncoderViT(
                img_size=arch.img_size, patch_size=arch.patch_size, embed_dim=arch.embed_dim, depth=arch.depth,
                num_heads=arch.num_heads, mlp_ratio=arch.mlp_ratio, out_chans=arch.out_chans, qkv_bias=True,
                norm_layer=partial(torch.nn.LayerNorm, eps=1e-6), use_rel_pos=True,
                window_size=arch.window_size, global_attn_indexes=arch.global_attn_indexes),
            prompt_encoder=PromptEncoder(embed_dim=arch.out_chans, image_embedding_size=(grid, grid),
                                         input_image_size=(arch.img_size, arch.img_size),
                                         mask_in_chans=arch.mask_in_chans),
            mask_decoder=MaskDecoder(
                num_multimask_outputs=arch.num_multimask_outputs,
                transformer=TwoWayTransformer(depth=arch.decoder_depth, embedding_dim=arch.out_chans,
                                              mlp_dim=arch.decoder_mlp_dim, num_heads=arch.decoder_heads,
                                              attention_downsample_rate=arch.attention_downsample_rate),
                transformer_dim=arch.out_chans, iou_head_depth=arch.iou_head_depth,
                iou_head_hidden_dim=arch.iou_head_hidden_dim),
            pixel_mean=[123.675, 116.28, 103.53], pixel_std=[58.395, 57.12, 57.375])


def sam_from_state_dict(state: dict[str, Any], device: torch.device, *,
                        path: Path | str = "<checkpoint>") -> tuple[Sam, SamArch]:
    """Build the SAM a state dict describes, load it strictly, and move it to ``device`` (eval mode)."""
    torch = require_torch()
    arch = infer_sam_arch(state, path=path)
    try:
        model = build_sam(arch)
        model.load_state_dict(state, strict=True, assign=True)
    except (RuntimeError, ValueError, TypeError, ZeroDivisionError) as err:
        raise AnimeparseError(f"does not fit the SAM architecture it seems to be ({arch_name(arch)}): "
                              f"{str(err).splitlines()[0]}", path=path) from err
    # pixel_mean/std are not in the state dict (non-persistent buffers): rebuild them off the meta device
    model.pixel_mean = torch.tensor([123.675, 116.28, 103.53]).view(-1, 1, 1)
    model.pixel_std = torch.tensor([58.395, 57.12, 57.375]).view(-1, 1, 1)
    return model.to(device).eval(), arch


def load_sam(path: Path | str, device: torch.device, *, expect: str | None = None) -> SamEngine:
    """A :class:`SamEngine` from a checkpoint file; ``expect`` (``vit_b`` ...) refuses a file of another size."""
    path = Path(path)
    state = load_torch_file(path)
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]
    if not isinstance(state, dict):
        raise AnimeparseError("is not a state dict", path=path)
    model, arch = sam_from_state_dict(state, device, path=path)
    name = arch_name(arch)
    if expect not in (None, "auto") and expect != name:
        raise AnimeparseError(f"--sam {expect} was asked for, but this checkpoint is {name} (embed dim "
                              f"{arch.embed_dim}, depth {arch.depth}); pass the matching --sam or checkpoint",
                              path=path)
    return SamEngine(model, arch=arch, sha256=file_sha256(path), source=str(path))


class EmbeddingCache:
    """Image embeddings on disk: ``<root>/<model sha256[:16]>[-<variant>]/<sample_id>.pt`` = CxHxW float16 (+ sizes).

    float16 halves the disk (2 MiB per image for SAM's 256x64x64); the engine always uses the float16-rounded
    values, so a cached and a fresh embedding give the same masks.
    """

    def __init__(self, root: Path, model_sha256: str, *, variant: str = "") -> None:
        # ``variant``: how the encoder ran when it is not today's fp32 (``bf16``, ``fp32-sdpa``, ...): another
        # folder, so embeddings made one way are never read back for another
        self.folder = Path(root) / (model_sha256[:16] + (f"-{variant}" if variant else ""))

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.pt"

    def get(self, key: str) -> dict[str, Any] | None:
        """``{"embedding": CxHxW float16 tensor (CPU), "input_size": [h, w], "original_size": [H, W]}`` or None."""
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            entry = load_torch_file(path)
        except AnimeparseError:
            log.warning("unreadable cached embedding %s; recomputing it", path)
            return None
        return entry if isinstance(entry, dict) and "embedding" in entry else None

    def put(self, key: str, entry: dict[str, Any]) -> None:
        torch = require_torch()
        # no fsync per file: a cache entry lost to a power cut is recomputed
        with atomic_open(self.path(key), "wb", fsync=False) as fh:
            torch.save(entry, fh)

    def clean_temp(self) -> None:
        """Remove temp files a killed run left behind."""
        if self.folder.is_dir():
            for p in self.folder.glob(f".*{TMP_SUFFIX}"):
                p.unlink(missing_ok=True)


class SamEngine:
    """A loaded SAM on a device. ``sha256`` identifies the weights (the checkpoint file's SHA-256)."""

    def __init__(self, model: Sam, *, arch: SamArch, sha256: str, source: str) -> None:
        require_segment_anything()
        from segment_anything.utils.transforms import ResizeLongestSide

        self.model = model
        self.arch = arch
        self.name = arch_name(arch)
        self.sha256 = sha256
        self.source = source
        self.transform = ResizeLongestSide(model.image_encoder.img_size)
        # set by --compile: encoder batches are padded to this size, so a compiled encoder sees one shape
        self.pad_batch_to: int | None = None

    @property
    def device(self) -> torch.device:
        return self.model.device

    def describe(self) -> dict[str, Any]:
        return {"arch": self.name, "sha256": self.sha256, "source": self.source,
                "params": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self.arch).items()}}

    def encode(self, images: Sequence[npt.NDArray[np.uint8]]) -> list[dict[str, Any]]:
        """Embed a batch in one encoder pass. ``images``: HxWx3 uint8 RGB. Returns per image
        ``{"embedding": CxHxW float16 (on the device), "input_size": [h, w], "original_size": [H, W]}``."""
        torch = require_torch()
        batch, sizes = [], []
        for image in images:
            resized = self.transform.apply_image(image)  # longest side -> img_size, as SamPredictor.set_image
            x = torch.as_tensor(resized, device=self.device).permute(2, 0, 1).contiguous()[None]
            batch.append(self.model.preprocess(x))  # normalise + pad to img_size squared
            sizes.append((list(resized.shape[:2]), list(image.shape[:2])))
        x = torch.cat(batch)
        if self.pad_batch_to and x.shape[0] < self.pad_batch_to:
            x = torch.cat([x, x[-1:].expand(self.pad_batch_to - x.shape[0], -1, -1, -1)])
        with torch.inference_mode():
            features = self.model.image_encoder(x)
        return [{"embedding": features[k].half(), "input_size": s[0], "original_size": s[1]}
                for k, s in enumerate(sizes)]

    def embeddings(self, images: Sequence[npt.NDArray[np.uint8]], keys: Sequence[str],
                   cache: EmbeddingCache | None) -> tuple[list[dict[str, Any]], int]:
        """Embeddings for a batch: cached ones read, the rest encoded together and cached. Returns (entries, number
        encoded now). ``keys`` name the images in the cache (sample ids)."""
        entries: list[dict[str, Any] | None] = [cache.get(k) if cache else None for k in keys]
        todo = [i for i, e in enumerate(entries) if e is None or list(e["original_size"]) != list(images[i].shape[:2])]
        if todo:
            for i, entry in zip(todo, self.encode([images[i] for i in todo])):
                entries[i] = entry
                if cache is not None:
                    cache.put(keys[i], {**entry, "embedding": entry["embedding"].cpu()})
        out = []
        for entry in entries:  # type: ignore[assignment]  # entries is filled above; None only before
            assert entry is not None  # filled above
            out.append({**entry, "embedding": entry["embedding"].to(self.device)})
        return out, len(todo)

    def predictor(self, entry: dict[str, Any]) -> SamPredictor:
        """A segment-anything ``SamPredictor`` with this embedding set (no encoder pass)."""
        return _preset_predictor(self.model, entry)

    def segment(self, entry: dict[str, Any], boxes_xyxy: npt.NDArray[np.float32], points_xy: npt.NDArray[np.float32],
                labels: npt.NDArray[np.int64]) -> tuple[torch.Tensor, torch.Tensor]:
        """Prompt the decoder with N prompts at once (one decoder pass).

        ``boxes_xyxy``: Nx4 pixel boxes; ``points_xy``: NxKx2 (x, y) pixels; ``labels``: NxK (1 positive,
        0 negative, -1 padding). Returns (NxHxW bool masks at the original size, N float32 predicted IoUs).
        """
        torch = require_torch()
        predictor = self.predictor(entry)
        size = tuple(entry["original_size"])
        dev = self.device
        coords = self.transform.apply_coords_torch(torch.as_tensor(points_xy, dtype=torch.float32, device=dev), size)
        boxes = self.transform.apply_boxes_torch(torch.as_tensor(boxes_xyxy, dtype=torch.float32, device=dev), size)
        with torch.inference_mode():
            masks, iou, _ = predictor.predict_torch(coords, torch.as_tensor(labels, device=dev), boxes=boxes,
                                                    multimask_output=False)
        return masks[:, 0], iou[:, 0].float()

    def everything(self, entry: dict[str, Any], image: npt.NDArray[np.uint8], *, points_per_side: int = 16,
                   min_iou: float = 0.88, min_stability: float = 0.95) -> list[dict[str, Any]]:
        """segment-anything's ``SamAutomaticMaskGenerator`` on the cached embedding (a point grid, NMS, filters).
        ``min_iou`` / ``min_stability``: its ``pred_iou_thresh`` / ``stability_score_thresh`` (its defaults).
        Returns its records: ``segmentation`` (HxW bool), ``predicted_iou``, ``area``, ..."""
        torch = require_torch()
        from segment_anything import SamAutomaticMaskGenerator

        generator = SamAutomaticMaskGenerator(self.model, points_per_side=points_per_side, points_per_batch=64,
                                              pred_iou_thresh=min_iou, stability_score_thresh=min_stability,
                                              crop_n_layers=0, output_mode="binary_mask")
        # one crop = the whole image, so the generator's single set_image call is answered from the cache
        generator.predictor = _preset_predictor(self.model, entry)
        with torch.inference_mode():
            return list(generator.generate(image))


def _preset_predictor(model: Sam, entry: dict[str, Any]) -> SamPredictor:
    torch = require_torch()
    from segment_anything.predictor import SamPredictor

    class _Preset(SamPredictor):
        """A SamPredictor whose image is already embedded; ``set_image`` only checks it is the same size."""

        def set_image(self, image: np.ndarray, image_format: str = "RGB") -> None:
            if tuple(image.shape[:2]) != tuple(entry["original_size"]):
                raise AnimeparseError(f"embedding is for a {entry['original_size']} image, got {image.shape[:2]}")
            self._use(entry)

        def _use(self, e: dict[str, Any]) -> None:
            self.features = e["embedding"].to(self.device, torch.float32)[None]
            self.original_size = tuple(e["original_size"])
            self.input_size = tuple(e["input_size"])
            self.is_image_set = True

    predictor = _Preset(model)
    predictor._use(entry)
    return predictor
