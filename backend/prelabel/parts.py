"""The shared parts of one process, built from Settings in one place and passed down.

The web service (one Parts per application), each worker (one per process), each CLI command, the report and
`prelabel up` build a Parts and hand its members to the code that needs them; nothing else opens a Redis
connection, a Label Studio client or a learned store, or builds the stores kept in Redis (tests/test_structure.py
holds every other module to that). Members are built on first use, so a command builds only what it touches
(`prelabel vocab review` never connects to Redis), and `close()` ends the ones that were built.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from redis import Redis

from prelabel.delivery.columns import ColumnQueue
from prelabel.delivery.ledger import Ledger
from prelabel.delivery.results import ResultStore
from prelabel.learning.in_force import VocabularyInForce
from prelabel.learning.store import LearnedStore
from prelabel.metrics import Metrics
from prelabel.settings import Settings
from prelabel.studio.client import LabelStudio
from prelabel.studio.fetch import FetchLimits
from prelabel.workers import WorkerRegistry

# Redis timeouts, the same for every connection Prelabel opens: a Redis that is away must cost a request a few
# seconds, not hang it (rq's worker raises the read timeout above its own blocking dequeue by itself).
REDIS_CONNECT_TIMEOUT = 2.0
REDIS_TIMEOUT = 10.0


@dataclass
class Parts:
    settings: Settings

    @functools.cached_property
    def redis(self) -> Redis:
        return Redis.from_url(self.settings.redis_url, socket_connect_timeout=REDIS_CONNECT_TIMEOUT,
                              socket_timeout=REDIS_TIMEOUT, health_check_interval=30)

    @functools.cached_property
    def results(self) -> ResultStore:
        """Each task's result, claim, hand-over and pending job, per model_version (prelabel.delivery)."""
        return ResultStore(self.redis, keep=max(1, round(self.settings.result_days * 24 * 3600)))

    @functools.cached_property
    def ledger(self) -> Ledger:
        """Deliveries Label Studio has not been seen to hold yet (prelabel.delivery.ledger)."""
        return Ledger(self.redis)

    @functools.cached_property
    def column_queue(self) -> ColumnQueue:
        """Tasks' list columns waiting to be written, any worker's (prelabel.delivery.columns)."""
        return ColumnQueue(self.redis)

    @functools.cached_property
    def metrics(self) -> Metrics:
        return Metrics(self.redis)

    @functools.cached_property
    def workers(self) -> WorkerRegistry:
        """Live workers by their heartbeat."""
        return WorkerRegistry(self.redis)

    @functools.cached_property
    def store(self) -> LearnedStore:
        """The learned store (SQLite on one machine, PostgreSQL across machines)."""
        return LearnedStore(self.settings.learned_url)

    @functools.cached_property
    def in_force(self) -> VocabularyInForce:
        """The expert's vocabulary plus the learned synonyms in force; ask `.current()` once per request or job."""
        return VocabularyInForce(self.settings, self.store)

    @functools.cached_property
    def studio(self) -> LabelStudio:
        """Label Studio's API; raises StudioError when LABEL_STUDIO_URL or LABEL_STUDIO_API_KEY is unusable."""
        return LabelStudio(self.settings.label_studio_url, self.settings.label_studio_api_key,
                           images=FetchLimits.from_settings(self.settings))

    def __enter__(self) -> Parts:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        built = self.__dict__
        if "store" in built:
            self.store.close()
        if "redis" in built:
            self.redis.close()
