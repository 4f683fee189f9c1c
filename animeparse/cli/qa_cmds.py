"""``validate``: run every QA check on a store, print a summary, optionally write the JSON report.

Exit codes: 0 nothing at or above ``--fail-on``; 1 findings at or above it; 2 the run could not happen (store missing,
locked or unreadable, bad config): one line on stderr.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import click

from ..errors import AnimeparseError
from ..qa.config import config_fields
from .common import is_quiet, progress_bar, say

_TYPES = {int: click.INT, float: click.FLOAT, str: click.STRING}


def _config_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """One option per QAConfig field (``min_fragment_px`` -> ``--min-fragment-px``), default None = "not given",
    so the config file's value stands unless the option is passed."""
    for name, kind, default, help_text, choices in reversed(config_fields()):
        shown = "one per core" if name == "workers" else ("none" if default == () else default)
        kwargs: dict[str, Any] = {"default": None, "help": f"{help_text} [default: {shown}]"}
        if kind is tuple:
            kwargs.update(multiple=True, default=(), metavar="CHECK")
        else:
            kwargs["type"] = click.Choice(choices) if choices else _TYPES[kind]
        func = click.option("--" + name.replace("_", "-"), name, **kwargs)(func)
    return func


@click.command("validate")
@click.argument("ds_path", metavar="DS", type=click.Path(path_type=Path, file_okay=False))
@click.option("--json", "json_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Write the full report (every finding, counts, config) as JSON.")
@click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="JSON or TOML file of thresholds (the option names with underscores); options override it.")
@click.option("--show", type=click.IntRange(min=0), default=20, show_default=True,
              help="How many findings to print after the summary (errors first).")
@_config_options
def validate_cmd(ds_path: Path, json_path: Path | None, config_path: Path | None, show: int,
                 **overrides: Any) -> None:
    """Check a store: file integrity and hashes, mask values, shapes, face layout (left/right, eyes in the
    face, hair above the neck), label order, duplicates and split leakage, stale or missing layers.

    Prints counts by check and severity, the worst samples and the first findings. Exit code 0 when nothing is at
    or above --fail-on (default error), 1 when something is, 2 when the store could not be read.

    \b
    Example:
      animeparse validate my-ds
      animeparse validate my-ds --json qa.json --fail-on warning
      animeparse validate my-ds --config qa.toml --min-fragment-px 32 --skip layout
    """
    from dataclasses import replace

    from ..qa import QAConfig, load_config, validate
    from ..store import Dataset

    try:
        cfg = load_config(config_path) if config_path else QAConfig()
        given = {k: v for k, v in overrides.items() if v is not None and v != ()}
        cfg = replace(cfg, **given)
        with Dataset.open(ds_path) as ds, progress_bar("validate", total=len(ds)) as bar:
            report = validate(ds, cfg, progress=bar)
        if json_path:
            report.write_json(json_path)
    except (AnimeparseError, sqlite3.Error, OSError, BrokenProcessPool) as err:
        click.echo(f"error: could not validate {ds_path}: {err}", err=True)
        raise SystemExit(2) from err
    say(report.render(limit=show))
    if json_path:
        say(f"report: {json_path}")
    failed = report.failed(cfg.fail_on)
    if failed or not is_quiet():  # with -q a failing run still says so, on stderr
        click.echo(f"result: {'FAIL' if failed else 'OK'} (--fail-on {cfg.fail_on})", err=is_quiet())
    if failed:
        raise SystemExit(1)


COMMANDS = [validate_cmd]
