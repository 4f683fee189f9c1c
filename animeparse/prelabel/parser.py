"""Parsers at inference: our trained :class:`ParserNet` or a face-parsing.PyTorch BiSeNet, behind one wrapper.

A :class:`Parser` turns a batch of RGB images into per-pixel class probabilities in the store's label map.
Checkpoints are read with ``torch.load(map_location="cpu", weights_only=True)`` and moved to the device after.

Our checkpoint (``<store>/runs/<run_id>/parser.pt``, written by ``parser train``) is a dict::

    format "animeparse-parser", format_version 1, arch {...}, size int, labelmap (JSON text),
    state_dict, epoch, epochs, done, metrics {...}, history [...], samples [...], optimizer, scheduler, params
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from ..errors import AnimeparseError, LabelMapError
from ..labelmap import LabelMap, load_labelmap
from .device import file_sha256, load_torch_file, require_torch

if TYPE_CHECKING:
    import torch

    from ..store import Dataset

__all__ = ["Parser", "CHECKPOINT_FORMAT", "CHECKPOINT_NAME", "load_parser", "parser_from_checkpoint",
           "checkpoint_path", "PARSER_MEAN", "PARSER_STD"]

log = logging.getLogger(__name__)
CHECKPOINT_FORMAT = "animeparse-parser"
CHECKPOINT_NAME = "parser.pt"
# ParserNet input normalisation: RGB / 255, then (x - 0.5) / 0.25 per channel
PARSER_MEAN = (0.5, 0.5, 0.5)
PARSER_STD = (0.25, 0.25, 0.25)


@dataclass
class Parser:
    """A segmentation net ready for inference, with everything needed to use it on store images.

    ``class_ids[k]`` is the store label-map id of output channel k (after ``channel_map`` folds the net's own
    classes onto the store's). ``kind`` is ``animeparse`` or ``bisenet``; ``sha256`` identifies the weights file.
    """

    model: torch.nn.Module
    kind: str
    class_ids: npt.NDArray[np.uint8]
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    device: torch.device
    sha256: str
    source: str
    channel_map: npt.NDArray[np.int64] | None = None  # net channel -> output channel; None = identity

    def describe(self) -> dict[str, Any]:
        """What the run record says about this parser."""
        return {"kind": self.kind, "source": self.source, "sha256": self.sha256, "input_size": self.input_size,
                "classes": len(self.class_ids)}

    def predict(self, images: Sequence[npt.NDArray[np.uint8]]) -> list[torch.Tensor]:
        """Class probabilities for a batch of images.

        ``images``: HxWx3 uint8 RGB, sizes may differ. Each is resized to ``input_size`` squared (as in training),
        the batch runs through the net once, and each softmax is resized back: returns one CxHxW float32 tensor
        on ``device`` per image (C = ``len(class_ids)``, values in [0, 1] summing to 1 over C).
        """
        torch = require_torch()
        import torch.nn.functional as F

        if not images:
            return []
        s = self.input_size
        mean = torch.tensor(self.mean, device=self.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, device=self.device).view(1, 3, 1, 1)
        batch = []
        for image in images:
            x = torch.from_numpy(np.ascontiguousarray(image)).to(self.device).permute(2, 0, 1)[None].float()
            if x.shape[-2:] != (s, s):
                x = F.interpolate(x, size=(s, s), mode="bilinear", align_corners=False, antialias=True)
            batch.append(x)
        x = ((torch.cat(batch) / 255.0 - mean) / std).contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            out = self.model(x)
            logits = out[0] if isinstance(out, (tuple, list)) else out
            probs = logits.float().softmax(dim=1)
            if self.channel_map is not None:
                folded = torch.zeros((probs.shape[0], len(self.class_ids), s, s), device=self.device)
                folded.index_add_(1, torch.from_numpy(self.channel_map).to(self.device), probs)
                probs = folded
            results = []
            for k, image in enumerate(images):
                p = probs[k : k + 1]
                if p.shape[-2:] != image.shape[:2]:
                    p = F.interpolate(p, size=image.shape[:2], mode="bilinear", align_corners=False)
                results.append(p[0])
        return results


def checkpoint_path(ds: Dataset, run_id: str) -> Path:
    return ds.root / "runs" / run_id / CHECKPOINT_NAME


def load_parser(spec: str | Path | None, ds: Dataset, device: torch.device) -> Parser:
    """Resolve ``--parser``: None = the store's newest finished ``parser`` run; a run id of this store; or a file.

    A file is either our checkpoint or a BiSeNet state dict (face-parsing.PyTorch layout, 19 classes in
    face-parsing order, mapped onto the store's classes by name). Raises AnimeparseError with the fix.
    """
    if spec is None:
        finished = [r for r in ds.runs(kind="parser") if r.status == "finished"]
        if not finished:
            raise AnimeparseError("this store has no trained parser yet; train one with `animeparse parser train "
                                  f"{ds.root}` or pass --parser PATH (a parser.pt or a BiSeNet checkpoint)",
                                  path=ds.root)
        return parser_from_checkpoint(checkpoint_path(ds, finished[-1].id), ds.labelmap, device,
                                      source=finished[-1].id)
    run = ds.run(spec) if isinstance(spec, str) else None
    if run is not None:
        if run.kind != "parser":
            raise AnimeparseError(f"run {run.id} is a {run.kind!r} run, not a parser run; list runs with "
                                  "`animeparse info`", path=ds.root)
        path = checkpoint_path(ds, run.id)
        return parser_from_checkpoint(path, ds.labelmap, device, source=run.id, require_done=True)
    path = Path(spec)
    if not path.exists():
        raise AnimeparseError(f"--parser {spec}: no parser run with that id in this store and no such file",
                              path=ds.root)
    return parser_from_checkpoint(path, ds.labelmap, device, source=str(path))


def parser_from_checkpoint(path: Path, labelmap: LabelMap, device: torch.device, *, source: str | None = None,
                           require_done: bool = False) -> Parser:
    """Build a :class:`Parser` on ``device`` from a checkpoint file (ours or a BiSeNet state dict)."""
    data = load_torch_file(path)
    sha = file_sha256(path)
    if isinstance(data, dict) and data.get("format") == CHECKPOINT_FORMAT:
        return _ours(data, path, labelmap, device, sha=sha, source=source or str(path), require_done=require_done)
    return _bisenet(data, path, labelmap, device, sha=sha, source=source or str(path))


def _ours(data: dict[str, Any], path: Path, labelmap: LabelMap, device: torch.device, *, sha: str, source: str,
          require_done: bool) -> Parser:
    torch = require_torch()
    from .parser_net import ParserArch, ParserNet

    if data.get("format_version") != 1:
        raise AnimeparseError(f"parser checkpoint format version {data.get('format_version')!r} is not supported by "
                              "this animeparse; upgrade animeparse", path=path)
    try:
        trained = LabelMap.from_json(json.loads(data["labelmap"]), source=path)
    except (KeyError, TypeError, ValueError) as err:  # missing, not text, not JSON
        raise AnimeparseError(f"parser checkpoint's label map is missing or not JSON ({type(err).__name__}: {err}); "
                              "the file is damaged: train the parser again", path=path) from err
    if trained.sha256 != labelmap.sha256:
        raise LabelMapError(f"this parser was trained on label map {trained.name} v{trained.version}, the store "
                            f"uses {labelmap.name} v{labelmap.version}; train a parser on this store", path=path)
    if require_done and not data.get("done"):
        raise AnimeparseError(f"parser run stopped at epoch {data.get('epoch')}/{data.get('epochs')}; finish it "
                              "with `animeparse parser train DS --run RUN` (it resumes)", path=path)
    try:
        if data["arch"].get("kind") == "bisenet":
            from .bisenet import BiSeNet

            model: Any = BiSeNet(int(data["arch"]["num_classes"]))
        else:
            model = ParserNet(ParserArch.from_json(data["arch"]))
        size = int(data["size"])
        mean = tuple(float(v) for v in data.get("mean", PARSER_MEAN))
        std = tuple(float(v) for v in data.get("std", PARSER_STD))
    except (KeyError, TypeError, ValueError, IndexError, RuntimeError, AttributeError) as err:
        raise AnimeparseError(f"parser checkpoint's arch or size is missing or invalid ({type(err).__name__}: {err}); "
                              "the file is damaged: train the parser again", path=path) from err
    try:
        model.load_state_dict(data.get("state_dict"), strict=True)
    except (RuntimeError, TypeError, AttributeError, ValueError) as err:
        raise AnimeparseError(f"parser checkpoint's weights do not fit the arch it names: "
                              f"{load_error_detail(err)}; the file is damaged: train the parser again",
                              path=path) from err
    model.to(device, memory_format=torch.channels_last).eval()  # as trained: faster convolutions on the CPU
    return Parser(model=model, kind="animeparse", class_ids=np.array(labelmap.ids, np.uint8),
                  input_size=size, mean=(mean[0], mean[1], mean[2]), std=(std[0], std[1], std[2]), device=device,
                  sha256=sha, source=source)


def load_error_detail(err: Exception) -> str:
    """The informative part of a ``load_state_dict`` error on one line: torch's first line only says that there
    are errors; the next names the missing/unexpected keys or the first size mismatch."""
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    detail = lines[1] if len(lines) > 1 and lines[0].startswith("Error(s) in loading") else (lines or [repr(err)])[0]
    more = len(lines) - 2
    return detail + (f" (and {more} more)" if more > 0 else "")


def _bisenet(data: Any, path: Path, labelmap: LabelMap, device: torch.device, *, sha: str, source: str) -> Parser:
    torch = require_torch()
    from .bisenet import BISENET_INPUT_SIZE, IMAGENET_MEAN, IMAGENET_STD, BiSeNet

    state = bisenet_state_dict(data, path)
    try:
        n_classes = int(state["conv_out.conv_out.weight"].shape[0])
        model = BiSeNet(n_classes)
        model.load_state_dict(state, strict=True)
    except (RuntimeError, TypeError, AttributeError, ValueError, IndexError) as err:
        raise AnimeparseError(f"is not a face-parsing.PyTorch BiSeNet state dict: {load_error_detail(err)}",
                              path=path) from err
    model.to(device).to(memory_format=torch.channels_last).eval()
    # face-parsing.PyTorch's 19 outputs are in the danbooru-parsing (face-parsing) class order
    source_map = load_labelmap("danbooru-parsing")
    if n_classes != len(source_map):
        raise AnimeparseError(f"BiSeNet checkpoint has {n_classes} classes; only the 19-class face-parsing order "
                              "is known", path=path)
    missing = [n for n in source_map.names if n not in labelmap]
    if missing:
        raise LabelMapError(f"the BiSeNet classes {missing} are not in the store's label map {labelmap.name}; "
                            "use a store with the danbooru-parsing map", path=path)
    index_of = {cid: k for k, cid in enumerate(labelmap.ids)}
    channel_map = np.array([index_of[labelmap.id_of(n)] for n in source_map.names], np.int64)
    identity = np.array_equal(channel_map, np.arange(len(labelmap.ids)))
    return Parser(model=model, kind="bisenet", class_ids=np.array(labelmap.ids, np.uint8),
                  input_size=BISENET_INPUT_SIZE, mean=IMAGENET_MEAN, std=IMAGENET_STD, device=device, sha256=sha,
                  source=source, channel_map=None if identity else channel_map)


def bisenet_state_dict(data: Any, path: Path | str = "<checkpoint>") -> dict[str, Any]:
    """The plain BiSeNet state dict inside ``data``: as saved (``net.state_dict()``), wrapped in
    ``{"state_dict": ...}`` / ``{"model": ...}``, or with DataParallel's ``module.`` prefix."""
    if isinstance(data, dict):
        for key in ("state_dict", "model", "net"):
            if key in data and isinstance(data[key], dict):
                data = data[key]
                break
    if not isinstance(data, dict) or "conv_out.conv_out.weight" not in {k.removeprefix("module.") for k in data}:
        raise AnimeparseError("is neither an animeparse parser checkpoint nor a BiSeNet state dict "
                              "(face-parsing.PyTorch layout, with key conv_out.conv_out.weight)", path=path)
    return {k.removeprefix("module."): v for k, v in data.items()}
