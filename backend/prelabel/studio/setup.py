"""Make a Label Studio project ready for Prelabel, idempotently (`prelabel setup`, and `prelabel up`).

Each step reads what is there first and changes only what differs: the project (by id or title) and its
labeling config, one Local Files storage for the photos (Label Studio does not deduplicate storages) and its
sync, or the task import of a list of URLs (only URLs not yet imported), the ML backend at one URL, the
project's model_version, the backend's webhook, and the reviewers' Data Manager tab. Running it twice changes
nothing the second time.

Every refusal by Label Studio becomes one sentence, in Label Studio's words, that says what to change
(docs/label-studio-testing.md, "Project setup refusals", lists them as 1.23.2 answers).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from prelabel.studio import columns
from prelabel.studio.client import LabelStudio, StudioError
from prelabel.text import quote

# The files a storage sync turns into tasks (Label Studio matches the regex against the file name).
IMAGE_FILES = r"(?i).*\.(jpe?g|png|gif|bmp|webp|tiff?)$"
BACKEND_TITLE = "Prelabel"  # the backend renames it to its model_version (studio/client.py, ensure_model_version)


class SetupRefused(StudioError):
    """Label Studio refused a step; the message says what to change."""


@dataclass(frozen=True)
class Wanted:
    """The project as Prelabel needs it."""

    label_config: str
    title: str | None = None  # find the project by exact title, or create it with this title
    project_id: int | None = None  # or use this existing project
    images_dir: Path | None = None  # a Local Files storage for this directory (below LOCAL_FILES_DOCUMENT_ROOT)
    image_urls: tuple[str, ...] = ()  # or import one task per URL
    data_key: str = "image"  # the task data key of the image ($image in the config)
    backend_url: str | None = None  # connect the ML backend there (`prelabel serve`)
    basic_auth: tuple[str, str] | None = None  # the backend's BASIC_AUTH_USER / BASIC_AUTH_PASS
    review_tab: bool = True  # the Data Manager tab for reviewers (settings.list_columns: its columns are written)
    replace_config: bool = False  # replace an existing project's own labeling config (--force); else it is kept


@dataclass
class Ready:
    project_id: int
    title: str
    model_version: str | None
    tasks: int
    changes: list[str] = field(default_factory=list)  # what this run created or changed; empty on a rerun


def set_up(studio: LabelStudio, wanted: Wanted, say: Callable[[str], None] = lambda _: None) -> Ready:
    """Bring the project to `wanted`; `say` hears each change as it is made."""
    if (wanted.title is None) == (wanted.project_id is None):
        raise ValueError("give either a project id or a title")
    changes: list[str] = []

    def changed(text: str) -> None:
        changes.append(text)
        say(text)

    call = Caller(studio)
    project = _project(call, wanted, changed)
    if wanted.images_dir is not None:
        _storage(call, project.id, wanted.images_dir, changed)
    if wanted.image_urls:
        _import_urls(call, project.id, wanted.image_urls, wanted.data_key, changed)
    if wanted.backend_url:
        _backend(call, studio, project.id, wanted, changed)
        _webhook(call, project.id, wanted.backend_url, changed)
    if wanted.review_tab:
        _review_tab(call, project.id, wanted.data_key, changed)
    project = call("read the project", studio.sdk.projects.get, id=project.id)
    return Ready(project.id, project.title, project.model_version or None, project.task_number or 0, changes)


# ---- the steps --------------------------------------------------------------------------------------------


def _project(call: Caller, wanted: Wanted, changed: Callable[[str], None]) -> Any:
    sdk = call.studio.sdk
    if wanted.project_id is not None:
        project = call("read project", sdk.projects.get, id=wanted.project_id)
    else:
        # The API's title filter is "contains, any case": keep the exact title only.
        found = [p for p in call("list projects", sdk.projects.list, title=wanted.title) if p.title == wanted.title]
        if len(found) > 1:
            raise SetupRefused(f"{len(found)} projects are titled {wanted.title!r} (ids "
                               f"{', '.join(str(p.id) for p in found)}): give --project with one of them")
        if not found:
            project = call("create the project", sdk.projects.create, title=wanted.title,
                           label_config=wanted.label_config)
            changed(f"created project {project.id} {project.title!r}")
            return project
        project = call("read project", sdk.projects.get, id=found[0].id)
    if (project.label_config or "").strip() != wanted.label_config.strip():  # Label Studio strips the config
        if not wanted.replace_config:
            # A team's own config (a Japanese one pasted in, a layout of its own) is never replaced silently; the
            # backend reads whichever config the project has, and refuses one of another vocabulary.
            changed(f"project {project.id}: its labeling config is not the vocabulary's and is kept "
                    f"(--force replaces it)")
            return project
        call("update the labeling config", sdk.projects.update, id=project.id, label_config=wanted.label_config)
        changed(f"project {project.id}: labeling config replaced by the vocabulary's (--force)")
    return project


def _storage(call: Caller, project_id: int, images_dir: Path, changed: Callable[[str], None]) -> None:
    """One Local Files storage for the directory, synced: a sync imports only files it has not seen."""
    local = call.studio.sdk.import_storage.local
    # As given, made absolute, symlinks kept: Label Studio compares it with its root as written.
    path = os.path.normpath(images_dir.absolute())
    storages = [s for s in call("list storages", local.list, project=project_id)
                if (s.path or "").rstrip("/") == path]
    if storages:
        storage = storages[0]
    else:
        call.path = path
        storage = call("add the local-files storage", local.create, project=project_id, path=path,
                       title=f"Prelabel: {images_dir.name}", use_blob_urls=True, regex_filter=IMAGE_FILES)
        changed(f"project {project_id}: local-files storage {storage.id} for {path}")
    synced = call("sync the storage", local.sync, id=storage.id)
    new = synced.last_sync_count or 0
    if new:
        changed(f"project {project_id}: {new} task(s) imported from {path}")


def _import_urls(call: Caller, project_id: int, urls: tuple[str, ...], data_key: str,
                 changed: Callable[[str], None]) -> None:
    """One task per URL not yet in the project."""
    sdk = call.studio.sdk
    present = {(task.data or {}).get(data_key)
               for task in call("list tasks", sdk.tasks.list, project=project_id, include="id,data")}
    missing = [url for url in dict.fromkeys(urls) if url not in present]
    if missing:
        call("import tasks", sdk.projects.import_tasks, id=project_id, request=[{data_key: url} for url in missing])
        changed(f"project {project_id}: {len(missing)} task(s) imported from the URL list")


def _backend(call: Caller, studio: LabelStudio, project_id: int, wanted: Wanted,
             changed: Callable[[str], None]) -> None:
    """One ML backend at the URL, with the backend's credentials; the project's model_version follows it."""
    ml = studio.sdk.ml
    url = (wanted.backend_url or "").rstrip("/")
    auth: dict[str, Any] = ({"auth_method": "BASIC_AUTH", "basic_auth_user": wanted.basic_auth[0],
                             "basic_auth_pass": wanted.basic_auth[1]} if wanted.basic_auth else {})
    call.backend_url = url
    found = [b for b in call("list ML backends", ml.list, project=project_id) if (b.url or "").rstrip("/") == url]
    if not found:
        try:
            backend = call("connect the ML backend", ml.create, project=project_id, url=url, title=BACKEND_TITLE,
                           is_interactive=False, **auth)
        except SetupRefused:
            # Label Studio says only "doesn't look like a valid ML backend"; the backend says why (a project of
            # another vocabulary, issue 21), in one line.
            config = call("read the project", studio.sdk.projects.get, id=project_id).label_config or ""
            said = _backend_refusal(url, wanted.basic_auth, project_id, config, studio.timeout)
            if said is None:
                raise
            raise SetupRefused(f"the backend at {url} refuses project {project_id}: {said}") from None
        changed(f"project {project_id}: ML backend {backend.id} at {url}")
    else:
        backend = found[0]
        has_auth = str(backend.auth_method or "").endswith("BASIC_AUTH")
        if (backend.basic_auth_user if has_auth else None) != (wanted.basic_auth[0] if wanted.basic_auth else None):
            # The password cannot be read back: it is sent when the user or the method changes.
            call("update the ML backend's credentials", ml.update, id=backend.id, url=backend.url,
                 project=project_id, **(auth or {"auth_method": "NONE"}))
            changed(f"project {project_id}: ML backend {backend.id} credentials updated")
    # The model_version the backend's /setup answered (Label Studio asks it on every read).
    version = call("read the ML backend", ml.get, id=backend.id).model_version or None
    if version and call("read the project", studio.sdk.projects.get, id=project_id).model_version != version:
        studio.ensure_model_version(project_id, version)
        changed(f"project {project_id}: model_version {version}")


def _backend_refusal(url: str, basic_auth: tuple[str, str] | None, project_id: int, config: str,
                     timeout: float) -> str | None:
    """The backend's own reason for refusing the project, asked as Label Studio asks it (POST /setup), or None
    when it gives none."""
    try:
        answer = requests.post(f"{url}/setup", json={"project": f"{project_id}.0", "schema": config},
                               auth=basic_auth, timeout=timeout)
        said = answer.json().get("error") if answer.status_code == 400 else None
    except (requests.RequestException, ValueError, AttributeError):  # no answer, not JSON, not an object
        return None
    return quote(said, 400) if isinstance(said, str) and said.strip() else None


def _webhook(call: Caller, project_id: int, backend_url: str, changed: Callable[[str], None]) -> None:
    """Label Studio creates the backend's webhook itself, unless SSRF protection silently skipped it."""
    hooks = call.studio.sdk.webhooks
    url = backend_url.rstrip("/") + "/webhook"
    if any(hook.url == url for hook in call("list webhooks", hooks.list, project=str(project_id))):
        return
    call.webhook_url = url
    call("create the webhook", hooks.create, url=url, project=project_id, send_payload=True,
         send_for_all_actions=True)
    changed(f"project {project_id}: webhook {url}")


