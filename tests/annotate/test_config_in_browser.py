"""The labelling config in Label Studio's own page, in a headless Chromium window 1000 px high (issue 20): every label
chip of the 19-class danbooru-parsing map (and ``ignore``) is above the fold even with a tall image. The real
server of tests/annotate/conftest.py; the browser is driven over the DevTools protocol (tests/view/cdp.py); the
user logs in through the login form."""

from __future__ import annotations

import json
import time

import numpy as np
from PIL import Image

from animeparse import load_labelmap
from animeparse.annotate import Connection
from animeparse.annotate.config import IGNORE_LABEL, label_config

from ..conftest import require
from ..view.cdp import Browser
from ..view.conftest import chromium  # noqa: F401 - the fixture, shared with the app tests
from .conftest import _RUNNING, ls_server  # noqa: F401 - the server fixture

require("label_studio_sdk", extra="labelstudio")

_CHIPS_JS = """(() => {
  const names = new Set(JSON.parse('%s')); const out = {};
  for (const el of document.querySelectorAll('span,div,label')) {
    const t = el.textContent.trim();
    if (names.has(t) && el.children.length <= 1) {
      const r = el.getBoundingClientRect();
      if (r.width > 0) out[t] = [r.top, r.bottom];
    }
  }
  return [out, window.innerHeight];
})()"""


def test_every_label_chip_is_above_the_fold_at_1000_px(ls_server, chromium, tmp_path):  # noqa: F811
    labelmap = load_labelmap("danbooru-parsing")
    conn = Connection.open(ls_server.url, ls_server.token)
    project = conn.create_project("fold check", label_config(labelmap))
    tall = tmp_path / "tall.png"  # twice as high as wide: below such an image, chips were out of sight
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (1400, 700, 3), dtype=np.uint8)).save(tall)
    (task_id,) = conn.upload_images(project.id, [("tall.png", tall)])
    env = _RUNNING[ls_server.url].env
    names = [c.name for c in labelmap.classes if c.id != 0] + [IGNORE_LABEL]
    with Browser(chromium, tmp_path / "profile", size_wh=(1280, 1000)) as browser:
        browser.call("Page.enable")
        browser.call("Page.navigate", url=f"{ls_server.url}/user/login/")
        _wait(browser, "!!document.querySelector('input[name=email]')", 60)
        browser.evaluate(f"""(() => {{ document.querySelector('input[name=email]').value = {json.dumps(
            env['LABEL_STUDIO_USERNAME'])}; document.querySelector('input[name=password]').value = {json.dumps(
            env['LABEL_STUDIO_PASSWORD'])}; document.querySelector('form').submit(); return 1; }})()""")
        _wait(browser, "!location.pathname.startsWith('/user/login')", 60)
        browser.call("Page.navigate", url=f"{ls_server.url}/projects/{project.id}/data?task={task_id}")
        chips, height = {}, 0
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and len(chips) < len(names):
            time.sleep(1)
            chips, height = browser.evaluate(_CHIPS_JS % json.dumps(names))
    assert set(chips) == set(names), f"chips found: {sorted(chips)}"
    below = {n: round(bottom) for n, (_, bottom) in chips.items() if bottom > height}
    assert not below, f"chips below the fold of a {height} px high page: {below}"
    assert max(bottom for _, bottom in chips.values()) < height / 2  # all of them near the top


def _wait(browser: Browser, condition: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not browser.evaluate(condition):
        assert time.monotonic() < deadline, f"timed out waiting for {condition}"
        time.sleep(0.5)
