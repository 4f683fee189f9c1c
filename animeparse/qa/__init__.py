"""Dataset QA: checks that find what is wrong in a store, as data (findings), never as exceptions.

Two kinds of check, registered by name:

- **sample checks** ``check_x(view: SampleView, cfg: QAConfig) -> Iterator[Finding]`` look at one sample's files
  and pixels. They run in worker processes on all cores and share one decode per file through the view.
- **store checks** ``check_x(ds: Dataset, cfg: QAConfig, facts: Mapping[str, SampleFacts]) -> Iterator[Finding]``
  look across samples (orphan files, duplicates, the left/right majority, layers) and run in the driver after the
  sample pass; ``facts`` carry what the workers learned per sample (pixel hash, left/right vote).

``validate(ds, cfg, progress=...)`` runs all of them (minus ``cfg.skip``) and returns a :class:`QAReport`.
Every check, code, severity and threshold is listed in docs/validate.md.
"""

from __future__ import annotations

from .characters import check_characters
from .config import QAConfig, load_config
from .dupes import check_duplicates
from .findings import Finding, QAReport, Severity
from .integrity import check_files, check_integrity
from .layers import check_layers
from .layout import check_layout, check_lr_convention
from .manifest import check_manifest
from .runner import validate
from .sample_view import SampleFacts, SampleView
from .shapes import check_shapes
from .values import check_label_order, check_values

__all__ = ["CHECKS", "SAMPLE_CHECKS", "STORE_CHECKS", "Finding", "QAConfig", "QAReport", "SampleFacts", "SampleView",
           "Severity", "load_config", "validate"]

SAMPLE_CHECKS = {
    "integrity": check_integrity,
    "values": check_values,
    "label_order": check_label_order,
    "shapes": check_shapes,
    "layout": check_layout,
}
STORE_CHECKS = {
    "manifest": check_manifest,  # runs first, before the rows are read (see runner.validate)
    "files": check_files,
    "duplicates": check_duplicates,
    "lr_convention": check_lr_convention,
    "layers": check_layers,
    "characters": check_characters,
}
CHECKS = {**SAMPLE_CHECKS, **STORE_CHECKS}
