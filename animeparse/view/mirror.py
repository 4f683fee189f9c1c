"""What the FiftyOne mirror holds for each store sample, as plain Python values (no FiftyOne import here).

:func:`read_store` reads the manifest once; :func:`fingerprint` says cheaply (no decoding) whether a sample changed
since the last sync; :func:`sample_values` decodes the masks of a changed sample and computes its QA fields.
:mod:`animeparse.view.sync` turns these values into FiftyOne samples.
"""

from __future__ import annotations

import hashlib
import json
import logging
import mimetypes
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import AnimeparseError
from ..imageio import read_mask
from ..labelmap import LabelMap
from ..store import Dataset, MaskRecord, Sample
from .masks import DISAGREEMENT_FIELD, copy_path, disagreement, int_mask_targets, write_index_png
from .metrics import class_iou, mean_iou

__all__ = ["MIRROR_VERSION", "SAMPLE_FIELDS", "StoreSnapshot", "class_fields", "fingerprint", "has_disagreement",
           "layer_field", "mask_targets", "primary_prelabel", "read_store", "sample_values"]

log = logging.getLogger(__name__)

# bump when the fields or their meaning change: every sample's fingerprint changes, so the next sync rewrites all
# 2: character and the colours computed from gt; 3: integer mask copies owned by the mirror, integer targets, the
# disagreement field
MIRROR_VERSION = 3
# per-sample fields the mirror writes besides the mask fields (name -> meaning; docs/view.md lists the same)
SAMPLE_FIELDS = {
    "store_id": "the sample's id in the store",
    "name": "original file name",
    "split": "train / val / test ...",
    "status": "unlabeled / prelabeled / annotated / reviewed",
    "source": "where the sample came from (ingest source)",
    "dup_group": "near-duplicate group id (None when unique)",
    "prelabel_layer": "the pre-label layer compared with gt (the latest selected prelabel/* layer the sample has)",
    "prelabel_score": "that pre-label's confidence score from the store",
    "miou": "mean IoU of that pre-label against gt over the classes present in either",
    "iou": "per-class IoU of that pre-label against gt (iou.<class>)",
    "findings": "validate finding codes of the sample (sorted, unique)",
    "n_errors": "number of validate findings of severity error",
    "store_tags": "the store's tags as of the last sync (pull-tags compares the app's tags with these)",
    "character": "the sample's character (a Classification; edit its label in the app, then view pull-characters)",
    "store_character": "the store's character as of the last sync (pull-characters compares the app's with it)",
    "hair_color": "hair colour name computed from the gt mask (animeparse attributes; None until computed)",
    "eye_color": "eye colour name computed from the gt mask",
    "skin_color": "skin colour name computed from the gt mask",
    "fingerprint": "hash of what the mirror shows (image, masks, split, status, findings ...)",
}
COLOUR_FIELDS = ("hair", "eye", "skin")  # <role>_color fields
_RESERVED = {"id", "filepath", "tags", "metadata", "created_at", "last_modified_at", "media_type", "frames",
             DISAGREEMENT_FIELD, *SAMPLE_FIELDS}


