"""A thin connection to a Label Studio server over ``label-studio-sdk``, with one-line errors that name the fix.

Every call goes through :meth:`Connection._call`, which turns the SDK's and httpx's exceptions into
:class:`LabelStudioError`. The API token is held only by the SDK client and this object (never in ``repr``, never
in a message or a log line: server replies are scrubbed of it before they are quoted).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from ..errors import AnimeparseError, MissingDependencyError
from ..fsutil import atomic_open

__all__ = ["LabelStudioError", "Connection", "ProjectInfo", "TaskInfo", "TOKEN_ENV", "URL_ENV", "DEFAULT_URL",
           "redact_url", "start_hint"]

log = logging.getLogger(__name__)

TOKEN_ENV = "LABEL_STUDIO_API_KEY"
URL_ENV = "LABEL_STUDIO_URL"
DEFAULT_URL = "http://localhost:8080"
_TOKEN_HELP = ("copy the token from Label Studio's Account & Settings page and pass --token or set "
               f"{TOKEN_ENV}")
_AGAIN = "then run the same animeparse ls command again (push and pull pick up where they stopped)"


def start_hint(url: str) -> str:
    """How to start a local Label Studio on ``url``'s port, for a pip install (the clone's script as well)."""
    port = urlsplit(url).port or 8080
    return (f"start one with: pip install label-studio && label-studio start --port {port} (from a clone of "
            "animeparse: bash scripts/label-studio-local.sh)")
T = TypeVar("T")


class LabelStudioError(AnimeparseError):
    """The Label Studio server could not be reached, refused the token, or refused a request."""


def redact_url(url: str) -> str:
    """The URL without any ``user:password@`` part, for messages and provenance."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


@dataclass(frozen=True)
class ProjectInfo:
    """A project as animeparse needs it: id, title, labelling config, the model version shown to annotators."""

    id: int
    title: str
    label_config: str
    model_version: str = ""


@dataclass(frozen=True)
class TaskInfo:
    """A task's id, data, upload file name and the model versions of its predictions."""

    id: int
    data: Mapping[str, Any]
    file_upload: str | None = None
    model_versions: frozenset[str] = field(default_factory=frozenset)


