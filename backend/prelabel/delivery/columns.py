"""Writing tasks' list columns (prelabel.studio.columns) into Label Studio: a call per distinct value, not per task.

Label Studio 1.23.2 has no bulk update of task data, and one task update costs it 38-54 ms of CPU (a quiet 2-core
VM, 2026-12-07): at 1,000 tasks, more than the rest of their work in Label Studio together. Its Data Manager's
`add_data_field` action sets one key to one value over a selection of tasks in one call
(prelabel.studio.client.LabelStudio.set_data_field), so the columns that are a string or a number (the
suggestion, the score) are grouped by key and value: one call per distinct suggestion and one per distinct score
among the tasks waiting, however many tasks share them (bench/ls_columns_bench.py, docs/benchmarks.md). The
runner-ups are a list, which the action cannot set: a task that has some is updated whole, on its own, as before
(a task with none, and none before, is not: a task without the key shows none).

The columns are handed over after their predictions are written (so the list never suggests what Label Studio
does not hold yet) and wait in Redis (ColumnQueue), not in a worker's memory: a 20,000-task run once ended with
18,120 tasks' columns lost when the worker stopped (docs/benchmarks.md). Each worker's column thread writes what
waits (so the bulk prediction writes never wait behind them), its own and what a stopped worker left. A failed
write is only logged: the list shows the task without its suggestion until it is predicted again; the prediction
itself is not at stake.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from redis import Redis
from redis.exceptions import RedisError

from prelabel.studio.client import LabelStudio, StudioError
from prelabel.studio.columns import with_columns

log = logging.getLogger(__name__)
Row = Mapping[str, Any]  # a task's data, or the list columns written into it
# Task ids per call: Label Studio selects them with one `id IN (...)` query; 1,000 stays far below SQLite's
# limit on query parameters (32,766) and keeps one call short.
IDS_PER_CALL = 1000


@dataclass(frozen=True)
class FieldWrite:
    """One key set to one value over these tasks."""

    key: str
    value: str | float
    task_ids: tuple[int, ...]


@dataclass(frozen=True)
class ColumnPlan:
    fields: list[FieldWrite]  # the string and number columns, grouped by key and value
    whole: dict[int, dict[str, Any]]  # task: its data with the columns, for the tasks updated one by one


def plan(tasks: Mapping[int, tuple[Row, Row]]) -> ColumnPlan:
    """How to write these tasks' columns (task: (data as read, columns)): a key whose value the data holds
    already is left out, and so is an empty list the data does not hold; a task with a column that is neither a
    string nor a number (the runner-ups) is updated whole."""
    groups: dict[tuple[str, str | float], list[int]] = defaultdict(list)
    whole: dict[int, dict[str, Any]] = {}
    for task_id, (data, columns) in tasks.items():
        # No runner-ups and none before: a task without the key shows none (prelabel.studio.labelconfig).
        columns = {key: value for key, value in columns.items() if value != [] or key in data}
        if not all(_scalar(value) for value in columns.values()):
            if (changed := with_columns(data, columns)) is not None:
                whole[task_id] = changed
            continue
        for key, value in columns.items():
            if data.get(key) != value:
                groups[(key, value if isinstance(value, str) else float(value))].append(task_id)
    fields = [FieldWrite(key, value, tuple(ids[start:start + IDS_PER_CALL]))
              for (key, value), ids in groups.items() for start in range(0, len(ids), IDS_PER_CALL)]
    return ColumnPlan(fields, whole)


def _scalar(value: object) -> bool:
    return isinstance(value, (str, int, float)) and not isinstance(value, bool)


# The queue's shape in Redis: one hash per project (task id: [data as read, columns]) and the set of projects
# with something waiting.
QUEUE_PREFIX = "prelabel:columns"
TAKE = 500  # tasks one round takes: what a worker killed mid-round can lose at most
LOOK_EVERY = 5.0  # seconds between a column thread's looks for what other (or stopped) workers left
DRAIN_ON_CLOSE = 60.0  # seconds a stopping worker goes on writing; the rest stays queued for the next worker
FAILURES_IN_A_ROW = 3  # task updates failing one after another: Label Studio is failing, not the tasks
BACKOFF = 30.0  # seconds the column thread waits after Label Studio failed it
# Takes up to ARGV[1] entries of a project's hash and deletes them, at once (two workers never take the same
# entry); forgets the project once its hash is empty.
_TAKE = """
local taken, cursor = {}, '0'
repeat
  local found = redis.call('HSCAN', KEYS[1], cursor, 'COUNT', ARGV[1])
  cursor = found[1]
  for i = 1, #found[2], 2 do
    if #taken < 2 * tonumber(ARGV[1]) then
      taken[#taken + 1] = found[2][i]
      taken[#taken + 1] = found[2][i + 1]
      redis.call('HDEL', KEYS[1], found[2][i])
    end
  end
until cursor == '0' or #taken >= 2 * tonumber(ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('SREM', KEYS[2], ARGV[2]) end
return taken
"""


class ColumnQueue:
    """Tasks' list columns waiting to be written, kept in Redis rather than in a worker's memory: a worker that
    stops (or is killed) before writing them leaves them to the next, and any worker's column thread writes
    them. A task's latest columns replace what waits for it."""

    def __init__(self, redis: Redis, prefix: str = QUEUE_PREFIX):
        self.redis = redis
        self.prefix = prefix
        self._take = redis.register_script(_TAKE)

    def _key(self, project_id: int) -> str:
        return f"{self.prefix}:{project_id}"

    def add(self, project_id: int, tasks: Mapping[int, tuple[Row, Row]]) -> None:
        self._store(project_id, tasks, replace=True)

    def put_back(self, project_id: int, tasks: Mapping[int, tuple[Row, Row]]) -> None:
        """Queue taken columns again, unless newer ones for the same task were queued meanwhile."""
        self._store(project_id, tasks, replace=False)

    def _store(self, project_id: int, tasks: Mapping[int, tuple[Row, Row]], replace: bool) -> None:
        if not tasks:
            return
        pipe = self.redis.pipeline(transaction=True)  # the hash and the set together: a take sees both or neither
        for task_id, (data, columns) in tasks.items():
            entry = json.dumps([dict(data), dict(columns)])
            (pipe.hset if replace else pipe.hsetnx)(self._key(project_id), str(task_id), entry)
        pipe.sadd(f"{self.prefix}:projects", project_id)
        pipe.execute()

    def projects(self) -> list[int]:
        """The projects with columns waiting."""
        return sorted(int(member) for member in self.redis.smembers(f"{self.prefix}:projects")
                      if member.isdigit())

    def take(self, project_id: int, count: int = TAKE) -> dict[int, tuple[Row, Row]]:
        """Up to `count` tasks' columns of a project, removed from the queue: the caller writes them."""
        found = self._take(keys=[self._key(project_id), f"{self.prefix}:projects"], args=[count, project_id])
        taken: dict[int, tuple[Row, Row]] = {}
        for field, value in zip(found[::2], found[1::2], strict=True):
            try:
                data, columns = json.loads(value)
                if isinstance(data, dict) and isinstance(columns, dict):
                    taken[int(field)] = (data, columns)
                    continue
            except ValueError:
                pass
            log.warning("list columns queued for task %r of project %s are malformed: dropped", field, project_id)
        return taken

    def forget(self, project_id: int) -> int:
        """Drop what waits for a project (gone from Label Studio); how many tasks' columns were dropped."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.hlen(self._key(project_id))
        pipe.delete(self._key(project_id))
        pipe.srem(f"{self.prefix}:projects", project_id)
        return int(pipe.execute()[0])

    def waiting(self, project_id: int) -> int:
        return int(self.redis.hlen(self._key(project_id)))


class ColumnWriter:
    """A worker's column thread: writes what waits in the ColumnQueue, TAKE tasks of a project at a time, grouped
    (module docstring); looks every LOOK_EVERY seconds for what others left. `close()` goes on writing for up to
    DRAIN_ON_CLOSE seconds and leaves the rest queued."""

    def __init__(self, studio: LabelStudio, queue: ColumnQueue):
        self.studio = studio
        self.queue = queue
        self._due = self._closing = False
        self._bulk = True  # until Label Studio answers the action with an error but takes the same tasks one by one
        self._condition = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="prelabel-columns", daemon=True)
        self._thread.start()

    def submit(self, project_id: int, tasks: Mapping[int, tuple[Row, Row]]) -> None:
        """Queue tasks' columns (task: (data as read, columns)); a task's latest columns win."""
        try:
            self.queue.add(project_id, tasks)
        except RedisError as exc:  # only the list's suggestion is at stake, not the prediction
            log.warning("the list columns of %d task(s) of project %s could not be queued: %s", len(tasks),
                        project_id, exc)
            return
        with self._condition:
            self._due = True
            self._condition.notify()

    def close(self) -> None:
        with self._condition:
            self._closing = True
            self._condition.notify()
        self._thread.join()

    def _run(self) -> None:
        resume_at = 0.0  # after Label Studio failed the thread: not before then, unless the worker stops
        while True:
            with self._condition:
                while not self._closing and (not self._due or time.monotonic() < resume_at):
                    self._condition.wait(max(resume_at - time.monotonic(), 0.0) or LOOK_EVERY)
                    if time.monotonic() >= resume_at:
                        break  # a look for what others left
                self._due, closing = False, self._closing
            if not self._drain(time.monotonic() + DRAIN_ON_CLOSE if closing else None):
                resume_at = time.monotonic() + BACKOFF
            if closing:
                return

    def _drain(self, deadline: float | None) -> bool:
        """Write what waits, a take per project in turn, until nothing does (or the deadline passes). False when
        Label Studio failed it (the thread backs off)."""
        taken_any = True
        while taken_any:
            taken_any = False
            try:
                projects = self.queue.projects()
            except RedisError as exc:
                log.warning("cannot read the list columns' queue: %s", exc)
                return True
            for project_id in projects:
                if deadline is not None and time.monotonic() > deadline:
                    log.warning("stopping with list columns still queued: the next worker writes them")
                    return True
                try:
                    tasks = self.queue.take(project_id)
                except RedisError as exc:
                    log.warning("cannot take list columns of project %s: %s", project_id, exc)
                    return True
                if tasks:
                    taken_any = True
                    if not self._write(project_id, tasks):
                        return False
        return True

    def _write(self, project_id: int, tasks: Mapping[int, tuple[Row, Row]]) -> bool:
        """Write one take. False when Label Studio is away or keeps failing: what is not written goes back to
        the queue (never over newer columns) and the thread waits BACKOFF seconds."""
        found = plan(tasks) if self._bulk else ColumnPlan([], {})
        refused: set[int] = set() if self._bulk else set(tasks)
        for write in found.fields:
            try:
                self.studio.set_data_field(project_id, write.key, write.value, list(write.task_ids))
            except Exception as exc:  # StudioError, or anything else: the thread must go on
                status = exc.status if isinstance(exc, StudioError) else None
                if status == 404:  # Label Studio has no such project: nothing of it is left to write
                    dropped = len(tasks)
                    with contextlib.suppress(RedisError):  # what waits is dropped on the next take's 404
                        dropped += self.queue.forget(project_id)
                    log.warning("project %s is gone from Label Studio: %d task(s)' list columns dropped",
                                project_id, dropped)
                    return True
                if status is None:  # no answer: Label Studio away
                    return self._put_back(project_id, tasks, exc)
                log.warning("writing %s of %d task(s) of project %s in one call failed: %s", write.key,
                            len(write.task_ids), project_id, exc)
                refused.update(write.task_ids)  # answered: try them one by one
        for task_id in refused:
            data, columns = tasks[task_id]
            if (changed := with_columns(data, columns)) is not None:
                found.whole[task_id] = changed
        failures = 0
        for number, (task_id, data) in enumerate(found.whole.items()):
            try:
                self.studio.update_task_data(task_id, data)
            except Exception as exc:
                if isinstance(exc, StudioError) and exc.status == 404:  # deleted since: costs only itself
                    continue
                failures += 1
                log.warning("writing the list columns of task %s failed: %s", task_id, exc)
                if failures == FAILURES_IN_A_ROW:
                    left = list(found.whole)[number + 1 - failures:]  # the failed run and what is untried
                    return self._put_back(project_id, {task: tasks[task] for task in left}, exc)
                continue
            failures = 0
            if self._bulk and task_id in refused:  # the action, not the task, is what failed
                self._bulk = False
                log.warning("Label Studio at %s refused the Data Manager's add_data_field action but takes "
                            "task updates: this worker writes list columns one task at a time from now on",
                            self.studio.shown_url)
        return True

    def _put_back(self, project_id: int, tasks: Mapping[int, tuple[Row, Row]], reason: Exception) -> bool:
        try:
            self.queue.put_back(project_id, tasks)
        except RedisError as exc:
            log.warning("the list columns of %d task(s) of project %s are lost (Redis: %s)", len(tasks),
                        project_id, exc)
            return False
        log.warning("Label Studio is not taking list columns (%s): %d task(s) of project %s queued again, next try "
                    "in %.0f s", reason, len(tasks), project_id, BACKOFF)
        return False