def layer_field(layer: str) -> str:
    """The FiftyOne field of a store layer: ``gt`` -> ``gt``, ``prelabel/run-1`` -> ``prelabel_run_1``
    (FiftyOne paths use dots and allow no slashes); ``_mask`` is appended to a name the mirror uses itself."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", layer)
    return f"{name}_mask" if name in _RESERVED else name


def class_fields(labelmap: LabelMap) -> dict[int, str]:
    """Class id -> the ``iou.<name>`` sub-field name (class names made FiftyOne-safe, unique)."""
    out: dict[int, str] = {}
    for c in labelmap.classes:
        name = re.sub(r"[^A-Za-z0-9_]", "_", c.name).lstrip("_") or f"class_{c.id}"
        out[c.id] = name if name not in out.values() else f"{name}_{c.id}"
    return out


def mask_targets(labelmap: LabelMap) -> dict[int, str]:
    """FiftyOne mask targets of the mirror's integer mask copies: class id -> name for every class but background
    (the app never paints 0), and the ignore index. See :mod:`animeparse.view.masks` for why copies."""
    return int_mask_targets(labelmap)


def primary_prelabel(layers: Iterable[str]) -> str | None:
    """The pre-label layer compared with gt: the latest ``prelabel/<run>`` (run ids sort by start time)."""
    return max((layer for layer in layers if layer.startswith("prelabel/")), default=None)


@dataclass(frozen=True)
class StoreSnapshot:
    """The store as one sync sees it: samples by id, their masks in the selected layers, validate findings
    (sample id -> (sorted codes, error count)) and a note on how the findings were obtained."""

    samples: dict[str, Sample]
    masks: dict[str, dict[str, MaskRecord]]
    layers: tuple[str, ...]
    findings: dict[str, tuple[tuple[str, ...], int]] = field(default_factory=dict)
    findings_note: str = ""
    attributes: dict[str, dict[str, Any]] = field(default_factory=dict)  # current gt attributes by sample id


def read_store(ds: Dataset, *, layers: Iterable[str] = (), findings: bool = True) -> StoreSnapshot:
    """Read what the mirror needs: every sample, its masks in ``layers`` (empty: all the store's layers), and the
    validate findings (``findings=False`` skips validate). Raises AnimeparseError for a layer the store lacks."""
    have = ds.layers()
    selected = tuple(dict.fromkeys(layers)) or tuple(sorted(have))
    missing = [layer for layer in selected if layer not in have]
    if missing:
        raise AnimeparseError(f"the store has no mask layer {', '.join(map(repr, missing))}; it has: "
                              f"{', '.join(sorted(have)) or 'none'}", path=ds.root)
    samples = {s.id: s for s in ds.samples()}
    masks = {sid: {r.layer: r for r in ds.masks_of(sid) if r.layer in selected} for sid in samples}
    found, note = _run_validate(ds, len(samples)) if findings else ({}, "not run (--no-validate)")
    return StoreSnapshot(samples=samples, masks=masks, layers=selected, findings=found, findings_note=note,
                         attributes=ds.attributes("gt"))


def _run_validate(ds: Dataset, n: int) -> tuple[dict[str, tuple[tuple[str, ...], int]], str]:
    try:
        from ..qa import QAConfig, validate
    except ImportError as err:  # the QA package is built by another issue; without it the field stays empty
        log.warning("validate findings left empty: animeparse.qa is not available (%s)", err)
        return {}, f"empty: animeparse.qa not available ({err})"
    # a process pool only pays off beyond a few dozen samples (the runner works in chunks of 4)
    report = validate(ds, QAConfig() if n >= 64 else QAConfig(workers=0))
    codes: dict[str, set[str]] = {}
    errors: dict[str, int] = {}
    for f in report.findings:
        if f.sample is not None:
            codes.setdefault(f.sample, set()).add(f.code)
            errors[f.sample] = errors.get(f.sample, 0) + (f.severity.value == "error")
    return {sid: (tuple(sorted(c)), errors[sid]) for sid, c in codes.items()}, f"validate: {len(report.findings)} " \
        f"findings, {report.count('error')} errors"


def fingerprint(snap: StoreSnapshot, sample_id: str, *, root: str, labelmap_sha: str) -> str:
    """SHA-256 of everything the mirror shows for a sample except its tags (compared on their own, so pull-tags
    can record tags without recomputing this): image file hash, selected masks' paths, hashes and scores, split, status,
    source, near-duplicate group, findings, the store's path and label map, and :data:`MIRROR_VERSION`."""
    s = snap.samples[sample_id]
    # the path too: re-putting identical pixels gives a new file name (and a machine layer's old file is deleted)
    masks = sorted((r.layer, r.path, r.sha256, r.score) for r in snap.masks.get(sample_id, {}).values())
    codes, n_errors = snap.findings.get(sample_id, ((), 0))
    colours = [snap.attributes.get(sample_id, {}).get(f"{role}_color") for role in COLOUR_FIELDS]
    parts = [MIRROR_VERSION, root, labelmap_sha, s.image, s.file_sha256, s.name, s.split, s.status, s.source,
             s.dup_group, masks, list(codes), n_errors, s.character, colours]
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def has_disagreement(layers: Iterable[str]) -> bool:
    """Whether the mirror of these layers has a ``disagreement`` field (gt and a pre-label layer selected)."""
    layers = list(layers)
    return "gt" in layers and primary_prelabel(layers) is not None


def sample_values(ds: Dataset, snap: StoreSnapshot, sample_id: str, *, copies: Path) -> dict[str, Any]:
    """Plain values of one sample's mirror fields; decodes its masks, writes their integer copies (and the
    disagreement mask) into ``copies`` (:mod:`animeparse.view.masks`) and computes the IoU.

    Keys: ``filepath`` (absolute image path), ``metadata`` (dict for fo.ImageMetadata), ``masks`` (field ->
    absolute path of the copy, or None, for every selected layer, plus ``disagreement`` when gt and a pre-label
    layer are selected), and every name in :data:`SAMPLE_FIELDS` except ``fingerprint`` / ``store_tags``; ``iou``
    maps :func:`class_fields` names to IoU (None without a comparison).
    """
    s = snap.samples[sample_id]
    recs = snap.masks.get(sample_id, {})
    image = ds.root / s.image
    try:
        size = image.stat().st_size
    except OSError:
        size = None  # validate reports the missing file; the mirror still lists the sample
    prelabel = primary_prelabel(recs)
    masks: dict[str, str | None] = {}
    decoded: dict[str, Any] = {}
    for layer in snap.layers:
        fld, rec = layer_field(layer), recs.get(layer)
        masks[fld] = None
        if rec is None:
            continue
        try:
            decoded[layer] = read_mask(ds.root / rec.path)
        except (AnimeparseError, OSError, ValueError) as err:  # a broken file is validate's finding, not a crash
            log.warning("sample %s: mask %s not shown (%s)", sample_id, rec.path, err)
            continue
        masks[fld] = str(write_index_png(copy_path(copies, sample_id, fld, rec.sha256), decoded[layer]))
    ious: dict[int, float] | None = None
    if has_disagreement(snap.layers):
        masks[DISAGREEMENT_FIELD] = None
    if prelabel is not None and prelabel in decoded and "gt" in decoded:
        pre, gt_hw = decoded[prelabel], decoded["gt"]
        try:
            ious = class_iou(pre, gt_hw, class_ids=ds.labelmap.ids, ignore_index=ds.labelmap.ignore_index)
            differ = disagreement(pre, gt_hw, ignore_index=ds.labelmap.ignore_index)
            key = hashlib.sha256((recs[prelabel].sha256 + recs["gt"].sha256).encode()).hexdigest()
            masks[DISAGREEMENT_FIELD] = str(write_index_png(copy_path(copies, sample_id, DISAGREEMENT_FIELD, key),
                                                            differ))
        except ValueError as err:  # sizes differ: validate's finding, not a crash
            log.warning("sample %s: no IoU between %s and gt (%s)", sample_id, prelabel, err)
    names = class_fields(ds.labelmap)
    codes, n_errors = snap.findings.get(sample_id, ((), 0))
    return {
        "filepath": str(image),
        "metadata": {"width": s.width, "height": s.height, "num_channels": 3, "size_bytes": size,
                     "mime_type": mimetypes.guess_type(image.name)[0]},
        "masks": masks,
        "store_id": s.id, "name": s.name, "split": s.split, "status": s.status, "source": s.source,
        "dup_group": s.dup_group, "prelabel_layer": prelabel,
        "prelabel_score": recs[prelabel].score if prelabel else None,
        "miou": mean_iou(ious) if ious is not None else None,
        "iou": {names[c]: v for c, v in ious.items()} if ious is not None else None,
        "findings": list(codes), "n_errors": n_errors, "character": s.character, "store_character": s.character,
        **{f"{role}_color": snap.attributes.get(sample_id, {}).get(f"{role}_color") for role in COLOUR_FIELDS},
    }

