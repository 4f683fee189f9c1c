"""The pre-labeler: a trainable parser for class names, segment-anything for boundaries, a confidence per pixel.

``train_parser`` fits a small net on the store's ``gt`` masks; ``prelabel`` writes a ``prelabel/<run>`` layer
(parser alone, parser + SAM prompted per class region, or SAM everything-mode); ``evaluate_layer`` scores a layer
against ``gt``; ``fetch_model`` downloads official SAM checkpoints into the model cache. torch and
segment-anything are imported only when a function needs them (``pip install 'animeparse[sam]'``); the nets
(``ParserNet``, ``BiSeNet``) are importable from their modules.
"""

from .combine import Combined, combine_everything, combine_prompted, parser_only, sample_score
from .device import DEVICES, resolve_device
from .evaluate import ClassScore, EvalReport, evaluate_layer
from .models import MODELS, CachedModel, ModelSpec, default_cache_dir, fetch_model, list_models
from .parser import Parser, load_parser, parser_from_checkpoint
from .prompts import PromptConfig, RegionPrompt, region_prompts
from .run import MODES, SAM_CHOICES, PrelabelConfig, PrelabelResult, prelabel, select_samples
from .sam import SAM_ARCHS, EmbeddingCache, SamArch, SamEngine, infer_sam_arch, load_sam, sam_from_state_dict
from .train import TrainConfig, TrainResult, train_parser

__all__ = [
    "CachedModel",
    "ClassScore",
    "Combined",
    "DEVICES",
    "EmbeddingCache",
    "EvalReport",
    "MODELS",
    "MODES",
    "ModelSpec",
    "Parser",
    "PrelabelConfig",
    "PrelabelResult",
    "PromptConfig",
    "RegionPrompt",
    "SAM_ARCHS",
    "SAM_CHOICES",
    "SamArch",
    "SamEngine",
    "TrainConfig",
    "TrainResult",
    "combine_everything",
    "combine_prompted",
    "default_cache_dir",
    "evaluate_layer",
    "fetch_model",
    "infer_sam_arch",
    "list_models",
    "load_parser",
    "load_sam",
    "parser_from_checkpoint",
    "parser_only",
    "prelabel",
    "region_prompts",
    "resolve_device",
    "sam_from_state_dict",
    "sample_score",
    "select_samples",
    "train_parser",
]
