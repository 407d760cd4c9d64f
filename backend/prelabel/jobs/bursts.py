"""Bursts of small /predict requests gathered into few jobs: one waiting set of task ids per (queue, project,
model_version), drained by one job at a time.

rq has no batching of its own. 200 reviewers' requests arriving together, each for a task or two, were 200 jobs of
one task each: a worker runs a job's images concurrently, so one-task jobs left its MLLM slots empty (1.8 tasks/s
against ~30 in 64-task jobs). Now a request adds its tasks to the waiting set and queues a drain job only when
none is queued for that set yet; the drain job takes up to TASKS_PER_JOB tasks when it starts, so whatever
arrived meanwhile (while the worker ran other jobs, or within the few milliseconds before it took this one) is one
batch. What remains beyond a batch gets the next drain job.

No task waits without a job: a drain job removes the set's marker before it takes its tasks, so a request adding
a task after the take finds no marker and queues a job of its own. The tasks a drain job took are kept in its
meta, so rq's retry of that job predicts the same tasks.
"""

from __future__ import annotations

import uuid

from redis import Redis
from rq.job import Job

from prelabel.delivery.results import ResultStore
from prelabel.jobs import queues

PREFIX = "prelabel:burst"
# The marker outlives a queued drain job by far; should the job be lost (Redis restarted without its data), the
# next request after this queues a new one.
MARKER_TTL = queues.JOB_TIMEOUT
# Held as a task's pending marker while it waits in a set: never a live job, so mark_pending lets a later request
# add it again (the set keeps it once) rather than leave it to a job that may have taken its batch already.
WAITING = "waiting-in-a-burst"


def _keys(queue_name: str, project_id: int, version: str) -> tuple[str, str]:
    base = f"{PREFIX}:{queue_name}:{project_id}:{version}"
    return f"{base}:tasks", f"{base}:job"


def enqueue_burst(redis: Redis, results: ResultStore, project_id: int, task_ids: list[int], version: str,
                  queue_name: str) -> Job | None:
    """Add these tasks to the project's waiting set; queue a drain job if none is queued. Returns the job queued
    now, or None (one already waits, or every task is already queued in a live job)."""
    wanted = [task_id for task_id in dict.fromkeys(task_ids) if results.mark_pending(version, task_id, WAITING)]
    if not wanted:
        return None
    tasks_key, _ = _keys(queue_name, project_id, version)
    redis.sadd(tasks_key, *wanted)
    redis.expire(tasks_key, MARKER_TTL)
    return _ensure_drain(redis, queue_name, project_id, version)


def _ensure_drain(redis: Redis, queue_name: str, project_id: int, version: str) -> Job | None:
    _, marker = _keys(queue_name, project_id, version)
    job_id = uuid.uuid4().hex
    if not redis.set(marker, job_id, nx=True, ex=MARKER_TTL):
        return None  # a drain job is queued and has not taken its tasks yet: it takes these too
    try:
        return queues.queue(redis, queue_name).enqueue(
            "prelabel.jobs.predict.predict_waiting", queue_name=queue_name, project_id=project_id,
            model_version=version, job_id=job_id, job_timeout=queues.JOB_TIMEOUT, retry=queues.RETRY,
            result_ttl=queues.RESULT_TTL, failure_ttl=queues.FAILURE_TTL,
            description=f"pre-label the waiting tasks of project {project_id}",
            meta={"project": project_id, "total": 0, "done": 0})
    except BaseException:
        redis.delete(marker)
        raise


def take(redis: Redis, results: ResultStore, job: Job | None, queue_name: str, project_id: int,
         version: str) -> list[int]:
    """The tasks this drain job predicts: those it took before (a retry), or up to TASKS_PER_JOB of the waiting
    set, taken now; a drain job is queued for the rest."""
    if job is not None and "task_ids" in job.meta:
        return [int(task_id) for task_id in job.meta["task_ids"]]
    tasks_key, marker = _keys(queue_name, project_id, version)
    redis.delete(marker)  # first: a task added after the take below queues a job of its own
    taken = sorted(int(task_id) for task_id in redis.spop(tasks_key, queues.TASKS_PER_JOB) or [])
    if job is not None:
        job.meta.update(task_ids=taken, total=len(taken))
        job.save_meta()  # type: ignore[no-untyped-call]  # rq leaves it unannotated
        for task_id in taken:  # pending in this job now: a request meanwhile does not queue it again
            results.mark_pending(version, task_id, job.id)
    if redis.scard(tasks_key):
        _ensure_drain(redis, queue_name, project_id, version)
    return taken


def waiting(redis: Redis, queue_name: str, project_id: int, version: str) -> list[int]:
    """The tasks waiting in the project's set for a drain job to take them."""
    tasks_key, _ = _keys(queue_name, project_id, version)
    return sorted(int(task_id) for task_id in redis.smembers(tasks_key))
