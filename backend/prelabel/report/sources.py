"""Where the report's records come from: a Label Studio project (one export snapshot holds the tasks with their
annotations, predictions and meta), an export file, and the learned store's prediction evidence.

The one module of the report that imports the rest of Prelabel (settings, vocabulary, the parts that hold the
store and the Label Studio client), so the others stay pure and the report follows the package wherever it moves.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from prelabel.learning.store import LearnedStore
from prelabel.parts import Parts
from prelabel.pipeline.result import FAILED
from prelabel.report.parse import WRONG_FORMAT, attach_evidence, check_export, evidence_from, read_tasks
from prelabel.report.records import Attempt, Exported, Progress, ReportInputError, TaskRecord
from prelabel.settings import Settings, SettingsError
from prelabel.studio.client import LabelStudio, StudioError
from prelabel.vocabulary.vocab import VocabError, load_vocabulary

DEFAULT_NONE_CHOICE = "None of these"
EXPORT_TIMEOUT = 1800.0  # seconds a large project's export snapshot may take on the server

ByteProgress = Callable[[Iterator[bytes]], Iterator[bytes]]
R = TypeVar("R")


def read_settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        raise ReportInputError(str(exc)) from None


def none_choice(settings: Settings) -> str:
    """The choice reviewers submit for "none of these" (PRELABEL_NONE_CHOICE, where this Prelabel has it)."""
    return getattr(settings, "none_choice", None) or DEFAULT_NONE_CHOICE


def vocabulary_labels(settings: Settings, path: str | None) -> frozenset[str] | None:
    """The labels Prelabel can give. A vocabulary named with --vocab must load; the default one
    (PRELABEL_VOCAB) may be missing on a machine that only reads an export: then labels outside it are unknown."""
    file = path or settings.vocab
    if path is None and not Path(file).exists():
        return None
    try:
        return frozenset(load_vocabulary(file).label_values)
    except VocabError as exc:
        raise ReportInputError(str(exc)) from None


def name_screen(settings: Settings, path: str | None) -> Callable[[str, str], bool] | None:
    """Could a string be a name of a label? The screening `prelabel vocab accept` and the learning queue apply
    (group words, none words, one or two letters, strings naming several labels...): what the report offers as
    names the vocabulary could learn passes it. None when the vocabulary is unknown, as for vocabulary_labels."""
    from prelabel.vocabulary.normalize import Normalizer
    from prelabel.vocabulary.screening import check_name

    file = path or settings.vocab
    if path is None and not Path(file).exists():
        return None
    try:
        normalizer = Normalizer(load_vocabulary(file))
    except VocabError as exc:
        raise ReportInputError(str(exc)) from None
    return lambda string, label: check_name(string, label, normalizer) is None


# ---- an export file --------------------------------------------------------------------------------------------

def read_export_file(path: Path, none: str, from_name: str | None, progress: Progress) -> tuple[list[TaskRecord],
                                                                                                 int | None]:
    """Records of a Label Studio JSON export (or `prelabel predict` output with annotations), and the project
    the tasks belong to, if the export says."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportInputError(f"{path}: no such file") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportInputError(f"{path} is not JSON ({exc}): " + WRONG_FORMAT) from None
    tasks = check_export(data, str(path))
    projects = Counter(task["project"] for task in tasks if isinstance(task.get("project"), int))
    return read_tasks(tasks, none, from_name, progress), (projects.most_common(1)[0][0] if projects else None)


# ---- a Label Studio project ------------------------------------------------------------------------------------

def open_studio(parts: Parts) -> LabelStudio:
    try:
        return parts.studio
    except StudioError as exc:
        raise ReportInputError(str(exc)) from None


def call(studio: LabelStudio, what: str, function: Callable[..., R], **kwargs: Any) -> R:
    """An SDK call; its failure is a StudioError that names what failed and Label Studio's answer. kwargs: the
    call's own arguments, JSON for Label Studio among them (Any, as the SDK's signatures take them)."""
    try:
        return function(**kwargs)
    except Exception as exc:  # the SDK raises httpx errors and its own ApiError
        status = getattr(exc, "status_code", None)
        detail = f"HTTP {status}: {getattr(exc, 'body', '')}" if status else f"{type(exc).__name__}: {exc}"
        raise StudioError(f"Label Studio at {studio.url}: cannot {what} ({detail})") from exc


def project_model_version(studio: LabelStudio, project_id: int) -> str | None:
    try:
        return studio.sdk.projects.get(id=project_id).model_version or None
    except Exception as exc:
        if getattr(exc, "status_code", None) == 404:
            raise ReportInputError(f"Label Studio at {studio.url} has no project {project_id}") from None
        raise StudioError(f"Label Studio at {studio.url}: cannot read project {project_id} ({exc})") from exc


