"""Talking to Label Studio: images of tasks, predictions, annotations, the project's model_version.

Predictions and reads go through label-studio-sdk. Images are fetched by prelabel.studio.fetch (which hosts,
which paths get the token, bytes and time) with the SDK's own Authorization header (it handles legacy tokens
and Personal Access Tokens, which it exchanges for access tokens), because the SDK's file helper sends a PAT
unexchanged and is refused (docs/label-studio-testing.md).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import requests

from prelabel.pipeline.result import JobDeadline
from prelabel.redact import redact_url
from prelabel.studio.errors import StudioError
from prelabel.studio.fetch import FetchError, FetchLimits, ImageFetcher
from prelabel.studio.tasks import MalformedTask, Task

if TYPE_CHECKING:
    from label_studio_sdk import Annotation, LseProjectResponse

__all__ = ["LabelStudio", "MalformedTask", "StudioError", "Task"]
log = logging.getLogger(__name__)
T = TypeVar("T")
TASK_PAGE = 500
# Task ids go into the listing's URL: 200 six-digit ids make a query of about 2 KB, within what gunicorn (4,094
# bytes per request line) and uwsgi (4 KB) accept; 20,000 at once got HTTP 414 from Label Studio's own server.
IDS_PER_READ = 200
STORAGES_TTL = 60.0  # seconds a project's local-files storages are kept


class LabelStudio:
    def __init__(self, url: str, api_key: str, timeout: float = 30.0, images: FetchLimits | None = None):
        from label_studio_sdk import LabelStudio as SDK

        if not url.startswith(("http://", "https://")):
            raise StudioError(f"LABEL_STUDIO_URL must start with http:// or https://, got {redact_url(url)!r}")
        if not api_key:
            raise StudioError("LABEL_STUDIO_API_KEY is not set: Prelabel needs a token to read images and "
                              "write predictions (a legacy token or a Personal Access Token)")
        self.url = url.rstrip("/")
        self.shown_url = redact_url(self.url)  # what messages say: a password in the URL stays out of them
        self.timeout = timeout
        # The SDK's LabelStudio.__init__ takes *args, **kwargs without annotations (its base class is typed).
        self.sdk: SDK = SDK(base_url=self.url, api_key=api_key, timeout=timeout)  # type: ignore[no-untyped-call]
        self._session = requests.Session()
        self.calls: Counter[str] = Counter()  # HTTP calls made, by what they did (metrics, benchmarks)
        self._storages: dict[int, tuple[float, list[str]]] = {}
        self._storages_lock = threading.Lock()
        self.images = ImageFetcher(self.url, self._authorization, images, storages=self.local_storages)

    # ---- images ------------------------------------------------------------------------------------------

    def image_url(self, value: str, task_id: int | None) -> str:
        """Where the bytes of a task's image are: Label Studio paths, cloud URIs (presigned), or as given."""
        return self.images.url_for(value, task_id)

    def fetch_image(self, value: str, task_id: int | None = None, project_id: int | None = None,
                    until: JobDeadline | None = None) -> bytes:
        """The image's bytes; a FetchError (a StudioError) when the policy refuses it or it cannot be fetched.
        `project_id`, the task's project: its local-files storages may be read from disk. `until`: the job's
        deadline."""
        image, from_disk = self.images.fetch_counted(value, task_id, project_id, until)
        self.calls["read image from disk" if from_disk else "fetch image"] += 1
        return image

    def local_storages(self, project_id: int) -> list[str]:
        """The paths of the project's local-files storages as Label Studio holds them, read again after
        STORAGES_TTL seconds (a removed storage stops being read from disk by then)."""
        with self._storages_lock:
            kept = self._storages.get(project_id)
            if kept is not None and time.monotonic() - kept[0] < STORAGES_TTL:
                return kept[1]
        try:
            body = self._get_json("/api/storages/localfiles/", {"project": project_id})
        except StudioError as exc:
            raise FetchError(f"cannot read the local-files storages of project {project_id}: {exc}",
                             transient=True) from None
        paths = [str(s["path"]) for s in body if isinstance(s, dict) and isinstance(s.get("path"), str)
                 and s.get("project") == project_id] if isinstance(body, list) else []
        with self._storages_lock:
            self._storages[project_id] = (time.monotonic(), paths)
        return paths

    def _authorization(self) -> str:
        return self.sdk._client_wrapper.get_headers()["Authorization"]

    # ---- projects, tasks, predictions, annotations --------------------------------------------------------

    def project(self, project_id: int) -> LseProjectResponse:
        return self._call("read project", self.sdk.projects.get, id=project_id)

    def ensure_model_version(self, project_id: int, model_version: str) -> None:
        """Keep project.model_version equal to ours: Label Studio's score column and uncertainty sampling only
        count predictions of the project's model_version.

        Label Studio 1.23 accepts as project.model_version only an ML backend's *title* (the "live model": the
        editor then asks the backend for tasks without a prediction) or the version of existing predictions.
        So our backend's title becomes the model_version: a renamed backend whose old title was the project's
        model_version carries the project along (ml/models.py, MLBackend.save), and both features work.
        Ours are the backends titled "prelabel..." or titled as the project's model_version."""
        project = self.project(project_id)
        if project.model_version == model_version:
            return
        current = (project.model_version or "").lower()
        for backend in self._call("list ML backends", self.sdk.ml.list, project=project_id):
            title = (backend.title or "").lower()
            if title != model_version.lower() and (title.startswith("prelabel") or (current and title == current)):
                # Label Studio re-validates the whole backend on PATCH (health and setup): url and project must
                # come along, and an empty password keeps the stored one.
                auth = ({"auth_method": "BASIC_AUTH", "basic_auth_user": backend.basic_auth_user,
                         "basic_auth_pass": ""} if str(backend.auth_method).endswith("BASIC_AUTH") else {})
                self._call("rename ML backend", self.sdk.ml.update, id=backend.id, title=model_version,
                           url=backend.url, project=project_id, **auth)
        if self.project(project_id).model_version != model_version:
            self._call("update project", self.sdk.projects.update, id=project_id, model_version=model_version)

    def list_tasks(self, project_id: int, include: str, ids: list[int] | None = None, page_size: int = TASK_PAGE,
                   malformed: dict[int, str] | None = None) -> Iterator[Task]:
        """The project's tasks (or those of `ids`), page by page, with only the fields in `include` (e.g.
        "id,data,predictions_model_versions"): a 1,000-task project lists in 0.3 s this way against 3.5 s with
        every field (docs/label-studio-testing.md). Predictions and annotations need fields=all. A task Prelabel
        cannot read (prelabel.studio.tasks) costs only itself: it is left out, and why goes into `malformed`
        (by its id) when given, else into the log."""
        for value in self._list_json(project_id, include, ids, page_size):
            try:
                yield Task.from_json(value, project_id)
            except MalformedTask as exc:
                if malformed is not None and exc.task_id is not None:
                    malformed[exc.task_id] = str(exc)
                else:
                    log.warning("a task of project %s left out: %s", project_id,
                                f"task {exc.task_id}: {exc}" if exc.task_id is not None else exc)

    def _list_json(self, project_id: int, include: str, ids: list[int] | None,
                   page_size: int) -> Iterator[object]:
        params: dict[str, str | int] = {"project": project_id, "include": include, "fields": "all",
                                     "page_size": page_size}
        if ids is None:
            yield from self._pages(params, page_size)
            return
        for query in id_queries(ids):
            yield from self._pages({**params, "query": query}, page_size)

    def _pages(self, params: dict[str, str | int], page_size: int) -> Iterator[object]:
        page = 1
        while True:
            try:
                body = self._get_json("/api/tasks/", {**params, "page": page})
            except StudioError as exc:
                if " 404" in str(exc) and page > 1:  # past the last page
                    return
                raise
            tasks = body.get("tasks", []) if isinstance(body, dict) else []
            tasks = tasks if isinstance(tasks, list) else []
            yield from tasks
            if len(tasks) < page_size:
                return
            page += 1

    def read_tasks(self, project_id: int, include: str, ids: list[int]) -> tuple[dict[int, Task], dict[int, str]]:
        """These tasks by id (as list_tasks), and why any of them cannot be read. Label Studio answers 500 to a
        whole list when one task in it cannot be serialised (it accepts a lone surrogate in task data on import,
        then fails every list with the data that includes it): the ids are read in halves until the bad ones
        are isolated, so one bad task costs only itself. When none can be read, the error is raised as it is
        (Label Studio itself is failing: the caller tries again later). A task Prelabel cannot read
        (MalformedTask) is one of those that cannot be read."""
        ids = sorted(set(ids))
        malformed: dict[int, str] = {}
        try:
            return {task.id: task for task in self.list_tasks(project_id, include, ids=ids,
                                                              malformed=malformed)}, malformed
        except StudioError as exc:
            if exc.status is None or exc.status < 500:
                raise
            first = exc
        found, unreadable = self._halves(project_id, include, ids, first)
        if not found and len(unreadable) == len(ids) and len(ids) > 1:
            raise first
        return found, unreadable

    def _halves(self, project_id: int, include: str, ids: list[int],
                failed: StudioError) -> tuple[dict[int, Task], dict[int, str]]:
        """Read `ids`, whose list failed with `failed`, as two lists, each split again while it fails."""
        if len(ids) == 1:
            return {}, {ids[0]: f"Label Studio answers HTTP {failed.status} to any task list that includes this "
                                f"task (its data holds what Label Studio cannot serialise, such as a lone surrogate)"}
        found: dict[int, Task] = {}
        unreadable: dict[int, str] = {}
        for half in (ids[:len(ids) // 2], ids[len(ids) // 2:]):
            try:
                found.update((task.id, task) for task in self.list_tasks(project_id, include, ids=half,
                                                                         malformed=unreadable))
            except StudioError as exc:
                if exc.status is None or exc.status < 500:
                    raise
                more, bad = self._halves(project_id, include, half, exc)
                found.update(more)
                unreadable.update(bad)
        return found, unreadable

    def import_predictions(self, project_id: int, predictions: list[dict[str, Any]]) -> int:
        """Many predictions in one call (each with its "task"); Label Studio refuses the whole call when one
        names a task of another project. Returns how many Label Studio says it created: those the project's
        labeling config does not fit are never sent (valid_for_config).

        Never retried here (the SDK retries a 5xx or a dropped connection twice by default): Label Studio may
        have stored a call it answered with an error, or not at all (a gateway timing out after the commit), and
        a blind retry stores it again. The caller reads back what Label Studio holds before writing again."""
        predictions = self.valid_for_config(project_id, predictions)
        if not predictions:
            return 0
        body = self._call("write predictions", self.sdk.projects.import_predictions, id=project_id,
                          request=predictions, request_options={"max_retries": 0})
        created = getattr(body, "created", None)
        return created if isinstance(created, int) else 0

    def valid_for_config(self, project_id: int, predictions: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The predictions the project's labeling config, read now, can show: checked here with the SDK's
        LabelInterface, the check Label Studio makes only on its legacy import path. Prelabel's Label Studio runs
        the memory-efficient path (local/labelstudio.py, IMPORT_FLAG), whose cost does not grow with the project
        but which stores a prediction naming a control the config no longer has. A config the SDK cannot parse
        leaves the check to Label Studio."""
        from label_studio_sdk.label_interface.interface import LabelInterface

        if not predictions:
            return []
        config = self.project(project_id).label_config or ""
        try:
            interface = LabelInterface(config)
        except Exception:  # the SDK's parser raises anything on a config it cannot read
            return predictions

        def fits(prediction: dict[str, Any]) -> bool:
            try:  # the SDK's validate_prediction has no annotations
                return not interface.validate_prediction(  # type: ignore[no-untyped-call]
                    prediction, return_errors=True)
            except Exception:  # a malformed result is one Label Studio would refuse too
                return False

        return [prediction for prediction in predictions if fits(prediction)]

    def prediction_ids(self, project_id: int, task_id: int, model_version: object) -> list[int]:
        """The ids of a task's predictions of one model_version."""
        return [p.id for task in self.list_tasks(project_id, "id,predictions", ids=[task_id])
                for p in task.predictions if p.model_version == str(model_version) and p.id is not None]

    def update_task_data(self, task_id: int, data: dict[str, Any]) -> None:
        """Replace a task's data (Label Studio keeps its predictions and annotations). `review=true` makes Label
        Studio 1.23.2 look the task up with only its review fields before the update (tasks/api.py, TaskAPI
        get_queryset) instead of every Data Manager field: 40 against 55 ms of its CPU per update (a 1,000-task
        project with predictions, 2026-12-07); the update and its answer are the same."""
        self._call("write list columns", self.sdk.tasks.update, id=str(task_id), data=data,
                   request_options={"additional_query_parameters": {"review": "true"}})

    def set_data_field(self, project_id: int, key: str, value: str | float, task_ids: list[int]) -> None:
        """Set one field of these tasks' data to one value, in one call: the Data Manager's `add_data_field`
        action (Label Studio 1.23.2 data_manager/actions/experimental.py; listed in its menu only with
        experimental features on, but run for any caller who may change the project). It sets the one key in
        the stored data and leaves the rest as it is. The selection is always explicit: Label Studio reads a
        missing one as every task of the project."""
        if not task_ids:
            raise ValueError("set_data_field needs at least one task id")
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise TypeError(f"set_data_field sets a string or a number, not {type(value).__name__}")
        value_type = "String" if isinstance(value, str) else "Number"
        self._call("write list columns in bulk", self.sdk.actions.create, id="add_data_field", project=project_id,
                   selected_items={"all": False, "included": sorted(set(task_ids))},
                   request_options={"additional_body_parameters": {
                       "value_name": key, "value_type": value_type, "value": value}})

    def delete_prediction(self, prediction_id: int) -> None:
        self.calls["delete prediction"] += 1
        try:
            self.sdk.predictions.delete(id=prediction_id)
        except Exception as exc:
            if getattr(exc, "status_code", None) != 404:  # already gone: what was wanted
                raise StudioError(f"Label Studio at {self.shown_url}: cannot delete prediction {prediction_id} "
                                  f"({type(exc).__name__})", status=getattr(exc, "status_code", None)) from exc

    def _get_json(self, path: str, params: dict[str, str | int]) -> object:
        self.calls[f"read {path}"] += 1
        url = f"{self.url}{path}"
        try:
            response = self._session.get(url, params=params, headers={"Authorization": self._authorization()},
                                         timeout=self.timeout)
        except requests.RequestException as exc:
            raise StudioError(f"Label Studio at {self.shown_url}: cannot read {path} ({type(exc).__name__})") from None
        if response.status_code != 200:
            raise StudioError(f"Label Studio at {self.shown_url}: cannot read {path} (HTTP {response.status_code})",
                              status=response.status_code)
        try:
            return response.json()
        except ValueError:
            raise StudioError(f"Label Studio at {self.shown_url}: {path} did not answer JSON") from None

    def user_names(self) -> dict[int, str]:
        """Each user of the organisation by id: the name a person recognises (email, else username)."""
        users = self._get_json("/api/users/", {})
        return {user["id"]: str(user.get("email") or user.get("username") or f"user {user['id']}")
                for user in users if isinstance(user, dict) and isinstance(user.get("id"), int)} \
            if isinstance(users, list) else {}

    def annotation(self, annotation_id: int) -> Annotation:
        found: Annotation = self._call("read annotation", self.sdk.annotations.get, id=annotation_id)
        return found

    def _call(self, what: str, function: Callable[..., T], **kwargs: Any) -> T:
        self.calls[what] += 1
        try:
            return function(**kwargs)
        except Exception as exc:  # the SDK raises httpx errors and its own ApiError
            status = getattr(exc, "status_code", None)
            detail = f"HTTP {status}: {getattr(exc, 'body', '')}" if status else f"{type(exc).__name__}: {exc}"
            raise StudioError(f"Label Studio at {self.shown_url}: cannot {what} ({redact_url(detail)})",
                              status=status) from exc


def id_queries(ids: list[int]) -> Iterator[str]:
    """The Data Manager queries that select these tasks, IDS_PER_READ at a time."""
    chosen = sorted(set(ids))
    for start in range(0, len(chosen), IDS_PER_READ):
        yield json.dumps({"selectedItems": {"all": False, "included": chosen[start:start + IDS_PER_READ]}},
                         separators=(",", ":"))
