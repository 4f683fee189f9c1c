"""The ``animeparse`` command: a Click group; each command parses, makes one library call and prints.

An :class:`AnimeparseError` becomes one line on stderr and exit code 1 (Click's usage errors exit 2).
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import click

from .. import __version__
from ..errors import AnimeparseError


class _Group(click.Group):
    """Turns library errors into one-line ClickExceptions in one place."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AnimeparseError as err:
            raise click.ClickException(str(err)) from err


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="animeparse")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors; no progress bars.")
@click.pass_context
def cli(ctx: click.Context, verbose: int, quiet: bool) -> None:
    """Build, check and export anime parsing datasets.

    \b
    Example:
      animeparse demo                      # the whole pipeline on generated faces
      animeparse init my-ds --labelmap danbooru-parsing
      animeparse ingest old-labels/ --into my-ds
    """
    level = logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr, force=True)
    ctx.ensure_object(dict)
    ctx.obj["quiet"] = quiet


def _register() -> None:
    from . import (
        demo_cmds,
        export_cmds,
        ingest_cmd,
        ls_cmds,
        prelabel_cmds,
        pseudo_cmds,
        qa_cmds,
        stats_cmds,
        store_cmds,
        view_cmds,
    )

    for module in (store_cmds, ingest_cmd, qa_cmds, stats_cmds, prelabel_cmds, ls_cmds, pseudo_cmds, export_cmds,
                   view_cmds, demo_cmds):
        for command in module.COMMANDS:
            cli.add_command(command)


_register()


def main() -> None:
    cli(prog_name="animeparse")
