"""RQ jobs: pre-label tasks, handle reviewer feedback. Run by `prelabel worker` (prelabel.worker).

A worker process builds its WorkerContext once (models loaded once per process, never per job); the job
functions below take plain arguments, so any machine sharing the Redis can run them. Every job is idempotent:
results are keyed by (model_version, task), and a prediction is written only by whoever claims it and only if
the task has none of that model_version yet.
"""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass, field

from redis import Redis
from rq import Queue, Retry, get_current_job
from rq.job import Job

from prelabel.factory import Shared, build_pipeline
from prelabel.learning import Learning
from prelabel.normalize import Normalizer
from prelabel.pipeline import ImageInput, ImagePrediction, Pipeline
from prelabel.results import ResultStore
from prelabel.settings import Settings
from prelabel.store import LearnedStore
from prelabel.studio import LabelStudio, StudioError
from prelabel.tasks import Control, prediction_json
from prelabel.vocab import Vocabulary

log = logging.getLogger(__name__)

INTERACTIVE, PREDICT, FEEDBACK = "prelabel-interactive", "prelabel-predict", "prelabel-feedback"
QUEUES = (INTERACTIVE, PREDICT, FEEDBACK)  # a worker serves them in this order: people waiting come first
TASKS_PER_JOB = 16
JOB_TIMEOUT = 3600
RETRY = Retry(max=3, interval=[10, 60, 300])  # for Label Studio or Redis being away for a while


class VersionMismatch(RuntimeError):
    """The worker's settings or vocabulary differ from the service's: its predictions would be mislabelled."""


@dataclass
class WorkerContext(Shared):
    """What one worker process keeps between jobs. Parts are built on first use and then reused."""

    _pipeline: Pipeline | None = field(default=None, repr=False)
    _studio: LabelStudio | None = field(default=None, repr=False)

    @property
    def pipeline(self) -> Pipeline:
        """The pipeline, rebuilt (without reloading models) when the synonyms in force have changed."""
        vocabulary = self.vocabulary
        if self._pipeline is None:
            self._pipeline = build_pipeline(self.settings, vocabulary)
        elif self._pipeline.vocabulary.version != vocabulary.version:
            log.info("vocabulary changed (%s -> %s): rebuilding the normaliser", self._pipeline.vocabulary.version,
                     vocabulary.version)
            self._pipeline = build_pipeline(self.settings, vocabulary, reuse=self._pipeline)
        return self._pipeline

    @property
    def base_vocabulary(self) -> Vocabulary:
        """The expert's file, as written."""
        return self.in_force.base

    @property
    def store(self) -> LearnedStore:
        return self.in_force.store

    @functools.cached_property
    def learning(self) -> Learning:
        return Learning(self.store, Normalizer(self.base_vocabulary), self.settings.promote_after)

    @property
    def studio(self) -> LabelStudio:
        if self._studio is None:
            self._studio = LabelStudio(self.settings.label_studio_url, self.settings.label_studio_api_key)
        return self._studio



_context: WorkerContext | None = None


def install_context(context: WorkerContext) -> None:
    """Called once by `prelabel worker` before it takes jobs."""
    global _context
    _context = context


def context() -> WorkerContext:
    global _context
    if _context is None:  # a plain `rq worker` running our jobs: build from the environment
        settings = Settings.from_env()
        _context = WorkerContext(settings, Redis.from_url(settings.redis_url))
    return _context


# ---- enqueueing (used by the service and `prelabel run`) ----------------------------------------------------

def queue(redis: Redis, name: str) -> Queue:
    return Queue(name, connection=redis)


def enqueue_predictions(redis: Redis, project_id: int, tasks: list[dict], control: Control, version: str,
                        queue_name: str = PREDICT) -> list[Job]:
    """Queue tasks in jobs of TASKS_PER_JOB; a task already queued for this model_version is not queued again."""
    results = ResultStore(redis)
    fresh = [task for task in tasks if results.mark_pending(version, task["id"])]
    jobs = []
    for start in range(0, len(fresh), TASKS_PER_JOB):
        chunk = [{"id": task["id"], "data": task.get("data", {})} for task in fresh[start:start + TASKS_PER_JOB]]
        jobs.append(queue(redis, queue_name).enqueue(
            predict_tasks, project_id=project_id, tasks=chunk, control=control.to_dict(),
            model_version=version, job_timeout=JOB_TIMEOUT, retry=RETRY, result_ttl=7 * 24 * 3600,
            failure_ttl=30 * 24 * 3600, description=f"pre-label {len(chunk)} task(s) of project {project_id}",
            meta={"project": project_id, "total": len(chunk), "done": 0}))
    return jobs


# ---- jobs ---------------------------------------------------------------------------------------------------

