"""Prometheus metrics kept in Redis, so every service process and every worker, on any machine, adds to the
same numbers, and /metrics on any backend instance shows them all."""

from __future__ import annotations

from redis import Redis

KEY = "prelabel:metrics"


class Metrics:
    def __init__(self, redis: Redis, key: str = KEY) -> None:
        self.redis = redis
        self.key = key

    def add(self, name: str, value: float = 1.0, **labels: str) -> None:
        field = name + ("{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}" if labels else "")
        self.redis.hincrbyfloat(self.key, field, value)

    def observe(self, name: str, seconds: float, **labels: str) -> None:
        """A latency: Prometheus summary style, _sum and _count."""
        self.add(f"{name}_seconds_sum", seconds, **labels)
        self.add(f"{name}_seconds_count", 1, **labels)

    def counters(self) -> dict[str, float]:
        return {field.decode() if isinstance(field, bytes) else field: float(value)
                for field, value in self.redis.hgetall(self.key).items()}

    def labelled(self, name: str, label: str) -> dict[str, float]:
        """One counter's values by one of its labels: {"image:unreadable": 3.0, ...}."""
        found: dict[str, float] = {}
        prefix = f'{name}{{'
        marker = f'{label}="'
        for field, value in self.counters().items():
            if field.startswith(prefix) and marker in field:
                key = field.split(marker, 1)[1].split('"', 1)[0]
                found[key] = found.get(key, 0.0) + value
        return found

    def render(self, gauges: dict[str, float]) -> str:
        """Prometheus text format: the counters from Redis and the gauges the caller measured just now."""
        lines = []
        for field, value in sorted({**self.counters(), **gauges}.items()):
            lines.append(f"prelabel_{field} {value:g}")
        return "\n".join(lines) + "\n"
