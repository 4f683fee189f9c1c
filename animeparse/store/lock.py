"""The store's single-writer lock: ``flock`` on ``<store>/.lock`` with the holder's PID written inside.

The kernel drops an ``flock`` when its process dies (even by SIGKILL), so a stale lock from a killed run never
blocks the next one; the PID in the file is only there to name the holder in the error. A forked child (a worker
process) would share the lock and keep the store locked after its parent was killed, so children close their
copy at once (:func:`os.register_at_fork`); only the process that took the lock holds it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
import sys
import weakref
from pathlib import Path

from ..errors import LockError, StoreError

__all__ = ["WriterLock"]


class WriterLock:
    """An exclusive, non-blocking writer lock on a store folder. Use as a context manager or acquire/release."""

    def __init__(self, root: Path) -> None:
        self.path = Path(root) / ".lock"
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock or raise :class:`LockError` naming the holder's PID and command."""
        if self._fd is not None:
            return
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise StoreError(_unwritable(err), path=self.path.parent) from err
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            pid = _parse_pid(holder)
            raise LockError(
                f"another animeparse process is writing to this store (PID {pid if pid else 'unknown'}"
                f"{': ' + holder.split(chr(10), 1)[1].strip() if chr(10) in holder else ''}); wait for it to finish "
                "or stop it, then run again",
                path=self.path.parent,
                pid=pid,
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n{socket.gethostname()} {' '.join(sys.argv)[:200]}\n".encode(), 0)
        self._fd = fd
        _HELD.add(self)

    def release(self) -> None:
        _HELD.discard(self)
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> WriterLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


_HELD: weakref.WeakSet[WriterLock] = weakref.WeakSet()


def _drop_in_child() -> None:
    """In a forked child: close the copies of the held locks' descriptors (closing a copy never unlocks; only
    LOCK_UN or closing every copy does) and forget them, so the child cannot write and never holds the store."""
    for lock in list(_HELD):
        if lock._fd is not None:
            with contextlib.suppress(OSError):
                os.close(lock._fd)
            lock._fd = None
    _HELD.clear()


os.register_at_fork(after_in_child=_drop_in_child)


def _read_holder(fd: int) -> str:
    try:
        return os.pread(fd, 4096, 0).decode("utf-8", "replace")
    except OSError:
        return ""


def _parse_pid(text: str) -> int | None:
    first = text.split("\n", 1)[0].strip()
    return int(first) if first.isdigit() else None


def _unwritable(err: OSError) -> str:
    """Why a writer cannot start, when even the lock file cannot be opened."""
    if err.errno == errno.EROFS:
        why = "the store is on a read-only filesystem"
        fix = "remount it read-write (or copy the store somewhere writable)"
    elif err.errno in (errno.EACCES, errno.EPERM):
        why = "this user may not write to the store"
        fix = "fix the folder's permissions or run as its owner"
    else:
        why = f"the store's lock file cannot be opened ({err.strerror or err})"
        fix = "check the folder"
    return (f"{why}; commands that change the store (ingest, prelabel, split, ls pull, ...) need write access: "
            f"{fix}. Commands that only read it (info, validate, export, stats, view) work as it is")
