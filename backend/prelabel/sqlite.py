"""SQLite files that several processes on one machine open at once (the service and its workers)."""

from __future__ import annotations

import sqlite3
import time


def use_wal(connection: sqlite3.Connection, timeout: float) -> None:
    """Switch the database to write-ahead logging (readers never wait on a writer). When other processes open the
    same new file at the same moment, SQLite answers this switch "database is locked" at once, without waiting
    for its busy timeout (three processes opening a new file together: 16 failures in 120 opens), so wait here."""
    deadline, delay = time.monotonic() + timeout, 0.01
    while True:
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + delay > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
