"""The prediction jobs: pre-label tasks and deliver their predictions; keep project.model_version ours.

Each job function takes plain arguments and asks the running worker for its context (prelabel.jobs.context), so
any worker sharing the Redis can run it. A job trusts nothing it was queued with but task ids: it
reads the tasks' data and the project's labeling config back from Label Studio, so data posted to /predict
can neither choose the image a prediction is made from nor what is written. Every job is idempotent: results
are kept per (model_version, task, task data), and writes go through prelabel.delivery.writer, which reads back
what Label Studio already holds.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from rq import get_current_job
from rq.job import Job

from prelabel.delivery.results import made_from
from prelabel.delivery.writer import Outgoing
from prelabel.jobs import bursts
from prelabel.jobs.context import WorkerContext, worker_context
from prelabel.jobs.headstart import Plan
from prelabel.jobs.queues import INTERACTIVE, PredictionJobResult
from prelabel.jobs.readahead import TASK_FIELDS
from prelabel.learning.rows import EvidenceRow
from prelabel.pipeline.identity import ModelVersion
from prelabel.pipeline.pipeline import Pipeline
from prelabel.pipeline.result import FAILED, LABEL, NONE, ImageInput, ImagePrediction, JobDeadline
from prelabel.studio.client import StudioError
from prelabel.studio.columns import list_columns
from prelabel.studio.labelconfig import Control
from prelabel.studio.predictions import StudioPrediction, studio_prediction

log = logging.getLogger(__name__)
MAX_SOURCE = 300  # characters of an image value kept in evidence and logs (a data URL can be megabytes)


class VersionMismatch(RuntimeError):
    """The worker's settings differ from the service's: its predictions would be mislabelled."""


def predict_tasks(project_id: int, task_ids: list[int], model_version: str) -> dict[str, Any]:
    """Pre-label tasks of a project; keep every decision; write those handed over to workers. Returns a
    PredictionJobResult's JSON."""
    ctx = worker_context()
    until = JobDeadline.after(ctx.settings.job_deadline)  # a slow image costs its own task, never the job
    pipeline = ctx.pipeline(project_id)  # scoring with the project's own calibration, where it has one
    job = get_current_job()
    _refuse_other_settings(ctx, pipeline, model_version, job, project_id)  # before Label Studio is asked anything
    control = ctx.control_of(project_id, pipeline.vocabulary)
    predicting = _version_to_predict(ctx, pipeline, task_ids, model_version, job, project_id,
                                     control.regions is not None)
    version = str(predicting)
    started, before, calls_before = time.perf_counter(), _mllm_counts(pipeline), Counter(ctx.parts.studio.calls)
    tasks, outcome, failed_before = _read_back(ctx, job, project_id, task_ids, version,
                                               str(predicting.failure()))
    results = ctx.results
    config = ctx.config_of(project_id)  # what control_of read: results are kept for the config they were made for
    hashes = {task_id: made_from(data, config) for task_id, data in tasks.items()}
    reused = results.get_many(version, hashes)
    ahead = ctx.read_ahead.images({task_id: str(data.get(control.data_key)) for task_id, data in tasks.items()})

    def image_input(task_id: int, data: Mapping[str, Any], image: bytes | None = None) -> ImageInput:
        return ImageInput(_source(data, control), _loader(ctx, project_id, task_id, data, control, until, image),
                          ref=task_id, regions=control.regions is not None)

    inputs = [image_input(task_id, data, ahead.get(task_id)) for task_id, data in tasks.items()
              if task_id not in reused]
    # A person waits on an interactive job (a task opened, a Retrieve): its predictions are written at once.
    urgent = job is None or job.origin == INTERACTIVE
    # A bulk job runs in the worker's slots, which outlive it: the job before may have started its first images
    # in them (prelabel.jobs.headstart), and this one starts the next job's as its own last ones finish.
    begun = None if urgent else ctx.head_start.take(job, version, {task_id: hashes[task_id] for task_id in tasks
                                                                  if task_id not in reused})
    if not urgent:
        ctx.head_start.plan(Plan(job.id if job else None, project_id, model_version, version, pipeline,
                                 lambda task_id, data: image_input(task_id, data, ctx.read_ahead.images(
                                     {task_id: str(data.get(control.data_key))}).get(task_id)),
                                 lambda data: made_from(data, config)))
    # The next job's tasks are read while this one's MLLM calls run: it starts at full speed. After an urgent
    # job, its first images too; after a bulk job the head start loads them, in the slots' loaders (read ahead
    # as well, one image in five was downloaded twice: issue 24, 2026-12-07).
    ctx.read_ahead.start(job, lambda project: control.data_key if urgent and project == project_id else None,
                         None if urgent else ctx.head_start.tasks_read)
    predictions: list[ImagePrediction] = []
    delivering = [Outgoing(task_id, found) for task_id, found in reused.items()
                  if results.handed_over(version, task_id)]
    ctx.writer.submit(project_id, delivering, urgent)

    def columns(task_id: int, found: StudioPrediction, made_from: ImagePrediction | None = None) -> None:
        if ctx.settings.list_columns:  # the suggestion in Label Studio's task list (prelabel.studio.columns)
            ctx.writer.submit_columns(project_id, task_id, tasks[task_id], list_columns(found, control, made_from),
                                      urgent)

    for item in delivering:
        columns(item.task_id, item.prediction)

    def done(prediction: ImagePrediction) -> None:
        task_id = prediction.ref
        failed = prediction.state == FAILED
        # A failure says how many tries failed in a row (this one's attempt is stored when the job ends).
        found = studio_prediction(prediction, predicting, control,
                                  1 + ctx.parts.store.failures_in_a_row(project_id, task_id) if failed else 1)
        if failed:
            _failed(ctx, project_id, task_id, found, hashes[task_id], held_failure=task_id in failed_before)
            handed_over = results.handed_over(version, task_id)
        else:
            handed_over = results.put_handed_over(version, task_id, hashes[task_id], found)
        if handed_over:
            if not failed:  # nobody waits: a failure is not written (the task stays without a prediction)
                delivering.append(Outgoing(task_id, found))
                ctx.writer.submit(project_id, [delivering[-1]], urgent)
        elif not failed:  # a /predict response delivers it: the failure it heals goes
            ctx.writer.submit_replaced(project_id, task_id, predicting)
        columns(task_id, found, prediction)
        _progress(job, predictions, prediction)

    try:
        pipeline.predict(inputs, progress=done, until=until, urgent=urgent, slots=None if urgent else ctx.slots,
                         started=begun, on_free=None if urgent else ctx.head_start.slots_free)
    finally:
        if not urgent:
            ctx.head_start.plan(None)
    ctx.parts.store.save_prediction_evidence([EvidenceRow.of(p, project_id, version, pipeline.vocabulary.version)
                                              for p in predictions])
    results.clear_pending(version, task_ids)
    _count(ctx, before, pipeline, predictions, time.perf_counter() - started)
    # A copy first (one C-level update): the writer's thread may count a call meanwhile.
    for what, count in (Counter(ctx.parts.studio.calls) - calls_before).items():
        ctx.metrics.add("studio_calls_total", count, what=what)
    for prediction in predictions:
        if prediction.failed:
            log.warning("task %s of project %s not pre-labelled: %s", prediction.ref, project_id,
                        prediction.reason[:MAX_SOURCE])
            outcome[prediction.ref] = prediction.reason
    states = Counter(p.state for p in predictions)
    return PredictionJobResult(
        version, tasks=len(task_ids), labelled=states[LABEL], none=states[NONE], reused=len(reused),
        delivering=len(delivering), failed=outcome,
        failures_by_cause=dict(Counter(str(p.failure_cause) for p in predictions if p.failed)),
        cached=sum(p.cached for p in predictions)).to_json()


