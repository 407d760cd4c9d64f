"""`prelabel worker`: an RQ worker that loads the models once and hands them to every job it runs.

rq's default Worker forks a child per job: CUDA does not survive a fork, and reloading CLIP per job costs
seconds. PrelabelWorker is a SimpleWorker (jobs run in the worker process itself) that sets its context for each
job it runs (prelabel.jobs.context.worker_context, a ContextVar as rq's own current job), so no job builds
anything from the environment and nothing is kept in a module global. Run one per GPU or CPU box; all of them
share the one Redis (docs/operations.md, "Scaling out").

Liveness: a thread beats every few seconds, for rq (the running job's execution, with a TTL of
PRELABEL_ABANDONED_AFTER) and for Prelabel (the worker registry the service counts); every half of that TTL it
runs rq's registry cleanup, which retries a job whose worker was killed once its heartbeat lapses (within about a
minute by default), and the reconciler (prelabel.delivery.reconciler). rq alone cleans only between jobs or after
a seven-minute idle wait.

Redis away: rq's work loop quits on any error it did not expect ("found an unhandled exception, quitting"), and
a Redis error as a job starts, runs, ends or beats is one. The worker notes it, waits for Redis with backoff
(RECONNECT_DELAYS) and goes on under the same name: its heartbeat counts it again in /health, and a job the
outage interrupted is retried (rq finds it abandoned once its short heartbeat lapses; every job is idempotent).
A name rq still holds for a worker that died without leaving (SIGKILL: rq keeps it for minutes) is freed once
Prelabel's heartbeat for it has lapsed, so a restarted worker is not refused.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from redis.exceptions import RedisError
from rq import SimpleWorker
from rq.executions import Execution
from rq.job import Job, JobStatus
from rq.queue import Queue
from rq.registry import StartedJobRegistry
from rq.scheduler import RQScheduler
from rq.timeouts import TimerDeathPenalty
from rq.worker import WorkerStatus

from prelabel.delivery import reconciler
from prelabel.jobs.context import WorkerContext, serving
from prelabel.jobs.queues import INTERACTIVE, PREDICT, PREDICT_JOB, enqueue_predictions, queue
from prelabel.parts import Parts
from prelabel.redact import Redactor, protect_logs, secrets_of
from prelabel.settings import Settings, SettingsError
from prelabel.studio.client import StudioError
from prelabel.workers import BEAT_EVERY, process_exists

log = logging.getLogger(__name__)
# A running job's heartbeat TTL (PRELABEL_ABANDONED_AFTER) spans at least this many beats: a busy machine may
# delay a beat or two without a live job being taken for abandoned.
BEATS_PER_TTL = 3
RECONNECT_DELAYS = (1, 2, 4, 8, 15)  # seconds between tries to reach Redis again; the last repeats
LANE_POLL = 1  # seconds an interactive lane waits for a job before it looks whether to stop
AFTER_DEADLINE = 300  # seconds a prediction job has past PRELABEL_JOB_DEADLINE (its writes) before rq ends it


class PrelabelWorker(SimpleWorker):
    def __init__(self, queues: list[Queue], context: WorkerContext, lane_of: str | None = None, **kwargs: Any):
        """`lane_of`: the worker this one is the interactive lane of (_InteractiveLane), run in a thread of its
        process: that one beats, cleans and schedules for both, and handles the signals."""
        # A job not heard of for this long is abandoned (its worker died) and retried; rq's registry cleanups and
        # the reconciler run every half of it.
        self.heartbeat_ttl = int(context.settings.abandoned_after)
        self.maintenance_every = max(1, self.heartbeat_ttl // 2)
        super().__init__(queues, connection=context.parts.redis, maintenance_interval=self.maintenance_every,
                         **kwargs)
        self.lane_of = lane_of
        if lane_of is not None:
            self.death_penalty_class = TimerDeathPenalty  # rq's default uses SIGALRM: the main thread's only
        self.context = context
        self.redact = Redactor(secrets_of(context.settings))
        self.registry = context.parts.workers
        # rq's scheduler (retries after their backoff), run by the heartbeat thread rather than in a forked process:
        # a killed worker's forked scheduler held its lock and delayed every retry by minutes; here the lock lasts
        # as long as a job's heartbeat (rq's own lasts a minute) and is refreshed at every beat.
        self.retries = RQScheduler([q.name for q in queues], connection=context.parts.redis)
        self._running: tuple[Job, Execution] | None = None
        self._stopped = threading.Event()
        self.lost_redis: RedisError | None = None  # why the work loop ended, when Redis went away
        self.interrupted: tuple[Job, Queue, Execution] | None = None  # the job Redis went away under

    def work(self, *args: Any, **kwargs: Any) -> bool:
        self._free_name()
        beating = threading.Thread(target=self._beat, name="prelabel-heartbeat", daemon=True)
        beating.start()
        try:
            return super().work(*args, **kwargs)
        except RedisError as exc:  # from rq's teardown, which writes to Redis too
            self.lost_redis = self.lost_redis or exc
            raise
        finally:
            self._stopped.set()
            beating.join(timeout=10)
            try:
                self.registry.leave(self.name)
                self.retries.release_locks()  # type: ignore[no-untyped-call]  # rq leaves it unannotated
            except RedisError:
                pass  # Redis away: the heartbeat lapses, and the name is freed when the worker comes back

    @contextmanager
    def _noting_redis(self) -> Iterator[None]:
        """Note a Redis error that ends rq's work loop (rq logs it and quits): run_worker reconnects."""
        try:
            yield
        except RedisError as exc:
            self.lost_redis = self.lost_redis or exc
            raise

    def retry_interrupted(self) -> None:
        """The job Redis went away under, failed now as any job that raised (retried after RETRY's first
        interval), rather than found abandoned once its heartbeat lapses, a minute later."""
        if self.interrupted is not None:
            job, queue, execution = self.interrupted
            self.interrupted = None
            self.handle_job_failure(job, queue, exc_string=f"Redis went away: {self.redact(str(self.lost_redis))}",
                                    execution=execution)

    def _free_name(self) -> None:
        """rq refuses a name it holds for a worker that never registered its death (killed, or Redis gone as it
        left) until that registration expires, minutes later. The holder is dead when its process on this host
        is gone, or, elsewhere, when Prelabel's heartbeat for it has lapsed: then its registration goes."""
        if not self.connection.exists(self.key):
            return
        host, pid = (value.decode() if isinstance(value, bytes) else value
                     for value in self.connection.hmget(self.key, "hostname", "pid"))
        gone_here = host == self.hostname and str(pid).isdigit() and not process_exists(int(str(pid)))
        if gone_here or not self.registry.alive(self.lane_of or self.name):
            log.info("freeing the name %s: the worker that held it is gone", self.name)
            self.register_death()  # type: ignore[no-untyped-call]  # rq leaves it unannotated

    def dequeue_job_and_maintain_ttl(self, *args: Any, **kwargs: Any) -> Any:
        with self._noting_redis():
            if self.lane_of is None:
                return super().dequeue_job_and_maintain_ttl(*args, **kwargs)
            # No signal ends a lane's wait for a job: it waits in short turns and looks whether to stop.
            while not self._stop_requested:
                found = super().dequeue_job_and_maintain_ttl(LANE_POLL, LANE_POLL)
                if found is not None:
                    return found
            return None

    def _install_signal_handlers(self) -> None:
        if self.lane_of is None:  # a lane is told to stop by its main worker (signals reach the main thread only)
            super()._install_signal_handlers()  # type: ignore[no-untyped-call]  # rq leaves it unannotated

    def check_for_suspension(self, *args: Any, **kwargs: Any) -> Any:
        with self._noting_redis():
            return super().check_for_suspension(*args, **kwargs)

    def run_maintenance_tasks(self) -> None:
        with self._noting_redis():
            super().run_maintenance_tasks()  # type: ignore[no-untyped-call]  # rq leaves it unannotated

    def heartbeat(self, *args: Any, **kwargs: Any) -> Any:
        with self._noting_redis():
            return super().heartbeat(*args, **kwargs)

    def execute_job(self, job: Job, queue: Queue) -> None:
        if job.func_name == PREDICT_JOB:
            # rq's timeout ends a job the hard way (every task lost, the job retried whole): only after the
            # deadline by which a prediction job ends itself, with time left to write what it made.
            job.timeout = max(job.timeout or 0, math.ceil(self.context.settings.job_deadline) + AFTER_DEADLINE)
        with self._noting_redis():
            execution = self.prepare_execution(job)
            self._running = (job, execution)
            try:
                with serving(self.context):
                    self.perform_job(job, queue, execution)
            except RedisError:
                self.interrupted = (job, queue, execution)
                raise
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
        return self.heartbeat_ttl  # kept fresh by _beat while the job runs, however long it takes

    def _beat(self) -> None:
        beats = 0
        while not self._stopped.wait(0 if beats == 0 else BEAT_EVERY):
            beats += 1
            try:
                running = self._running
                if running is not None:
                    self.maintain_heartbeats(*running)
                if self.lane_of is not None:
                    continue  # its main worker beats, schedules and cleans for both
                self.registry.beat(self.name, self.queue_names())
                self._hold_retry_locks()
                if self.retries.acquired_locks:
                    self.retries.enqueue_scheduled_jobs()  # type: ignore[no-untyped-call]  # rq leaves it unannotated
                if beats % max(1, int(self.maintenance_every / BEAT_EVERY)) == 0:
                    # rq cleans its registries (and retries abandoned jobs) only between jobs and after a long
                    # idle wait: here it happens every maintenance_every seconds, busy or idle.
                    self.clean_registries()  # type: ignore[no-untyped-call]  # rq leaves it unannotated
                    self._reconcile()
            except Exception:  # Redis or Label Studio away for a moment: the next beat tries again
                log.warning("heartbeat or maintenance failed", exc_info=True)

    def _hold_retry_locks(self) -> None:
        """Take or refresh the scheduler's locks, each to lapse with a job's heartbeat rather than after rq's
        minute: a killed worker's lock would hold up the retry of the very job it abandoned."""
        for name in self.retries.acquire_locks():  # type: ignore[no-untyped-call]  # rq leaves it unannotated
            self.connection.expire(self.retries.get_locking_key(name), self.heartbeat_ttl)

    def _reconcile(self) -> None:
        parts = self.context.parts

        def requeue(project_id: int, task_ids: list[int], version: str) -> None:
            enqueue_predictions(parts.redis, parts.results, project_id, task_ids, version, PREDICT)

        reconciler.run_if_due(parts.redis, parts.studio, parts.results, parts.ledger, requeue,
                              parts.settings.keep_superseded)

    def handle_job_failure(self, job: Job, queue: Queue, started_job_registry: StartedJobRegistry | None = None,
                           exc_string: str = "", execution: Execution | None = None) -> None:
        """The traceback rq keeps with a failed job (`prelabel jobs` shows it) leaves with credentials masked. A
        job cancelled while it ran (rq's cancel) is not retried: rq would schedule its retries all the same."""
        with contextlib.suppress(RedisError):
            if job.get_status(refresh=True) == JobStatus.CANCELED:
                job.retries_left = 0
        super().handle_job_failure(job, queue, started_job_registry=started_job_registry,
                                   exc_string=self.redact(exc_string), execution=execution)


