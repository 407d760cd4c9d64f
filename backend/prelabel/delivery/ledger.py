"""The ledger of unconfirmed deliveries: every prediction handed to Label Studio that it has not been seen to hold
yet (a /predict response it may never have stored, a write a worker died before making). The reconciler
(prelabel.delivery.reconciler) checks due entries against Label Studio."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable

from redis import Redis
from redis.exceptions import RedisError

WHY_TTL = 24 * 3600


class Ledger:
    def __init__(self, redis: Redis, key: str = "prelabel:ledger"):
        self.redis = redis
        self.key = key

    def failed(self, project_id: int, reason: str) -> None:
        """Why the last write into this project failed: `prelabel run` says it instead of a count it computed."""
        self.redis.set(f"{self.key}:why:{project_id}", reason[:1000], ex=WHY_TTL)

    def why(self, project_id: int) -> str | None:
        """The last write failure of this project, until a write succeeds."""
        raw = self.redis.get(f"{self.key}:why:{project_id}")
        return raw.decode(errors="replace") if isinstance(raw, bytes) else raw

    def succeeded(self, project_id: int) -> None:
        self.redis.delete(f"{self.key}:why:{project_id}")

    def add(self, model_version: str, project_id: int, task_ids: Iterable[int], due_in: float) -> None:
        """Check these deliveries against Label Studio from `due_in` seconds on, until confirmed."""
        due = time.time() + due_in
        entries = {json.dumps([model_version, project_id, task_id]): due for task_id in task_ids}
        if entries:
            self.redis.zadd(self.key, entries)

    def confirm(self, model_version: str, project_id: int, task_ids: Iterable[int]) -> None:
        entries = [json.dumps([model_version, project_id, task_id]) for task_id in task_ids]
        if entries:
            self.redis.zrem(self.key, *entries)

    def waiting(self, model_version: str, project_id: int, task_ids: Iterable[int]) -> int:
        """How many of these deliveries Label Studio has not been seen to hold yet."""
        pipeline = self.redis.pipeline(transaction=False)
        for task_id in task_ids:  # ZSCORE each: ZMSCORE needs Redis 6.2, older distributions ship 6.0
            pipeline.zscore(self.key, json.dumps([model_version, project_id, task_id]))
        return sum(score is not None for score in pipeline.execute())

    def due(self, limit: int = 1000) -> list[tuple[str, int, int]]:
        """(model_version, project, task) entries whose check is due, oldest first."""
        raw = self.redis.zrangebyscore(self.key, 0, time.time(), start=0, num=limit)
        found = []
        for entry in raw:
            version, project_id, task_id = json.loads(entry)  # type: ignore[arg-type]
            found.append((str(version), int(project_id), int(task_id)))
        return found


def persistence_warning(redis: Redis) -> str | None:
    """Why what Redis keeps (queued jobs, this ledger) would not survive its restart, or None. Read from INFO,
    which managed Redis services allow where CONFIG is refused."""
    try:
        info = redis.info("persistence")
    except RedisError:
        return None  # unreachable: said elsewhere; refused: nothing known
    if str(info.get("aof_enabled", "1")) in ("1", "True"):
        return None
    return ("Redis keeps no append-only file (appendonly no): if it restarts, queued jobs and the predictions "
            "not yet confirmed in Label Studio are lost until the next `prelabel run`; run it with "
            "--appendonly yes (docs/operations.md)")
