"""Live workers, counted from a heartbeat each writes every few seconds, not from rq's registration: after Redis
restarts empty, rq forgets a live worker until it restarts, while the heartbeat is back within seconds. The
service (/health, /metrics), `prelabel run` and `prelabel jobs` read it; each worker beats (prelabel.jobs.worker).
"""

from __future__ import annotations

import json
import os
import time
from collections import defaultdict

from redis import Redis

BEAT_EVERY = 5.0
STALE_AFTER = 20.0  # a worker not heard of for this long is not counted


class WorkerRegistry:
    def __init__(self, redis: Redis, key: str = "prelabel:workers"):
        self.redis = redis
        self.key = key

    def beat(self, name: str, queue_names: list[str]) -> None:
        self.redis.hset(self.key, name, json.dumps({"queues": queue_names, "seen": time.time()}))

    def alive(self, name: str) -> bool:
        """Has this worker beaten within STALE_AFTER seconds?"""
        raw = self.redis.hget(self.key, name)
        try:
            return raw is not None and time.time() - float(json.loads(raw)["seen"]) <= STALE_AFTER
        except (ValueError, KeyError, TypeError):
            return False

    def leave(self, name: str) -> None:
        self.redis.hdel(self.key, name)

    def serving(self) -> dict[str, int]:
        """Live workers per queue."""
        counts: dict[str, int] = defaultdict(int)
        now = time.time()
        for name, raw in self.redis.hgetall(self.key).items():
            try:
                entry = json.loads(raw)
                seen, queue_names = float(entry["seen"]), list(entry["queues"])
            except (ValueError, KeyError, TypeError):
                seen, queue_names = 0.0, []
            if now - seen > STALE_AFTER:
                self.redis.hdel(self.key, name)  # a worker that died without leaving
                continue
            for queue_name in queue_names:
                counts[queue_name] += 1
        return dict(counts)


def process_exists(pid: int) -> bool:
    """Is a process of this id running on this machine (whoever's)? A worker's, to know it died."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's
    return True
