"""Writing predictions back into Label Studio in bulk, gathered across a worker's jobs.

One bulk import (`POST /api/projects/<id>/import/predictions`) costs about as much as one single write (0.4-0.5 s
on a 2-core VM with Label Studio's flat import path, which prelabel.local.labelstudio switches on; without it
each call recounts the whole project: 2.7 s at 1,000 tasks, 44 s at 20,000, docs/benchmarks.md), so
predictions are gathered and written in few, large calls: a flush when `max_items` are
waiting or the oldest has waited `max_wait` seconds, at once for an interactive job, in a thread of its own.
A job hands its predictions over and ends: its last writes overlap the next job's first MLLM calls.

Exactly once, and nothing lost: each flush claims its tasks (prelabel.delivery.results) and reads their
predictions back from Label Studio first (one call), so nothing is written twice and a prediction deleted there
is written again. A prediction handed over is entered in the delivery ledger first and confirmed once Label
Studio holds it; if the worker dies before its flush, or Label Studio refuses it, the reconciler
(prelabel.delivery.reconciler) writes it from the kept result when the entry falls due (LEDGER_DUE).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import xml.etree.ElementTree as ElementTree
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from prelabel.delivery.columns import ColumnQueue, ColumnWriter, Row
from prelabel.delivery.ledger import Ledger
from prelabel.delivery.results import CLAIM_TTL, ResultStore
from prelabel.pipeline.identity import ModelVersion
from prelabel.studio.client import LabelStudio, StudioError
from prelabel.studio.predictions import StudioPrediction
from prelabel.studio.tasks import HeldPrediction, Task

log = logging.getLogger(__name__)
MAX_ITEMS = 200
MAX_WAIT = 1.0
# When the reconciler takes over what a writer has not confirmed: long after the writer's claims have lapsed, so
# the two never write the same prediction.
LEDGER_DUE = 2 * CLAIM_TTL


@dataclass(frozen=True)
class Outgoing:
    task_id: int
    prediction: StudioPrediction  # with its model_version: the current one, or a failure's

    @property
    def version(self) -> str:
        return str(self.prediction.model_version)


@dataclass
class Written:
    written: int = 0
    current: int = 0  # of them, predictions of the current model_version (not failures)
    present: int = 0  # Label Studio already had it: nothing to write
    superseded: int = 0  # older Prelabel predictions removed
    doubles: int = 0  # a second prediction of one version found and removed
    busy_tasks: list[int] = field(default_factory=list)  # another deliverer held their claim

    @property
    def busy(self) -> int:
        return len(self.busy_tasks)


def write_batch(studio: LabelStudio, results: ResultStore, project_id: int, items: list[Outgoing],
                keep_superseded: bool = False) -> Written:
    """Write what Label Studio lacks of `items` (one project), exactly once; remove superseded predictions of
    tasks nobody has annotated yet, unless asked to keep them."""
    outcome = Written()
    # A batch can span jobs: a task's failure and its later real prediction may meet here; the failure goes.
    real = {item.task_id for item in items if not item.prediction.failed}
    items = [item for item in items if item.task_id not in real or not item.prediction.failed]
    claimed = []
    for item in items:
        if results.claim(item.version, item.task_id):
            claimed.append(item)
        else:
            outcome.busy_tasks.append(item.task_id)
    if not claimed:
        return outcome
    try:
        held = {task.id: task for task in studio.list_tasks(
            project_id, "id,predictions,total_annotations", ids=[item.task_id for item in claimed])}
        fresh: list[StudioPrediction] = []
        imported: list[dict[str, Any]] = []
        stale: list[int] = []
        doubles: list[int] = []
        for item in claimed:
            version = item.prediction.model_version
            task = held.get(item.task_id)
            if task is None:
                continue  # not (or no longer) a task of this project: nothing to write
            doubles.extend(double_ids(task.predictions))
            held_versions = {p.model_version for p in task.predictions}
            if str(version) in held_versions or str(version.real()) in held_versions:
                outcome.present += 1  # delivered before (a failure never replaces a real prediction)
                continue
            fresh.append(item.prediction)
            imported.append(item.prediction.to_json(task=item.task_id))
            if not keep_superseded:
                stale.extend(_stale(task, version))
        for prediction_id in doubles:
            studio.delete_prediction(prediction_id)
        outcome.doubles = len(doubles)
        outcome.written = _import(studio, project_id, imported)
        outcome.current = sum(1 for prediction in fresh if not prediction.failed)
        for prediction_id in stale:
            studio.delete_prediction(prediction_id)
        outcome.superseded = len(stale)
    finally:
        for released in {item.version for item in claimed}:
            results.release(released, [item.task_id for item in claimed if item.version == released])
    return outcome


class WriteRefused(StudioError):
    """Label Studio answered a write, but stored fewer predictions than it was sent."""


def _import(studio: LabelStudio, project_id: int, predictions: list[dict[str, Any]]) -> int:
    """Write, then make sure of what Label Studio stored. After an error, or no answer, it may hold the call all
    the same (committed, then a gateway's 500 or timeout): what it holds then decides, and nothing is sent twice.
    Fewer stored than sent is a failure with its reason, never a silent success."""
    if not predictions:
        return 0
    try:
        created = studio.import_predictions(project_id, predictions)
    except StudioError as exc:
        stored = _stored(studio, project_id, predictions)
        if stored < len(predictions):
            raise StudioError(f"{exc}; afterwards it holds {stored} of the {len(predictions)}",
                              status=exc.status) from exc
        log.warning("Label Studio stored the %d prediction(s) it did not confirm (%s)", stored, exc)
        return stored
    if created < len(predictions):
        raise WriteRefused(f"Label Studio stored {created} of {len(predictions)} prediction(s) written into "
                           f"project {project_id}{_why_refused(studio, project_id, predictions)}")
    return created


def _stored(studio: LabelStudio, project_id: int, predictions: list[dict[str, Any]]) -> int:
    """How many of these predictions (task, model_version) Label Studio holds now."""
    wanted = {(p["task"], p["model_version"]) for p in predictions}
    held = studio.list_tasks(project_id, "id,predictions_model_versions", ids=[task for task, _ in wanted])
    return sum((task.id, version) in wanted for task in held for version in task.versions)


def _why_refused(studio: LabelStudio, project_id: int, predictions: list[dict[str, Any]]) -> str:
    """Label Studio drops, without an error, a prediction whose control its labeling config does not have (a
    renamed or removed <Choices>, data_import/api.py); say which, when that is why."""
    try:
        config = studio.project(project_id).label_config or ""
        names = {node.get("name") for node in ElementTree.fromstring(config).iter()}
    except (StudioError, ElementTree.ParseError):
        return ""
    gone = sorted({r.get("from_name") for p in predictions for r in p.get("result") or []} - names - {None})
    return (f": the labeling config has no control {', '.join(map(repr, gone))} any more (changed after they were "
            "made; they are predicted again for the new one)") if gone else ": it rejected them as invalid"


def double_ids(predictions: Iterable[HeldPrediction]) -> list[int]:
    """Prelabel's predictions a task holds twice for one model_version (written before this check existed, or
    by a call Label Studio stored and answered with an error): all but the first."""
    seen: set[str] = set()
    doubles = []
    for prediction in sorted(predictions, key=lambda p: p.id or 0):
        version = str(prediction.model_version)
        if ModelVersion.parse(version) is None or prediction.id is None:
            continue  # not ours: never touched
        if version in seen:
            doubles.append(prediction.id)
        seen.add(version)
    return doubles


def _stale(task: Task, version: ModelVersion) -> list[int]:
    """The ids of older predictions of ours that a prediction of `version` replaces, on a task nobody has
    annotated yet."""
    if task.total_annotations:
        return []
    return [p.id for p in task.predictions if p.id is not None
            and (old := ModelVersion.parse(p.model_version)) and version.supersedes(old)]


def remove_superseded(studio: LabelStudio, project_id: int, replaced: dict[int, ModelVersion]) -> int:
    """Remove what predictions delivered in a /predict response replace (a failure it healed): Label Studio
    stores the response itself and removes nothing. Returns how many were removed."""
    stale = [prediction_id for task in studio.list_tasks(project_id, "id,predictions,total_annotations",
                                                         ids=list(replaced))
             for prediction_id in _stale(task, replaced[task.id])]
    for prediction_id in stale:
        studio.delete_prediction(prediction_id)
    return len(stale)


class BatchWriter:
    """A worker's outgoing predictions, written in bulk from a background thread; one per worker process, for
    every project. `close()` writes what is left."""

    def __init__(self, studio: LabelStudio, results: ResultStore, ledger: Ledger, keep_superseded: bool = False,
                 after_write: Callable[[int, str], None] | None = None, max_items: int = MAX_ITEMS,
                 max_wait: float = MAX_WAIT, after_refusal: Callable[[int], None] | None = None, *,
                 column_queue: ColumnQueue):
        self.studio, self.results, self.ledger, self.keep_superseded = studio, results, ledger, keep_superseded
        self.after_write = after_write  # (project, model_version) once Label Studio holds a current prediction
        self.after_refusal = after_refusal  # (project) when Label Studio stored fewer than it was sent
        self.max_items, self.max_wait = max_items, max_wait
        self._waiting: dict[int, list[Outgoing]] = defaultdict(list)
        self._columns: dict[int, dict[int, tuple[Row, Row]]] = defaultdict(dict)  # project: task: (data, columns)
        self._replaced: dict[int, dict[int, ModelVersion]] = defaultdict(dict)  # project: task: the new version
        self._removals: list[int] = []  # prediction ids
        self._count = 0
        self._oldest = 0.0
        self._urgent = self._closing = False
        self._urgent_projects: set[int] = set()
        self._condition = threading.Condition()
        self._column_writer = ColumnWriter(studio, column_queue)
        self._thread = threading.Thread(target=self._run, name="prelabel-writer", daemon=True)
        self._thread.start()

    def submit(self, project_id: int, items: Iterable[Outgoing], urgent: bool = False) -> None:
        """Hand predictions over for writing; `urgent` writes all that waits at once (a person is waiting)."""
        items = list(items)
        for version in {item.version for item in items if not item.prediction.failed}:
            # (a failure lost is predicted again when next asked for: it is not entered)
            self.ledger.add(version, project_id, [item.task_id for item in items if item.version == version],
                            due_in=LEDGER_DUE)
        with self._condition:
            if items and not self._count:
                self._oldest = time.monotonic()
            self._waiting[project_id].extend(items)
            self._count += len(items)
            if urgent:
                self._urgent = True
                self._urgent_projects.add(project_id)
            self._condition.notify()

    def submit_columns(self, project_id: int, task_id: int, data: Row, columns: Row, urgent: bool = False) -> None:
        """Hand over a task's list columns (prelabel.studio.columns), written with the predictions; `data` is the
        task's data as read, which the columns are merged into."""
        with self._condition:
            if not self._count:
                self._oldest = time.monotonic()
            self._columns[project_id][task_id] = (data, columns)
            self._count += 1
            if urgent:
                self._urgent = True
                self._urgent_projects.add(project_id)
            self._condition.notify()

    def submit_replaced(self, project_id: int, task_id: int, version: ModelVersion) -> None:
        """A prediction of `version` goes to Label Studio in a /predict response: remove what it replaces."""
        if self.keep_superseded:
            return
        with self._condition:
            if not self._count:
                self._oldest = time.monotonic()
            self._replaced[project_id][task_id] = version
            self._count += 1
            self._condition.notify()

    def submit_removal(self, prediction_ids: list[int]) -> None:
        """Remove these predictions (a failure that a /predict response repeats)."""
        if not prediction_ids:
            return
        with self._condition:
            if not self._count:
                self._oldest = time.monotonic()
            self._removals.extend(prediction_ids)
            self._count += len(prediction_ids)
            self._condition.notify()

    def flush(self) -> None:
        """Write all that waits now, without waiting for it (the worker has no next job to overlap)."""
        with self._condition:
            self._urgent = True
            self._condition.notify()

    def close(self) -> None:
        with self._condition:
            self._closing = True
            self._condition.notify()
        self._thread.join()
        self._column_writer.close()

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._due():
                    timeout = None if not self._count else max(0.0, self._oldest + self.max_wait - time.monotonic())
                    self._condition.wait(timeout)
                batches, self._waiting = self._waiting, defaultdict(list)
                columns, self._columns = self._columns, defaultdict(dict)
                replaced, self._replaced = self._replaced, defaultdict(dict)
                removals, self._removals = self._removals, []
                urgent_projects, self._urgent_projects = self._urgent_projects, set()
                self._count, self._urgent, closing = 0, False, self._closing
            # A person waits on the urgent ones: they go first, and no call carries more than max_items.
            for project_id in sorted(batches, key=lambda project: project not in urgent_projects):
                batch = batches[project_id]
                for start in range(0, len(batch), self.max_items):
                    self._write(project_id, batch[start:start + self.max_items])
            for project_id in sorted(columns, key=lambda project: project not in urgent_projects):
                self._column_writer.submit(project_id, columns[project_id])
            for project_id, tasks in replaced.items():
                try:
                    remove_superseded(self.studio, project_id, tasks)
                except Exception as exc:  # only tidiness is at stake: the new prediction is what pages show
                    log.warning("removing replaced predictions of project %s failed: %s", project_id, exc)
            for prediction_id in removals:
                try:
                    self.studio.delete_prediction(prediction_id)
                except Exception as exc:
                    log.warning("removing prediction %s failed: %s", prediction_id, exc)
            if closing:
                with self._condition:
                    if not self._count:
                        return

    def _due(self) -> bool:
        if self._closing or self._urgent or self._count >= self.max_items:
            return True
        return bool(self._count) and time.monotonic() - self._oldest >= self.max_wait

    def _write(self, project_id: int, batch: list[Outgoing]) -> None:
        try:
            done = write_batch(self.studio, self.results, project_id, batch, self.keep_superseded)
            busy = set(done.busy_tasks)  # another deliverer's: its ledger entry is checked later
            by_version: dict[ModelVersion, list[int]] = defaultdict(list)
            for item in batch:
                if item.task_id not in busy:
                    by_version[item.prediction.model_version].append(item.task_id)
            for version, task_ids in by_version.items():
                self.ledger.confirm(str(version), project_id, task_ids)
            if done.written:
                self.ledger.succeeded(project_id)
            if done.current and self.after_write is not None:
                for version in by_version:
                    if not version.failed:
                        self.after_write(project_id, str(version))
        except Exception as exc:  # Label Studio or Redis away: the ledger entries stay, the reconciler retries
            log.warning("writing %d prediction(s) into project %s failed (the reconciler tries again): %s",
                        len(batch), project_id, exc)
            with contextlib.suppress(Exception):  # Redis away too: the log line above says it
                self.ledger.failed(project_id, str(exc))
            if isinstance(exc, WriteRefused) and self.after_refusal is not None:
                self.after_refusal(project_id)
