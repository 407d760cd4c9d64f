"""The durable store of what Prelabel learns: prediction evidence, reviewer evidence, synonyms, change log.

SQLite (the default, `sqlite:///PATH`) for one machine, PostgreSQL (`postgresql://...`) for workers on several
machines; the same SQL runs on both. Redis is not used here: it may keep nothing on disk.

Why no update is lost: feedback writes are serialised by the database itself (SQLite's BEGIN IMMEDIATE, a
PostgreSQL transaction-scoped advisory lock), and counts are never stored: each annotation owns its evidence
rows, replaced whole in one transaction when it changes, and every count is a query over the current rows.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from prelabel.learning.rows import Attempt, Change, EvidenceRow, KeptPrediction, Review, StoredCalibration, Taught
from prelabel.perthread import PerThread
from prelabel.sqlite import use_wal

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS prediction_evidence (
        task_id INTEGER NOT NULL, model_version TEXT NOT NULL, project_id INTEGER,
        vocabulary_version TEXT NOT NULL, label TEXT, evidence TEXT NOT NULL, created DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (task_id, model_version))""",
    # Every attempt at a prediction, kept when a later one replaces its evidence: the PoC report counts first-pass
    # failures, retries and what every call cost from these.
    """CREATE TABLE IF NOT EXISTS prediction_attempts (
        task_id INTEGER NOT NULL, model_version TEXT NOT NULL, project_id INTEGER, state TEXT NOT NULL,
        cause TEXT, usage TEXT NOT NULL, created DOUBLE PRECISION NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS prediction_attempts_project ON prediction_attempts (project_id)",
    "CREATE INDEX IF NOT EXISTS prediction_attempts_task ON prediction_attempts (task_id)",
    """CREATE TABLE IF NOT EXISTS annotation_evidence (
        annotation_id INTEGER NOT NULL, task_id INTEGER NOT NULL, project_id INTEGER, reviewer INTEGER,
        kind TEXT NOT NULL, string TEXT, key TEXT, label TEXT, created DOUBLE PRECISION NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS annotation_evidence_annotation ON annotation_evidence (annotation_id)",
    "CREATE INDEX IF NOT EXISTS annotation_evidence_key ON annotation_evidence (key)",
    """CREATE TABLE IF NOT EXISTS synonyms (
        key TEXT NOT NULL, string TEXT NOT NULL, label TEXT NOT NULL, status TEXT NOT NULL,
        decided_by TEXT NOT NULL, decided DOUBLE PRECISION NOT NULL, PRIMARY KEY (key, label))""",
    # A project's reviewed pre-labels (one per task, its latest annotation's verdict) and the calibration model
    # refitted from them (learning/calibrating.py).
    """CREATE TABLE IF NOT EXISTS calibration_reviews (
        task_id INTEGER PRIMARY KEY, project_id INTEGER NOT NULL, annotation_id INTEGER NOT NULL,
        finding TEXT NOT NULL, kept INTEGER NOT NULL, created DOUBLE PRECISION NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS calibration_reviews_project ON calibration_reviews (project_id)",
    """CREATE TABLE IF NOT EXISTS calibrations (
        project_id INTEGER PRIMARY KEY, model TEXT NOT NULL, reviewed INTEGER NOT NULL, previous TEXT,
        fitted DOUBLE PRECISION NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS changes (
        id {serial}, at DOUBLE PRECISION NOT NULL, what TEXT NOT NULL, string TEXT, label TEXT,
        source TEXT NOT NULL)""",
]
FEEDBACK_LOCK = 7_314_159  # any constant: the advisory lock all feedback transactions take on PostgreSQL
Row = tuple[Any, ...]  # what the database answers: its column types, not ours


class Run(Protocol):
    """A transaction's statement runner: the rows a statement answers (none for a write)."""

    def __call__(self, sql: str, params: Sequence[object] = ..., /) -> list[Row]: ...


class LearnedStore:
    """One store per process; each thread gets its own connection."""

    def __init__(self, url: str):
        self.url = url
        self.postgres = url.startswith(("postgresql://", "postgres://"))
        if not self.postgres:
            if not url.startswith("sqlite:///"):
                raise ValueError(f"PRELABEL_DATABASE_URL: expected sqlite:///PATH or postgresql://..., got {url!r}")
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self._connections = PerThread(self._connect)
        serial = "BIGSERIAL PRIMARY KEY" if self.postgres else "INTEGER PRIMARY KEY AUTOINCREMENT"
        with self.transaction(exclusive=True) as run:
            for statement in SCHEMA:
                run(statement.format(serial=serial))

    def _connect(self) -> Any:
        if self.postgres:
            import psycopg

            return psycopg.connect(self.url, autocommit=True)
        # Closed by close() from whichever thread ends the store's life, hence check_same_thread off; each
        # connection is still used by its own thread only.
        connection = sqlite3.connect(self.url.removeprefix("sqlite:///"), timeout=60, isolation_level=None,
                                     check_same_thread=False)
        use_wal(connection, timeout=60)
        connection.execute("PRAGMA busy_timeout=60000")
        return connection

    def close(self) -> None:
        self._connections.close()

    @contextmanager
    def transaction(self, exclusive: bool = False) -> Iterator[Run]:
        """Yields run(sql, params) -> rows. exclusive: one such transaction at a time, on any machine."""
        connection = self._connections.get()
        if self.postgres:
            with connection.transaction(), connection.cursor() as cursor:
                if exclusive:
                    cursor.execute("SELECT pg_advisory_xact_lock(%s)", (FEEDBACK_LOCK,))
                yield lambda sql, params=(): self._run(cursor, sql, params)
            return
        cursor = connection.cursor()
        cursor.execute("BEGIN IMMEDIATE" if exclusive else "BEGIN")
        try:
            yield lambda sql, params=(): self._run(cursor, sql, params)
        except BaseException:
            connection.rollback()
            raise
        connection.commit()

    def _run(self, cursor: Any, sql: str, params: Sequence[object]) -> list[Row]:
        cursor.execute(sql.replace("?", "%s") if self.postgres else sql, tuple(params))
        return list(cursor.fetchall()) if cursor.description else []

    def query(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        with self.transaction() as run:
            return run(sql, params)

    # ---- reviewer evidence ---------------------------------------------------------------------------------

    def recorded_annotations(self, annotation_ids: list[int]) -> dict[int, tuple[int, int | None]]:
        """annotation id -> (task, project) for those of `annotation_ids` that contributed evidence: the only
        ones a deletion can change. Asked a thousand ids at a time."""
        found: dict[int, tuple[int, int | None]] = {}
        unique = sorted(set(annotation_ids))
        for start in range(0, len(unique), 1000):
            chunk = unique[start:start + 1000]
            for annotation_id, task_id, project_id in self.query(
                    "SELECT DISTINCT annotation_id, task_id, project_id FROM annotation_evidence WHERE annotation_id "
                    f"IN ({', '.join('?' * len(chunk))})", chunk):
                found[annotation_id] = (task_id, project_id)
        return found

    # ---- prediction evidence (written by prediction jobs) --------------------------------------------------

    def save_prediction_evidence(self, rows: Sequence[EvidenceRow]) -> None:
        with self.transaction() as run:
            for row in rows:
                run("DELETE FROM prediction_evidence WHERE task_id = ? AND model_version = ?",
                    (row.task_id, row.model_version))
                run("INSERT INTO prediction_evidence (task_id, model_version, project_id, vocabulary_version, label, "
                    "evidence, created) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (row.task_id, row.model_version, row.project_id, row.vocabulary_version, row.label,
                     json.dumps(row.evidence, ensure_ascii=False), time.time()))
                run("INSERT INTO prediction_attempts (task_id, model_version, project_id, state, cause, usage, "
                    "created) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (row.task_id, row.model_version, row.project_id, str(row.evidence.get("state") or ""),
                     row.failure_cause, json.dumps(row.evidence.get("usage") or {}), time.time()))

    def prediction_evidence(self, task_id: int) -> KeptPrediction | None:
        """The latest prediction evidence kept for a task, whatever its model_version."""
        rows = self.query("SELECT task_id, model_version, vocabulary_version, label, evidence FROM prediction_evidence "
                          "WHERE task_id = ? ORDER BY created DESC LIMIT 1", (task_id,))
        return _kept(rows[0]) if rows else None

    def project_evidence(self, project_id: int) -> list[KeptPrediction]:
        """Every prediction evidence kept for the project's tasks, each model_version's."""
        return [_kept(row) for row in self.query(
            "SELECT task_id, model_version, vocabulary_version, label, evidence FROM prediction_evidence "
            "WHERE project_id = ? ORDER BY task_id, created", (project_id,))]

    def prediction_attempts(self, project_id: int) -> list[Attempt]:
        """Every attempt at the project's tasks, oldest first."""
        return [Attempt(int(task_id), str(version), str(state), cause, _json_object(usage))
                for task_id, version, state, cause, usage
                in self.query("SELECT task_id, model_version, state, cause, usage FROM prediction_attempts "
                              "WHERE project_id = ? ORDER BY created, task_id", (project_id,))]

    def failures_in_a_row(self, project_id: int, task_id: int, most: int = 100) -> int:
        """How many of the task's latest attempts failed, counting back to its last success (at most `most`)."""
        rows = self.query("SELECT state FROM prediction_attempts WHERE task_id = ? AND project_id = ? "
                          "ORDER BY created DESC LIMIT ?", (task_id, project_id, most))
        return next((count for count, (state,) in enumerate(rows) if state != "failed"), len(rows))

    # ---- a project's own calibration (learning/calibrating.py) ---------------------------------------------

    def save_review(self, task_id: int, project_id: int, annotation_id: int, finding: Mapping[str, Any],
                    kept: bool) -> None:
        """The verdict on a task's pre-label: its latest annotation's replaces any earlier one."""
        with self.transaction() as run:
            run("DELETE FROM calibration_reviews WHERE task_id = ?", (task_id,))
            run("INSERT INTO calibration_reviews (task_id, project_id, annotation_id, finding, kept, created) "
                "VALUES (?, ?, ?, ?, ?, ?)", (task_id, project_id, annotation_id, json.dumps(finding), int(kept),
                                              time.time()))

    def forget_review(self, task_id: int | None = None, annotation_id: int | None = None) -> None:
        """A task whose annotation no longer judges its pre-label (deleted, cancelled, not a verdict)."""
        with self.transaction() as run:
            run("DELETE FROM calibration_reviews WHERE task_id = ? OR annotation_id = ?",
                (-1 if task_id is None else task_id, -1 if annotation_id is None else annotation_id))

    def reviews(self, project_id: int) -> list[Review]:
        """The project's reviewed pre-labels, by task."""
        return [Review(_json_object(finding), bool(kept)) for finding, kept in self.query(
            "SELECT finding, kept FROM calibration_reviews WHERE project_id = ? ORDER BY task_id", (project_id,))]

    def save_calibration(self, project_id: int, model: Mapping[str, Any], reviewed: int,
                         previous: str | None) -> None:
        """The project's model, fitted on `reviewed` reviews; `previous`: the version of the one it replaces (jobs
        queued under it are still served)."""
        with self.transaction() as run:
            run("DELETE FROM calibrations WHERE project_id = ?", (project_id,))
            run("INSERT INTO calibrations (project_id, model, reviewed, previous, fitted) VALUES (?, ?, ?, ?, ?)",
                (project_id, json.dumps(model, sort_keys=True), reviewed, previous, time.time()))

    def calibration(self, project_id: int) -> StoredCalibration | None:
        """The project's own calibration model, if it has one."""
        rows = self.query("SELECT model, reviewed, previous FROM calibrations WHERE project_id = ?", (project_id,))
        return StoredCalibration(str(rows[0][0]), int(rows[0][1]), rows[0][2]) if rows else None

    # ---- synonyms in force -------------------------------------------------------------------------------

    def synonyms_in_force(self) -> list[tuple[str, str]]:
        """(string, label) pairs that predictions use: promoted by reviewers' agreement or accepted by experts."""
        return [(string, label) for string, label in self.query(
            "SELECT string, label FROM synonyms WHERE status IN ('promoted', 'accepted') ORDER BY key, label")]

    def teaching(self, project_id: int) -> list[Taught]:
        """The project's tasks whose annotations taught a synonym now in force (promoted by reviewers or accepted
        by an expert), with what they taught."""
        return [Taught(int(task_id), str(string), str(label)) for task_id, string, label in self.query(
            "SELECT DISTINCT a.task_id, s.string, s.label FROM annotation_evidence a JOIN synonyms s "
            "ON a.key = s.key AND a.label = s.label WHERE a.kind = 'synonym' AND a.project_id = ? "
            "AND s.status IN ('promoted', 'accepted') ORDER BY a.task_id, s.string", (project_id,))]

    def changes(self, limit: int) -> list[Change]:
        """The latest changes to the synonyms in force, newest first."""
        return [Change(*row) for row in self.query(
            "SELECT at, what, string, label, source FROM changes ORDER BY id DESC LIMIT ?", (limit,))]


def _kept(row: Row) -> KeptPrediction:
    task_id, version, vocabulary_version, label, evidence = row
    return KeptPrediction(int(task_id), str(version), str(vocabulary_version), label, _json_object(evidence))


def _json_object(text: str) -> dict[str, Any]:
    """A JSON object column; anything else (a row a hand edited) reads as empty."""
    found = json.loads(text)
    return found if isinstance(found, dict) else {}
