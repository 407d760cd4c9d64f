"""Putting work on the queues: the one API the service and `prelabel run` use to hand work to workers.

Jobs are named by their dotted path, so queueing imports none of the pipeline (the web service stays light);
`prelabel worker` (prelabel.jobs.worker) runs them with its models loaded once. Queues, in the order a worker
serves them: people waiting come first.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from redis import Redis
from rq import Queue, Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from prelabel.delivery.results import ResultStore

INTERACTIVE, PREDICT, FEEDBACK = "prelabel-interactive", "prelabel-predict", "prelabel-feedback"
QUEUES = (INTERACTIVE, PREDICT, FEEDBACK)
# Large enough that each job's bulk writes are few (every write makes Label Studio recount the project),
# small enough that two workers share a run of a few hundred tasks.
TASKS_PER_JOB = 64
JOB_TIMEOUT = 1800
PREDICT_JOB = "prelabel.jobs.predict.predict_tasks"
RESULT_TTL = 7 * 24 * 3600
FAILURE_TTL = 30 * 24 * 3600
# Failed feedback jobs are kept days, not a month: /webhook is unauthenticated, and a flood of spoofed events
# must not fill Redis for 30 days (what a failed job says is also in the worker's log).
FEEDBACK_FAILURE_TTL = 3 * 24 * 3600
# What a finished feedback job says (its events) is also in the worker's log and in the learned store: a flood of
# forged webhooks must not keep its results in Redis for days.
FEEDBACK_RESULT_TTL = 600
# A webhook's annotations, split into jobs of this many, each ended by its deadline: a bulk deletion of 100,000
# annotations is 20 jobs that other work can come between, never one that holds a worker for hours.
IDS_PER_JOB = 5000
FEEDBACK_JOB_TIMEOUT = 300
# The model_version update /setup queues: once per (project, version) while one waits; a failure is kept a day
# (rq's default is a year, and anyone who can reach /setup can queue one).
SYNC_FAILURE_TTL = 24 * 3600
# Label Studio or the MLLM away for a while: tried again within seconds, then for about four minutes in all,
# so a short outage leaves no gap (results already computed are kept and not asked again).
RETRY = Retry(max=5, interval=[5, 15, 30, 60, 120])


@dataclass(frozen=True)
class PredictionJobResult:
    """What a prediction job returns. rq keeps it as plain JSON-like data (to_json), so a result outlives a move
    of this class and any worker's result reads back (from_json)."""

    model_version: str
    tasks: int = 0
    labelled: int = 0
    none: int = 0
    reused: int = 0  # kept results delivered again, not predicted
    delivering: int = 0  # predictions handed to the worker's writer (failures are never written)
    failed: dict[int, str] = field(default_factory=dict)  # task -> why it was not pre-labelled
    failures_by_cause: dict[str, int] = field(default_factory=dict)  # "stage:cause" -> images
    cached: int = 0  # images whose stage-1 answer came from the MLLM cache, not the endpoint

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> PredictionJobResult:
        data = data or {}
        return cls(str(data.get("model_version")), int(data.get("tasks", 0)), int(data.get("labelled", 0)),
                   int(data.get("none", 0)), int(data.get("reused", 0)), int(data.get("delivering", 0)),
                   {int(task): str(why) for task, why in (data.get("failed") or {}).items()},
                   {str(cause): int(count) for cause, count in (data.get("failures_by_cause") or {}).items()},
                   int(data.get("cached", 0)))


def queue(redis: Redis, name: str) -> Queue:
    return Queue(name, connection=redis)


def enqueue_predictions(redis: Redis, results: ResultStore, project_id: int, task_ids: list[int], version: str,
                        queue_name: str = PREDICT) -> list[Job]:
    """Queue tasks in jobs of TASKS_PER_JOB; a task already queued for this model_version in a job that still
    lives is not queued again. Jobs carry task ids only: the worker reads the tasks back from Label Studio."""
    jobs: list[Job] = []
    chunk: list[int] = []
    job_id = uuid.uuid4().hex

    def flush() -> None:
        nonlocal chunk, job_id
        if chunk:
            jobs.append(queue(redis, queue_name).enqueue(
                PREDICT_JOB, project_id=project_id, task_ids=chunk,
                model_version=version, job_id=job_id, job_timeout=JOB_TIMEOUT, retry=RETRY, result_ttl=RESULT_TTL,
                failure_ttl=FAILURE_TTL, description=f"pre-label {len(chunk)} task(s) of project {project_id}",
                meta={"project": project_id, "total": len(chunk), "done": 0}))
            chunk, job_id = [], uuid.uuid4().hex

    for task_id in dict.fromkeys(task_ids):
        if results.mark_pending(version, task_id, job_id):
            chunk.append(task_id)
            if len(chunk) == TASKS_PER_JOB:
                flush()
    flush()
    return jobs


def enqueue_feedback(redis: Redis, action: str, project_id: int | None, annotation_ids: list[int]) -> Job:
    return queue(redis, FEEDBACK).enqueue(
        "prelabel.jobs.feedback.handle_feedback", action, project_id, annotation_ids, retry=RETRY,
        job_timeout=FEEDBACK_JOB_TIMEOUT, result_ttl=FEEDBACK_RESULT_TTL, failure_ttl=FEEDBACK_FAILURE_TTL,
        description=f"{action} of project {project_id}")


def enqueue_version_sync(redis: Redis, project_id: int, version: str) -> Job:
    """Set the project's model_version to ours, once per (project, version): while that job waits or runs, the
    same /setup (Label Studio sends one per project open and config save) queues nothing."""
    job_id = f"sync-version-{project_id}-{version}"
    with contextlib.suppress(NoSuchJobError):
        waiting = Job.fetch(job_id, connection=redis)
        if waiting.get_status(refresh=False) in (JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED):
            return waiting
    # Not on the interactive queue: its worker slot is kept for the reviewers waiting (anyone who reaches /setup
    # can queue these, and the writer sets model_version after every write anyway).
    return queue(redis, PREDICT).enqueue(
        "prelabel.jobs.predict.sync_model_version", project_id, version,
        job_id=job_id, result_ttl=3600, failure_ttl=SYNC_FAILURE_TTL)
