"""Secrets: the Label Studio API token never appears in what ``animeparse ls`` prints or logs (``-vv``), in its
error messages, run records, ``--json`` / ``--report`` files, or any file of the store.

Without a server: the server is down, answers errors, or quotes the request's headers back in its replies. With the
real server (the session's one server of ``tests/annotate/conftest.py``, shared by importing its fixture): a full
push, annotate, pull round trip, then ``info --json``, ``validate --json`` and a wrong URL, all searched.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from animeparse import Dataset, load_labelmap
from animeparse.annotate import Connection, LabelStudioError
from animeparse.annotate.client import TOKEN_ENV, URL_ENV
from animeparse.cli.main import cli
from animeparse.demo.synth import generate_face
from animeparse.formats.lsrle import encode_rle
from animeparse.store import MaskInput

from ..annotate.conftest import ls_server  # noqa: F401 - the session's one server, shared (see its docstring)
from ..conftest import REPO, require

require("label_studio_sdk", extra="labelstudio")

TOKEN = "5ecre7" + "a1b2c3d4e5f6" * 3  # 42 characters no other text here contains


def leaks(text: str | bytes, token: str = TOKEN) -> list[str]:
    """Which forms of the token ``text`` holds: the whole token, its first 8 characters."""
    data = text.encode() if isinstance(text, str) else text
    return [form for form, needle in (("token", token), ("first 8", token[:8])) if needle.encode() in data]


def store_leaks(root: Path, token: str = TOKEN) -> dict[str, list[str]]:
    """Every file under the store (manifest, its -wal, card, runs/, masks ...) searched as bytes."""
    return {str(p.relative_to(root)): found for p in sorted(root.rglob("*")) if p.is_file()
            for found in [leaks(p.read_bytes(), token)] if found}


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


def run_cli(*args: str, env: dict[str, str] | None = None, child: bool = False) -> Ran:
    """``animeparse -vv ARGS`` with debug logging; ``child``: in a child process (``python -m animeparse``), so
    everything it writes is seen, tracebacks included; else in this process (CliRunner: faster)."""
    env = {TOKEN_ENV: "", URL_ENV: "", **(env or {})}
    if child:
        base = {k: v for k, v in os.environ.items() if k not in env}
        done = subprocess.run([sys.executable, "-m", "animeparse", "-vv", *args], capture_output=True, text=True,
                              env={**base, **{k: v for k, v in env.items() if v}}, cwd=REPO, timeout=120)
        return Ran(done.returncode, done.stdout, done.stderr)
    result = CliRunner().invoke(cli, ["-vv", *args], env={k: v or None for k, v in env.items()})
    try:
        if result.exception and not isinstance(result.exception, SystemExit):
            trace = "".join(traceback.format_exception(result.exception))
            return Ran(result.exit_code, result.stdout, result.stderr + trace)
        return Ran(result.exit_code, result.stdout, result.stderr)
    finally:
        logging.basicConfig(force=True, handlers=[logging.NullHandler()])  # drop the handler on CliRunner's stream


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("secrets") / "ds"
    Dataset.create(root, labelmap=load_labelmap("danbooru-parsing")).close()
    return root


class _Echo(BaseHTTPRequestHandler):
    """A hostile server: knows the user, then answers every request with an error that quotes the request's
    headers, Authorization included, as JSON ``detail`` and ``validation_errors`` or as plain text; every reply
    also carries the Authorization header back as a response header (which httpcore logs at debug level)."""

    status = 500
    plain = False

    def _answer(self) -> None:
        # Authorization first: messages quote the start of a reply
        ordered = sorted(self.headers.items(), key=lambda kv: kv[0] != "Authorization")
        headers = "; ".join(f"{k}: {v}" for k, v in ordered)
        if self.path.rstrip("/").endswith("api/current-user/whoami") and self.status != 401:
            status, body = 200, json.dumps({"id": 1, "email": "a@example.com", "username": "a"})
        elif self.plain:
            status, body = self.status, f"<html>error; you sent {headers}</html>"
        else:
            status, body = self.status, json.dumps({"detail": f"you sent {headers}",
                                                    "validation_errors": {"auth": [self.headers["Authorization"]]}})
        data = body.encode()
        self.send_response(status)
        self.send_header("X-Echo-Authorization", self.headers["Authorization"])  # -vv logs response headers
        self.send_header("Content-Type", "text/html" if self.plain and status != 200 else "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_DELETE = _answer

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def echo_server(status: int, plain: bool) -> Iterator[str]:
    handler = type("Echo", (_Echo,), {"status": status, "plain": plain})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(("command", "via", "child"), [("push", "env", True), ("pull", "option", False)],
                         ids=["push-env-process", "pull-option"])
def test_server_down_error_does_not_show_the_token(store, command, via, child):
    """Connection refused (the SDK retries twice first). The URL carries the token as a password too, as when
    one is pasted into --url: redact_url drops it from every message."""
    url = f"http://apikey:{TOKEN}@127.0.0.1:{free_port()}"  # nothing listens there
    args = ["ls", command, str(store), "--project", "p", "--url", url]
    env = {}
    if via == "env":
        env[TOKEN_ENV] = TOKEN
    else:
        args += ["--token", TOKEN]
    result = run_cli(*args, env=env, child=child)
    assert result.returncode == 1, result.stderr
    assert "cannot reach Label Studio" in result.stderr and "Traceback" not in result.stderr
    assert leaks(result.stdout + result.stderr) == []
    assert store_leaks(store) == {}


@pytest.mark.parametrize("command", ["push", "pull"])
@pytest.mark.parametrize(("status", "plain"), [(400, False), (403, True)], ids=["400-json", "403-text"])
def test_error_replies_quoting_the_token_are_scrubbed(store, command, status, plain):
    with echo_server(status, plain) as url:
        result = run_cli("ls", command, str(store), "--project", "p", "--url", url, env={TOKEN_ENV: TOKEN})
    assert result.returncode == 1, result.stderr
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("Error: ") and "Label Studio at" in error
    assert "***" in error or "(403)" in error  # the quoted headers are there, with the token blanked
    assert leaks(result.stdout + result.stderr) == []
    assert store_leaks(store) == {}


def test_library_errors_and_repr_do_not_show_the_token():
    """A 500 (retried by the SDK, then quoted) through the library: the error, its args and the connection's repr;
    the SDK's own exception is kept out of the chain (``from None``), so a traceback cannot show it either."""
    with echo_server(500, False) as url:
        conn = Connection.open(url, TOKEN)
        with pytest.raises(LabelStudioError) as err:
            conn.project_titles()
    assert leaks(repr(conn)) == [] and leaks(conn.url) == []
    assert leaks(str(err.value)) == [] and leaks(repr(err.value.args)) == []
    assert err.value.__cause__ is None and err.value.__suppress_context__
    assert leaks("".join(traceback.format_exception(err.value))) == []


