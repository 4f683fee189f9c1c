"""``ls``: the Label Studio round trip (``config``, ``push``, ``pull``)."""

from __future__ import annotations

import functools
import json
import logging
import signal
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from ..annotate.client import DEFAULT_URL, TOKEN_ENV, URL_ENV
from ..annotate.pull import DEFAULT_ALPHA_THRESHOLD
from ..annotate.push import DOCUMENT_ROOT_ENV, IMAGE_MODES
from .common import progress_bar, say


def _server_options(project_help: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """--url, --token, --project: shared by push and pull (``project_help``: what the command does with it)."""
    return functools.partial(_add_server_options, project_help=project_help)


def _add_server_options(fn: Callable[..., Any], *, project_help: str) -> Callable[..., Any]:
    fn = click.option("--project", required=True, help=project_help)(fn)
    fn = click.option("--token", envvar=TOKEN_ENV, show_envvar=True, default=None,
                      help="API token (Account & Settings in Label Studio). Prefer the environment variable: an "
                           "option is visible to other users in the process list. Never printed or logged.")(fn)
    fn = click.option("--url", envvar=URL_ENV, show_envvar=True, default=DEFAULT_URL, show_default=True,
                      help="Label Studio server URL.")(fn)
    return fn


_STORE = click.Path(path_type=Path, file_okay=False, exists=True)


class _Redact(logging.Filter):
    """Blanks the API token in every log record, traceback included: with -vv httpcore logs the server's reply
    headers, and a server or proxy may echo the Authorization header back. ``scrub`` blanks the secrets in a text
    (a function, so that ``ls serve`` can blank the token Label Studio's setup call sends later)."""

    def __init__(self, scrub: Callable[[str], str]) -> None:
        super().__init__()
        self._scrub = scrub

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self._scrub(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._scrub(record.exc_text)
        return True


def _redact_logs(token: str | None = None, *, scrub: Callable[[str], str] | None = None) -> None:
    """Put a :class:`_Redact` filter on the handlers the CLI logs through (set up by the ``animeparse`` group)."""
    if token and token.strip():
        secret = token.strip()
        scrub = scrub or (lambda text: text.replace(secret, "***"))
    if scrub is not None:
        for handler in logging.getLogger().handlers:
            handler.addFilter(_Redact(scrub))


@click.group("ls")
def ls_group() -> None:
    """Round trip through Label Studio: pre-labels out as predictions, corrections back as gt.

    \b
    Example:
      pip install label-studio && label-studio start --port 8080 &   # a local server (from a clone:
                                                    # bash scripts/label-studio-local.sh)
      animeparse ls push my-ds --project faces --layer prelabel/run1
      animeparse ls pull my-ds --project faces
    """


@ls_group.command("config")
@click.option("--labelmap", "labelmap_name", default="danbooru-parsing", show_default=True,
              help="Bundled label map name or a label map JSON file (a store's labelmap.json works).")
@click.option("--sam", is_flag=True, help="Add the KeyPointLabels/RectangleLabels prompt controls for an "
                                          "interactive SAM backend.")
@click.option("--characters", default=None, metavar="ID,ID,...|STORE",
              help="Add a single-choice 'character' Choices block: these ids, or a store's declared characters "
                   "(else every character it knows).")
@click.option("--interactive", is_flag=True, help="The prompt controls plus a 'negative' keypoint label for "
                                                  "negative clicks: the config for `ls serve`.")
def config_cmd(labelmap_name: str, sam: bool, characters: str | None, interactive: bool) -> None:
    """Print the Label Studio labelling config (XML) for a label map.

    \b
    Example:
      animeparse ls config --labelmap danbooru-parsing > config.xml
      animeparse ls config --labelmap my-ds/labelmap.json --sam
      animeparse ls config --labelmap my-ds/labelmap.json --characters my-ds
      animeparse ls config --characters ichika,nino,miku,yotsuba,itsuki
      animeparse ls config --labelmap my-ds/labelmap.json --interactive
    """
    from ..annotate.characters import character_ids
    from ..annotate.config import label_config
    from ..labelmap import load_labelmap

    ids = character_ids(characters) if characters else []
    click.echo(label_config(load_labelmap(labelmap_name), sam=sam, interactive=interactive, characters=ids), nl=False)


@ls_group.command("push")
@click.argument("dataset", type=_STORE)
@_server_options("Project title; created (with the store's labelling config) when missing.")
@click.option("--layer", default=None, metavar="prelabel/RUN|none",
              help="Prelabel layer sent as predictions (model_version = RUN). Default: the store's only prelabel "
                   "layer; 'none' sends no predictions.")
@click.option("--only", multiple=True, metavar="FILTER",
              help="Push only samples that pass: unlabeled (no gt yet), labeled, status:NAME, tag:NAME, split:NAME, "
                   "character:NAME, hair_color:NAME. Repeat to combine (all must hold).")
@click.option("--limit", type=click.IntRange(min=0), default=None,
              help="At most N samples, lowest prelabel score first.")
@click.option("--images", type=click.Choice(IMAGE_MODES), default="upload", show_default=True,
              help="upload: copy the images into Label Studio; local-files: the server reads them from the store "
                   "(it must lie under the server's local-files document root).")
@click.option("--document-root", type=click.Path(path_type=Path, file_okay=False), default=None,
              envvar=DOCUMENT_ROOT_ENV, show_envvar=True,
              help="The server's LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT (for --images local-files).")
@click.option("--sam", is_flag=True, help="Create the project with the SAM prompt controls.")
@click.option("--interactive", is_flag=True, help="Create the project with the config for `ls serve` (prompt "
                                                  "controls and the 'negative' keypoint label).")
@click.option("--order", type=click.Choice(["low-confidence", "uncertainty", "id"]), default="low-confidence",
              show_default=True, help="Task order (and what --limit keeps): lowest prelabel score first, highest "
                                      "parser entropy first (runs the parser), or by sample id.")
@click.option("--parser", "parser_spec", default=None, metavar="RUN|PATH",
              help="Parser for --order uncertainty (default: the store's newest finished parser run).")
def push_cmd(dataset: Path, url: str, token: str | None, project: str, layer: str | None, only: tuple[str, ...],
             limit: int | None, images: str, document_root: Path | None, sam: bool, interactive: bool,
             order: str, parser_spec: str | None) -> None:
    """Create or update a project: one task per sample, the prelabel layer as predictions.

    Pushing again adds only what is missing (tasks are found by sample id).

    \b
    Example:
      export LABEL_STUDIO_API_KEY=...   # Account & Settings in Label Studio
      animeparse ls push my-ds --project faces --only unlabeled --limit 200
      animeparse ls push my-ds --project faces --images local-files --document-root ~
      animeparse ls push my-ds --project faces --only unlabeled --order uncertainty --limit 50
    """
    from ..annotate import Connection, PushConfig, push
    from ..store import Dataset

    _redact_logs(token)
    config = PushConfig(project=project, layer=layer, only=only, limit=limit, images=images,
                        document_root=document_root, sam_prompts=sam, interactive=interactive,
                        order=order, parser=parser_spec)
    conn = Connection.open(url, token)
    with Dataset.open(dataset) as ds, progress_bar("tasks") as progress:
        report = push(ds, conn, config, progress=progress)
    state = "created" if report.project_created else ("config updated" if report.config_updated else "existing")
    say(f"project {report.project!r} (id {report.project_id}, {state}) on {report.url}")
    say(f"  samples selected  {report.selected}")
    say(f"  tasks             {report.tasks_created} created, {report.tasks_existing} already there"
        + (f", {report.tasks_repaired} given their sample id" if report.tasks_repaired else ""))
    if report.layer:
        say(f"  predictions       {report.predictions_added} added, {report.predictions_existing} already "
            f"there (layer {report.layer}, model_version {report.model_version})")
        if report.without_prelabel:
            say(f"  no prelabel       {len(report.without_prelabel)} samples (tasks without predictions)")
    else:
        say("  predictions       none (no prelabel layer; pass --layer)")


@ls_group.command("pull")
@click.argument("dataset", type=_STORE)
@_server_options("Title of the project to read; it must exist (ls push makes it).")
@click.option("--force", is_flag=True, help="Also replace reviewed gt masks, gt masks newer than the "
                                            "annotation, and gt pulled from another project sharing the samples "
                                            "(refused otherwise).")
@click.option("--alpha-threshold", type=click.IntRange(1, 255), default=DEFAULT_ALPHA_THRESHOLD, show_default=True,
              help="Brush alpha at or above which a pixel is painted (Label Studio anti-aliases brush edges).")
@click.option("--map", "maps", multiple=True, metavar="LABEL=CLASS",
              help="Store a Label Studio label as another class; CLASS may be 'ignore'. Repeatable.")
@click.option("--report", "report_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Write the full report (every sample id) as JSON.")
def pull_cmd(dataset: Path, url: str, token: str | None, project: str, force: bool, alpha_threshold: int,
             maps: tuple[str, ...], report_path: Path | None) -> None:
    """Store the project's annotations as the gt layer, with provenance.

    The latest non-cancelled annotation of a task wins; reviewed masks stay unless --force. Running it again
    finishes an interrupted pull and otherwise changes nothing.

    \b
    Example:
      animeparse ls pull my-ds --project faces
      animeparse ls pull my-ds --project faces --map Hair=hair --report pull.json
    """
    from ..annotate import Connection, PullConfig, pull
    from ..formats.base import class_map_from_pairs
    from ..store import Dataset

    _redact_logs(token)
    config = PullConfig(project=project, force=force, alpha_threshold=alpha_threshold,
                        class_map=class_map_from_pairs(maps))
    conn = Connection.open(url, token)
    with Dataset.open(dataset, write=True) as ds, progress_bar("samples") as progress:
        report = pull(ds, conn, config, progress=progress)
    say(f"project {report.project!r} (id {report.project_id}) on {report.url}: {report.tasks} annotated tasks")
    for label, ids in (("added", report.added), ("replaced", report.replaced), ("unchanged", report.unchanged),
                       ("kept: reviewed", report.kept_reviewed), ("kept: gt newer", report.kept_newer),
                       ("all cancelled", report.no_annotation)):
        if ids or label in ("added", "replaced", "unchanged"):
            say(f"  {label:<16} {len(ids)}")
    if report.kept_reviewed or report.kept_newer:
        say("  (pass --force to replace kept masks)")
    if report.several:
        say(f"  {len(report.several)} tasks have several annotations; took the latest by updated_at:")
        for row in report.several[:10]:
            say(f"    task {row['task_id']} (sample {row['sample_id']}): {row['annotations']} annotations, "
                f"took {row['chosen']}")
    if report.unknown_tasks:
        say(f"  {len(report.unknown_tasks)} tasks name no sample of this store (skipped)")
    for line in report.errors[:20]:
        click.echo(f"  error: {line}", err=True)
    if report_path:
        report_path.write_text(json.dumps(asdict(report), indent=2, sort_keys=True, default=str), encoding="utf-8")
        say(f"report: {report_path}")
    if report.errors:
        raise SystemExit(1)


@ls_group.command("serve")
@click.argument("dataset", type=_STORE)
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Interface to listen on (127.0.0.1: this machine only; put a TLS proxy in front to expose it).")
@click.option("--port", type=click.IntRange(0, 65535), default=9090, show_default=True, help="Port (0: a free one).")
@click.option("--sam", type=click.Choice(["auto", "vit_h", "vit_l", "vit_b", "none"]), default="auto",
              show_default=True,
              help="segment-anything for clicks: auto (--checkpoint, else a fetched one, else none), a fetched "
                   "size, or none (clicks answered from the parser).")
@click.option("--checkpoint", type=click.Path(path_type=Path, dir_okay=False, exists=True), default=None,
              help="A SAM checkpoint file in the official layout.")
@click.option("--parser", "parser_spec", default=None, metavar="RUN|PATH",
              help="Parser run id or checkpoint (default: the store's newest finished parser run).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--retrain-every", type=click.IntRange(min=0), default=0, show_default=True,
              help="Retrain the parser after N annotations stored through the webhook (0: never).")
@click.option("--train-epochs", type=click.IntRange(min=1), default=10, show_default=True,
              help="Epochs of each retraining.")
@click.option("--train-size", type=click.IntRange(min=16), default=256, show_default=True,
              help="Input side of each retraining (as parser train --size).")
@click.option("--train-minutes", type=click.FloatRange(min=0), default=5.0, show_default=True,
              help="Time budget of each retraining (0: none).")
@click.option("--url", envvar=URL_ENV, show_envvar=True, default=None,
              help="Label Studio server for refreshed predictions (default: the one that connected).")
@click.option("--token", envvar=TOKEN_ENV, show_envvar=True, default=None,
              help="API token for pushing refreshed predictions (default: the one Label Studio's setup call "
                   "sends). Never printed or logged.")
def serve_cmd(dataset: Path, host: str, port: int, sam: str, checkpoint: Path | None, parser_spec: str | None,
              device: str, retrain_every: int, train_epochs: int, train_size: int, train_minutes: float,
              url: str | None, token: str | None) -> None:
    """Serve the store's models as a Label Studio ML backend (interactive SAM, pre-annotation, retraining).

    Connect it in Label Studio under Settings > Model (URL http://HOST:PORT, "Interactive preannotations" on).
    Label Studio refuses backends on local addresses unless started with ML_BLOCK_LOCAL_IP=false and
    SSRF_PROTECTION_ENABLED=false (scripts/label-studio-local.sh sets both). Stop it with Ctrl-C.

    \b
    Example:
      animeparse ls config --labelmap my-ds/labelmap.json --interactive > config.xml
      animeparse ls serve my-ds --checkpoint sam_vit_b_01ec64.pth --retrain-every 20
    """
    from ..annotate.backend import BackendConfig
    from ..annotate.serve import make_server

    _redact_logs(token)
    config = BackendConfig(dataset=dataset, sam=sam, checkpoint=str(checkpoint) if checkpoint else None,
                           parser=parser_spec, device=device, retrain_every=retrain_every, train_epochs=train_epochs,
                           train_size=train_size, train_minutes=train_minutes or None, url=url, token=token)
    server = make_server(config, host=host, port=port)
    _redact_logs(scrub=server.learner.redact)  # also the token Label Studio's /setup sends
    click.echo(f"ML backend for {dataset} on {server.url} (model {server.backend.model_version}); Ctrl-C stops it")
    signal.signal(signal.SIGTERM, _stop_on_term)  # a service manager's stop ends it like Ctrl-C
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("stopping (a retraining in progress resumes from its last epoch next time)")
    finally:
        server.server_close()


def _stop_on_term(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


COMMANDS = [ls_group]
