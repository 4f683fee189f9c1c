"""The persistent FiftyOne dataset that mirrors a store: build it, keep it in step, pull the app's tags back.

A sync compares each store sample's :func:`~animeparse.view.mirror.fingerprint` (and tags) with what the mirror
recorded last time and only writes the samples that differ: new ones are added, changed ones updated in place (their
FiftyOne ids, and so the app's URLs, stay), deleted ones removed. Each layer field's ``mask_path`` is an integer
copy of the store's mask that the mirror owns (:mod:`animeparse.view.masks`): written for new and changed samples,
deleted when no sample points at it any more.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import AnimeparseError
from ..store import Dataset
from .env import FiftyOneDB, import_fiftyone
from .masks import DISAGREEMENT_FIELD, MASK_DIR, color_scheme, disagreement_targets, stale_files
from .mirror import (
    MIRROR_VERSION,
    StoreSnapshot,
    class_fields,
    fingerprint,
    has_disagreement,
    layer_field,
    mask_targets,
    read_store,
    sample_values,
)

__all__ = ["PullResult", "SAVED_VIEWS", "SyncResult", "default_name", "pull_characters", "pull_tags", "sync_store"]

log = logging.getLogger(__name__)
Progress = Callable[[int, int | None], None]
# saved view name -> description (the app lists them in the view bar; docs/view.md too)
SAVED_VIEWS = {
    "worst pre-labels": "samples with a pre-label and gt, lowest mIoU first",
    "validate errors": "samples with validate findings of severity error, most first",
    "unlabelled": "samples without a gt mask (status unlabeled or prelabeled)",
}
_STR_FIELDS = ("store_id", "name", "split", "status", "source", "dup_group", "prelabel_layer", "fingerprint",
               "store_character", "hair_color", "eye_color", "skin_color")


@dataclass(frozen=True)
class SyncResult:
    """What one sync did. ``touched`` = added + updated + removed; ``layers`` maps store layer -> field."""

    name: str
    slug: str
    db_dir: str
    samples: int
    added: int
    updated: int
    removed: int
    unchanged: int
    layers: dict[str, str]
    findings: str
    seconds: float

    @property
    def touched(self) -> int:
        return self.added + self.updated + self.removed

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "touched": self.touched}


@dataclass(frozen=True)
class PullResult:
    """What pull-tags did: tags added to the store (tag -> samples), the samples that got one, the mirror's samples
    no longer in the store, and tags the store has but the app removed (tag -> samples; the store keeps them)."""

    name: str
    samples_tagged: int
    tags_added: dict[str, int] = field(default_factory=dict)
    not_in_store: list[str] = field(default_factory=list)
    removed_in_app: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def default_name(ds: Dataset) -> str:
    """``<card name>-<6 hex of the store's path>``: stable for a store, distinct for two stores of the same name."""
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", ds.card.name).strip("-") or "store"
    return f"{stem}-{hashlib.sha256(str(ds.root).encode()).hexdigest()[:6]}"


