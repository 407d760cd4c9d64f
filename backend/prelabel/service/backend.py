"""What the request handlers share, one per application: the process's parts, the parsed labeling configs, and
the threads that may wait for workers. create_app (prelabel.service.app) builds it; each handler reaches it
through `backend()`."""

from __future__ import annotations

import threading
from typing import cast

from flask import current_app

from prelabel.parts import Parts
from prelabel.redact import Redactor, secrets_of
from prelabel.service.configs import LabelConfigs

SERVICE_THREADS = 8


class Backend:
    def __init__(self, parts: Parts):
        self.parts = parts
        self.settings = parts.settings
        self.redis = parts.redis
        self.configs = LabelConfigs(parts.settings.label_config_max_bytes)  # parsed labeling configs, LRU
        self.redact = Redactor(secrets_of(parts.settings))
        # Requests that wait for workers may hold all but two of a process's threads: /health and the rest are
        # always answered at once (`prelabel serve` runs SERVICE_THREADS threads per process).
        self.wait_slots = threading.BoundedSemaphore(max(1, SERVICE_THREADS - 2))

    def workers(self, queue_name: str) -> int:
        """Live workers serving a queue, by their heartbeat (rq's own count forgets them when Redis restarts)."""
        return self.parts.workers.serving().get(queue_name, 0)


def backend() -> Backend:
    """The Backend of the application handling the current request."""
    return cast(Backend, current_app.extensions["prelabel"])
