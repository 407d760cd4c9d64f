"""Writing predictions back into Label Studio in bulk, while the rest of a job is still being predicted.

One bulk import (`POST /api/projects/<id>/import/predictions`) costs about as much as one single write, and
each call makes Label Studio recount the whole project (0.03 s into an empty project, 0.5-0.7 s into one of
1,000 tasks), so predictions are gathered and written in few, large calls: a flush when `max_items` are
waiting or the oldest has waited `max_wait` seconds, in a thread of its own, so the job's next MLLM calls go on
meanwhile. Each flush reads the tasks' predictions back from Label Studio first (one call, under the claims of
prelabel.jobs.delivery), so nothing is written twice and a prediction deleted there is written again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from prelabel.jobs.delivery import ResultStore
from prelabel.pipeline.identity import FAILED_SUFFIX, is_ours
from prelabel.studio.client import LabelStudio, StudioError

log = logging.getLogger(__name__)
MAX_ITEMS = 200
MAX_WAIT = 1.0


@dataclass(frozen=True)
class Outgoing:
    task_id: int
    prediction: dict  # Label Studio's prediction JSON, with its model_version (the current one, or a failure's)


@dataclass
class Written:
    written: int = 0
    current: int = 0  # of them, predictions of the current model_version (not failures)
    present: int = 0  # Label Studio already had it: nothing to write
    busy: int = 0  # another deliverer held the claim
    superseded: int = 0  # older Prelabel predictions removed


def write_batch(studio: LabelStudio, results: ResultStore, project_id: int, items: list[Outgoing],
                keep_superseded: bool = False) -> Written:
    """Write what Label Studio lacks of `items` (one project), exactly once; remove superseded predictions of
    tasks nobody has annotated yet, unless asked to keep them."""
    outcome = Written()
    claimed = [item for item in items if results.claim(item.prediction["model_version"], item.task_id)]
    outcome.busy = len(items) - len(claimed)
    if not claimed:
        return outcome
    try:
        held = {task["id"]: task for task in studio.list_tasks(
            project_id, "id,predictions,total_annotations", ids=[item.task_id for item in claimed])}
        fresh: list[dict] = []
        stale: list[int] = []
        for item in claimed:
            version = item.prediction["model_version"]
            task = held.get(item.task_id)
            if task is None:
                continue  # not (or no longer) a task of this project: nothing to write
            versions = {p.get("model_version") for p in task.get("predictions") or [] if isinstance(p, dict)}
            current = version.removesuffix(FAILED_SUFFIX)
            if version in versions or current in versions:
                outcome.present += 1  # delivered before (a failure never replaces a real prediction)
                continue
            fresh.append({**item.prediction, "task": item.task_id})
            if not keep_superseded and not task.get("total_annotations"):
                stale.extend(p["id"] for p in task.get("predictions") or [] if isinstance(p, dict)
                             and is_ours(p.get("model_version")) and _superseded(p["model_version"], version))
        outcome.written = studio.import_predictions(project_id, fresh)
        outcome.current = sum(1 for item in fresh if not item["model_version"].endswith(FAILED_SUFFIX))
        for prediction_id in stale:
            studio.delete_prediction(prediction_id)
        outcome.superseded = len(stale)
    finally:
        for version in {item.prediction["model_version"] for item in claimed}:
            results.release(version, [item.task_id for item in claimed if item.prediction["model_version"] == version])
    return outcome


def _superseded(old: str, new: str) -> bool:
    """A real prediction replaces every older one of ours; a failure replaces only older failures."""
    if old == new:
        return False
    return not new.endswith(FAILED_SUFFIX) or old.endswith(FAILED_SUFFIX)


class BatchWriter:
    """Collects one job's outgoing predictions and writes them in bulk from a background thread. Use it as a
    context manager: leaving it writes what is left and raises StudioError if Label Studio could not be written
    (the job then fails and is retried; its results are kept, so a retry asks no MLLM again)."""

    def __init__(self, studio: LabelStudio, results: ResultStore, project_id: int, keep_superseded: bool = False,
                 max_items: int = MAX_ITEMS, max_wait: float = MAX_WAIT):
        self.studio, self.results, self.project_id = studio, results, project_id
        self.keep_superseded, self.max_items, self.max_wait = keep_superseded, max_items, max_wait
        self.total = Written()
        self._waiting: list[Outgoing] = []
        self._oldest = 0.0
        self._closing = False
        self._error: Exception | None = None
        self._condition = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="prelabel-writer", daemon=True)

    def __enter__(self) -> BatchWriter:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        with self._condition:
            self._closing = True
            self._condition.notify()
        self._thread.join()
        if self._error is not None and exc_info[0] is None:
            raise self._error

    def submit(self, items: Iterable[Outgoing]) -> None:
        with self._condition:
            if not self._waiting:
                self._oldest = time.monotonic()
            self._waiting.extend(items)
            self._condition.notify()

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._due():
                    timeout = None if not self._waiting else max(0.0, self._oldest + self.max_wait - time.monotonic())
                    self._condition.wait(timeout)
                batch, self._waiting = self._waiting, []
                closing = self._closing
            if batch and self._error is None:
                self._write(batch)
            if closing:
                with self._condition:
                    if not self._waiting:
                        return

    def _due(self) -> bool:
        if self._closing or len(self._waiting) >= self.max_items:
            return True
        return bool(self._waiting) and time.monotonic() - self._oldest >= self.max_wait

    def _write(self, batch: list[Outgoing]) -> None:
        try:
            done = write_batch(self.studio, self.results, self.project_id, batch, self.keep_superseded)
        except StudioError as exc:
            log.warning("writing %d prediction(s) into project %s failed: %s", len(batch), self.project_id, exc)
            self._error = exc
            return
        for name in ("written", "current", "present", "busy", "superseded"):
            setattr(self.total, name, getattr(self.total, name) + getattr(done, name))