def predict_tasks(project_id: int, tasks: list[dict], control: dict, model_version: str) -> dict:
    """Pre-label tasks; store every result; write the ones handed over to the worker into Label Studio."""
    ctx = context()
    pipeline = ctx.pipeline
    job = get_current_job()
    model_version = _version_to_predict(ctx, pipeline, tasks, model_version, job)
    where = Control.from_dict(control)
    started, before = time.perf_counter(), _mllm_counts(pipeline)
    inputs = [ImageInput(str(task["data"].get(where.data_key, "")), _loader(ctx, task, where), ref=task["id"])
              for task in tasks]

    def progress(_: ImagePrediction) -> None:
        if job is not None:
            job.meta["done"] = job.meta.get("done", 0) + 1
            job.save_meta()

    predictions = pipeline.predict(inputs, progress=progress)
    written = deliver(ctx, project_id, predictions, where, model_version, pipeline.vocabulary.version)
    _count(ctx, before, pipeline, predictions, time.perf_counter() - started)
    failed = {p.ref: p.errors for p in predictions if p.failed}
    for task_id, errors in failed.items():
        log.warning("task %s of project %s not pre-labelled: %s", task_id, project_id, errors)
    return {"tasks": len(predictions), "labelled": sum(1 for p in predictions if p.label), "written": written,
            "failed": failed, "model_version": model_version}


def _version_to_predict(ctx: WorkerContext, pipeline: Pipeline, tasks: list[dict], queued: str, job) -> str:
    """The job's model_version, or the current one when only the vocabulary moved on since it was queued (a
    synonym promoted meanwhile): the tasks are still wanted, at the version in force. Different settings
    (model_version is prelabel-<vocabulary>-<settings>) would mislabel predictions: that fails for good."""
    current = pipeline.model_version
    if current == queued:
        return queued
    if current.rsplit("-", 1)[-1] != queued.rsplit("-", 1)[-1]:
        if job is not None:
            job.retries_left = 0  # a retry would meet the same settings: fail for good, visibly
        raise VersionMismatch(f"this worker predicts as {current}, the job asks for {queued}: give the service "
                              "and the workers the same settings and class descriptions")
    log.info("the vocabulary moved on since this job was queued: predicting as %s, not %s", current, queued)
    ctx.results.hand_over(current, [t["id"] for t in tasks if ctx.results.handed_over(queued, t["id"])])
    return current


def _loader(ctx: WorkerContext, task: dict, control: Control):
    value = task.get("data", {}).get(control.data_key)
    if not value:
        def missing() -> bytes:
            raise StudioError(f"task {task['id']} has no '{control.data_key}' in its data")
        return missing
    return functools.partial(ctx.studio.fetch_image, str(value), task["id"])


def deliver(ctx: WorkerContext, project_id: int, predictions: list[ImagePrediction], control: Control,
            model_version: str, vocabulary_version: str) -> int:
    """Store results; write those handed over (claimed first, so nobody writes twice). Returns writes made."""
    results, written, version_checked = ctx.results, 0, False
    ctx.store.save_prediction_evidence([evidence_row(p, project_id, model_version, vocabulary_version)
                                        for p in predictions])
    for prediction in predictions:
        found = prediction_json(prediction, model_version, control)
        results.put(model_version, prediction.ref, found)
        results.clear_pending(model_version, prediction.ref)
        if found is None or not results.handed_over(model_version, prediction.ref):
            continue
        if not results.claim(model_version, prediction.ref):
            continue
        try:
            if project_id and not version_checked:  # a /predict without a project id names none
                ctx.studio.ensure_model_version(project_id, model_version)
                version_checked = True
            if model_version not in ctx.studio.model_versions_of(prediction.ref):
                ctx.studio.create_prediction(prediction.ref, found)
                written += 1
        except StudioError:
            results.release(model_version, prediction.ref)  # the retry must be able to deliver it
            raise
    return written


def evidence_row(prediction: ImagePrediction, project_id: int, version: str, vocabulary_version: str) -> dict:
    """What feedback needs later: raw MLLM strings, how each normalised, stage scores, the final label."""
    return {"task_id": prediction.ref, "project_id": project_id, "model_version": version,
            "vocabulary_version": vocabulary_version, "label": prediction.label,
            "evidence": {"candidates": prediction.evidence.get("candidates", []),
                         "stage2": prediction.evidence.get("stage2"), "stage_scores": prediction.stage_scores,
                         "errors": prediction.errors}}


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


def sync_model_version(project_id: int, model_version: str) -> str:
    """Set project.model_version to ours (Label Studio sets it to the backend's title when one is added)."""
    context().studio.ensure_model_version(project_id, model_version)
    return model_version


def handle_feedback(action: str, project_id: int | None, annotation_ids: list[int]) -> dict:
    """A reviewer's annotation: read it back from Label Studio (the webhook is only a hint) and record it."""
    from prelabel.feedback import record_feedback

    return record_feedback(context(), action, project_id, annotation_ids)
