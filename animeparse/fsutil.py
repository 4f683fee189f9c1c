"""Crash-safe file writes: write a temp file in the target folder, fsync, then ``os.replace``.

A reader (or a run killed mid-write) sees either the old file or the complete new one, never a partial file.
Temp files carry the ``.tmp`` suffix and a leading dot so a later run can clean up leftovers.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_open", "atomic_write_bytes", "atomic_write_json", "TMP_SUFFIX", "fsync_dir", "sync_all",
           "read_json", "current_umask", "on_read_only_fs", "naming_errors"]

TMP_SUFFIX = ".tmp"
_UMASK = os.umask(0o022)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_open(path: Path, mode: str = "wb", *, fsync: bool = True) -> Iterator[IO[Any]]:
    """Open a temp file beside ``path``; on clean exit fsync and ``os.replace`` it onto ``path``; on error remove it.

    ``fsync=False`` is for bulk writers that make the data durable once per batch with :func:`sync_all`
    (a rename is still atomic for readers and against process crashes)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; give the usual permissions
        with os.fdopen(fd, mode, encoding=None if "b" in mode else "utf-8") as fh:
            yield fh
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(err, OSError) and err.filename is None:
            err.filename = str(path)  # write, flush and fsync errors (a full disk) name no file by themselves
        raise


def atomic_write_bytes(path: Path, data: bytes, *, fsync: bool = True) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_open(path, "wb", fsync=fsync) as fh:
        fh.write(data)


def atomic_write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented UTF-8 JSON (sorted keys: deterministic) atomically."""
    with atomic_open(path, "w") as fh:
        json.dump(data, fh, indent=2, sort_keys=True, ensure_ascii=False)
        fh.write("\n")


@contextlib.contextmanager
def naming_errors(path: Path | str) -> Iterator[None]:
    """Give an ``OSError`` raised inside the block ``path`` as its file name when it has none: write, flush and
    close errors (a full disk, an I/O error) do not say which file they were writing."""
    try:
        yield
    except OSError as err:
        if err.filename is None:
            err.filename = str(path)
        raise


def current_umask() -> int:
    """The process umask (read once at import; animeparse never changes it)."""
    return _UMASK


def on_read_only_fs(path: Path) -> bool:
    """True when ``path`` is on a filesystem mounted read-only (a read-only bind mount, a snapshot, a CD)."""
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def fsync_dir(path: Path) -> None:
    """fsync a directory so a rename inside it survives a power cut (no-op where unsupported)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def sync_all() -> None:
    """Flush every dirty file to disk (one ``sync(2)``): cheaper than an fsync per file for a batch of many."""
    os.sync()


def read_json(path: Path, *, error: type[Exception], what: str = "a JSON document") -> Any:
    """Parse a UTF-8 JSON file (a BOM is allowed); every failure becomes ``error(message, path=path)`` naming the
    problem and the fix. ``what`` names the kind of file for the nesting message."""
    try:
        with open(path, "rb") as fh:
            return json.loads(fh.read().decode("utf-8-sig"))
    except OSError as err:
        raise error(f"cannot be read ({err.strerror or err})", path=path) from err  # type: ignore[call-arg]
    except UnicodeDecodeError as err:
        raise error("is not UTF-8 text; save it as UTF-8 JSON", path=path) from err  # type: ignore[call-arg]
    except json.JSONDecodeError as err:
        raise error(f"is not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})",  # type: ignore[call-arg]
                    path=path) from err
    except RecursionError as err:
        raise error(f"is nested too deeply to be {what}", path=path) from err  # type: ignore[call-arg]
