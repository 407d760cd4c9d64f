"""The prediction jobs: pre-label tasks and deliver their predictions; keep project.model_version ours.

Each job function takes the worker's context first (prelabel.jobs.worker hands it in) and plain arguments
after it, so any worker sharing the Redis can run it. Every job is idempotent: results are keyed by
(model_version, task), and a prediction is written only by whoever claims it (prelabel.jobs.delivery).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable

from rq import get_current_job
from rq.job import Job

from prelabel.jobs.context import WorkerContext
from prelabel.jobs.delivery import deliver
from prelabel.pipeline.identity import ModelVersion
from prelabel.pipeline.pipeline import Pipeline
from prelabel.pipeline.result import ImageInput, ImagePrediction
from prelabel.studio.client import StudioError
from prelabel.studio.labelconfig import Control

log = logging.getLogger(__name__)


class VersionMismatch(RuntimeError):
    """The worker's settings differ from the service's: its predictions would be mislabelled."""


def predict_tasks(ctx: WorkerContext, project_id: int, tasks: list[dict], control: dict, model_version: str) -> dict:
    """Pre-label tasks; store every result; write the ones handed over to the worker into Label Studio."""
    pipeline = ctx.pipeline()
    job = get_current_job()
    version = _version_to_predict(ctx, pipeline, tasks, model_version, job)
    where = Control.from_dict(control)
    started, before = time.perf_counter(), _mllm_counts(pipeline)
    inputs = [ImageInput(str(task["data"].get(where.data_key, "")), _loader(ctx, task, where), ref=task["id"])
              for task in tasks]

    def progress(_: ImagePrediction) -> None:
        if job is not None:
            job.meta["done"] = job.meta.get("done", 0) + 1
            job.save_meta()

    predictions = pipeline.predict(inputs, progress=progress)
    written = deliver(ctx.results, ctx.parts.studio, ctx.parts.store, project_id, predictions, where, version,
                      pipeline.vocabulary.version)
    _count(ctx, before, pipeline, predictions, time.perf_counter() - started)
    failed = {p.ref: p.errors for p in predictions if p.failed}
    for task_id, errors in failed.items():
        log.warning("task %s of project %s not pre-labelled: %s", task_id, project_id, errors)
    return {"tasks": len(predictions), "labelled": sum(1 for p in predictions if p.label), "written": written,
            "failed": failed, "model_version": version}


def _version_to_predict(ctx: WorkerContext, pipeline: Pipeline, tasks: list[dict], queued: str,
                        job: Job | None) -> str:
    """The job's model_version, or the current one when only the vocabulary moved on since it was queued (a
    synonym promoted meanwhile): the tasks are still wanted, at the version in force. Different settings would
    mislabel predictions: that fails for good."""
    current = pipeline.model_version
    if str(current) == queued:
        return queued
    asked = ModelVersion.parse(queued)
    if asked is None or not current.same_settings(asked):
        if job is not None:
            job.retries_left = 0  # a retry would meet the same settings: fail for good, visibly
        raise VersionMismatch(f"this worker predicts as {current}, the job asks for {queued}: give the service "
                              "and the workers the same settings and class descriptions")
    log.info("the vocabulary moved on since this job was queued: predicting as %s, not %s", current, queued)
    ctx.results.hand_over(str(current), [t["id"] for t in tasks if ctx.results.handed_over(queued, t["id"])])
    return str(current)


def _loader(ctx: WorkerContext, task: dict, control: Control) -> Callable[[], bytes]:
    value = task.get("data", {}).get(control.data_key)
    if not value:
        def missing() -> bytes:
            raise StudioError(f"task {task['id']} has no '{control.data_key}' in its data")
        return missing
    return functools.partial(ctx.parts.studio.fetch_image, str(value), task["id"])


def _count(ctx: WorkerContext, before: tuple[int, int, int], pipeline: Pipeline,
           predictions: list[ImagePrediction], seconds: float) -> None:
    metrics = ctx.metrics
    metrics.observe("job", seconds, kind="predict")
    metrics.add("images_total", len(predictions))
    metrics.add("images_failed_total", sum(1 for p in predictions if p.failed))
    for name, old, new in zip(("mllm_calls_total", "mllm_cache_hits_total", "mllm_tokens_total"), before,
                              _mllm_counts(pipeline), strict=True):
        metrics.add(name, new - old)


def _mllm_counts(pipeline: Pipeline) -> tuple[int, int, int]:
    stats = pipeline.mllm.stats if pipeline.mllm is not None else None
    return (stats.calls, stats.cache_hits, stats.tokens) if stats else (0, 0, 0)


def sync_model_version(ctx: WorkerContext, project_id: int, model_version: str) -> str:
    """Set project.model_version to ours (Label Studio sets it to the backend's title when one is added)."""
    ctx.parts.studio.ensure_model_version(project_id, model_version)
    return model_version