def predict_waiting(queue_name: str, project_id: int, model_version: str) -> dict[str, Any]:
    """Pre-label the tasks small requests left waiting for this project (prelabel.jobs.bursts), as one batch."""
    ctx = worker_context()
    task_ids = bursts.take(ctx.parts.redis, ctx.results, get_current_job(), queue_name, project_id, model_version)
    if not task_ids:  # an earlier drain job took them all
        return PredictionJobResult(model_version).to_json()
    return predict_tasks(project_id, task_ids, model_version)


def _progress(job: Job | None, predictions: list[ImagePrediction], prediction: ImagePrediction) -> None:
    predictions.append(prediction)
    if job is not None:
        job.meta["done"] = job.meta.get("done", 0) + 1
        job.save_meta()  # type: ignore[no-untyped-call]  # rq leaves it unannotated


def _read_back(ctx: WorkerContext, job: Job | None, project_id: int, task_ids: list[int], version: str,
               failure: str) -> tuple[dict[int, Mapping[str, Any]], dict[int, str], set[int]]:
    """The tasks' data as Label Studio holds it (read while the job before ran, when it could be), less those
    that already carry this model_version; why any other task cannot be predicted (one Label Studio cannot
    list costs only itself); and which of them hold a failure of this version (`failure`)."""
    found, problems = ctx.read_ahead.tasks(job, project_id, task_ids) or ctx.parts.studio.read_tasks(
        project_id, TASK_FIELDS, task_ids)
    problems = dict(problems)
    tasks: dict[int, Mapping[str, Any]] = {}
    failed_before: set[int] = set()
    for task_id in task_ids:
        task = found.get(task_id)
        if task_id in problems:
            continue
        if task is None:
            problems[task_id] = f"not a task of project {project_id} in Label Studio"
        elif task.data is None:
            problems[task_id] = "its data is not an object"
        elif not task.holds(version):
            tasks[task_id] = task.data
            if task.holds(failure):
                failed_before.add(task_id)
    return tasks, problems, failed_before


