"""Bulk runs from the command line: queue a project's tasks (`prelabel run`), follow the jobs, list queues."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from redis import Redis
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, StartedJobRegistry

from prelabel.jobs import queues
from prelabel.jobs.delivery import ResultStore
from prelabel.parts import Parts
from prelabel.studio.labelconfig import read_label_config


@dataclass
class Queued:
    model_version: str
    tasks: int
    skipped: int
    jobs: list[Job]


def queue_project(parts: Parts, project_id: int, wanted: set[int] | None) -> Queued:
    """Queue the project's tasks (all, or `wanted`) that have no prediction of the current model_version."""
    in_force = parts.in_force.current()
    version, studio = str(in_force.model_version), parts.studio
    project = studio.project(project_id)
    control = read_label_config(project.label_config, in_force.vocabulary, parts.settings.none_choice).control
    studio.ensure_model_version(project_id, version)
    selected, skipped = [], 0
    for task in studio.tasks(project_id):
        if wanted is not None and task.id not in wanted:
            continue
        if version in {p.model_version for p in task.predictions or []}:  # listed with the task: no extra call
            skipped += 1
            continue
        selected.append({"id": task.id, "data": task.data})
    ResultStore(parts.redis).hand_over(version, [task["id"] for task in selected])
    queued = queues.enqueue_predictions(parts.redis, project_id, selected, control, version)
    return Queued(version, len(selected), skipped, queued)


@dataclass
class Outcome:
    done: int
    written: int
    failed: list[str]

    def summary(self) -> str:
        text = f"done: {self.done} task(s), {self.written} prediction(s) written"
        return text + (f", {len(self.failed)} job(s) failed (see `prelabel jobs`)" if self.failed else "")


def follow(redis: Redis, queued: list[Job], echo: Callable[[str], None], poll: float = 0.5) -> Outcome:
    """A progress bar until every job has finished or failed for good."""
    from tqdm import tqdm

    total = sum(job.meta.get("total", 0) for job in queued)
    warned = False
    with tqdm(total=total, unit="task", disable=None) as bar:
        while True:
            for job in queued:
                job.refresh()
            done = sum(job.meta.get("done", 0) for job in queued)
            bar.update(done - bar.n)
            statuses = [job.get_status(refresh=False) for job in queued]
            if all(status in (JobStatus.FINISHED, JobStatus.FAILED, JobStatus.CANCELED) for status in statuses):
                break
            if not warned and queues.queue(redis, queues.PREDICT).count and _no_workers(redis):
                echo(f"no worker serves {queues.PREDICT}: start one with `prelabel worker` (the jobs wait)")
                warned = True
            time.sleep(poll)
    results = [job.return_value() or {} for job in queued]
    failed = [job.id for job, status in zip(queued, statuses, strict=True) if status != JobStatus.FINISHED]
    return Outcome(done=sum(r.get("tasks", 0) for r in results), written=sum(r.get("written", 0) for r in results),
                   failed=failed)


def _no_workers(redis: Redis) -> bool:
    from rq import Worker

    return Worker.count(connection=redis, queue=queues.queue(redis, queues.PREDICT)) == 0


def describe_queues(redis: Redis, requeue: bool = False) -> list[str]:
    lines = []
    for name in queues.QUEUES:
        queue = queues.queue(redis, name)
        failed = FailedJobRegistry(queue=queue)
        lines.append(f"{name}: {len(queue)} queued, {StartedJobRegistry(queue=queue).count} running, "
                     f"{failed.count} failed")
        for job_id in failed.get_job_ids():
            job = Job.fetch(job_id, connection=redis)
            latest = job.latest_result()
            error = (latest.exc_string if latest is not None else "") or ""
            last = error.strip().splitlines()[-1] if error.strip() else "no error recorded"
            lines.append(f"  failed {job_id}: {job.description}: {last}")
            if requeue:
                failed.requeue(job_id)
                lines.append(f"  requeued {job_id}")
    return lines
