"""``view``: mirror a store into FiftyOne and serve the app; ``view pull-tags``: the app's tags back into the store.

``view`` is a Click group that also runs on its own (``view DS ...``): :class:`_ViewGroup` treats a first argument
that names a subcommand (``pull-tags``) as that subcommand and anything else as the store. A store folder literally
named ``pull-tags`` is reached as ``./pull-tags``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import webbrowser
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from .common import RunOrSubcommand, echo_table, progress_bar, say

_DB_DIR_HELP = ("FiftyOne database folder (its MongoDB data) [default: $ANIMEPARSE_FIFTYONE_DB_DIR, else "
                "~/.local/share/animeparse/fiftyone].")


@contextlib.contextmanager
def _sigterm_as_exit() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C, so the app server and MongoDB this process started are stopped in order."""
    def handler(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _can_open_browser() -> bool:
    # on a headless Linux box webbrowser may pick a console browser (or a GUI one that cannot start): do not try
    return sys.platform in ("darwin", "win32") or bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


@click.group("view", cls=RunOrSubcommand, usage=["[OPTIONS] DS", "|", "pull-tags|pull-characters", "[OPTIONS] DS"],
             stray_words="subcommand")
@click.argument("ds_path", metavar="DS", type=click.Path(path_type=Path, file_okay=False))
@click.option("--layer", "layers", multiple=True, metavar="LAYER",
              help="Mask layer to show (gt, prelabel/RUN ...); repeatable. [default: every layer of the store]")
@click.option("--port", type=click.IntRange(1, 65535), default=5151, show_default=True,
              help="Port the app listens on.")
@click.option("--address", default="127.0.0.1", show_default=True,
              help="Address the app listens on (0.0.0.0 serves other machines: the app has no login).")
@click.option("--no-launch", is_flag=True, help="Only build or update the FiftyOne dataset; do not serve the app.")
@click.option("--db-dir", type=click.Path(path_type=Path, file_okay=False), envvar="ANIMEPARSE_FIFTYONE_DB_DIR",
              default=None, help=_DB_DIR_HELP)
@click.option("--name", default=None, help="FiftyOne dataset name. [default: <store name>-<6 hex of its path>]")
@click.option("--no-validate", is_flag=True,
              help="Skip the validate pass: the findings of the last sync stay (new samples get none).")
@click.option("--json", "as_json", is_flag=True,
              help="Print the sync result (and the app URL) as one JSON object on stdout; messages go to stderr.")
@click.pass_context
def view_cmd(ctx: click.Context, ds_path: Path | None = None, layers: tuple[str, ...] = (), port: int = 5151,
             address: str = "127.0.0.1", no_launch: bool = False, db_dir: Path | None = None, name: str | None = None,
             no_validate: bool = False, as_json: bool = False) -> None:
    """Mirror a store into a persistent FiftyOne dataset and open the FiftyOne app on it.

    One mask field per layer (the store's files, coloured by the label map), and per sample: split, status,
    source, near-duplicate group, pre-label score, per-class IoU and mIoU against gt, validate finding codes.
    Saved views: "worst pre-labels", "validate errors", "unlabelled". A second run only rewrites the samples that
    changed in the store. Tag samples in the app (e.g. needs-fix), then run 'view pull-tags DS'.

    \b
    Example:
      animeparse view my-ds                                  # sync, serve on http://127.0.0.1:5151
      animeparse view my-ds --layer gt --layer prelabel/run1 --port 5152
      animeparse view my-ds --no-launch --json               # sync only
      animeparse view pull-tags my-ds                        # tags set in the app -> store
    """
    if ctx.invoked_subcommand is not None:
        return
    if ds_path is None:  # Click requires DS unless a subcommand runs; this only narrows the type
        raise click.UsageError("missing argument DS")
    from ..store import Dataset
    from ..view import FiftyOneDB, dataset_url, serve_app, sync_store

    # the store opens first: a wrong path fails at once, before MongoDB starts
    with _sigterm_as_exit(), Dataset.open(ds_path) as ds, FiftyOneDB(db_dir) as db:
        with progress_bar("view sync") as bar:
            result = sync_store(ds, db, layers=layers, name=name, findings=not no_validate, progress=bar)
        ds.close()  # the app never needs the store's manifest (closing twice is harmless)
        data: dict[str, Any] = {**result.to_json(), "url": None}
        if no_launch:
            _print_result(data, as_json)
            return
        with serve_app(db, port=port, address=address) as app:
            data["url"] = dataset_url(app.url, result.slug)
            _print_result(data, as_json)
            views = {v: dataset_url(app.url, result.slug, view=v.replace(" ", "-")) for v in
                     ("worst pre-labels", "validate errors", "unlabelled")}
            click.echo("saved views:\n" + "\n".join(f"  {v}: {u}" for v, u in views.items()), err=as_json)
            click.echo(f"serving the app at {data['url']} (Ctrl-C to stop; log: {app.log})", err=True)
            if _can_open_browser():
                webbrowser.open(data["url"], new=2)
            try:
                code = app.wait()
            except KeyboardInterrupt:
                click.echo("stopping the app", err=True)
                return
            raise click.ClickException(f"the FiftyOne app server exited with code {code}; see {app.log}")


def _print_result(data: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(data, sort_keys=True))
        return
    say(f"synced FiftyOne dataset {data['name']!r} ({data['db_dir']}) in {data['seconds']:.1f} s")
    echo_table([("samples", data["samples"]),
                ("touched", f"{data['added']} added, {data['updated']} updated, {data['removed']} removed, "
                            f"{data['unchanged']} unchanged"),
                ("layers", ", ".join(f"{k} -> {v}" for k, v in data["layers"].items()) or "none"),
                ("findings", data["findings"])])
    if data["url"]:
        say(f"app: {data['url']}")


@view_cmd.command("pull-tags")
@click.argument("ds_path", metavar="DS", type=click.Path(path_type=Path, file_okay=False))
@click.option("--db-dir", type=click.Path(path_type=Path, file_okay=False), envvar="ANIMEPARSE_FIFTYONE_DB_DIR",
              default=None, help=_DB_DIR_HELP)
@click.option("--name", default=None, help="FiftyOne dataset name, as given to 'view'. [default: as 'view']")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")
def pull_tags_cmd(ds_path: Path, db_dir: Path | None, name: str | None, as_json: bool) -> None:
    """Add the sample tags set in the FiftyOne app to the store's samples (under the store's writer lock).

    Only additions are applied; tags removed in the app stay in the store and are reported. Works while
    'animeparse view' serves the app (it joins the same database).

    \b
    Example:
      animeparse view pull-tags my-ds         # then in Python: Dataset.samples(tag="needs-fix")
    """
    from ..store import Dataset
    from ..view import FiftyOneDB, pull_tags

    Dataset.open(ds_path).close()  # a wrong path fails at once, before MongoDB starts
    with _sigterm_as_exit(), FiftyOneDB(db_dir) as db:
        result = pull_tags(ds_path, db, name=name)
    if as_json:
        click.echo(json.dumps(result.to_json(), sort_keys=True))
        return
    added = ", ".join(f"{tag} ({n})" for tag, n in result.tags_added.items()) or "none"
    echo_table([("dataset", result.name), ("samples tagged", result.samples_tagged), ("tags added", added)],
               title=f"pulled tags from FiftyOne into {ds_path}")
    if result.removed_in_app:
        kept = ", ".join(f"{tag} ({n})" for tag, n in result.removed_in_app.items())
        say(f"  removed in the app, kept in the store: {kept}")
    if result.not_in_store:
        say(f"  {len(result.not_in_store)} samples of the mirror are no longer in the store (run view to "
            "drop them)")


@view_cmd.command("pull-characters")
@click.argument("ds_path", metavar="DS", type=click.Path(path_type=Path, file_okay=False))
@click.option("--db-dir", type=click.Path(path_type=Path, file_okay=False), envvar="ANIMEPARSE_FIFTYONE_DB_DIR",
              default=None, help=_DB_DIR_HELP)
@click.option("--name", default=None, help="FiftyOne dataset name, as given to 'view'. [default: as 'view']")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")
def pull_characters_cmd(ds_path: Path, db_dir: Path | None, name: str | None, as_json: bool) -> None:
    """Write the characters edited in the FiftyOne app (the 'character' field's label) into the store.

    A sample whose label differs from what the last sync showed gets it; a cleared label clears it.

    \b
    Example:
      animeparse view pull-characters my-ds
    """
    from ..store import Dataset
    from ..view import FiftyOneDB, pull_characters

    Dataset.open(ds_path).close()  # a wrong path fails at once, before MongoDB starts
    with _sigterm_as_exit(), FiftyOneDB(db_dir) as db:
        result = pull_characters(ds_path, db, name=name)
    if as_json:
        click.echo(json.dumps(result, sort_keys=True))
        return
    echo_table([("dataset", result["name"]), ("samples changed", len(result["changed"]))],
               title=f"pulled characters from FiftyOne into {ds_path}")
    for sid, (old, new) in result["changed"].items():
        say(f"  {sid}: {old or '(none)'} -> {new or '(none)'}")


COMMANDS = [view_cmd]