def run_worker(settings: Settings, queue_names: list[str], burst: bool = False, name: str | None = None) -> bool:
    if settings.abandoned_after < BEATS_PER_TTL * BEAT_EVERY:
        raise SettingsError(f"PRELABEL_ABANDONED_AFTER={settings.abandoned_after:g}: expected at least "
                            f"{BEATS_PER_TTL * BEAT_EVERY:g} seconds (workers beat every {BEAT_EVERY:g} s)")
    protect_logs(settings, ("rq.worker",))  # no credential in any log line, tracebacks included
    context = WorkerContext(Parts(settings))
    lane: _InteractiveLane | None = None
    try:
        if INTERACTIVE in queue_names or PREDICT in queue_names:
            pipeline = context.pipeline()  # load the models now, once, before the first job waits for them
            log.info("pipeline ready: %s", pipeline.model_version)
        # Label Studio's client too (its SDK's imports: seconds of CPU on a busy machine), not in the first job
        # or beat; one that cannot be built now says why in the job that needs it.
        with contextlib.suppress(StudioError):
            context.parts.studio  # noqa: B018
        worked = False
        while True:
            worker = PrelabelWorker([queue(context.parts.redis, n) for n in queue_names], context, name=name)
            if lane is None and not burst and INTERACTIVE in queue_names and len(queue_names) > 1:
                lane = _InteractiveLane(context, worker.name)
            try:
                worked = worker.work(burst=burst, logging_level="INFO") or worked
            except RedisError:
                if worker.lost_redis is None:
                    raise
            if worker.lost_redis is None or worker._stop_requested or not _reconnect(worker):
                return worked
            # The same name again (/health and `prelabel jobs` count it as before): its old registration goes.
            name = worker.name
            with contextlib.suppress(RedisError):
                worker.retry_interrupted()
                worker.register_death()  # type: ignore[no-untyped-call]  # rq leaves it unannotated
                # rq leaves it unannotated; else the next scheduler waits for the locks to lapse
                worker.retries.release_locks()  # type: ignore[no-untyped-call]
    finally:
        if lane is not None:
            lane.stop()  # after its running job, as the main worker's warm shutdown
        context.close()