class Connection:
    """An authenticated client for one server. Build it with :meth:`open` (checks the token with one request)."""

    def __init__(self, url: str, token: str, *, timeout: float = 60.0) -> None:
        try:
            from label_studio_sdk import LabelStudio
        except ImportError as err:
            raise MissingDependencyError("label_studio_sdk", "labelstudio") from err
        self.url = redact_url(url)
        self._token = token
        self._timeout = timeout
        self._client = self._call("connect", lambda: LabelStudio(base_url=url.rstrip("/"), api_key=token,
                                                                  timeout=timeout))

    def __repr__(self) -> str:
        return f"Connection({self.url!r})"

    @classmethod
    def open(cls, url: str | None = None, token: str | None = None, *, timeout: float = 60.0) -> Connection:
        """Connect to ``url`` (else ``$LABEL_STUDIO_URL``, else localhost:8080) with ``token`` (else
        ``$LABEL_STUDIO_API_KEY``) and check both with one request."""
        url = url or os.environ.get(URL_ENV) or DEFAULT_URL
        token = token if token is not None else os.environ.get(TOKEN_ENV)
        if not token or not token.strip():
            raise LabelStudioError(f"no Label Studio API token: {_TOKEN_HELP}")
        if urlsplit(url).scheme not in ("http", "https"):
            raise LabelStudioError(f"--url must start with http:// or https://, got {redact_url(url)!r}")
        conn = cls(url, token.strip(), timeout=timeout)
        conn._call("check the token", lambda: conn._client.users.whoami())
        return conn

    # -- errors -------------------------------------------------------------------------------------------------
    def _scrub(self, text: str) -> str:
        return text.replace(self._token, "***") if getattr(self, "_token", "") else text

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """Run one SDK call; translate every failure into a one-line LabelStudioError naming the fix."""
        import httpx
        from label_studio_sdk.core.api_error import ApiError

        try:
            return fn()
        except ApiError as err:
            code = err.status_code
            if code == 401:
                raise LabelStudioError(f"Label Studio at {self.url} refused the API token (401 Unauthorized); "
                                       f"{_TOKEN_HELP}") from None
            if code == 403:
                raise LabelStudioError(f"Label Studio at {self.url} does not allow this user to {what} (403); "
                                       "use the token of a user who may manage the project") from None
            raise LabelStudioError(f"Label Studio at {self.url} answered {code} when asked to {what}: "
                                   f"{self._detail(err.body)}") from None
        # one message per kind of network failure, each with its fix (the checks go from specific to general)
        except (httpx.ConnectError, httpx.ConnectTimeout) as err:
            raise LabelStudioError(f"cannot reach Label Studio at {self.url} ({type(err).__name__}) when asked to "
                                   f"{what}; is it running? {start_hint(self.url)}; or check --url. If it was "
                                   f"running, {_AGAIN}") from None
        except httpx.TimeoutException as err:
            raise LabelStudioError(f"Label Studio at {self.url} did not answer in time when asked to {what} "
                                   f"({type(err).__name__}); the server is busy or stuck: check it, {_AGAIN}"
                                   ) from None
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError, httpx.CloseError) as err:
            raise LabelStudioError(f"the connection to Label Studio at {self.url} broke when asked to {what} "
                                   f"({type(err).__name__}: the server closed it mid-request, e.g. it stopped or "
                                   f"restarted); check that it is running, {_AGAIN}") from None
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as err:
            raise LabelStudioError(f"{self.url} is not a URL Label Studio can be reached at ({type(err).__name__}); "
                                   "check --url (http://host:port)") from None
        except httpx.HTTPError as err:
            raise LabelStudioError(f"request to Label Studio at {self.url} failed when asked to {what} "
                                   f"({type(err).__name__}: {self._scrub(str(err))[:200]}); check the server and "
                                   f"--url, {_AGAIN}") from None

    def _detail(self, body: Any) -> str:
        """The useful part of an error reply (``detail``, ``validation_errors``), short and without the token."""
        if isinstance(body, Mapping):
            parts = [str(body[k]) for k in ("detail", "validation_errors") if body.get(k)]
            text = "; ".join(parts) if parts else json.dumps(body, default=str)
        else:
            text = str(body)
        text = " ".join(self._scrub(text).split())
        return text[:300] + ("..." if len(text) > 300 else "")

    # -- projects -----------------------------------------------------------------------------------------------
    def find_project(self, title: str) -> ProjectInfo | None:
        """The project with exactly this title, or None; two projects with it are an error."""
        listed: list[Any] = self._call("list projects", lambda: list(self._client.projects.list(title=title)))
        found = [p for p in listed if p.title == title]
        if len(found) > 1:
            ids = ", ".join(str(p.id) for p in found)
            raise LabelStudioError(f"Label Studio at {self.url} has {len(found)} projects titled {title!r} (ids "
                                   f"{ids}); rename all but one so --project names a single project")
        return self.project(found[0].id) if found else None

    def project_titles(self) -> list[str]:
        listed: list[Any] = self._call("list projects", lambda: list(self._client.projects.list()))
        return sorted(p.title or "" for p in listed)

    def project(self, project_id: int) -> ProjectInfo:
        p: Any = self._call("read the project", lambda: self._client.projects.get(project_id))
        return ProjectInfo(id=int(p.id), title=p.title or "", label_config=p.label_config or "",
                           model_version=p.model_version or "")

    def create_project(self, title: str, label_config: str, *, description: str = "") -> ProjectInfo:
        p: Any = self._call("create a project", lambda: self._client.projects.create(
            title=title, label_config=label_config, description=description))
        return self.project(int(p.id))

    def update_project(self, project_id: int, **fields: Any) -> None:
        self._call("update the project", lambda: self._client.projects.update(project_id, **fields))

    # -- tasks and predictions ----------------------------------------------------------------------------------
    def tasks(self, project_id: int) -> list[TaskInfo]:
        """Every task of a project with its data and prediction model versions (no results: the list stays small)."""
        pages: list[Any] = self._call("list tasks", lambda: list(self._client.tasks.list(
            project=project_id, fields="all", include="id,data,file_upload,predictions_model_versions",
            page_size=500)))
        return [TaskInfo(id=int(t.id), data=dict(t.data or {}), file_upload=t.file_upload,
                         model_versions=frozenset(v.strip() for v in (t.predictions_model_versions or "").split(",")
                                                  if v.strip())) for t in pages]

    def import_tasks(self, project_id: int, tasks: Sequence[Mapping[str, Any]]) -> list[int]:
        """Create tasks from JSON (``{"data": {...}}`` each); return their ids in order."""
        reply = self._call("import tasks", lambda: self._client.projects.import_tasks(
            project_id, request=list(tasks), return_task_ids=True,  # type: ignore[arg-type]  # dicts: the SDK validates
            request_options={"timeout": max(self._timeout, 300.0)}))
        return [int(i) for i in (getattr(reply, "task_ids", None) or [])]  # in the reply, not in the SDK's model

    def upload_images(self, project_id: int, files: Iterable[tuple[str, Path]]) -> list[int]:
        """Upload image files, one task each (``data.image`` = ``/data/upload/...``); return the new task ids.

        The SDK has no typed call for a multipart import, so this uses its authenticated HTTP client directly.
        """
        payload = {name: (name, path.read_bytes(), "application/octet-stream") for name, path in files}

        def post() -> list[int]:
            from label_studio_sdk.core.api_error import ApiError

            reply = self._client._client_wrapper.httpx_client.request(  # noqa: SLF001 - see the docstring
                f"api/projects/{project_id}/import", method="POST", files=payload,  # type: ignore[arg-type]
                params={"return_task_ids": True}, request_options={"timeout": max(self._timeout, 300.0)})
            if not 200 <= reply.status_code < 300:
                try:
                    body: Any = reply.json()
                except ValueError:
                    body = reply.text
                raise ApiError(status_code=reply.status_code, body=body)
            return [int(i) for i in reply.json().get("task_ids") or []]

        return self._call("upload images", post)

    def update_task_data(self, task_id: int, data: Mapping[str, Any]) -> None:
        self._call("update a task", lambda: self._client.tasks.update(str(task_id), data=dict(data)))

    def import_predictions(self, project_id: int, predictions: Sequence[Mapping[str, Any]]) -> int:
        """Add predictions (``task``, ``result``, ``model_version``, ``score`` each); return how many were made."""
        reply = self._call("import predictions", lambda: self._client.projects.import_predictions(
            project_id, request=list(predictions),  # type: ignore[arg-type]  # plain dicts: the SDK validates them
            request_options={"timeout": max(self._timeout, 300.0)}))
        return int(getattr(reply, "created", None) or len(predictions))

    def ensure_local_storage(self, project_id: int, folder: Path) -> bool:
        """Connect ``folder`` as local-files storage of the project (never synced: tasks are made by push);
        Label Studio serves ``/data/local-files/`` only under such a storage. Return True when one was made."""
        storages = self._call("list local storages", lambda: self._client.import_storage.local.list(
            project=project_id))
        if any(Path(s.path or "") == folder for s in storages):
            return False
        self._call("connect local files", lambda: self._client.import_storage.local.create(
            project=project_id, path=str(folder), title="animeparse images", use_blob_urls=True,
            description="made by animeparse ls push; tasks are created by push, not by syncing"))
        return True

    def user_emails(self) -> dict[int, str]:
        """User id -> email, for provenance; empty when this user may not list users. A lost connection is an
        error like any other (annotators' ids would otherwise be stored for good in place of their emails)."""
        from label_studio_sdk.core.api_error import ApiError

        def listing() -> list[Any] | None:
            try:
                return list(self._client.users.list())
            except ApiError as err:
                if err.status_code in (401, 403, 404):  # this user may not list users: keep the ids
                    log.info("annotator emails unavailable (Label Studio answered %s); keeping user ids",
                             err.status_code)
                    return None
                raise

        users = self._call("list users", listing)
        return {int(u.id): str(u.email) for u in users or [] if u.email}

    # -- export -------------------------------------------------------------------------------------------------
    def export_snapshot(self, project_id: int, dest: Path, *, timeout: float = 3600.0) -> Path:
        """Export the project's annotated tasks as Label Studio JSON into ``dest`` through a snapshot.

        A snapshot is built by the server in the background and then downloaded as a file, so big projects do not
        hit the request timeout that the synchronous export endpoint has. Predictions and drafts come as ids only.
        """
        snap: Any = self._call("create an export snapshot", lambda: self._client.projects.exports.create(
            project_id, title="animeparse ls pull",
            task_filter_options={"only_with_annotations": True},  # type: ignore[arg-type]  # dicts: the SDK validates
            serialization_options={"predictions": {"only_id": True}, "drafts": {"only_id": True}},  # type: ignore[arg-type]
            request_options={"timeout": timeout}))
        deadline = time.monotonic() + timeout
        status = snap.status
        while status != "completed":
            if status == "failed":
                raise LabelStudioError(f"Label Studio at {self.url} failed to build export snapshot {snap.id}; see "
                                       "the server log, then run the pull again")
            if time.monotonic() > deadline:
                raise LabelStudioError(f"export snapshot {snap.id} was not ready after {timeout:.0f} s (status "
                                       f"{status}); run the pull again later")
            time.sleep(1.0)
            status = self._call("poll the export", lambda: self._client.projects.exports.get(project_id, snap.id)
                                ).status

        def download() -> None:
            with atomic_open(dest, "wb") as fh:
                for chunk in self._client.projects.exports.download(project_id, snap.id, export_type="JSON",
                                                                     request_options={"timeout": timeout}):
                    fh.write(chunk)

        self._call("download the export", download)
        try:  # snapshots pile up on the server otherwise; losing one is harmless
            self._call("delete the export snapshot", lambda: self._client.projects.exports.delete(project_id,
                                                                                                   snap.id))
        except LabelStudioError as err:
            log.info("export snapshot %s left on the server (%s)", snap.id, err)
        return dest
