"""Making a sample reviewable in Label Studio 1.23: a mark in each sampled task's meta (it travels in exports,
so the report finds the design there) and saved Data Manager views that show exactly the sampled tasks.

A view filters on task ids with "ID equal to" rows joined by OR: the filter the Data Manager itself makes,
so the view opens and edits in its UI (its server also knows an "in list" operator, but the UI does not).
Views hold at most VIEW_SIZE tasks each: an OR of thousands of conditions is slow to edit in the UI and
SQLite refuses expressions deeper than 1,000.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from prelabel.report.parse import SAMPLE_KEY
from prelabel.report.records import Exported, Progress, quietly
from prelabel.report.sample import Design
from prelabel.report.sources import call
from prelabel.studio.client import LabelStudio

VIEW_PREFIX = "Prelabel sample"
VIEW_SIZE = 400


def mark_tasks(studio: LabelStudio, tasks: Sequence[Exported], chosen: Mapping[int, str | None], design: Design,
               progress: Progress = quietly) -> tuple[int, int]:
    """Mark the chosen tasks (their other meta kept, meta.prelabel included); unmark tasks of an older sample.
    Returns (marked, unmarked)."""
    marked = unmarked = 0
    for task in progress(tasks):
        meta = dict(task.get("meta") or {})
        if task["id"] in chosen:
            meta[SAMPLE_KEY] = design.mark(chosen[task["id"]])
            marked += 1
        elif SAMPLE_KEY in meta:
            del meta[SAMPLE_KEY]
            unmarked += 1
        else:
            continue
        call(studio, f"mark task {task['id']}", studio.sdk.tasks.update, id=str(task["id"]), meta=meta)
    return marked, unmarked


def replace_views(studio: LabelStudio, project_id: int, design: Design,
                  task_ids: Sequence[int]) -> list[tuple[int, str]]:
    """Delete the project's older sample views, save new ones; returns (view id, title) of each."""
    for view in call(studio, "list views", studio.sdk.views.list, project=project_id):
        title = (view.data or {}).get("title", "") if isinstance(view.data, dict) else ""
        if title.startswith(VIEW_PREFIX):
            call(studio, f"delete view {view.id}", studio.sdk.views.delete, id=str(view.id))
    ids = sorted(task_ids)
    parts = [ids[start:start + VIEW_SIZE] for start in range(0, len(ids), VIEW_SIZE)]
    made = []
    for number, part in enumerate(parts, 1):
        title = f"{VIEW_PREFIX} {design.sample_id}" + (f" ({number}/{len(parts)})" if len(parts) > 1 else "")
        view = call(studio, "save a view", studio.sdk.views.create, project=project_id, data={
            "title": title, "ordering": ["tasks:id"],
            "filters": {"conjunction": "or", "items": [
                {"filter": "filter:tasks:id", "operator": "equal", "type": "Number", "value": task_id}
                for task_id in part]}})
        made.append((view.id, title))
    return made