def sync_store(ds: Dataset, db: FiftyOneDB, *, layers: tuple[str, ...] | list[str] = (), name: str | None = None,
               findings: bool = True, progress: Progress | None = None) -> SyncResult:
    """Build or update the persistent FiftyOne dataset mirroring ``ds``; return what changed.

    ``layers``: the mask layers to show (default: all the store has); ``name``: the FiftyOne dataset name (default
    :func:`default_name`); ``findings=False`` skips validate and keeps the findings of the last sync (new samples
    get none). ``db`` must be open.
    ``progress(done, total)`` follows the samples being written. Raises AnimeparseError when ``name`` belongs to
    a mirror of another store or the store lacks a layer.
    """
    t0 = time.monotonic()
    fo = import_fiftyone()
    if db.port is None:
        raise AnimeparseError("open the FiftyOne database first (with FiftyOneDB(...) as db: ...)")
    snap = read_store(ds, layers=layers, findings=findings)
    fd = _open_dataset(fo, ds, name or default_name(ds), snap)
    copies = Path(db.db_dir) / MASK_DIR / fd.name
    fo_ids, ids, old_prints, old_store_tags, app_tags, old_codes, old_errors = fd.values(
        ["id", "store_id", "fingerprint", "store_tags", "tags", "findings", "n_errors"])
    if not findings:  # keep the last validate's findings, so skipping validate changes nothing by itself
        kept = {sid: (tuple(c or ()), int(e or 0)) for sid, c, e in zip(ids, old_codes, old_errors, strict=True)
                if sid in snap.samples and (c or e)}
        snap = replace(snap, findings=kept, findings_note="kept from the last sync (--no-validate)")
    root, lm_sha = str(ds.root), ds.labelmap.sha256
    prints = {sid: fingerprint(snap, sid, root=root, labelmap_sha=lm_sha) for sid in snap.samples}
    known = {sid: i for i, sid in enumerate(ids)}
    removed = [fo_ids[i] for sid, i in known.items() if sid not in snap.samples]
    new = [sid for sid in snap.samples if sid not in known]
    changed = [sid for sid in snap.samples if sid in known and (
        old_prints[known[sid]] != prints[sid]
        or sorted(old_store_tags[known[sid]] or []) != sorted(snap.samples[sid].tags))]  # ingest keeps tag order
    total = len(new) + len(changed)
    done = 0

    def step(n: int) -> None:
        nonlocal done
        done += n
        if progress:
            progress(done, total)

    if removed:
        fd.delete_samples(removed)
    if changed:
        rows = {fo_ids[known[sid]]: _row(ds, snap, sid, prints[sid], copies) for sid in changed}
        for sid in changed:  # tags added in the app and not yet pulled survive a store-side change
            i = known[sid]
            app_only = set(app_tags[i] or []) - set(old_store_tags[i] or [])
            rows[fo_ids[i]]["tags"] = sorted(set(snap.samples[sid].tags) | app_only)
        _update(fo, fd, rows)
        step(len(changed))
    for start in range(0, len(new), 200):  # batches: memory stays flat and progress moves
        batch = new[start:start + 200]
        fd.add_samples([fo.Sample(**_fields_of(fo, _row(ds, snap, sid, prints[sid], copies))) for sid in batch],
                       progress=False)
        step(len(batch))
    _save_views(fo, fd)
    _remove_stale_copies(fd, copies, snap)
    return SyncResult(name=fd.name, slug=fd.slug, db_dir=str(db.db_dir), samples=len(snap.samples), added=len(new),
                      updated=len(changed), removed=len(removed), unchanged=len(snap.samples) - len(new) - len(changed),
                      layers={layer: layer_field(layer) for layer in snap.layers}, findings=snap.findings_note,
                      seconds=round(time.monotonic() - t0, 3))


def pull_tags(root: Path | str, db: FiftyOneDB, *, name: str | None = None) -> PullResult:
    """Add the sample tags set in the app (e.g. ``needs-fix``) to the store's samples, under the writer lock.

    Only additions travel: a tag the store has but the app removed is reported in ``removed_in_app`` and kept (the
    store has no tag removal). Label tags (on masks) are not store data and are ignored. Raises AnimeparseError when
    the store has no mirror yet.
    """
    fo = import_fiftyone()
    with Dataset.open(root, write=True) as ds:
        name = name or default_name(ds)
        fd = _existing_mirror(fo, db, ds, name)
        fo_ids, ids, app_tags, synced = fd.values(["id", "store_id", "tags", "store_tags"])
        added: dict[str, int] = {}
        removed: dict[str, int] = {}
        missing: list[str] = []
        recorded: dict[str, list[str]] = {}
        for fo_id, sid, tags, old in zip(fo_ids, ids, app_tags, synced, strict=True):
            if sid not in ds:
                missing.append(sid)
                continue
            store_tags = set(ds.sample(sid).tags)
            new = sorted(set(tags or []) - store_tags)
            for tag in set(old or []) - set(tags or []):
                if tag in store_tags:
                    removed[tag] = removed.get(tag, 0) + 1
            if new:
                ds.add_tags(sid, new)
                for tag in new:
                    added[tag] = added.get(tag, 0) + 1
                recorded[fo_id] = sorted(store_tags | set(new))
        if recorded:  # the mirror now matches the store: the next sync has nothing to do for these
            fd.set_values("store_tags", recorded, key_field="id")
    return PullResult(name=name, samples_tagged=len(recorded), tags_added=dict(sorted(added.items())),
                      not_in_store=sorted(missing), removed_in_app=dict(sorted(removed.items())))


def pull_characters(root: Path | str, db: FiftyOneDB, *, name: str | None = None) -> dict[str, Any]:
    """Write the characters edited in the app (the ``character`` Classification's label) into the store, under the
    writer lock: a sample whose label differs from what the last sync wrote (``store_character``) gets it; a
    cleared label clears it. Returns ``{"name", "changed": {sample id: [old, new]}, "not_in_store"}``."""
    fo = import_fiftyone()
    with Dataset.open(root, write=True) as ds:
        name = name or default_name(ds)
        fd = _existing_mirror(fo, db, ds, name)
        fo_ids, ids, labels, synced = fd.values(["id", "store_id", "character.label", "store_character"])
        changed: dict[str, list[str | None]] = {}
        recorded: dict[str, str | None] = {}
        missing = []
        for fo_id, sid, label, old in zip(fo_ids, ids, labels, synced, strict=True):
            if sid not in ds:
                missing.append(sid)
                continue
            label = label or None
            if label == (old or None):
                continue
            before = ds.sample(sid).character
            ds.set_character([sid], label)
            changed[sid], recorded[fo_id] = [before, label], label
        if recorded:
            fd.set_values("store_character", recorded, key_field="id")
    return {"name": name, "changed": dict(sorted(changed.items())), "not_in_store": sorted(missing)}


