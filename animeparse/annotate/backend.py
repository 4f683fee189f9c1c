"""The models behind ``ls serve``: pre-annotation of a task, and interactive regions from clicks and boxes.

:class:`Backend` answers Label Studio's ML-backend calls as Python (no HTTP here: :mod:`.serve` is the wire):

- ``predict`` without a prompt: the sample's newest ``prelabel/*`` layer as brush regions, each scored by the mean
  per-pixel confidence the prelabel run stored; a sample with no pre-label gets the parser's output, computed now.
- ``predict`` with a prompt (``params.context.result``: the editor's smart keypoints and boxes): one brush region
  of the prompt's class, from segment-anything (one decoder pass on the image embedding, which is read from the
  store's SAM cache ``<store>/cache/sam/`` or computed once and put there), or, with no SAM checkpoint, the
  parser's region of that class (the connected pieces under the positive clicks, inside the box, without the
  pieces under negative clicks).

Requests that cannot be answered raise :class:`BackendError` with an HTTP status and one line that says why.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree

import numpy as np
import numpy.typing as npt

from ..errors import AnimeparseError
from ..imageio import read_mask
from ..labelmap import LabelMap
from ..store import Dataset, Sample
from .config import BRUSH_CONTROL, IGNORE_LABEL, IMAGE_KEY
from .prompts import Prompt, PromptError, mask_results, parse_prompt, region_result

if TYPE_CHECKING:
    from ..prelabel import Parser, SamEngine

__all__ = ["BackendConfig", "Backend", "BackendError", "brush_target"]

log = logging.getLogger(__name__)


class BackendError(AnimeparseError):
    """A request the backend refuses; ``status`` is the HTTP status to answer with (4xx)."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        self.status = status
        super().__init__(message)


@dataclass(frozen=True)
class BackendConfig:
    """What ``ls serve`` runs; CLI options map 1:1.

    ``sam``: ``auto`` (``checkpoint`` if given, else a fetched checkpoint, else none), ``vit_h`` / ``vit_l`` /
    ``vit_b`` (fetched), or ``none``; without SAM, clicks are answered from the parser. ``parser``: a parser run id
    or file (default: the store's newest finished parser run). ``retrain_every``: after this many annotations
    stored through the webhook, train a new parser on all ``gt`` (0: never). ``train_epochs`` / ``train_minutes``:
    that training's length; ``train_size``: its input side (``parser train --size``). ``url`` / ``token``: the
    Label Studio server refreshed predictions are pushed to (default: what Label Studio's ``/setup`` call tells).
    """

    dataset: Path
    sam: str = "auto"
    checkpoint: str | None = None
    parser: str | None = None
    device: str = "auto"
    retrain_every: int = 0
    train_epochs: int = 10
    train_size: int = 256
    train_minutes: float | None = 5.0
    url: str | None = None
    token: str | None = None
    model_cache_dir: str | None = None


def brush_target(label_config: Any) -> tuple[str, str]:
    """(BrushLabels control name, its image's name) in a project's labelling config; the generated config's
    names when the request carries none. BackendError 422 when the config has no BrushLabels."""
    if not isinstance(label_config, str) or not label_config.strip():
        return BRUSH_CONTROL, IMAGE_KEY
    try:
        root = ElementTree.fromstring(label_config)
    except ElementTree.ParseError as err:
        raise BackendError(f"the project's labelling config is not valid XML ({err})", status=422) from None
    for element in root.iter("BrushLabels"):
        return element.get("name", BRUSH_CONTROL), element.get("toName", IMAGE_KEY)
    raise BackendError("the project's labelling config has no BrushLabels control, so regions cannot be returned; "
                       "use `animeparse ls config --interactive` for the config", status=422)


