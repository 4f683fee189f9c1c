"""The learning loop of ``ls serve``: submitted annotations into the store, and retraining after every N.

Label Studio posts ``ANNOTATION_CREATED`` / ``ANNOTATION_UPDATED`` to the backend's ``/webhook`` (it makes that
webhook itself when the backend is connected). Each payload is first written to the inbox
``<store>/cache/ls-backend/inbox/`` (so nothing is lost while the store is busy), then stored as ``gt`` by
:func:`~animeparse.annotate.pull.apply_export` (the code ``ls pull`` runs, with the same provenance: an
``ls-pull`` run whose parameters say ``via: webhook``). After ``retrain_every`` stored annotations a background
thread trains a parser on the store's ``gt`` (``train_parser``: resumable by epoch, one training at a time),
pre-labels the unlabelled samples with it into a new ``prelabel/<run>`` layer, pushes those as predictions to the
project, and has the backend answer with the new parser from then on. While it runs, webhooks wait in the inbox
and are stored when it ends.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import LabelMapError, LockError
from ..fsutil import atomic_write_bytes
from ..store import Dataset
from .backend import BackendConfig, BackendError
from .client import ProjectInfo, redact_url
from .pull import PullConfig, apply_export

__all__ = ["Learner", "LearnerState", "ANNOTATION_ACTIONS"]

log = logging.getLogger(__name__)

ANNOTATION_ACTIONS = ("ANNOTATION_CREATED", "ANNOTATION_UPDATED")


@dataclass
class LearnerState:
    """What the loop has done since the backend started (also shown by ``/health``)."""

    stored: int = 0  # annotations written as gt through the webhook
    since_training: int = 0
    trainings: int = 0  # finished retraining rounds
    training: bool = False
    last_parser: str | None = None
    last_layer: str | None = None
    pushed: int = 0
    errors: list[str] = field(default_factory=list)


class Learner:
    """Webhook handling and the retraining thread for one store. ``on_trained(run_id)`` is called with the new
    parser run after each training (the backend reloads it)."""

    def __init__(self, config: BackendConfig, *, on_trained: Callable[[str], None] | None = None) -> None:
        self.config = config
        self.root = Path(config.dataset).absolute()
        self.inbox = self.root / "cache" / "ls-backend" / "inbox"
        self.state = LearnerState()
        self._writer = threading.Lock()  # this process's store writes: webhook storing, training
        self._thread: threading.Thread | None = None
        self._starting = threading.Lock()
        self._on_trained = on_trained
        self.server_url: str | None = config.url
        self._token: str | None = config.token
        self._project: ProjectInfo | None = None

    def set_server(self, url: str | None, token: str | None) -> None:
        """Where refreshed predictions go: Label Studio's ``/setup`` call names its host and a token (kept in
        memory only, never logged); ``--url`` / ``--token`` given to ``ls serve`` win."""
        if url and not self.config.url:
            self.server_url = url
        if token and not self.config.token:
            self._token = token

    def redact(self, text: str) -> str:
        """``text`` with the token this backend holds blanked (``***``): for log filters."""
        return text.replace(self._token, "***") if self._token else text

    # -- webhook ------------------------------------------------------------------------------------------------
    def webhook(self, payload: Any) -> dict[str, Any]:
        """Handle one webhook call; returns the reply body. BackendError (4xx) for a malformed payload, a label
        the store's map lacks, or a store locked by another process."""
        if not isinstance(payload, Mapping) or not isinstance(payload.get("action"), str):
            raise BackendError("a webhook payload must be a JSON object with an action")
        action = payload["action"]
        if action == "START_TRAINING":
            return {"status": "training" if self.start_training() else "already training"}
        if action not in ANNOTATION_ACTIONS:
            return {"status": "ignored", "action": action}
        task, annotation = payload.get("task"), payload.get("annotation")
        if not isinstance(task, Mapping) or not isinstance(task.get("id"), int) \
                or not isinstance(task.get("data"), Mapping) or not isinstance(annotation, Mapping) \
                or not isinstance(annotation.get("id"), int) or not isinstance(annotation.get("result"), list):
            raise BackendError(f"{action} payload needs task.id, task.data, annotation.id and annotation.result")
        project = payload.get("project")
        if isinstance(project, Mapping) and isinstance(project.get("id"), int):
            self._project = ProjectInfo(id=int(project["id"]), title=str(project.get("title") or ""),
                                        label_config=str(project.get("label_config") or ""))
        entry = {"task": {"id": task["id"], "data": dict(task["data"]), "annotations": [dict(annotation)]},
                 "project": {"id": self._project.id, "title": self._project.title} if self._project else None}
        name = f"task{task['id']}-annotation{annotation['id']}.json"
        atomic_write_bytes(self.inbox / name, json.dumps(entry, sort_keys=True).encode(), fsync=False)
        # the file is written before this check and the training thread clears the flag before its last drain,
        # so an entry queued here is always stored by one of them
        if self.state.training or not self._writer.acquire(timeout=120):
            return {"status": "queued", "reason": "the parser is training; stored when it ends"}
        try:
            stored = self._drain()
        finally:
            self._writer.release()
        if self.config.retrain_every and self.state.since_training >= self.config.retrain_every:
            self.start_training()
        return {"status": "stored", "stored": stored}

    def _drain(self) -> int:
        """Store every inbox entry as gt (caller holds ``_writer``); returns how many masks were written."""
        files = sorted(self.inbox.glob("*.json")) if self.inbox.is_dir() else []
        if not files:
            return 0
        try:
            ds = Dataset.open(self.root, write=True)
        except LockError as err:
            raise BackendError(f"the store is locked by another writer ({err}); the annotation is kept in "
                               f"{self.inbox} and stored with the next webhook, or run `animeparse ls pull`",
                               status=423) from None
        written = 0
        with ds:
            for path in files:
                entry = json.loads(path.read_text(encoding="utf-8"))
                meta = entry.get("project") or {}
                project = ProjectInfo(id=int(meta.get("id") or 0), title=str(meta.get("title") or ""),
                                      label_config="")
                url = redact_url(self.server_url or "")
                run_id = ds.start_run("ls-pull", params={"url": url, "project": project.title,
                                                         "project_id": project.id, "via": "webhook"})
                try:
                    report = apply_export(ds, [entry["task"]], config=PullConfig(project=project.title),
                                          project=project, url=url, run_id=run_id)
                except LabelMapError as err:
                    ds.finish_run(run_id, status="failed", summary={"error": str(err)})
                    path.unlink()  # it can never be stored: keeping it would refuse every later webhook
                    raise BackendError(f"{err}; the annotation was not stored", status=422) from None
                ds.finish_run(run_id, summary={**report.summary(), "via": "webhook"})
                n = len(report.added) + len(report.replaced)
                written += n
                self.state.stored += n
                self.state.since_training += n
                self.state.errors.extend(report.errors)
                path.unlink()
        return written

    # -- retraining ---------------------------------------------------------------------------------------------
    def start_training(self) -> bool:
        """Start the retraining thread unless one runs; False when one was already running."""
        with self._starting:
            if self._thread is not None and self._thread.is_alive():
                return False
            self.state.training = True
            self._thread = threading.Thread(target=self._train, name="animeparse-retrain", daemon=True)
            self._thread.start()
            return True

    def wait(self, timeout: float | None = None) -> None:
        """Block until the retraining thread (if any) has ended."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _train(self) -> None:
        from ..prelabel import PrelabelConfig, TrainConfig, prelabel, train_parser

        with self._writer:
            try:
                self.state.since_training = 0
                with Dataset.open(self.root, write=True) as ds:
                    # fine-tune the parser the last round made (the backend's first one is trained anew)
                    previous = self.state.last_parser
                    result = train_parser(ds, TrainConfig(epochs=self.config.train_epochs, split="all",
                                                          size=self.config.train_size,
                                                          time_budget=self.config.train_minutes,
                                                          device=self.config.device, init_from=previous))
                    done = prelabel(ds, PrelabelConfig(parser=result.run_id, sam="none", only="unlabeled",
                                                       device=self.config.device))
                self.state.last_parser, self.state.last_layer = result.run_id, done.layer
                if self._on_trained is not None:
                    self._on_trained(result.run_id)
                self.state.pushed += self._push(done.layer)
                self.state.trainings += 1
                log.info("retrained: parser %s, layer %s", result.run_id, done.layer)
            except Exception as err:  # a failed round must not stop the server; it is reported by /health
                log.exception("retraining failed")
                self.state.errors.append(f"retraining failed: {type(err).__name__}: {err}")
            finally:
                self.state.training = False
                try:
                    self._drain()  # webhooks that came in meanwhile
                except BackendError as err:
                    self.state.errors.append(str(err))

    def _push(self, layer: str) -> int:
        """Push the new layer's predictions to the project (0 when no server or project is known yet)."""
        from .client import Connection
        from .push import PushConfig, push

        if not self.server_url or not self._token or self._project is None or not self._project.title:
            log.info("no Label Studio server or project known yet: refreshed predictions not pushed")
            return 0
        conn = Connection.open(self.server_url, self._token)
        with Dataset.open(self.root) as ds:
            report = push(ds, conn, PushConfig(project=self._project.title, layer=layer, only=("unlabeled",)))
        return report.predictions_added
