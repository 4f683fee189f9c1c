"""The first hour of a new user: the README's two commands, `animeparse` on PATH afterwards, `info` on the demo's
folder, the demo output git-ignored, README and docs/cli.md telling the same demo stages."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from animeparse import Dataset, load_labelmap
from animeparse.cli.demo_cmds import _activate_hint
from animeparse.cli.main import cli

from .conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")
VENV_BIN = Path(sys.executable).parent


def _setup_block() -> str:
    section = README[README.index("## Set-up: two commands"):README.index("## Walkthrough")]
    return section


def test_readme_two_commands_exist_and_say_how_to_get_animeparse_on_path():
    section = _setup_block()
    commands = re.findall(r"^bash (scripts/\S+)", section, flags=re.M)
    assert commands[:2] == ["scripts/demo.sh", "scripts/test.sh"]
    assert all((REPO / c).is_file() for c in commands)
    # the scripts install into .venv (what the README tells the user to activate)
    assert 'VENV="${ANIMEPARSE_VENV:-$ROOT/.venv}"' in (REPO / "scripts" / "_venv.sh").read_text()
    assert "source .venv/bin/activate" in section
    # what the test command installs and starts, the sizes and times, the cascade's origin
    for words in ("Label Studio", "MongoDB", "Ray", "Chromium", "7 GB", "first run", "later runs"):
        assert words in section, words
    assert "https://github.com/nagadomi/lbpcascade_animeface" in README


def test_animeparse_help_works_after_activating_the_venv(tmp_path):
    """What the README says right after the first command: activate the venv the scripts made, then `animeparse
    --help`. The venv running these tests is the one scripts/test.sh made (.venv), with the console script."""
    activate = VENV_BIN / "activate"
    assert (VENV_BIN / "animeparse").is_file(), "the console script is missing: pip install -e . into the venv"
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if p and Path(p).resolve() != VENV_BIN.resolve()) or "/usr/bin:/bin"
    run = subprocess.run(["bash", "-c", f'source "{activate}" && animeparse --help'], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("Usage: animeparse") and "Example:" in run.stdout


def test_demo_next_line_names_the_activate_step(monkeypatch):
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # the venv's bin not on PATH, as after scripts/demo.sh
    hint = _activate_hint()
    if (VENV_BIN / "activate").is_file():
        assert hint == f"source {VENV_BIN / 'activate'} && "
    else:
        assert hint.startswith(f"PATH={VENV_BIN}")
    monkeypatch.setenv("PATH", f"{VENV_BIN}{os.pathsep}/usr/bin:/bin")
    if (VENV_BIN / "animeparse").is_file():
        assert _activate_hint() == ""


def _store(path: Path) -> None:
    Dataset.create(path, labelmap=load_labelmap("danbooru-parsing")).close()


def test_info_on_a_folder_holding_a_store_finds_it(tmp_path):
    demo = tmp_path / "animeparse-demo"
    demo.mkdir()
    (demo / "raw").mkdir()
    _store(demo / "store")
    r = CliRunner().invoke(cli, ["info", str(demo)])
    assert r.exit_code == 0, r.output
    assert f"store           {demo / 'store'}" in r.output and "samples         0" in r.output
    # other commands say where the store is instead of suggesting init
    r = CliRunner().invoke(cli, ["validate", str(demo)])
    assert r.exit_code != 0 and f"holds one: {demo / 'store'}" in r.output and "init" not in r.output
    _store(demo / "figures")
    r = CliRunner().invoke(cli, ["info", str(demo)])
    assert r.exit_code == 1 and str(demo / "figures") in r.output and str(demo / "store") in r.output
    empty = tmp_path / "empty"
    empty.mkdir()
    r = CliRunner().invoke(cli, ["info", str(empty)])
    assert r.exit_code == 1 and f"animeparse init {empty}" in r.output


def test_demo_output_is_git_ignored():
    assert "animeparse-demo/" in (REPO / ".gitignore").read_text().splitlines()


def _in_order(text: str, words: list[str]) -> list[str]:
    """The words not found in ``text`` in that order."""
    missing, at = [], 0
    for w in words:
        found = text.find(w, at)
        if found < 0:
            missing.append(w)
        else:
            at = found + len(w)
    return missing


def test_readme_and_cli_md_list_the_same_demo_stages():
    stages = ["generate", "store", "ingest", "split", "validate", "stats", "export", "manga pseudo data",
              "contact sheet", "full-body figures", "store", "validate", "export"]
    cli_md = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
    demo_doc = cli_md[cli_md.index("## `animeparse demo`"):]
    block = _setup_block()
    readme = re.sub(r"\s*#\s*", " ", block[block.index("runs `animeparse demo`"):block.index("bash scripts/test.sh")])
    assert _in_order(readme, stages) == []
    assert _in_order(demo_doc, stages) == []