# -- internals --------------------------------------------------------------------------------------------------
def _row(ds: Dataset, snap: StoreSnapshot, sid: str, print_: str, copies: Path) -> dict[str, Any]:
    row = sample_values(ds, snap, sid, copies=copies)
    row["fingerprint"] = print_
    row["store_tags"] = sorted(snap.samples[sid].tags)
    row["tags"] = sorted(snap.samples[sid].tags)
    return row


def _fields_of(fo: Any, row: dict[str, Any]) -> dict[str, Any]:
    """Row values as FiftyOne field values."""
    out = {k: row[k] for k in (*_STR_FIELDS, "prelabel_score", "miou", "findings", "n_errors", "store_tags",
                               "tags", "filepath")}
    out["metadata"] = fo.ImageMetadata(**row["metadata"])
    out["character"] = fo.Classification(label=row["character"]) if row["character"] else None
    out["iou"] = fo.DynamicEmbeddedDocument(**row["iou"]) if row["iou"] is not None else None
    for fld, path in row["masks"].items():
        out[fld] = fo.Segmentation(mask_path=path) if path else None
    return out


def _update(fo: Any, fd: Any, rows: dict[str, dict[str, Any]]) -> None:
    """Write changed samples in place: one bulk ``set_values`` per field, keyed by FiftyOne id (the fastest form)."""
    columns: dict[str, dict[str, Any]] = {}
    for fo_id, row in rows.items():
        for key, value in _fields_of(fo, row).items():
            columns.setdefault(key, {})[fo_id] = value
    for key, values in columns.items():
        fd.set_values(key, values, key_field="id", validate=False)


def _open_dataset(fo: Any, ds: Dataset, name: str, snap: StoreSnapshot) -> Any:
    """Load or create the mirror, check it mirrors this store, and set its schema, mask targets and app config."""
    try:
        fd = fo.load_dataset(name) if fo.dataset_exists(name) else fo.Dataset(name, persistent=True)
    except ValueError as err:  # FiftyOne's word on a name it refuses
        raise AnimeparseError(f"FiftyOne refused the dataset name {name!r} ({err}); pass another --name") from err
    _check_root(fd, ds)
    fd.persistent = True
    schema = fd.get_field_schema()
    declared: dict[str, tuple[Any, dict[str, Any]]] = {
        **{k: (fo.StringField, {}) for k in _STR_FIELDS},
        "prelabel_score": (fo.FloatField, {}), "miou": (fo.FloatField, {}), "n_errors": (fo.IntField, {}),
        "findings": (fo.ListField, {"subfield": fo.StringField}),
        "store_tags": (fo.ListField, {"subfield": fo.StringField}),
        "iou": (fo.EmbeddedDocumentField, {"embedded_doc_type": fo.DynamicEmbeddedDocument}),
        "character": (fo.EmbeddedDocumentField, {"embedded_doc_type": fo.Classification}),
        **{fld: (fo.EmbeddedDocumentField, {"embedded_doc_type": fo.Segmentation}) for fld in _mask_fields(snap)},
    }
    for key, (ftype, kwargs) in declared.items():
        if key not in schema:
            fd.add_sample_field(key, ftype, **kwargs)
    # the per-class IoU sub-fields are declared up front so the app offers a filter for each class from the start
    iou_schema = fd.get_field_schema(flat=True)
    for cname in class_fields(ds.labelmap).values():
        if f"iou.{cname}" not in iou_schema:
            fd.add_sample_field(f"iou.{cname}", fo.FloatField)
    info = dict(fd.info or {})
    old_layers = dict(info.get("animeparse", {}).get("layers", {}))
    gone = [f for layer, f in old_layers.items() if layer not in snap.layers and f in fd.get_field_schema()]
    if not has_disagreement(snap.layers) and DISAGREEMENT_FIELD in fd.get_field_schema():
        gone.append(DISAGREEMENT_FIELD)
    if gone:  # a layer no longer selected leaves the mirror (it mirrors exactly the selected layers)
        fd.delete_sample_fields(gone)
    if "store_id" not in fd.list_indexes():
        fd.create_index("store_id", unique=True)
    fields = [layer_field(layer) for layer in snap.layers]
    targets = mask_targets(ds.labelmap)
    if dict(fd.default_mask_targets or {}) != targets:
        fd.default_mask_targets = targets
    field_targets = {DISAGREEMENT_FIELD: disagreement_targets(ds.labelmap)} if has_disagreement(snap.layers) else {}
    if dict(fd.mask_targets or {}) != field_targets:
        fd.mask_targets = field_targets
    fd.app_config.color_scheme = fo.ColorScheme(**color_scheme(ds.labelmap))
    # the app opens with gt shown; the pre-labels and the disagreement mask are one tick away in the sidebar (shown
    # together, overlapping layers cannot be told apart). Without an explicit list the app hides every mask field.
    if hasattr(fo, "ActiveFields"):
        fd.app_config.active_fields = fo.ActiveFields(paths=["gt"] if "gt" in snap.layers else fields)
    else:
        log.warning("this FiftyOne has no ActiveFields: tick the mask fields in the app's sidebar to show them")
    _sidebar(fo, fd)
    info["animeparse"] = {"root": str(ds.root), "store": ds.card.name, "labelmap": ds.labelmap.name,
                          "labelmap_sha256": ds.labelmap.sha256, "layers": {layer: layer_field(layer)
                                                                            for layer in snap.layers},
                          "mirror_version": MIRROR_VERSION}
    fd.info = info
    fd.save()
    return fd