def _failed(ctx: WorkerContext, project_id: int, task_id: int, found: StudioPrediction, data: str,
            held_failure: bool) -> None:
    """A failed try. Label Studio asks the backend when a task with no prediction at all is opened from the list
    (tasks/api.py), so no failure is written: it is kept minutes for a /predict that waits on the task, which
    answers it if it asked for this task alone (the reviewer who opened it sees why at once); and when it failed
    is kept, so that a /predict of several tasks (the list page's) never waits on it (prelabel.service.routes).
    A failure Label Studio still holds (answered earlier) goes: the task then asks again when opened."""
    results = ctx.results
    version = str(found.model_version.real())
    if held_failure or not results.handed_over(version, task_id):
        # Read before this failure can be answered and stored, so only the earlier ones are named.
        try:
            ctx.writer.submit_removal(ctx.parts.studio.prediction_ids(project_id, task_id, found.model_version))
        except StudioError as exc:  # only tidiness is at stake: the failure is still answered
            log.warning("could not read task %s's earlier failures: %s", task_id, exc)
    results.mark_failed(version, task_id, time.time())
    results.put_failure(version, task_id, data, found)


def _source(data: Mapping[str, Any], control: Control) -> str:
    """What people know the image by, short enough for evidence and logs."""
    value = str(data.get(control.data_key, ""))
    return value if len(value) <= MAX_SOURCE else value[:MAX_SOURCE] + "..."


def _loader(ctx: WorkerContext, project_id: int, task_id: int, data: Mapping[str, Any], control: Control,
            until: JobDeadline, ahead: bytes | None) -> Callable[[], bytes]:
    value = data.get(control.data_key)
    if not isinstance(value, str) or not value:
        def missing() -> bytes:
            raise StudioError(f"task {task_id} has no '{control.data_key}' image in its data")
        return missing
    if ahead is not None:  # downloaded while the job before ran
        return lambda: ahead
    return lambda: ctx.parts.studio.fetch_image(value, task_id, project_id, until)


def _version_to_predict(ctx: WorkerContext, pipeline: Pipeline, task_ids: list[int], queued: str,
                        job: Job | None, project_id: int | None = None, regions: bool = False) -> ModelVersion:
    """The job's model_version, or the current one when only the vocabulary or the project's own calibration
    moved on since it was queued (a synonym promoted, a refit meanwhile): the tasks are still wanted, at the
    version in force. Different settings would mislabel predictions: that fails for good. `regions`: the
    project's config has regions, whose version also holds the region prompt and the box convention."""
    current = pipeline.model_version.for_config(regions, pipeline.options.box_convention)
    if str(current) == queued:
        return current
    asked = ModelVersion.parse(queued)
    alike = [current, *(ctx.versions_alike(project_id, regions) if asked is not None else ())]
    if asked is None or not any(version.same_settings(asked) for version in alike):
        raise _mismatch(current, queued, job)
    log.info("the vocabulary moved on since this job was queued: predicting as %s, not %s", current, queued)
    ctx.results.hand_over(str(current), [t for t in task_ids if ctx.results.handed_over(queued, t)])
    return current


def _refuse_other_settings(ctx: WorkerContext, pipeline: Pipeline, queued: str, job: Job | None,
                           project_id: int) -> None:
    """A job whose settings no version of this worker shares, whichever layout the project's config has, fails
    for good at once: reading the config first would turn a settings mismatch into retries whenever Label Studio
    is away."""
    asked = ModelVersion.parse(queued)
    servable = [version for regions in (False, True)
                for version in (pipeline.model_version.for_config(regions, pipeline.options.box_convention),
                                *(ctx.versions_alike(project_id, regions) if asked is not None else ()))]
    if asked is None or not any(version.same_settings(asked) for version in servable):
        raise _mismatch(pipeline.model_version, queued, job)


def _mismatch(current: ModelVersion, queued: str, job: Job | None) -> VersionMismatch:
    if job is not None:
        job.retries_left = 0  # a retry would meet the same settings: fail for good, visibly
    return VersionMismatch(f"this worker predicts as {current}, the job asks for {queued}: give the service "
                           "and the workers the same settings and class descriptions")


def _count(ctx: WorkerContext, before: tuple[int, int, int], pipeline: Pipeline,
           predictions: list[ImagePrediction], seconds: float) -> None:
    metrics = ctx.metrics
    metrics.observe("job", seconds, kind="predict")
    metrics.add("images_total", len(predictions))
    for cause, count in Counter(p.failure_cause for p in predictions if p.failed).items():
        metrics.add("images_failed_total", count, cause=str(cause))
    for name, count in zip(("mllm_calls_total", "mllm_cache_hits_total", "mllm_tokens_total"),
                           ctx.mllm_counted(before, _mllm_counts(pipeline)), strict=True):
        metrics.add(name, count)


def _mllm_counts(pipeline: Pipeline) -> tuple[int, int, int]:
    stats = pipeline.mllm.stats if pipeline.mllm is not None else None
    return (stats.calls, stats.cache_hits, stats.tokens) if stats else (0, 0, 0)


def sync_model_version(project_id: int, model_version: str) -> str:
    """Set project.model_version to ours (Label Studio sets it to the backend's title when one is added)."""
    worker_context().parts.studio.ensure_model_version(project_id, model_version)
    return model_version
