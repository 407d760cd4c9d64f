"""The next job's first images, started in the MLLM slots the current job no longer fills.

A job's last images finish one by one: the slots they leave stay empty until the job returns and the next one
starts (issue 24: a ramp and a tail per job). The worker's slots outlive jobs (prelabel.pipeline.slots); once
every image of the running bulk job is under way and a slot is free, the images of the job queued next (its
tasks read ahead, prelabel.jobs.readahead) start in it. Their work (image, stage 1, normalise, stage 2) is kept
in the worker for that job, by task and the task data's hash, and handed over when it starts: CLIP, the ranking,
the result, the delivery and the evidence are that job's own, so nothing is written twice and every prediction
goes the one way it always went.

Only a bulk job starts another, and only one of the same project and queued model_version (its control and
pipeline are the running job's), queued on prelabel-predict: an interactive job goes to the interactive lane.
What the next job finds is used only if it is that job, at that model_version, for exactly that task data.
Otherwise (another worker took the job, it was cancelled, the vocabulary moved on, Label Studio changed the
task), the work is dropped, counted in `head_start_dropped_total`; their stage-1 answers stay in the MLLM cache
of this machine. Where this worker alone serves the queue, the whole next job may start (nobody else can take
it): its images keep the slots full while the running job ends and the next one begins; where several do, at
most PRELABEL_LLM_CONCURRENCY images, the most a job taken elsewhere costs.

Measured (issue 24, 2026-12-07, one worker, 1,000 tasks, 16 slots): with at most 16 images started ahead, those
16 were done before the next job began its own, and the slots ran nearly empty for 0.2-0.4 s at each of the 16
job boundaries while the next job's images were loaded.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rq.job import Job

from prelabel.delivery.results import ResultStore
from prelabel.jobs.queues import PREDICT
from prelabel.jobs.readahead import ReadAheads
from prelabel.pipeline.pipeline import Pipeline
from prelabel.pipeline.result import ImageInput, JobDeadline
from prelabel.pipeline.slots import Slots, Started

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Plan:
    """What the running bulk job lends the job queued after it, while its own images run."""

    job_id: str | None
    project_id: int
    queued_version: str  # what the running job was queued with: the next job must ask the same
    version: str  # what it predicts
    pipeline: Pipeline
    image_input: Callable[[int, Mapping[str, Any]], ImageInput]  # a task's image, as the next job would make it
    digest: Callable[[Mapping[str, Any]], str]  # the hash of a task's data its result is kept under (made_from)


@dataclass
class _Ahead:
    job_id: str
    version: str
    digests: dict[int, str]  # task -> the hash of the data its image was started from
    started: Started
    passed: set[int] = field(default_factory=set)  # tasks the job will not predict: never started


class HeadStart:
    """One per worker process (prelabel.jobs.context), for its main worker's bulk jobs."""

    def __init__(self, slots: Slots, read_ahead: ReadAheads, results: ResultStore, deadline: float,
                 dropped: Callable[[int], None]):
        self.slots, self.read_ahead, self.results, self.deadline = slots, read_ahead, results, deadline
        self._dropped = dropped  # counts images started and never used
        self._lock = threading.Lock()
        self._plan: Plan | None = None
        self._draining = False  # every image of the running job is under way
        self._ahead: _Ahead | None = None

    def plan(self, plan: Plan | None) -> None:
        """The running job's plan while its images run; None once they are done."""
        with self._lock:
            self._plan, self._draining = plan, False

    def slots_free(self) -> None:
        """The running job has every image under way and a slot may be free (Pipeline.predict's `on_free`)."""
        with self._lock:
            self._draining = True
            self._fill()

    def tasks_read(self) -> None:
        """The next job's tasks are read (ReadAheads' `then`): they may start now if the slots wait for them."""
        try:
            with self._lock:
                if self._draining:
                    self._fill()
        except Exception:  # only the head start is lost: the next job does its images itself
            log.warning("starting the next job's images failed", exc_info=True)

    def take(self, job: Job | None, version: str, digests: dict[int, str]) -> Started | None:
        """What was started for this job, at this version, for exactly this task data ({task: hash}); the rest
        is dropped."""
        with self._lock:
            ahead, self._ahead = self._ahead, None
        if ahead is None:
            return None
        if job is None or ahead.job_id != job.id or ahead.version != version:
            self._drop(ahead)
            return None
        keep = {task_id for task_id, digest in ahead.digests.items() if digests.get(task_id) == digest}
        if len(keep) < len(ahead.digests):
            self._dropped(len(ahead.digests) - len(keep))
        return ahead.started.only(keep)

    def drop(self) -> None:
        """No job will take what was started (the worker is idle or stops)."""
        with self._lock:
            ahead, self._ahead = self._ahead, None
        if ahead is not None:
            self._drop(ahead)

    def _drop(self, ahead: _Ahead) -> None:
        count = ahead.started.drop()
        if count:
            log.info("%d image(s) started for job %s were not used: it went elsewhere, or changed", count,
                     ahead.job_id)
            self._dropped(count)

    def _fill(self) -> None:
        """Start the next job's images in the free slots, up to as many as the slots (call under the lock)."""
        plan, next_job = self._plan, self.read_ahead.peek()
        if (plan is None or next_job is None or next_job.job_id == plan.job_id or next_job.queue != PREDICT
                or next_job.project_id != plan.project_id or next_job.model_version != plan.queued_version):
            return
        if self._ahead is not None and self._ahead.job_id != next_job.job_id:
            self._drop(self._ahead)
            self._ahead = None
        ahead = self._ahead = self._ahead or _Ahead(next_job.job_id, plan.version, {}, Started())
        most = len(next_job.task_ids) if next_job.alone else self.slots.size
        room = min(self.slots.free(), most - len(ahead.digests))
        inputs: list[ImageInput] = []
        for task_id in next_job.task_ids:
            if len(inputs) >= room:
                break
            task = next_job.found.get(task_id)
            if task_id in ahead.digests or task_id in ahead.passed:
                continue
            if (task is None or task_id in next_job.problems or task.data is None
                    or task.holds(plan.version)):  # the next job will not predict it
                ahead.passed.add(task_id)
                continue
            digest = plan.digest(task.data)
            if self.results.get(plan.version, task_id, digest) is not None:
                ahead.passed.add(task_id)  # kept from an earlier run: the next job delivers it without a call
                continue
            ahead.digests[task_id] = digest
            inputs.append(plan.image_input(task_id, task.data))
        if inputs:
            plan.pipeline.start(inputs, self.slots, JobDeadline.after(self.deadline), ahead.started)
