"""The endpoints Label Studio calls: /health, /setup, /predict, /webhook, /versions, and /metrics.

Each request takes one snapshot of the vocabulary in force and uses it throughout, so an answer never mixes
two model_versions.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Blueprint, Response, jsonify, request
from redis.exceptions import RedisError
from rq.registry import FailedJobRegistry, StartedJobRegistry
from werkzeug.exceptions import HTTPException

from prelabel.delivery.ledger import persistence_warning
from prelabel.delivery.results import made_from
from prelabel.jobs import admission, bursts, queues
from prelabel.service.backend import Backend, backend
from prelabel.studio.labelconfig import LabelConfigError
from prelabel.studio.predictions import StudioPrediction
from prelabel.studio.tasks import MAX_ID, MalformedTask, Task, studio_id
from prelabel.text import quote

log = logging.getLogger(__name__)
api = Blueprint("api", __name__)
POLL = 0.1
MAX_ID_DIGITS = len(str(MAX_ID))
# Seconds after a task's failure during which a many-task /predict does not queue it again: a list page reloaded
# while the MLLM is down then costs one try a minute per failed task, not one per load.
RECENT_FAILURE = 60
# ANNOTATIONS_CREATED comes from the "predictions to annotations" action: reviewers accepting pre-labels in bulk.
FEEDBACK_ACTIONS = {"ANNOTATION_CREATED", "ANNOTATIONS_CREATED", "ANNOTATION_UPDATED", "ANNOTATIONS_DELETED",
                    "START_TRAINING"}


class BadRequest(HTTPException):
    code = 400


def json_body() -> dict[str, Any]:
    try:
        body = request.get_json(silent=True)
    except RecursionError:  # nested deeper than Python's JSON reader goes: no request of Label Studio's is
        raise BadRequest("the JSON body is nested too deeply") from None
    if not isinstance(body, dict):
        raise BadRequest("expected a JSON object body")
    return body


@api.get("/health")
@api.get("/")
def health() -> Response:
    """Always 200 when the service runs (Label Studio waits one second): what is missing is said, not failed."""
    this = backend()
    answer: dict[str, Any] = {"status": "UP", "model_class": "Prelabel",
                    "model_version": str(this.parts.in_force.current().model_version)}
    try:
        serving = this.parts.workers.serving()
    except RedisError:
        answer["warnings"] = ["the job queue (Redis) is unreachable: predictions wait until it is back"]
        return jsonify(answer)
    answer["workers"] = {name: serving.get(name, 0) for name in queues.QUEUES}
    idle = [name for name in queues.QUEUES if not serving.get(name)]
    warnings = [f"no worker serves {', '.join(idle)}: start one with `prelabel worker`"] if idle else []
    if (volatile := persistence_warning(this.redis)) is not None:
        warnings.append(volatile)
    if warnings:
        answer["warnings"] = warnings
    return jsonify(answer)


@api.post("/setup")
def setup() -> Response | tuple[Response, int]:
    body = json_body()
    this = backend()
    in_force = this.parts.in_force.current()
    none_choice = this.settings.none_choice
    project_id = _project_id(body.get("project"))
    try:
        report = this.configs.read(body.get("schema") or "", in_force.vocabulary, none_choice)
    except LabelConfigError as exc:
        return jsonify(error=str(exc)), 400
    version = str(this.parts.in_force.model_version_for(  # the project's own scores, its regions
        project_id, in_force, regions=report.control.regions is not None))
    for problem in report.problems(none_choice):  # the same sentences as config.problems in the answer
        log.warning("labeling config of project %s: %s", project_id, quote(problem, 500))
    if project_id is not None:
        try:
            queues.enqueue_version_sync(this.redis, project_id, version)
        except Exception:  # Redis away: /setup still answers; the next prediction job fixes the version
            log.warning("could not queue the model_version update of project %s", project_id, exc_info=True)
    return jsonify(model_version=version, config=report.to_dict(none_choice))


@api.get("/versions")
def versions() -> Response:
    return jsonify(versions=[str(backend().parts.in_force.current().model_version)])


@api.post("/predict")
def predict() -> Response:
    body = json_body()
    tasks = body.get("tasks")
    if not isinstance(tasks, list):
        raise BadRequest("expected 'tasks': a list of tasks, each with an integer 'id'")
    this = backend()
    in_force = this.parts.in_force.current()
    project_id = _project_id(body.get("project")) or next(
        (found for task in tasks if isinstance(task, dict) and (found := _project_id(task.get("project")))), None)
    if project_id is None:
        raise BadRequest("no project: expected 'project' (Label Studio sends '<id>.<timestamp>')")
    try:
        report = this.configs.read(body.get("label_config") or "", in_force.vocabulary)
    except LabelConfigError as exc:
        raise BadRequest(str(exc)) from None
    version = str(this.parts.in_force.model_version_for(  # the project's own scores, its regions
        project_id, in_force, regions=report.control.regions is not None))
    config = body.get("label_config") or ""  # Label Studio sends project.label_config (ml/api_connector.py)
    readable = [_readable(task, project_id) for task in tasks]
    usable = {task.id: made_from(task.data, config) for task in readable if task is not None}
    answers = _predict(this, version, project_id, usable)
    return jsonify(results=[answers[task.id].to_json() if task is not None and task.id in answers else []
                            for task in readable], model_version=version)


def _readable(task: object, project_id: int) -> Task | None:
    """A task this backend can look at (prelabel.studio.tasks): an object with a task id Label Studio could
    have made, and data. Anything else gets an empty answer of its own; the rest of the request goes on."""
    try:
        found = Task.from_json(task, project_id)
    except MalformedTask:
        return None
    return found if found.data is not None else None


def _predict(this: Backend, version: str, project_id: int, tasks: dict[int, str]) -> dict[int, StudioPrediction]:
    """Known results at once; a handful of new tasks waits up to the budget for a worker and is answered in
    the response; anything larger is handed to workers, which write the predictions into Label Studio."""
    results = this.parts.results
    answers: dict[int, StudioPrediction] = {}
    missing = []
    for task_id, data in tasks.items():
        found = results.get(version, task_id, data)
        if found is None:
            missing.append(task_id)
        elif results.claim_answer(version, task_id):
            answers[task_id] = found
    alone = len(tasks) == 1  # the task opened (quick view, label stream), or a Retrieve on one task
    if missing and not alone:
        # A failed task has no prediction (prelabel.jobs.predict), and Label Studio's list page, where
        # evaluate_predictions_automatically is on, asks with every page for each task without one: such a
        # request never waits on a failed task. It is queued for the workers unless it failed moments ago.
        failed_at, now = results.failed_at(version, missing), time.time()
        missing = [task_id for task_id in missing if task_id not in failed_at]
        retrying = [task_id for task_id, at in failed_at.items() if now - at >= RECENT_FAILURE]
        if retrying:
            results.clear_failures(version, retrying)
            results.hand_over(version, retrying)
            _enqueue(this, project_id, retrying, version, queues.PREDICT)
    if missing:
        results.clear_failures(version, missing)  # tried again now: only the new try's failure answers
        waiting = (len(missing) <= this.settings.sync_tasks and this.workers(queues.INTERACTIVE) > 0
                   and this.wait_slots.acquire(blocking=False))
        if not waiting:
            results.hand_over(version, missing)
            _enqueue(this, project_id, missing, version, queues.PREDICT)
        else:
            try:
                results.take_back(version, missing)
                _enqueue(this, project_id, missing, version, queues.INTERACTIVE)
                answers.update(_wait_for(this, version, project_id,
                                         {task_id: tasks[task_id] for task_id in missing}, answer_failures=alone))
            finally:
                this.wait_slots.release()
    delivered = [task_id for task_id, answer in answers.items() if str(answer.model_version) == version]
    # Label Studio stores a response's predictions after it arrives, if the caller is still there: the
    # reconciler checks it did, and writes what a lost response lost (prelabel.delivery.reconciler).
    this.parts.ledger.add(version, project_id, delivered, due_in=this.settings.reconcile_after)
    return answers


def _enqueue(this: Backend, project_id: int, task_ids: list[int], version: str, queue_name: str) -> None:
    """A request of less than a job's worth joins the tasks others' requests left waiting (one job drains them
    together: prelabel.jobs.bursts); a larger one is queued in jobs of its own."""
    if len(task_ids) < queues.TASKS_PER_JOB:
        bursts.enqueue_burst(this.redis, this.parts.results, project_id, task_ids, version, queue_name)
    else:
        queues.enqueue_predictions(this.redis, this.parts.results, project_id, task_ids, version, queue_name)


def _wait_for(this: Backend, version: str, project_id: int, tasks: dict[int, str],
              answer_failures: bool) -> dict[int, StudioPrediction]:
    """Wait up to the budget; on giving up, hand the rest to the workers, then look once more (delivery.py). A
    failure is answered only with `answer_failures` (one task asked for: a reviewer opened it); otherwise the
    task is left without a prediction, so that opening it asks again."""
    results = this.parts.results
    answers: dict[int, StudioPrediction] = {}
    waiting = dict(tasks)
    deadline = time.monotonic() + this.settings.sync_budget

    def look() -> None:
        for task_id, data in list(waiting.items()):
            found = results.get(version, task_id, data)
            if found is not None:
                del waiting[task_id]
                if results.claim_answer(version, task_id):
                    answers[task_id] = found
            elif (failed := results.get_failure(version, task_id, data)) is not None:
                # Tried and failed again: the reviewer waiting on the task sees why at once. Claimed like a
                # result, so that two responses do not both deliver it.
                del waiting[task_id]
                if answer_failures and results.claim_answer(str(failed.model_version), task_id):
                    answers[task_id] = failed

    while waiting and time.monotonic() < deadline:
        look()
        if waiting:
            time.sleep(POLL)
    if waiting:
        results.hand_over(version, list(waiting))
        look()
    if waiting:
        # Still not found: the worker may have stored its result before the hand-over, under the data Label
        # Studio holds, which differs from the data posted here. The reconciler checks Label Studio with its
        # data and writes what it finds, so that result is not stranded.
        this.parts.ledger.add(version, project_id, list(waiting), due_in=this.settings.reconcile_after)
    return answers


@api.post("/webhook")
def webhook() -> Response | tuple[Response, int]:
    """Answer at once (Label Studio waits 1 s) and enqueue; the job reads the annotation back from the API."""
    body = json_body()
    action = body.get("action")
    if not isinstance(action, str):
        raise BadRequest("the webhook's action must be text")
    if action not in FEEDBACK_ACTIONS:
        return jsonify(status="ignored", action=quote(action, 100))
    project = body.get("project")
    project_id = _project_id(project.get("id") if isinstance(project, dict) else project)
    if action == "ANNOTATIONS_DELETED":
        listed = body.get("annotations") or []
    elif action == "START_TRAINING":
        listed = []
    else:  # one annotation, or a list of them for ANNOTATIONS_CREATED
        listed = body.get("annotation")
    if not isinstance(listed, list):
        listed = [listed]
    # Label Studio names every annotation of a bulk deletion in one webhook; past the setting, the body is not
    # a deletion anyone made in the Data Manager of projects this size.
    most = backend().settings.webhook_max_ids
    if len(listed) > most:
        return jsonify(error=f"{action} names {len(listed)} annotations; at most {most} are read back per "
                             "webhook (PRELABEL_WEBHOOK_MAX_IDS)"), 413
    ids = [found for a in listed if isinstance(a, dict) and (found := studio_id(a.get("id"))) is not None]
    if action != "START_TRAINING" and not ids:
        raise BadRequest(f"{action} without annotation ids")
    return _admit(action, project_id, ids)


def _admit(action: str, project_id: int | None, ids: list[int]) -> tuple[Response, int]:
    """Queue the feedback jobs (IDS_PER_JOB annotations each, so none holds a worker long) unless the same
    are waiting; 503 when the feedback queue is full."""
    this = backend()
    chunks = [ids[start:start + queues.IDS_PER_JOB] for start in range(0, len(ids), queues.IDS_PER_JOB)] or [[]]
    queued = []
    try:
        for chunk in chunks:
            job = admission.admit_feedback(this.redis, action, project_id, chunk, this.settings.webhook_window,
                                           this.settings.feedback_queue_max)
            if job is not None:
                queued.append(job.id)
    except admission.FeedbackQueueFull as exc:
        log.warning("%s", exc)
        return jsonify(error=str(exc), jobs=queued), 503
    if not queued:
        return jsonify(status="duplicate", detail="the same feedback job is already waiting"), 200
    return jsonify(status="queued", job=queued[0], jobs=queued), 202


@api.get("/metrics")
def metrics() -> tuple[str, int, dict[str, str]]:
    this = backend()
    gauges: dict[str, float] = {}
    for name in queues.QUEUES:
        queue = queues.queue(this.redis, name)
        label = f'{{queue="{name}"}}'
        gauges[f"jobs_queued{label}"] = len(queue)
        gauges[f"jobs_running{label}"] = StartedJobRegistry(queue=queue).count
        gauges[f"jobs_failed{label}"] = FailedJobRegistry(queue=queue).count
    for name, count in this.parts.workers.serving().items():
        gauges[f'workers{{queue="{name}"}}'] = count
    return this.parts.metrics.render(gauges), 200, {"Content-Type": "text/plain; version=0.0.4"}


def _project_id(value: object) -> int | None:
    """Label Studio names a project 12, '12' or '12.1699999999' (id.created timestamp). Only ASCII digits make
    an id: '²' and '١٢' are digits to str.isdigit() and no number to int()."""
    if isinstance(value, str):
        head = value.split(".", 1)[0]
        return studio_id(int(head)) if head.isascii() and head.isdigit() and len(head) <= MAX_ID_DIGITS else None
    return studio_id(value)
