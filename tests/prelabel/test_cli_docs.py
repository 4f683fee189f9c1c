"""The prelabel, parser and models commands: help with examples, every option in docs/cli.md (which is
merged into docs/cli.md, where tests/test_cli.py checks the same)."""

import re

import click
import pytest
from click.testing import CliRunner

from animeparse.cli.main import cli
from animeparse.cli.prelabel_cmds import COMMANDS

from ..conftest import REPO


def _commands(group, prefix):
    for name, cmd in sorted(group.commands.items()):
        yield f"{prefix} {name}", cmd
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, f"{prefix} {name}")


ALL = [(f"animeparse {c.name}", c) for c in COMMANDS]
ALL += [p for c in COMMANDS if isinstance(c, click.Group) for p in _commands(c, f"animeparse {c.name}")]


def test_all_commands_are_registered():
    assert {p for p, _ in ALL} == {"animeparse prelabel", "animeparse prelabel evaluate", "animeparse parser",
                                   "animeparse parser train", "animeparse models", "animeparse models fetch",
                                   "animeparse models list"}
    assert all(cli.commands[c.name] is c for c in COMMANDS)


@pytest.mark.parametrize("path,cmd", ALL, ids=[p for p, _ in ALL])
def test_help_has_an_example_and_every_option_is_documented(path, cmd):
    assert cmd.help and "Example" in cmd.help, f"{path}: help must end with an example"
    result = CliRunner().invoke(cli, [*path.split()[1:], "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output
    doc = (REPO / "docs" / "cli.md").read_text()
    section = re.search(rf"^## `{re.escape(path)}`.*?(?=^## |\Z)", doc, re.M | re.S)
    assert section, f"docs/cli.md has no '## `{path}`' section"
    for param in cmd.params:
        for opt in getattr(param, "opts", []):
            if opt.startswith("-") and opt not in ("-h", "--help"):
                assert opt in section.group(0), f"docs/cli.md: {path} does not mention {opt}"


def test_prelabel_without_a_store_is_a_usage_error():
    r = CliRunner().invoke(cli, ["prelabel"])
    assert r.exit_code == 2 and "Missing argument 'DS'" in r.output