def _sidebar(fo: Any, fd: Any) -> None:
    """The QA fields in one expanded sidebar group right after the labels, the sync bookkeeping in a collapsed one
    at the end (by default both would be mixed into one long list of primitives)."""
    qa = ["name", "split", "status", "source", "dup_group", "hair_color", "eye_color", "skin_color",
          "prelabel_layer", "prelabel_score", "miou", "findings",
          "n_errors"]  # the per-class IoUs keep FiftyOne's own "iou" group: one filter per class
    sync = ["store_id", "store_tags", "store_character", "fingerprint"]
    groups = fo.DatasetAppConfig.default_sidebar_groups(fd)
    for group in groups:
        group.paths = [p for p in group.paths if p not in qa and p not in sync]
    at = next((i + 1 for i, g in enumerate(groups) if g.name == "labels"), len(groups))
    groups.insert(at, fo.SidebarGroupDocument(name="animeparse qa", paths=qa, expanded=True))
    groups.append(fo.SidebarGroupDocument(name="animeparse sync", paths=sync, expanded=False))
    fd.app_config.sidebar_groups = groups


def _mask_fields(snap: StoreSnapshot) -> list[str]:
    """The mirror's mask fields: one per selected layer, then ``disagreement`` when gt and a pre-label are."""
    fields = [layer_field(layer) for layer in snap.layers]
    return [*fields, DISAGREEMENT_FIELD] if has_disagreement(snap.layers) else fields


def _remove_stale_copies(fd: Any, copies: Path, snap: StoreSnapshot) -> None:
    """Delete the mask copies no sample of the mirror points at (replaced masks, removed samples)."""
    referenced: set[str] = set()
    for fld in _mask_fields(snap):
        referenced.update(p for p in fd.values(f"{fld}.mask_path") if p)
    for path in stale_files(copies, referenced):
        path.unlink(missing_ok=True)


def _existing_mirror(fo: Any, db: FiftyOneDB, ds: Dataset, name: str) -> Any:
    """The FiftyOne dataset ``name`` that mirrors ``ds``, for the pull commands (which never create one)."""
    if not fo.dataset_exists(name):
        raise AnimeparseError(f"no FiftyOne dataset {name!r} in {db.db_dir}; run 'animeparse view {ds.root} "
                              "--no-launch' first (with the same --db-dir / --name)", path=ds.root)
    fd = fo.load_dataset(name)
    _check_root(fd, ds)
    return fd


def _check_root(fd: Any, ds: Dataset) -> None:
    root = (fd.info or {}).get("animeparse", {}).get("root")
    if root is not None and root != str(ds.root):
        raise AnimeparseError(f"the FiftyOne dataset {fd.name!r} mirrors another store ({root}); pass --name to "
                              "choose another dataset name", path=ds.root)
    if root is None and len(fd):
        raise AnimeparseError(f"the FiftyOne dataset {fd.name!r} was not made by animeparse; pass --name to choose "
                              "another dataset name", path=ds.root)


def _save_views(fo: Any, fd: Any) -> None:
    """The QA saved views, re-saved only when their definition differs (saving bumps the dataset's timestamps)."""
    F = fo.ViewField
    views = {
        "worst pre-labels": fd.exists("miou").sort_by("miou"),
        "validate errors": fd.match(F("n_errors") > 0).sort_by("n_errors", reverse=True),
        "unlabelled": fd.match(F("status").is_in(["unlabeled", "prelabeled"])),
    }
    for vname, view in views.items():
        if fd.has_saved_view(vname) and \
                fd.load_saved_view(vname)._serialize(include_uuids=False) == view._serialize(include_uuids=False):
            continue
        fd.save_view(vname, view, description=SAVED_VIEWS[vname], overwrite=True)