class Backend:
    """Models and store access behind the ML-backend calls. Thread-safe: model calls are serialised."""

    def __init__(self, config: BackendConfig) -> None:
        from ..prelabel import resolve_device
        from ..prelabel.run import PrelabelConfig, resolve_sam

        self.config = config
        self.root = Path(config.dataset).absolute()
        with Dataset.open(self.root) as ds:
            self.labelmap: LabelMap = ds.labelmap
        self.device = resolve_device(config.device)
        self.sam: SamEngine | None = None
        if config.sam != "none":
            self.sam = resolve_sam(PrelabelConfig(sam=config.sam, checkpoint=config.checkpoint,
                                                   model_cache_dir=config.model_cache_dir),
                                    self.device, prefer_gpu=self.device.type == "cuda")
        self._parser: Parser | None = None
        self._models = threading.Lock()
        self._probs: OrderedDict[str, npt.NDArray[np.float32]] = OrderedDict()  # parser output of recent images
        self._entries: OrderedDict[str, dict[str, Any]] = OrderedDict()  # SAM embeddings of recent images
        self.last_timing: dict[str, float] = {}

    @property
    def model_version(self) -> str:
        """What Label Studio shows as the backend's model: SAM's weights, else the parser."""
        if self.sam is not None:
            return f"animeparse-sam-{self.sam.name}-{self.sam.sha256[:8]}"
        return "animeparse-parser"

    def describe(self) -> dict[str, Any]:
        return {"store": str(self.root), "labelmap": self.labelmap.name, "device": str(self.device),
                "sam": self.sam.describe() if self.sam is not None else None,
                "parser": self._parser.describe() if self._parser is not None else self.config.parser}

    # -- models -------------------------------------------------------------------------------------------------
    def parser(self, ds: Dataset) -> Parser:
        """The parser, loaded on first use (and again after :meth:`reload_parser`)."""
        from ..prelabel import load_parser

        if self._parser is None:
            self._parser = load_parser(self.config.parser, ds, self.device)
            log.info("parser %s loaded", self._parser.source)
        return self._parser

    def reload_parser(self, spec: str | None = None) -> None:
        """Forget the loaded parser (and its cached outputs): the next request loads ``spec`` (a run id)."""
        with self._models:
            if spec is not None:
                self.config = _replace(self.config, parser=spec)
            self._parser = None
            self._probs.clear()

    def _parser_probs(self, ds: Dataset, key: str, image: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """CxHxW float32 parser probabilities of an image, kept for the last 8 images (clicks on the same image
        cost no parser pass)."""
        if key not in self._probs:
            self._probs[key] = self.parser(ds).predict([image])[0].cpu().numpy()
            while len(self._probs) > 8:
                self._probs.popitem(last=False)
        self._probs.move_to_end(key)
        return self._probs[key]

    # -- tasks --------------------------------------------------------------------------------------------------
    def sample_of(self, ds: Dataset, task: Any) -> Sample:
        """The store sample a task names through ``data.sample_id`` (set by ``ls push``)."""
        if not isinstance(task, Mapping) or not isinstance(task.get("data"), Mapping):
            raise BackendError("a task must be a JSON object with a data object")
        sid = task["data"].get("sample_id")
        if not isinstance(sid, str) or not sid:
            raise BackendError(f"task {task.get('id')} has no data.sample_id, so it is not one of this store's "
                               "samples; push the tasks with `animeparse ls push`", status=404)
        if sid not in ds:
            raise BackendError(f"task {task.get('id')}: sample {sid!r} is not in the store {self.root}; serve the "
                               "store the project was pushed from", status=404)
        return ds.sample(sid)

    def _image(self, ds: Dataset, sample: Sample) -> npt.NDArray[np.uint8]:
        try:
            return ds.read_image(sample)
        except (AnimeparseError, OSError) as err:
            raise BackendError(f"cannot read the image of sample {sample.id} ({ds.image_path(sample)}): "
                               f"{type(err).__name__}: {err}", status=422) from None

    # -- predict ------------------------------------------------------------------------------------------------
    def predict(self, payload: Any) -> dict[str, Any]:
        """Answer ``/predict``: ``{"results": [one prediction per task]}``, a prediction being ``{"result": [...],
        "score": float | None, "model_version": str}``."""
        if not isinstance(payload, Mapping) or not isinstance(payload.get("tasks"), list) or not payload["tasks"]:
            raise BackendError("a predict request must be a JSON object with a non-empty tasks list")
        params = payload.get("params")
        context = params.get("context") if isinstance(params, Mapping) else None
        control, to_name = brush_target(payload.get("label_config"))
        results = []
        with Dataset.open(self.root) as ds:
            for task in payload["tasks"]:
                sample = self.sample_of(ds, task)
                if context:
                    results.append(self.interactive(ds, sample, context, control=control, to_name=to_name))
                else:
                    results.append(self.preannotate(ds, sample, control=control, to_name=to_name))
        return {"results": results, "model_version": self.model_version}

    def preannotate(self, ds: Dataset, sample: Sample, *, control: str = BRUSH_CONTROL,
                    to_name: str = IMAGE_KEY) -> dict[str, Any]:
        """The sample's newest ``prelabel/*`` mask (regions scored by the run's per-pixel confidence), else the
        parser's argmax now (regions scored by its probability)."""
        records = sorted((r for r in ds.masks_of(sample.id) if r.layer.startswith("prelabel/")),
                         key=lambda r: (r.created_at, r.layer))
        if records:
            rec = records[-1]
            mask = read_mask(ds.root / rec.path)
            run = rec.layer.split("/", 1)[1]
            conf_path = ds.root / "runs" / run / "confidence" / f"{sample.id}.png"
            conf = read_mask(conf_path).astype(np.float32) / 255.0 if conf_path.is_file() else None
            if conf is not None and conf.shape != mask.shape:
                conf = None
            results, score = mask_results(mask, self.labelmap, confidence_hw=conf, control=control, to_name=to_name)
            return {"result": results, "score": rec.score if rec.score is not None else score, "model_version": run}
        from ..prelabel import parser_only

        image = self._image(ds, sample)
        with self._models:
            parser = self.parser(ds)
            probs = self._parser_probs(ds, sample.id, image)
            combined = parser_only(probs, parser.class_ids)
        results, _ = mask_results(combined.label_hw, self.labelmap, confidence_hw=combined.confidence_hw,
                                  control=control, to_name=to_name)
        return {"result": results, "score": combined.score, "model_version": _parser_version(parser)}

    def interactive(self, ds: Dataset, sample: Sample, context: Any, *, control: str = BRUSH_CONTROL,
                    to_name: str = IMAGE_KEY) -> dict[str, Any]:
        """One region of the prompt's class from SAM (or the parser without SAM); timings in ``last_timing``."""
        image = self._image(ds, sample)
        try:
            prompt = parse_prompt(context, self.labelmap, shape_hw=(image.shape[0], image.shape[1]))
        except PromptError as err:
            raise BackendError(str(err), status=422) from None
        if prompt is None:
            return self.preannotate(ds, sample, control=control, to_name=to_name)
        with self._models:
            t0 = time.perf_counter()
            self.last_timing = {}
            if self.sam is not None:
                region, score, cached = self._sam_region(ds, sample.id, image, prompt)
                version = self.model_version
            else:
                region, score = self._parser_region(ds, sample.id, image, prompt)
                cached, version = True, _parser_version(self.parser(ds))
            self.last_timing.update(seconds=time.perf_counter() - t0, embedding_cached=float(cached))
        log.info("task sample %s: %s region from %s in %.0f ms (embedding %s)", sample.id, prompt.class_name,
                 "SAM" if self.sam is not None else "the parser", 1000 * self.last_timing["seconds"],
                 "cached" if cached else "computed")
        result = region_result(region, prompt.class_name, score=score, control=control, to_name=to_name)
        return {"result": [result], "score": score, "model_version": version}

    def sam_entry(self, ds: Dataset, key: str, image: npt.NDArray[np.uint8]) -> tuple[dict[str, Any], bool]:
        """The SAM embedding of an image, from memory (the last 4 images), else the store's cache, else computed
        and put in the cache; (entry, was cached)."""
        from ..prelabel import EmbeddingCache

        assert self.sam is not None  # callers check
        held = self._entries.get(key)
        if held is not None and list(held["original_size"]) == list(image.shape[:2]):
            self._entries.move_to_end(key)
            return held, True
        cache = EmbeddingCache(ds.root / "cache" / "sam", self.sam.sha256)
        entries, encoded = self.sam.embeddings([image], [key], cache)
        self._entries[key] = entries[0]
        while len(self._entries) > 4:
            self._entries.popitem(last=False)
        return entries[0], encoded == 0

    def _sam_region(self, ds: Dataset, key: str, image: npt.NDArray[np.uint8],
                    prompt: Prompt) -> tuple[npt.NDArray[np.bool_], float, bool]:
        assert self.sam is not None  # callers check
        entry, cached = self.sam_entry(ds, key, image)
        t0 = time.perf_counter()
        region, score = sam_predict(self.sam, entry, prompt)
        self.last_timing["decoder_s"] = time.perf_counter() - t0
        return region, score, cached

    def _parser_region(self, ds: Dataset, key: str, image: npt.NDArray[np.uint8],
                       prompt: Prompt) -> tuple[npt.NDArray[np.bool_], float]:
        import cv2

        probs = self._parser_probs(ds, key, image)
        parser = self.parser(ds)
        label = parser.class_ids[probs.argmax(0)]
        class_id = 255 if prompt.class_name == IGNORE_LABEL else self.labelmap.id_of(prompt.class_name)
        region = label == class_id
        if prompt.box_xyxy is not None:
            x0, y0, x1, y1 = (int(round(float(v))) for v in prompt.box_xyxy)
            inside = np.zeros_like(region)
            inside[max(y0, 0):max(y1, 0), max(x0, 0):max(x1, 0)] = True
            region &= inside
        _, pieces = cv2.connectedComponents(region.view(np.uint8), connectivity=8)
        h, w = region.shape

        def piece_at(x: float, y: float) -> int:
            return int(pieces[min(max(int(y), 0), h - 1), min(max(int(x), 0), w - 1)])

        keep = {piece_at(x, y) for (x, y), lab in zip(prompt.points_xy, prompt.labels) if lab == 1} - {0}
        drop = {piece_at(x, y) for (x, y), lab in zip(prompt.points_xy, prompt.labels) if lab == 0} - {0}
        if keep:
            region = np.isin(pieces, sorted(keep))
        if drop:
            region &= ~np.isin(pieces, sorted(drop))
        channel = int(np.flatnonzero(parser.class_ids == class_id)[0]) if class_id in parser.class_ids else None
        score = float(probs[channel][region].mean()) if channel is not None and region.any() else 0.0
        return region, score


def sam_predict(sam: SamEngine, entry: dict[str, Any], prompt: Prompt) -> tuple[npt.NDArray[np.bool_], float]:
    """segment-anything's answer to a prompt on an embedded image: (HxW bool mask, its predicted IoU).

    A lone click is ambiguous (a part or the whole), so it asks SAM for three masks and keeps the one SAM scores
    best, as segment-anything recommends; clicks with a box or several clicks ask for one mask.
    """
    predictor = sam.predictor(entry)
    has_points = len(prompt.labels) > 0
    multimask = prompt.box_xyxy is None and len(prompt.labels) == 1
    masks, scores, _ = predictor.predict(point_coords=prompt.points_xy if has_points else None,
                                         point_labels=prompt.labels if has_points else None,
                                         box=prompt.box_xyxy, multimask_output=multimask)
    best = int(np.argmax(scores))
    return masks[best].astype(bool), float(scores[best])


def _parser_version(parser: Parser) -> str:
    """The model version of the parser's predictions: its run id (``parser-...``), or ``parser-<file stem>``."""
    source = parser.source
    return source if source.startswith("parser-") else f"parser-{Path(source).stem}"


def _replace(config: BackendConfig, **changes: Any) -> BackendConfig:
    from dataclasses import replace

    return replace(config, **changes)
