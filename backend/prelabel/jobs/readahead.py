"""What the next prediction job needs, read while the current one runs: its tasks as Label Studio holds them and
its first images.

A job reads its tasks back from Label Studio before its first MLLM call (the job carries task ids only:
prelabel.jobs.predict). Measured (issue 24), that read kept a worker's MLLM slots empty 12-19% of the time: 74 ms
alone, 0.5-0.7 s when it met a bulk write; and each job's first images waited for their downloads. So, once a
job's own images are under way, a thread of the worker reads the next queued job's tasks and downloads its first
images (as many as the MLLM has slots); that job takes them when it starts, if they are for exactly its tasks and
not older than AHEAD_TTL. Anything missing is read as before: a read-ahead that failed or went to another
worker's job costs only the read. Of several workers, one reads a job ahead (a claim in Redis), and none
downloads images ahead (the job it read may go to another, and Label Studio serving images is what limits them).

What is read ahead is what the job would have read a few seconds later; the writer still reads back what Label
Studio holds before it writes (prelabel.delivery.writer), so a task predicted meanwhile is never written twice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from redis import Redis
from rq.exceptions import NoSuchJobError
from rq.job import Job

from prelabel.jobs import queues
from prelabel.studio.client import LabelStudio
from prelabel.studio.tasks import Task
from prelabel.workers import WorkerRegistry

log = logging.getLogger(__name__)
AHEAD_TTL = 30.0  # seconds a read-ahead stays usable: the time a job or two takes, no more
PREDICT_TASKS = "prelabel.jobs.predict.predict_tasks"
TASK_FIELDS = "id,data,predictions_model_versions"
CLAIM = "prelabel:read-ahead"
# What `start` was asked: the running job's id, the data key by project, what to call when the tasks are read.
_Request = tuple[str | None, Callable[[int], str | None], Callable[[], None] | None]


@dataclass(frozen=True)
class ReadAhead:
    """The tasks of one queued job, read from Label Studio at `at` (time.monotonic), and why any could not be."""

    job_id: str
    project_id: int
    task_ids: tuple[int, ...]
    found: dict[int, Task]
    problems: dict[int, str]
    model_version: str = ""  # the version the job was queued with
    queue: str = ""  # the queue it waits in
    alone: bool = False  # this worker was the only one serving that queue: no other can take the job
    at: float = field(default_factory=time.monotonic)

    def fresh(self) -> bool:
        return time.monotonic() - self.at <= AHEAD_TTL


class ReadAheads:
    """One per worker process (prelabel.jobs.context); the next job's tasks and first images, at most one job's."""

    def __init__(self, studio: LabelStudio, redis: Redis, workers: WorkerRegistry, images: int):
        self.studio, self.redis, self.workers, self.ahead = studio, redis, workers, images
        self._lock = threading.Lock()
        self._tasks: ReadAhead | None = None
        self._bytes: dict[tuple[int, str], bytes] = {}
        self._thread: threading.Thread | None = None
        self._reading = False  # a thread reads ahead now
        self._waiting: _Request | None = None  # the read-ahead asked for meanwhile

    def start(self, current: Job | None, data_key: Callable[[int], str | None],
              then: Callable[[], None] | None = None) -> None:
        """Read, in a thread, what the job queued next needs; `data_key(project)`: the task data key that holds
        the image (None: read no image); `then`: called when that is done, if the tasks were read
        (prelabel.jobs.headstart). While the last read-ahead still runs (short jobs), this one waits for it:
        only the latest waits."""
        request = (current.id if current else None, data_key, then)
        with self._lock:
            if self._reading:
                self._waiting = request
                return
            self._reading = True
        self._thread = threading.Thread(target=self._run, args=(request,), name="prelabel-read-ahead", daemon=True)
        self._thread.start()

    def _run(self, request: _Request) -> None:
        next_request: _Request | None = request
        while next_request is not None:
            self._read(*next_request)
            with self._lock:
                next_request, self._waiting = self._waiting, None
                self._reading = next_request is not None

    def tasks(self, job: Job | None, project_id: int,
              task_ids: list[int]) -> tuple[dict[int, Task], dict[int, str]] | None:
        """The tasks read ahead for this job, or None (none read, for other tasks, or too old)."""
        with self._lock:
            ahead, self._tasks = self._tasks, None
        if (job is None or ahead is None or ahead.job_id != job.id or ahead.project_id != project_id
                or list(ahead.task_ids) != task_ids or not ahead.fresh()):
            return None
        return ahead.found, ahead.problems

    def peek(self) -> ReadAhead | None:
        """The tasks read ahead, left for their job; None when none are, or too old."""
        with self._lock:
            ahead = self._tasks
        return ahead if ahead is not None and ahead.fresh() else None

    def images(self, tasks: dict[int, str]) -> dict[int, bytes]:
        """The images downloaded ahead for these tasks ({task: image value}), handed over once; call before
        `start`, which forgets those not taken."""
        with self._lock:
            return {task_id: image for task_id, value in tasks.items()
                    if (image := self._bytes.pop((task_id, value), None)) is not None}

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _read(self, current_id: str | None, data_key: Callable[[int], str | None],
              then: Callable[[], None] | None) -> None:
        read = False
        try:
            job = self._next(current_id)
            if job is None or not self.redis.set(f"{CLAIM}:{job.id}", 1, nx=True, ex=int(AHEAD_TTL)):
                return  # nothing to read, or another worker reads it
            project_id, task_ids = int(job.kwargs["project_id"]), [int(t) for t in job.kwargs["task_ids"]]
            found, problems = self.studio.read_tasks(project_id, TASK_FIELDS, task_ids)
            alone = self.workers.serving().get(job.origin, 0) <= 1
            with self._lock:
                self._tasks = ReadAhead(job.id, project_id, tuple(task_ids), found, problems,
                                        str(job.kwargs.get("model_version", "")), job.origin, alone)
                self._bytes = {}
            read = True
            key = data_key(project_id)
            if key is None or not alone:
                return
            for task_id in task_ids[:self.ahead]:
                task = found.get(task_id)
                value = task.data.get(key) if task is not None and task.data is not None else None
                if isinstance(value, str) and value:
                    image = self.studio.fetch_image(value, task_id, project_id)
                    with self._lock:
                        self._bytes[(task_id, value)] = image
        except Exception as exc:  # the job reads for itself: only the time saved is lost
            log.info("reading the next job's tasks ahead failed: %s", exc)
        finally:
            if read and then is not None:
                then()

    def _next(self, current_id: str | None) -> Job | None:
        """The prediction job a worker takes next (people waiting first), if it names its tasks."""
        for name in (queues.INTERACTIVE, queues.PREDICT):
            ids = [job_id for job_id in queues.queue(self.redis, name).get_job_ids(0, 2) if job_id != current_id]
            if not ids:
                continue
            try:
                job = Job.fetch(ids[0], connection=self.redis)
            except NoSuchJobError:
                return None
            return job if job.func_name == PREDICT_TASKS and "task_ids" in job.kwargs else None
        return None
