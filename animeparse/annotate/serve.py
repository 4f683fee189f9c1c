"""``ls serve``: a Label Studio ML backend over HTTP, on the standard library's threading HTTP server.

The protocol is the one Label Studio 1.23.2 speaks (``label_studio/ml/api_connector.py``):

- ``GET /health`` -> ``{"status": "UP", ...}`` (Label Studio checks it with a 1 s timeout before connecting);
- ``POST /setup`` ``{project, schema, hostname, access_token, extra_params}`` -> ``{"model_version": ...}``;
  ``access_token`` is kept in memory for pushing refreshed predictions, never logged or answered back;
- ``POST /predict`` ``{tasks, project, label_config, params: {context, ...}}`` -> ``{"results": [...]}``, one
  prediction per task; with ``params.context`` (the editor's smart marks) an interactive region;
- ``POST /webhook`` (the webhook Label Studio creates for a connected backend, and ``START_TRAINING``), and
  ``POST /train`` (the older training call) -> see :mod:`.learn`;
- ``GET /versions`` -> ``{"versions": [...]}``.

Errors are JSON ``{"error": "..."}`` with a 4xx status (Label Studio shows ``error`` to the user); an unexpected
failure is a 500 with a one-line message, and the server keeps serving. No body is ever logged (tasks carry
image URLs, ``/setup`` carries a token).

The server is a ``ThreadingHTTPServer``: no extra dependency, one thread per request; model calls are serialised
by the backend. It binds 127.0.0.1 unless told otherwise: put a TLS proxy in front before exposing it.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import asdict
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ..errors import AnimeparseError
from .backend import Backend, BackendConfig, BackendError
from .learn import Learner

__all__ = ["MLBackendServer", "make_server", "MAX_BODY"]

log = logging.getLogger(__name__)
MAX_BODY = 256 << 20  # a predict request carries tasks with their annotations (brush RLE): generous, bounded


class MLBackendServer(ThreadingHTTPServer):
    """The HTTP server; ``backend`` and ``learner`` do the work. ``url`` is where Label Studio reaches it."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], backend: Backend, learner: Learner) -> None:
        self.backend = backend
        self.learner = learner
        super().__init__(address, _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def routes(self) -> dict[tuple[str, str], Callable[[Any], dict[str, Any]]]:
        return {("GET", "/health"): lambda _: self.health(), ("GET", "/"): lambda _: self.health(),
                ("POST", "/setup"): self.setup, ("POST", "/predict"): self.backend.predict,
                ("POST", "/webhook"): self.learner.webhook, ("POST", "/train"): self.train,
                ("GET", "/versions"): lambda _: {"versions": [self.backend.model_version]}}

    def health(self) -> dict[str, Any]:
        return {"status": "UP", "model_class": "animeparse", "model_version": self.backend.model_version,
                "learner": asdict(self.learner.state)}

    def setup(self, payload: Any) -> dict[str, Any]:
        if not isinstance(payload, dict):
            raise BackendError("a setup request must be a JSON object")
        hostname, token = payload.get("hostname"), payload.get("access_token")
        self.learner.set_server(hostname if isinstance(hostname, str) else None,
                                token if isinstance(token, str) else None)
        return {"model_version": self.backend.model_version}

    def train(self, payload: Any) -> dict[str, Any]:
        """The older ``/train`` call (all annotated tasks at once): start a retraining round."""
        return {"status": "training" if self.learner.start_training() else "already training"}


class _Handler(BaseHTTPRequestHandler):
    server: MLBackendServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        log.debug("%s %s", self.address_string(), format % args)  # method, path, status: never a body

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        path = self.path.split("?", 1)[0].rstrip("/") or "/"
        try:
            payload = self._body() if method == "POST" else None  # read first: the connection is kept alive
        except BackendError as err:
            self._reply(HTTPStatus(err.status), {"error": str(err)})
            return
        handler = self.server.routes().get((method, path))
        if handler is None:
            known = sorted(p for m, p in self.server.routes() if m == method)
            self._reply(HTTPStatus.NOT_FOUND, {"error": f"no {method} {path} here; this ML backend answers "
                                                        f"{', '.join(known)}"})
            return
        try:
            self._reply(HTTPStatus.OK, handler(payload))
        except BackendError as err:
            log.info("%s %s refused (%s): %s", method, path, err.status, err)
            self._reply(HTTPStatus(err.status), {"error": str(err)})
        except AnimeparseError as err:  # the store or a model refused (a missing parser, say): the fix is named
            log.warning("%s %s: %s", method, path, err)
            self._reply(HTTPStatus.UNPROCESSABLE_ENTITY, {"error": str(err)})
        except Exception as err:  # keep serving; the traceback goes to the log, one line to the caller
            log.exception("%s %s failed", method, path)
            self._reply(HTTPStatus.INTERNAL_SERVER_ERROR,
                        {"error": f"internal error ({type(err).__name__}); see the ls serve log"})

    def _body(self) -> Any:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise BackendError("Content-Length is not a number") from None
        if length > MAX_BODY:
            self.close_connection = True  # the body is not read: this connection cannot carry another request
            raise BackendError(f"request body of {length} bytes is over the {MAX_BODY >> 20} MiB limit", status=413)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw or b"null")
        except (ValueError, UnicodeDecodeError) as err:
            raise BackendError(f"the request body is not JSON ({type(err).__name__} at byte "
                               f"{getattr(err, 'pos', '?')})") from None

    def _reply(self, status: HTTPStatus, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)


def make_server(config: BackendConfig, *, host: str = "127.0.0.1", port: int = 9090) -> MLBackendServer:
    """Load the models and bind the server (port 0: a free port); run it with ``serve_forever()``, stop it with
    ``shutdown()`` then ``server_close()``."""
    backend = Backend(config)
    learner = Learner(config, on_trained=backend.reload_parser)
    server = MLBackendServer((host, port), backend, learner)
    log.info("ML backend for %s on %s (model %s)", backend.root, server.url, backend.model_version)
    return server


def serve_in_thread(server: MLBackendServer) -> threading.Thread:
    """Run ``server`` in a daemon thread (for embedding it in another program); returns the thread."""
    thread = threading.Thread(target=server.serve_forever, name="animeparse-ls-serve", daemon=True)
    thread.start()
    return thread