def export_project(studio: LabelStudio, project_id: int, annotated_only: bool, downloading: ByteProgress
                   ) -> list[Exported]:
    """The project's tasks as Label Studio exports them, in one export snapshot: annotations, full predictions
    (the quick export lists them by id only) and meta. annotated_only: tasks with annotations, cancelled ones
    included (the report says how many it left out)."""
    exports = studio.sdk.projects.exports
    created = call(studio, "create an export snapshot", exports.create, id=project_id, title="prelabel report",
                   task_filter_options={"only_with_annotations": annotated_only},
                   serialization_options={"predictions": {"only_id": False}})
    snapshot = created.id
    if snapshot is None:  # the SDK's type allows it; a snapshot Label Studio made has its id
        raise StudioError(f"Label Studio at {studio.url}: the export snapshot of project {project_id} has no id")
    try:
        deadline = time.monotonic() + EXPORT_TIMEOUT
        status = created.status
        while status != "completed":
            if status == "failed" or time.monotonic() > deadline:
                raise StudioError(f"Label Studio at {studio.url}: the export snapshot of project {project_id} "
                                  f"{'failed' if status == 'failed' else 'did not finish in time'}")
            time.sleep(1.0)  # Label Studio builds snapshots in a background job where it has Redis
            status = call(studio, "read the export snapshot", exports.get, id=project_id, export_pk=snapshot).status
        chunks = call(studio, "download the export", exports.download, id=project_id, export_pk=snapshot,
                      export_type="JSON")
        data = json.loads(b"".join(downloading(chunks)))
    finally:
        with contextlib.suppress(Exception):  # a snapshot left behind costs disk space, not the report
            exports.delete(id=project_id, export_pk=snapshot)  # snapshots stay on the server otherwise
    return check_export(data, f"the export of project {project_id}")


# ---- the learned store ----------------------------------------------------------------------------------------

def open_store(parts: Parts) -> LearnedStore | None:
    """The learned store, if there is one to read: a SQLite file that does not exist is not created."""
    url = parts.settings.learned_url
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return None
    try:
        return parts.store
    except Exception as exc:  # a PostgreSQL that does not answer: the report still has meta.prelabel
        raise StudioError(f"cannot open the learned store {url}: {exc}") from exc


def add_store_evidence(records: list[TaskRecord], store: LearnedStore, project_id: int) -> int:
    """The prediction evidence the workers kept (stage scores, MLLM strings, usage) for the project's tasks;
    it wins over meta.prelabel, and is a pre-label of its own where Label Studio has no prediction (the
    workers write none when Prelabel says none). Returns how many task versions it added."""
    by_id = {record.task_id: record for record in records}
    found = 0
    for kept in store.project_evidence(project_id):
        record = by_id.get(kept.task_id)
        if record is None:
            continue
        attach_evidence(record, kept.model_version, evidence_from(kept.evidence, kept.label, "store"))
        found += 1
    return found


def stored_attempts(store: LearnedStore, project_id: int) -> list[tuple[int, str, Attempt]]:
    """Every attempt the workers made at the project's tasks, oldest first: (task, model_version, attempt)."""
    return [(row.task_id, row.model_version, Attempt(row.state == FAILED, row.cause, row.usage))
            for row in store.prediction_attempts(project_id)]


def teaching_tasks(store: LearnedStore, project_id: int) -> dict[int, list[tuple[str, str]]]:
    """The project's tasks whose annotations taught a synonym now in force (promoted by reviewers or accepted by
    an expert), with what they taught: a version that uses the synonym has seen their answer."""
    found: dict[int, list[tuple[str, str]]] = {}
    for taught in store.teaching(project_id):
        found.setdefault(taught.task_id, []).append((taught.string, taught.label))
    return found


def reviewers_words(studio: LabelStudio, project_id: int, settings: Settings, path: str | None
                    ) -> tuple[str, dict[str, str]]:
    """The project's language and the names its reviewers read for labels (its labeling config's choice values,
    where they differ from the vocabulary label): what the report speaks. English and the labels themselves for a
    config or vocabulary the report cannot read."""
    from prelabel.studio.labelconfig import LabelConfigError, read_label_config

    try:
        vocabulary = load_vocabulary(path or settings.vocab)
        config = studio.sdk.projects.get(id=project_id).label_config or ""
        control = read_label_config(config, vocabulary, none_choice(settings)).control
    except (VocabError, LabelConfigError, OSError):
        return "en", {}
    shown = {label: control.display(label) for label in vocabulary.label_values}
    return control.language, {label: name for label, name in shown.items() if name != label}
