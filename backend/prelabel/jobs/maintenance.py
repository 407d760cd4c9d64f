"""What keeps the system honest while nobody asks: workers counted by their own heartbeat, and the reconciler
that makes sure every delivered prediction really is in Label Studio.

Workers are counted from a heartbeat each writes every few seconds, not from rq's registration: after Redis
restarts empty, rq forgets a live worker until it restarts, while the heartbeat is back within seconds.

The reconciler takes the ledger's due entries (prelabel.jobs.delivery): deliveries made in a /predict response
that Label Studio may never have stored (the caller gave up, the connection broke). Whatever Label Studio lacks
is written from the kept result when the task's data is unchanged, or queued for prediction again.
"""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict

from redis import Redis

from prelabel.jobs.delivery import ResultStore, data_hash
from prelabel.jobs.queues import PREDICT, enqueue_predictions
from prelabel.jobs.writer import Outgoing, write_batch
from prelabel.studio.client import LabelStudio, prediction_versions

log = logging.getLogger(__name__)
BEAT_EVERY = 5.0
STALE_AFTER = 20.0  # a worker not heard of for this long is not counted
MAINTENANCE_LOCK_TTL = 25
ROUND_ENTRIES = 200  # ledger entries one reconciler round takes on
ROUND_SECONDS = 10.0  # no new group after this: a group's writes end well inside MAINTENANCE_LOCK_TTL


class WorkerRegistry:
    def __init__(self, redis: Redis, key: str = "prelabel:workers"):
        self.redis = redis
        self.key = key

    def beat(self, name: str, queue_names: list[str]) -> None:
        self.redis.hset(self.key, name, json.dumps({"queues": queue_names, "seen": time.time()}))

    def leave(self, name: str) -> None:
        self.redis.hdel(self.key, name)

    def serving(self) -> dict[str, int]:
        """Live workers per queue."""
        counts: dict[str, int] = defaultdict(int)
        now = time.time()
        for name, raw in self.redis.hgetall(self.key).items():
            try:
                entry = json.loads(raw)
                seen, queue_names = float(entry["seen"]), list(entry["queues"])
            except (ValueError, KeyError, TypeError):
                seen, queue_names = 0.0, []
            if now - seen > STALE_AFTER:
                self.redis.hdel(self.key, name)  # a worker that died without leaving
                continue
            for queue_name in queue_names:
                counts[queue_name] += 1
        return dict(counts)


def run_if_due(redis: Redis, studio: LabelStudio, results: ResultStore, keep_superseded: bool) -> dict | None:
    """Reconcile, if no other worker is doing it now (a lock in Redis)."""
    if not redis.set("prelabel:maintenance", 1, nx=True, ex=MAINTENANCE_LOCK_TTL):
        return None
    return reconcile(redis, studio, results, keep_superseded)


def reconcile(redis: Redis, studio: LabelStudio, results: ResultStore, keep_superseded: bool = False) -> dict:
    """Check due ledger entries against Label Studio; deliver what it lacks. Returns what was done. A round takes
    at most ROUND_ENTRIES entries and starts no group after ROUND_SECONDS, so it ends inside the maintenance lock
    (no two rounds ever deliver the same entry) and the heartbeat it runs in is not held up; the rest waits for
    the next round."""
    groups: dict[tuple[str, int], list[int]] = defaultdict(list)
    for version, project_id, task_id in results.ledger_due(limit=ROUND_ENTRIES):
        groups[(version, project_id)].append(task_id)
    done = {"confirmed": 0, "written": 0, "requeued": 0}
    deadline = time.monotonic() + ROUND_SECONDS
    for (version, project_id), task_ids in groups.items():
        if time.monotonic() > deadline:
            break
        held = {task["id"]: task for task in studio.list_tasks(
            project_id, "id,data,predictions_model_versions", ids=task_ids)}
        rewrite, requeue = [], []
        for task_id in task_ids:
            task = held.get(task_id)
            if task is None or version in prediction_versions(task):
                continue  # stored as it should be, or the task is gone: nothing to do
            kept = results.get(version, task_id, data_hash(task.get("data")))
            if kept is not None:
                rewrite.append(Outgoing(task_id, kept))
            else:
                requeue.append(task_id)
        handled = [task_id for task_id in task_ids if task_id not in {item.task_id for item in rewrite}]
        if rewrite:
            # The response's claim kept others off while Label Studio could still store it; it is due now.
            results.release(version, [item.task_id for item in rewrite])
            outcome = write_batch(studio, results, project_id, rewrite, keep_superseded)
            done["written"] += outcome.written
            if outcome.current:
                studio.ensure_model_version(project_id, version)  # as a job's writer would have
            if not outcome.busy:  # someone else delivering right now: check again on the next round
                handled += [item.task_id for item in rewrite]
        if requeue:
            results.hand_over(version, requeue)
            enqueue_predictions(redis, project_id, requeue, version, PREDICT)
            done["requeued"] += len(requeue)
        results.ledger_confirm(version, project_id, handled)
        done["confirmed"] += len(handled)
    if done["written"] or done["requeued"]:
        log.warning("reconciled deliveries Label Studio did not hold: %s", done)
    return done