REVIEW_TAB = "Prelabel review"
# Label Studio 1.23.2's task columns a reviewer does not need in that tab (GET /api/dm/columns lists them all).
NOT_FOR_REVIEW = ("inner_id", "cancelled_annotations", "total_predictions", "annotations_results", "annotations_ids",
                  "predictions_score", "predictions_model_versions", "predictions_results", "file_upload",
                  "storage_filename", "created_at", "updated_at", "updated_by", "avg_lead_time", "draft_exists")


def _review_tab(call: Caller, project_id: int, data_key: str, changed: Callable[[str], None]) -> None:
    """A Data Manager tab with the suggestion and its score as columns (prelabel.studio.columns), sorted by the
    score: failed, none and least sure first. Made once: a reviewer's changes to it are kept."""
    views = call.studio.sdk.views
    if any((view.data or {}).get("title") == REVIEW_TAB for view in call("list tabs", views.list, project=project_id)
           if isinstance(view.data, dict)):
        return
    hidden = [f"tasks:{column}" for column in NOT_FOR_REVIEW] + [f"tasks:data.{columns.RUNNER_UPS}"]
    score = f"tasks:data.{columns.SCORE}"
    call("save the review tab", views.create, project=project_id, data={
        "title": REVIEW_TAB, "ordering": [score], "columnsDisplayType": {score: "Number"},
        "filters": {"conjunction": "and", "items": []},
        "hiddenColumns": {"explore": hidden, "labeling": [*hidden, f"tasks:data.{data_key}", "tasks:completed_at",
                                                          "tasks:annotators", "tasks:total_annotations"]}})
    changed(f"project {project_id}: Data Manager tab {REVIEW_TAB!r} (suggestion and score, least sure first)")


