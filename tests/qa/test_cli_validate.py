"""``animeparse validate``: exit codes 0/1/2, the JSON report, --fail-on, --config and options."""

from __future__ import annotations

import dataclasses
import json
import shutil
import sqlite3

import pytest
from click.testing import CliRunner

from animeparse.cli.main import cli
from animeparse.cli.qa_cmds import validate_cmd
from animeparse.demo.defects import DEFECT_CODES, make_face_store
from animeparse.qa import QAConfig
from animeparse.store import WriterLock

from . import defects, session_dir


def _clean():
    root = session_dir() / "cli-clean"
    if not root.exists():
        make_face_store(root, 6, seed=3, size=192, workers=0)
    return root


def _invoke(*args: str):
    return CliRunner().invoke(cli, ["validate", *args])


def test_clean_store_exits_0():
    r = _invoke(str(_clean()))
    assert r.exit_code == 0, r.output
    assert "6 samples" in r.output and "0 errors, 0 warnings" in r.output and "result: OK" in r.output


def test_defects_exit_1_and_json_report(tmp_path):
    root, expected = defects()
    r = _invoke(str(root), "--json", str(tmp_path / "qa.json"), "--show", "5")
    assert r.exit_code == 1, r.output
    assert "worst samples:" in r.output and "... and" in r.output and "result: FAIL" in r.output
    data = json.loads((tmp_path / "qa.json").read_text())
    assert data["samples"] == 49 and data["layer"] == "gt" and data["config"]["fail_on"] == "error"
    assert set(data["counts"]) == {"error", "warning", "info"} and data["counts"]["error"] > 10
    assert {f["code"] for f in data["findings"]} >= set(DEFECT_CODES)
    one = next(f for f in data["findings"] if f["code"] == "size_mismatch")
    assert one["sample"] == expected["size_mismatch"][0] and one["check"] == "integrity"
    assert one["file"] == f"masks/gt/{one['sample']}.png" and one["severity"] == "error"
    assert set(one) == {"severity", "code", "check", "sample", "file", "message", "data"}


def test_fail_on_warning(tmp_path):
    root = tmp_path / "ds"
    shutil.copytree(_clean(), root)
    (root / "images" / "stray.png").write_bytes(b"not referenced")  # an orphan file: a warning
    r = _invoke(str(root))
    assert r.exit_code == 0, r.output
    assert "orphan_file" in r.output and "1 warnings" in r.output
    r = _invoke(str(root), "--fail-on", "warning")
    assert r.exit_code == 1, r.output
    (tmp_path / "qa.toml").write_text('fail_on = "warning"\n')
    assert _invoke(str(root), "--config", str(tmp_path / "qa.toml")).exit_code == 1
    assert _invoke(str(root), "--config", str(tmp_path / "qa.toml"), "--fail-on", "error").exit_code == 0


@pytest.mark.parametrize("case", ["missing", "not_a_store", "damaged_manifest", "locked", "bad_config"])
def test_could_not_run_exits_2_with_one_line(tmp_path, case):
    args = [str(tmp_path / "nothing")]
    lock = None
    if case == "not_a_store":
        (tmp_path / "plain").mkdir()
        args = [str(tmp_path / "plain")]
    elif case == "damaged_manifest":
        shutil.copytree(_clean(), tmp_path / "ds")
        for p in (tmp_path / "ds").glob("manifest.sqlite*"):
            p.unlink()
        (tmp_path / "ds" / "manifest.sqlite").write_bytes(b"this is not sqlite" * 100)
        args = [str(tmp_path / "ds")]
    elif case == "locked":  # an older manifest must be migrated under the writer lock, which another writer holds
        shutil.copytree(_clean(), tmp_path / "ds")
        db = sqlite3.connect(tmp_path / "ds" / "manifest.sqlite")
        db.execute("PRAGMA user_version = 2")
        db.close()
        lock = WriterLock(tmp_path / "ds")
        lock.acquire()
        args = [str(tmp_path / "ds")]
    elif case == "bad_config":
        (tmp_path / "qa.json").write_text('{"min_fragment_px": "many"}')
        args = [str(_clean()), "--config", str(tmp_path / "qa.json")]
    try:
        r = _invoke(*args)
    finally:
        if lock:
            lock.release()
    assert r.exit_code == 2, r.output
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: could not validate"), r.output


def test_config_file_then_options(tmp_path):
    (tmp_path / "qa.toml").write_text("[validate]\nmax_ignore_share = 0.5\nmin_class_px = 3\nskip = ['layers']\n")
    out = tmp_path / "qa.json"
    r = _invoke(str(_clean()), "--config", str(tmp_path / "qa.toml"), "--min-class-px", "5", "--skip", "files",
                "--workers", "0", "--json", str(out))
    assert r.exit_code == 0, r.output
    cfg = json.loads(out.read_text())["config"]
    assert cfg["max_ignore_share"] == 0.5 and cfg["min_class_px"] == 5 and cfg["skip"] == ["files"]
    assert "files" not in json.loads(out.read_text())["checks"]


def test_every_config_field_is_an_option_and_back():
    options = {p.name: p for p in validate_cmd.params}
    for f in dataclasses.fields(QAConfig):
        assert f.name in options, f"QAConfig.{f.name} has no validate option"
        assert options[f.name].opts == ["--" + f.name.replace("_", "-")]
    cli_only = {"ds_path", "json_path", "config_path", "show"}
    assert set(options) - {f.name for f in dataclasses.fields(QAConfig)} == cli_only
