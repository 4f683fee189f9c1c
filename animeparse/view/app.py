"""Serve the FiftyOne app on a mirror: a FiftyOne server process that this process starts, waits for and stops.

The server runs as ``python -m fiftyone.server.main`` in its own session (so Ctrl-C in the terminal reaches only
animeparse, which then stops it in order) and talks to the database :class:`~animeparse.view.env.FiftyOneDB` runs,
through ``FIFTYONE_DATABASE_URI``. FiftyOne's own ``launch_app`` would add a service wrapper that outlives a
terminated parent by 30-40 s; here :meth:`AppServer.stop` signals the server's process group and waits for it.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ..errors import AnimeparseError
from .env import FiftyOneDB, port_open, stop_process_group

__all__ = ["AppServer", "serve_app", "dataset_url", "sample_url"]

log = logging.getLogger(__name__)
START_TIMEOUT_S = 120.0  # importing fiftyone and the server on a loaded 2-core machine
STOP_TIMEOUT_S = 15.0  # the server's graceful shutdown takes ~4 s


def dataset_url(base: str, slug: str, *, view: str | None = None) -> str:
    """The app page of a dataset (``view``: a saved view's slug, e.g. ``worst-pre-labels``)."""
    url = f"{base}/datasets/{urllib.parse.quote(slug)}"
    return f"{url}?view={urllib.parse.quote(view)}" if view else url


def sample_url(base: str, slug: str, sample_id: str) -> str:
    """The app page with one sample open (``sample_id``: the FiftyOne sample id, not the store's)."""
    return f"{dataset_url(base, slug)}?id={urllib.parse.quote(sample_id)}"


@dataclass
class AppServer:
    """A running FiftyOne app server. ``url`` is its base URL; ``log`` its stdout/stderr."""

    url: str
    pid: int
    log: Path
    proc: subprocess.Popen[bytes]

    def wait(self) -> int:
        """Block until the server exits (Ctrl-C raises KeyboardInterrupt here); return its exit code."""
        return self.proc.wait()

    def stop(self) -> None:
        """Stop the server's process group (SIGTERM, then SIGKILL) and wait for it."""
        if self.proc.poll() is None:
            log.info("stopping the FiftyOne app server %d", self.pid)
        stop_process_group(self.pid, timeout=STOP_TIMEOUT_S, proc=self.proc)
        self.log.with_suffix(".pid").unlink(missing_ok=True)

    def __enter__(self) -> AppServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_app(db: FiftyOneDB, *, port: int = 5151, address: str = "127.0.0.1",
              timeout: float = START_TIMEOUT_S) -> AppServer:
    """Start the FiftyOne app server on ``address:port`` against ``db`` (open) and wait until it answers.

    Raises AnimeparseError when the port is taken or the server does not come up (with the end of its log).
    """
    probe = "127.0.0.1" if address in ("0.0.0.0", "::", "") else address
    pid_path = db.log_dir / f"app-{port}.pid"
    if port_open(probe, port):
        raise AnimeparseError(f"port {port} on {probe} is in use{_leftover(pid_path, port)}; pass --port with a "
                              "free port")
    log_path = db.log_dir / f"app-{port}.log"
    env = {**os.environ, "FIFTYONE_DATABASE_URI": db.uri, "FIFTYONE_DO_NOT_TRACK":
           os.environ.get("FIFTYONE_DO_NOT_TRACK", "true")}
    env.pop("FIFTYONE_DISABLE_SERVICES", None)
    with open(log_path, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "fiftyone.server.main", "--port", str(port), "--address",
                                 address], stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
    pid_path.write_text(f"{proc.pid}\n", encoding="utf-8")  # names a server orphaned by a killed parent
    server = AppServer(url=f"http://{probe}:{port}", pid=proc.pid, log=log_path, proc=proc)
    deadline = time.monotonic() + timeout
    while not _answers(server.url):
        if proc.poll() is not None or time.monotonic() > deadline:
            server.stop()
            tail = log_path.read_text(errors="replace")[-1500:]
            why = f"exited with code {proc.returncode}" if proc.returncode is not None else \
                f"did not answer within {timeout:.0f} s"
            raise AnimeparseError(f"the FiftyOne app server {why}; its log ({log_path}) ends with:\n{tail}")
        time.sleep(0.25)
    log.info("FiftyOne app server %d on %s", proc.pid, server.url)
    return server


def _leftover(pid_path: Path, port: int) -> str:
    """`` by the FiftyOne app server PID n ...`` when the PID recorded for this port is still that server (one whose
    animeparse process was killed with SIGKILL, say); else a generic hint."""
    try:
        pid = int(pid_path.read_text(encoding="utf-8"))
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return " (another FiftyOne app?)"
    if b"fiftyone.server.main" in cmdline and str(port).encode() in cmdline:
        return f" by a FiftyOne app server animeparse started earlier (PID {pid}); stop it with 'kill {pid}', or"
    return " (another FiftyOne app?)"


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/fiftyone", timeout=2) as reply:
            return "version" in json.loads(reply.read())
    except (urllib.error.URLError, OSError, ValueError):
        return False
