"""The FiftyOne app on a mirror: a headless Chromium screenshot of one sample's page shows the mask overlay in the
label map's colours; ``animeparse view`` serving the app stops everything it started on SIGTERM.

The colour check. The sample is a flat grey image G = (128, 128, 128) whose mask has three class quadrants (skin,
hair, cloth) and a background quadrant. The app paints a class with its colour C at some opacity a over the image,
so an overlay pixel is G + a (C - G): it lies on the segment from G to C. For each class present we count the
screenshot pixels within a few levels of that segment with a >= 0.35 (scaling blurs only the quadrant edges, and
nothing else on the page has these colours), and require thousands of them; the background quadrant must stay
plain grey (background is not painted), and the colours of classes not in the mask must not show. The page is the
app's sample modal (``/datasets/<slug>?id=<FiftyOne sample id>``).
"""

from __future__ import annotations

import contextlib
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
from PIL import Image

from animeparse import Dataset

from ..conftest import REPO
from .conftest import make_store

GREY = 128
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic", "--hide-scrollbars"]
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


def screenshot(chromium: str, url: str, out, profile, budget_ms: int) -> np.ndarray:
    """One headless Chromium screenshot (fresh profile); its whole process group is killed afterwards."""
    cmd = [chromium, *FLAGS, f"--user-data-dir={profile}", f"--screenshot={out}", "--window-size=1280,900",
           f"--virtual-time-budget={budget_ms}", url]
    with open(f"{out}.log", "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        try:
            proc.wait(timeout=120)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # renderer / zygote children, if any are left
            proc.wait()
    return np.asarray(Image.open(out).convert("RGB"))


def test_sample_page_shows_mask_in_label_map_colours(tmp_path, labelmap, fo_db, chromium):
    import fiftyone as fo

    from animeparse.view import sample_url, serve_app, sync_store

    root = tmp_path / "store"
    image = np.full((256, 256, 3), GREY, np.uint8)
    make_store(root, labelmap, [{"image": image, "gt": quadrant_mask()}])
    with Dataset.open(root) as ds:
        result = sync_store(ds, fo_db, layers=["gt"], findings=False)
    fo_id = fo.load_dataset(result.name).first().id
    present = {c.name: c.color for c in labelmap.classes if c.id in (1, 16, 17)}
    absent = {c.name: c.color for c in labelmap.classes if c.name in ("l_eye", "neck", "ear_r")}  # a control
    with serve_app(fo_db, port=_free_port()) as app:
        url = sample_url(app.url, result.slug, fo_id)
        for attempt, budget in enumerate((15000, 30000, 60000)):  # a loaded machine renders slowly: wait longer
            shot = screenshot(chromium, url, tmp_path / f"shot{attempt}.png", tmp_path / f"profile{attempt}", budget)
            counts = {name: overlay_pixels(shot, colour) for name, colour in present.items()}
            grey = int((np.abs(shot.astype(int) - GREY).max(axis=2) <= 6).sum())
            if all(n >= MIN_PIXELS for n, _ in counts.values()) and grey >= MIN_PIXELS:
                break
        server_pid = app.pid
    assert all(n >= MIN_PIXELS for n, _ in counts.values()), f"overlay pixels per class: {counts} ({url})"
    assert all(0.35 <= alpha <= 1.0 for _, alpha in counts.values()), counts
    assert grey >= MIN_PIXELS, f"background quadrant not plain grey: {grey} grey pixels"
    stray = {name: overlay_pixels(shot, colour)[0] for name, colour in absent.items()}
    assert all(n < MIN_PIXELS // 10 for n in stray.values()), f"colours of absent classes on the page: {stray}"
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
