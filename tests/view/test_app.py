"""The FiftyOne app on a mirror, in a real headless Chromium driven over the DevTools protocol (tests/view/cdp.py):
the sample page shows gt in the label map's colours, and keeps them through any toggle of the mask layers (issue
20: with the old RGB masks one untick + tick repainted every mask in one flat colour until a reload); the pre-label
is hidden until ticked; ``animeparse view`` serving the app stops everything it started on SIGTERM.

The colour check. The sample is a flat grey image G = (128, 128, 128) whose gt has three class quadrants (skin,
hair, cloth) and a background quadrant; the pre-label is gt with its top quarter painted l_eye. The app paints a
class with its colour C at some opacity a over the image, so an overlay pixel is G + a (C - G): it lies on the
segment from G to C. For each class we count the screenshot pixels within a few levels of that segment with
a >= 0.35 (scaling blurs only the quadrant edges, and nothing else on the page has these colours), and require
thousands of them; the background quadrant must stay plain grey (background is not painted), and the colours of
classes not shown must not be there. The page is the app's sample modal (``/datasets/<slug>?id=<sample id>``);
the layers are toggled by clicking the modal sidebar's checkboxes (``data-cy="checkbox-<field>"``) with real
mouse events.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from animeparse import Dataset

from ..conftest import REPO
from .conftest import make_store

GREY = 128
MIN_PIXELS = 3000  # the image shows at ~800 px: a quadrant is ~150k screen pixels


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def quadrant_mask(size: int = 256) -> np.ndarray:
    mask = np.zeros((size, size), np.uint8)
    half = size // 2
    mask[:half, :half] = 1  # skin
    mask[:half, half:] = 17  # hair
    mask[half:, :half] = 16  # cloth
    return mask  # bottom right: background


def overlay_pixels(shot: np.ndarray, colour: tuple[int, int, int], *, tol: float = 10.0,
                   min_alpha: float = 0.35) -> tuple[int, float]:
    """(number of pixels on the blend segment grey -> colour with opacity >= min_alpha, their median opacity)."""
    g = np.full(3, GREY, float)
    d = np.asarray(colour, float) - g
    p = shot.reshape(-1, 3).astype(float) - g
    alpha = p @ d / (d @ d)
    off = np.linalg.norm(p - alpha[:, None] * d[None, :], axis=1)
    hit = (alpha >= min_alpha) & (alpha <= 1.02) & (off <= tol)
    return int(hit.sum()), float(np.median(alpha[hit])) if hit.any() else 0.0


def _counts(shot: np.ndarray, colours: dict[str, tuple[int, int, int]]) -> dict[str, int]:
    return {name: overlay_pixels(shot, colour)[0] for name, colour in colours.items()}


def _click(browser, field: str) -> None:
    """A real mouse click on the modal sidebar's checkbox of ``field`` (the rightmost of the two sidebars)."""
    xy = browser.evaluate(
        f"""(() => {{ const r = [...document.querySelectorAll('[data-cy="checkbox-{field}"]')]
              .map(e => e.getBoundingClientRect()).sort((a, b) => b.x - a.x)[0];
              return r ? [r.x + r.width / 2, r.y + r.height / 2] : null; }})()""")
    assert xy is not None, f"no checkbox for {field} in the page"
    for kind in ("mousePressed", "mouseReleased"):
        browser.call("Input.dispatchMouseEvent", type=kind, x=xy[0], y=xy[1], button="left", clickCount=1)


def _until(browser, ok, timeout: float) -> np.ndarray:
    """Screenshots every half second until ``ok(shot)`` or ``timeout``; the last one."""
    deadline = time.monotonic() + timeout
    while True:
        shot = browser.screenshot()
        if ok(shot) or time.monotonic() > deadline:
            return shot
        time.sleep(0.5)


