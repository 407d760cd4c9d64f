"""Writing predictions back into Label Studio in bulk, gathered across a worker's jobs.

One bulk import (`POST /api/projects/<id>/import/predictions`) costs about as much as one single write, and
each call makes Label Studio recount the whole project (0.03 s into an empty project, 0.5-0.7 s into one of
1,000 tasks), so predictions are gathered and written in few, large calls: a flush when `max_items` are
waiting or the oldest has waited `max_wait` seconds, at once for an interactive job, in a thread of its own.
A job hands its predictions over and ends: its last writes overlap the next job's first MLLM calls.

Exactly once, and nothing lost: each flush claims its tasks (prelabel.delivery.results) and reads their
predictions back from Label Studio first (one call), so nothing is written twice and a prediction deleted there
is written again. A prediction handed over is entered in the delivery ledger first and confirmed once Label
Studio holds it; if the worker dies before its flush, or Label Studio refuses it, the reconciler
(prelabel.delivery.reconciler) writes it from the kept result when the entry falls due (LEDGER_DUE).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from prelabel.delivery.ledger import Ledger
from prelabel.delivery.results import CLAIM_TTL, ResultStore
from prelabel.pipeline.identity import ModelVersion
from prelabel.studio.client import LabelStudio
from prelabel.studio.predictions import StudioPrediction

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
        held = {task["id"]: task for task in studio.list_tasks(
            project_id, "id,predictions,total_annotations", ids=[item.task_id for item in claimed])}
        fresh: list[StudioPrediction] = []
        imported: list[dict[str, Any]] = []
        stale: list[int] = []
        for item in claimed:
            version = item.prediction.model_version
            task = held.get(item.task_id)
            if task is None:
                continue  # not (or no longer) a task of this project: nothing to write
            held_versions = {p.get("model_version") for p in task.get("predictions") or [] if isinstance(p, dict)}
            if str(version) in held_versions or str(version.real()) in held_versions:
                outcome.present += 1  # delivered before (a failure never replaces a real prediction)
                continue
            fresh.append(item.prediction)
            imported.append(item.prediction.to_json(task=item.task_id))
            if not keep_superseded and not task.get("total_annotations"):
                stale.extend(p["id"] for p in task.get("predictions") or [] if isinstance(p, dict)
                             and (old := ModelVersion.parse(p.get("model_version"))) and version.supersedes(old))
        outcome.written = studio.import_predictions(project_id, imported)
        outcome.current = sum(1 for prediction in fresh if not prediction.failed)
        for prediction_id in stale:
            studio.delete_prediction(prediction_id)
        outcome.superseded = len(stale)
    finally:
        for released in {item.version for item in claimed}:
            results.release(released, [item.task_id for item in claimed if item.version == released])
    return outcome


class BatchWriter:
    """A worker's outgoing predictions, written in bulk from a background thread; one per worker process, for
    every project. `close()` writes what is left."""

    def __init__(self, studio: LabelStudio, results: ResultStore, ledger: Ledger, keep_superseded: bool = False,
                 after_write: Callable[[int, str], None] | None = None, max_items: int = MAX_ITEMS,
                 max_wait: float = MAX_WAIT):
        self.studio, self.results, self.ledger, self.keep_superseded = studio, results, ledger, keep_superseded
        self.after_write = after_write  # (project, model_version) once Label Studio holds a current prediction
        self.max_items, self.max_wait = max_items, max_wait
        self._waiting: dict[int, list[Outgoing]] = defaultdict(list)
        self._count = 0
        self._oldest = 0.0
        self._urgent = self._closing = False
        self._urgent_projects: set[int] = set()
        self._condition = threading.Condition()
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

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._due():
                    timeout = None if not self._count else max(0.0, self._oldest + self.max_wait - time.monotonic())
                    self._condition.wait(timeout)
                batches, self._waiting = self._waiting, defaultdict(list)
                urgent_projects, self._urgent_projects = self._urgent_projects, set()
                self._count, self._urgent, closing = 0, False, self._closing
            # A person waits on the urgent ones: they go first, and no call carries more than max_items.
            for project_id in sorted(batches, key=lambda project: project not in urgent_projects):
                batch = batches[project_id]
                for start in range(0, len(batch), self.max_items):
                    self._write(project_id, batch[start:start + self.max_items])
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
            if done.current and self.after_write is not None:
                for version in by_version:
                    if not version.failed:
                        self.after_write(project_id, str(version))
        except Exception as exc:  # Label Studio or Redis away: the ledger entries stay, the reconciler retries
            log.warning("writing %d prediction(s) into project %s failed (the reconciler tries again): %s",
                        len(batch), project_id, exc)
