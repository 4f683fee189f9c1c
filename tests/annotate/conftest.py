"""A real Label Studio server for the round-trip tests, started once per test session.

``scripts/label-studio-local.sh --install-only`` makes ``<repo>/.cache/ls-venv`` (label-studio pins many packages,
so it never shares the project's venv) on first use; the same script then runs the server on 127.0.0.1, a free
port and a temp data dir, with an admin user and a legacy API token set before its first start. The server runs
in its own process group, which teardown kills (TERM, then KILL) and checks is gone.

Other test packages use the same server by importing the fixture (``from tests.annotate.conftest import
ls_server``): however many packages ask for it, one server runs per session, stopped after the last user.
:func:`stop_server` and :func:`start_server` stop it and start it again on the same port, data dir and token (the
fault tests stop it in the middle of a pull).
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ..conftest import REPO

SCRIPT = REPO / "scripts" / "label-studio-local.sh"
INSTALL_TIMEOUT_S = 1200
START_TIMEOUT_S = 300  # about 50 s cold on 2 cores (database migrations on the first start)
_TIMINGS: dict[str, float] = {}  # shown at the end of the run: the server's share of the suite's time


@dataclass(frozen=True)
class LabelStudioServer:
    url: str
    token: str
    files_root: Path  # LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT: stores made under it can use --images local-files
    log: Path
    install_s: float
    start_s: float


def _unavailable(message: str) -> None:
    """Under CI a missing server is a failure; on a developer machine (offline, say) the tests skip."""
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as reply:
            return reply.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Kill the server's process group (the script execs label-studio, which may fork workers) and reap it."""
    try:
        pgid = os.getpgid(proc.pid)
    except ProcessLookupError:
        return
    for sig, wait_s in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            proc.poll()
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)
    proc.wait(timeout=10)


@dataclass
class _Running:
    """The server process behind a LabelStudioServer, and how to start it again."""

    proc: subprocess.Popen[bytes] | None
    env: dict[str, str]
    users: int = 0


_RUNNING: dict[str, _Running] = {}  # url -> the process: one server per session, however many fixtures use it
_SHARED: list[LabelStudioServer] = []


def _launch(env: dict[str, str], log: Path, url: str, *, mode: str = "wb") -> subprocess.Popen[bytes]:
    """Start the script in its own process group and wait until the server answers /health."""
    t1 = time.monotonic()
    with open(log, mode) as log_fh:
        proc = subprocess.Popen(["bash", str(SCRIPT)], env=env, stdout=log_fh, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        while not _healthy(url):
            if proc.poll() is not None:
                pytest.fail(f"Label Studio exited with {proc.returncode}: {log.read_text(errors='replace')[-3000:]}")
            if time.monotonic() - t1 > START_TIMEOUT_S:
                pytest.fail(f"Label Studio not healthy after {START_TIMEOUT_S} s: "
                            f"{log.read_text(errors='replace')[-3000:]}")
            time.sleep(1)
    except BaseException:
        _stop(proc)
        raise
    return proc


def stop_server(server: LabelStudioServer) -> None:
    """Stop the server (its whole process group) and check it is gone; :func:`start_server` brings it back."""
    running = _RUNNING[server.url]
    if running.proc is not None:
        _stop(running.proc)
        running.proc = None


def start_server(server: LabelStudioServer) -> float:
    """Start a stopped server again (same port, data dir, token); return the seconds it took to be healthy."""
    running = _RUNNING[server.url]
    if running.proc is not None:
        return 0.0
    t0 = time.monotonic()
    running.proc = _launch(running.env, server.log, server.url, mode="ab")
    return time.monotonic() - t0


@pytest.fixture(scope="session")
def ls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabelStudioServer]:
    if _SHARED:  # already started for another test package in this session
        server = _SHARED[0]
        _RUNNING[server.url].users += 1
        try:
            yield server
        finally:
            _release(server)
        return
    t0 = time.monotonic()
    try:
        install = subprocess.run(["bash", str(SCRIPT), "--install-only"], capture_output=True, text=True,
                                 timeout=INSTALL_TIMEOUT_S, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        _unavailable(f"installing label-studio took over {INSTALL_TIMEOUT_S} s")
    if install.returncode != 0:
        _unavailable(f"label-studio could not be installed: {install.stderr[-2000:]}")
    install_s = time.monotonic() - t0

    base = tmp_path_factory.mktemp("label-studio")
    files_root = tmp_path_factory.getbasetemp()
    token = secrets.token_hex(20)
    port = _free_port()
    env = {**os.environ, "LS_DATA_DIR": str(base / "data"), "LS_PORT": str(port), "LS_HOST": "127.0.0.1",
           "LS_FILES_ROOT": str(files_root), "LABEL_STUDIO_USERNAME": "annotator@example.com",
           "LABEL_STUDIO_PASSWORD": secrets.token_hex(12), "LABEL_STUDIO_USER_TOKEN": token}
    log = base / "server.log"
    url = f"http://127.0.0.1:{port}"
    t1 = time.monotonic()
    proc = _launch(env, log, url)
    _TIMINGS.update(install_s=install_s, start_s=time.monotonic() - t1)
    server = LabelStudioServer(url=url, token=token, files_root=files_root, log=log, install_s=install_s,
                               start_s=_TIMINGS["start_s"])
    _RUNNING[url] = _Running(proc=proc, env=env, users=1)
    _SHARED.append(server)
    try:
        yield server
    finally:
        _release(server)


def _release(server: LabelStudioServer) -> None:
    running = _RUNNING[server.url]
    running.users -= 1
    if running.users <= 0:
        stop_server(server)
        del _RUNNING[server.url]
        _SHARED.clear()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _TIMINGS:
        terminalreporter.write_line(f"label-studio server: install/check {_TIMINGS['install_s']:.0f} s, start "
                                    f"{_TIMINGS['start_s']:.0f} s")