class _InteractiveLane:
    """A worker slot only the interactive queue reaches, in the same process, sharing its models: while the
    main worker runs a bulk job, a feedback job or a model_version update (minutes, with a slow MLLM), a
    reviewer's retrieve is still answered in its usual time. A thread runs a second rq worker on
    prelabel-interactive alone, named after the main one; it comes back by itself after a Redis outage."""

    def __init__(self, context: WorkerContext, main_name: str):
        self.context = context
        self.main_name = main_name
        self._stop = threading.Event()
        self._worker: PrelabelWorker | None = None
        self._thread = threading.Thread(target=self._run, name="prelabel-interactive-lane", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        redis = self.context.parts.redis
        for attempt in itertools.count():
            worker = PrelabelWorker([queue(redis, INTERACTIVE)], self.context, lane_of=self.main_name,
                                    name=f"{self.main_name}-interactive")
            self._worker = worker
            if self._stop.is_set():  # stop() came before this worker existed: it could not tell it
                return
            try:
                worker.work(logging_level="INFO")
            except Exception:  # Redis away, most likely: tried again after a pause, as the main worker does
                log.warning("the interactive lane stopped", exc_info=True)
            if self._stop.is_set() or self._stop.wait(RECONNECT_DELAYS[min(attempt, len(RECONNECT_DELAYS) - 1)]):
                return
            with contextlib.suppress(RedisError):
                redis.ping()
                worker.retry_interrupted()

    def stop(self) -> None:
        self._stop.set()
        if self._worker is not None:
            self._worker._stop_requested = True
        self._thread.join()


def _reconnect(worker: PrelabelWorker) -> bool:
    """Wait for Redis with backoff; False when asked to stop meanwhile (SIGTERM, SIGINT)."""
    stop = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: stop.set())
    why = worker.redact(str(worker.lost_redis))
    for attempt in itertools.count():
        delay = RECONNECT_DELAYS[min(attempt, len(RECONNECT_DELAYS) - 1)]
        log.warning("Redis went away (%s): trying again in %d s", why, delay)
        if stop.wait(delay):
            return False
        try:
            worker.connection.ping()
        except RedisError as exc:
            why = worker.redact(str(exc))
            continue
        log.info("Redis is back: the worker goes on")
        return True
    return False

