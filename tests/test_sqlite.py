"""Processes that open the same new SQLite files at once (a service and its workers starting together)."""

from __future__ import annotations

import contextlib
import multiprocessing
import sqlite3

from prelabel.learning.store import LearnedStore
from prelabel.pipeline.cache import ResponseCache

PROCESSES, ROUNDS = 3, 30  # before use_wal, 16 of 120 such opens failed with "database is locked"


def open_stores(directory: str, start: multiprocessing.synchronize.Barrier, errors: multiprocessing.Queue) -> None:
    start.wait()
    try:
        LearnedStore(f"sqlite:///{directory}/learned.sqlite3").close()
        ResponseCache(f"{directory}/responses.sqlite3").close()
    except Exception as exc:  # reported to the test
        errors.put(f"{type(exc).__name__}: {exc}")


def test_processes_opening_new_stores_together_all_succeed(tmp_path):
    context = multiprocessing.get_context("fork")
    errors = context.Queue()
    for round_number in range(ROUNDS):
        directory = tmp_path / str(round_number)
        start = context.Barrier(PROCESSES)
        processes = [context.Process(target=open_stores, args=(str(directory), start, errors))
                     for _ in range(PROCESSES)]
        for process in processes:
            process.start()
        for process in processes:
            process.join(timeout=120)
        assert all(process.exitcode == 0 for process in processes)
    failures = []
    while not errors.empty():
        failures.append(errors.get())
    assert failures == []
    for name in ("learned.sqlite3", "responses.sqlite3"):  # each in write-ahead mode, as every process asked
        with contextlib.closing(sqlite3.connect(tmp_path / "0" / name)) as connection:
            assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