def test_mask_colours_survive_toggling_the_layers(tmp_path, labelmap, fo_db, chromium):
    import fiftyone as fo

    from animeparse.view import sample_url, serve_app, sync_store

    from .cdp import Browser

    root = tmp_path / "store"
    image = np.full((256, 256, 3), GREY, np.uint8)
    gt = quadrant_mask()
    pre = gt.copy()
    pre[:64] = 4  # l_eye over the top quarter
    make_store(root, labelmap, [{"image": image, "gt": gt, "pre": pre}])
    with Dataset.open(root) as ds:
        result = sync_store(ds, fo_db, findings=False)
    fo_id = fo.load_dataset(result.name).first().id
    gt_colours = {c.name: c.color for c in labelmap.classes if c.id in (1, 16, 17)}
    eye = {"l_eye": labelmap["l_eye"].color}
    control = {c.name: c.color for c in labelmap.classes if c.name in ("neck", "ear_r", "mouth")}
    shown = lambda shot, colours: all(n >= MIN_PIXELS for n in _counts(shot, colours).values())  # noqa: E731
    gone = lambda shot, colours: all(n < MIN_PIXELS // 10 for n in _counts(shot, colours).values())  # noqa: E731
    steps = []
    with serve_app(fo_db, port=_free_port()) as app, Browser(chromium, tmp_path / "profile") as browser:
        browser.call("Page.enable")
        browser.call("Page.navigate", url=sample_url(app.url, result.slug, fo_id))
        # the default view: gt in its class colours, the pre-label hidden (a loaded machine renders slowly)
        shot = _until(browser, lambda s: shown(s, gt_colours), 90)
        steps.append(("opened", _counts(shot, {**gt_colours, **eye})))
        assert shown(shot, gt_colours) and gone(shot, eye), steps
        grey = int((np.abs(shot.astype(int) - GREY).max(axis=2) <= 6).sum())
        assert grey >= MIN_PIXELS, f"background quadrant not plain grey: {grey} grey pixels"
        assert gone(shot, control), _counts(shot, control)
        alphas = [overlay_pixels(shot, c)[1] for c in gt_colours.values()]
        assert all(0.35 <= a <= 1.0 for a in alphas), alphas
        for action, clicks, want, hidden in [
            ("untick gt", ["gt"], {}, {**gt_colours, **eye}),
            ("tick gt again", ["gt"], gt_colours, eye),  # the colours survive the toggle
            ("gt off, pre-label on", ["gt", "prelabel_run1"], {"l_eye": eye["l_eye"], "cloth": gt_colours["cloth"]},
             {}),
            ("pre-label off, gt on", ["prelabel_run1", "gt"], gt_colours, eye),
        ]:
            for fld in clicks:
                _click(browser, fld)
                time.sleep(1.0)  # let the sidebar settle before the next click
            shot = _until(browser, lambda s, w=want, h=hidden: shown(s, w) and gone(s, h), 30)
            steps.append((action, _counts(shot, {**gt_colours, **eye})))
            assert shown(shot, want) and gone(shot, hidden), steps
        server_pid = app.pid
    with pytest.raises(ProcessLookupError):
        os.kill(server_pid, 0)


def test_view_command_serves_and_stops_on_sigterm(tmp_path, labelmap, fo_db):
    """``animeparse view DS`` prints its JSON with the app URL, serves, and on SIGTERM stops the server it started
    (and leaves the session's database, which it joined, running)."""
    from animeparse.view.env import port_open

    root = tmp_path / "store"
    make_store(root, labelmap, [{"gt": quadrant_mask(32)}])
    port = _free_port()
    cmd = [sys.executable, "-m", "animeparse", "view", str(root), "--port", str(port), "--db-dir",
           str(fo_db.db_dir), "--json", "--no-validate"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
                            start_new_session=True)
    try:
        line = proc.stdout.readline()  # the JSON object comes once the app answers
        data = json.loads(line)
        assert data["url"] == f"http://127.0.0.1:{port}/datasets/{data['slug']}"
        assert port_open("127.0.0.1", port)
        assert _pids_with(f"--port {port}"), "no app server process found"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 143, proc.stderr.read()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    deadline = time.monotonic() + 10
    while _pids_with(f"--port {port}") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _pids_with(f"--port {port}"), "the app server outlived 'animeparse view'"
    assert not port_open("127.0.0.1", port)
    assert port_open("127.0.0.1", fo_db.port)  # the session's mongod is still there


def _pids_with(text: str) -> list[int]:
    """PIDs of live processes whose command line (spaces for NULs) contains ``text``."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[-1].split()[0]
            except OSError:
                continue
            if text in cmdline and state != "Z" and "fiftyone.server.main" in cmdline:
                out.append(int(entry))
    return out
