"""The prelabel, parser and models commands are registered (their help examples and docs/cli.md sections are
checked with every other command's by tests/test_cli.py)."""


import click
from click.testing import CliRunner

from animeparse.cli.main import cli
from animeparse.cli.prelabel_cmds import COMMANDS


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


def test_prelabel_without_a_store_is_a_usage_error():
    r = CliRunner().invoke(cli, ["prelabel"])
    assert r.exit_code == 2 and "Missing argument 'DS'" in r.output
