"""The Label Studio ML backend: a Flask application factory (run by gunicorn, `prelabel serve`).

The service never loads a model: /health and /setup answer in milliseconds, /predict answers from the result
cache or waits a short budget for a worker, and /webhook only enqueues. Workers (prelabel.jobs) do the rest.
"""

from __future__ import annotations

import hmac
import logging
import time

from flask import Blueprint, Flask, current_app, g, jsonify, request
from redis import Redis
from redis.exceptions import RedisError
from rq import Worker
from rq.registry import FailedJobRegistry, StartedJobRegistry
from werkzeug.exceptions import HTTPException

from prelabel import jobs
from prelabel.factory import Shared
from prelabel.labelconfig import LabelConfigError, read_label_config
from prelabel.settings import Settings

log = logging.getLogger(__name__)
api = Blueprint("api", __name__)
MAX_BODY = 64 * 1024 * 1024  # a /predict of many thousands of tasks still fits
POLL = 0.1
# ANNOTATIONS_CREATED comes from the "predictions to annotations" action: reviewers accepting pre-labels in bulk.
FEEDBACK_ACTIONS = {"ANNOTATION_CREATED", "ANNOTATIONS_CREATED", "ANNOTATION_UPDATED", "ANNOTATIONS_DELETED",
                    "START_TRAINING"}


class Backend(Shared):
    """What the request handlers share (settings, Redis, the vocabulary in force), and the workers' count."""

    def workers(self, queue_name: str) -> int:
        return Worker.count(connection=self.redis, queue=jobs.queue(self.redis, queue_name))


def create_app(settings: Settings | None = None, redis: Redis | None = None) -> Flask:
    """The application factory. A broken vocabulary or setting stops the start with its message."""
    settings = settings or Settings.from_env()
    redis = redis or Redis.from_url(settings.redis_url, socket_connect_timeout=1, socket_timeout=5)
    shared = Backend(settings, redis)
    shared.in_force.current()  # a broken vocabulary or an unreachable store stops the start here, with its message
    app = Flask("prelabel")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    app.extensions["prelabel"] = shared
    app.register_blueprint(api)
    return app


def backend() -> Backend:
    return current_app.extensions["prelabel"]


# ---- around every request -------------------------------------------------------------------------------------

@api.before_request
def check_auth():
    g.started = time.perf_counter()
    settings = backend().settings
    # Label Studio sends Basic auth on every call but webhooks, which carry none: /webhook is only a hint anyway.
    if not settings.basic_auth_user or request.endpoint == "api.webhook":
        return None
    given = request.authorization
    if (given is None or given.type != "basic"
            or not hmac.compare_digest(given.username or "", settings.basic_auth_user)
            or not hmac.compare_digest(given.password or "", settings.basic_auth_pass)):
        return jsonify(error="authentication required"), 401, {"WWW-Authenticate": 'Basic realm="prelabel"'}
    return None


@api.after_request
def count_request(response):
    endpoint = (request.endpoint or "unknown").removeprefix("api.")
    try:
        metrics = backend().metrics
        metrics.add("requests_total", endpoint=endpoint, status=str(response.status_code))
        metrics.observe("request", time.perf_counter() - g.get("started", time.perf_counter()), endpoint=endpoint)
    except Exception:  # metrics must never turn an answer into an error (Redis away: /health still answers)
        log.debug("metrics not recorded", exc_info=True)
    return response


@api.app_errorhandler(HTTPException)
def http_error(error: HTTPException):
    return jsonify(error=error.description), error.code


@api.app_errorhandler(RedisError)
def queue_unreachable(error: RedisError):
    # Label Studio shows this message; nothing was queued, so a retry later loses nothing.
    log.error("Redis unreachable: %s", error)
    return jsonify(error=f"the job queue (Redis at {backend().settings.redis_url}) is unreachable: {error}"), 503


def json_body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest("expected a JSON object body")
    return body


class BadRequest(HTTPException):
    code = 400


# ---- endpoints -------------------------------------------------------------------------------------------------

@api.get("/health")
@api.get("/")
def health():
    return jsonify(status="UP", model_class="Prelabel", model_version=backend().model_version)


