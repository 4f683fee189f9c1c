"""Connection errors are one line with the fix, and the token never shows (output, logs, repr), via a tiny fake
HTTP server that answers like Label Studio."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from click.testing import CliRunner

from animeparse.annotate import Connection, LabelStudioError
from animeparse.cli.main import cli

from ..conftest import require

require("label_studio_sdk", extra="labelstudio")

GOOD = "a1" * 20
BAD = "f00d" * 10


class _Fake(BaseHTTPRequestHandler):
    """401 for any token but GOOD; with GOOD, whoami answers and everything else is a 500 that echoes the
    request's Authorization header (as a careless proxy might), to check that messages scrub it."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        auth = self.headers.get("Authorization", "")
        if auth != f"Token {GOOD}":
            self._reply(401, {"status_code": 401, "detail": "Invalid token."})
        elif self.path.startswith("/api/current-user/whoami"):
            self._reply(200, {"id": 1, "email": "a@example.com", "username": "a"})
        else:
            self._reply(500, {"detail": f"upstream failed for header {auth}"})

    def _reply(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:  # keep pytest output clean
        pass


@pytest.fixture()
def fake_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Fake)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture()
def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_401_names_the_fix_without_the_token(fake_url, caplog):
    caplog.set_level(logging.DEBUG)
    with pytest.raises(LabelStudioError) as info:
        Connection.open(fake_url, BAD)
    message = str(info.value)
    assert "401" in message and "--token" in message and "LABEL_STUDIO_API_KEY" in message
    assert "\n" not in message and BAD not in message and BAD not in caplog.text


def test_unreachable_server(closed_port_url):
    with pytest.raises(LabelStudioError, match=r"cannot reach Label Studio at http://127\.0\.0\.1:\d+ .*--url"):
        Connection.open(closed_port_url, GOOD)


def test_missing_token(monkeypatch, fake_url):
    monkeypatch.delenv("LABEL_STUDIO_API_KEY", raising=False)
    with pytest.raises(LabelStudioError, match="no Label Studio API token.*LABEL_STUDIO_API_KEY"):
        Connection.open(fake_url)


def test_server_errors_are_quoted_with_the_token_scrubbed(fake_url, caplog):
    caplog.set_level(logging.DEBUG)
    conn = Connection.open(fake_url + "/", GOOD)
    assert GOOD not in repr(conn) and GOOD not in str(vars(conn).get("url"))
    with pytest.raises(LabelStudioError) as info:
        conn.find_project("faces")
    message = str(info.value)
    assert "answered 500 when asked to list projects" in message and "Token ***" in message
    assert GOOD not in message and GOOD not in caplog.text


def test_credentials_in_the_url_are_not_repeated(closed_port_url):
    url = closed_port_url.replace("http://", "http://user:secret@")
    with pytest.raises(LabelStudioError) as info:
        Connection.open(url, GOOD)
    assert "secret" not in str(info.value)


@pytest.mark.parametrize("command", ["push", "pull"])
def test_cli_errors_are_one_line_and_never_show_the_token(command, fake_url, store, caplog):
    caplog.set_level(logging.DEBUG)
    args = ["ls", command, str(store.root), "--project", "p", "--url", fake_url]
    result = CliRunner().invoke(cli, args, env={"LABEL_STUDIO_API_KEY": BAD})
    assert result.exit_code == 1
    assert result.output.startswith("Error: ") and len(result.output.strip().splitlines()) == 1
    assert "401" in result.output and BAD not in result.output
    debug = CliRunner().invoke(cli, ["-vv", *args], env={"LABEL_STUDIO_API_KEY": BAD})  # httpx/SDK debug logs too
    assert debug.exit_code == 1 and "DEBUG" in debug.output
    assert BAD not in debug.output and BAD not in caplog.text
    help_text = CliRunner().invoke(cli, ["ls", command, "--help"], env={"LABEL_STUDIO_API_KEY": BAD}).output
    assert "LABEL_STUDIO_API_KEY" in help_text and BAD not in help_text


class _Dying(_Fake):
    """Answers whoami; then, like a server killed mid-request, closes the connection on every other request
    without a reply (``/api/projects``), or answers too late (``/api/tasks``)."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path.startswith("/api/current-user/whoami"):
            return super().do_GET()
        if self.path.startswith("/api/tasks"):
            import time

            time.sleep(1.5)
            return super().do_GET()
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)
        return None


@pytest.fixture()
def dying_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Dying)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_each_network_failure_is_one_message_with_its_fix(dying_url, closed_port_url):
    conn = Connection.open(dying_url, GOOD, timeout=0.5)
    with pytest.raises(LabelStudioError) as broke:
        conn.find_project("faces")
    message = str(broke.value)
    assert message.startswith(f"the connection to Label Studio at {dying_url} broke when asked to list projects")
    assert "RemoteProtocolError" in message and "run the same animeparse ls command again" in message
    with pytest.raises(LabelStudioError) as slow:
        conn.tasks(1)
    assert "did not answer in time when asked to list tasks" in str(slow.value)
    assert "run the same animeparse ls command again" in str(slow.value)
    with pytest.raises(LabelStudioError) as down:
        Connection.open(closed_port_url, GOOD)
    port = closed_port_url.rsplit(":", 1)[1]
    # the hint works for a pip install: no script of the clone needed
    assert f"pip install label-studio && label-studio start --port {port}" in str(down.value)
    for err in (broke.value, slow.value, down.value):
        assert "\n" not in str(err) and GOOD not in str(err)


def test_cli_server_dying_mid_request_is_one_clean_line(dying_url, store):
    store.close()  # the fixture holds the writer lock; pull takes it
    args = ["ls", "pull", str(store.root), "--project", "faces", "--url", dying_url]
    result = CliRunner().invoke(cli, args, env={"LABEL_STUDIO_API_KEY": GOOD})
    assert result.exit_code == 1
    assert result.output.startswith("Error: the connection to Label Studio") and "\r" not in result.output
    assert len(result.output.strip().splitlines()) == 1 and "again" in result.output


def test_project_help_says_what_each_command_does_with_it():
    push = CliRunner().invoke(cli, ["ls", "push", "--help"]).output
    pull = CliRunner().invoke(cli, ["ls", "pull", "--help"]).output
    assert "created (with the store's labelling config) when missing" in " ".join(push.split())
    assert "created" not in pull.split("--project", 1)[1].split("--", 1)[0]
    assert "must exist" in " ".join(pull.split())