# ---- refusals, in one sentence each ---------------------------------------------------------------------


class Caller:
    """Calls the SDK and turns a refusal into SetupRefused, naming what to change. The step's subject (the
    storage path, the backend URL) is kept as the steps go, for the message."""

    def __init__(self, studio: LabelStudio):
        self.studio = studio
        self.path = ""
        self.backend_url = ""
        self.webhook_url = ""

    def __call__(self, what: str, function: Callable[..., Any], **kwargs: Any) -> Any:
        try:
            return function(**kwargs)
        except Exception as exc:  # the SDK raises its ApiError and httpx errors
            raise SetupRefused(self.explain(what, exc)) from exc

    def explain(self, what: str, exc: Exception) -> str:
        url = self.studio.url
        status = getattr(exc, "status_code", None)
        if status is None:
            return (f"cannot reach Label Studio at {url} to {what} ({type(exc).__name__}: {exc}): start it, or set "
                    "LABEL_STUDIO_URL to where it runs")
        said = _words(getattr(exc, "body", None))
        if status == 401:
            if "legacy token" in said:
                return (f"Label Studio at {url} refused the token ({said}): create a Personal Access Token under "
                        "Account & Settings and set it as LABEL_STUDIO_API_KEY")
            return (f"Label Studio at {url} refused the token ({said}): set LABEL_STUDIO_API_KEY to the token "
                    "shown under Account & Settings (a legacy token, or a Personal Access Token)")
        if status == 404 and what == "read project":
            return (f"Label Studio at {url} has no such project ({said}): give an existing --project id, or --title to "
                    "find or create the project by title")
        if "LOCAL_FILES_SERVING_ENABLED" in said:
            return ("Label Studio does not serve local files (LOCAL_FILES_SERVING_ENABLED is off): restart it with "
                    f"LOCAL_FILES_SERVING_ENABLED=true and LOCAL_FILES_DOCUMENT_ROOT set to a parent of {self.path}")
        if "must be a subdirectory of LOCAL_FILES_DOCUMENT_ROOT" in said:
            return (f"Label Studio refuses {self.path} as a local-files storage ({said}): put the photos below "
                    f"that root, or restart Label Studio with LOCAL_FILES_DOCUMENT_ROOT set to a parent of "
                    f"{self.path}")
        if "cannot be the same as LOCAL_FILES_DOCUMENT_ROOT" in said:
            return (f"Label Studio refuses {self.path} as a local-files storage ({said}): move the photos into a "
                    f"subdirectory, or restart Label Studio with LOCAL_FILES_DOCUMENT_ROOT set to the parent of "
                    f"{self.path}")
        if re.search(r'Absolute local path ".*" does not exist', said):
            return (f"Label Studio cannot see {self.path} ({said}): give the path as it is on Label Studio's "
                    "machine")
        if "reserved network address" in said and what == "create the webhook":
            return (f"Label Studio refuses the webhook {self.webhook_url} ({said}): restart it with "
                    "SSRF_PROTECTION_ENABLED=false, or reviewers' corrections never reach Prelabel")
        if "reserved network address" in said:
            return (f"Label Studio refuses the backend URL {self.backend_url} ({said}): restart it with "
                    "ML_BLOCK_LOCAL_IP=false and SSRF_PROTECTION_ENABLED=false (the backend has a private address), "
                    "or give --backend-url an address Label Studio allows")
        if "Can't resolve hostname" in said:
            return (f"Label Studio cannot resolve the host of {self.backend_url} ({said}): give --backend-url a "
                    "name or address that Label Studio's machine resolves")
        if "health check failed" in said:
            detail = said.split("Additional info:", 1)[-1].strip() if "Additional info:" in said else said
            return (f"Label Studio cannot reach the backend at {self.backend_url} (health check failed: {detail}): "
                    "start `prelabel serve` there, or give --backend-url an address Label Studio's machine reaches")
        if "authentication parameters" in said:
            return (f"the backend at {self.backend_url} refused Label Studio's credentials ({said}): set "
                    "BASIC_AUTH_USER and BASIC_AUTH_PASS to the values `prelabel serve` runs with")
        return f"Label Studio at {url} refused to {what} (HTTP {status}: {said})"


def _words(body: Any) -> str:
    """Label Studio's own message out of an error body: `detail`, or the validation errors, without HTML."""
    if isinstance(body, dict):
        if body.get("detail") and not body.get("validation_errors"):
            text = str(body["detail"])
        else:
            errors = body.get("validation_errors") or body
            text = " ".join(_flatten(errors))
    else:
        text = str(body or "")
    text = re.sub(r"<[^>]+>", "", text)  # the ML serializer's message holds an HTML link
    return re.sub(r"\s+", " ", text).strip().rstrip(".")


def _flatten(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [text for item in value.values() for text in _flatten(item)]
    if isinstance(value, list):
        return [text for item in value for text in _flatten(item)]
    return [str(value)]
