"""The endpoints Label Studio calls: /health, /setup, /predict, /webhook, /versions, and /metrics.

Each request takes one snapshot of the vocabulary in force and uses it throughout, so an answer never mixes
two model_versions.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from flask import Blueprint, Response, current_app, jsonify, request
from rq import Worker
from rq.registry import FailedJobRegistry, StartedJobRegistry
from werkzeug.exceptions import HTTPException

from prelabel.jobs import admission, queues
from prelabel.studio.labelconfig import Control, LabelConfigError
from prelabel.text import quote

if TYPE_CHECKING:
    from prelabel.service.app import Backend

log = logging.getLogger(__name__)
api = Blueprint("api", __name__)
POLL = 0.1
# ANNOTATIONS_CREATED comes from the "predictions to annotations" action: reviewers accepting pre-labels in bulk.
FEEDBACK_ACTIONS = {"ANNOTATION_CREATED", "ANNOTATIONS_CREATED", "ANNOTATION_UPDATED", "ANNOTATIONS_DELETED",
                    "START_TRAINING"}


def backend() -> Backend:
    return current_app.extensions["prelabel"]


class BadRequest(HTTPException):
    code = 400


def json_body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest("expected a JSON object body")
    return body


@api.get("/health")
@api.get("/")
def health() -> Response:
    return jsonify(status="UP", model_class="Prelabel",
                   model_version=str(backend().parts.in_force.current().model_version))


@api.post("/setup")
def setup() -> Response | tuple[Response, int]:
    body = json_body()
    this = backend()
    in_force = this.parts.in_force.current()
    version = str(in_force.model_version)
    try:
        report = this.configs.read(body.get("schema") or "", in_force.vocabulary)
    except LabelConfigError as exc:
        return jsonify(error=str(exc)), 400
    if report.missing_from_vocabulary:
        log.warning("labels in the config but not in the vocabulary (never predicted): %s",
                    quote(report.missing_from_vocabulary, 500))
    if report.missing_from_config:
        log.warning("vocabulary labels missing from the config: %d", len(report.missing_from_config))
    project_id = _project_id(body.get("project"))
    if project_id is not None:
        try:
            queues.enqueue_version_sync(this.redis, project_id, version)
        except Exception:  # Redis away: /setup still answers; the next prediction job fixes the version
            log.warning("could not queue the model_version update of project %s", project_id, exc_info=True)
    return jsonify(model_version=version, config=report.to_dict())


@api.get("/versions")
def versions() -> Response:
    return jsonify(versions=[str(backend().parts.in_force.current().model_version)])


@api.post("/predict")
def predict() -> Response:
    body = json_body()
    tasks = body.get("tasks")
    if not isinstance(tasks, list) or not all(isinstance(t, dict) and isinstance(t.get("id"), int) for t in tasks):
        raise BadRequest("expected 'tasks': a list of tasks, each with an integer 'id'")
    this = backend()
    in_force = this.parts.in_force.current()
    version = str(in_force.model_version)
    try:
        control = this.configs.read(body.get("label_config") or "", in_force.vocabulary).control
    except LabelConfigError as exc:
        raise BadRequest(str(exc)) from None
    project_id = _project_id(body.get("project")) or _project_id(tasks[0].get("project") if tasks else None)
    answers = _predict(this, version, tasks, control, project_id)
    return jsonify(results=[answers.get(task["id"], []) for task in tasks], model_version=version)


def _predict(this: Backend, version: str, tasks: list[dict], control: Control,
             project_id: int | None) -> dict[int, dict]:
    """Cached results at once; a small interactive request waits up to the budget for a worker; everything
    else is handed to workers, which write the predictions into Label Studio themselves."""
    results = this.results
    answers: dict[int, dict] = {}
    missing = []
    for task in tasks:
        found, prediction = results.get(version, task["id"])
        if not found:
            missing.append(task)
        elif prediction is not None and results.claim(version, task["id"]):
            answers[task["id"]] = prediction
    if not missing:
        return answers
    interactive = len(missing) == 1 and this.workers(queues.INTERACTIVE) > 0
    if not interactive or project_id is None:
        results.hand_over(version, [t["id"] for t in missing])
    queues.enqueue_predictions(this.redis, project_id or 0, missing, control, version,
                               queues.INTERACTIVE if interactive else queues.PREDICT)
    if interactive and project_id is not None:
        answers.update(_wait_for(this, version, missing[0]["id"]))
    return answers


def _wait_for(this: Backend, version: str, task_id: int) -> dict[int, dict]:
    """Wait up to the budget; on giving up, hand the task to the worker, then look once more (see delivery.py)."""
    results = this.results
    deadline = time.monotonic() + this.settings.sync_budget
    while time.monotonic() < deadline:
        found, prediction = results.get(version, task_id)
        if found:
            return {task_id: prediction} if prediction is not None and results.claim(version, task_id) else {}
        time.sleep(POLL)
    results.hand_over(version, [task_id])
    found, prediction = results.get(version, task_id)
    if found and prediction is not None and results.claim(version, task_id):
        return {task_id: prediction}
    return {}


@api.post("/webhook")
def webhook() -> Response | tuple[Response, int]:
    """Answer at once (Label Studio waits 1 s) and enqueue; the job reads the annotation back from the API."""
    body = json_body()
    action = body.get("action")
    if action not in FEEDBACK_ACTIONS:
        return jsonify(status="ignored", action=action)
    project = body.get("project")
    project_id = _project_id(project.get("id") if isinstance(project, dict) else project)
    if action == "ANNOTATIONS_DELETED":
        listed = body.get("annotations") or []
    elif action == "START_TRAINING":
        listed = []
    else:  # one annotation, or a list of them for ANNOTATIONS_CREATED
        annotation = body.get("annotation")
        listed = annotation if isinstance(annotation, list) else [annotation]
    ids = [a["id"] for a in listed if isinstance(a, dict) and isinstance(a.get("id"), int)]
    if action != "START_TRAINING" and not ids:
        raise BadRequest(f"{action} without annotation ids")
    return _admit(action, project_id, ids)


def _admit(action: str, project_id: int | None, ids: list[int]) -> tuple[Response, int]:
    """Queue the feedback job unless the same one is waiting; 503 when the feedback queue is full."""
    this = backend()
    try:
        job = admission.admit_feedback(this.redis, action, project_id, ids, this.settings.webhook_window,
                                       this.settings.feedback_queue_max)
    except admission.FeedbackQueueFull as exc:
        log.warning("%s", exc)
        return jsonify(error=str(exc)), 503
    if job is None:
        return jsonify(status="duplicate", detail="the same feedback job is already waiting"), 200
    return jsonify(status="queued", job=job.id), 202


@api.get("/metrics")
def metrics() -> tuple[str, int, dict]:
    this = backend()
    gauges: dict[str, float] = {}
    for name in queues.QUEUES:
        queue = queues.queue(this.redis, name)
        label = f'{{queue="{name}"}}'
        gauges[f"jobs_queued{label}"] = len(queue)
        gauges[f"jobs_running{label}"] = StartedJobRegistry(queue=queue).count
        gauges[f"jobs_failed{label}"] = FailedJobRegistry(queue=queue).count
    gauges["workers"] = len(Worker.all(connection=this.redis))
    return this.metrics.render(gauges), 200, {"Content-Type": "text/plain; version=0.0.4"}


def _project_id(value: object) -> int | None:
    """Label Studio names a project '12' or '12.1699999999' (id.created timestamp)."""
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.split(".")[0].isdigit():
        return int(value.split(".")[0])
    return None
