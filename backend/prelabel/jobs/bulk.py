"""Bulk runs from the command line: queue a project's tasks (`prelabel run`), follow the jobs, list queues."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from redis import Redis
from redis.exceptions import RedisError
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, StartedJobRegistry

from prelabel.jobs import queues
from prelabel.parts import Parts
from prelabel.redact import redact_url
from prelabel.studio.labelconfig import read_label_config


@dataclass
class Queued:
    model_version: str
    tasks: int
    skipped: int
    jobs: list[Job]


def queue_project(parts: Parts, project_id: int, wanted: set[int] | None) -> Queued:
    """Queue the project's tasks (all, or `wanted`) that have no prediction of the current model_version. The
    listing asks Label Studio for ids and prediction versions only, and jobs are queued page by page while it
    goes on."""
    in_force = parts.in_force.current()
    studio = parts.studio
    project = studio.project(project_id)
    # A config Prelabel cannot use stops here.
    control = read_label_config(project.label_config or "", in_force.vocabulary).control
    version = str(parts.in_force.model_version_for(project_id, in_force, regions=control.regions is not None))
    results = parts.results
    selected, skipped, jobs = 0, 0, []
    batch: list[int] = []

    def flush() -> None:
        nonlocal selected, batch
        results.hand_over(version, batch)
        jobs.extend(queues.enqueue_predictions(parts.redis, results, project_id, batch, version))
        selected += len(batch)
        batch = []

    for task in studio.list_tasks(project_id, "id,predictions_model_versions",
                                  ids=sorted(wanted) if wanted is not None else None):
        if task.holds(version):
            skipped += 1
            continue
        batch.append(task.id)
        if len(batch) >= queues.TASKS_PER_JOB:
            flush()
    flush()
    return Queued(version, selected, skipped, jobs)


WRITE_WAIT = 30.0  # seconds a run waits, after its jobs, for their predictions to be seen in Label Studio
# Seconds between two looks at the jobs, and at the last writes: a run ends on average half of each after its
# jobs and its writes are done (0.5 s for both cost a 1,000-task run about 2%); a look at 313 jobs costs 6 ms of CPU.
POLL, WRITE_POLL = 0.25, 0.1


@dataclass
class Outcome:
    tasks: int = 0
    labelled: int = 0
    none: int = 0
    delivered: int = 0  # predictions handed to the workers' writers (failures are counted by cause, not written)
    unconfirmed: int = 0  # of them, not seen in Label Studio yet when the run ended
    stored: int = 0  # the run's tasks holding a prediction of its model_version: read back, never computed
    why: list[str] = field(default_factory=list)  # why the last writes into the run's projects failed
    cached: int = 0  # images whose MLLM answer came from the cache, not the endpoint
    causes: Counter[str] = field(default_factory=Counter)  # failures by cause
    failed_jobs: list[str] = field(default_factory=list)

    def add(self, result: queues.PredictionJobResult) -> None:
        self.tasks += result.tasks
        self.labelled += result.labelled
        self.none += result.none
        self.delivered += result.delivering
        self.cached += result.cached
        self.causes.update(result.failures_by_cause)
        unexplained = len(result.failed) - sum(result.failures_by_cause.values())
        if unexplained > 0:  # tasks that could not even be read back from Label Studio
            self.causes["task:unavailable"] += unexplained

    def summary(self) -> str:
        parts = [f"{self.labelled} labelled"] + ([f"{self.none} none"] if self.none else [])
        failed = sum(self.causes.values())
        if failed:
            causes = ", ".join(f"{cause} {count}" for cause, count in self.causes.most_common())
            parts.append(f"{failed} failed ({causes})")
        text = f"done: {self.tasks} task(s): {', '.join(parts)}; {self.stored} prediction(s) in Label Studio"
        if failed:
            text += ("; the failed ones hold no prediction: Prelabel tries again when one is opened, and on the "
                     "next run")
        if self.cached:
            text += f"; {self.cached} MLLM answer(s) from the cache (PRELABEL_DATA_DIR/mllm-cache.sqlite)"
        if self.unconfirmed:
            text += f"; {self.unconfirmed} not written yet (" + ("; ".join(self.why) or "Label Studio was slow") + (
                ": the workers try again within a few minutes)")
        if self.failed_jobs:
            text += f"; {len(self.failed_jobs)} job(s) failed (see `prelabel jobs`)"
        return text


class RunLost(RuntimeError):
    """Redis lost the run's jobs (it restarted without its data) or went away: one line, with the command that
    finishes the work."""


def follow(parts: Parts, queued: list[Job], echo: Callable[[str], None], poll: float = POLL,
           write_wait: float = WRITE_WAIT) -> Outcome:
    """A progress bar until every job has finished or failed for good; then the jobs' predictions, until Label
    Studio holds them (the workers write them in bulk after their jobs end) or `write_wait` seconds have passed.
    RunLost when Redis loses the jobs or cannot be reached."""
    projects = sorted({job.kwargs["project_id"] for job in queued})
    again = " and ".join(f"`prelabel run --project {project} --all`" for project in projects)
    try:
        return _follow(parts, queued, echo, poll, write_wait)
    except NoSuchJobError:
        raise RunLost(f"Redis lost this run's jobs (it restarted without its data: run it with an append-only "
                      f"file, docs/operations.md): {again} finishes the work (tasks Label Studio already holds a "
                      "prediction for are skipped)") from None
    except RedisError as exc:
        raise RunLost(f"Redis cannot be reached ({type(exc).__name__}: {redact_url(str(exc))}): the workers go on "
                      f"when it is back; {again} then finishes what is left") from None


def _follow(parts: Parts, queued: list[Job], echo: Callable[[str], None], poll: float,
            write_wait: float) -> Outcome:
    from tqdm import tqdm

    total = sum(job.meta.get("total", 0) for job in queued)
    warned = False
    registry = parts.workers
    statuses: dict[str, JobStatus | None] = {job.id: None for job in queued}
    done: dict[str, int] = {job.id: 0 for job in queued}
    with tqdm(total=total, unit="task", disable=None) as bar:
        while True:
            # A finished job stays finished: only the others are read again, and only what is shown of them.
            _poll(parts.redis, [job for job in queued if statuses[job.id] != JobStatus.FINISHED], statuses, done)
            bar.update(sum(done.values()) - bar.n)
            if all(status in (JobStatus.FINISHED, JobStatus.FAILED, JobStatus.CANCELED)
                   for status in statuses.values()):
                break
            if not warned and not registry.serving().get(queues.PREDICT):
                echo(f"no worker serves {queues.PREDICT}: start one with `prelabel worker` (the jobs wait)")
                warned = True
            time.sleep(poll)
    outcome = Outcome()
    writing: list[tuple[str, int, list[int]]] = []  # (model_version, project, task ids) of finished jobs
    for job in queued:
        if statuses[job.id] == JobStatus.FINISHED:
            result = queues.PredictionJobResult.from_json(job.return_value())
            outcome.add(result)
            writing.append((result.model_version, job.kwargs["project_id"], job.kwargs["task_ids"]))
        else:
            outcome.failed_jobs.append(job.id)
    ledger, deadline = parts.ledger, time.monotonic() + write_wait
    while True:
        outcome.unconfirmed = sum(ledger.waiting(*entry) for entry in writing)
        if not outcome.unconfirmed or time.monotonic() > deadline:
            break
        time.sleep(min(poll, WRITE_POLL))
    outcome.stored = held(parts, writing)
    if outcome.unconfirmed:
        outcome.why = sorted({why for _, project_id, _ in writing if (why := ledger.why(project_id))})
    return outcome


def _poll(redis: Redis, jobs: list[Job], statuses: dict[str, JobStatus | None], done: dict[str, int]) -> None:
    """Each job's status and tasks done, in one round trip. job.refresh() reads and decodes each whole job, a
    call each: 100 ms of CPU for a 20,000-task run's 313 jobs, every half second (this: 6 ms). NoSuchJobError for
    a job Redis lost."""
    if not jobs:
        return
    with redis.pipeline(transaction=False) as pipe:
        for job in jobs:
            pipe.hmget(job.key, "status", "meta")
        found = pipe.execute()
    for job, (status, meta) in zip(jobs, found, strict=True):
        if status is None:
            raise NoSuchJobError(f"no job {job.id} in Redis")
        statuses[job.id] = JobStatus(status.decode() if isinstance(status, bytes) else status)
        done[job.id] = (job.serializer.loads(meta) if meta else {}).get("done", 0)


def held(parts: Parts, writing: list[tuple[str, int, list[int]]]) -> int:
    """How many of these (model_version, project, tasks) hold a prediction of that version in Label Studio now."""
    wanted: dict[tuple[str, int], list[int]] = {}
    for version, project_id, task_ids in writing:
        wanted.setdefault((version, project_id), []).extend(task_ids)
    return sum(task.holds(version) for (version, project_id), task_ids in wanted.items()
               for task in parts.studio.list_tasks(project_id, "id,predictions_model_versions", ids=task_ids))


def describe_queues(parts: Parts, requeue: bool = False) -> list[str]:
    """Each queue with its workers (by heartbeat), jobs and failed jobs; then images that failed, by cause."""
    lines = []
    redis, serving = parts.redis, parts.workers.serving()
    for name in queues.QUEUES:
        queue = queues.queue(redis, name)
        failed = FailedJobRegistry(queue=queue)
        workers = serving.get(name, 0)
        lines.append(f"{name}: {workers} worker(s), {len(queue)} queued, {StartedJobRegistry(queue=queue).count} "
                     f"running, {failed.count} failed" + ("" if workers else
                                                          " -- no worker serves it: start `prelabel worker`"))
        for job_id in failed.get_job_ids():
            job = Job.fetch(job_id, connection=redis)
            latest = job.latest_result()
            error = (latest.exc_string if latest is not None else "") or ""
            last = error.strip().splitlines()[-1] if error.strip() else "no error recorded"
            lines.append(f"  failed {job_id}: {job.description}: {last}")
            if requeue:
                failed.requeue(job_id)
                lines.append(f"  requeued {job_id}")
    causes = parts.metrics.labelled("images_failed_total", "cause")
    if causes:
        lines.append("images that failed (tried again on the next request), by cause: " + ", ".join(
            f"{cause} {count:g}" for cause, count in sorted(causes.items(), key=lambda kv: -kv[1])))
    return lines
