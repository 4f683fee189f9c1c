"""The model cache: official segment-anything checkpoints by name, downloaded with resume and SHA-256 checks.

``fetch_model`` downloads into ``<cache>/<file>.part``, resuming a partial file with an HTTP Range request, checks
the size and SHA-256 against the table, and only then renames it to ``<cache>/<file>``. A mismatch removes the
partial file and raises: a corrupt or substituted file is never used.
The cache folder: ``--cache-dir``, else ``$ANIMEPARSE_CACHE_DIR``, else ``$XDG_CACHE_HOME/animeparse/models``
(``~/.cache/animeparse/models``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import AnimeparseError

__all__ = ["ModelSpec", "MODELS", "CachedModel", "default_cache_dir", "fetch_model", "list_models", "cached_path",
           "check_cached"]

log = logging.getLogger(__name__)
Progress = Callable[[int, int | None], None]
_CHUNK = 1 << 20


@dataclass(frozen=True)
class ModelSpec:
    """A downloadable checkpoint: where it is, its exact size in bytes and SHA-256, and what it is."""

    name: str
    url: str
    sha256: str
    size: int
    arch: str
    description: str = ""

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]


MODELS: dict[str, ModelSpec] = {
    "sam-vit-h": ModelSpec("sam-vit-h", "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_h_4b8939.pth",
                           "a7bf3b02f3ebf1267aba913ff637d9a2d5c33d3173bb679e46d9f338c26f262e", 2_564_550_879,
                           "vit_h", "segment-anything ViT-H (best masks; ~2.4 GiB, GPU advised)"),
    "sam-vit-l": ModelSpec("sam-vit-l", "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_l_0b3195.pth",
                           "3adcc4315b642a4d2101128f611684e8734c41232a17c648ed1693702a49a622", 1_249_524_607,
                           "vit_l", "segment-anything ViT-L (~1.2 GiB)"),
    "sam-vit-b": ModelSpec("sam-vit-b", "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth",
                           "ec2df62732614e57411cdcf32a23ffdf28910380d03139ee0f4fcbe91eb8c912", 375_042_383,
                           "vit_b", "segment-anything ViT-B (fastest; ~360 MiB)"),
}


@dataclass(frozen=True)
class CachedModel:
    """A row of ``models list``: ``state`` is ``present``, ``partial`` (a ``.part`` file) or ``absent``."""

    name: str
    arch: str
    path: Path
    state: str
    bytes_on_disk: int
    size: int
    sha256: str


def default_cache_dir() -> Path:
    env = os.environ.get("ANIMEPARSE_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "animeparse" / "models"


def _spec(name: str) -> ModelSpec:
    if name not in MODELS:
        raise AnimeparseError(f"unknown model {name!r}; known: {', '.join(MODELS)}")
    return MODELS[name]


def cached_path(name: str, cache_dir: Path | None = None) -> Path | None:
    """The checkpoint file of a fetched model, or None when it is not (completely) there."""
    path = (cache_dir or default_cache_dir()) / _spec(name).filename
    return path if path.is_file() else None


def check_cached(name: str, path: Path) -> None:
    """Refuse a cached checkpoint whose size or SHA-256 is not the table's (a file changed after its fetch is
    never used); the file is kept: ``models fetch`` verifies it again, removes it and downloads it anew."""
    from .device import file_sha256

    spec = _spec(name)
    size = path.stat().st_size
    sha = file_sha256(path) if size == spec.size else None  # a wrong size needs no hashing
    if sha != spec.sha256:
        got = f"{size} bytes with SHA-256 {sha}" if sha else f"{size} bytes"
        raise AnimeparseError(f"cached {spec.name} is {got}, the published checkpoint is {spec.size} bytes with "
                              f"SHA-256 {spec.sha256}: the file changed after it was fetched; refused. Run "
                              f"`animeparse models fetch {spec.name}` (it removes the file and downloads it again)",
                              path=path)


def list_models(cache_dir: Path | None = None) -> list[CachedModel]:
    """Every known model with what the cache holds of it (sizes only: hashing gigabytes is left to fetch)."""
    folder = cache_dir or default_cache_dir()
    rows = []
    for spec in MODELS.values():
        path, part = folder / spec.filename, folder / (spec.filename + ".part")
        if path.is_file():
            state, size = "present", path.stat().st_size
        elif part.is_file():
            state, size = "partial", part.stat().st_size
        else:
            state, size = "absent", 0
        rows.append(CachedModel(spec.name, spec.arch, path, state, size, spec.size, spec.sha256))
    return rows


def fetch_model(model: str | ModelSpec, *, cache_dir: Path | None = None, url: str | None = None,
                progress: Progress | None = None, timeout: float = 60.0) -> Path:
    """Download a model into the cache (resuming a ``.part`` file) and verify it; return the final path.

    ``model``: a name of :data:`MODELS` or a :class:`ModelSpec`; ``url``: a mirror to download from instead (the
    size and SHA-256 must still match). An existing final file is verified, not downloaded again.
    ``progress(bytes_done, bytes_total)`` is called as data arrives. Raises AnimeparseError on a network error
    (the ``.part`` file stays, so the next fetch resumes) or a size/checksum mismatch (the file is removed).
    """
    spec = model if isinstance(model, ModelSpec) else _spec(model)
    folder = cache_dir or default_cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    final, part = folder / spec.filename, folder / (spec.filename + ".part")
    if final.is_file():
        _verify(final, spec)
        return final
    digest = hashlib.sha256()
    done = part.stat().st_size if part.is_file() else 0
    if done > spec.size:
        part.unlink()
        done = 0
    if done:
        with open(part, "rb") as fh:  # the resumed hash must cover the bytes already there
            while block := fh.read(_CHUNK):
                digest.update(block)
    if done < spec.size:
        done, digest = _download(url or spec.url, part, done, digest, spec, progress, timeout)
    if done != spec.size or digest.hexdigest() != spec.sha256:
        part.unlink(missing_ok=True)
        raise AnimeparseError(
            f"download of {spec.name} does not match the published checkpoint: got {done} bytes with SHA-256 "
            f"{digest.hexdigest()}, expected {spec.size} bytes with SHA-256 {spec.sha256}; the file was removed. "
            f"Fetch it again; if this repeats, the server ({url or spec.url}) serves another file", path=part)
    os.replace(part, final)
    log.info("fetched %s -> %s", spec.name, final)
    return final


def _download(url: str, part: Path, done: int, digest: Any, spec: ModelSpec, progress: Progress | None,
              timeout: float) -> tuple[int, Any]:
    """Append the rest of ``url`` to ``part`` from byte ``done``; returns (bytes now in ``part``, their hash)."""
    request = urllib.request.Request(url, headers={"User-Agent": "animeparse"})
    if done:
        request.add_header("Range", f"bytes={done}-")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status = getattr(response, "status", 200)
            if done and status != 206:
                # the server ignored the Range header: start over rather than append a second copy
                log.warning("%s does not support resuming; downloading %s from the start", url, spec.name)
                done, mode, digest = 0, "wb", hashlib.sha256()
            else:
                mode = "ab" if done else "wb"
            with open(part, mode) as fh:
                while block := response.read(_CHUNK):
                    fh.write(block)
                    digest.update(block)
                    done += len(block)
                    if progress is not None:
                        progress(done, spec.size)
                    if done > spec.size:
                        break
                fh.flush()
                os.fsync(fh.fileno())
    except urllib.error.HTTPError as err:
        if err.code == 416 and done:  # range not satisfiable: the .part is already complete
            return done, digest
        raise AnimeparseError(f"download of {spec.name} failed: HTTP {err.code} {err.reason} from {url}; "
                              "run the fetch again to resume", path=part) from err
    except (urllib.error.URLError, OSError, TimeoutError) as err:
        reason = getattr(err, "reason", err)
        raise AnimeparseError(f"download of {spec.name} interrupted ({reason}) after {done} of {spec.size} bytes; "
                              "run the fetch again to resume", path=part) from err
    return done, digest


def _verify(path: Path, spec: ModelSpec) -> None:
    """Refuse (and remove) a cached file whose size or SHA-256 is not the table's."""
    from .device import file_sha256

    size = path.stat().st_size
    sha = file_sha256(path)
    if size != spec.size or sha != spec.sha256:
        path.unlink(missing_ok=True)
        raise AnimeparseError(f"cached {spec.name} was {size} bytes with SHA-256 {sha}, expected {spec.size} bytes "
                              f"with {spec.sha256}; it was removed: fetch it again", path=path)
