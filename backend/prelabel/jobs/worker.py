"""`prelabel worker`: an RQ worker that loads the models once and hands them to every job it runs.

rq's default Worker forks a child per job: CUDA does not survive a fork, and reloading CLIP per job costs
seconds. PrelabelWorker is a SimpleWorker (jobs run in the worker process itself) that sets its context for each
job it runs (prelabel.jobs.context.worker_context, a ContextVar as rq's own current job), so no job builds
anything from the environment and nothing is kept in a module global. Run one per GPU or CPU box; all of them
share the one Redis (docs/operations.md, "Scaling out").

Liveness: a thread beats every few seconds, for rq (the running job's execution, with a short TTL) and for
Prelabel (the worker registry the service counts); every MAINTENANCE_EVERY seconds it runs rq's registry
cleanup, which retries a job whose worker was killed once its heartbeat lapses (within about a minute), and the
reconciler (prelabel.delivery.reconciler). rq alone cleans only between jobs or after a seven-minute idle wait.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Any

from redis.exceptions import RedisError
from rq import SimpleWorker
from rq.executions import Execution
from rq.job import Job, JobStatus
from rq.queue import Queue
from rq.scheduler import RQScheduler
from rq.worker import WorkerStatus

from prelabel.delivery import reconciler
from prelabel.jobs.context import WorkerContext, serving
from prelabel.jobs.queues import INTERACTIVE, PREDICT, enqueue_predictions, queue
from prelabel.parts import Parts
from prelabel.redact import Redactor, protect_logs, secrets_of
from prelabel.settings import Settings
from prelabel.workers import BEAT_EVERY

log = logging.getLogger(__name__)
JOB_HEARTBEAT_TTL = 40  # a job not heard of for this long is abandoned (its worker died) and retried
MAINTENANCE_EVERY = 20  # seconds between rq's registry cleanups and reconciler runs, across all workers


class PrelabelWorker(SimpleWorker):
    def __init__(self, queues: list[Queue], context: WorkerContext, **kwargs: Any):
        super().__init__(queues, connection=context.parts.redis, maintenance_interval=MAINTENANCE_EVERY, **kwargs)
        self.context = context
        self.redact = Redactor(secrets_of(context.settings))
        self.registry = context.parts.workers
        # rq's scheduler (retries after their backoff), run by the heartbeat thread rather than in a forked process:
        # a killed worker's forked scheduler held its lock and delayed every retry by minutes; here the lock lasts
        # a minute and is refreshed at every beat.
        self.retries = RQScheduler([q.name for q in queues], connection=context.parts.redis)
        self._running: tuple[Job, Execution] | None = None
        self._stopped = threading.Event()

    def work(self, *args: Any, **kwargs: Any) -> bool:
        beating = threading.Thread(target=self._beat, name="prelabel-heartbeat", daemon=True)
        beating.start()
        try:
            return super().work(*args, **kwargs)
        finally:
            self._stopped.set()
            beating.join(timeout=10)
            self.registry.leave(self.name)
            self.retries.release_locks()

    def execute_job(self, job: Job, queue: Queue) -> None:
        execution = self.prepare_execution(job)
        self._running = (job, execution)
        try:
            with serving(self.context):
                self.perform_job(job, queue, execution)
        finally:
            self._running = None
        try:
            waiting = any(q.count for q in self.queues)
        except RedisError:
            waiting = False
        if not waiting:
            self.context.idle()
        self.set_state(WorkerStatus.IDLE)

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        return JOB_HEARTBEAT_TTL  # kept fresh by _beat while the job runs, however long it takes

    def _beat(self) -> None:
        beats = 0
        while not self._stopped.wait(0 if beats == 0 else BEAT_EVERY):
            beats += 1
            try:
                self.registry.beat(self.name, self.queue_names())
                self.retries.acquire_locks()
                if self.retries.acquired_locks:
                    self.retries.enqueue_scheduled_jobs()
                running = self._running
                if running is not None:
                    self.maintain_heartbeats(*running)
                if beats % int(MAINTENANCE_EVERY / BEAT_EVERY) == 0:
                    # rq cleans its registries (and retries abandoned jobs) only between jobs and after a long
                    # idle wait: here it happens every MAINTENANCE_EVERY seconds, busy or idle.
                    self.clean_registries()
                    self._reconcile()
            except Exception:  # Redis or Label Studio away for a moment: the next beat tries again
                log.warning("heartbeat or maintenance failed", exc_info=True)

    def _reconcile(self) -> None:
        parts = self.context.parts

        def requeue(project_id: int, task_ids: list[int], version: str) -> None:
            enqueue_predictions(parts.redis, parts.results, project_id, task_ids, version, PREDICT)

        reconciler.run_if_due(parts.redis, parts.studio, parts.results, parts.ledger, requeue,
                              parts.settings.keep_superseded)

    def handle_job_failure(self, job: Job, queue: Queue, started_job_registry=None, exc_string: str = "",
                           execution=None) -> None:
        """The traceback rq keeps with a failed job (`prelabel jobs` shows it) leaves with credentials masked. A
        job cancelled while it ran (rq's cancel) is not retried: rq would schedule its retries all the same."""
        with contextlib.suppress(RedisError):
            if job.get_status(refresh=True) == JobStatus.CANCELED:
                job.retries_left = 0
        super().handle_job_failure(job, queue, started_job_registry=started_job_registry,
                                   exc_string=self.redact(exc_string), execution=execution)


def run_worker(settings: Settings, queue_names: list[str], burst: bool = False, name: str | None = None) -> bool:
    protect_logs(settings, ("rq.worker",))  # no credential in any log line, tracebacks included
    context = WorkerContext(Parts(settings))
    try:
        if INTERACTIVE in queue_names or PREDICT in queue_names:
            pipeline = context.pipeline()  # load the models now, once, before the first job waits for them
            log.info("pipeline ready: %s", pipeline.model_version)
        worker = PrelabelWorker([queue(context.parts.redis, n) for n in queue_names], context, name=name)
        return worker.work(burst=burst, logging_level="INFO")
    finally:
        context.close()