def test_refused_token_is_not_echoed_either(store):
    """A 401 whose reply quotes the token: the refused token is a secret too (often a typo of the right one)."""
    with echo_server(401, False) as url:
        result = run_cli("ls", "pull", str(store), "--project", "p", "--url", url, "--token", TOKEN, child=True)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert leaks(result.stdout + result.stderr) == []


# -- against the real server ------------------------------------------------------------------------------------
def brush_results(mask: np.ndarray, labelmap) -> list[dict]:
    """An annotator's brush results for a mask: one region per class, alpha 255 inside."""
    h, w = mask.shape
    return [{"from_name": "label", "to_name": "image", "type": "brushlabels", "original_width": w,
             "original_height": h, "image_rotation": 0,
             "value": {"format": "rle", "rle": encode_rle(np.where(mask == c, 255, 0).astype(np.uint8)),
                       "brushlabels": [labelmap.name_of(int(c))]}} for c in np.unique(mask) if c != 0]


def test_token_is_nowhere_after_a_full_round_trip(ls_server, tmp_path):  # noqa: F811 - the imported fixture
    """Push (token from the environment), annotate through the API, pull (``--token``, ``--report``), ``info
    --json``, ``validate --json``, a pull from a wrong URL path: ``animeparse -vv`` child processes. Their output,
    every file of the store as bytes (manifest and -wal: run records, events, provenance), the JSON files and the
    runs/events/masks rows as SQLite returns them hold neither the token nor its first 8 characters."""
    token, url = ls_server.token, ls_server.url
    labelmap = load_labelmap("danbooru-parsing")
    root = tmp_path / "ds"
    truth = {}
    with Dataset.create(root, labelmap=labelmap) as ds:
        for i in range(3):
            image, mask = generate_face(23, i, size=48)
            Image.fromarray(image).save(tmp_path / f"face{i}.png")
            sample, _ = ds.add_sample(tmp_path / f"face{i}.png")
            ds.put_mask(sample.id, "prelabel/run1", MaskInput(mask, origin={"kind": "machine", "run": "run1"}))
            truth[sample.id] = mask

    outputs: dict[str, str] = {}
    push = run_cli("ls", "push", str(root), "--project", "secrets", "--url", url, env={TOKEN_ENV: token}, child=True)
    assert push.returncode == 0, push.stderr
    assert "DEBUG" in push.stderr and "HTTP Request" in push.stderr  # -vv did log the requests
    outputs["push"] = push.stdout + push.stderr

    conn = Connection.open(url, token)
    project = conn.find_project("secrets")
    for task in conn.tasks(project.id):
        conn._client.annotations.create(task.id, result=brush_results(truth[task.data["sample_id"]], labelmap),
                                        was_cancelled=False)

    report = tmp_path / "pull.json"
    pull = run_cli("ls", "pull", str(root), "--project", "secrets", "--url", url, "--token", token,
                   "--report", str(report), child=True)
    assert pull.returncode == 0, pull.stderr
    outputs["pull"] = pull.stdout + pull.stderr
    with Dataset.open(root) as ds:
        assert all(np.array_equal(ds.read_mask(sid, "gt"), mask) for sid, mask in truth.items())
        assert [r.kind for r in ds.runs()].count("ls-pull") == 1

    qa = tmp_path / "qa.json"
    for name, args in (("info", ("info", str(root), "--json")),
                       ("validate", ("validate", str(root), "--json", str(qa), "--workers", "0")),
                       ("wrong url", ("ls", "pull", str(root), "--project", "secrets", "--url",
                                      url + "/no/such/path"))):
        ran = run_cli(*args, env={TOKEN_ENV: token}, child=True)
        outputs[name] = ran.stdout + ran.stderr
    assert "Traceback" not in outputs["wrong url"] and "Error: " in outputs["wrong url"]

    found = {name: hits for name, text in outputs.items() if (hits := leaks(text, token))}
    files = [*sorted(p for p in root.rglob("*") if p.is_file()), report, qa]
    found |= {str(p): hits for p in files if (hits := leaks(p.read_bytes(), token))}
    db = sqlite3.connect(f"file:{root / 'manifest.sqlite'}?mode=ro", uri=True)
    try:
        rows = [repr(r) for table in ("runs", "events", "masks") for r in db.execute(f"SELECT * FROM {table}")]
    finally:
        db.close()
    assert any("ls-pull" in r for r in rows)  # the pull's run record is among them
    hits = leaks("\n".join(rows), token)
    if hits:
        found["manifest rows"] = hits
    assert found == {}
    assert len(files) > 10  # the search saw the store: images, masks, manifest, card, label map, reports
