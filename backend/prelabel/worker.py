"""`prelabel worker`: an RQ worker that loads the models once and runs every job in its own process.

rq's default Worker forks a child per job: CUDA does not survive a fork, and reloading CLIP per job costs
seconds. SimpleWorker runs jobs in the worker process itself, so the WorkerContext built here serves them all.
Run one per GPU or CPU box; all of them share the one Redis (README, "Scaling out").
"""

from __future__ import annotations

import logging

from redis import Redis
from rq import SimpleWorker

from prelabel import jobs
from prelabel.settings import Settings

log = logging.getLogger(__name__)


def run_worker(settings: Settings, queue_names: list[str], burst: bool = False, name: str | None = None) -> bool:
    redis = Redis.from_url(settings.redis_url)
    context = jobs.WorkerContext(settings, redis)
    if jobs.INTERACTIVE in queue_names or jobs.PREDICT in queue_names:
        pipeline = context.pipeline  # load the models now, once, before the first job waits for them
        log.info("pipeline ready: %s", pipeline.model_version)
    jobs.install_context(context)
    worker = SimpleWorker([jobs.queue(redis, n) for n in queue_names], connection=redis, name=name)
    # The scheduler moves retried jobs back into their queue after their backoff interval.
    return worker.work(burst=burst, with_scheduler=True, logging_level="INFO")
