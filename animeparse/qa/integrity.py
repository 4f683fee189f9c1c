"""Integrity: files present, decodable, the right size and mode, and byte-identical to what the manifest recorded;
no files without rows.

Codes (all errors unless said): ``missing_file``, ``bit_rot``, ``corrupt_image``, ``image_size``,
``corrupt_mask``, ``mask_mode``, ``size_mismatch``; store level: ``orphan_file`` (warning).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from ..fsutil import TMP_SUFFIX
from ..store import Dataset
from .config import QAConfig
from .findings import Finding, Severity
from .sample_view import SampleFacts, SampleView

__all__ = ["check_integrity", "check_files"]

E = Severity.ERROR


def check_integrity(view: SampleView, cfg: QAConfig) -> Iterator[Finding]:
    """The image and every mask layer of one sample: present, hashes equal to the manifest's (``samples.file_sha256``,
    ``masks.sha256``), decodable, image size equal to the row's, masks 8-bit P or L at the image's size."""
    s = view.sample
    f = view.image_file
    if f.data is None:
        yield Finding(E, "missing_file", s.id, f"{f.rel} is {f.error}, but the manifest has a row for sample {s.id}; "
                      "restore the file from a backup or ingest the original again", file=f.rel)
    else:
        if f.sha256 != s.file_sha256:
            yield _bit_rot(s.id, f.rel, f.sha256, s.file_sha256, "restore it from a backup or ingest the original "
                                                                  "again")
        if view.image is None:
            yield Finding(E, "corrupt_image", s.id, f"{view.image_error}; restore {f.rel} from a backup or ingest the "
                          "original again", file=f.rel)
        elif view.image.shape[:2] != (s.height, s.width):
            h, w = view.image.shape[:2]
            yield Finding(E, "image_size", s.id, f"{f.rel} decodes to {w}x{h} but the manifest says {s.width}x"
                          f"{s.height}; the file was replaced outside animeparse: restore it from a backup",
                          file=f.rel, data={"size_wh": [w, h], "manifest_wh": [s.width, s.height]})
    for layer, rec in view.masks.items():
        mf = view.mask_file(layer)
        if mf.data is None:
            yield Finding(E, "missing_file", s.id, f"{mf.rel} (layer {layer} of sample {s.id}) is {mf.error}; "
                          "restore it from a backup or import the mask again", file=mf.rel, data={"layer": layer})
            continue
        if mf.sha256 != rec.sha256:
            yield _bit_rot(s.id, mf.rel, mf.sha256, rec.sha256, "restore it from a backup or import the mask again",
                           layer=layer)
        mode = view.mask_mode(layer)
        if mode is not None and mode not in ("P", "L"):
            yield Finding(E, "mask_mode", s.id, f"{mf.rel} is a {mode}-mode PNG; masks must be 8-bit index PNGs "
                          "(P or L mode): re-import it through animeparse (ingest or put_mask) to re-encode it",
                          file=mf.rel, data={"layer": layer, "mode": mode})
        mask = view.mask_of(layer)
        if mask is None:
            if mode is None or mode in ("P", "L"):  # a wrong mode that cannot be read is reported once, above
                yield Finding(E, "corrupt_mask", s.id, f"{view.mask_error(layer)}; restore {mf.rel} from a backup or "
                              "import the mask again", file=mf.rel, data={"layer": layer})
        elif mask.shape != (s.height, s.width):
            h, w = mask.shape
            yield Finding(E, "size_mismatch", s.id, f"mask {mf.rel} is {w}x{h}, image {s.image} is {s.width}x"
                          f"{s.height}; re-export the mask at image size or re-import it with --resize-masks nearest",
                          file=mf.rel, data={"layer": layer, "mask_wh": [w, h], "image_wh": [s.width, s.height]})


def _bit_rot(sid: str, rel: str, got: str | None, expected: str, fix: str, layer: str | None = None) -> Finding:
    data = {"sha256": got, "manifest_sha256": expected} | ({"layer": layer} if layer else {})
    return Finding(E, "bit_rot", sid, f"{rel}: the file's SHA-256 is {str(got)[:12]}... but the manifest recorded "
                   f"{expected[:12]}... (bit rot, or an edit outside animeparse); {fix}", file=rel, data=data)


def check_files(ds: Dataset, cfg: QAConfig, facts: Mapping[str, SampleFacts]) -> Iterator[Finding]:
    """Orphans: files under images/ and masks/ that no manifest row (nor the replaced-mask history) names.
    A writer's crash leaves them; hidden temp files (``.*.tmp``) are left to the writer's own clean-up."""
    images, masks = ds.known_paths()
    found: list[str] = []
    if (ds.root / "images").is_dir():
        found += [f"images/{p.name}" for p in (ds.root / "images").iterdir() if p.is_file()]
    if (ds.root / "masks").is_dir():
        found += [p.relative_to(ds.root).as_posix() for p in (ds.root / "masks").rglob("*") if p.is_file()]
    for rel in sorted(found):
        name = rel.rsplit("/", 1)[-1]
        if name.startswith(".") and name.endswith(TMP_SUFFIX):
            continue
        if rel not in images and rel not in masks:
            yield Finding(Severity.WARNING, "orphan_file", None,
                          f"{rel} has no row in the manifest (left by an interrupted or outside write); delete it, "
                          "or open the store for writing once (any ingest), which removes orphan files", file=rel)