@api.post("/setup")
def setup():
    body = json_body()
    this = backend()
    try:
        report = read_label_config(body.get("schema") or "", this.vocabulary)
    except LabelConfigError as exc:
        return jsonify(error=str(exc)), 400
    if report.missing_from_vocabulary:
        log.warning("labels in the config but not in the vocabulary (never predicted): %s",
                    report.missing_from_vocabulary)
    if report.missing_from_config:
        log.warning("vocabulary labels missing from the config: %d", len(report.missing_from_config))
    project_id = _project_id(body.get("project"))
    if project_id is not None:
        try:
            jobs.queue(this.redis, jobs.INTERACTIVE).enqueue(
                jobs.sync_model_version, project_id, this.model_version,
                job_id=f"sync-version-{project_id}-{this.model_version}", result_ttl=3600)
        except Exception:  # Redis away: /setup still answers; the next prediction job fixes the version
            log.warning("could not queue the model_version update of project %s", project_id, exc_info=True)
    return jsonify(model_version=this.model_version, config=report.to_dict())


@api.get("/versions")
def versions():
    return jsonify(versions=[backend().model_version])


@api.post("/predict")
def predict():
    body = json_body()
    tasks = body.get("tasks")
    if not isinstance(tasks, list) or not all(isinstance(t, dict) and isinstance(t.get("id"), int) for t in tasks):
        raise BadRequest("expected 'tasks': a list of tasks, each with an integer 'id'")
    this = backend()
    try:
        control = read_label_config(body.get("label_config") or "", this.vocabulary).control
    except LabelConfigError as exc:
        raise BadRequest(str(exc)) from None
    project_id = _project_id(body.get("project")) or _project_id(tasks[0].get("project") if tasks else None)
    answers = _predict(this, tasks, control, project_id)
    return jsonify(results=[answers.get(task["id"], []) for task in tasks], model_version=this.model_version)


def _predict(this: Backend, tasks: list[dict], control, project_id: int | None) -> dict[int, dict]:
    """Cached results at once; a small interactive request waits up to the budget for a worker; everything
    else is handed to workers, which write the predictions into Label Studio themselves."""
    results, version = this.results, this.model_version
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
    interactive = len(missing) == 1 and this.workers(jobs.INTERACTIVE) > 0
    if not interactive or project_id is None:
        results.hand_over(version, [t["id"] for t in missing])
    jobs.enqueue_predictions(this.redis, project_id or 0, missing, control, version,
                             jobs.INTERACTIVE if interactive else jobs.PREDICT)
    if interactive and project_id is not None:
        answers.update(_wait_for(this, missing[0]["id"]))
    return answers


def _wait_for(this: Backend, task_id: int) -> dict[int, dict]:
    """Wait up to the budget; on giving up, hand the task to the worker, then look once more (see results.py)."""
    results, version = this.results, this.model_version
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
def webhook():
    """Answer at once (Label Studio waits 1 s) and enqueue; the job reads the annotation back from the API."""
    body = json_body()
    action = body.get("action")
    if action not in FEEDBACK_ACTIONS:
        return jsonify(status="ignored", action=action)
    this = backend()
    project = body.get("project")
    project_id = _project_id(project.get("id") if isinstance(project, dict) else project)
    if action == "ANNOTATIONS_DELETED":
        ids = [a.get("id") for a in body.get("annotations") or [] if isinstance(a, dict)]
    elif action == "START_TRAINING":
        ids = []
    else:  # one annotation, or a list of them for ANNOTATIONS_CREATED
        annotation = body.get("annotation")
        listed = annotation if isinstance(annotation, list) else [annotation]
        ids = [a.get("id") for a in listed if isinstance(a, dict)]
    ids = [i for i in ids if isinstance(i, int)]
    if action != "START_TRAINING" and not ids:
        raise BadRequest(f"{action} without annotation ids")
    job = jobs.queue(this.redis, jobs.FEEDBACK).enqueue(
        jobs.handle_feedback, action, project_id, ids, retry=jobs.RETRY, result_ttl=7 * 24 * 3600,
        failure_ttl=30 * 24 * 3600, description=f"{action} of project {project_id}")
    return jsonify(status="queued", job=job.id), 202


@api.get("/metrics")
def metrics():
    this = backend()
    gauges = {}
    for name in jobs.QUEUES:
        queue = jobs.queue(this.redis, name)
        label = f'{{queue="{name}"}}'
        gauges[f"jobs_queued{label}"] = len(queue)
        gauges[f"jobs_running{label}"] = StartedJobRegistry(queue=queue).count
        gauges[f"jobs_failed{label}"] = FailedJobRegistry(queue=queue).count
    gauges["workers"] = len(Worker.all(connection=this.redis))
    return this.metrics.render(gauges), 200, {"Content-Type": "text/plain; version=0.0.4"}


def _project_id(value) -> int | None:
    """Label Studio names a project '12' or '12.1699999999' (id.created timestamp)."""
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.split(".")[0].isdigit():
        return int(value.split(".")[0])
    return None
