"""The report's figures for a region project: each reviewed task's predicted boxes matched with the reviewer's
(studio/boxes.py, IoU >= 0.5), counted over the reviewed tasks.

- A predicted box is right when a reviewed box of the same label matches it (moved or resized boxes included:
  IoU >= 0.5 is the detection criterion, the label the vocabulary's). Precision of a label: its right boxes over
  the boxes Prelabel gave it; recall: its right boxes over the boxes reviewers gave it. With a 95% Wilson
  interval over boxes (boxes of one photo are not independent: the interval is a guide, not a guarantee).
- Drawn: boxes the reviewer drew that match no predicted box (what Prelabel missed); deleted: predicted boxes
  that match no reviewed one (what the reviewer removed); relabelled: matched, another label.
- Reviewer time: lead times of the tasks whose boxes the reviewer left as they were (kept, nothing drawn or
  deleted) and of those they changed; seconds per reviewed box over all timed tasks.

Counts of boxes on the reviewed tasks, unweighted by a review sample: a sample is drawn by image-level label.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from prelabel.report.metrics import wilson
from prelabel.report.records import MetricsJson
from prelabel.studio.boxes import MIN_IOU, Box, Matching, match

NO_LABEL = "(no label)"  # a box without a label (a finding no vocabulary label fits), in tables and metrics.json


@dataclass(frozen=True)
class ReviewedRegions:
    """One reviewed task of a region project: the boxes the pre-label gave, the boxes the counted annotation
    holds, and its lead time (None: unknown, or the reviewer worked on another version's pre-label)."""

    task_id: int
    predicted: tuple[Box, ...]
    reviewed: tuple[Box, ...]
    lead_time: float | None = None


def has_regions(tasks: Sequence[ReviewedRegions]) -> bool:
    return any(task.predicted or task.reviewed for task in tasks)


def region_figures(tasks: Sequence[ReviewedRegions]) -> MetricsJson:
    matched = [(task, match(list(task.predicted), list(task.reviewed))) for task in tasks]
    predicted: Counter[str | None] = Counter(box.label for task in tasks for box in task.predicted)
    reviewed: Counter[str | None] = Counter(box.label for task in tasks for box in task.reviewed)
    right: Counter[str | None] = Counter(pair.reviewed.label for _, found in matched for pair in found.pairs
                                         if not pair.relabelled)
    drawn: Counter[str | None] = Counter(box.label for _, found in matched for box in found.drawn)
    deleted: Counter[str | None] = Counter(box.label for _, found in matched for box in found.deleted)
    relabellings: Counter[tuple[str | None, str | None]] = Counter(
        (pair.predicted.label, pair.reviewed.label) for _, found in matched for pair in found.relabelled)
    labels = sorted(set(predicted) | set(reviewed), key=lambda label: (-reviewed[label], label is None, label or ""))
    hits = sum(right.values())
    return {
        "iou": MIN_IOU, "tasks": len(tasks),
        "predicted": sum(predicted.values()), "reviewed": sum(reviewed.values()),
        "kept": sum(len(found.kept) for _, found in matched), "moved": sum(len(found.moved) for _, found in matched),
        "relabelled": sum(relabellings.values()), "deleted": sum(deleted.values()), "drawn": sum(drawn.values()),
        "precision": _share(hits, sum(predicted.values())), "recall": _share(hits, sum(reviewed.values())),
        "labels": [{"label": _name(label), "predicted": predicted[label], "reviewed": reviewed[label],
                    "right": right[label], "precision": _share(right[label], predicted[label]),
                    "recall": _share(right[label], reviewed[label]), "drawn": drawn[label],
                    "deleted": deleted[label]} for label in labels],
        "relabellings": [{"predicted": _name(first), "reviewed": _name(second), "boxes": count}
                         for (first, second), count in relabellings.most_common(10)],
        "reviewer_time": _times(matched),
    }


def _times(matched: list[tuple[ReviewedRegions, Matching]]) -> MetricsJson:
    timed = [(task, found) for task, found in matched if task.lead_time is not None]
    untouched = [task.lead_time for task, found in timed
                 if not found.deleted and not found.drawn and len(found.kept) == len(found.pairs)]
    changed = [task.lead_time for task, found in timed
               if found.deleted or found.drawn or len(found.kept) < len(found.pairs)]
    boxes = sum(len(task.reviewed) for task, _ in timed)
    total = sum(task.lead_time or 0.0 for task, _ in timed)
    return {"unchanged": _median(untouched), "changed": _median(changed), "tasks": len(timed),
            "seconds": total, "per_reviewed_box": total / boxes if boxes else None}


def _median(values: list[float | None]) -> MetricsJson:
    found = [value for value in values if value is not None]
    return {"tasks": len(found), "median": statistics.median(found) if found else None}


def _share(hits: int, n: int) -> MetricsJson:
    """hits / n with its 95% Wilson interval; value None when there is nothing to divide (undefined, not 0)."""
    if n == 0:
        return {"value": None, "low": None, "high": None, "n": 0}
    low, high = wilson(hits, n)
    return {"value": hits / n, "low": low, "high": high, "n": n}


def _name(label: str | None) -> str:
    return NO_LABEL if label is None else label
