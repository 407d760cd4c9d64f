"""The Label Studio ML backend: a Flask application factory (run by gunicorn, `prelabel serve`).

The service never loads a model: /health and /setup answer in milliseconds, /predict answers from the result
cache or waits a short budget for a worker, and /webhook only enqueues. Workers (prelabel.jobs) do the rest.
The endpoints are in prelabel.service.routes, what they share in prelabel.service.backend.
"""

from __future__ import annotations

import atexit
import hmac
import logging
import time

from flask import Flask, Response, g, jsonify, request
from redis.exceptions import RedisError
from werkzeug.exceptions import HTTPException

from prelabel.parts import Parts
from prelabel.redact import protect_logs, redact_url
from prelabel.service.backend import Backend, backend
from prelabel.service.routes import api
from prelabel.settings import Settings

log = logging.getLogger(__name__)
MAX_BODY = 64 * 1024 * 1024  # a /predict of many thousands of tasks still fits


def create_app(settings: Settings | None = None, parts: Parts | None = None) -> Flask:
    """The application factory. A broken vocabulary or setting stops the start with its message."""
    parts = parts or Parts(settings or Settings.from_env())
    protect_logs(parts.settings, ("gunicorn.error", "gunicorn.access"))  # no credential in any log line
    parts.in_force.current()  # a broken vocabulary or an unreachable store stops the start here, with its message
    app = Flask("prelabel")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    app.extensions["prelabel"] = Backend(parts)
    app.register_blueprint(api)
    app.before_request(check_auth)
    app.after_request(count_request)
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(RedisError, queue_unreachable)
    atexit.register(parts.close)  # gunicorn ends its worker processes normally: the store's connections close
    return app


def check_auth() -> tuple[Response, int, dict[str, str]] | None:
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


def count_request(response: Response) -> Response:
    endpoint = (request.endpoint or "unknown").removeprefix("api.")
    try:
        metrics = backend().parts.metrics
        metrics.add("requests_total", endpoint=endpoint, status=str(response.status_code))
        metrics.observe("request", time.perf_counter() - g.get("started", time.perf_counter()), endpoint=endpoint)
    except Exception:  # metrics must never turn an answer into an error (Redis away: /health still answers)
        log.debug("metrics not recorded", exc_info=True)
    return response


def http_error(error: HTTPException) -> tuple[Response, int]:
    return jsonify(error=error.description), error.code or 500


def queue_unreachable(error: RedisError) -> tuple[Response, int]:
    # Label Studio shows this message; nothing was queued, so a retry later loses nothing. The answer goes to
    # unauthenticated callers too (/webhook): no password of REDIS_URL in it.
    this = backend()
    message = this.redact(f"the job queue (Redis at {redact_url(this.settings.redis_url)}) is unreachable: {error}")
    log.error("%s", message)
    return jsonify(error=message), 503
