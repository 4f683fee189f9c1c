"""A minimal Chrome DevTools Protocol client for the app tests: headless Chromium (Debian's package) driven over its
debugging websocket, spoken with ``wsproto`` (a FiftyOne dependency, through hypercorn), so no browser driver
(Playwright, Selenium) and no browser download is needed.

``Browser(chromium, profile)`` starts Chromium on ``url`` (default ``about:blank``) with
``--remote-debugging-port=0``, reads the port it chose, opens the first page's websocket; :meth:`Browser.call`
sends one command and returns its result (events are dropped);
:meth:`Browser.evaluate` runs JavaScript in the page; :meth:`Browser.screenshot` returns HxWx3 uint8 RGB. Closing
kills Chromium's whole process group.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic", "--hide-scrollbars"]


class Browser:
    def __init__(self, chromium: str, profile: Path, *, url: str = "about:blank",
                 size_wh: tuple[int, int] = (1280, 900)) -> None:
        from wsproto import WSConnection
        from wsproto.connection import ConnectionType
        from wsproto.events import Request

        self._log = open(f"{profile}.log", "w+b")  # noqa: SIM115 - closed in close()
        cmd = [chromium, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0",
               f"--window-size={size_wh[0]},{size_wh[1]}", url]
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        try:
            port = self._port(profile)
            page = next(t for t in self._json(port, "/json/list") if t.get("type") == "page")
            url = page["webSocketDebuggerUrl"]
            host, path = re.match(r"ws://([^/]+)(/.*)", url).groups()  # type: ignore[union-attr]
            self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
            self.ws = WSConnection(ConnectionType.CLIENT)
            self.sock.sendall(self.ws.send(Request(host=host, target=path)))
            self._pending: list[Any] = []
            self._recv_until(lambda e: type(e).__name__ == "AcceptConnection")
        except BaseException:
            self.close()
            raise
        self._id = 0

    def _port(self, profile: Path, timeout: float = 30.0) -> int:
        """Chromium writes the port it picked to ``<profile>/DevToolsActivePort`` (first line)."""
        deadline = time.monotonic() + timeout
        marker = profile / "DevToolsActivePort"
        while time.monotonic() < deadline:
            if marker.exists():
                text = marker.read_text().split("\n")
                if text and text[0].strip().isdigit():
                    return int(text[0])
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        self._log.seek(0)
        raise RuntimeError(f"chromium gave no debugging port: {self._log.read()[-2000:]!r}")

    @staticmethod
    def _json(port: int, path: str) -> Any:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as reply:
                    return json.load(reply)
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def _recv_until(self, done: Any) -> Any:
        from wsproto.events import Message, Ping

        text = ""
        while True:
            for event in self.ws.events():
                if isinstance(event, Ping):
                    self.sock.sendall(self.ws.send(event.response()))
                elif isinstance(event, Message):
                    text += event.data
                    if event.message_finished:
                        msg, text = json.loads(text), ""
                        if done(msg):
                            return msg
                elif done(event):
                    return event
            data = self.sock.recv(1 << 20)
            if not data:
                raise RuntimeError("chromium closed the debugging connection")
            self.ws.receive_data(data)

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        from wsproto.events import TextMessage

        self._id += 1
        ident = self._id
        self.sock.sendall(self.ws.send(TextMessage(data=json.dumps({"id": ident, "method": method,
                                                                    "params": params}))))
        reply = self._recv_until(lambda m: isinstance(m, dict) and m.get("id") == ident)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return dict(reply.get("result", {}))

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises awaited)."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"javascript failed: {result['exceptionDetails']}")
        return result.get("result", {}).get("value")

    def screenshot(self) -> np.ndarray:
        for attempt in range(20):  # "Not attached to an active page" while the page is being swapped: wait
            try:
                data = self.call("Page.captureScreenshot", format="png")["data"]
                break
            except RuntimeError as err:
                if "Not attached" not in str(err) or attempt == 19:
                    raise
                time.sleep(0.5)
        return np.asarray(Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB"))

    def close(self) -> None:
        with contextlib.suppress(OSError, AttributeError):
            self.sock.close()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self._log.close()

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
