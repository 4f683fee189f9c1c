"""The ``animeparse`` command: a Click group; each command parses, makes one library call and prints.

An :class:`AnimeparseError` becomes one line on stderr and exit code 1 (Click's usage errors exit 2). So does an
``OSError`` that reaches the top (a full disk, a read-only filesystem, an I/O error, a permission refused): the
line names the path and the fix instead of a traceback.
"""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
import sys
from typing import Any

import click

from .._version import __version__
from ..errors import AnimeparseError

# what to do about the OS errors a user can fix; the rest get the generic advice
_OS_FIXES = {
    errno.ENOSPC: "free space on that filesystem (df -h shows it), then run the command again",
    errno.EDQUOT: "the disk quota is used up: free space or raise the quota, then run the command again",
    errno.EROFS: "the filesystem is mounted read-only: remount it read-write, or write to a folder elsewhere",
    errno.EACCES: "this user may not write there: fix the permissions (ls -l) or run as the folder's owner",
    errno.EPERM: "this user may not write there: fix the permissions (ls -l) or run as the folder's owner",
    errno.EIO: "the disk (or network filesystem) reported an I/O error: check it (dmesg), then run the command "
               "again",
}
_KEPT = "; work committed before the error is kept, and running the command again finishes the rest"
# commands that write nothing to a store: what is left after their failure
_AFTER = {"export": "; an export leaves nothing behind in that case (its temp folder is removed)",
          "info": "", "validate": "", "stats": "", "demo-data": "; files already written are kept"}


def os_error_line(err: OSError, args: list[str], command: str | None = None) -> str:
    """One line for an OSError: the path (the error's, else the command's paths on a full filesystem, else all
    the command's paths), what happened, and the fix. ``args``: the command's own arguments; ``command``: its
    name (what is left after the failure depends on it)."""
    what = err.strerror or str(err)
    name = errno.errorcode.get(err.errno or -1, "")
    fix = _OS_FIXES.get(err.errno or -1, "check the path, then run the command again")
    if err.filename is not None:
        where = os.fsdecode(err.filename)
        if err.filename2 is not None:
            where += f" -> {os.fsdecode(err.filename2)}"
    else:
        paths = _paths_in(args)
        if err.errno in (errno.ENOSPC, errno.EDQUOT):
            full = [p for p in paths if _free_bytes(p) < (1 << 20)]
            paths = full or paths
        where = ", ".join(paths) if paths else "(the system named no file)"
    return f"{where}: {what}{f' ({name})' if name else ''}; {fix}{_AFTER.get(command or '', _KEPT)}"


def _paths_in(args: list[str]) -> list[str]:
    """The command's arguments that name a file or folder (or one about to be made in an existing folder)."""
    out: list[str] = []
    for arg in args:
        value = arg.split("=", 1)[1] if arg.startswith("--") and "=" in arg else arg
        if value.startswith("-") or not value or value in out:
            continue
        if os.path.exists(value) or (os.sep in value and os.path.isdir(os.path.dirname(value.rstrip(os.sep)))):
            out.append(value)
    return out


def _free_bytes(path: str) -> int:
    probe = path
    while probe and not os.path.exists(probe):
        probe = os.path.dirname(probe.rstrip(os.sep))
    try:
        st = os.statvfs(probe or ".")
    except OSError:
        return 1 << 62
    return st.f_bavail * st.f_frsize


class _Group(click.Group):
    """Turns library errors (and OS errors: disk full, read-only, I/O) into one-line ClickExceptions in one
    place."""

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[str | None, click.Command | None,
                                                                             list[str]]:
        ctx.meta["animeparse.args"] = list(args)
        return super().resolve_command(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AnimeparseError as err:
            raise click.ClickException(str(err)) from err
        except OSError as err:
            raise click.ClickException(os_error_line(err, ctx.meta.get("animeparse.args", []),
                                                     ctx.invoked_subcommand)) from err
        except sqlite3.Error as err:  # the library maps the writes it knows; this catches the rest, on one line
            paths = ", ".join(_paths_in(ctx.meta.get("animeparse.args", []))) or "the store"
            raise click.ClickException(f"{paths}: the store's manifest (SQLite) failed: {err}; check the disk and "
                                       "the folder's permissions, run `animeparse validate` on the store, then run "
                                       "the command again") from err


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="animeparse")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True,
              help="Errors only: no progress bars, summaries or notes (what a command exists to print, such as "
                   "info or --json, still prints).")
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
        character_cmds,
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

    for module in (store_cmds, ingest_cmd, character_cmds, qa_cmds, stats_cmds, prelabel_cmds, ls_cmds, pseudo_cmds,
                   export_cmds, view_cmds, demo_cmds):
        for command in module.COMMANDS:
            cli.add_command(command)


_register()


def main() -> None:
    cli(prog_name="animeparse")
