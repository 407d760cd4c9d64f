"""A small durable key-value cache in SQLite, for MLLM answers.

Why SQLite on disk and not Redis: the Redis that RQ uses may keep nothing on disk (as on our CI machines and in
many deployments), while a repeated MLLM call costs money and seconds; SQLite survives restarts, needs no
server, and serves the threads and processes of one machine (WAL mode). Workers on several machines either
share the data directory or each keep their own cache (a miss only costs one call).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from prelabel.perthread import PerThread
from prelabel.sqlite import use_wal


def cache_key(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class ResponseCache:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._connections = PerThread(self._connect)
        with self._connection() as connection:
            use_wal(connection, timeout=30)
            connection.execute("CREATE TABLE IF NOT EXISTS responses "
                               "(key TEXT PRIMARY KEY, value TEXT NOT NULL, created REAL NOT NULL)")

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, timeout=30, check_same_thread=False)  # closed by close()
        # No fsync per answer: with WAL this cannot corrupt the file, and a power cut loses at most the last
        # few answers of a cache, which are asked again. 16 threads each waiting on a disk flush would not.
        connection.execute("PRAGMA synchronous=NORMAL")
        return connection

    def _connection(self) -> sqlite3.Connection:
        return self._connections.get()

    def close(self) -> None:
        self._connections.close()

    def get(self, key: str) -> dict[str, Any] | None:
        row = self._connection().execute("SELECT value FROM responses WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, key: str, value: dict[str, Any]) -> None:
        with self._connection() as connection:
            connection.execute("INSERT OR REPLACE INTO responses (key, value, created) VALUES (?, ?, ?)",
                               (key, json.dumps(value, ensure_ascii=False), time.time()))

    def __len__(self) -> int:
        return int(self._connection().execute("SELECT count(*) FROM responses").fetchone()[0])
