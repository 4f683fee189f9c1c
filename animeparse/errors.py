"""The one exception hierarchy of animeparse.

Every error a user can cause is an :class:`AnimeparseError`; its message names the file or sample and the fix.
The CLI turns it into one line on stderr and exit code 1.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "AnimeparseError",
    "FormatError",
    "LabelMapError",
    "StoreError",
    "LockError",
    "MissingDependencyError",
]


class AnimeparseError(Exception):
    """Base class. ``path`` and ``sample_id`` give the context when known."""

    def __init__(self, message: str, *, path: Path | str | None = None, sample_id: str | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.sample_id = sample_id
        super().__init__(message)

    def __str__(self) -> str:
        message = super().__str__()
        if self.path is not None and str(self.path) not in message:
            return f"{self.path}: {message}"
        return message


class FormatError(AnimeparseError):
    """A file could not be read or is not what its format promises (decode, size, values)."""


class LabelMapError(AnimeparseError):
    """A label map is invalid, or ids/names do not match the dataset's locked map."""


class StoreError(AnimeparseError):
    """The dataset store is missing, damaged, of an unknown version, or an operation on it is refused."""


class LockError(StoreError):
    """Another process holds the store's writer lock. ``pid`` is the holder."""

    def __init__(self, message: str, *, path: Path | str | None = None, pid: int | None = None) -> None:
        self.pid = pid
        super().__init__(message, path=path)


class MissingDependencyError(AnimeparseError):
    """An optional dependency is not installed; the message gives the ``pip install 'animeparse[extra]'`` line."""

    def __init__(self, module: str, extra: str) -> None:
        self.module = module
        self.extra = extra
        super().__init__(
            f"this feature needs the Python package {module!r}, which is not installed; "
            f"install it with: pip install 'animeparse[{extra}]'"
        )
