"""Writing tasks' list columns (prelabel.studio.columns) into Label Studio: a call per distinct value, not per task.

Label Studio 1.23.2 has no bulk update of task data, and one task update costs it 38-54 ms of CPU (a quiet 2-core
VM, 2026-12-07): at 1,000 tasks, more than the rest of their work in Label Studio together. Its Data Manager's
`add_data_field` action sets one key to one value over a selection of tasks in one call
(prelabel.studio.client.LabelStudio.set_data_field), so the columns that are a string or a number (the
suggestion, the score) are grouped by key and value: one call per distinct suggestion and one per distinct score
among the tasks waiting, however many tasks share them (bench/ls_columns_bench.py, docs/benchmarks.md). The
runner-ups are a list, which the action cannot set: a task that has some is updated whole, on its own, as before
(a task with none, and none before, is not: a task without the key shows none).

The columns are written by a thread of their own, after their predictions (so the list never suggests what Label
Studio does not hold yet, and the bulk prediction writes never wait behind them), and what waits is written when
the worker stops. A failed write is only logged: the list shows the task without its suggestion until it is
predicted again; the prediction itself is not at stake.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

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


class ColumnWriter:
    """A worker's list columns, written by a thread of their own: everything that waits at once, grouped
    (module docstring). `close()` writes what waits, then stops."""

    def __init__(self, studio: LabelStudio):
        self.studio = studio
        self._waiting: dict[int, dict[int, tuple[Row, Row]]] = defaultdict(dict)  # project: task: (data, columns)
        self._closing = False
        self._bulk = True  # until Label Studio answers the action with an error but takes the same tasks one by one
        self._condition = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="prelabel-columns", daemon=True)
        self._thread.start()

    def submit(self, project_id: int, tasks: Mapping[int, tuple[Row, Row]]) -> None:
        """Hand over tasks' columns (task: (data as read, columns)); a task's latest columns win."""
        with self._condition:
            self._waiting[project_id].update(tasks)
            self._condition.notify()

    def close(self) -> None:
        with self._condition:
            self._closing = True
            self._condition.notify()
        self._thread.join()

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._waiting and not self._closing:
                    self._condition.wait()
                if not self._waiting:
                    return
                waiting, self._waiting = self._waiting, defaultdict(dict)
            for project_id, tasks in waiting.items():
                self._write(project_id, tasks)

    def _write(self, project_id: int, tasks: Mapping[int, tuple[Row, Row]]) -> None:
        found = plan(tasks) if self._bulk else ColumnPlan([], {})
        refused: set[int] = set() if self._bulk else set(tasks)
        for write in found.fields:
            try:
                self.studio.set_data_field(project_id, write.key, write.value, list(write.task_ids))
            except Exception as exc:  # StudioError, or anything else: the thread must go on
                log.warning("writing %s of %d task(s) of project %s in one call failed: %s", write.key,
                            len(write.task_ids), project_id, exc)
                if isinstance(exc, StudioError) and exc.status is not None:  # answered: try them one by one
                    refused.update(write.task_ids)
        for task_id in refused:
            data, columns = tasks[task_id]
            if (changed := with_columns(data, columns)) is not None:
                found.whole[task_id] = changed
        for task_id, data in found.whole.items():
            try:
                self.studio.update_task_data(task_id, data)
            except Exception as exc:  # one bad task costs only itself
                log.warning("writing the list columns of task %s failed: %s", task_id, exc)
            else:
                if self._bulk and task_id in refused:  # the action, not the task, is what failed
                    self._bulk = False
                    log.warning("Label Studio at %s refused the Data Manager's add_data_field action but takes "
                                "task updates: this worker writes list columns one task at a time from now on",
                                self.studio.shown_url)
