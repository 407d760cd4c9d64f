"""The reconciler: makes sure every delivered prediction really is in Label Studio, while nobody asks.

It takes the ledger's due entries (prelabel.delivery.ledger): deliveries made in a /predict response that Label
Studio may never have stored (the caller gave up, the connection broke), and writes a worker never made.
Whatever Label Studio lacks is written from the kept result when the task's data is unchanged, or handed back
to be predicted again (`requeue`: the worker passes the queues' enqueue, which sits above this package).
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from redis import Redis

from prelabel.delivery.ledger import Ledger
from prelabel.delivery.results import ResultStore, made_from
from prelabel.delivery.writer import Outgoing, double_ids, write_batch
from prelabel.studio.client import LabelStudio

log = logging.getLogger(__name__)
MAINTENANCE_LOCK_TTL = 25
ROUND_ENTRIES = 200  # ledger entries one reconciler round takes on
ROUND_SECONDS = 10.0  # no new group after this: a group's writes end well inside MAINTENANCE_LOCK_TTL

# (project, task ids, model_version): queue these tasks for prediction again.
Requeue = Callable[[int, list[int], str], object]


@dataclass(frozen=True)
class Reconciled:
    """What one round did, in ledger entries (tasks)."""

    confirmed: int = 0  # entries done with: Label Studio holds the prediction, or the task is dealt with
    written: int = 0  # predictions written from the kept result
    requeued: int = 0  # tasks handed back to be predicted again (no result kept, or the data changed)
    doubles: int = 0  # second predictions of one version removed

    def __add__(self, other: Reconciled) -> Reconciled:
        return Reconciled(self.confirmed + other.confirmed, self.written + other.written,
                          self.requeued + other.requeued, self.doubles + other.doubles)


def run_if_due(redis: Redis, studio: LabelStudio, results: ResultStore, ledger: Ledger, requeue: Requeue,
               keep_superseded: bool) -> Reconciled | None:
    """Reconcile, if no other worker is doing it now (a lock in Redis)."""
    if not redis.set("prelabel:maintenance", 1, nx=True, ex=MAINTENANCE_LOCK_TTL):
        return None
    return reconcile(studio, results, ledger, requeue, keep_superseded)


def reconcile(studio: LabelStudio, results: ResultStore, ledger: Ledger, requeue: Requeue,
              keep_superseded: bool = False) -> Reconciled:
    """Check due ledger entries against Label Studio; deliver what it lacks. Returns what was done. A round takes
    at most ROUND_ENTRIES entries and starts no group after ROUND_SECONDS, so it ends inside the maintenance lock
    (no two rounds ever deliver the same entry) and the heartbeat it runs in is not held up; the rest waits for
    the next round."""
    groups: dict[tuple[str, int], list[int]] = defaultdict(list)
    for version, project_id, task_id in ledger.due(limit=ROUND_ENTRIES):
        groups[(version, project_id)].append(task_id)
    done = Reconciled()
    deadline = time.monotonic() + ROUND_SECONDS
    for (version, project_id), task_ids in groups.items():
        if time.monotonic() > deadline:
            break
        held, unreadable = studio.read_tasks(project_id, "id,data,predictions_model_versions,total_predictions",
                                             task_ids)
        for task_id, why in unreadable.items():  # nothing to deliver it from: its entry goes (handled below)
            log.warning("task %s of project %s cannot be reconciled: %s", task_id, project_id, why)
        rewrite, lost, doubled = [], [], []
        config = studio.project(project_id).label_config or "" if held else ""
        for task_id in task_ids:
            task = held.get(task_id)
            if task is not None and task.holds(version):
                # A response answered twice (two requests at once) and Label Studio stored both: one goes.
                if task.total_predictions > len(task.versions):
                    doubled.append(task_id)
                continue
            if task is None:
                continue  # the task is gone: nothing to do
            kept = results.get(version, task_id, made_from(task.data, config))
            if kept is not None:
                rewrite.append(Outgoing(task_id, kept))
            else:
                lost.append(task_id)
        done += Reconciled(doubles=_remove_doubles(studio, project_id, doubled))
        handled = [task_id for task_id in task_ids if task_id not in {item.task_id for item in rewrite}]
        if rewrite:
            # The response's claim kept others off while Label Studio could still store it; it is due now.
            results.release(version, [item.task_id for item in rewrite])
            outcome = write_batch(studio, results, project_id, rewrite, keep_superseded)
            done += Reconciled(written=outcome.written)
            if outcome.current:
                studio.ensure_model_version(project_id, version)  # as a job's writer would have
            if not outcome.busy:  # someone else delivering right now: check again on the next round
                handled += [item.task_id for item in rewrite]
        if lost:
            results.hand_over(version, lost)
            requeue(project_id, lost, version)
            done += Reconciled(requeued=len(lost))
        ledger.confirm(version, project_id, handled)
        done += Reconciled(confirmed=len(handled))
    if done.written or done.requeued or done.doubles:
        log.warning("reconciled deliveries Label Studio did not hold: %s", done)
    return done


def _remove_doubles(studio: LabelStudio, project_id: int, task_ids: list[int]) -> int:
    """Remove the second prediction of one version these tasks hold; returns how many went."""
    doubles = [prediction_id for task in studio.list_tasks(project_id, "id,predictions", ids=task_ids)
               for prediction_id in double_ids(task.predictions)]
    for prediction_id in doubles:
        studio.delete_prediction(prediction_id)
    return len(doubles)
