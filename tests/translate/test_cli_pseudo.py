"""``animeparse pseudo manga`` / ``pseudo sheet`` through Click, and their reference in docs/cli.md."""

from __future__ import annotations

import click
from click.testing import CliRunner

from animeparse.cli.main import cli

from ..conftest import require

require("torch", extra="sam")


def test_manga_then_sheet(parent_store, tmp_path):
    runner = CliRunner()
    out = tmp_path / "manga"
    r = runner.invoke(cli, ["pseudo", "manga", str(parent_store), "--out", str(out), "--variants", "2",
                            "--device", "cpu", "--batch-size", "2", "--seed", "3"])
    assert r.exit_code == 0, r.output
    assert "8 translated, 0 already there" in r.output and "manga-v2" in r.output
    r = runner.invoke(cli, ["pseudo", "manga", str(parent_store), "--out", str(out), "--variants", "2",
                            "--device", "cpu", "--seed", "3"])
    assert r.exit_code == 0 and "0 translated, 8 already there" in r.output
    r = runner.invoke(cli, ["pseudo", "sheet", str(out), "--out", str(tmp_path / "s.png"), "--rows", "2"])
    assert r.exit_code == 0 and "2 rows x 4 columns" in r.output and (tmp_path / "s.png").is_file()
    r = runner.invoke(cli, ["pseudo", "sheet", str(out), "--out", str(tmp_path / "s.png"), "--n", "3"])
    assert r.exit_code == 0 and "3 rows x 4 columns" in r.output
    r = runner.invoke(cli, ["pseudo", "sheet", str(out), "--out", str(tmp_path / "s.png"), "--all", "--n", "1"])
    assert r.exit_code == 0 and "4 rows x 4 columns" in r.output  # 4 parents, 2 variants each


def test_bad_translator_is_one_line_exit_1(parent_store, tmp_path, halving_script):
    r = CliRunner().invoke(cli, ["-q", "pseudo", "manga", str(parent_store), "--out", str(tmp_path / "m"),
                                 "--translator", f"torchscript:{halving_script}", "--device", "cpu"])
    assert r.exit_code == 1 and "halve.pt" in r.output
    assert len([line for line in r.output.splitlines() if line.strip()]) == 1


def test_pseudo_has_exactly_its_subcommands():
    """manga, sheet, page and page-sheet (their help and docs/cli.md sections are checked by tests/test_cli.py)."""
    group = cli.commands["pseudo"]
    assert isinstance(group, click.Group) and set(group.commands) == {"manga", "sheet", "page", "page-sheet"}
